"""BwrapRunner: correctness of statuses/outputs, and the attacks from /work/shared/notes/sandbox.md."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
import time
from typing import Any

import pytest

from semi_instruct.sandbox import Limits, Program, RunResult, SandboxUnavailable
from semi_instruct.sandbox.bwrap import BwrapRunner

FAST = Limits(timeout_s=1.0, memory_mb=256, max_output_bytes=1 << 16, max_processes=32)


@pytest.fixture(scope="module")
def runner() -> BwrapRunner:
    if shutil.which("bwrap") is None:  # e.g. a laptop without bubblewrap; a broken install fails loudly
        pytest.skip("bubblewrap not installed")
    return BwrapRunner()


def stdio(runner: BwrapRunner, code: str, inputs: list[str] | None = None, limits: Limits = FAST) -> list[RunResult]:
    return runner.run(Program("stdio", textwrap.dedent(code)), inputs or [""], limits)


def one(runner: BwrapRunner, code: str, stdin: str = "", limits: Limits = FAST) -> RunResult:
    return stdio(runner, code, [stdin], limits)[0]


def call(runner: BwrapRunner, code: str, args: list[list[Any]], entry: str = "f",
         limits: Limits = FAST) -> list[RunResult]:
    return runner.run(Program("call", textwrap.dedent(code), entry), [json.dumps(a) for a in args], limits)


# --- stdio mode -------------------------------------------------------------------------------------

def test_stdin_echo_and_sum(runner: BwrapRunner) -> None:
    echo = one(runner, "import sys; sys.stdout.write(sys.stdin.read())", "héllo\nworld\n")
    assert (echo.status, echo.stdout, echo.exit_code) == ("ok", "héllo\nworld\n", 0)
    assert echo.output("stdio") == "héllo\nworld\n"
    rs = stdio(runner, "print(sum(map(int, input().split())))", ["1 2 3", "-5 5", "10"])
    assert [(r.status, r.stdout) for r in rs] == [("ok", "6\n"), ("ok", "0\n"), ("ok", "10\n")]
    assert all(r.wall_ms > 0 for r in rs)


def test_many_inputs_in_order_and_independent(runner: BwrapRunner) -> None:
    code = """
    import os, sys
    n = int(input())
    print(n, os.path.exists("/tmp/marker"))   # each case starts from an empty /tmp
    open("/tmp/marker", "w").close()
    sys.exit(3 if n == 4 else 0)
    """
    rs = stdio(runner, code, [str(i) for i in range(8)])
    assert [r.stdout for r in rs] == [f"{i} False\n" for i in range(8)]
    assert [r.status for r in rs] == ["ok"] * 4 + ["error"] + ["ok"] * 3
    assert rs[4].exit_code == 3 and rs[4].output("stdio") is None


def test_hash_seed_is_fixed(runner: BwrapRunner) -> None:
    code = "print(hash('semi-instruct'), list({'a', 'b', 'c', 'd', 'e'}))"
    a, b = stdio(runner, code, ["", ""])
    assert a.status == b.status == "ok" and a.stdout == b.stdout == one(runner, code).stdout


def test_syntax_error(runner: BwrapRunner) -> None:
    r = one(runner, "def f(:\n  pass\n")
    assert r.status == "error" and "SyntaxError" in r.stderr and r.exit_code == 1
    (c,) = call(runner, "def f(:\n  pass\n", [[]])
    assert c.status == "error" and "SyntaxError" in c.stderr and c.returned is None


def test_input_without_stdin_is_error(runner: BwrapRunner) -> None:
    r = one(runner, "x = input()\nprint(x)", "")
    assert r.status == "error" and "EOFError" in r.stderr
    (c,) = call(runner, "def f():\n    return input()", [[]])
    assert c.status == "error" and "EOFError" in c.stderr


def test_non_utf8_output_is_replaced(runner: BwrapRunner) -> None:
    r = one(runner, r"import sys; sys.stdout.buffer.write(b'a\xff\xfeb\n')")
    assert r.status == "ok" and r.stdout == "a\ufffd\ufffdb\n"


def test_stderr_keeps_only_the_tail(runner: BwrapRunner) -> None:
    r = one(runner, "import sys; sys.stderr.write('x' * 100000 + 'END'); sys.exit(1)")
    assert r.status == "error" and r.stderr.endswith("END") and len(r.stderr) <= 2048


# --- call mode ----------------------------------------------------------------------------------------

def test_call_mode_exact_json(runner: BwrapRunner) -> None:
    code = """
    def f(a, b):
        print("chatter goes to stdout")
        return (a, [b, None, True], {"k": (1.5, "s")})

    if __name__ == "__main__":
        raise SystemExit("module must not run as __main__")
    """
    r1, r2 = call(runner, code, [[1, "x"], [[2], {"z": 0}]])
    assert r1.status == "ok" and r1.returned == [1, ["x", None, True], {"k": [1.5, "s"]}]
    assert r1.stdout == "chatter goes to stdout\n"
    assert r1.output("call") == json.dumps(r1.returned, sort_keys=True, ensure_ascii=False)
    assert r2.status == "ok" and r2.returned == [[2], [{"z": 0}, None, True], {"k": [1.5, "s"]}]
    tricky = "def g():\n    return [-0.0, 0.1 + 0.2, 2 ** 100, 'é\\n\"\\u2028\\x00🙂', {'': [[]]}, False]"
    (r3,) = call(runner, tricky, [[]], entry="g")
    assert r3.status == "ok" and r3.returned == [-0.0, 0.1 + 0.2, 2**100, 'é\n"\u2028\x00🙂', {"": [[]]}, False]
    assert [type(x) for x in r3.returned] == [float, float, int, str, dict, bool]
    bad_input = runner.run(Program("call", "def f(*a): return 1", "f"), ["{}", "not json", "[1]"], FAST)
    assert [r.status for r in bad_input] == ["error", "error", "ok"] and "JSON array" in bad_input[0].stderr
    (bad_entry,) = call(runner, "def g(): return 1", [[]], entry="missing")
    assert bad_entry.status == "error" and "AttributeError" in bad_entry.stderr


@pytest.mark.parametrize("code", [
    "import sys\ndef f():\n    sys.exit(0)",
    "import os\ndef f():\n    print('ALL PASSED'); os._exit(0)",
    "import sys\nsys.exit(0)\ndef f():\n    return 1",
    "def f():\n    raise SystemExit",
])
def test_call_mode_exit_before_return_is_not_ok(runner: BwrapRunner, code: str) -> None:
    (r,) = call(runner, code, [[]])
    assert r.status == "error" and r.returned is None and r.output("call") is None


@pytest.mark.parametrize("ret, why", [
    ("{1, 2}", "set"),
    ("float('nan')", "non-finite float"),
    ("[1, float('inf')]", "non-finite float"),
    ("{1: 'a'}", "dict key of type int"),
    ("type('MyInt', (int,), {'__eq__': lambda s, o: True})(3)", "MyInt"),
    ("object()", "object"),
    ("10 ** 5000", "ValueError"),
    ("(lambda a: a.append(a) or a)([])", "RecursionError"),
])
def test_call_mode_unserialisable_return_is_error(runner: BwrapRunner, ret: str, why: str) -> None:
    (r,) = call(runner, f"def f():\n    return {ret}", [[]])
    assert r.status == "error" and r.returned is None
    assert "unserialisable return value: " in r.stderr and why in r.stderr


def test_call_mode_forged_return_record_is_not_ok(runner: BwrapRunner) -> None:
    # Writing garbage on every inherited fd and then returning normally must not yield a pass.
    code = """
    import os
    def f():
        for fd in range(3, 20):
            try:
                os.write(fd, b'{"forged": ')
            except OSError:
                pass
        return 1
    """
    (r,) = call(runner, code, [[]])
    assert r.status == "error" and r.returned is None


# --- limits ---------------------------------------------------------------------------------------------

def test_infinite_loop_times_out(runner: BwrapRunner) -> None:
    t0 = time.monotonic()
    rs = stdio(runner, "while True: pass", ["", ""])
    elapsed = time.monotonic() - t0
    assert [r.status for r in rs] == ["timeout", "timeout"]
    assert all(1000 <= r.wall_ms < 1800 for r in rs)
    assert elapsed < 2 * 1.0 + 1.5


def test_sleep_forever_times_out(runner: BwrapRunner) -> None:
    t0 = time.monotonic()
    r = one(runner, "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(10**6)")
    assert r.status == "timeout" and time.monotonic() - t0 < 1.0 + 1.5


def test_huge_stdout_hits_output_limit(runner: BwrapRunner) -> None:
    t0 = time.monotonic()
    big, endless = stdio(runner, "print('x' * 10**7)", [""]), stdio(runner, "while True: print('y' * 1000)", [""])
    for (r,) in (big, endless):
        assert r.status == "output_limit" and r.output("stdio") is None
        assert len(r.stdout or "") <= FAST.max_output_bytes
    assert time.monotonic() - t0 < 2.0  # stopped at the cap, not at the timeout
    (c,) = call(runner, "def f():\n    return 'z' * 10**6", [[]])
    assert c.status == "output_limit"


def test_memory_bomb_is_not_ok(runner: BwrapRunner) -> None:
    lim = Limits(timeout_s=3.0, memory_mb=128, max_output_bytes=1 << 16)
    r = one(runner, "x = bytearray(1 << 30)\nprint(len(x))", limits=lim)
    assert r.status == "memory" and "MemoryError" in r.stderr
    grow = one(runner, "a = []\nwhile True:\n    a.append(' ' * (1 << 20))", limits=lim)
    assert grow.status in ("memory", "error") and grow.output("stdio") is None


def test_sleeping_child_does_not_hang_run(runner: BwrapRunner) -> None:
    code = """
    import os, time
    if os.fork() == 0:          # a child that keeps our stdout open and sleeps
        time.sleep(1000)
    if os.fork() == 0:          # a double-forked daemon in its own session
        os.setsid()
        if os.fork() == 0:
            time.sleep(1000)
        os._exit(0)
    print("parent done")
    """
    t0 = time.monotonic()
    rs = stdio(runner, code, ["", ""], Limits(timeout_s=5.0, max_output_bytes=1 << 16))
    assert [(r.status, r.stdout) for r in rs] == [("ok", "parent done\n")] * 2
    assert time.monotonic() - t0 < 3.0


def test_fork_bomb_is_contained(runner: BwrapRunner) -> None:
    t0 = time.monotonic()
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    rs = stdio(runner, code, ["", ""], Limits(timeout_s=1.0, max_processes=16))
    assert [r.status for r in rs] == ["timeout", "timeout"] and time.monotonic() - t0 < 6.0
    assert one(runner, "print('fine')").stdout == "fine\n"


def test_host_timeout_marks_unreported_cases_killed(runner: BwrapRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    # Budget 2.4 s: case 0 ends at launch + 1.5 s, case 1 would end at launch + 3.0 s.
    monkeypatch.setattr(BwrapRunner, "host_budget", staticmethod(lambda n, limits: 2.4))
    rs = stdio(runner, "import time; time.sleep(1.5); print('slept')", ["", "", ""],
               Limits(timeout_s=5.0, max_output_bytes=1 << 16))
    assert [(r.status, r.stdout) for r in rs] == [("ok", "slept\n"), ("killed", None), ("killed", None)]
    assert "host timeout" in rs[1].stderr


# --- isolation --------------------------------------------------------------------------------------------

def test_no_network(runner: BwrapRunner) -> None:
    code = """
    import socket
    for host, port in [("127.0.0.1", 22), ("127.0.0.1", 8000), ("1.1.1.1", 53), ("1.1.1.1", 443)]:
        try:
            socket.create_connection((host, port), timeout=0.5)
            print("CONNECTED", host, port)
        except OSError:
            print("blocked")
    try:
        socket.getaddrinfo("pypi.org", 443)
        print("RESOLVED")
    except OSError:
        print("blocked")
    print(sorted(n for _, n in socket.if_nameindex()))
    """
    assert one(runner, code).stdout == "blocked\n" * 5 + "['lo']\n"


def test_cannot_read_host_secrets(runner: BwrapRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMI_SECRET", "hunter2-semi-secret")
    code = """
    import os
    for path in ["/root", "/work", "/home", "/etc/shadow", "/etc/passwd", "/proc/1/environ", "/proc/1/fd/0"]:
        try:
            print(path, "READ", os.listdir(path) if os.path.isdir(path) else open(path, "rb").read()[:50])
        except OSError as e:
            print(path, "denied")
    print(sorted(os.environ))
    print(os.getuid(), os.getgid(), os.getpid() != 1)
    status = open("/proc/self/status").read().splitlines()
    caps = dict(line.split(":\t") for line in status if line.startswith("Cap"))
    print(all(int(caps[k], 16) == 0 for k in ("CapEff", "CapPrm", "CapBnd", "CapAmb")))
    """
    r = one(runner, code)
    assert r.status == "ok" and r.stdout is not None
    assert "hunter2" not in r.stdout and "READ" not in r.stdout
    lines = r.stdout.splitlines()
    assert lines[-1] == "True"  # no capabilities at all, not even in the bounding set
    env = ["PATH", "LANG", "PYTHONHASHSEED", "MALLOC_ARENA_MAX", "HOME", "PWD"]  # PWD: set by bwrap --chdir
    assert lines[-3] == str(sorted(env))
    uid, gid, not_pid1 = lines[-2].split()
    assert int(uid) != 0 and int(gid) != 0 and not_pid1 == "True"


def test_cannot_write_outside_tmp(runner: BwrapRunner) -> None:
    code = """
    import os
    for path in ["/x", "/usr/x", "/usr/lib/python3.11/os.py", "/dev/x", "/proc/x", "/work/x", "/root/x",
                 "/etc/x", "/bin/x"]:
        try:
            open(path, "a").close()
            print("WROTE", path)
        except OSError:
            pass
    open("/tmp/ok", "w").write("fine")
    open("/dev/shm/ok", "w").write("fine")
    print(open("/tmp/ok").read())
    """
    r = one(runner, code)
    assert (r.status, r.stdout) == ("ok", "fine\n")
    assert not os.path.exists("/work/x") and not os.path.exists("/x")


def test_cannot_forge_results_through_harness_fds(runner: BwrapRunner) -> None:
    code = """
    import json, os
    rec = json.dumps({"i": 1, "status": "ok", "stdout": "FORGED"})
    for fd in range(0, 12):
        try:
            with open(f"/proc/1/fd/{fd}", "w") as f:
                f.write(rec + "\\n")
            print("OPENED", fd)
        except OSError:
            pass
    print(rec)
    """
    rs = stdio(runner, code, ["", ""])
    assert [r.status for r in rs] == ["ok", "ok"] and rs[0].stdout is not None and rs[1].stdout is not None
    assert "OPENED" not in rs[0].stdout and rs[1].stdout.endswith('"stdout": "FORGED"}\n')


def test_unavailable_interpreter_refuses_to_run() -> None:
    with pytest.raises(SandboxUnavailable, match="bubblewrap"):
        BwrapRunner(python="/nonexistent/python3")
