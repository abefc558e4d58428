"""Small Parquet files in the exact layouts of three problem-level corpora, for ingest tests (no network).

`write_code_contests`, `write_apps` and `write_taco` write a list of problem dicts in the Arrow schema that the
Hugging Face Hub serves for deepmind/code_contests, codeparrot/apps and BAAI/TACO (docs/corpora.md says where
each column and type comes from). A problem dict is corpus-neutral:

    name, statement                  str
    solutions, incorrect_solutions   [(language, code)], language one of LANGUAGES ("python3", "python2", "cpp",
                                     "java", "unknown"); APPS and TACO hold Python only and have no incorrect
                                     solutions column (the writers keep them out of the file; tests still use them)
    tests                            stdin problems: [(stdin, stdout)]; call-style problems: [(args, result)],
                                     args the positional arguments as a list
    fn_name, starter_code            call-style problems (APPS/TACO); starter_code is e.g. a LeetCode
                                     "class Solution:" stub

and optionally `public_tests` / `private_tests` / `generated_tests` (code_contests; otherwise the first test is
public and the rest private), `wrap_outputs` (call-style expected results wrapped in an extra list, the APPS
convention; default True for APPS, False for TACO), `inputs_as_lines` (TACO: stdin inputs and outputs stored as
lists of lines), metadata (difficulty, url, source, tags, ...), and `raw`: column values written verbatim, to
reproduce the corpora's quirks (an `input_output` that is not JSON, a `solutions` that is "", ...).

The ready-made sets (CODE_CONTESTS_PROBLEMS, APPS_PROBLEMS, TACO_PROBLEMS) hold real, runnable solutions;
tests/test_corpora_fixtures.py runs every correct one on its tests and checks every incorrect one fails one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# contest_problem.proto, Solution.Language (same numbers on the Hub)
LANGUAGES = {"unknown": 0, "python2": 1, "cpp": 2, "python3": 3, "java": 4}
LANGUAGE_NAMES = {code: name for name, code in LANGUAGES.items()}
# The Hub's numbering (dataset card / ClassLabel names), which differs from the proto after CODEJAM: see docs.
CODE_CONTESTS_SOURCES = {
    "unknown": 0,
    "codechef": 1,
    "codeforces": 2,
    "hackerearth": 3,
    "codejam": 4,
    "atcoder": 5,
    "aizu": 6,
}

_TESTS = pa.struct([pa.field("input", pa.list_(pa.string())), pa.field("output", pa.list_(pa.string()))])
_SOLUTIONS = pa.struct([pa.field("language", pa.list_(pa.int64())), pa.field("solution", pa.list_(pa.string()))])

CODE_CONTESTS_SCHEMA = pa.schema(
    [
        pa.field("name", pa.string()),
        pa.field("description", pa.string()),
        pa.field("public_tests", _TESTS),
        pa.field("private_tests", _TESTS),
        pa.field("generated_tests", _TESTS),
        pa.field("source", pa.int64()),
        pa.field("difficulty", pa.int64()),
        pa.field("solutions", _SOLUTIONS),
        pa.field("incorrect_solutions", _SOLUTIONS),
        pa.field("cf_contest_id", pa.int64()),
        pa.field("cf_index", pa.string()),
        pa.field("cf_points", pa.float64()),
        pa.field("cf_rating", pa.int64()),
        pa.field("cf_tags", pa.list_(pa.string())),
        pa.field("is_description_translated", pa.bool_()),
        pa.field("untranslated_description", pa.string()),
        pa.field("time_limit", pa.struct([pa.field("nanos", pa.int64()), pa.field("seconds", pa.int64())])),
        pa.field("memory_limit_bytes", pa.int64()),
        pa.field("input_file", pa.string()),
        pa.field("output_file", pa.string()),
    ]
)

APPS_SCHEMA = pa.schema(
    [
        pa.field("problem_id", pa.int64()),
        pa.field("question", pa.string()),
        pa.field("solutions", pa.string()),
        pa.field("input_output", pa.string()),
        pa.field("difficulty", pa.string()),
        pa.field("url", pa.string()),
        pa.field("starter_code", pa.string()),
    ]
)

TACO_COLUMNS = (
    "question",
    "solutions",
    "starter_code",
    "input_output",
    "difficulty",
    "raw_tags",
    "name",
    "source",
    "tags",
    "skill_types",
    "url",
    "Expected Auxiliary Space",
    "time_limit",
    "date",
    "picture_num",
    "memory_limit",
    "Expected Time Complexity",
)
TACO_SCHEMA = pa.schema([pa.field(column, pa.string()) for column in TACO_COLUMNS])

SCHEMAS = {"code_contests": CODE_CONTESTS_SCHEMA, "apps": APPS_SCHEMA, "taco": TACO_SCHEMA}


# --------------------------------------------------------------------------------------------- writers


def _tests_struct(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    pairs = list(pairs)
    return {"input": [i for i, _ in pairs], "output": [o for _, o in pairs]}


def _solutions_struct(solutions: Iterable[tuple[str, str]]) -> dict[str, list[Any]]:
    solutions = list(solutions)
    return {"language": [LANGUAGES[lang] for lang, _ in solutions], "solution": [code for _, code in solutions]}


def _write(path: str | Path, rows: list[dict[str, Any]], schema: pa.Schema) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema)
    # The Hub's code_contests files date from 2022 (pyarrow < 13): list children are named "item", not "element".
    pq.write_table(table, path, use_compliant_nested_type=False)
    return path


def code_contests_row(problem: Mapping[str, Any]) -> dict[str, Any]:
    """One row of deepmind/code_contests for a problem dict."""
    tests = list(problem.get("tests", []))
    public = problem.get("public_tests", tests[:1])
    private = problem.get("private_tests", tests[1:])
    seconds = problem.get("time_limit_seconds", 2)
    row = {
        "name": problem["name"],
        "description": problem["statement"],
        "public_tests": _tests_struct(public),
        "private_tests": _tests_struct(private),
        "generated_tests": _tests_struct(problem.get("generated_tests", [])),
        "source": CODE_CONTESTS_SOURCES[problem.get("source", "codeforces")],
        "difficulty": problem.get("difficulty", 7),  # 7 = A (Codeforces problem index A)
        "solutions": _solutions_struct(problem.get("solutions", [])),
        "incorrect_solutions": _solutions_struct(problem.get("incorrect_solutions", [])),
        "cf_contest_id": problem.get("cf_contest_id", 0),
        "cf_index": problem.get("cf_index", ""),
        "cf_points": float(problem.get("cf_points", 0.0)),
        "cf_rating": problem.get("cf_rating", 0),
        "cf_tags": list(problem.get("tags", [])),
        "is_description_translated": False,
        "untranslated_description": "",
        # null when the problem has no limit ("This field is None if not defined", dataset card)
        "time_limit": None if seconds is None else {"nanos": int(seconds % 1 * 1e9), "seconds": int(seconds)},
        "memory_limit_bytes": problem.get("memory_limit_bytes", 256000000),
        "input_file": "",
        "output_file": "",
    }
    row.update(problem.get("raw", {}))
    return row


def _python_solutions(problem: Mapping[str, Any], corpus: str) -> list[str]:
    codes = []
    for language, code in problem.get("solutions", []):
        if language != "python3":
            raise ValueError(f"{corpus} holds Python 3 solutions only, not {language} ({problem['name']})")
        codes.append(code)
    return codes


def input_output_json(problem: Mapping[str, Any], *, wrap_outputs: bool, inputs_as_lines: bool = False) -> str:
    """The JSON string of APPS/TACO `input_output`: {"inputs", "outputs"[, "fn_name"]}, "" without tests."""
    tests = list(problem.get("tests", []))
    if not tests:
        return ""
    inputs = [i for i, _ in tests]
    outputs = [o for _, o in tests]
    document: dict[str, Any]
    if problem.get("fn_name"):
        if wrap_outputs:
            outputs = [[o] for o in outputs]
        document = {"fn_name": problem["fn_name"], "inputs": inputs, "outputs": outputs}
    else:
        if inputs_as_lines:
            inputs = [i.rstrip("\n").split("\n") for i in inputs]
            outputs = [o.rstrip("\n").split("\n") for o in outputs]
        document = {"inputs": inputs, "outputs": outputs}
    return json.dumps(document)


def apps_row(problem: Mapping[str, Any], index: int) -> dict[str, Any]:
    """One row of codeparrot/apps; `solutions` is "" (not "[]") when there are none, as in the corpus."""
    codes = _python_solutions(problem, "APPS")
    row = {
        "problem_id": problem.get("problem_id", index),
        "question": problem["statement"],
        "solutions": json.dumps(codes) if codes else "",
        "input_output": input_output_json(problem, wrap_outputs=problem.get("wrap_outputs", True)),
        "difficulty": problem.get("difficulty", "interview"),
        "url": problem.get("url", f"https://codeforces.com/problemset/problem/{1000 + index}/A"),
        "starter_code": problem.get("starter_code", ""),
    }
    row.update(problem.get("raw", {}))
    return row


def taco_row(problem: Mapping[str, Any]) -> dict[str, Any]:
    """One row of BAAI/TACO: every column a string; tags are Python list literals (the card reads them with eval)."""
    codes = _python_solutions(problem, "TACO")
    tags = list(problem.get("tags", []))
    row = {
        "question": problem["statement"],
        "solutions": json.dumps(codes),
        "starter_code": problem.get("starter_code", ""),
        "input_output": input_output_json(
            problem,
            wrap_outputs=problem.get("wrap_outputs", False),
            inputs_as_lines=problem.get("inputs_as_lines", False),
        ),
        "difficulty": problem.get("difficulty", "EASY"),
        "raw_tags": repr(list(problem.get("raw_tags", tags))),
        "name": problem.get("name"),
        "source": problem.get("source", "codeforces"),
        "tags": repr(tags),
        "skill_types": repr(list(problem.get("skill_types", []))),
        "url": problem.get("url", "https://codeforces.com/problemset/problem/1000/A"),
        "Expected Auxiliary Space": problem.get("expected_auxiliary_space"),
        "time_limit": problem.get("time_limit", "1 second"),
        "date": problem.get("date"),
        "picture_num": problem.get("picture_num", "0"),
        "memory_limit": problem.get("memory_limit", "256 megabytes"),
        "Expected Time Complexity": problem.get("expected_time_complexity"),
    }
    row.update(problem.get("raw", {}))
    return row


def write_code_contests(path: str | Path, problems: Sequence[Mapping[str, Any]]) -> Path:
    """A deepmind/code_contests Parquet file (one row per problem) in CODE_CONTESTS_SCHEMA."""
    return _write(path, [code_contests_row(p) for p in problems], CODE_CONTESTS_SCHEMA)


def write_apps(path: str | Path, problems: Sequence[Mapping[str, Any]]) -> Path:
    """A codeparrot/apps Parquet file in APPS_SCHEMA; problem_id defaults to the row index."""
    return _write(path, [apps_row(p, i) for i, p in enumerate(problems)], APPS_SCHEMA)


def write_taco(path: str | Path, problems: Sequence[Mapping[str, Any]]) -> Path:
    """A BAAI/TACO Parquet file in TACO_SCHEMA."""
    return _write(path, [taco_row(p) for p in problems], TACO_SCHEMA)


# ------------------------------------------------------------------------------------ ready-made problems

_EVEN_SPLIT_STATEMENT = """\
A melon weighs w kilos. Two friends want to cut it into two parts, each of which weighs an even \
positive number of kilos (the parts need not be equal).

Input

The only line contains an integer w (1 ≤ w ≤ 100).

Output

Print YES if the melon can be divided this way, and NO otherwise.

Examples

Input

8


Output

YES
"""

_EVEN_SPLIT_PY3 = """\
w = int(input())
print("YES" if w % 2 == 0 and w > 2 else "NO")
"""

_EVEN_SPLIT_PY2 = """\
w = int(raw_input())
if w % 2 == 0 and w > 2:
    print "YES"
else:
    print "NO"
"""

_EVEN_SPLIT_CPP = """\
#include <bits/stdc++.h>
using namespace std;

int main() {
  int w;
  cin >> w;
  cout << ((w % 2 == 0 && w > 2) ? "YES" : "NO") << endl;
  return 0;
}
"""

_EVEN_SPLIT_JAVA = """\
import java.util.Scanner;

public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        int w = in.nextInt();
        System.out.println(w % 2 == 0 && w > 2 ? "YES" : "NO");
    }
}
"""

# Wrong on w = 2: 2 is even but cannot be split into two even positive parts.
_EVEN_SPLIT_WRONG = """\
w = int(input())
if w % 2 == 0:
    print("YES")
else:
    print("NO")
"""

_MEAN_STATEMENT = """\
You are given n integers a_1, …, a_n. Print their arithmetic mean.

Input

The first line contains n (1 ≤ n ≤ 10^5). The second line contains a_1, a_2, …, a_n (|a_i| ≤ 10^9).

Output

Print the mean. Your answer is accepted if its absolute or relative error does not exceed 10^{-6}.
"""

_MEAN_PY3 = """\
import sys

data = sys.stdin.read().split()
n = int(data[0])
values = list(map(int, data[1 : n + 1]))
print(sum(values) / n)
"""

# Integer division: wrong whenever the mean is not an integer.
_MEAN_WRONG = """\
n = int(input())
a = list(map(int, input().split()))
print(sum(a) // n)
"""

_GREETING_STATEMENT = """\
Write a program that greets a contestant. The input is one line with the contestant's name — it may contain any \
Unicode letters, e.g. «Zoë» or «李雷».

Output

Print «Hello, NAME!» where NAME is the name as given.
"""

_GREETING_PY3 = """\
name = input().strip()
print(f"Hello, {name}!")
"""

_SUMS_STATEMENT = """\
You are given t pairs of integers. For each pair print its sum on a separate line.

Input

The first line contains t (1 ≤ t ≤ 10^4). Each of the next t lines contains a and b (-10^9 ≤ a, b ≤ 10^9).
"""

# Reads only the first pair: wrong as soon as t > 1.
_SUMS_WRONG = """\
t = int(input())
a, b = map(int, input().split())
print(a + b)
"""

CODE_CONTESTS_PROBLEMS: list[dict[str, Any]] = [
    {
        "name": "4_A. Even Split",
        "statement": _EVEN_SPLIT_STATEMENT,
        "solutions": [
            ("python3", _EVEN_SPLIT_PY3),
            ("cpp", _EVEN_SPLIT_CPP),
            ("java", _EVEN_SPLIT_JAVA),
            ("python2", _EVEN_SPLIT_PY2),
        ],
        "incorrect_solutions": [("python3", _EVEN_SPLIT_WRONG)],
        "public_tests": [("8\n", "YES\n")],
        "private_tests": [("2\n", "NO\n"), ("7\n", "NO\n"), ("100\n", "YES\n"), ("1\n", "NO\n")],
        # CodeChef/HackerEarth-derived tests carry Windows line ends; kept here on purpose.
        "generated_tests": [("6\r\n", "YES\r\n"), ("99\r\n", "NO\r\n")],
        "cf_contest_id": 4,
        "cf_index": "A",
        "cf_points": 0.0,
        "cf_rating": 800,
        "tags": ["brute force", "math"],
        "time_limit_seconds": 1,
        "memory_limit_bytes": 64000000,
    },
    {
        "name": "1331_B. Arithmetic Mean",
        "statement": _MEAN_STATEMENT,
        "solutions": [("python3", _MEAN_PY3)],
        "incorrect_solutions": [("python3", _MEAN_WRONG)],
        # Reference outputs carry 10 decimals; the solution prints repr(float): equal within the 1e-5 tolerance.
        "public_tests": [("4\n1 2 3 4\n", "2.5000000000\n")],
        "private_tests": [("3\n1 1 2\n", "1.3333333333\n"), ("1\n-1000000000\n", "-1000000000.0000000000\n")],
        "generated_tests": [("2\n5 5\n", "5.0000000000\n")],
        "cf_contest_id": 1331,
        "cf_index": "B",
        "cf_points": 500.0,
        "cf_rating": 1000,
        "tags": ["implementation", "math"],
        "difficulty": 8,
    },
    {
        "name": "greetu",
        "statement": _GREETING_STATEMENT,
        "source": "codechef",
        "difficulty": 1,  # EASY
        "solutions": [("python3", _GREETING_PY3)],
        "tests": [("Zoë\n", "Hello, Zoë!\n"), ("李雷\n", "Hello, 李雷!\n"), ("Łukasz\n", "Hello, Łukasz!\n")],
        "time_limit_seconds": None,
        "memory_limit_bytes": 0,
    },
    {
        # Quirk: no correct solution at all (empty lists), only an incorrect one.
        "name": "1352_A. Pair Sums",
        "statement": _SUMS_STATEMENT,
        "solutions": [],
        "incorrect_solutions": [("python3", _SUMS_WRONG)],
        "tests": [("1\n1 2\n", "3\n"), ("2\n1 2\n-5 5\n", "3\n0\n"), ("3\n0 0\n7 8\n-1 -1\n", "0\n15\n-2\n")],
        "cf_contest_id": 1352,
        "cf_index": "A",
        "cf_rating": 800,
        "tags": ["implementation"],
    },
]

_MAX_MINUS_MIN_STATEMENT = """\
Petya has $n$ boxes with $a_1, a_2, \\ldots, a_n$ candies. Print the difference between the largest and the \
smallest number of candies in a box.

-----Input-----

The first line contains $n$ ($1 \\le n \\le 100$). The second line contains $n$ integers $a_i$ ($0 \\le a_i \\le 1000$).

-----Output-----

Print one integer.
"""

_MAX_MINUS_MIN_1 = """\
n = int(input())
a = list(map(int, input().split()))
print(max(a) - min(a))
"""

_MAX_MINUS_MIN_2 = """\
import sys
input = sys.stdin.readline

def main():
    n = int(input())
    a = sorted(int(x) for x in input().split())
    print(a[-1] - a[0])

main()
"""

_MAX_MINUS_MIN_TESTS = [("3\n1 5 3\n", "4\n"), ("1\n7\n", "0\n"), ("5\n10 0 10 0 3\n", "10\n")]

_DIGITAL_ROOT_STATEMENT = """\
Digital root is the recursive sum of all the digits in a number. Given n, take the sum of the digits of n. If \
that value has more than one digit, continue reducing in this way until a single-digit number is produced. The \
input will be a non-negative integer.

## Examples

```
    16  -->  1 + 6 = 7
   942  -->  9 + 4 + 2 = 15  -->  1 + 5 = 6
```
"""

_DIGITAL_ROOT_1 = """\
def digital_root(n):
    while n >= 10:
        n = sum(int(d) for d in str(n))
    return n
"""

_DIGITAL_ROOT_2 = """\
def digital_root(n):
    return 0 if n == 0 else 1 + (n - 1) % 9
"""

# Wrong for every positive multiple of 9.
_DIGITAL_ROOT_WRONG = """\
def digital_root(n):
    return n % 9
"""

_MIN_MAX_STATEMENT = """\
Write a function `min_max(lst)` that returns the smallest and the largest element of a non-empty list of integers \
as a pair.
"""

# Returns a tuple: the expected results are JSON lists; harnesses convert tuples to lists before comparing.
_MIN_MAX = """\
def min_max(lst):
    return min(lst), max(lst)
"""

_ECHO_STATEMENT = "Print the only line of the input unchanged.\n"

APPS_PROBLEMS: list[dict[str, Any]] = [
    {
        "name": "max-minus-min",
        "problem_id": 2003,
        "statement": _MAX_MINUS_MIN_STATEMENT,
        "solutions": [("python3", _MAX_MINUS_MIN_1), ("python3", _MAX_MINUS_MIN_2)],
        "tests": _MAX_MINUS_MIN_TESTS,
        "difficulty": "interview",
        "url": "https://codeforces.com/problemset/problem/1029/A",
    },
    {
        "name": "digital-root",
        "problem_id": 2504,
        "statement": _DIGITAL_ROOT_STATEMENT,
        "solutions": [("python3", _DIGITAL_ROOT_1), ("python3", _DIGITAL_ROOT_2)],
        "incorrect_solutions": [("python3", _DIGITAL_ROOT_WRONG)],
        "fn_name": "digital_root",
        "starter_code": "def digital_root(n):\n\t",
        "tests": [([16], 7), ([942], 6), ([132189], 6), ([493193], 2), ([0], 0), ([18], 9)],
        "difficulty": "introductory",
        "url": "https://www.codewars.com/kata/541c8630095125aba6000c00",
    },
    {
        "name": "min-max",
        "problem_id": 2617,
        "statement": _MIN_MAX_STATEMENT,
        "solutions": [("python3", _MIN_MAX)],
        "fn_name": "min_max",
        "starter_code": "def min_max(lst):\n\t",
        "tests": [([[1, 2, 3, 4, 5]], [1, 5]), ([[2334454, 5]], [5, 2334454]), ([[1]], [1, 1])],
        "difficulty": "introductory",
        "url": "https://www.codewars.com/kata/559d2284b5bb6799e9000047",
    },
    {
        # Quirk: a test-split problem without solutions: `solutions` is the empty string.
        "name": "no-solutions",
        "problem_id": 4012,
        "statement": _MAX_MINUS_MIN_STATEMENT,
        "solutions": [],
        "tests": _MAX_MINUS_MIN_TESTS,
        "difficulty": "interview",
    },
    {
        # Quirk: `input_output` that is not valid JSON (cut off).
        "name": "broken-json",
        "problem_id": 4013,
        "statement": _ECHO_STATEMENT,
        "solutions": [("python3", "print(input())\n")],
        "tests": [("abc\n", "abc\n")],
        "raw": {"input_output": '{"inputs": ["abc\\n"], "outputs": ["abc\\n"'},
        "difficulty": "introductory",
    },
    {
        # Quirk: three inputs, two outputs.
        "name": "length-mismatch",
        "problem_id": 4014,
        "statement": _ECHO_STATEMENT,
        "solutions": [("python3", "print(input())\n")],
        "tests": [("abc\n", "abc\n"), ("x y\n", "x y\n")],
        "raw": {"input_output": json.dumps({"inputs": ["abc\n", "x y\n", "zzz\n"], "outputs": ["abc\n", "x y\n"]})},
        "difficulty": "introductory",
    },
    {
        # Quirk: an empty-string solution next to a real one in the `solutions` list.
        "name": "empty-string-solution",
        "problem_id": 4015,
        "statement": _ECHO_STATEMENT,
        "solutions": [("python3", ""), ("python3", "s = input()\nprint(s)\n")],
        "tests": [("hello world\n", "hello world\n"), ("42\n", "42\n")],
        "difficulty": "introductory",
    },
]

_TWO_SUM_STATEMENT = """\
Given an array of integers nums and an integer target, return indices of the two numbers such that they add up \
to target.
You may assume that each input would have exactly one solution, and you may not use the same element twice.
You can return the answer in any order.

Example 1:
Input: nums = [2,7,11,15], target = 9
Output: [0,1]

Constraints:

2 <= nums.length <= 10^4
-10^9 <= nums[i] <= 10^9
"""

_TWO_SUM_STARTER = """\
class Solution:
    def twoSum(self, nums: List[int], target: int) -> List[int]:
        \
"""

# Uses `List` without importing it, like most LeetCode solutions: harnesses prepend `from typing import List`.
_TWO_SUM = """\
class Solution:
    def twoSum(self, nums: List[int], target: int) -> List[int]:
        seen = {}
        for i, x in enumerate(nums):
            if target - x in seen:
                return [seen[target - x], i]
            seen[x] = i
        return []
"""

# Stores the element before looking for its complement, so it may pair an element with itself ([3, 2, 4], 6).
_TWO_SUM_WRONG = """\
class Solution:
    def twoSum(self, nums: List[int], target: int) -> List[int]:
        seen = {}
        for i, x in enumerate(nums):
            seen.setdefault(x, i)
            if target - x in seen:
                return [seen[target - x], i]
        return []
"""

_VOWELS_STATEMENT = """\
Given a string S, count the vowels (a, e, i, o, u, either case) in it.

Example 1:
Input: S = "geeksforgeeks"
Output: 5

Your Task:
You don't need to read input or print anything. Complete the function countVowels() which takes the string S as \
input and returns the count.

Expected Time Complexity: O(|S|).
Expected Auxiliary Space: O(1).
"""

_VOWELS_STARTER = """\
#User function Template for python3

class Solution:
    def countVowels(self, S):
        # code here
"""

_VOWELS = """\
class Solution:
    def countVowels(self, S):
        return sum(1 for c in S.lower() if c in "aeiou")
"""

_PAIR_SUMS_PY3 = """\
import sys

def main():
    data = sys.stdin.read().split()
    t = int(data[0])
    out = []
    for i in range(t):
        a, b = int(data[1 + 2 * i]), int(data[2 + 2 * i])
        out.append(str(a + b))
    print("\\n".join(out))

main()
"""

_PALINDROME_STATEMENT = """\
Дана строка s из строчных латинских букв (1 ≤ |s| ≤ 100). Выведите «YES», если s — палиндром, и «NO» иначе.

Given a string s of lowercase Latin letters, print YES if it is a palindrome and NO otherwise.
"""

_PALINDROME = """\
s = input().strip()
print("YES" if s == s[::-1] else "NO")
"""

# Compares only the first and the last letter.
_PALINDROME_WRONG = """\
s = input().strip()
print("YES" if s[0] == s[-1] else "NO")
"""

TACO_PROBLEMS: list[dict[str, Any]] = [
    {
        "name": "two-sum",
        "statement": _TWO_SUM_STATEMENT,
        "solutions": [("python3", _TWO_SUM)],
        "incorrect_solutions": [("python3", _TWO_SUM_WRONG)],
        "fn_name": "twoSum",
        "starter_code": _TWO_SUM_STARTER,
        "tests": [([[2, 7, 11, 15], 9], [0, 1]), ([[3, 2, 4], 6], [1, 2]), ([[3, 3], 6], [0, 1])],
        "source": "leetcode",
        "url": "https://leetcode.com/problems/two-sum/",
        "difficulty": "EASY",
        "raw_tags": ["Array", "Hash Table"],
        "tags": ["Data structures"],
        "skill_types": ["Data structures"],
        "time_limit": None,
        "memory_limit": None,
    },
    {
        "name": "count-vowels",
        "statement": _VOWELS_STATEMENT,
        "solutions": [("python3", _VOWELS)],
        "fn_name": "countVowels",
        "starter_code": _VOWELS_STARTER,
        "tests": [(["geeksforgeeks"], 5), (["AEIOUxyz"], 5), (["rhythm"], 0)],
        "source": "geeksforgeeks",
        "url": "https://practice.geeksforgeeks.org/problems/count-vowels/1",
        "difficulty": "EASY",
        "raw_tags": ["Strings"],
        "tags": [],
        "expected_auxiliary_space": "O(1).",
        "expected_time_complexity": "O(|S|).",
        "time_limit": None,
        "memory_limit": None,
    },
    {
        # Quirk: stdin inputs and outputs stored as lists of lines (harnesses join them with "\n").
        "name": "pair-sums",
        "statement": _SUMS_STATEMENT,
        "solutions": [("python3", _PAIR_SUMS_PY3)],
        "incorrect_solutions": [("python3", _SUMS_WRONG)],
        "inputs_as_lines": True,
        "tests": [("2\n1 2\n3 4\n", "3\n7\n"), ("1\n-5 5\n", "0\n")],
        "source": "codechef",
        "url": "https://www.codechef.com/problems/PAIRSUM",
        "difficulty": "EASY",
        "date": "2021-03-17",
    },
    {
        "name": "palindrome-check",
        "statement": _PALINDROME_STATEMENT,
        "solutions": [("python3", _PALINDROME)],
        "incorrect_solutions": [("python3", _PALINDROME_WRONG)],
        "tests": [("abba\n", "YES\n"), ("abca\n", "NO\n"), ("z\n", "YES\n"), ("abcba\n", "YES\n")],
        "source": "codeforces",
        "difficulty": "EASY",
        "raw_tags": ["strings", "*800"],
        "tags": ["String algorithms"],
        "skill_types": [],
    },
    {
        # Quirk: an empty solutions list ("[]").
        "name": "pair-sums-unsolved",
        "statement": _SUMS_STATEMENT,
        "solutions": [],
        "tests": [("1\n1 2\n", "3\n")],
        "source": "hackerearth",
        "difficulty": "UNKNOWN_DIFFICULTY",
    },
]

# ------------------------------------------------------------------- crowded problems (whole-workflow test)

# Accepted, and right on every input the statement allows (1 <= w <= 100), but not on an even w <= 0: w = -4
# gives YES where the other accepted solutions print NO. The consensus of three outvotes it.
_EVEN_SPLIT_NONPOSITIVE = """\
import sys

w = int(sys.stdin.readline())
if w % 2 or w == 2:
    print("NO")
else:
    print("YES")
"""

# Tries every even first part.
_EVEN_SPLIT_LOOP = """\
def main():
    w = int(input())
    ok = any(a % 2 == 0 and (w - a) % 2 == 0 for a in range(2, w - 1))
    print("YES" if ok else "NO")


main()
"""

# _EVEN_SPLIT_PY3 with another variable name: not a duplicate (the code differs), but the nearest to it.
_EVEN_SPLIT_RENAMED = """\
weight = int(input())
print("YES" if weight % 2 == 0 and weight > 2 else "NO")
"""

# Wrong on w = 98 only: no test of the problem has it, so the tests cannot reject it.
_EVEN_SPLIT_WRONG_98 = """\
w = int(input())
print("YES" if w % 2 == 0 and w > 2 and w != 98 else "NO")
"""

_EVEN_SPLIT_CPP_WRONG = """\
#include <iostream>
int main() { int w; std::cin >> w; std::cout << (w % 2 == 0 ? "YES" : "NO") << std::endl; }
"""

# Even Split as a crowded CodeContests row: five Python 3 solutions (one an exact copy of another, one a renamed
# copy, one wrong only outside the constraints), C++, Java and Python 2 ones; incorrect solutions in Python 3 (one
# the tests reject, one they cannot), C++ and Python 2; and a generated test outside the constraints (w = 0) whose
# stored output contradicts the accepted solutions.
EVEN_SPLIT_CROWDED: dict[str, Any] = {
    **CODE_CONTESTS_PROBLEMS[0],
    "solutions": [
        ("python3", _EVEN_SPLIT_PY3),
        ("python3", _EVEN_SPLIT_PY3),
        ("cpp", _EVEN_SPLIT_CPP),
        ("java", _EVEN_SPLIT_JAVA),
        ("python2", _EVEN_SPLIT_PY2),
        ("python3", _EVEN_SPLIT_NONPOSITIVE),
        ("python3", _EVEN_SPLIT_LOOP),
        ("python3", _EVEN_SPLIT_RENAMED),
    ],
    "incorrect_solutions": [
        ("python3", _EVEN_SPLIT_WRONG),
        ("python3", _EVEN_SPLIT_WRONG_98),
        ("cpp", _EVEN_SPLIT_CPP_WRONG),
        ("python2", _EVEN_SPLIT_PY2.replace("w > 2", "w > 0")),
    ],
    "generated_tests": [("6\r\n", "YES\r\n"), ("99\r\n", "NO\r\n"), ("0\n", "YES\n")],
}

_ANY_DIVISOR_STATEMENT = """\
You are given an integer n (2 ≤ n ≤ 10^9). Print any divisor d of n such that 1 < d ≤ n.

Input

The only line contains n.

Output

Print d. If there are several answers, print any of them.
"""

_SMALLEST_DIVISOR = """\
n = int(input())
d = 2
while d * d <= n and n % d:
    d += 1
print(d if d * d <= n else n)
"""

# A multiple-answer problem: n itself is always an answer. The two solutions agree on primes only.
ANY_DIVISOR: dict[str, Any] = {
    "name": "1000_D. Any Divisor",
    "statement": _ANY_DIVISOR_STATEMENT,
    "solutions": [("python3", _SMALLEST_DIVISOR), ("python3", "print(int(input()))\n")],
    "incorrect_solutions": [("cpp", "int main() { return 1; }\n")],
    "public_tests": [("7\n", "7\n")],
    # the stored answer of a composite is one of several (the checker accepts any)
    "private_tests": [("13\n", "13\n"), ("2\n", "2\n"), ("10\n", "2\n")],
    "cf_contest_id": 1000,
    "cf_index": "D",
    "cf_rating": 900,
    "tags": ["math", "number theory", "constructive algorithms"],
}

# The ready-made sets by corpus, with their writers.
PROBLEM_SETS = {
    "code_contests": (CODE_CONTESTS_PROBLEMS, write_code_contests),
    "apps": (APPS_PROBLEMS, write_apps),
    "taco": (TACO_PROBLEMS, write_taco),
}


def all_tests(problem: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    """Every test of a problem dict: `tests`, or public + private + generated (code_contests layout)."""
    if "tests" in problem:
        return list(problem["tests"])
    return [*problem.get("public_tests", []), *problem.get("private_tests", []), *problem.get("generated_tests", [])]
