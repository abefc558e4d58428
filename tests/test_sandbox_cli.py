"""`semi-instruct exec` (the JSONL contract, exit codes, streaming, bounded memory)
and `semi-instruct sandbox doctor`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

CLI = str(Path(sys.executable).with_name("semi-instruct"))
STDIO_KEYS = {"status", "stdout", "stderr", "exit_code", "wall_ms"}
CALL_KEYS = {"status", "return", "stderr", "exit_code", "wall_ms"}


def exec_cli(
    tmp_path: Path, lines: list[bytes | str | dict[str, Any]], *args: str
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(
        b"".join(
            (line if isinstance(line, bytes) else (line if isinstance(line, str) else json.dumps(line)).encode())
            + b"\n"
            for line in lines
        )
    )
    out = tmp_path / "results.jsonl"
    proc = subprocess.run(
        [CLI, "exec", "--in", str(cases), "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    records = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return proc, records


def test_exec_contract(tmp_path: Path) -> None:
    lines: list[bytes | str | dict[str, Any]] = [
        {
            "id": "slow-first",
            "mode": "stdio",
            "code": "import time; time.sleep(0.5); print(input()[::-1])",
            "inputs": ["abc", "xy"],
        },
        {
            "id": "call",
            "mode": "call",
            "code": "def f(a, b=1):\n    return {'sum': a + b, 'args': [a, b]}",
            "entry_point": "f",
            "inputs": [[1, 2], [10], ["x", "y"], [1, "y"]],
        },
        "not json",
        "",
        b'{"id": "\xff", "mode": "stdio", "code": "", "inputs": []}',
        '["a", "list"]',
        {"mode": "stdio", "code": "", "inputs": []},
        {"id": "m", "mode": "shell", "code": "", "inputs": []},
        {"id": "c", "mode": "call", "code": "def f(): pass", "inputs": [[]]},
        {"id": "s", "mode": "stdio", "code": "", "inputs": [1]},
        {"id": "l", "mode": "call", "code": "def f(): pass", "entry_point": "f", "inputs": ["[]"]},
        {"id": "t", "mode": "stdio", "code": "", "inputs": [""], "timeout_s": 0},
        {"id": "k", "mode": "stdio", "code": "", "inputs": [""], "expected": "7"},
        {"id": "timeout", "mode": "stdio", "code": "import time; time.sleep(5)", "inputs": [""], "timeout_s": 0.3},
        {
            "id": "memory",
            "mode": "stdio",
            "code": "x = bytearray(200 << 20); print('fits')",
            "inputs": [""],
            "memory_mb": 64,
        },
        {"id": "default-memory", "mode": "stdio", "code": "x = bytearray(200 << 20); print('fits')", "inputs": [""]},
        {"id": "no-inputs", "mode": "stdio", "code": "print(1)", "inputs": []},
        {
            "id": "exit",
            "mode": "call",
            "code": "import sys\ndef f():\n    sys.exit(0)",
            "entry_point": "f",
            "inputs": [[]],
        },
    ]
    t0 = time.monotonic()
    proc, records = exec_cli(tmp_path, lines, "--workers", "3", "--timeout", "2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().endswith("18 lines (11 malformed), 10 cases -> " + str(tmp_path / "results.jsonl"))
    errors = {r["line"]: r["error"] for r in records if "line" in r}
    assert errors == {
        3: "not JSON: Expecting value: line 1 column 1 (char 0)",
        4: "empty line",
        5: errors[5],
        6: "expected a JSON object, got list",
        7: '"id" must be a string',
        8: '"mode" must be "stdio" or "call", got \'shell\'',
        9: 'call mode needs "entry_point" (a function name)',
        10: 'stdio "inputs" must be strings (stdin text)',
        11: 'call "inputs" must be lists of arguments',
        12: '"timeout_s" must be a number of seconds in (0, 3600], got 0',
        13: "unknown keys ['expected']",
    }
    assert errors[5].startswith("not UTF-8: ")
    assert [r.get("id", r.get("line")) for r in records] == [
        "slow-first",
        "call",
        *range(3, 14),
        "timeout",
        "memory",
        "default-memory",
        "no-inputs",
        "exit",
    ]
    by_id = {r["id"]: r["results"] for r in records if "id" in r}
    assert all(set(x) == STDIO_KEYS for x in by_id["slow-first"] + by_id["timeout"] + by_id["memory"])
    assert all(set(x) == CALL_KEYS for x in by_id["call"] + by_id["exit"])
    assert [(x["status"], x["stdout"], x["exit_code"]) for x in by_id["slow-first"]] == [
        ("ok", "cba\n", 0),
        ("ok", "yx\n", 0),
    ]
    assert [(x["status"], x["return"]) for x in by_id["call"]] == [
        ("ok", {"sum": 3, "args": [1, 2]}),
        ("ok", {"sum": 11, "args": [10, 1]}),
        ("ok", {"sum": "xy", "args": ["x", "y"]}),
        ("error", None),
    ]
    assert "TypeError" in by_id["call"][3]["stderr"]
    assert by_id["timeout"][0]["status"] == "timeout" and 300 <= by_id["timeout"][0]["wall_ms"] < 5000
    assert [by_id[k][0]["status"] for k in ("memory", "default-memory")] == ["memory", "ok"]
    assert by_id["no-inputs"] == [] and by_id["exit"][0]["status"] == "error"
    assert time.monotonic() - t0 < 120


def test_exec_compiled_languages(tmp_path: Path) -> None:
    cache = tmp_path / "compile-cache"
    cpp = "#include <bits/stdc++.h>\nint main() { long long a, b; std::cin >> a >> b; std::cout << a * b << '\\n'; }"
    java = (
        "import java.util.*;\npublic class Mul { public static void main(String[] x) {"
        " Scanner s = new Scanner(System.in); System.out.println(s.nextLong() * s.nextLong()); } }"
    )
    lines: list[bytes | str | dict[str, Any]] = [
        {"id": "cpp", "language": "cpp", "mode": "stdio", "code": cpp, "inputs": ["6 7", "-3 3"]},
        {"id": "java", "language": "java", "mode": "stdio", "code": java, "inputs": ["6 7"]},
        {"id": "broken", "language": "cpp", "mode": "stdio", "code": "int main() { return x; }", "inputs": ["", ""]},
        {"id": "py", "language": "python", "mode": "stdio", "code": "print(input())", "inputs": ["same"]},
        {"id": "call", "language": "java", "mode": "call", "code": "", "entry_point": "f", "inputs": [[]]},
        {"id": "rust", "language": "rust", "mode": "stdio", "code": "", "inputs": []},
    ]
    for _ in range(2):  # the second run finds every program in the compile cache
        proc, records = exec_cli(tmp_path, lines, "--compile-cache", str(cache))
        assert proc.returncode == 0, proc.stderr
        by_id = {r.get("id", r.get("line")): r.get("results", r.get("error")) for r in records}
        assert [(x["status"], x["stdout"]) for x in by_id["cpp"]] == [("ok", "42\n"), ("ok", "-9\n")]
        assert [(x["status"], x["stdout"]) for x in by_id["java"] + by_id["py"]] == [("ok", "42\n"), ("ok", "same\n")]
        assert all(set(x) == STDIO_KEYS for x in by_id["cpp"] + by_id["java"] + by_id["py"])
        assert [(x["status"], x["compile_error"], x["exit_code"]) for x in by_id["broken"]] == [
            ("error", "error", 1)
        ] * 2
        assert "‘x’ was not declared in this scope" in by_id["broken"][0]["stderr"]
        assert by_id[5] == "java programs run in \"stdio\" mode only, got 'call'"
        assert by_id[6] == "\"language\" must be one of 'python', 'cpp', 'java', got 'rust'"
    assert len(list(cache.glob("*/*/*.bin"))) == 3  # cpp, java and the failed compile


def test_exec_help_example_of_a_compiled_program_runs_as_shown(tmp_path: Path) -> None:
    help_text = subprocess.run([CLI, "exec", "--help"], capture_output=True, text=True, check=True).stdout
    assert '"language": "python"|"cpp"|"java"' in help_text and "compile_error" in help_text
    example = help_text.split("Example:\n", 1)[1]
    line = next(line.strip() for line in example.splitlines() if '"language": "cpp"' in line)
    proc, records = exec_cli(tmp_path, [line])
    assert proc.returncode == 0, proc.stderr
    (result,) = records[0]["results"]
    assert (records[0]["id"], result["status"], result["compile_error"]) == ("c", "error", "error")
    first = "/tmp/prog.cpp: In function ‘int main()’:\n/tmp/prog.cpp:1:21: error: ‘x’ was not declared in this scope"
    assert result["stderr"].startswith(first)
    shown = '{"id": "c", "results": [{"status": "error", "compile_error": "error", "stderr": "/tmp/prog.cpp: In'
    assert shown in example and "/tmp/prog.cpp:1:21: error: ‘x’ was not declared in this scope ..." in example


@pytest.mark.parametrize(
    "args, code, message",
    [
        (
            ["--in", "/nonexistent/cases.jsonl", "--out", "{tmp}/r.jsonl"],
            1,
            "cannot read input file /nonexistent/cases.jsonl: No such file or directory",
        ),
        (["--in", "{tmp}", "--out", "{tmp}/r.jsonl"], 1, "cannot read input file {tmp}: Is a directory"),
        (
            ["--in", "{tmp}/cases.jsonl", "--out", "/nonexistent/r.jsonl"],
            1,
            "cannot write output file /nonexistent/r.jsonl: No such file or directory",
        ),
        (
            ["--in", "{tmp}/cases.jsonl", "--out", "{tmp}/r.jsonl", "--workers", "0"],
            2,
            "argument --workers: must be positive: '0'",
        ),
        (
            ["--in", "{tmp}/cases.jsonl", "--out", "{tmp}/r.jsonl", "--timeout", "soon"],
            2,
            "argument --timeout: not a number: 'soon'",
        ),
        (["--out", "{tmp}/r.jsonl"], 2, "the following arguments are required: --in"),
    ],
)
def test_exec_refuses_unusable_arguments(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    (tmp_path / "cases.jsonl").write_text('{"id": "a", "mode": "stdio", "code": "print(1)", "inputs": [""]}\n')
    proc = subprocess.run(
        [CLI, "exec", *(a.format(tmp=tmp_path) for a in args)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == code and message.format(tmp=tmp_path) in proc.stderr
    assert not (tmp_path / "r.jsonl").exists() or code == 0


def test_exec_streams_input_and_output(tmp_path: Path) -> None:
    fifo = tmp_path / "cases.fifo"
    os.mkfifo(fifo)
    out = tmp_path / "results.jsonl"
    proc = subprocess.Popen(
        [CLI, "exec", "--in", str(fifo), "--out", str(out), "--workers", "1"], stderr=subprocess.PIPE, text=True
    )
    line = '{"id": "%s", "mode": "stdio", "code": "print(input())", "inputs": ["%s"]}\n'
    with open(fifo, "w") as writer:
        writer.write(line % ("first", "1"))
        writer.flush()
        deadline = time.monotonic() + 60
        while not (out.exists() and out.read_text().endswith("\n")):  # answered while the input is still open
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        assert json.loads(out.read_text())["results"][0]["stdout"] == "1\n"
        writer.write(line % ("second", "2"))
    assert proc.wait(timeout=60) == 0
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["first", "second"]


def _peak_rss_kb(tmp_path: Path, lines: int) -> int:
    """Peak RSS of `semi-instruct exec` over `lines` cases, each carrying 20 KB of code."""
    cases = tmp_path / f"cases-{lines}.jsonl"
    padding = "#" + "x" * 20_000 + "\n"
    with cases.open("w") as f:
        for i in range(lines):
            f.write(
                json.dumps({"id": str(i), "mode": "stdio", "code": padding + "print(input())", "inputs": [str(i)]})
                + "\n"
            )
    proc = subprocess.Popen(
        [CLI, "exec", "--in", str(cases), "--out", str(tmp_path / "r.jsonl"), "--workers", "2"],
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0
    assert sum(1 for _ in (tmp_path / "r.jsonl").open()) == lines
    return usage.ru_maxrss


def test_exec_memory_does_not_grow_with_the_input(tmp_path: Path) -> None:
    small, large = _peak_rss_kb(tmp_path, 100), _peak_rss_kb(tmp_path, 1500)  # 2 MB vs 30 MB of cases
    assert large - small < 12_000, (small, large)


def test_doctor_reports_protections() -> None:
    proc = subprocess.run([CLI, "sandbox", "doctor"], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    verdicts = {line[6:26].strip(): line[:5].strip() for line in lines[1:-1]}
    minimum = [
        "unprivileged uid",
        "user namespace",
        "network namespace",
        "capabilities",
        "no_new_privs",
        "seccomp",
        "environment",
        "case view",
        "seccomp in cases",
        "filesystem",
        "rlimits per case",
        "oom_score_adj",
    ]
    assert {k: verdicts[k] for k in minimum} == dict.fromkeys(minimum, "ok")
    assert verdicts["cgroup memory/pids"] == ("ok" if os.geteuid() == 0 else "warn")
    assert verdicts["toolchain cpp"] == verdicts["toolchain java"] == "ok"  # ./run installs both
    toolchains = {line[6:26].strip(): line[27:] for line in lines if line[6:].startswith("toolchain")}
    assert toolchains["toolchain cpp"].startswith("g++ ") and toolchains["toolchain java"].startswith("javac ")
    assert all(t.endswith("compiled and ran a probe in the sandbox") for t in toolchains.values())
    assert lines[-1].startswith("minimum set available")


def test_doctor_fails_loudly_without_a_usable_interpreter() -> None:
    proc = subprocess.run(
        [CLI, "sandbox", "doctor", "--python", "/nonexistent/python3"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (
        proc.returncode == 1 and "FAIL  sandbox start: a sandbox with /nonexistent/python3 did not start" in proc.stdout
    )
