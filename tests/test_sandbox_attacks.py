"""The attack checklist of docs/sandbox.md, as the caller (root in CI) and as an unprivileged user.

All attacks go, one JSONL line each, through the library path of `semi-instruct exec` (`run_cases`) in a
driver process with one worker, so they share one long-lived sandbox, as programs do in the pipeline: an
attack that damaged the sandbox would show in the attacks after it, and the cross-program checks (leaked
files, processes, output left in memory) are meaningful. The unprivileged run uses `setpriv` to uid 1000
with /usr/bin/python3 and a world-readable copy of the sandbox package (the checkout may be private), so
it needs root to start; as a non-root caller the first run already is the unprivileged one. C++ and Java
attacks (`language=`) go through the same path: compiled in a compile sandbox (a 5 s compile limit here),
then run per input.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SECRET = "hunter2-semi-instruct-secret"
DAEMON_MARK = "4242.125"  # the argument of `sleep` in every process an attack leaves behind
UNPRIVILEGED_UID = 1000
DRIVER = """
import sys
sys.path[:0] = [sys.argv[1]]
from semi_instruct.sandbox import Limits, make_runner
from semi_instruct.sandbox.cases import run_cases
from semi_instruct.sandbox.toolchains import CompileOptions
with open(sys.argv[2], "rb") as source, open(sys.argv[3], "w") as sink, make_runner(
    compile_options=CompileOptions(timeout_s=5.0, cache_dir=None)
) as runner:
    run_cases(source, sink, runner, 1, Limits(timeout_s=5.0, memory_mb=256))
"""


@dataclass
class Battery:
    identity: str
    results: dict[str, list[dict[str, Any]]]  # attack name -> results, one per input
    host: dict[str, Any] = field(default_factory=dict)  # what the host saw during and after the run


@dataclass(frozen=True)
class Attack:
    code: str
    inputs: list[Any]
    check: Callable[[list[dict[str, Any]], Battery], None]
    mode: str = "stdio"
    timeout_s: float | None = None
    language: str = "python"


ATTACKS: dict[str, Attack] = {}


def attack(
    name: str, code: str, inputs: list[Any] | None = None, **options: Any
) -> Callable[[Callable[..., None]], None]:
    def register(check: Callable[[list[dict[str, Any]], Battery], None]) -> None:
        ATTACKS[name] = Attack(textwrap.dedent(code), [""] if inputs is None else inputs, check, **options)

    return register


def statuses(results: list[dict[str, Any]]) -> list[str]:
    return [r["status"] for r in results]


def stdout_json(result: dict[str, Any]) -> Any:
    assert result["status"] == "ok", result
    return json.loads(result["stdout"])


# --- time ---------------------------------------------------------------------------------------------------


@attack("infinite_loop", "while True:\n    pass\n", timeout_s=1.0)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    # Killed at its limit: the kernel's CPU clock and the monotonic clock can differ by a few ms on a VM
    # (CI measured 998.7 ms for a 1 s CPU limit), hence the lower margin; the upper one is a loaded host.
    assert statuses(rs) == ["timeout"] and 950 <= rs[0]["wall_ms"] < 4000


@attack("sleep_forever", "import time\ntime.sleep(10 ** 6)\n", timeout_s=1.0)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    # killed at its wall-clock limit (same clock as wall_ms); headroom above: a loaded host
    assert statuses(rs) == ["timeout"] and 1000 <= rs[0]["wall_ms"] < 4000


@attack(
    "sigterm_ignoring_loop",
    """
    import signal
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
        signal.signal(s, signal.SIG_IGN)
    while True:
        pass
""",
    timeout_s=1.0,
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert statuses(rs) == ["timeout"] and rs[0]["exit_code"] == -9


@attack(
    "threads_that_never_finish",
    """
    import threading, time
    def forever():
        while True:
            time.sleep(0.01)
    threading.Thread(target=forever).start()
    print("main done")
""",
    timeout_s=1.0,
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert statuses(rs) == ["timeout"]  # like `python3 prog.py`: the interpreter waits for the thread


# --- processes ----------------------------------------------------------------------------------------------


@attack(
    "fork_bomb",
    """
    import os
    if input() == "bomb":
        while True:
            try:
                os.fork()
            except OSError:
                pass
    print("alive", len([p for p in os.listdir("/proc") if p.isdigit()]))
""",
    inputs=["bomb", "after"],
    timeout_s=1.0,
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert statuses(rs) == ["timeout", "ok"] and rs[1]["stdout"] == "alive 2\n"


@attack(
    "daemon_outliving_the_timeout",
    f"""
    import os
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv("/usr/bin/sleep", ["sleep", "{DAEMON_MARK}"])
        os._exit(0)
    while True:
        pass
""",
    timeout_s=1.0,
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert statuses(rs) == ["timeout"] and b.host["daemons_left"] == []


@attack(
    "sleeping_children",
    f"""
    import os, subprocess
    subprocess.Popen(["sleep", "{DAEMON_MARK}"])
    subprocess.Popen(["sleep", "{DAEMON_MARK}"], start_new_session=True)
    if os.fork() == 0:
        os.execv("/usr/bin/sleep", ["sleep", "{DAEMON_MARK}"])
    print("parent done")
""",
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    # The case ends when its process does; whatever it left is killed, not waited for.
    assert statuses(rs) == ["ok"] and rs[0]["stdout"] == "parent done\n" and rs[0]["wall_ms"] < 4000
    assert b.host["daemons_left"] == []


@attack(
    "kill_the_parent_and_everyone",
    """
    import os, signal
    for pid, sig in [(1, signal.SIGKILL), (1, signal.SIGTERM), (1, signal.SIGINT), (os.getppid(), signal.SIGKILL),
                     (-1, signal.SIGKILL), (-1, signal.SIGSTOP)]:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    print("survived", input())
""",
    inputs=["first", "second"],
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert [(r["status"], r["stdout"]) for r in rs] == [("ok", "survived first\n"), ("ok", "survived second\n")]


# --- memory, output, files ----------------------------------------------------------------------------------


@attack("memory_bomb", "x = bytearray(2 << 30)\nprint(len(x))\n")
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert statuses(rs) == ["memory"] and "MemoryError" in rs[0]["stderr"]


@attack(
    "memory_spread_over_children",
    """
    import os
    done_r, done_w = os.pipe()  # each child closes its end once its block is allocated (or it died)
    go_r, go_w = os.pipe()  # closed by the parent when all are: every block is held at the same time
    children = []
    for _ in range(4):
        if (pid := os.fork()) == 0:
            os.close(go_w)
            os.close(done_r)
            block = b"x" * (150 << 20)  # written, so resident: 4 x 150 MiB, each under the 256 MiB rlimit
            os.close(done_w)
            os.read(go_r, 1)
            os._exit(0)
        children.append(pid)
    os.close(done_w)
    os.close(go_r)
    os.read(done_r, 1)  # end of file: no child is still allocating
    os.close(go_w)
    print(sum(os.waitpid(pid, 0)[1] == 0 for pid in children))
""",
    timeout_s=15.0,
)  # ~3 s; reclaim at the cgroup limit is slow on a loaded machine
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    survivors = int(stdout_json(rs[0]))
    if not b.host["cgroup"]:
        pytest.skip(
            "no cgroup for this identity (unprivileged): memory is bounded per process only, as "
            "`semi-instruct sandbox doctor` reports"
        )
    assert survivors <= 2  # the per-sandbox cgroup (256 + 128 MiB) OOM-killed the rest


@attack("huge_stdout", "print('x' * 10 ** 7)\n")
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert statuses(rs) == ["output_limit"] and len(rs[0]["stdout"]) == 1 << 20 and rs[0]["wall_ms"] < 4000


@attack("one_very_long_line", "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)\n")
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert statuses(rs) == ["output_limit"] and rs[0]["stdout"] == "y" * (1 << 20)


@attack(
    "fill_files",
    """
    import errno, json
    written = {}
    for path in ["/tmp/huge", "/dev/shm/huge"]:
        n = 0
        try:
            with open(path, "wb") as f:
                for _ in range(10 * 1024):  # 10 GB in 1 MiB blocks
                    n += f.write(b"z" * (1 << 20))
                    f.flush()
        except OSError as e:
            written[path] = [n, errno.errorcode[e.errno]]
    print(json.dumps(written))
""",
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert stdout_json(rs[0]) == {"/tmp/huge": [32 << 20, "EFBIG"], "/dev/shm/huge": [16 << 20, "ENOSPC"]}


@attack(
    "fd_exhaustion",
    """
    import os
    fds = []
    if input() == "exhaust":
        try:
            while True:
                fds.append(os.open("/dev/null", os.O_RDONLY))
        except OSError as e:
            print(len(fds), e.strerror)
    else:
        print("fine")
""",
    inputs=["exhaust", "after"],
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert [r["stdout"] for r in rs] == ["253 Too many open files\n", "fine\n"]  # 256 minus stdin/out/err


@attack(
    "deep_recursion",
    """
    import sys
    how = input()
    if how == "c-stack":  # recursion through C (map) grows the real stack, past its 8 MiB limit
        sys.setrecursionlimit(10 ** 7)
        down = lambda n: max(map(down, [n + 1]))
        down(0)
    if how == "python":
        down = lambda n: down(n + 1)
        down(0)
    print("fine")
""",
    inputs=["c-stack", "python", "after"],
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert (rs[0]["status"], rs[0]["exit_code"]) == ("error", -11)  # stack overflow: SIGSEGV, a plain error
    assert rs[1]["status"] == "error" and "RecursionError" in rs[1]["stderr"]
    assert (rs[2]["status"], rs[2]["stdout"]) == ("ok", "fine\n")


# --- network and host access ---------------------------------------------------------------------------------


@attack(
    "network",
    """
    import errno, json, os, socket
    port, abstract = input().split()
    out = {}
    def attempt(name, fn):
        try:
            fn()
            out[name] = "CONNECTED"
        except socket.gaierror as e:
            out[name] = "gaierror"
        except OSError as e:
            out[name] = errno.errorcode[e.errno]
    attempt("tcp_to_host_loopback", lambda: socket.create_connection(("127.0.0.1", int(port)), timeout=0.5))
    def route_out():  # connect() on UDP only picks a route: no packet leaves, either way
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).connect(("192.0.2.1", 53))
    attempt("route_to_outside", route_out)
    attempt("dns", lambda: socket.getaddrinfo("pypi.org", 443))
    attempt("host_abstract_unix_socket", lambda: socket.socket(socket.AF_UNIX).connect("\\0" + abstract))
    attempt("vsock", lambda: socket.socket(40, socket.SOCK_STREAM))
    attempt("packet", lambda: socket.socket(17, socket.SOCK_RAW))
    out["interfaces"] = sorted(n for _, n in socket.if_nameindex())
    out["host_sockets_visible"] = [p for p in ["/run/dbus/system_bus_socket", "/run/systemd/private",
                                               "/var/run/docker.sock", "/run/user", "/tmp/.X11-unix"]
                                   if os.path.exists(p)]
    print(json.dumps(out))
""",
    inputs=["{port} {abstract}"],
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert stdout_json(rs[0]) == {
        "tcp_to_host_loopback": "ECONNREFUSED",
        "route_to_outside": "ENETUNREACH",
        "dns": "gaierror",
        "host_abstract_unix_socket": "ECONNREFUSED",
        "vsock": "EAFNOSUPPORT",
        "packet": "EAFNOSUPPORT",
        "interfaces": ["lo"],
        "host_sockets_visible": [],
    }
    assert b.host["tcp_connections"] == 0 and b.host["unix_connections"] == 0


@attack(
    "read_host_secrets",
    """
    import json, os
    project = input()
    denied, read = [], []
    for path in ["/etc/shadow", "/etc/passwd", "/root", "/home", "/work", project, project + "/pyproject.toml",
                 "/proc/1/environ", "/proc/1/fd", "/proc/1/mem", "/proc/1/maps", "/sys/fs/cgroup", "/var/log"]:
        try:
            os.listdir(path) if os.path.isdir(path) else open(path, "rb").read(1)
            read.append(path)
        except OSError:
            denied.append(path)
    environs = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environs[pid] = open(f"/proc/{pid}/environ", "rb").read().decode()
        except OSError:
            pass
    print(json.dumps({"read": read,
                      "pids": sorted(p for p in os.listdir("/proc") if p.isdigit()) == sorted(["1", str(os.getpid())]),
                      "environ": sorted(os.environ), "all_environs": environs}))
""",
    inputs=["{project}"],
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    view = stdout_json(rs[0])
    assert view["read"] == [] and view["pids"] is True  # host processes (host /proc) are not visible
    assert view["environ"] == ["HOME", "LANG", "MALLOC_ARENA_MAX", "PATH", "PWD", "PYTHONHASHSEED"]
    assert SECRET not in rs[0]["stdout"] and "1" not in view["all_environs"]  # PID 1 (the harness) is unreadable


@attack(
    "write_outside_tmp",
    """
    import os
    project = input()
    for path in [project + "/pwned", "/work/pwned", "/root/pwned", "/pwned", "/usr/pwned", "/usr/bin/python3",
                 "/etc/pwned", "/dev/pwned", "/proc/sys/kernel/hostname", "/bin/pwned", "/run/pwned"]:
        try:
            open(path, "a").close()
            print("WROTE", path)
        except OSError:
            pass
    print("done")
""",
    inputs=["{project}"],
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert (rs[0]["status"], rs[0]["stdout"]) == ("ok", "done\n")
    assert not (REPO / "pwned").exists()


@attack(
    "rm_rf_home",
    """
    import os
    if input() == "rm":
        os.system("rm -rf ~ /usr/bin /etc 2>/dev/null")
    print(os.environ["HOME"], os.path.exists("/usr/bin/python3"), sorted(os.listdir("/tmp")))
""",
    inputs=["rm", "after"],
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert [r["stdout"] for r in rs] == ["/tmp True []\n", "/tmp True ['prog.py']\n"]
    assert os.path.exists("/usr/bin/python3")


# --- privileges ----------------------------------------------------------------------------------------------


@attack(
    "escalate",
    """
    import ctypes, errno, json, os, platform, resource
    libc = ctypes.CDLL(None, use_errno=True)
    nr = {"x86_64": {"process_vm_readv": 310, "keyctl": 250, "io_uring_setup": 425},
          "aarch64": {"process_vm_readv": 270, "keyctl": 219, "io_uring_setup": 425}}[platform.machine()]
    def err(ret):
        return "ok" if ret != -1 else errno.errorcode[ctypes.get_errno()]
    out = {
        "uid": os.getuid() != 0 and os.geteuid() != 0,
        "ptrace_attach_1": err(libc.ptrace(16, 1, 0, 0)),
        "ptrace_traceme": err(libc.ptrace(0, 0, 0, 0)),
        "process_vm_readv": err(libc.syscall(nr["process_vm_readv"], 1, 0, 0, 0, 0, 0)),
        "remount_root_rw": err(libc.mount(b"none", b"/", None, 32, None)),  # MS_REMOUNT
        "unshare_user_ns": err(libc.unshare(0x10000000)),
        "unshare_mount_ns": err(libc.unshare(0x00020000)),
        "setuid_0": err(libc.setuid(0)),
        "keyctl": err(libc.syscall(nr["keyctl"], 0, 0, 0, 0, 0)),
        "io_uring_setup": err(libc.syscall(nr["io_uring_setup"], 1, ctypes.create_string_buffer(120))),
        "shmget": err(libc.shmget(0, 4096, 0o1000 | 0o600)),  # IPC_PRIVATE, IPC_CREAT
        "mount_cmd": os.system("mount -o remount,rw / 2>/dev/null") != 0,
        "no_caps": all(int(line.split()[1], 16) == 0 for line in open("/proc/self/status") if line.startswith("Cap")),
        "no_new_privs": any(line.split() == ["NoNewPrivs:", "1"] for line in open("/proc/self/status")),
    }
    raised = []
    for name in ("AS", "CPU", "NPROC", "NOFILE", "FSIZE", "CORE"):
        r = getattr(resource, "RLIMIT_" + name)
        soft, hard = resource.getrlimit(r)
        try:
            resource.setrlimit(r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            raised.append(name)
        except ValueError:
            pass
    out["raised_rlimits"] = raised
    print(json.dumps(out))
""",
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert stdout_json(rs[0]) == {
        "uid": True,
        "ptrace_attach_1": "EPERM",
        "ptrace_traceme": "EPERM",
        "process_vm_readv": "EPERM",
        "remount_root_rw": "EPERM",
        "unshare_user_ns": "EPERM",
        "unshare_mount_ns": "EPERM",
        "setuid_0": "EINVAL",  # uid 0 does not even exist in the sandbox's user namespace
        "keyctl": "EPERM",
        "io_uring_setup": "EPERM",
        "shmget": "EPERM",
        "mount_cmd": True,
        "no_caps": True,
        "no_new_privs": True,
        "raised_rlimits": [],
    }


@attack(
    "tamper_with_pid1",
    """
    import ctypes, errno, json, os
    libc = ctypes.CDLL(None, use_errno=True)
    class Limit(ctypes.Structure):
        _fields_ = [("cur", ctypes.c_ulong), ("max", ctypes.c_ulong)]
    one = Limit(1, 1)
    out = {}
    for name, call in [
        ("prlimit_nofile", lambda: libc.prlimit(1, 7, ctypes.byref(one), None)),
        ("setpriority", lambda: libc.setpriority(0, 1, 19)),
        ("sched_setaffinity", lambda: os.sched_setaffinity(1, {0}) or 0),
        ("sched_setscheduler", lambda: libc.sched_setscheduler(1, 5, ctypes.byref(ctypes.c_int(0)))),
    ]:
        try:
            ret = call()
            out[name] = "ok" if ret == 0 else errno.errorcode[ctypes.get_errno()]
        except OSError as e:
            out[name] = errno.errorcode[e.errno]
    print(json.dumps(out))
""",
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert stdout_json(rs[0]) == dict.fromkeys(
        ["prlimit_nofile", "setpriority", "sched_setaffinity", "sched_setscheduler"], "EPERM"
    )


# --- forging results -----------------------------------------------------------------------------------------


@attack(
    "forge_through_harness_fds",
    """
    import json, os, struct
    header = json.dumps({"i": 1, "status": "ok", "exit_code": 0, "wall_ms": 1, "out": 6, "err": 0, "ret": 0}).encode()
    frame = struct.pack(">I", len(header)) + header + b"FORGED"
    opened = []
    for fd in range(0, 64):
        try:
            with open(f"/proc/1/fd/{fd}", "wb") as f:
                f.write(frame)
            opened.append(fd)
        except OSError:
            pass
        try:
            os.write(fd, frame) if fd > 2 else None
        except OSError:
            pass
    print("opened", opened, input())
""",
    inputs=["a", "b"],
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert [(r["status"], r["stdout"]) for r in rs] == [("ok", "opened [] a\n"), ("ok", "opened [] b\n")]


@attack(
    "print_the_result_format",
    """
    import json, struct, sys
    header = json.dumps({"i": 0, "status": "ok", "exit_code": 0, "wall_ms": 1, "out": 3, "err": 0, "ret": 0}).encode()
    sys.stdout.buffer.write(struct.pack(">I", len(header)) + header + b"yes")
    print('{"id": "x", "results": [{"status": "ok"}]}')
    print("ALL TESTS PASSED")
    sys.exit(1)
""",
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert statuses(rs) == ["error"] and rs[0]["exit_code"] == 1 and rs[0]["stdout"].endswith("ALL TESTS PASSED\n")


@attack(
    "exit_to_fake_a_pass",
    """
    import os, sys
    def f(how):
        print("ALL PASSED")
        if how == "sys.exit":
            sys.exit(0)
        if how == "os._exit":
            os._exit(0)
        if how == "SystemExit":
            raise SystemExit
        return "returned"
""",
    mode="call",
    inputs=[["sys.exit"], ["os._exit"], ["SystemExit"], ["return"]],
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert [(r["status"], r["return"]) for r in rs] == [("error", None)] * 3 + [("ok", "returned")]


@attack(
    "eq_always_true",
    """
    class Anything:
        def __eq__(self, other):
            return True
    class Str(str):
        def __eq__(self, other):
            return True
    def f(k):
        return [Anything(), Str("x"), [Str("x")], {"k": Anything()}][k]
""",
    mode="call",
    inputs=[[0], [1], [2], [3]],
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert statuses(rs) == ["error"] * 4 and all("unserialisable return value" in r["stderr"] for r in rs)


@attack(
    "monkeypatched_builtins",
    """
    import builtins, json, sys
    builtins.type = lambda *a: int
    builtins.isinstance = lambda *a: True
    builtins.repr = lambda x: "1"
    builtins.str = lambda *a: "1"
    json.dumps = lambda *a, **k: "1"
    def f(k):
        return {1, 2} if k == 0 else [k, "a", 1.5]
""",
    mode="call",
    inputs=[[0], [1]],
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert [(r["status"], r["return"]) for r in rs] == [("error", None), ("ok", [1, "a", 1.5])]


# --- compiled programs (C++, Java): the compiler and the program -------------------------------------------------

# What the C++ attacks share: report an errno name, list the visible processes.
CPP_HELPERS = """
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <iostream>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
static std::string err(int ret) { return ret >= 0 ? "ok" : strerrorname_np(errno); }
static int processes() {
    int n = 0; DIR *d = opendir("/proc");
    while (dirent *e = readdir(d)) n += e->d_name[0] >= '0' && e->d_name[0] <= '9';
    closedir(d); return n;
}
"""


@attack(
    "cpp_fork_bomb",
    CPP_HELPERS
    + """
    int main() {
        std::string how; std::cin >> how;
        if (how == "bomb") for (;;) fork();
        std::printf("alive %d\\n", processes());
    }
""",
    inputs=["bomb", "after"],
    timeout_s=1.0,
    language="cpp",
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert statuses(rs) == ["timeout", "ok"] and rs[1]["stdout"] == "alive 2\n"


@attack(
    "cpp_host_access",
    CPP_HELPERS
    + """
    #include <arpa/inet.h>
    #include <sys/socket.h>
    int main() {
        std::string project; int port; std::cin >> project >> port;
        for (std::string p : {"/etc/shadow", "/root", "/work", "/proc/1/environ", "/proc/1/mem", "/var/log"})
            std::printf("read %s %s\\n", p.c_str(), err(open((p).c_str(), O_RDONLY)).c_str());
        std::printf("read project %s\\n", err(open((project + "/pyproject.toml").c_str(), O_RDONLY)).c_str());
        for (std::string p : {project + "/pwned", std::string("/work/pwned"), std::string("/usr/pwned"),
                              std::string("/pwned"), std::string("/usr/bin/g++"), std::string("/etc/pwned")})
            std::printf("write %s %s\\n", p == project + "/pwned" ? "project" : p.c_str(),
                        err(open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644)).c_str());
        int tcp = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in to{}; to.sin_family = AF_INET; to.sin_port = htons(port);
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        std::printf("tcp %s\\n", err(connect(tcp, (sockaddr *)&to, sizeof to)).c_str());
        int udp = socket(AF_INET, SOCK_DGRAM, 0);
        to.sin_port = htons(53); inet_pton(AF_INET, "192.0.2.1", &to.sin_addr);
        std::printf("route %s\\n", err(connect(udp, (sockaddr *)&to, sizeof to)).c_str());
        std::printf("environ %s\\n", getenv("SEMI_SECRET") ? "LEAKED" : "clean");
    }
""",
    inputs=["{project} {port}"],
    language="cpp",
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert rs[0]["status"] == "ok", rs[0]
    lines = rs[0]["stdout"].splitlines()
    reads = [line for line in lines if line.startswith("read ")]
    writes = [line for line in lines if line.startswith("write ")]
    assert len(reads) == 7 and not [line for line in reads if line.endswith(" ok")]
    assert len(writes) == 6 and not [line for line in writes if line.endswith(" ok")]
    assert lines[-3:] == ["tcp ECONNREFUSED", "route ENETUNREACH", "environ clean"]
    assert not (REPO / "pwned").exists() and b.host["tcp_connections"] == 0


@attack(
    "cpp_huge_output",
    '#include <cstdio>\nint main() { for (;;) std::fputs("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\\n", stdout); }\n',
    language="cpp",
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert statuses(rs) == ["output_limit"] and len(rs[0]["stdout"]) == 1 << 20 and rs[0]["wall_ms"] < 4000


@attack(
    "cpp_modifies_its_own_binary",
    CPP_HELPERS
    + """
    const char *MARK = "ORIGINAL-BINARY-MARK";
    int main() {
        std::string how; std::cin >> how;
        if (how == "tamper") {
            std::printf("fd3 %s\\n", err(fcntl(3, F_GETFD)).c_str());
            std::printf("open_rw %s\\n", err(open("/proc/self/exe", O_RDWR)).c_str());
            int ro = open("/proc/self/exe", O_RDONLY);
            std::printf("open_ro %s\\n", err(ro).c_str());
            void *map = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
            std::printf("mmap_shared_write %s\\n", map == MAP_FAILED ? strerrorname_np(errno) : "ok");
            std::printf("pid1_fds %s\\n", err(open("/proc/1/fd/3", O_RDWR)).c_str());
            std::printf("files_in_tmp %s\\n", err(open("/tmp/prog", O_RDONLY)).c_str());
        }
        std::printf("%s\\n", MARK);
    }
""",
    inputs=["tamper", "check"],
    language="cpp",
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert statuses(rs) == ["ok", "ok"] and rs[1]["stdout"] == "ORIGINAL-BINARY-MARK\n"
    assert rs[0]["stdout"].splitlines() == [
        "fd3 EBADF",  # the artifact's fd is closed on exec: nothing left to write through
        "open_rw ETXTBSY",  # running; and the memfd behind it is sealed against writes
        "open_ro ok",
        "mmap_shared_write EACCES",
        "pid1_fds EACCES",
        "files_in_tmp ENOENT",  # the binary never is a file in the sandbox
        "ORIGINAL-BINARY-MARK",
    ]


@attack(
    "java_modifies_its_own_jar",
    """
    import java.io.*;
    import java.nio.*;
    import java.nio.channels.*;
    import java.nio.file.*;
    public class Main {
        static String attempt(Callable c) {
            try { c.call(); return "ok"; } catch (Exception e) { return e.getClass().getSimpleName(); }
        }
        interface Callable { void call() throws Exception; }
        public static void main(String[] a) throws Exception {
            String how = new java.util.Scanner(System.in).next();
            if (how.equals("tamper")) {
                Path jar = Paths.get("/proc/self/fd/3");
                System.out.println("write " + attempt(() -> {
                    try (RandomAccessFile f = new RandomAccessFile(jar.toFile(), "rw")) { f.seek(0); f.write(0); } }));
                System.out.println("truncate " + attempt(() -> {
                    try (FileChannel c = FileChannel.open(jar, StandardOpenOption.WRITE)) { c.truncate(0); } }));
                System.out.println("map " + attempt(() -> {
                    try (FileChannel c = FileChannel.open(jar, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                        c.map(FileChannel.MapMode.READ_WRITE, 0, 16).put((byte) 0); } }));
            }
            System.out.println("ORIGINAL-JAR-MARK");
        }
    }
""",
    inputs=["tamper", "check"],
    language="java",
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert statuses(rs) == ["ok", "ok"], rs
    assert rs[0]["stdout"].splitlines() == [
        "write IOException",
        "truncate IOException",
        "map IOException",
        "ORIGINAL-JAR-MARK",
    ]
    assert rs[1]["stdout"] == "ORIGINAL-JAR-MARK\n"


@attack(
    "java_host_access_and_thread_bomb",
    """
    import java.io.*;
    import java.net.*;
    import java.nio.file.*;
    import java.util.*;
    class Main {
        public static void main(String[] a) throws Exception {
            Scanner in = new Scanner(System.in);
            String how = in.next();
            if (how.equals("threads")) {
                while (true) new Thread(() -> { try { Thread.sleep(1000000); } catch (Exception e) {} }).start();
            }
            String project = in.next(); int port = in.nextInt();
            List<String> got = new ArrayList<>();
            for (String p : new String[] {"/etc/shadow", "/root", project + "/pyproject.toml", "/proc/1/environ"}) {
                try { Files.readAllBytes(Paths.get(p)); got.add("READ " + p); } catch (Exception e) { }
            }
            for (String p : new String[] {project + "/pwned", "/usr/pwned", "/pwned"}) {
                try { new FileOutputStream(p).close(); got.add("WROTE " + p); } catch (Exception e) { }
            }
            try (Socket s = new Socket("127.0.0.1", port)) { got.add("CONNECTED"); } catch (IOException e) { }
            try { InetAddress.getByName("pypi.org"); got.add("RESOLVED"); } catch (IOException e) { }
            if (System.getenv("SEMI_SECRET") != null) got.add("SECRET");
            System.out.println(got);
        }
    }
""",
    inputs=["threads", "host {project} {port}"],
    timeout_s=5.0,
    language="java",
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    # the thread bomb ends at the process cap (an OutOfMemoryError: unable to create native thread) or time
    assert rs[0]["status"] in ("memory", "error", "timeout") and rs[0]["wall_ms"] < 10000
    assert (rs[1]["status"], rs[1]["stdout"]) == ("ok", "[]\n"), rs[1]
    assert not (REPO / "pwned").exists() and b.host["tcp_connections"] == 0


# Compiling is the first thing an attacker gets: the compiler runs in a sandbox of its own.
@attack(
    "cpp_infinite_template_compile",
    """
    template <unsigned long N, unsigned long M> struct Blow {
        static const unsigned long v = Blow<N - 1, 2 * M>::v + Blow<N - 1, 2 * M + 1>::v;  // 2^N distinct types
    };
    template <unsigned long M> struct Blow<0, M> { static const unsigned long v = M; };
    int main() { return Blow<60, 1>::v; }
""",
    inputs=["", ""],
    language="cpp",
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert [r.get("compile_error") for r in rs] == ["timeout"] * 2 and statuses(rs) == ["error", "error"]


INCLUDES = {
    "dev_zero": "/dev/zero",
    "dev_stdin": "/dev/stdin",
    "dev_random": "/dev/random",
    "dev_urandom": "/dev/urandom",
    "dev_tty": "/dev/tty",
    "etc_shadow": "/etc/shadow",
    "proc_1_environ": "/proc/1/environ",
    "host_project_file": "{project}/pyproject.toml",
}
for _name, _path in INCLUDES.items():

    @attack(f"cpp_include_{_name}", f'#include "{_path}"\nint main() {{ return 0; }}\n', language="cpp")
    def _(rs: list[dict[str, Any]], b: Battery, _path: str = _path) -> None:
        # never hangs (the compile limit ends it) and never shows host contents (the compile sandbox holds none)
        r = rs[0]
        assert SECRET not in r["stderr"] and "[project]" not in r["stderr"]  # pyproject.toml's first line
        if _path == "/dev/stdin":  # the compiler's standard input is empty: an empty header, a fine program
            assert r["status"] == "ok" and "compile_error" not in r
        elif _path in ("/dev/zero", "/dev/random", "/dev/urandom"):  # endless: stopped by a compile limit
            assert r["status"] == "error" and r["compile_error"] in ("timeout", "memory", "output_limit")
        else:  # not in the compile sandbox, or not readable there
            assert (r["status"], r["compile_error"]) == ("error", "error")
            why = ("No such file or directory", "Permission denied", "No such device or address")  # /dev/tty: none
            assert any(reason in r["stderr"] for reason in why), r["stderr"]


# --- cross-program isolation inside one sandbox --------------------------------------------------------------

TOKEN = 'import os\nTOKEN = "<<TOKEN:" + "".join(chr(65 + b % 26) for b in os.urandom(32)) + ">>"\n'


@attack("oracle_output_planted", TOKEN + "print(TOKEN)\n")
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert rs[0]["status"] == "ok" and rs[0]["stdout"].startswith("<<TOKEN:")


@attack("oracle_return_planted", TOKEN + "def f():\n    return TOKEN\n", mode="call", inputs=[[]])
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert rs[0]["status"] == "ok" and rs[0]["return"].startswith("<<TOKEN:")


@attack(
    "leftovers_planted",
    f"""
    import os, subprocess
    open("/tmp/planted", "w").write("x")
    open("/dev/shm/planted", "w").write("x")
    os.makedirs("/tmp/a/b/c"); os.chmod("/tmp/a/b", 0); os.chmod("/tmp/a", 0)
    os.symlink("/usr", "/tmp/link")
    subprocess.Popen(["sleep", "{DAEMON_MARK}"], start_new_session=True)
    print("planted")
""",
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert (rs[0]["status"], rs[0]["stdout"]) == ("ok", "planted\n")


@attack(
    "later_program_finds_nothing",
    """
    import json, os, re
    own = "<<TOKEN:" + "".join(chr(65 + b % 26) for b in os.urandom(32)) + ">>"  # shows the scan works
    pattern = re.compile(rb"<<TOKEN:[A-Z]{32}>>")
    found = set()
    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
        for line in maps:
            span, perms = line.split()[:2]
            if "r" not in perms or "[vvar]" in line or "[vsyscall]" in line:
                continue
            lo, hi = (int(x, 16) for x in span.split("-"))
            try:
                mem.seek(lo)
                found.update(m.decode() for m in pattern.findall(mem.read(hi - lo)))
            except (OSError, ValueError, OverflowError):
                pass
    print(json.dumps({"own": own, "found": sorted(found), "tmp": sorted(os.listdir("/tmp")),
                      "shm": os.listdir("/dev/shm"), "pids": len([p for p in os.listdir("/proc") if p.isdigit()])}))
""",
    timeout_s=10.0,
)
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    view = stdout_json(rs[0])
    planted = {b.results["oracle_output_planted"][0]["stdout"].strip(), b.results["oracle_return_planted"][0]["return"]}
    assert view["own"] in view["found"] and not planted & set(view["found"])
    assert (view["tmp"], view["shm"], view["pids"]) == (["prog.py"], [], 2)


# --- verdicts on awkward but honest programs -----------------------------------------------------------------


@attack("input_with_no_stdin", "print(input())\n")
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert statuses(rs) == ["error"] and rs[0]["stderr"].endswith("EOFError: EOF when reading a line\n")


@attack("non_utf8_output", "import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe\\n')\n")
def _(rs: list[dict[str, Any]], b: Battery) -> None:
    assert (rs[0]["status"], rs[0]["stdout"]) == ("ok", "ok \ufffd\ufffd\n")


# --- running the battery -------------------------------------------------------------------------------------


def _cases() -> list[dict[str, Any]]:
    lines = []
    for name, a in ATTACKS.items():
        case: dict[str, Any] = {"id": name, "mode": a.mode, "code": a.code, "inputs": a.inputs}
        if a.mode == "call":
            case["entry_point"] = "f"
        if a.timeout_s is not None:
            case["timeout_s"] = a.timeout_s
        if a.language != "python":
            case["language"] = a.language
        lines.append(case)
    return lines


def _daemons_left() -> list[str]:
    left = []
    for pid in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if DAEMON_MARK.encode() in cmdline:
            left.append(pid)
    return left


def run_battery(identity: str, workdir: Path) -> Battery:
    tcp = socket.create_server(("127.0.0.1", 0))
    unix = socket.socket(socket.AF_UNIX)
    abstract = f"semi-instruct-test-{os.getpid()}"
    unix.bind("\0" + abstract)
    unix.listen()
    context = {"port": tcp.getsockname()[1], "abstract": abstract, "project": str(REPO)}
    cases = "".join(
        json.dumps(c)
        .replace("{port}", str(context["port"]))
        .replace("{abstract}", abstract)
        .replace("{project}", str(REPO))
        + "\n"
        for c in _cases()
    )
    if identity == "caller":
        source, python, prefix = REPO, sys.executable, []
    else:  # a private copy the unprivileged uid can read, run with the system interpreter
        import pyseccomp

        source = workdir / "src"
        shutil.copytree(
            REPO / "semi_instruct" / "sandbox",
            source / "semi_instruct" / "sandbox",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        shutil.copy(REPO / "semi_instruct" / "__init__.py", source / "semi_instruct")
        shutil.copy(pyseccomp.__file__, source)
        python = "/usr/bin/python3"
        prefix = ["setpriv", f"--reuid={UNPRIVILEGED_UID}", f"--regid={UNPRIVILEGED_UID}", "--clear-groups", "--"]
    (workdir / "cases.jsonl").write_text(cases)
    if identity != "caller":
        for path in [workdir, *workdir.rglob("*")]:
            os.chown(path, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
    env = {"PATH": "/usr/bin:/bin", "SEMI_SECRET": SECRET, "HOME": str(workdir)}
    proc = subprocess.run(
        [*prefix, python, "-c", DRIVER, str(source), str(workdir / "cases.jsonl"), str(workdir / "results.jsonl")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in (workdir / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == list(ATTACKS)
    host = {"daemons_left": _daemons_left(), "cgroup": identity == "caller" and os.geteuid() == 0}
    for name, listener in [("tcp_connections", tcp), ("unix_connections", unix)]:
        listener.setblocking(False)
        try:
            listener.accept()
            host[name] = 1
        except BlockingIOError:
            host[name] = 0
        listener.close()
    return Battery(identity, {r["id"]: r["results"] for r in records}, host)


@pytest.fixture(scope="module", params=["caller", "unprivileged"])
def battery(request: pytest.FixtureRequest) -> Iterator[Battery]:
    if request.param == "unprivileged" and os.geteuid() != 0:
        pytest.skip("the caller is already unprivileged (covered by the 'caller' run); switching uid needs root")
    workdir = Path(tempfile.mkdtemp(prefix="sandbox-attacks-"))
    workdir.chmod(0o755)
    try:
        yield run_battery(request.param, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack(battery: Battery, name: str) -> None:
    results = battery.results[name]
    assert len(results) == len(ATTACKS[name].inputs)  # exactly one result per input, never missing
    ATTACKS[name].check(results, battery)
