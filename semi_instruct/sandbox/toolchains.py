"""C++ and Java originals: which compilers this host has, how a source becomes an artifact, the compile cache.

Compiling happens inside a sandbox (executor.py); this module only decides what to run and keeps results:
- a toolchain is Debian's `g++` or `javac`/`java` (`default-jdk-headless`) under /usr, so the sandbox's
  read-only /usr already holds it; its version (`toolchain_versions()`) keys the cache and goes into the card;
- the artifact is the linked binary (C++) or a jar of the class files (Java), run from a sealed memfd so no
  case can change it for the next one;
- the compile cache (CompileOptions.cache_dir) holds one file per (language, toolchain version, flags,
  source sha256): a JSON header line and the artifact, written to a temporary name and renamed (several
  processes may share the folder). Failed compiles are cached too; a failure at a time or memory limit is
  reused only under limits no roomier than the ones it failed at;
- a precompiled header of bits/stdc++.h is built once per (compiler version, flags) in the cache folder:
  speed only, the same binary semantics; `-Winvalid-pch` says in the diagnostics when it is not used.
This module must import nothing from semi_instruct outside the sandbox package (the attack suite runs a copy
of the package alone as an unprivileged user).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COMPILED = ("cpp", "java")
DEBIAN_PACKAGE = {"cpp": "g++", "java": "default-jdk-headless"}
SEARCH_PATH = "/usr/bin:/bin"  # toolchains must live under /usr: the sandbox sees nothing else of the host
MAX_ARTIFACT_BYTES = 64 << 20  # a linked binary or jar beyond this is a compile `output_limit`
MAX_DIAGNOSTICS_BYTES = 1 << 20  # compiler output beyond this is a compile `output_limit`
PCH_TIMEOUT_S = 300.0
CACHE_FORMAT = 1
# The JVM for a small program (docs/sandbox.md, "Compiled programs"): the heap (-Xmx) is the program's memory
# limit, the other reservations are small and fixed, one serial GC thread keeps threads few. The JIT stays
# tiered (C1 then C2), as on judges: C2 runs a heavy loop 1.75x faster here, start-up is the same.
JVM_FLAGS = (
    "-XX:MaxMetaspaceSize=64m",
    "-XX:ReservedCodeCacheSize=32m",
    "-XX:CompressedClassSpaceSize=32m",
    "-XX:+UseSerialGC",
    "-XX:-UsePerfData",  # no /tmp/hsperfdata_* files
    "-Xss64m",  # deep recursion, as competitive judges allow (Codeforces runs Java with -Xss64M)
)
JAVAC_JVM_FLAGS = tuple(f for f in JVM_FLAGS if not f.startswith("-Xss")) + ("-XX:TieredStopAtLevel=1",)  # short
JVM_RESERVE_MB = (
    1280  # address space the JVM takes beyond -Xmx with JVM_FLAGS: ~970 MiB measured ("Java", docs/sandbox.md)
)


@dataclass(frozen=True)
class CompileOptions:
    """Config section `sandbox.compile`."""

    cpp_flags: tuple[str, ...] = ("-O2", "-std=gnu++17", "-DONLINE_JUDGE")
    java_flags: tuple[str, ...] = ()  # javac flags
    timeout_s: float = 30.0  # per compile (wall and CPU)
    memory_mb: int = 2048  # per compile
    cache_dir: str | None = "cache/compile"  # [speed] None: no disk cache (still compiled once per Executor)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CompileOptions:
        section = dict(config.get("sandbox", {}).get("compile", {}))
        for key in ("cpp_flags", "java_flags"):
            if key in section:
                section[key] = tuple(section[key])
        return cls(**section)

    def flags(self, language: str) -> tuple[str, ...]:
        return self.cpp_flags if language == "cpp" else self.java_flags


class ToolchainUnavailable(RuntimeError):
    """A compiled program was given but its compiler is not installed: a configuration problem."""


@dataclass(frozen=True)
class Toolchain:
    language: str
    compiler: str  # g++ or javac, resolved (under /usr)
    runtime: str | None  # java, resolved; None for C++
    version: str  # first line of `g++ --version` / `javac -version`
    binds: tuple[str, ...] = ()  # read-only host folders outside /usr it needs (Debian's /etc/java-17-openjdk)


def _which(name: str) -> str | None:
    found = shutil.which(name, path=SEARCH_PATH)
    return os.path.realpath(found) if found else None


def _first_line(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60, env={"PATH": SEARCH_PATH})
    return ((proc.stdout or proc.stderr).strip().splitlines() or [""])[0]


@functools.cache
def find_toolchain(language: str) -> Toolchain | None:
    if language == "cpp":
        gxx = _which("g++")  # the version line as `g++ --version` prints it (not the resolved x86_64-...-g++-12)
        return Toolchain("cpp", gxx, None, _first_line(["g++", "--version"])) if gxx else None
    if language == "java":
        javac, java = _which("javac"), _which("java")
        if not javac or not java:
            return None
        return Toolchain("java", javac, java, _first_line([javac, "-version"]), java_binds())
    raise ValueError(f"no toolchain for language {language!r}")


@functools.cache
def java_binds() -> tuple[str, ...]:
    """Host folders outside /usr the JDK reads (Debian links its jvm.cfg and conf/ to /etc/java-17-openjdk):
    bound read-only into every sandbox. Found from the links alone, without starting a JVM."""
    java = _which("java")
    if java is None:
        return ()
    binds = set()
    home = Path(java).parents[1]  # .../bin/java -> the JDK's home
    for link in [home / "lib" / "jvm.cfg", *(home / "conf").glob("*")]:
        target = os.path.realpath(link)
        if not target.startswith("/usr/") and os.path.exists(target):
            binds.add(str(Path(target).parent if os.path.isfile(target) else Path(target)))
    return tuple(sorted(b for b in binds if not any(b.startswith(o + "/") for o in binds)))


def require(language: str) -> Toolchain:
    toolchain = find_toolchain(language)
    if toolchain is None:
        raise ToolchainUnavailable(
            f"no {language} toolchain on this host: install it (Debian/Ubuntu: `apt-get install "
            f"{DEBIAN_PACKAGE[language]}`; `./run setup` does) so that it lives under /usr"
        )
    return toolchain


def toolchain_versions() -> dict[str, str]:
    """{"cpp": "g++ (Debian 12.2.0-14) 12.2.0", "java": "javac 17.0.15"} for the toolchains found on this
    host (absent keys: not installed). Cached per process."""
    return {lang: t.version for lang in COMPILED if (t := find_toolchain(lang)) is not None}


# --- Java: the file and main class from the source -------------------------------------------------------------

_JAVA_NOISE = re.compile(r'//[^\n]*|/\*.*?\*/|"""(?:.|\n)*?"""|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
_JAVA_TOKEN = re.compile(r"[A-Za-z_$][\w$]*|[{}();]")
_TYPE_WORDS = {"class", "interface", "enum", "record"}


def java_names(source: str) -> tuple[str, str]:
    """(file name stem, main class) of a Java program: javac wants a public top-level class in a file of its
    name; the main class is the top-level class declaring `static void main` (the public one when several
    do), with the package prefix. Raises ValueError when no top-level class declares main."""
    tokens = _JAVA_TOKEN.findall(_JAVA_NOISE.sub(" ", source))
    package, depth, public, pending_public = "", 0, None, False
    top: str | None = None
    with_main: list[str] = []
    for i, tok in enumerate(tokens):
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
        elif depth == 0 and tok == "package" and not package:
            j, parts = i + 1, []
            while j < len(tokens) and tokens[j] != ";":
                parts.append(tokens[j])
                j += 1
            package = ".".join(parts)
        elif depth == 0 and tok == "public":
            pending_public = True
        elif depth == 0 and tok in _TYPE_WORDS and i + 1 < len(tokens):
            top = tokens[i + 1]
            if pending_public:
                public = top
            pending_public = False
        elif depth == 0 and tok == ";":
            pending_public = False
        elif tok == "main" and depth == 1 and top and "static" in tokens[max(0, i - 6) : i] and tokens[i - 1] == "void":
            with_main.append(top)
    if not with_main:
        raise ValueError("no top-level class declares `static void main`")
    main = public if public in with_main else with_main[0]
    return (public or main), (f"{package}.{main}" if package else main)


# --- what to run in the compile sandbox ------------------------------------------------------------------------

CASE_DIR = "/tmp"  # the compile sandbox's scratch folder (a size-capped tmpfs)
PCH_MOUNT = "/pch"  # where the precompiled header's folder is bound read-only


@dataclass(frozen=True)
class CompileJob:
    files: dict[str, str]  # name in the scratch folder -> text
    argv: list[str]
    artifact: dict[str, str]  # {"file": path} (C++ binary) or {"jar": class folder, "main": main class file}
    main_class: str | None = None


def compile_job(toolchain: Toolchain, source: str, options: CompileOptions, pch: bool) -> CompileJob | str:
    """The compiler run for `source`, or why there is none (a compile error the host reports)."""
    flags = list(options.flags(toolchain.language))
    if toolchain.language == "cpp":
        include = ["-I", PCH_MOUNT, "-Winvalid-pch"] if pch else []
        argv = [toolchain.compiler, *flags, *include, "-o", f"{CASE_DIR}/prog", f"{CASE_DIR}/prog.cpp"]
        return CompileJob({"prog.cpp": source}, argv, {"file": f"{CASE_DIR}/prog"})
    try:
        stem, main = java_names(source)
    except ValueError as exc:
        return f"[sandbox] cannot find the main class: {exc}"
    jvm = [f"-J{f}" for f in JAVAC_JVM_FLAGS] + [f"-J-Xmx{max(64, options.memory_mb // 2)}m"]
    argv = [toolchain.compiler, *jvm, *flags, "-proc:none", "-encoding", "UTF-8", "-d", f"{CASE_DIR}/classes"]
    argv.append(f"{CASE_DIR}/{stem}.java")
    artifact = {"jar": f"{CASE_DIR}/classes", "main": main.replace(".", "/") + ".class"}
    return CompileJob({f"{stem}.java": source, "classes/.keep": ""}, argv, artifact, main)


def run_argv(toolchain: Toolchain, main_class: str | None, memory_mb: int) -> list[str]:
    """How a case starts the artifact, which the harness puts on fd 3 (a sealed memfd)."""
    if toolchain.language == "cpp":
        return ["prog"]  # executed from fd 3 (fexecve)
    assert toolchain.runtime is not None and main_class is not None
    return [toolchain.runtime, f"-Xmx{memory_mb}m", *JVM_FLAGS, "-cp", "/proc/self/fd/3", main_class]


# --- outcomes and the disk cache -------------------------------------------------------------------------------

STATUSES = ("ok", "error", "timeout", "memory", "output_limit")


@dataclass(frozen=True)
class Compiled:
    """One compile's outcome: an artifact, or a failure with the compiler's diagnostics."""

    status: str  # ok | error | timeout | memory | output_limit
    artifact: bytes = b""
    diagnostics: str = ""
    exit_code: int | None = None
    main_class: str | None = None
    seconds: float = 0.0
    limits: tuple[float, int] = field(default=(0.0, 0))  # (timeout_s, memory_mb) it ran under

    def reusable(self, options: CompileOptions) -> bool:
        """A time or memory failure may pass under roomier limits; every other outcome is final."""
        if self.status == "timeout":
            return options.timeout_s <= self.limits[0]
        if self.status == "memory":
            return options.memory_mb <= self.limits[1]
        return True


def compile_key(toolchain: Toolchain, flags: tuple[str, ...], source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
    key = json.dumps([CACHE_FORMAT, toolchain.language, toolchain.version, list(flags), digest])
    return hashlib.sha256(key.encode()).hexdigest()


class CompileCache:
    """Compiled artifacts on disk, outside any declared output (like the engine's request cache)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, language: str, key: str) -> Path:
        return self.root / language / key[:2] / f"{key}.bin"

    def get(self, language: str, key: str) -> Compiled | None:
        try:
            data = self._path(language, key).read_bytes()
        except FileNotFoundError:
            return None
        head, _, artifact = data.partition(b"\n")
        try:
            meta = json.loads(head)
            if hashlib.sha256(artifact).hexdigest() != meta.pop("sha256"):
                return None  # torn or damaged: compile again (and overwrite it)
            meta["limits"] = tuple(meta["limits"])
            return Compiled(artifact=artifact, **meta)
        except (ValueError, KeyError, TypeError):
            return None

    def put(self, language: str, key: str, compiled: Compiled) -> None:
        path = self._path(language, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "status": compiled.status,
            "diagnostics": compiled.diagnostics,
            "exit_code": compiled.exit_code,
            "main_class": compiled.main_class,
            "seconds": compiled.seconds,
            "limits": list(compiled.limits),
            "sha256": hashlib.sha256(compiled.artifact).hexdigest(),
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(json.dumps(meta).encode() + b"\n" + compiled.artifact)
            os.replace(tmp, path)  # atomic: readers see the old entry or the whole new one
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # --- the precompiled header ------------------------------------------------------------------------------

    def pch_dir(self, toolchain: Toolchain, flags: tuple[str, ...]) -> Path | None:
        """The folder holding bits/stdc++.h.gch for these flags, built on first use (once across processes:
        a lock file); None when the header can't be found or precompiled here (compiles go on without)."""
        key = compile_key(toolchain, flags, "<bits/stdc++.h>")[:32]
        final = self.root.absolute() / "pch" / key
        if not _reachable_by_anyone(self.root.absolute()):
            return None  # bwrap, as the sandbox uid, could not bind it: compile without
        if (final / "bits" / "stdc++.h.gch").is_file():
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        if not _reachable_by_anyone(final.parent):  # a umask of 077
            return None
        with open(final.parent / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (final / "bits" / "stdc++.h.gch").is_file():
                return final
            header = _stdcxx_header(toolchain, flags)
            if header is None:
                return None
            work = Path(tempfile.mkdtemp(dir=final.parent, prefix=".tmp-"))
            try:
                (work / "bits").mkdir()
                shutil.copy(header, work / "bits" / "stdc++.h")  # the fallback when the PCH can't be used
                try:  # a trusted system header with the configured flags: built on the host
                    proc = subprocess.run(
                        [toolchain.compiler, *flags, "-x", "c++-header", str(work / "bits" / "stdc++.h")]
                        + ["-o", str(work / "bits" / "stdc++.h.gch")],
                        capture_output=True,
                        check=False,
                        timeout=PCH_TIMEOUT_S,
                    )
                except (OSError, subprocess.TimeoutExpired):
                    return None
                if proc.returncode != 0:
                    return None
                for path in [work, work / "bits", *(work / "bits").iterdir()]:
                    path.chmod(0o755 if path.is_dir() else 0o644)  # readable by the sandbox uid
                os.rename(work, final)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        return final


def _reachable_by_anyone(folder: Path) -> bool:
    """Whether the sandbox's bwrap can bind `folder` by path: as root it runs as the sandbox uid, so every
    folder up to it must let others through; otherwise it runs as the caller, who made the folder."""
    if os.geteuid() != 0:
        return True
    for path in [folder, *folder.parents]:
        try:
            if not path.stat().st_mode & 0o001:
                return False
        except FileNotFoundError:
            continue  # created later with mode 0755
    return True


def _stdcxx_header(toolchain: Toolchain, flags: tuple[str, ...]) -> str | None:
    """Where the compiler finds <bits/stdc++.h> with these flags (the first line of `-H`)."""
    try:
        proc = subprocess.run(
            [toolchain.compiler, *flags, "-x", "c++", "-E", "-H", "-", "-o", os.devnull],
            input="#include <bits/stdc++.h>\n",
            capture_output=True,
            text=True,
            check=False,
            timeout=PCH_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = proc.stderr.splitlines()[0] if proc.returncode == 0 and proc.stderr else ""
    return first[2:] if first.startswith(". ") else None


def uses_bits_header(source: str) -> bool:
    return re.search(r"#\s*include\s*<bits/stdc\+\+\.h>", source) is not None
