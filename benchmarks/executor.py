"""Benchmark: the hardened executor vs the naive unsandboxed runner (one plain `python3 prog.py` per case).

120 real-looking stdin programs (24 competition-style templates x 5 variants) x 10 inputs each. All
runners use the same number of workers (default: all cores) and are measured side by side in one run:
the programs are taken in chunks, and every chunk is run by each runner in rotated order, so machine
noise hits them alike. The executor's time includes starting its sandboxes. Every runner must produce
the same stdout for every case.

Also measured: the extra cost of one more case inside one job (the same program run with 1 and with 10
inputs in one sandbox, single worker: (t10 - t1) / 9, best of --repeat, median over programs).

    python benchmarks/executor.py [--workers N] [--chunk 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout
from semi_instruct.sandbox import Limits, Program
from semi_instruct.sandbox.executor import Executor

LIMITS = Limits(timeout_s=10.0)
INPUTS_PER_PROGRAM = 10
VARIANTS = 5


def ints(rng: random.Random, n: int, lo: int = -1000, hi: int = 1000) -> str:
    return " ".join(str(rng.randint(lo, hi)) for _ in range(n))


def words(rng: random.Random, n: int) -> str:
    return " ".join("".join(rng.choice("abcde") for _ in range(rng.randint(1, 6))) for _ in range(n))


# (program with a {k} variant parameter, input generator)
TEMPLATES: list[tuple[str, Callable[[random.Random], str]]] = [
    (
        "n = int(input())\na = list(map(int, input().split()))\nprint(sum(a) + {k})\n",
        lambda r: (lambda n: f"{n}\n{ints(r, n)}\n")(r.randint(1, 200)),
    ),
    (
        "n = int(input())\n"
        "a = list(map(int, input().split()))\n"
        "best = cur = a[0]\n"
        "for x in a[1:]:\n"
        "    cur = max(x, cur + x)\n"
        "    best = max(best, cur)\n"
        "print(best * {k} if {k} else best)\n",
        lambda r: (lambda n: f"{n}\n{ints(r, n)}\n")(r.randint(1, 300)),
    ),
    (
        "import sys\n"
        "data = sys.stdin.read().split()\n"
        "n = int(data[0])\n"
        "print(*sorted(map(int, data[1:n + 1]), reverse={k} % 2 == 1))\n",
        lambda r: (lambda n: f"{n}\n{ints(r, n)}\n")(r.randint(1, 300)),
    ),
    (
        "from collections import Counter\n"
        "c = Counter(input().split())\n"
        "for w, n in sorted(c.items(), key=lambda t: (-t[1], t[0]))[:{k} + 3]:\n"
        "    print(w, n)\n",
        lambda r: words(r, r.randint(5, 200)) + "\n",
    ),
    (
        "t = int(input())\n"
        "for _ in range(t):\n"
        "    s = input().strip()\n"
        "    print('YES' if s == s[::-1] else 'NO{k}')\n",
        lambda r: (
            lambda t: (
                f"{t}\n"
                + "".join((lambda w: (w + w[::-1] if r.random() < 0.5 else w) + "\n")(words(r, 1)) for _ in range(t))
            )
        )(r.randint(1, 20)),
    ),
    (
        "n = int(input())\na, b = 0, 1\nfor _ in range(n):\n    a, b = b, (a + b) % (10 ** 9 + {k})\nprint(a)\n",
        lambda r: f"{r.randint(1, 5000)}\n",
    ),
    (
        "n = int(input())\n"
        "sieve = bytearray([1]) * (n + 1)\n"
        "sieve[:2] = b'\\x00\\x00'\n"
        "for i in range(2, int(n ** 0.5) + 1):\n"
        "    if sieve[i]:\n"
        "        sieve[i * i::i] = bytearray(len(sieve[i * i::i]))\n"
        "print(sum(sieve) + {k})\n",
        lambda r: f"{r.randint(10, 100000)}\n",
    ),
    (
        "from math import gcd\n"
        "from functools import reduce\n"
        "a = list(map(int, input().split()))\n"
        "g = reduce(gcd, a)\n"
        "l = reduce(lambda x, y: x * y // gcd(x, y), a)\n"
        "print(g, l % (10 ** 9 + 7) + {k})\n",
        lambda r: ints(r, r.randint(2, 12), 1, 60) + "\n",
    ),
    (
        "from collections import deque\n"
        "h, w = map(int, input().split())\n"
        "g = [input() for _ in range(h)]\n"
        "dist = {{(0, 0): 0}}\n"
        "q = deque([(0, 0)])\n"
        "while q:\n"
        "    y, x = q.popleft()\n"
        "    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):\n"
        "        ny, nx = y + dy, x + dx\n"
        "        if 0 <= ny < h and 0 <= nx < w and g[ny][nx] == '.' and (ny, nx) not in dist:\n"
        "            dist[ny, nx] = dist[y, x] + 1\n"
        "            q.append((ny, nx))\n"
        "print(dist.get((h - 1, w - 1), -{k} - 1))\n",
        lambda r: (
            lambda h, w: (
                f"{h} {w}\n"
                + "".join(
                    "".join("." if (i, j) in ((0, 0), (h - 1, w - 1)) or r.random() < 0.75 else "#" for j in range(w))
                    + "\n"
                    for i in range(h)
                )
            )
        )(r.randint(2, 30), r.randint(2, 30)),
    ),
    (
        "a = input().strip()\n"
        "b = input().strip()\n"
        "dp = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]\n"
        "for i in range(len(a)):\n"
        "    for j in range(len(b)):\n"
        "        dp[i + 1][j + 1] = dp[i][j] + 1 if a[i] == b[j] else max(dp[i][j + 1], dp[i + 1][j])\n"
        "print(dp[-1][-1] + {k})\n",
        lambda r: words(r, 12).replace(" ", "") + "\n" + words(r, 12).replace(" ", "") + "\n",
    ),
    (
        "n, cap = map(int, input().split())\n"
        "best = [0] * (cap + 1)\n"
        "for _ in range(n):\n"
        "    w, v = map(int, input().split())\n"
        "    for c in range(cap, w - 1, -1):\n"
        "        best[c] = max(best[c], best[c - w] + v)\n"
        "print(best[cap] + {k})\n",
        lambda r: (
            lambda n: (
                f"{n} {r.randint(10, 200)}\n" + "".join(f"{r.randint(1, 50)} {r.randint(1, 100)}\n" for _ in range(n))
            )
        )(r.randint(1, 30)),
    ),
    (
        "import bisect\n"
        "a = sorted(map(int, input().split()))\n"
        "q = int(input())\n"
        "for _ in range(q):\n"
        "    x = int(input())\n"
        "    print(bisect.bisect_left(a, x) + {k}, bisect.bisect_right(a, x))\n",
        lambda r: ints(r, r.randint(1, 100)) + "\n5\n" + "".join(f"{r.randint(-1000, 1000)}\n" for _ in range(5)),
    ),
    (
        "import heapq\n"
        "n, m = map(int, input().split())\n"
        "a = list(map(int, input().split()))\n"
        "print(*heapq.nsmallest(min(m, {k} + 2), a))\n",
        lambda r: (lambda n: f"{n} {r.randint(1, n)}\n{ints(r, n)}\n")(r.randint(1, 100)),
    ),
    (
        "s = input()\n"
        "from collections import Counter\n"
        "for ch, n in Counter(s).most_common({k} + 2):\n"
        "    print(ch, n)\n",
        lambda r: words(r, r.randint(3, 50)).replace(" ", "") + "\n",
    ),
    (
        "print(' '.join(w[::-1] if i % 2 == {k} % 2 else w for i, w in enumerate(input().split())))\n",
        lambda r: words(r, r.randint(1, 40)) + "\n",
    ),
    (
        "n = int(input())\n"
        "A = [list(map(int, input().split())) for _ in range(n)]\n"
        "C = [[sum(A[i][t] * A[t][j] for t in range(n)) % {m} for j in range(n)] for i in range(n)]\n"
        "for row in C:\n"
        "    print(*row)\n",
        lambda r: (lambda n: f"{n}\n" + "".join(ints(r, n, -9, 9) + "\n" for _ in range(n)))(r.randint(1, 12)),
    ),
    (
        "n, target = map(int, input().split())\n"
        "a = list(map(int, input().split()))\n"
        "seen = {{}}\n"
        "for i, x in enumerate(a):\n"
        "    if target - x in seen:\n"
        "        print(seen[target - x] + {k}, i + {k})\n"
        "        break\n"
        "    seen[x] = i\n"
        "else:\n"
        "    print(-1)\n",
        lambda r: (lambda n: f"{n} {r.randint(-50, 50)}\n{ints(r, n, -30, 30)}\n")(r.randint(2, 100)),
    ),
    (
        "pairs = {{')': '(', ']': '[', '}}': '{{'}}\n"
        "for _ in range(int(input())):\n"
        "    st = []\n"
        "    ok = True\n"
        "    for ch in input().strip():\n"
        "        if ch in '([{{':\n"
        "            st.append(ch)\n"
        "        elif not st or st.pop() != pairs[ch]:\n"
        "            ok = False\n"
        "            break\n"
        "    print('balanced' if ok and not st else 'unbalanced{k}')\n",
        lambda r: (
            lambda t: (
                f"{t}\n"
                + "".join("".join(r.choice("()[]{}") for _ in range(r.randint(1, 20))) + "\n" for _ in range(t))
            )
        )(r.randint(1, 10)),
    ),
    (
        "import sys\n"
        "input = sys.stdin.readline\n"
        "n, q = map(int, input().split())\n"
        "pre = [0]\n"
        "for x in map(int, input().split()):\n"
        "    pre.append(pre[-1] + x)\n"
        "out = []\n"
        "for _ in range(q):\n"
        "    l, r = map(int, input().split())\n"
        "    out.append(pre[r] - pre[l - 1] + {k})\n"
        "print('\\n'.join(map(str, out)))\n",
        lambda r: (
            lambda n, q: (
                f"{n} {q}\n{ints(r, n)}\n"
                + "".join(
                    (lambda a, b: f"{min(a, b)} {max(a, b)}\n")(r.randint(1, n), r.randint(1, n)) for _ in range(q)
                )
            )
        )(r.randint(1, 200), r.randint(1, 50)),
    ),
    (
        "import heapq\n"
        "n, m = map(int, input().split())\n"
        "adj = [[] for _ in range(n + 1)]\n"
        "for _ in range(m):\n"
        "    u, v, w = map(int, input().split())\n"
        "    adj[u].append((v, w))\n"
        "    adj[v].append((u, w))\n"
        "dist = [float('inf')] * (n + 1)\n"
        "dist[1] = 0\n"
        "h = [(0, 1)]\n"
        "while h:\n"
        "    d, u = heapq.heappop(h)\n"
        "    if d > dist[u]:\n"
        "        continue\n"
        "    for v, w in adj[u]:\n"
        "        if d + w < dist[v]:\n"
        "            dist[v] = d + w\n"
        "            heapq.heappush(h, (d + w, v))\n"
        "print(*(x if x != float('inf') else -{k} - 1 for x in dist[1:]))\n",
        lambda r: (
            lambda n, m: (
                f"{n} {m}\n" + "".join(f"{r.randint(1, n)} {r.randint(1, n)} {r.randint(1, 20)}\n" for _ in range(m))
            )
        )(r.randint(2, 40), r.randint(1, 80)),
    ),
    (
        "n, m = map(int, input().split())\n"
        "parent = list(range(n + 1))\n"
        "def find(x):\n"
        "    while parent[x] != x:\n"
        "        parent[x] = parent[parent[x]]\n"
        "        x = parent[x]\n"
        "    return x\n"
        "for _ in range(m):\n"
        "    a, b = map(int, input().split())\n"
        "    parent[find(a)] = find(b)\n"
        "print(len({{find(i) for i in range(1, n + 1)}}) + {k})\n",
        lambda r: (lambda n, m: f"{n} {m}\n" + "".join(f"{r.randint(1, n)} {r.randint(1, n)}\n" for _ in range(m)))(
            r.randint(1, 100), r.randint(0, 60)
        ),
    ),
    (
        "from itertools import permutations\n"
        "n = int(input())\n"
        "print(sum(1 for p in permutations(range(n)) if all(abs(p[i] - p[i + 1]) != {k} + 1 for i in range(n - 1))))\n",
        lambda r: f"{r.randint(1, 7)}\n",
    ),
    (
        "from fractions import Fraction\n"
        "from decimal import Decimal, getcontext\n"
        "getcontext().prec = 30 + {k}\n"
        "a, b = map(int, input().split())\n"
        "print(Fraction(a, b), Decimal(a) / Decimal(b))\n",
        lambda r: f"{r.randint(-100, 100)} {r.choice([1, -1]) * r.randint(1, 100)}\n",
    ),
    (
        "import re\n"
        "from datetime import date\n"
        "text = input()\n"
        "nums = list(map(int, re.findall(r'-?\\d+', text)))\n"
        "y, m, d = 2000 + abs(sum(nums)) % 50, 1 + len(nums) % 12, 1 + {k}\n"
        "print(sum(nums), (date(y, m, d) - date(2000, 1, 1)).days)\n",
        lambda r: " ".join(r.choice([words(r, 1), str(r.randint(-99, 99))]) for _ in range(r.randint(1, 30))) + "\n",
    ),
]
MODULI = [7, 10, 97, 1000, 10**9 + 7]


def programs() -> list[tuple[str, list[str]]]:
    out = []
    for t, (template, gen) in enumerate(TEMPLATES):
        for k in range(VARIANTS):
            rng = random.Random(t * 100 + k)
            code = template.format(k=k, m=MODULI[k])
            out.append((code, [gen(rng) for _ in range(INPUTS_PER_PROGRAM)]))
    return out


def naive(python: str, scratch: str) -> Callable[[str, list[str]], list[str]]:
    """What people run today: the program in a file, one `python3 prog.py` per case, no sandbox."""

    def run(code: str, inputs: list[str]) -> list[str]:
        fd, path = tempfile.mkstemp(suffix=".py", dir=scratch)
        with os.fdopen(fd, "w") as f:
            f.write(code)
        try:
            return [
                subprocess.run([python, path], input=x, capture_output=True, text=True, timeout=10, check=False).stdout
                for x in inputs
            ]
        finally:
            os.unlink(path)

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--chunk", type=int, default=10, help="programs per interleaved round")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions for the per-case cost (best counts)")
    args = ap.parse_args()
    progs = programs()
    venv_python = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".venv", "bin", "python")
    scratch = tempfile.mkdtemp(prefix="bench-naive-")
    t0 = time.perf_counter()
    executor = Executor()
    start_s = time.perf_counter() - t0
    runners: dict[str, Callable[[str, list[str]], list[str]]] = {
        "executor (sandboxed)": lambda c, xs: [r.stdout or "" for r in executor.run(Program("stdio", c), xs, LIMITS)],
        "naive /usr/bin/python3": naive("/usr/bin/python3", scratch),
        f"naive venv python ({os.path.realpath(venv_python)})": naive(venv_python, scratch),
    }
    names = list(runners)
    spent = dict.fromkeys(names, 0.0)
    spent[names[0]] += start_s
    with ThreadPoolExecutor(args.workers) as pool:
        for round_no, lo in enumerate(range(0, len(progs), args.chunk)):
            chunk = progs[lo : lo + args.chunk]
            outs: dict[str, list[list[str]]] = {}
            shift = round_no % len(names)
            for name in names[shift:] + names[:shift]:  # rotate who goes first
                t = time.perf_counter()
                outs[name] = list(pool.map(lambda p, n=name: runners[n](*p), chunk))
                spent[name] += time.perf_counter() - t
            for name in names[1:]:
                assert outs[name] == outs[names[0]], (
                    f"{name} disagrees with the executor in programs {lo}..{lo + len(chunk) - 1}"
                )
            assert all(all(o for o in out) for out in outs[names[0]]), "a program printed nothing: broken benchmark"
    cases = len(progs) * INPUTS_PER_PROGRAM

    # Extra cost of one more case inside one job: one sandbox, one worker; the best of a few alternating
    # repetitions, so that other load on a shared machine doesn't count as our cost.
    def job_s(code: str, inputs: list[str]) -> float:
        t = time.perf_counter()
        executor.run(Program("stdio", code), inputs, LIMITS)
        return time.perf_counter() - t

    def extra_case_ms(code: str, inputs: list[str], repeat: int) -> float:
        one = ten = float("inf")
        for _ in range(repeat):
            one, ten = min(one, job_s(code, inputs[:1])), min(ten, job_s(code, inputs))
        return (ten - one) / (len(inputs) - 1) * 1000

    extra_ms = [extra_case_ms(code, inputs, args.repeat) for code, inputs in progs]
    empty_program_ms = extra_case_ms("pass\n", [""] * INPUTS_PER_PROGRAM, 10 * args.repeat)  # one program: more tries
    executor.close()
    os.rmdir(scratch)

    rate = {n: cases / spent[n] for n in names}
    print(
        f"{len(progs)} stdin programs x {INPUTS_PER_PROGRAM} inputs = {cases} cases per runner, "
        f"{args.workers} workers, all outputs identical"
    )
    for n in names:
        print(
            f"  {n:75s} {rate[n]:7.1f} cases/s  ({spent[n] / cases * 1000 * args.workers:5.1f} ms per case per worker)"
        )
    print(f"  (executor time includes starting its sandboxes: {start_s * 1000:.0f} ms for the first)")
    for n in names[1:]:
        print(f"  throughput ratio executor / {n:55s} {rate[names[0]] / rate[n]:5.2f}x")
    print(
        f"  extra cost per additional case inside one job: median {statistics.median(extra_ms):.1f} ms "
        f"(p90 {statistics.quantiles(extra_ms, n=10)[-1]:.1f} ms, over {len(extra_ms)} programs, best of "
        f"{args.repeat}; the program's own run time included); for an empty program: {empty_program_ms:.1f} ms"
    )


if __name__ == "__main__":
    main()
