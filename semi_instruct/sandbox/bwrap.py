"""The simple, correct runner: one bubblewrap sandbox per `run()` call, one child process per input.

Layout of one `run()`:

    host ── setpriv (drop root → 65534) ── bwrap (no net, no caps, read-only /usr, 64 MiB /tmp)
              └─ HARNESS as PID 1 (non-dumpable; reads the job as JSON on stdin)
                   └─ per input: `python -s -S -P /tmp/case/prog.py` (or the call-mode BOOT script)
                      in its own session with rlimits; killed with everything else after each case.

Results travel back one JSON line per input over a private memfd (never stdout, which programs can
reach), and the host fails closed: any case without a well-formed record is reported as "killed".
See /work/shared/notes/sandbox.md for the attacks each choice answers (pitfall numbers below).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from typing import Any

from semi_instruct.sandbox import Limits, Program, RunResult, SandboxUnavailable

SANDBOX_UID = 65534  # "nobody"; never run untrusted code as uid 0 (pitfall 1)
TMP_BYTES = 64 << 20  # size of the sandbox's writable /tmp
SHM_BYTES = 16 << 20  # /dev/shm (multiprocessing semaphores need it)
STDERR_TAIL = 2048  # characters of stderr kept per case
STATUSES = frozenset({"ok", "error", "timeout", "memory", "output_limit", "killed"})

INSTALL_HINT = (
    "Install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`) and make sure unprivileged user "
    "namespaces are enabled (`sysctl kernel.unprivileged_userns_clone=1` on older Debian, "
    "`sysctl kernel.apparmor_restrict_unprivileged_userns=0` on Ubuntu >= 23.10; in Docker run with "
    "`--security-opt seccomp=unconfined` or use a runtime that allows user namespaces). The interpreter "
    "must live under /usr and be readable by uid 65534 (e.g. /usr/bin/python3; a pyenv under /root is not). "
    "We never fall back to running untrusted code unsandboxed."
)

# Runs in the call-mode child: exec the program as module "solution" (so `if __name__ == "__main__":`
# blocks stay quiet), call the entry point, and hand the return value back as exact JSON on a dedicated
# fd. Anything that ends the process before that write is an error (pitfall 13). The harness passes the
# arguments as marshal (already JSON-decoded) and the encoder below uses only built-ins, because
# `import json` (re, enum, ...) would cost more than the interpreter start-up for every case.
BOOT = r"""
import marshal, os, sys, types
from _json import encode_basestring_ascii as quote
fd, path, entry = int(sys.argv[1]), sys.argv[2], sys.argv[3]
args = marshal.loads(sys.stdin.buffer.read())
null = os.open(os.devnull, os.O_RDONLY); os.dup2(null, 0); os.close(null)  # program sees empty stdin
sys.argv = [path]
INF = float("inf")

def enc(v):
    t = type(v)  # exact types only: subclasses may override __eq__/__repr__ (pitfall 5)
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return int.__repr__(v)  # ValueError beyond the int str-digit limit, as json.dumps would
    if t is float:
        if v != v or v == INF or v == -INF:
            raise TypeError("unserialisable return value: non-finite float " + repr(v))
        return float.__repr__(v)  # what json.dumps writes
    if t is str:
        return quote(v)
    if t is list or t is tuple:
        return "[" + ",".join([enc(x) for x in v]) + "]"
    if t is dict:
        items = []
        for k, x in v.items():
            if type(k) is not str:
                raise TypeError("unserialisable return value: dict key of type " + type(k).__qualname__)
            items.append(quote(k) + ":" + enc(x))
        return "{" + ",".join(items) + "}"
    raise TypeError("unserialisable return value: " + t.__qualname__)

mod = types.ModuleType("solution")
mod.__file__ = path
sys.modules["solution"] = mod
with open(path, encoding="utf-8") as f:
    code = compile(f.read(), path, "exec")
exec(code, mod.__dict__)
ret = getattr(mod, entry)(*args)
try:
    data = enc(ret).encode()
except TypeError as e:
    sys.exit(str(e))
except (ValueError, RecursionError) as e:  # int beyond str-digit limit; nesting too deep / cyclic
    sys.exit("unserialisable return value: " + type(e).__name__ + ": " + str(e))
sys.stdout.flush()
while data:
    data = data[os.write(fd, data):]
os.close(fd)
"""

# Runs as PID 1 inside the sandbox, as the sandbox uid, before any untrusted code.
HARNESS = r"""
import ctypes, json, marshal, math, os, resource, selectors, shutil, signal, subprocess, sys, time
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE=0: same-uid cases can't open /proc/1/fd/*
try:
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")  # under memory pressure the kernel kills sandboxes first (pitfall 7)
except OSError:
    pass
job = json.loads(sys.stdin.buffer.read())
OUT, MODE, LIM, BOOT = job["result_fd"], job["mode"], job["limits"], job["boot"]
TIMEOUT, MAXOUT = LIM["timeout_s"], LIM["max_output_bytes"]
CPU = max(1, math.ceil(TIMEOUT))
AS = LIM["memory_mb"] << 20
PY = sys.executable
STDERR_TAIL = job["stderr_tail"]

def set_limits():  # in the child between fork and exec
    resource.setrlimit(resource.RLIMIT_CPU, (CPU, CPU + 1))  # soft: SIGXCPU, hard: SIGKILL
    resource.setrlimit(resource.RLIMIT_AS, (AS, AS))
    resource.setrlimit(resource.RLIMIT_FSIZE, (job["fsize"], job["fsize"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    resource.setrlimit(resource.RLIMIT_NPROC, (LIM["max_processes"], LIM["max_processes"]))
    resource.setrlimit(resource.RLIMIT_STACK, (8 << 20, 8 << 20))  # modest: threads fit under AS (pitfall 8)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

def kill_all():
    # As PID 1, kill(-1) reaches every other process of the sandbox, including daemons that escaped
    # the case's process group with setsid; orphans are re-parented to us, so reap until none is left.
    if os.getpid() != 1:  # never outside our own pid namespace
        return
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return

def wipe(d):  # each case starts from an empty /tmp and /dev/shm
    for name in os.listdir(d):
        p = os.path.join(d, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        else:
            try:
                os.unlink(p)
            except OSError:
                pass

def run_case(i, text):
    wipe("/tmp"); wipe("/dev/shm")
    os.mkdir("/tmp/case")
    prog = "/tmp/case/prog.py"
    with open(prog, "w", encoding="utf-8") as f:
        f.write(job["code"])
    if MODE == "call":
        try:
            args = json.loads(text)
        except ValueError:
            args = None
        if type(args) is not list:
            return {"i": i, "status": "error", "stdout": "", "returned_json": None, "exit_code": None,
                    "stderr": "[sandbox] call-mode input must be a JSON array of arguments", "wall_ms": 0.0}
        data = marshal.dumps(args)
    else:
        data = text.encode("utf-8", "surrogatepass")
    stdin = open("/tmp/case/.stdin", "w+b")
    stdin.write(data); stdin.flush(); stdin.seek(0)
    os.unlink("/tmp/case/.stdin")
    # No -E/-I: it would ignore PYTHONHASHSEED; the environment is ours anyway (bwrap --clearenv).
    flags = ["-s", "-S", "-P"]
    ret_r = ret_w = None
    if MODE == "call":
        ret_r, ret_w = os.pipe()
        argv = [PY, *flags, "-c", BOOT, str(ret_w), prog, job["entry_point"]]
    else:
        argv = [PY, *flags, prog]
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                pass_fds=() if ret_w is None else (ret_w,), cwd="/tmp/case",
                                start_new_session=True, preexec_fn=set_limits)
    finally:
        stdin.close()
        if ret_w is not None:
            os.close(ret_w)
    pidfd = os.pidfd_open(proc.pid)
    sel = selectors.DefaultSelector()
    out, err, ret = proc.stdout.fileno(), proc.stderr.fileno(), ret_r
    bufs = {out: bytearray(), err: bytearray()}
    for fd in bufs:
        sel.register(fd, selectors.EVENT_READ)
    if ret is not None:
        bufs[ret] = bytearray()
        sel.register(ret, selectors.EVENT_READ)
    sel.register(pidfd, selectors.EVENT_READ)
    status = code = rusage = None
    deadline = t0 + TIMEOUT
    while status is None and sel.get_map():
        left = deadline - time.monotonic()
        if left <= 0 and code is None:
            status = "timeout"
            break
        # Once the case has exited and kill_all() has run, no writer is left: draining ends at EOF.
        for key, _ in sel.select(None if code is not None else left):
            fd = key.fd
            if fd == pidfd:  # the case exited: reap it, then kill what it left behind (sleeping children)
                sel.unregister(pidfd)
                _, st, rusage = os.wait4(proc.pid, 0)
                code = proc.returncode = os.waitstatus_to_exitcode(st)
                kill_all()
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                sel.unregister(fd)
                continue
            buf = bufs[fd]
            buf += chunk
            if fd == err:
                del buf[:-4 * STDERR_TAIL]
            elif len(buf) > MAXOUT:
                status = "output_limit"
                del buf[MAXOUT:]
                break
    if code is None:  # timeout or output limit: kill the case, still collect its status for the record
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, st, rusage = os.wait4(proc.pid, 0)
        code = proc.returncode = os.waitstatus_to_exitcode(st)
    kill_all()
    wall_ms = (time.monotonic() - t0) * 1000
    for f in (proc.stdout, proc.stderr):
        f.close()
    if ret is not None:
        os.close(ret)
    os.close(pidfd)
    sel.close()
    stderr = bufs[err].decode("utf-8", "replace")[-STDERR_TAIL:]
    cpu = rusage.ru_utime + rusage.ru_stime
    returned = None
    if status is None:
        if code == 0:
            status = "ok"
            if MODE == "call":
                try:
                    returned = bytes(bufs[ret]).decode("utf-8")
                    json.loads(returned)
                except ValueError:  # nothing written (exited before returning) or garbage
                    status, returned = "error", None
                    note = "[sandbox] no valid return value: the program ended before returning"
                    stderr = (stderr + "\n" + note).lstrip()
        elif "MemoryError" in stderr or (code < 0 and rusage.ru_maxrss * 1024 >= 0.9 * AS):
            status = "memory"
        elif code == -signal.SIGXCPU or (code == -signal.SIGKILL and cpu >= CPU - 0.05):
            status = "timeout"
        else:
            status = "error"
    return {"i": i, "status": status, "stdout": bufs[out].decode("utf-8", "replace"),
            "returned_json": returned, "stderr": stderr[-STDERR_TAIL:], "exit_code": code,
            "wall_ms": round(wall_ms, 3),
            "extra": {"cpu_ms": round(cpu * 1000, 3), "maxrss_kb": rusage.ru_maxrss}}

for i, text in enumerate(job["inputs"]):
    try:
        rec = run_case(i, text)
    except Exception as e:  # harness trouble is reported as such, never as a verdict on the program
        kill_all()
        rec = {"i": i, "status": "killed", "stderr": "[sandbox] harness error: " + repr(e)}
    data = (json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8", "replace")
    while data:
        data = data[os.write(OUT, data):]
"""


def _killed(reason: str) -> RunResult:
    return RunResult(status="killed", stderr=reason[-STDERR_TAIL:])


class BwrapRunner:
    """One bubblewrap launch per `run()`; see the module docstring. Raises `SandboxUnavailable` at
    construction if a trivial sandbox cannot be started."""

    def __init__(self, python: str = "/usr/bin/python3") -> None:
        self.python = python
        bwrap = shutil.which("bwrap") or shutil.which("bwrap", path="/usr/bin:/bin")
        if bwrap is None:
            raise SandboxUnavailable("bubblewrap (`bwrap`) not found. " + INSTALL_HINT)
        drop: list[str] = []
        if os.getuid() == 0:  # bwrap as root keeps root's capabilities inside (pitfall 1)
            setpriv = shutil.which("setpriv") or shutil.which("setpriv", path="/usr/bin:/bin")
            if setpriv is None:
                raise SandboxUnavailable("running as root but `setpriv` (util-linux) is missing to drop to "
                                         f"uid {SANDBOX_UID}. " + INSTALL_HINT)
            drop = [setpriv, f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups", "--"]
        self._prefix = [*drop, bwrap, *self._bwrap_args()]
        self._check()

    @staticmethod
    def _bwrap_args() -> list[str]:
        args = [
            "--unshare-all",  # user, pid, net, ipc, uts, cgroup: no network at all
            "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--as-pid-1",  # the harness is PID 1: no bwrap reaper holding our env (pitfall 3), kill(-1) works
            "--clearenv",
            "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8",
            "--setenv", "PYTHONHASHSEED", "0", "--setenv", "MALLOC_ARENA_MAX", "2",
            "--setenv", "HOME", "/tmp",
            "--ro-bind", "/usr", "/usr",
        ]
        for d in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(d):  # merged-/usr systems: recreate the symlink, bind nothing new
                args += ["--symlink", os.readlink(d), d]
            elif os.path.isdir(d):
                args += ["--ro-bind", d, d]
        args += [
            "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
            "--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp",
            "--perms", "1777", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm",
            "--remount-ro", "/dev",  # --dev's tmpfs is unsized (pitfall 6); /dev/shm above stays writable
            "--remount-ro", "/",  # bwrap's root is a writable, unsized tmpfs otherwise (pitfall 12)
            "--chdir", "/tmp",
        ]
        return args

    def _check(self) -> None:
        probe = "import os, sys; sys.stdout.write(str(os.getuid()))"
        try:
            p = subprocess.run([*self._prefix, self.python, "-I", "-S", "-c", probe], env={},
                               capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SandboxUnavailable(f"cannot start bubblewrap: {e!r}. " + INSTALL_HINT) from e
        if p.returncode == 0 and p.stdout.strip() == b"0":  # never run untrusted code as root
            raise SandboxUnavailable("the sandboxed probe ran as uid 0; refusing to run untrusted code")
        if p.returncode != 0 or not p.stdout.strip().isdigit():
            msg = p.stderr.decode(errors="replace").strip()[-500:]
            raise SandboxUnavailable(f"a trivial sandbox with {self.python} failed (exit {p.returncode}: "
                                     f"{msg or p.stdout!r}). " + INSTALL_HINT)

    @staticmethod
    def host_budget(n_inputs: int, limits: Limits) -> float:
        """Overall wall budget for one launch: per-case timeouts plus slack for start-up, case
        set-up and clean-up; a wedged harness is killed when it runs out."""
        return n_inputs * (limits.timeout_s + 0.5) + 10.0

    def run(self, program: Program, inputs: Sequence[str], limits: Limits) -> list[RunResult]:
        if not inputs:
            return []
        if program.mode == "call" and not program.entry_point:
            raise ValueError("call-mode program needs an entry_point")
        result_fd = os.memfd_create("sandbox-results")  # private channel, not reachable by cases
        job = {
            "result_fd": result_fd, "mode": program.mode, "code": program.code,
            "entry_point": program.entry_point, "inputs": list(inputs), "boot": BOOT,
            "stderr_tail": STDERR_TAIL, "fsize": TMP_BYTES,
            "limits": {"timeout_s": limits.timeout_s, "memory_mb": limits.memory_mb,
                       "max_output_bytes": limits.max_output_bytes, "max_processes": limits.max_processes},
        }
        argv = [*self._prefix, self.python, "-I", "-S", "-c", HARNESS]
        note = ""
        try:
            # env={}: bwrap itself must not carry our environment into the sandbox (pitfall 3).
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, pass_fds=(result_fd,), env={},
                                    start_new_session=True)
            try:
                _, err = proc.communicate(json.dumps(job).encode(),
                                          timeout=self.host_budget(len(inputs), limits))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # --die-with-parent takes the sandbox down with bwrap
                _, err = proc.communicate()
                note = "host timeout; "
            except BaseException:  # e.g. KeyboardInterrupt: don't leave a sandbox running behind us
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
            note += f"bwrap exit {proc.returncode}: " + err.decode("utf-8", "replace")[-1000:]
            os.lseek(result_fd, 0, os.SEEK_SET)
            with open(result_fd, "rb", closefd=False) as f:
                raw = f.read()
        finally:
            os.close(result_fd)
        results = self._parse(raw, program)[: len(inputs)]
        missing = f"[sandbox] no result for this case ({note.strip()})"
        return results + [_killed(missing) for _ in range(len(inputs) - len(results))]

    @staticmethod
    def _parse(raw: bytes, program: Program) -> list[RunResult]:
        """Records must arrive in order and well-formed; stop at the first that is not (fail closed)."""
        results: list[RunResult] = []
        for line in raw.split(b"\n"):
            try:
                rec: Any = json.loads(line)
                ok = (isinstance(rec, dict) and rec.get("i") == len(results) and rec.get("status") in STATUSES)
            except ValueError:
                ok = False
            if not ok:
                break
            status, returned = rec["status"], None
            if status == "ok" and program.mode == "call":
                try:
                    returned = json.loads(rec["returned_json"])
                except (TypeError, ValueError):  # e.g. an int too long for the host's str-digit limit
                    status = "error"
            results.append(RunResult(
                status=status, stdout=rec.get("stdout"), returned=returned, stderr=str(rec.get("stderr", "")),
                exit_code=rec.get("exit_code"), wall_ms=float(rec.get("wall_ms", 0.0)),
                extra=dict(rec.get("extra") or {})))
        return results
