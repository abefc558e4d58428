"""Micro-benchmark: BwrapRunner vs a naive unsandboxed runner (one `python3 -I` subprocess per input).

20 small stdin programs x 10 inputs, all runners measured side by side (interleaved per program, order
rotated) in one process, so machine noise hits them alike. Prints cases/s and the ratios.

    python benchmarks/sandbox_simple.py [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout
from semi_instruct.sandbox import Limits, Program
from semi_instruct.sandbox.bwrap import BwrapRunner

TEMPLATES = [
    "print(sum(map(int, input().split())) + {k})",
    "s = input()\nprint(s[::-1] * {k})",
    "import sys\nprint(len(sys.stdin.read().split()) + {k})",
    "n = int(input().split()[0]) % 20 + {k}\na, b = 0, 1\nfor _ in range(n):\n    a, b = b, a + b\nprint(a)",
    "xs = sorted(map(int, input().split()), reverse={k} % 2 == 0)\nprint(*xs)",
]
PROGRAMS = [t.format(k=k) for k in range(4) for t in TEMPLATES]  # 20 programs
INPUTS = [" ".join(str((i * 7 + j) % 13) for j in range(1, 6)) + "\n" for i in range(10)]
LIMITS = Limits(timeout_s=5.0)


def naive(python: str) -> Callable[[str, list[str]], list[str]]:
    def run(code: str, inputs: list[str]) -> list[str]:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "prog.py")
            with open(path, "w") as f:
                f.write(code)
            return [subprocess.run([python, "-I", path], input=x, capture_output=True, text=True,
                                   timeout=5, check=False).stdout
                    for x in inputs]
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    bw = BwrapRunner()
    runners: dict[str, Callable[[str, list[str]], list[str]]] = {
        "bwrap (1 launch/program)": lambda c, xs: [r.stdout or "" for r in bw.run(Program("stdio", c), xs, LIMITS)],
        f"naive {sys.executable} -I": naive(sys.executable),
        "naive /usr/bin/python3 -I": naive("/usr/bin/python3"),
    }
    names = list(runners)
    spent = dict.fromkeys(names, 0.0)
    for rep in range(args.reps):
        for p, code in enumerate(PROGRAMS):
            outs = {}
            for name in names[(rep + p) % 3:] + names[: (rep + p) % 3]:  # rotate who goes first
                t0 = time.perf_counter()
                outs[name] = runners[name](code, INPUTS)
                spent[name] += time.perf_counter() - t0
            assert len({tuple(o) for o in outs.values()}) == 1, f"runners disagree on program {p}: {outs}"
    cases = args.reps * len(PROGRAMS) * len(INPUTS)
    rate = {n: cases / spent[n] for n in names}
    print(f"{cases} cases per runner ({len(PROGRAMS)} programs x {len(INPUTS)} inputs x {args.reps} reps)")
    for n in names:
        print(f"  {n:45s} {rate[n]:7.1f} cases/s")
    for n in names[1:]:
        print(f"  ratio bwrap / {n:34s} {rate[names[0]] / rate[n]:5.2f}x")


if __name__ == "__main__":
    main()
