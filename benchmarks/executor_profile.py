"""Where one case's time goes inside a sandbox: an instrumented copy of the harness, phase by phase.

The harness (semi_instruct/sandbox/harness.py) is copied in memory with timestamps inserted at fixed anchor
lines (this script stops with the anchor's text when one is missing, e.g. after the harness changed), and run
through a real Executor on the real programs of benchmarks/executor.py, one worker. The forked case writes its
own timestamps into a shared page; PID 1 sends them, with its own, in an extra frame after each case.
Reported per phase: the median over all cases (phases follow each other, so they add up to the case). Also
per case: the CPU time and page faults of PID 1 and of the case's process (from getrusage and wait4), the
costs that decide throughput when every core is busy. The timestamps add a few microseconds per phase.

    python benchmarks/executor_profile.py [--limit N] [--empty]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout
import semi_instruct.sandbox.executor as executor_module
from semi_instruct.sandbox import Limits, Program

sys.path.insert(0, str(Path(__file__).resolve().parent))
from executor import EMPTY_PROGRAM, LIMITS, PROGRAMS, load

# (anchor line, where, code): `mark(name)` in PID 1, `child_mark(slot)` in the case's process
MARKS = [
    ("def run_case(job, index, text, limits, out, err, ret, artifact_fd=None, code=None):", "after", "mark('start')"),
    ('    call = job["mode"] == "call"\n    stdin_data', "before", "mark('program file written')"),
    ("    pid = os.fork()", "before", "mark('pipes made, stdin written')"),
    ("    status = 70", "after", "child_mark(0)"),
    ("        PRCTL(PR_SET_DUMPABLE, 1, 0, 0, 0)", "before", "child_mark(1)"),
    ("        exec(code, module.__dict__)", "after", "child_mark(2)"),
    ("    _exit(status & 0xFF)", "before", "child_mark(3)"),
    ("                _, st, rusage = os.wait4(pid, 0)", "before", "mark('case exited, PID 1 woke')"),
    (
        "                code = os.waitstatus_to_exitcode(st)\n                kill_all()",
        "after",
        "mark('reaped, leftovers killed')",
    ),
    ("    header = {", "before", "mark('verdict classified')"),
    ("            if not note and supervisor_state() != pristine:", "before", "mark('/tmp and /dev/shm wiped')"),
    ("            views = [out.view(cap)", "before", "mark('supervisor state checked')"),
    ("            send(header, *views)", "after", "mark('frame sent')"),
    ("            if note:\n                _exit(0)", "before", "mark('buffers scrubbed'); send_timings()"),
    ("    cpu_s = rusage.ru_utime + rusage.ru_stime", "after", "TIMES['child'] = (cpu_s, rusage.ru_minflt)"),
]
CHILD_PHASES = ["forked, case process starts", "setsid, fds, rlimits", "program ran", "interpreter shut down"]
PROBES = """
CHILD_PAGE = mmap.mmap(-1, 4096)
TIMES = {}


def mark(name):
    TIMES.setdefault("marks", []).append((name, time.perf_counter_ns()))
    if name == "start":
        TIMES["self_start"] = resource.getrusage(resource.RUSAGE_SELF)


def child_mark(slot):
    struct.pack_into("q", CHILD_PAGE, 8 * slot, time.perf_counter_ns())


def send_timings():
    end = resource.getrusage(resource.RUSAGE_SELF)
    start = TIMES.pop("self_start")
    marks = TIMES.pop("marks")
    fork_at = next(t for name, t in marks if name == "pipes made, stdin written")
    child = [struct.unpack_from("q", CHILD_PAGE, 8 * slot)[0] for slot in range(4)]
    send({"profile": {
        "marks": marks, "child": child if child[0] > fork_at else None, "child_usage": TIMES.pop("child"),
        "self_cpu": end.ru_utime + end.ru_stime - start.ru_utime - start.ru_stime,
        "self_faults": end.ru_minflt - start.ru_minflt}, "out": 0, "err": 0, "ret": 0})
    CHILD_PAGE[:32] = bytes(32)
"""


def instrumented(harness: str) -> str:
    text = harness
    for anchor, where, code in MARKS:
        hits = text.count("\n" + anchor)  # anchors start a line
        if hits != 1:
            sys.exit(f"anchor found {hits} times in harness.py (expected once): {anchor!r}")
        at = text.index("\n" + anchor) + 1
        indent = anchor[: len(anchor) - len(anchor.lstrip())]
        if where == "after" and anchor.endswith(":"):
            indent += "    "
        line = at if where == "before" else text.index("\n", at + len(anchor)) + 1  # after the anchor's last line
        text = text[:line] + indent + code + "\n" + text[line:]
    return text.replace("\n# --- in the forked child", PROBES + "\n# --- in the forked child", 1)


def profile(programs: list[tuple[str, list[str]]]) -> list[dict[str, Any]]:
    profiles: list[dict[str, Any]] = []
    frame = executor_module.Sandbox.frame

    def frame_and_profile(self: Any, deadline: float, limits: Limits, ret_cap: int | None = None) -> Any:
        header, blobs = frame(self, deadline, limits, ret_cap)
        if not header.get("ready"):
            profiles.append(frame(self, deadline, limits, ret_cap)[0]["profile"])
        return header, blobs

    executor_module.HARNESS = instrumented(executor_module.HARNESS)
    executor_module.Sandbox.frame = frame_and_profile  # type: ignore[method-assign]
    with executor_module.Executor() as executor:
        for code, inputs in programs:
            executor.run(Program("stdio", code), inputs, LIMITS)
    return profiles


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="only the first N programs")
    ap.add_argument("--empty", action="store_true", help="an empty program (`pass`) instead, 300 cases")
    args = ap.parse_args()
    programs = [EMPTY_PROGRAM] * 30 if args.empty else load(PROGRAMS, args.limit)
    profiles = [p for p in profile(programs) if p["child"] is not None]
    phases: dict[str, list[float]] = {}
    for p in profiles:
        marks = dict(p["marks"])
        child = dict(zip(CHILD_PHASES, p["child"], strict=True))
        order = sorted({**marks, **child}.items(), key=lambda kv: kv[1])
        for (_, before), (name, at) in zip(order, order[1:], strict=False):
            phases.setdefault(name, []).append((at - before) / 1e6)
        phases.setdefault("whole case", []).append((order[-1][1] - order[0][1]) / 1e6)
    print(f"{len(profiles)} cases ({'an empty program' if args.empty else 'real programs'}), one sandbox; median ms:")
    for name, values in phases.items():
        where = "case process" if name in CHILD_PHASES else "PID 1"
        print(f"  {name:32s} {statistics.median(values):6.3f}  ({where})")
    cpu = [p["self_cpu"] * 1000 for p in profiles]
    print(
        f"per case: PID 1 {statistics.median(cpu):.2f} ms CPU, "
        f"{statistics.median(p['self_faults'] for p in profiles):.0f} page faults; the case's process "
        f"{statistics.median(p['child_usage'][0] * 1000 for p in profiles):.2f} ms CPU, "
        f"{statistics.median(p['child_usage'][1] for p in profiles):.0f} page faults"
    )


if __name__ == "__main__":
    main()
