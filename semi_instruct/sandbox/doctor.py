"""`semi-instruct sandbox doctor`: which protections this host gives the executor, judged from inside.

It starts one sandbox (the harness alone runs no untrusted code) and reads the harness's own view; when
the minimum set holds it also runs a probe program as a case, exactly as the pipeline would, and reports
what that case sees, and compiles and runs a small C++ and Java program with each installed toolchain.
Exit status 1 when the minimum set (everything but the cgroup and missing toolchains) is missing, or an
installed toolchain does not work in the sandbox.
"""

from __future__ import annotations

import json
import os
import textwrap
from typing import IO, Any

from semi_instruct.sandbox import Limits, Program, RunResult, SandboxUnavailable
from semi_instruct.sandbox.executor import (
    ALLOWED_ENV,
    CGROUP_EXTRA_PIDS,
    CGROUP_HEADROOM,
    SHM_BYTES,
    TMP_BYTES,
    Executor,
    Host,
    Sandbox,
    confinement_problems,
    detect_host,
)
from semi_instruct.sandbox.toolchains import COMPILED, DEBIAN_PACKAGE, CompileOptions, find_toolchain

PROBE = textwrap.dedent("""
    import ctypes, json, os, resource, socket
    libc = ctypes.CDLL(None, use_errno=True)

    def unreadable(path):
        try:
            os.listdir(path) if os.path.isdir(path) else open(path, "rb").read(1)
            return False
        except OSError:
            return True

    def unwritable(path):
        try:
            open(path, "w").close()
            return False
        except OSError:
            return True

    def size(path):
        st = os.statvfs(path)
        return st.f_blocks * st.f_frsize

    print(json.dumps({
        "uid": os.getuid(),
        "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "rlimits": {n: resource.getrlimit(getattr(resource, "RLIMIT_" + n))[0]
                    for n in ("CPU", "AS", "NPROC", "NOFILE", "FSIZE", "STACK", "CORE")},
        "oom_score_adj": int(open("/proc/self/oom_score_adj").read()),
        "ptrace_denied": libc.ptrace(0, 0, 0, 0) == -1,
        "unshare_denied": libc.unshare(0x10000000) == -1,
        "read_only": [p for p in ("/", "/usr/bin", "/dev", "/proc/sys/kernel/hostname") if unwritable(p + "/.probe")],
        "hidden": [p for p in ("/root", "/home", "/work", "/etc/shadow", "/proc/1/environ", "/proc/1/fd")
                   if unreadable(p)],
        "tmp_bytes": size("/tmp"), "shm_bytes": size("/dev/shm"),
        "environ": sorted(os.environ),
        "interfaces": sorted(n for _, n in socket.if_nameindex()),
    }))
""")
PROBE_LIMITS = Limits(timeout_s=10.0, memory_mb=256, max_output_bytes=1 << 16, max_processes=16)
HELLO = {
    "cpp": "#include <bits/stdc++.h>\nint main() { std::string s; std::cin >> s; std::cout << s << '\\n'; }\n",
    "java": "public class Main { public static void main(String[] a) {"
    " System.out.println(new java.util.Scanner(System.in).next()); } }\n",
}


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


def _toolchain_checks(tried: dict[str, RunResult]) -> list[tuple[str, bool | None, str]]:
    """One line per compiled language: its version, and whether a probe compiled and ran in the sandbox."""
    checks: list[tuple[str, bool | None, str]] = []
    for language in COMPILED:
        toolchain = find_toolchain(language)
        if toolchain is None:
            detail = f"not installed: {language} originals can't run (`apt-get install {DEBIAN_PACKAGE[language]}`)"
            checks.append((f"toolchain {language}", None, detail))
            continue
        result = tried.get(language)
        works = result is not None and (result.status, result.stdout) == ("ok", "probe\n")
        how = "compiled and ran a probe in the sandbox" if works else f"probe failed: {result}"
        checks.append((f"toolchain {language}", works, f"{toolchain.version} ({toolchain.compiler}); {how}"))
    return checks


def _checks(host: Host, ready: dict[str, Any], probe: dict[str, Any] | None) -> list[tuple[str, bool | None, str]]:
    """(name, ok, detail); ok None = not part of the minimum set and unavailable."""
    dropped = (
        f"dropped from root by setpriv to uid {ready.get('uid')}"
        if host.drop_privileges
        else "the caller's own unprivileged uid"
    )
    caps_empty = all(int(v, 16) == 0 for v in ready.get("caps", {"x": "1"}).values())
    checks: list[tuple[str, bool | None, str]] = [
        (
            "unprivileged uid",
            0 not in (ready.get("uid"), ready.get("euid"), ready.get("gid")),
            f"uid {ready.get('uid')}, gid {ready.get('gid')} ({dropped}), no supplementary groups"
            if not ready.get("groups")
            else f"uid {ready.get('uid')}, groups {ready.get('groups')}",
        ),
        (
            "user namespace",
            ready.get("pid") == 1,
            "own user, pid, mount, ipc, uts and cgroup namespaces; harness is PID 1; no nested user namespaces",
        ),
        ("network namespace", ready.get("interfaces") == ["lo"], f"interfaces {ready.get('interfaces')}"),
        (
            "capabilities",
            caps_empty,
            "none (effective, permitted, bounding, ambient, inheritable all empty)"
            if caps_empty
            else f"{ready.get('caps')}",
        ),
        ("no_new_privs", ready.get("no_new_privs") == "1", f"NoNewPrivs {ready.get('no_new_privs')}"),
        (
            "seccomp",
            ready.get("seccomp") == "2",
            "filter active (ptrace, process_vm_*, io_uring, keyrings, SysV IPC, mqueues, mount/unshare/setns, "
            "bpf, vsock, ... denied)"
            if ready.get("seccomp") == "2"
            else f"not active: {host.seccomp_problem or 'mode ' + str(ready.get('seccomp'))}",
        ),
        ("environment", not set(ready.get("environ", [])) - ALLOWED_ENV, "only " + " ".join(ready.get("environ", []))),
        (
            "fork server",
            True,
            f"Python {ready.get('python')} pre-started as PID 1 with {ready.get('warm_modules')} "
            "standard modules imported; each case runs in a fresh fork of it",
        ),
    ]
    if probe is not None:
        r = probe["rlimits"]
        checks += [
            (
                "case view",
                probe["uid"] == ready.get("uid") and len(probe["processes"]) <= 2,
                f"a case sees processes {probe['processes']} (itself and PID 1)",
            ),
            (
                "seccomp in cases",
                probe["ptrace_denied"] and probe["unshare_denied"],
                "ptrace and unshare(CLONE_NEWUSER) denied",
            ),
            (
                "filesystem",
                len(probe["read_only"]) == 4
                and probe["tmp_bytes"] == TMP_BYTES
                and probe["shm_bytes"] == SHM_BYTES
                and len(probe["hidden"]) == 6,
                f"read-only: {' '.join(probe['read_only'])}; /tmp {_mib(probe['tmp_bytes'])}, /dev/shm "
                f"{_mib(probe['shm_bytes'])}; "
                f"not visible: {' '.join(probe['hidden'])}",
            ),
            (
                "rlimits per case",
                all(v not in (-1, None) for v in r.values()) and r["CORE"] == 0,
                f"CPU {r['CPU']} s, AS {_mib(r['AS'])} (memory_mb + the pre-started interpreter), NPROC {r['NPROC']}, "
                f"NOFILE {r['NOFILE']}, FSIZE {_mib(r['FSIZE'])}, STACK {_mib(r['STACK'])}, CORE 0 "
                f"(for timeout {PROBE_LIMITS.timeout_s:g} s, memory_mb {PROBE_LIMITS.memory_mb}, max_processes "
                f"{PROBE_LIMITS.max_processes})",
            ),
            (
                "oom_score_adj",
                probe["oom_score_adj"] == 1000,
                f"{probe['oom_score_adj']} for cases: the kernel kills sandboxes first",
            ),
        ]
    if host.cgroups.available:
        memory = host.cgroups.parents["memory"]
        checks.append(
            (
                "cgroup memory/pids",
                bool(ready.get("oom_control")),
                f"cgroup v1 group per sandbox under {memory} and {host.cgroups.parents['pids']}: total memory "
                f"memory_mb + {_mib(CGROUP_HEADROOM)}, pids max_processes + {CGROUP_EXTRA_PIDS}",
            )
        )
    else:
        checks.append(
            (
                "cgroup memory/pids",
                None,
                f"unavailable ({host.cgroups.reason}): memory is bounded per process only (RLIMIT_AS); "
                "a batch system's job cgroup is the backstop",
            )
        )
    return checks


def doctor(python: str, out: IO[str]) -> int:
    try:
        host = detect_host()
    except SandboxUnavailable as exc:
        out.write(f"FAIL  bubblewrap: {exc}\n")
        return 1
    out.write(f"sandbox doctor: {host.bwrap_version} ({host.bwrap}), interpreter {python}, host uid {os.geteuid()}\n")
    try:
        sandbox = Sandbox(host, python)
    except SandboxUnavailable as exc:
        out.write(f"FAIL  sandbox start: {exc}\n")
        return 1
    ready = sandbox.ready
    sandbox.close()
    probe = None
    tried: dict[str, RunResult] = {}
    if not confinement_problems(ready):
        with Executor(python, CompileOptions(cache_dir=None)) as executor:
            (result,) = executor.run(Program("stdio", PROBE), [""], PROBE_LIMITS)
            for language in COMPILED:
                if find_toolchain(language) is not None:
                    program = Program("stdio", HELLO[language], language=language)  # type: ignore[arg-type]
                    (tried[language],) = executor.run(program, ["probe"], PROBE_LIMITS)
        if result.status != "ok":
            out.write(f"FAIL  probe case: {result.status}: {result.stderr}\n")
            return 1
        probe = json.loads(result.stdout or "null")
    checks = _checks(host, ready, probe) + (_toolchain_checks(tried) if probe is not None else [])
    for name, ok, detail in checks:
        out.write(f"{'ok' if ok else 'FAIL' if ok is False else 'warn':5} {name:20} {detail}\n")
    failed = [name for name, ok, _ in checks if ok is False]
    if failed:
        out.write(f"minimum set NOT available ({', '.join(failed)}): the executor refuses to run untrusted code here\n")
        return 1
    out.write("minimum set available: untrusted code runs with every protection marked ok above\n")
    return 0
