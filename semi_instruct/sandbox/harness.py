"""PID 1 of a sandbox: a pre-started interpreter that forks one child per test case (a fork server).

The host (`executor.py`) runs this file's text with `python3 -s -P -c` inside bubblewrap, as the
unprivileged sandbox uid, and never imports it; it uses only the standard library. Pitfall numbers refer
to docs/sandbox.md.

- Common standard modules are imported once here (not `threading`: its fork hook would cost every case), and a
  job's Python source is compiled once here; each case runs in a fresh fork of this pristine interpreter, so
  a program's module-level state (and anything it does to the shared code object) dies with its case.
  `random` re-seeds itself after a fork (urandom), and the hash secret (PYTHONHASHSEED=0) is inherited:
  outputs stay deterministic where a fresh `python3 prog.py` would be, and random where it would be random.
- PID 1 is non-dumpable, so same-uid cases can't open /proc/1/fd/*, /proc/1/mem or /proc/1/environ
  (pitfalls 3, 4), and it handles no signals, so a case's kill(1, ...) or kill(-1, ...) can't stop it.
- After each case everything else in the sandbox is killed (kill(-1) from PID 1 reaches setsid daemons)
  and /tmp and /dev/shm are wiped. Same-uid processes may lower PID 1's rlimits or priority, so PID 1
  compares them with its start-up state and retires the sandbox when a case changed them.
- Program output never enters PID 1's heap: it is read into fixed buffers, zeroed after each case and
  unmapped after each job, so a later case (maybe another program in the same sandbox) can't dig the
  oracle's output out of its own memory. Expected outputs never enter the sandbox at all.

- Compiled programs (C++, Java): a "compile" job writes the source into /tmp, runs the compiler as its one
  case (stdout and stderr both captured as the diagnostics) and sends back the artifact, read without
  following links; a run job carries the artifact, which goes straight into a sealed memfd (never into our
  heap): each case gets it as fd 3 and executes it (fexecve, or `java -cp /proc/self/fd/3`); the seals
  make it immutable for the cases after, though they run as the same uid.

Protocol (fd 0: jobs from the host, fd 1: frames to the host; both moved off 0/1 at start-up):
  job   = u32 length + JSON {"mode", "code", "entry_point", "inputs": [str], "limits": {...}, "markers",
                             "argv" (compiled), "artifact_bytes" (run), "compile" (compile job)}
          + artifact_bytes raw bytes
  frame = u32 length + JSON header {"i", "status", ..., "out", "err", "ret"} + stdout, stderr, return bytes
The first frame is {"ready": true, ...}: what the harness sees of its own confinement.
"""

import ctypes
import os

try:  # the case children inherit this; a non-dumpable process can no longer write it
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")  # under memory pressure the kernel kills sandboxes first (pitfall 7)
except OSError:
    pass
PRCTL = ctypes.CDLL(None).prctl
PR_SET_DUMPABLE = 4
PRCTL(PR_SET_DUMPABLE, 0, 0, 0, 0)  # before anything else

import atexit  # noqa: E402
import builtins  # noqa: E402
import fcntl  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import importlib.machinery  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import mmap  # noqa: E402
import resource  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
import warnings  # noqa: E402
from _json import encode_basestring_ascii  # noqa: E402

# What stdin programs and function snippets commonly import: loaded once instead of once per case.
WARM_MODULES = (
    "abc array bisect calendar cmath collections collections.abc contextlib copy csv dataclasses datetime "
    "decimal enum fractions functools hashlib heapq io itertools math numbers operator pprint random "
    "re statistics string textwrap traceback typing unicodedata"
).split()
# Never warm here: `threading` (and `queue`, `zipfile`, which import it). Its fork hook would cost every case
# ~110 page faults (~0.2 ms, docs/sandbox.md); a program that uses threads imports it in its own case.
for _name in WARM_MODULES:
    try:
        importlib.import_module(_name)
    except ImportError:  # a trimmed-down interpreter: that module just isn't warm
        pass

CTL, RES = os.dup(0), os.dup(1)
_null = os.open(os.devnull, os.O_RDWR)
os.dup2(_null, 0)  # fds 0/1 stay open (as /dev/null) so new fds never take their numbers;
os.dup2(_null, 1)  # the start-up sys.stdin/sys.stdout objects describe pipes, like a case's
os.close(_null)
signal.signal(signal.SIGINT, signal.SIG_DFL)  # PID 1 without handlers ignores signals from its namespace

CASE_DIR = "/tmp"
PROGRAM_PATH = "/tmp/prog.py"
WIPED_DIRS = ("/tmp", "/dev/shm")
OOM_CONTROL = "/run/sandbox/memory.oom_control"  # bound read-only by the host when a memory cgroup is used
OPEN_FILES = 256
STACK = 8 << 20  # the main thread's stack, as under a default shell: deep C recursion ends in SIGSEGV
PIPE_SIZE = 1 << 20  # stdin up to this size is written before the fork
RLIMITS = [getattr(resource, n) for n in dir(resource) if n.startswith("RLIMIT_")]
ARTIFACT_FD = 3  # where a compiled program's artifact is in its case
SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
PAGE = os.sysconf("SC_PAGE_SIZE")
PRECOMPILE_CHARS = 1 << 16  # larger sources are compiled by each case (under its limits), not by PID 1
_exit = os._exit


def supervisor_state():
    """What a same-uid case could change about PID 1 from outside (prlimit, setpriority, sched_*)."""
    return (
        [resource.getrlimit(r) for r in RLIMITS],
        os.getpriority(os.PRIO_PROCESS, 0),
        os.sched_getscheduler(0),
        sorted(os.sched_getaffinity(0)),
    )


def vm_size():
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[0]) * PAGE


def oom_kills():
    try:
        with open(OOM_CONTROL) as f:
            return int(dict(line.split() for line in f)["oom_kill"])
    except OSError:
        return None


def write_all(fd, *buffers):
    """Write the buffers in order with as few system calls as the pipe allows (one, usually)."""
    views = [memoryview(b) for b in buffers if len(b)]
    while views:
        n = os.writev(fd, views)
        while views and n >= len(views[0]):
            n -= len(views.pop(0))
        if views:
            views[0] = views[0][n:]


def read_exact(fd, n):
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def send(header, *blobs):
    """One frame in one write: the host then wakes once per case, not once per part."""
    head = json.dumps(header).encode()
    write_all(RES, struct.pack(">I", len(head)) + head, *blobs)


def kill_all():
    """As PID 1, kill(-1) reaches every other process of the sandbox, including setsid daemons; orphans
    are re-parented to us before their parent can be reaped, so once wait says ECHILD nobody is left."""
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def wipe(path):
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            os.chmod(entry.path, 0o700)  # a case may have left a directory we can't list
            wipe(entry.path)
            os.rmdir(entry.path)
        else:
            os.unlink(entry.path)


def status_line(path):
    with open(path) as f:
        return {k: v.strip() for k, v in (line.split(":", 1) for line in f)}


# --- in the forked child -----------------------------------------------------------------------------------


def exit_status(exc):
    """What the interpreter would exit with for an uncaught SystemExit."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(str(code) + "\n")
    return 1


def report(exc):
    """Print an uncaught exception the way the interpreter does, without our own frame."""
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)


def finalize(status):
    """The interpreter's shut-down: wait for non-daemon threads, run atexit hooks, flush stdio."""
    threading = sys.modules.get("threading")
    if threading is not None:  # as the interpreter does: only a program that imported it can have threads
        try:
            threading._shutdown()
        except BaseException as exc:
            report(exc)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and not stream.closed:
                stream.flush()
        except BaseException:
            if stream is sys.stdout:
                status = 120  # as the interpreter does when stdout can't be flushed
    return status


def encode(
    v,
    _type=type,
    _int=int,
    _float=float,
    _str=str,
    _list=list,
    _tuple=tuple,
    _dict=dict,
    _join=",".join,
    quote=encode_basestring_ascii,
    inf=float("inf"),
):
    """Exact JSON of a return value. Only exact built-in types: a subclass could override __eq__ or
    __repr__ (pitfall 5). Builtins are bound at definition, so a program patching them changes nothing."""
    t = _type(v)
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is _int:
        return _int.__repr__(v)  # ValueError beyond the int str-digit limit, like json.dumps
    if t is _float:
        if v != v or v == inf or v == -inf:
            raise TypeError("non-finite float " + _float.__repr__(v))
        return _float.__repr__(v)
    if t is _str:
        return quote(v)
    if t is _list or t is _tuple:
        return "[" + _join([encode(x) for x in v]) + "]"
    if t is _dict:
        items = []
        for k, x in v.items():
            if _type(k) is not _str:
                raise TypeError("dict key of type " + _type(k).__qualname__)
            items.append(quote(k) + ":" + encode(x))
        return "{" + _join(items) + "}"
    raise TypeError(t.__qualname__)


def precompile(job):
    """A Python program's code object, compiled once here for all of the job's cases (each case execs it in
    its own fork), or None: then every case compiles the source itself, exactly as `python3 prog.py` would.
    Only a clean compile is shared: a SyntaxError or any warning (which a fresh interpreter prints to the
    case's stderr) is left to the cases, and a source beyond PRECOMPILE_CHARS never costs PID 1 more than a
    bounded compile."""
    if job.get("argv") is not None or len(job["code"]) > PRECOMPILE_CHARS:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return compile(job["code"], PROGRAM_PATH, "exec")  # as run_program compiles it
        except Exception:
            return None


def new_module(name):
    module = types.ModuleType(name)
    module.__file__ = PROGRAM_PATH
    module.__cached__ = None
    module.__builtins__ = builtins
    module.__loader__ = importlib.machinery.SourceFileLoader(name, PROGRAM_PATH)
    sys.modules[name] = module
    return module


class EntryPointError(Exception):
    """The call-mode entry point names nothing the program defines (reported without a traceback)."""


def find_entry(module, name):
    """(owner, attribute) for `name` (a module-level function) or `Class.method` (LeetCode's
    `class Solution`): owner is the module or the class, checked before the call so a miss reads clearly."""
    parts = name.split(".")
    if len(parts) > 2 or not all(part.isidentifier() for part in parts):
        raise EntryPointError("not a function name or Class.method")
    if len(parts) == 1:
        if not hasattr(module, name):
            raise EntryPointError("the program defines no " + repr(name))
        return module, name
    owner = module.__dict__.get(parts[0])
    if owner is None:
        raise EntryPointError("the program defines no class " + repr(parts[0]))
    if not isinstance(owner, type):
        raise EntryPointError(repr(parts[0]) + " is a " + type(owner).__qualname__ + ", not a class")
    if not hasattr(owner, parts[1]):
        raise EntryPointError("class " + parts[0] + " has no method " + repr(parts[1]))
    return owner, parts[1]


def run_program(job, arguments, code=None):
    """Run the program like `python3 /tmp/prog.py` (stdio) or call its entry point (call); exit status."""
    sys.argv[:] = [PROGRAM_PATH]
    sys.path.insert(0, CASE_DIR)
    call = job["mode"] == "call"
    module = new_module("solution" if call else "__main__")
    try:
        if code is None:  # compiled here, so a SyntaxError's traceback is the interpreter's own
            code = compile(job["code"], PROGRAM_PATH, "exec")
        exec(code, module.__dict__)
        if not call:
            return finalize(0)
        entry = job["entry_point"]
        owner, attribute = find_entry(module, entry)
        if owner is not module:  # a method: called on a new instance, so nothing carries over between calls
            try:
                owner = owner()
            except Exception as exc:
                report(exc)
                sys.stderr.write(
                    "[sandbox] entry point " + repr(entry) + ": " + entry.partition(".")[0] + "() failed (the class"
                    " of a call-mode method is instantiated without arguments)\n"
                )
                return finalize(1)
        returned = getattr(owner, attribute)(*json.loads(arguments))
    except EntryPointError as exc:
        sys.stderr.write("[sandbox] entry point " + repr(job["entry_point"]) + ": " + str(exc) + "\n")
        return finalize(1)
    except SystemExit as exc:
        return finalize(exit_status(exc))  # in call mode: ended before returning, the host says error
    except BaseException as exc:
        report(exc)
        return finalize(1)
    try:
        data = encode(returned).encode()
    except (TypeError, ValueError, RecursionError) as exc:  # ValueError: int too long; Recursion: cyclic
        sys.stderr.write("unserialisable return value: " + type(exc).__name__ + ": " + str(exc) + "\n")
        return finalize(1)
    write_all(3, struct.pack(">Q", len(data)) + data)  # the host checks this is the only thing on fd 3
    os.close(3)
    return finalize(0)


def child(job, arguments, limits, fds, code=None):
    """In the forked child: confine, then run the program. Never returns into the harness loop."""
    status = 70
    try:
        os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(len(fds), resource.getrlimit(resource.RLIMIT_NOFILE)[1])
        cpu = limits["cpu_s"]
        stack_hard = resource.getrlimit(resource.RLIMIT_STACK)[1]
        stack = limits.get("stack", STACK)
        stack = stack if stack_hard == resource.RLIM_INFINITY else min(stack, stack_hard)
        for rlimit, value in (
            (resource.RLIMIT_CPU, (cpu, cpu + 1)),  # soft: SIGXCPU, hard: SIGKILL
            (resource.RLIMIT_AS, (limits["address_space"],) * 2),
            (resource.RLIMIT_FSIZE, (limits["file_bytes"],) * 2),
            (resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES)),
            (resource.RLIMIT_NPROC, (limits["nproc"],) * 2),
            (resource.RLIMIT_STACK, (stack, stack)),
            (resource.RLIMIT_CORE, (0, 0)),
        ):
            resource.setrlimit(rlimit, value)
        PRCTL(PR_SET_DUMPABLE, 1, 0, 0, 0)  # like any process: its own /proc/self is its own again
        argv = job.get("argv")
        if argv is not None:  # a compiler, or a compiled program (its artifact on ARTIFACT_FD)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
            env = {k: os.environ[k] for k in os.environ}
            if job.get("exec_artifact"):
                os.set_inheritable(ARTIFACT_FD, False)  # the kernel holds the file once it runs it
                os.execve(ARTIFACT_FD, argv, env)
            os.execve(argv[0], argv, env)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a fresh interpreter
        status = run_program(job, arguments, code)
    except BaseException as exc:
        try:
            os.write(2, ("[sandbox] case set-up failed: " + repr(exc) + "\n").encode())
        except BaseException:
            pass
    _exit(status & 0xFF)


# --- in PID 1 -------------------------------------------------------------------------------------------


class Capture:
    """Reads a pipe into a fixed mmap buffer (never into heap objects) and zeroes it afterwards."""

    def __init__(self, fd, size, tail=False):
        self.fd, self.size, self.tail = fd, size, tail
        self.buf = mmap.mmap(-1, size)
        self.n = 0  # valid bytes at the start of buf
        self.used = 0  # bytes written since the last scrub
        self.total = 0

    def read(self):
        """Read what is there; False at EOF."""
        if self.n == self.size:
            if not self.tail:
                return True
            half = self.size // 2  # keep the latest half (moved in place), read on behind it
            self.buf.move(0, half, half)
            self.n = half
        got = os.readv(self.fd, [memoryview(self.buf)[self.n :]])
        self.n += got
        self.used = max(self.used, self.n)
        self.total += got
        return got > 0

    def view(self, limit=None):
        return memoryview(self.buf)[: self.n if limit is None else min(self.n, limit)]

    def scrub(self):
        self.buf[: self.used] = bytes(self.used)
        self.n = self.used = self.total = 0


def ends_with_memory_error(err):
    """Whether the case's stderr ends with a MemoryError line, searched in place (no copy in our heap)."""
    buf, end = err.buf, err.n
    while end and buf[end - 1] in b" \t\r\n":
        end -= 1
    start = buf.rfind(b"\n", 0, end) + 1
    return buf.find(b"MemoryError", start, end) == start


def classify(code, timed_out, over, err, cpu_s, cpu_limit, oom_before, markers=(), said=None):
    if timed_out:
        return "timeout"
    if over:
        return "output_limit"
    if code == 0:
        return "ok"
    oom_after = oom_kills()
    if oom_before is not None and oom_after is not None and oom_after > oom_before:
        return "memory"  # the cgroup's OOM killer hit one of the case's processes
    if ends_with_memory_error(err):
        return "memory"
    said = err if said is None else said
    for marker, status in markers:  # e.g. std::bad_alloc, java.lang.OutOfMemoryError: searched in place
        if said.buf.find(marker.encode(), 0, said.n) >= 0:
            return status
    if code == -signal.SIGXCPU or (code == -signal.SIGKILL and cpu_s >= cpu_limit - 0.05):
        return "timeout"
    return "error"


def write_sources(files):
    for name, text in files.items():
        path = os.path.join(CASE_DIR, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(text)


def run_case(job, index, text, limits, out, err, ret, artifact_fd=None, code=None):
    compile_job = job.get("compile")
    if compile_job is not None:
        write_sources(compile_job["files"])
    elif job.get("argv") is None:
        write_sources({"prog.py": job["code"]})
    call = job["mode"] == "call"
    stdin_data = memoryview(b"" if call else text.encode("utf-8", "surrogatepass"))
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    ret_r, ret_w = os.pipe() if call else (None, None)
    try:
        fcntl.fcntl(stdin_w, fcntl.F_SETPIPE_SZ, min(PIPE_SIZE, max(len(stdin_data), 4096)))
    except OSError:  # the uid's pipe-buffer quota is used up: the rest is written as the case reads
        pass
    os.set_blocking(stdin_w, False)
    if stdin_data:
        stdin_data = stdin_data[os.write(stdin_w, stdin_data) :]
    if not stdin_data:
        os.close(stdin_w)
        stdin_w = None
    out.fd, err.fd = out_r, err_r
    if ret is not None and call:
        ret.fd = ret_r
    if compile_job is not None:  # diagnostics: the compiler's stdout and stderr, in order, in one capture
        os.close(err_w)
        err_w = os.dup(out_w)
    child_fds = [stdin_r, out_w, err_w] + ([ret_w] if call else []) + ([artifact_fd] if artifact_fd else [])
    address_space = limits.get("address_space") or limits["memory_bytes"] + vm_size()  # beyond our own pages
    limits = dict(limits, address_space=address_space)
    oom_before = oom_kills()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        child(job, text, limits, child_fds, code)
    for fd in child_fds:
        if fd != artifact_fd:
            os.close(fd)
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    readers = {out_r: out, err_r: err}
    if ret is not None and call:
        readers[ret_r] = ret
    for fd in readers:
        poller.register(fd, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    poller.register(CTL, 0)  # POLLHUP: the host is gone
    if stdin_w is not None:
        poller.register(stdin_w, select.POLLOUT)
    deadline = t0 + limits["timeout_s"]
    code = rusage = None
    timed_out = over = False
    while readers or code is None:
        left = deadline - time.monotonic()
        if code is None and left <= 0:
            timed_out = True
            break
        for fd, _ in poller.poll(None if code is not None else left * 1000):
            if fd == pidfd:  # the case exited: reap it, then kill what it left behind
                poller.unregister(pidfd)
                _, st, rusage = os.wait4(pid, 0)
                code = os.waitstatus_to_exitcode(st)
                kill_all()
            elif fd == CTL:
                kill_all()
                _exit(0)
            elif fd == stdin_w:
                try:
                    stdin_data = stdin_data[os.write(stdin_w, stdin_data[:PIPE_SIZE]) :]
                except (BrokenPipeError, BlockingIOError):
                    stdin_data = stdin_data[:0]
                if not stdin_data:
                    poller.unregister(stdin_w)
                    os.close(stdin_w)
                    stdin_w = None
            elif fd in readers:
                capture = readers[fd]
                if not capture.read():  # end of file: every writer is gone
                    poller.unregister(fd)
                    os.close(fd)
                    del readers[fd]
                elif capture is not err and capture.n > capture.size - 1:
                    over = True  # one byte past the cap: output_limit
        if over:
            break
    if code is None:  # timeout or output limit: kill the case, still collect its status
        os.kill(pid, signal.SIGKILL)
        _, st, rusage = os.wait4(pid, 0)
        code = os.waitstatus_to_exitcode(st)
    wall_ms = (time.monotonic() - t0) * 1000
    kill_all()
    for fd in list(readers) + [pidfd] + ([stdin_w] if stdin_w is not None else []):
        os.close(fd)
    cpu_s = rusage.ru_utime + rusage.ru_stime
    markers = job.get("markers", ())
    said = out if compile_job is not None else err  # where the compiler's or the program's complaints went
    status = classify(code, timed_out, over, err, cpu_s, limits["cpu_s"], oom_before, markers, said)
    if compile_job is not None and status == "ok":
        try:
            collect_artifact(compile_job["artifact"], ret)
        except OverflowError:
            status = "output_limit"
        except OSError as exc:
            status = "error"
            write_note(out, "[sandbox] the compiler left no usable artifact: " + str(exc))
    header = {
        "i": index,
        "status": status,
        "exit_code": code,
        "wall_ms": round(wall_ms, 3),
        "cpu_ms": round(cpu_s * 1000, 3),
        "maxrss_kb": rusage.ru_maxrss,
        "out": min(out.n, out.size - 1),
        "err": err.n,
        "ret": 0 if ret is None else min(ret.n, ret.size - 1),
    }
    return header


def write_note(capture, text):
    data = ("\n" + text + "\n").encode()[: capture.size - 1 - capture.n]
    capture.buf[capture.n : capture.n + len(data)] = data
    capture.n += len(data)
    capture.used = max(capture.used, capture.n)


def read_regular(path, limit):
    """A file the compiler wrote, without following links and only if it is a regular file (OverflowError
    beyond `limit` bytes)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not (st.st_mode & 0o170000) == 0o100000:
            raise OSError("not a regular file: " + path)
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > limit:
                raise OverflowError
            chunks.append(chunk)
    finally:
        os.close(fd)


def collect_artifact(spec, ret):
    """The compiled binary, or a jar of the class files, into `ret` (OverflowError beyond its size)."""
    limit = ret.size - 1
    if "file" in spec:
        data = read_regular(spec["file"], limit)
    else:
        import zipfile  # only in compile sandboxes (see WARM_MODULES)

        root, sink = spec["jar"], io.BytesIO()
        if not os.path.isfile(os.path.join(root, spec["main"])):
            raise OSError("no " + spec["main"] + " for the main class (found from the source)")
        with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as jar:
            for folder, dirs, files in os.walk(root):
                dirs.sort()
                for name in sorted(files):
                    if name.endswith(".class"):
                        path = os.path.join(folder, name)
                        info = zipfile.ZipInfo(os.path.relpath(path, root), (1980, 1, 1, 0, 0, 0))
                        jar.writestr(info, read_regular(path, limit))
        data = sink.getvalue()
    if len(data) > ret.size - 1:
        raise OverflowError
    ret.buf[: len(data)] = data
    ret.n = ret.used = len(data)


def load_artifact(size):
    """The artifact that follows the job, read from the job channel straight into a sealed memfd."""
    fd = os.memfd_create("artifact", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, size)
    if size:
        with mmap.mmap(fd, size) as pages:
            view, n = memoryview(pages), 0
            while n < size:
                got = os.readv(CTL, [view[n:]])
                if not got:
                    view.release()
                    _exit(0)  # the host is gone
                n += got
            view.release()
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)  # nothing can write, grow, shrink or unseal it any more
    return fd


def run_job(job, pristine, artifact_fd=None):
    lim = job["limits"]
    limits = {
        "timeout_s": lim["timeout_s"],
        "cpu_s": max(1, math.ceil(lim["timeout_s"])),
        "memory_bytes": lim["memory_mb"] << 20,
        "nproc": lim["max_processes"] + 1,  # + PID 1 itself
        "file_bytes": lim["file_bytes"],
    }
    if "stack_bytes" in lim:  # compiled programs: a fresh process, with its own address space and stack
        limits["stack"] = lim["stack_bytes"]
    if "address_space_bytes" in lim:
        limits["address_space"] = lim["address_space_bytes"]
    cap = lim["max_output_bytes"]
    out = Capture(-1, cap + 1)
    err = Capture(-1, lim["stderr_bytes"], tail=True)  # keeps at least the last half
    ret = Capture(-1, cap + 8 + 1) if job["mode"] == "call" else None
    if job.get("compile") is not None:
        ret = Capture(-1, lim["artifact_bytes"] + 1)
    code = precompile(job)
    try:
        for index, text in enumerate(job["inputs"]):
            header = run_case(job, index, text, limits, out, err, ret, artifact_fd, code)
            note = ""
            try:
                for d in WIPED_DIRS:
                    os.chmod(d, 0o1777)
                    wipe(d)
            except (OSError, RecursionError) as exc:
                note = "could not clean up after the case (" + repr(exc) + ")"
            if not note and supervisor_state() != pristine:
                note = "the case changed the sandbox supervisor's limits or priority"
            if note:  # fail closed: this sandbox is done; the host starts a fresh one for the rest
                header.update(status="error", retire=True, note="[sandbox] " + note + "; sandbox retired")
            views = [out.view(cap), err.view()] + ([ret.view(ret.size - 1)] if ret is not None else [])
            send(header, *views)
            for view in views:
                view.release()  # so the buffers can be closed
            for capture in (out, err, ret):
                if capture is not None:
                    capture.scrub()
            if note:
                _exit(0)
    finally:
        for capture in (out, err, ret):
            if capture is not None:
                capture.buf.close()


def main():
    os.chdir(CASE_DIR)
    status = status_line("/proc/self/status")
    send(
        {
            "ready": True,
            "pid": os.getpid(),
            "uid": os.getuid(),
            "gid": os.getgid(),
            "euid": os.geteuid(),
            "groups": os.getgroups(),
            "python": sys.version.split()[0],
            "caps": {k: status[k] for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")},
            "no_new_privs": status.get("NoNewPrivs"),
            "seccomp": status.get("Seccomp"),
            "interfaces": sorted(name for _, name in socket.if_nameindex()),
            "environ": sorted(os.environ),
            "oom_control": oom_kills() is not None,
            "warm_modules": sum(name in sys.modules for name in WARM_MODULES),
        }
    )
    pristine = supervisor_state()
    gc.freeze()  # children then never touch the warm objects' GC headers: fewer copy-on-write pages
    while True:
        head = read_exact(CTL, 4)
        if head is None:  # the host closed the channel: we are done
            return
        job = json.loads(read_exact(CTL, struct.unpack(">I", head)[0]))
        artifact_fd = load_artifact(job["artifact_bytes"]) if "artifact_bytes" in job else None
        try:
            run_job(job, pristine, artifact_fd)
        finally:
            if artifact_fd is not None:
                os.close(artifact_fd)


main()
