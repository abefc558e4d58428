"""The hardened executor: long-lived bubblewrap sandboxes, each a fork server running many cases.

    Executor.run(program, inputs, limits)            (any thread; one idle sandbox per concurrent call)
     └─ [sh: join the sandbox's cgroups] ─ [setpriv: root -> uid 65534] ─ bwrap
          user/pid/net/ipc/uts/cgroup namespaces, no capabilities, no new privileges, seccomp filter,
          read-only /usr (+ /bin, /lib), 64 MiB /tmp, 16 MiB /dev/shm, `/` and /dev read-only
          └─ harness.py as PID 1: a pre-started python with warm imports, non-dumpable
               └─ per case: fork -> setsid, rlimits, oom_score_adj 1000 -> the program

C++ and Java programs: `run` compiles the source once (per executor, and across runs through the compile
cache of toolchains.py) as a job of its own in a compile sandbox (the same confinement; a bigger /tmp, the
precompiled header bound read-only, compile limits), then sends the artifact with every run job; the
harness puts it in a sealed memfd that each case executes.

A job (one program, all its inputs) goes to an idle sandbox over bwrap's stdin; one frame per case comes
back over bwrap's stdout, which no case can reach (cases get their own pipes, PID 1 is non-dumpable).
Sandboxes are reused across jobs: the harness kills every process and wipes /tmp and /dev/shm after each
case. The host fails closed: a case without a well-formed frame in time is `killed`, its sandbox is
discarded and the remaining cases go to a fresh one. Call-mode return values arrive as exact JSON and are
decoded on the host; expected outputs never enter a sandbox. Pitfall numbers refer to
docs/sandbox.md.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import shutil
import struct
import subprocess
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semi_instruct.sandbox import LANGUAGES, Limits, Program, RunResult, SandboxUnavailable
from semi_instruct.sandbox.cgroup import CgroupSupport, SandboxCgroup
from semi_instruct.sandbox.cgroup import detect as detect_cgroups
from semi_instruct.sandbox.seccomp import SeccompUnavailable, build_filter
from semi_instruct.sandbox.toolchains import (
    JVM_RESERVE_MB,
    MAX_ARTIFACT_BYTES,
    MAX_DIAGNOSTICS_BYTES,
    PCH_MOUNT,
    CompileCache,
    Compiled,
    CompileOptions,
    Toolchain,
    compile_job,
    compile_key,
    java_binds,
    require,
    run_argv,
    uses_bits_header,
)

SANDBOX_UID = 65534  # "nobody": untrusted code never runs as uid 0 (pitfall 1)
TMP_BYTES = 64 << 20  # the sandbox's writable /tmp
FILE_BYTES = TMP_BYTES // 2  # RLIMIT_FSIZE: one file can have half of /tmp
SHM_BYTES = 16 << 20  # /dev/shm (multiprocessing semaphores need it)
STDERR_TAIL = 2048  # characters of stderr kept per case
HARNESS_STDERR_BYTES = 16384  # the harness sends at most this much of a case's stderr (its tail)
CGROUP_HEADROOM = 128 << 20  # the pre-started interpreter plus /tmp and /dev/shm contents
CGROUP_EXTRA_PIDS = 3  # bwrap, the harness, the case's first process
START_TIMEOUT_S = 30.0
READ_CHUNK = 1 << 16  # bytes asked of the result pipe per read
FRAME_GRACE_S = 10.0  # beyond a case's timeout: fork, kill, clean-up on a loaded machine
STATUSES = frozenset({"ok", "error", "timeout", "memory", "output_limit", "killed"})
SANDBOX_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONHASHSEED": "0",
    "MALLOC_ARENA_MAX": "2",
    "HOME": "/tmp",
}
ALLOWED_ENV = set(SANDBOX_ENV) | {"PWD"}  # PWD: bwrap --chdir sets it
HARNESS = Path(__file__).with_name("harness.py").read_text(encoding="utf-8")
OOM_CONTROL = "/run/sandbox/memory.oom_control"  # where the harness looks for the cgroup's OOM counter
COMPILE_TMP_BYTES = 256 << 20  # a compile sandbox's /tmp: source, the compiler's temporary files, the artifact
COMPILE_PROCESSES = 64  # g++ runs cc1plus, as, collect2, ld; javac is a JVM with its threads
MEMORY_ARTIFACT_BYTES = 256 << 20  # compiled artifacts an executor keeps in memory (least recently used go)
NATIVE_AS_SLACK = 64 << 20  # a C++ program's address space beyond memory_mb: libstdc++, ld.so, stack guard
JVM_CGROUP_EXTRA = 256 << 20  # a JVM's memory beyond its heap (metaspace, code cache, threads, CDS archive)
# what on stderr (the diagnostics, for a compiler) means it ran out of memory (or time) though it exited itself
MEMORY_MARKERS = {
    "cpp": [["std::bad_alloc", "memory"]],
    "java": [["java.lang.OutOfMemoryError", "memory"], ["Could not reserve enough space", "memory"]],
}
COMPILE_MARKERS = [
    ["out of memory allocating", "memory"],
    ["virtual memory exhausted", "memory"],
    ["java.lang.OutOfMemoryError", "memory"],
    ["CPU time limit exceeded", "timeout"],
]

INSTALL_HINT = (
    "Install bubblewrap and libseccomp (Debian/Ubuntu: `apt-get install bubblewrap libseccomp2`) and make "
    "sure unprivileged user namespaces are enabled (`sysctl kernel.unprivileged_userns_clone=1` on older "
    "Debian, `sysctl kernel.apparmor_restrict_unprivileged_userns=0` on Ubuntu >= 23.10; in Docker run with "
    "`--security-opt seccomp=unconfined` or a runtime that allows user namespaces). The interpreter must "
    "live under /usr and be readable by an unprivileged uid (e.g. /usr/bin/python3; a pyenv under /root is "
    "not). `semi-instruct sandbox doctor` shows what is missing. Untrusted code never runs unsandboxed."
)


class SandboxLost(Exception):
    """A sandbox stopped answering or broke the protocol; its in-flight case is reported `killed`."""


@dataclass(frozen=True)
class Host:
    """What this host offers for sandboxing, found once per executor."""

    bwrap: str
    bwrap_version: str
    drop_privileges: tuple[str, ...]  # setpriv prefix when running as root, else empty
    seccomp: bytes | None  # the BPF filter, or None with the reason in seccomp_problem
    seccomp_problem: str
    cgroups: CgroupSupport


def detect_host() -> Host:
    bwrap = shutil.which("bwrap") or shutil.which("bwrap", path="/usr/bin:/bin")
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (`bwrap`) not found. " + INSTALL_HINT)
    version = subprocess.run([bwrap, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    drop: tuple[str, ...] = ()
    if os.geteuid() == 0:  # bwrap as root keeps root's capabilities inside (pitfall 1)
        setpriv = shutil.which("setpriv") or shutil.which("setpriv", path="/usr/bin:/bin")
        if setpriv is None:
            raise SandboxUnavailable(
                f"running as root but `setpriv` (util-linux) is missing to drop to uid {SANDBOX_UID}. " + INSTALL_HINT
            )
        drop = (setpriv, f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups", "--")
    try:
        seccomp, problem = build_filter(), ""
    except SeccompUnavailable as exc:
        seccomp, problem = None, str(exc)
    return Host(bwrap, version, drop, seccomp, problem, detect_cgroups())


@dataclass(frozen=True)
class Profile:
    """What differs between run sandboxes and compile sandboxes (pooled separately)."""

    tmp_bytes: int = TMP_BYTES
    pch: str | None = None  # host folder with bits/stdc++.h.gch, bound read-only at PCH_MOUNT


RUN = Profile()


def _bwrap_args(seccomp_fd: int | None, oom_control: Path | None, profile: Profile = RUN) -> list[str]:
    args = [
        "--unshare-all",  # user, pid, net, ipc, uts, cgroup: no network but a private loopback
        "--unshare-user",
        "--disable-userns",  # and no further user namespaces (needs both, pitfall 9)
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--as-pid-1",  # the harness is PID 1: no bwrap reaper holding our env (pitfall 3), kill(-1) works
        "--clearenv",
    ]
    for key, value in SANDBOX_ENV.items():
        args += ["--setenv", key, value]
    args += ["--ro-bind", "/usr", "/usr"]
    for d in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(d):  # merged-/usr systems: recreate the symlink, bind nothing new
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    args += ["--ro-bind-try", "/etc/alternatives", "/etc/alternatives"]
    for d in java_binds():  # the JDK's configuration (Debian keeps it in /etc/java-17-openjdk)
        args += ["--ro-bind", d, d]
    if profile.pch is not None:  # bwrap (as the sandbox uid) must reach it: see CompileCache.pch_dir
        args += ["--ro-bind", profile.pch, PCH_MOUNT]
    if oom_control is not None:
        args += ["--ro-bind", str(oom_control), OOM_CONTROL]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    args += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--size",
        str(profile.tmp_bytes),
        "--tmpfs",
        "/tmp",
        "--perms",
        "1777",
        "--size",
        str(SHM_BYTES),
        "--tmpfs",
        "/dev/shm",
        "--remount-ro",
        "/dev",  # --dev's tmpfs is unsized (pitfall 6); /dev/shm above stays writable
        "--remount-ro",
        "/",  # bwrap's root is a writable, unsized tmpfs otherwise (pitfall 12)
        "--chdir",
        "/tmp",
    ]
    return args


class Sandbox:
    """One live sandbox running the harness. Not thread-safe: one job at a time (the Executor's pool)."""

    _serial = itertools.count(1)

    def __init__(self, host: Host, python: str, profile: Profile = RUN) -> None:
        self.serial = next(self._serial)
        self.profile = profile
        self.cgroup = SandboxCgroup(host.cgroups) if host.cgroups.available else None
        prefix: list[str] = []
        if self.cgroup is not None:  # join before bwrap forks, so every sandbox process is inside
            join = 'echo $$ > "$1" && echo $$ > "$2" && shift 2 && exec "$@"'
            prefix = ["/bin/sh", "-c", join, "sh", *map(str, self.cgroup.procs_files)]
        seccomp_fd = None
        if host.seccomp is not None:
            seccomp_fd = os.memfd_create("sandbox-seccomp", 0)  # bwrap reads the filter from this fd
            os.write(seccomp_fd, host.seccomp)
            os.lseek(seccomp_fd, 0, os.SEEK_SET)
        fds = () if seccomp_fd is None else (seccomp_fd,)
        argv = [
            *prefix,
            *host.drop_privileges,
            host.bwrap,
            *_bwrap_args(seccomp_fd, self.cgroup.oom_control if self.cgroup else None, profile),
            python,
            "-s",
            "-P",
            "-c",
            HARNESS,
        ]
        try:
            # env={}: bwrap itself must not carry our environment into the sandbox (pitfall 3).
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={},
                start_new_session=True,
                pass_fds=fds,
            )
        except OSError as exc:
            self._remove_cgroup()
            raise SandboxUnavailable(f"cannot start bubblewrap: {exc}. " + INSTALL_HINT) from exc
        finally:
            for fd in fds:
                os.close(fd)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._ctl, self._results = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        self._poll = select.poll()
        self._poll.register(self._results, select.POLLIN)
        self._pending = bytearray()  # read from the sandbox but not yet taken: the start of the next frames
        try:
            header, _ = self.frame(time.monotonic() + START_TIMEOUT_S, Limits())
        except SandboxLost as exc:
            self.close()
            raise SandboxUnavailable(f"a sandbox with {python} did not start ({exc}). " + INSTALL_HINT) from exc
        self.ready: dict[str, Any] = header

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, job: dict[str, Any], artifact: bytes = b"") -> None:
        data = json.dumps(job).encode()
        try:
            os.write(self._ctl, struct.pack(">I", len(data)))
            for blob in (data, artifact):
                view = memoryview(blob)
                while view:  # the harness reads the whole job before running it, so this can't deadlock
                    view = view[os.write(self._ctl, view) :]
        except OSError as exc:
            raise SandboxLost(f"cannot send the job: {exc}; {self._death_note()}") from exc

    def _read(self, n: int, deadline: float) -> bytes:
        """The next n bytes. Reads what is there (at least READ_CHUNK), so a frame usually takes one read."""
        buf = self._pending
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SandboxLost("no result in time (host watchdog)")
            if not self._poll.poll(left * 1000):
                continue
            chunk = os.read(self._results, max(n - len(buf), READ_CHUNK))
            if not chunk:
                raise SandboxLost(self._death_note())
            buf += chunk
        data = bytes(buf[:n])
        del buf[:n]
        return data

    def frame(self, deadline: float, limits: Limits, ret_cap: int | None = None) -> tuple[dict[str, Any], list[bytes]]:
        """The next frame: a JSON header and its byte blobs (stdout, stderr, return value or artifact)."""
        (size,) = struct.unpack(">I", self._read(4, deadline))
        if size > 1 << 20:
            raise SandboxLost(f"malformed frame header of {size} bytes")
        try:
            header = json.loads(self._read(size, deadline))
        except ValueError as exc:
            raise SandboxLost(f"malformed frame header: {exc}") from exc
        if not isinstance(header, dict):
            raise SandboxLost("malformed frame header")
        if header.get("ready"):
            return header, []
        ret = limits.max_output_bytes + 8 if ret_cap is None else ret_cap
        caps = {"out": limits.max_output_bytes, "err": HARNESS_STDERR_BYTES, "ret": ret}
        sizes = [header.get(k) for k in caps]
        if not all(type(s) is int and 0 <= s <= caps[k] for s, k in zip(sizes, caps, strict=True)):
            raise SandboxLost(f"malformed frame sizes {sizes}")
        data = self._read(sum(sizes), deadline) if sum(sizes) else b""
        cuts = list(itertools.accumulate(sizes))
        return header, [data[a:b] for a, b in itertools.pairwise([0, *cuts])]

    def _death_note(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "the sandbox stopped answering"
        assert self.proc.stderr is not None
        os.set_blocking(self.proc.stderr.fileno(), False)
        err = (self.proc.stderr.read() or b"").decode("utf-8", "replace").strip()[-1000:]
        return f"the sandbox exited with status {code}" + (f": {err}" if err else "")

    def close(self) -> None:
        """Stop the harness (it exits when its job channel closes), kill bwrap if it lingers."""
        try:
            self.proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # --die-with-parent takes the sandbox's PID 1 and everything with it
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        self._remove_cgroup()

    def _remove_cgroup(self) -> None:
        if self.cgroup is not None:
            self.cgroup.remove()


def confinement_problems(ready: dict[str, Any]) -> list[str]:
    """What is missing from the minimum set, judged from the harness's own view inside the sandbox."""
    problems = []
    if ready.get("pid") != 1:
        problems.append(f"the harness is not PID 1 of its own pid namespace (pid {ready.get('pid')})")
    if 0 in (ready.get("uid"), ready.get("euid"), ready.get("gid")):
        problems.append("the sandbox runs as uid/gid 0")
    caps = ready.get("caps", {})
    if not caps or any(int(v, 16) for v in caps.values()):
        problems.append(f"the sandbox has capabilities {caps}")
    if ready.get("no_new_privs") != "1":
        problems.append("no_new_privs is not set")
    if ready.get("seccomp") != "2":
        problems.append("no seccomp filter is active")
    if ready.get("interfaces") != ["lo"]:
        problems.append(f"network interfaces visible: {ready.get('interfaces')}")
    extra_env = set(ready.get("environ", [])) - ALLOWED_ENV
    if extra_env:
        problems.append(f"environment variables leak into the sandbox: {sorted(extra_env)}")
    return problems


def decode_return(raw: bytes) -> Any:
    """The call-mode return value from its channel: exactly one length-prefixed exact-JSON document."""
    if len(raw) < 8:
        raise ValueError("no return value: the program ended before returning")
    (size,) = struct.unpack(">Q", raw[:8])
    if len(raw) != 8 + size:
        raise ValueError("the return-value channel carried something besides the return value")

    def reject(constant: str) -> Any:
        raise ValueError(f"non-finite number {constant}")

    try:
        return json.loads(raw[8:], parse_constant=reject)
    except (ValueError, RecursionError) as exc:  # incl. an int beyond the str-digit limit
        raise ValueError(f"unserialisable return value: {exc}") from exc


def _killed(reason: str) -> RunResult:
    return RunResult(status="killed", stderr=reason[-STDERR_TAIL:])


def _compile_error(compiled: Compiled) -> RunResult:
    """What every input of a program that did not compile gets: the head of the diagnostics (the first
    error is what tells), the compiler's exit status, and how the compile failed."""
    return RunResult(
        status="error",
        stderr=compiled.diagnostics[:STDERR_TAIL],
        exit_code=compiled.exit_code,
        extra={"compile_error": compiled.status},
    )


def _compiled_job(language: str, compiled: Compiled, limits: Limits) -> dict[str, Any]:
    """The run job's fields for a compiled artifact: how to start it and its own memory bounds."""
    toolchain = require(language)
    memory = limits.memory_mb << 20
    if language == "java":  # the heap is -Xmx; address space only a generous backstop (docs/sandbox.md)
        bounds = {"address_space_bytes": memory + (JVM_RESERVE_MB << 20)}
    else:  # a fresh process: its own address space; the stack may use the memory limit, as judges allow
        bounds = {"address_space_bytes": memory + NATIVE_AS_SLACK, "stack_bytes": memory}
    return {
        "argv": run_argv(toolchain, compiled.main_class, limits.memory_mb),
        "exec_artifact": language == "cpp",
        "artifact_bytes": len(compiled.artifact),
        "markers": MEMORY_MARKERS[language],
        "limits": bounds,
    }


def _is_json_array(text: str) -> bool:
    try:
        return type(json.loads(text)) is list
    except (ValueError, RecursionError):
        return False


def _close_all(live: set[Sandbox], spawner: ThreadPoolExecutor) -> None:
    for sandbox in list(live):
        sandbox.close()
    live.clear()
    spawner.shutdown(wait=False)


class Executor:
    """The Runner used by the pipeline (see the module docstring). Thread-safe: concurrent `run()` calls
    use separate sandboxes, launched on demand and reused. Raises `SandboxUnavailable` at construction
    when the minimum set of protections can't be had. Close it (or use it as a context manager); sandboxes
    also die with the process that started them."""

    def __init__(self, python: str = "/usr/bin/python3", compile_options: CompileOptions | None = None) -> None:
        self.python = python
        self.compile_options = compile_options or CompileOptions(cache_dir=None)
        self.host = detect_host()
        if self.host.seccomp is None:
            raise SandboxUnavailable(self.host.seccomp_problem)
        self._lock = threading.Lock()
        self._idle: dict[Profile, list[Sandbox]] = {}
        self._live: set[Sandbox] = set()
        self._cache = CompileCache(self.compile_options.cache_dir) if self.compile_options.cache_dir else None
        self._compiled: OrderedDict[str, Compiled] = OrderedDict()  # key -> outcome, least recently used first
        self._compiled_bytes = 0
        self._compiling: dict[str, threading.Lock] = {}  # one compile per key at a time (single flight)
        self._pch: dict[tuple[str, ...], Path | None] = {}
        self._stats = {"compiled": 0, "cache_hits": 0, "compile_errors": 0, "compile_seconds": 0.0}
        # bwrap --die-with-parent ties a sandbox to the thread that started it: start them all from one
        # thread that lives as long as the executor.
        self._spawner = ThreadPoolExecutor(1, thread_name_prefix="sandbox-spawner")
        self._finalizer = weakref.finalize(self, _close_all, self._live, self._spawner)
        self._closed = False
        first = self._launch(RUN)
        self.ready = first.ready
        self._idle[RUN] = [first]

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._idle.clear()
        self._finalizer()

    def _launch(self, profile: Profile) -> Sandbox:
        sandbox = self._spawner.submit(Sandbox, self.host, self.python, profile).result()
        problems = confinement_problems(sandbox.ready)
        if problems:
            sandbox.close()
            raise SandboxUnavailable("refusing to run untrusted code: " + "; ".join(problems) + ". " + INSTALL_HINT)
        with self._lock:
            self._live.add(sandbox)
        return sandbox

    def _acquire(self, profile: Profile = RUN) -> Sandbox:
        with self._lock:
            if self._closed:
                raise SandboxUnavailable("the executor is closed")
            idle = self._idle.setdefault(profile, [])
            while idle:
                sandbox = idle.pop()
                if sandbox.alive():
                    return sandbox
                self._live.discard(sandbox)
                sandbox.close()
        return self._launch(profile)

    def _release(self, sandbox: Sandbox) -> None:
        with self._lock:
            if not self._closed:
                self._idle.setdefault(sandbox.profile, []).append(sandbox)
                return
        self._discard(sandbox)

    def _discard(self, sandbox: Sandbox) -> None:
        with self._lock:
            self._live.discard(sandbox)
        sandbox.close()

    def run(self, program: Program, inputs: Sequence[str], limits: Limits) -> list[RunResult]:
        if program.mode == "call" and not program.entry_point:
            raise ValueError("call-mode program needs an entry_point")
        if program.language not in LANGUAGES:
            raise ValueError(f"unknown language {program.language!r} (one of {', '.join(LANGUAGES)})")
        compiled = None
        if program.language != "python":
            if program.mode != "stdio":
                raise ValueError(f"{program.language} programs run in stdio mode only, not {program.mode!r}")
            if not inputs:
                return []
            try:
                compiled = self._compile(program)  # ToolchainUnavailable: a configuration problem, raised
            except (SandboxLost, SandboxUnavailable) as exc:
                return [_killed(f"[sandbox] could not compile: {exc}") for _ in inputs]
            if compiled.status != "ok":
                return [_compile_error(compiled) for _ in inputs]
        results: list[RunResult | None] = [None] * len(inputs)
        pending = []
        for index, text in enumerate(inputs):
            if program.mode == "call" and not _is_json_array(text):
                results[index] = RunResult(
                    status="error", stderr="[sandbox] call-mode input must be a JSON array of arguments"
                )
            else:
                pending.append(index)
        while pending:
            try:
                sandbox = self._acquire()
            except SandboxUnavailable as exc:
                for index in pending:
                    results[index] = _killed(f"[sandbox] cannot start a sandbox: {exc}")
                break
            pending = pending[self._run_job(sandbox, program, inputs, pending, limits, results, compiled) :]
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _run_job(
        self,
        sandbox: Sandbox,
        program: Program,
        inputs: Sequence[str],
        indices: list[int],
        limits: Limits,
        results: list[RunResult | None],
        compiled: Compiled | None = None,
    ) -> int:
        """Run `indices` on `sandbox`; returns how many of them now have a result (a lost sandbox costs
        its in-flight case, which is reported `killed`)."""
        reported = 0
        try:
            extra = JVM_CGROUP_EXTRA if program.language == "java" else 0
            self._limit_cgroup(sandbox, (limits.memory_mb << 20) + CGROUP_HEADROOM + extra, limits.max_processes)
            job: dict[str, Any] = {
                "mode": program.mode,
                "code": program.code,
                "entry_point": program.entry_point,
                "inputs": [inputs[i] for i in indices],
                "limits": {
                    "timeout_s": limits.timeout_s,
                    "memory_mb": limits.memory_mb,
                    "max_output_bytes": limits.max_output_bytes,
                    "max_processes": limits.max_processes,
                    "file_bytes": FILE_BYTES,
                    "stderr_bytes": HARNESS_STDERR_BYTES,
                },
            }
            artifact = b""
            if compiled is not None:
                fields = _compiled_job(program.language, compiled, limits)
                job["limits"].update(fields.pop("limits"))
                job.update(fields)
                artifact = compiled.artifact
            sandbox.send(job, artifact)
            for position, index in enumerate(indices):
                header, blobs = sandbox.frame(time.monotonic() + limits.timeout_s + FRAME_GRACE_S, limits)
                if header.get("i") != position or header.get("status") not in STATUSES:
                    raise SandboxLost(f"unexpected frame {header}")
                results[index] = self._result(header, blobs, program, sandbox)
                reported += 1
                if header.get("retire"):  # the harness found the sandbox tampered with and exited
                    self._discard(sandbox)
                    return reported
        except SandboxLost as exc:
            self._discard(sandbox)
            results[indices[reported]] = _killed(f"[sandbox] no result for this case: {exc}")
            return reported + 1
        except BaseException:
            self._discard(sandbox)
            raise
        self._release(sandbox)
        return reported

    @staticmethod
    def _limit_cgroup(sandbox: Sandbox, memory_bytes: int, processes: int) -> None:
        if sandbox.cgroup is not None:
            try:
                sandbox.cgroup.limit(memory_bytes, processes + CGROUP_EXTRA_PIDS)
            except OSError as exc:
                raise SandboxLost(f"cannot set the sandbox's cgroup limits: {exc}") from exc

    # --- compiled programs ---------------------------------------------------------------------------------

    def compile_stats(self) -> dict[str, Any]:
        """Since the executor started: compiles run ("compiled"), outcomes found in the memory or disk cache
        ("cache_hits"), programs whose compile failed, fresh or from the disk cache ("compile_errors"), and
        the compilers' wall time ("compile_seconds")."""
        with self._lock:
            return dict(self._stats, compile_seconds=round(self._stats["compile_seconds"], 3))

    def _count(self, **increments: float) -> None:
        with self._lock:
            for key, value in increments.items():
                self._stats[key] += value

    def _compile(self, program: Program) -> Compiled:
        """The program's artifact or compile failure: from this executor's memory, the disk cache, or a
        compile in a sandbox (once per key, even when several threads ask at once)."""
        options = self.compile_options
        toolchain = require(program.language)
        flags = options.flags(program.language)
        key = compile_key(toolchain, flags, program.code)
        with self._lock:
            gate = self._compiling.setdefault(key, threading.Lock())
        with gate:
            known = self._remembered(key)
            if known is not None and known.reusable(options):
                self._count(cache_hits=1)
                return known
            if self._cache is not None:
                stored = self._cache.get(program.language, key)
                if stored is not None and stored.reusable(options):
                    self._remember(key, stored)
                    self._count(cache_hits=1, compile_errors=stored.status != "ok" and known is None)
                    return stored
            compiled = self._compile_in_sandbox(toolchain, flags, program.code)
            self._remember(key, compiled)
            self._count(compiled=1, compile_errors=compiled.status != "ok", compile_seconds=compiled.seconds)
            if self._cache is not None:
                self._cache.put(program.language, key, compiled)
            return compiled

    def _remembered(self, key: str) -> Compiled | None:
        with self._lock:
            if key in self._compiled:
                self._compiled.move_to_end(key)
            return self._compiled.get(key)

    def _remember(self, key: str, compiled: Compiled) -> None:
        """Keep the outcome in memory; the least recently used artifacts go beyond MEMORY_ARTIFACT_BYTES (a
        shard of C++ originals would otherwise hold every binary; the disk cache still has them)."""
        with self._lock:
            old = self._compiled.pop(key, None)
            self._compiled_bytes += len(compiled.artifact) - (len(old.artifact) if old else 0)
            self._compiled[key] = compiled
            while self._compiled_bytes > MEMORY_ARTIFACT_BYTES and len(self._compiled) > 1:
                _, dropped = self._compiled.popitem(last=False)
                self._compiled_bytes -= len(dropped.artifact)

    def _pch_dir(self, toolchain: Toolchain, flags: tuple[str, ...]) -> Path | None:
        with self._lock:
            if flags in self._pch:
                return self._pch[flags]
        assert self._cache is not None
        found = self._cache.pch_dir(toolchain, flags)
        with self._lock:
            self._pch[flags] = found
        return found

    def _compile_in_sandbox(self, toolchain: Toolchain, flags: tuple[str, ...], source: str) -> Compiled:
        options = self.compile_options
        bounds = (options.timeout_s, options.memory_mb)
        pch = None
        if toolchain.language == "cpp" and self._cache is not None and uses_bits_header(source):
            pch = self._pch_dir(toolchain, flags)
        job = compile_job(toolchain, source, options, pch is not None)
        if isinstance(job, str):
            return Compiled("error", diagnostics=job, limits=bounds)
        limits = Limits(options.timeout_s, options.memory_mb, MAX_DIAGNOSTICS_BYTES, COMPILE_PROCESSES)
        memory = options.memory_mb << 20
        if toolchain.language == "java":  # javac is a JVM: its heap is bounded by -J-Xmx, AS is a backstop
            address_space = memory + (JVM_RESERVE_MB << 20)
        else:
            address_space = memory
        sandbox = self._acquire(Profile(tmp_bytes=COMPILE_TMP_BYTES, pch=str(pch) if pch else None))
        try:
            self._limit_cgroup(sandbox, memory + CGROUP_HEADROOM, COMPILE_PROCESSES)
            sandbox.send(
                {
                    "mode": "stdio",
                    "code": "",
                    "entry_point": None,
                    "inputs": [""],
                    "argv": job.argv,
                    "compile": {"files": job.files, "artifact": job.artifact},
                    "markers": COMPILE_MARKERS,
                    "limits": {
                        "timeout_s": options.timeout_s,
                        "memory_mb": options.memory_mb,
                        "max_output_bytes": MAX_DIAGNOSTICS_BYTES,
                        "max_processes": COMPILE_PROCESSES,
                        "file_bytes": MAX_ARTIFACT_BYTES,
                        "stderr_bytes": HARNESS_STDERR_BYTES,
                        "artifact_bytes": MAX_ARTIFACT_BYTES,
                        "address_space_bytes": address_space,
                    },
                }
            )
            header, (diagnostics, _, artifact) = sandbox.frame(
                time.monotonic() + options.timeout_s + FRAME_GRACE_S, limits, ret_cap=MAX_ARTIFACT_BYTES
            )
            if header.get("i") != 0 or header.get("status") not in STATUSES - {"killed"}:
                raise SandboxLost(f"unexpected frame {header}")
            if header.get("retire"):  # not the compiler's verdict: never cached as a compile error
                raise SandboxLost(header.get("note", "the compile sandbox retired"))
        except BaseException:
            self._discard(sandbox)
            raise
        self._release(sandbox)
        status = header["status"]
        return Compiled(
            status=status,
            artifact=artifact if status == "ok" else b"",
            diagnostics=diagnostics.decode("utf-8", "replace"),
            exit_code=header.get("exit_code"),
            main_class=job.main_class,
            seconds=float(header.get("wall_ms", 0.0)) / 1000,
            limits=bounds,
        )

    @staticmethod
    def _result(header: dict[str, Any], blobs: list[bytes], program: Program, sandbox: Sandbox) -> RunResult:
        out, err, ret = blobs
        status, returned = header["status"], None
        notes = [header["note"]] if header.get("note") else []
        if status == "ok" and program.mode == "call":
            try:
                returned = decode_return(ret)
            except ValueError as exc:
                status = "error"
                notes.append(f"[sandbox] {exc}")
        stderr = err.decode("utf-8", "replace")
        if notes:
            note = "\n".join(notes)
            stderr = (stderr[-max(0, STDERR_TAIL - len(note) - 1) :] + "\n" + note).lstrip("\n")
        return RunResult(
            status=status,
            stdout=out.decode("utf-8", "replace"),
            returned=returned,
            stderr=stderr[-STDERR_TAIL:],
            exit_code=header.get("exit_code"),
            wall_ms=float(header.get("wall_ms", 0.0)),
            extra={"cpu_ms": header.get("cpu_ms"), "maxrss_kb": header.get("maxrss_kb"), "sandbox": sandbox.serial},
        )
