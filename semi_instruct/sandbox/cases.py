r"""`semi-instruct exec`: run a JSONL file of cases through the executor, streaming results in order.

Input, one JSON object per line:
    {"id": str, "mode": "stdio"|"call", "code": str, "entry_point": str (call mode),
     "inputs": [str, ...] (stdio: stdin text) | [[arg, ...], ...] (call: argument lists),
     "language": "python"|"cpp"|"java" (optional, default "python"),
     "timeout_s": float (optional, per input), "memory_mb": int (optional)}
  stdio runs `code` as a program once per input, with the input as its standard input; call runs `code`
  once per input and calls `entry_point(*args)`, where `entry_point` is a function name or `Class.method`
  (`Class()` is then created, without arguments, for each input). cpp and java programs are stdio only:
  compiled once in the sandbox (g++ -O2 -std=gnu++17 -DONLINE_JUDGE; javac, the main class found from the source), then
  run per input. Other keys are refused.
Output, one line per input line, same order:
    {"id": str, "results": [{"status", "stdout" (stdio) | "return" (call), "stderr", "exit_code",
     "wall_ms"}, ...]}  -- exactly one result per input; or {"line": n, "error": "..."} for a malformed line.
  status: ok | error (an exception or a non-zero exit) | timeout | memory | output_limit | killed;
  "return" is the function's return value as JSON. A program that does not compile gets, for every input,
  status "error", the head of the compiler's diagnostics as "stderr", its exit status, and
  "compile_error": error | timeout | memory | output_limit (how the compile failed).
Example:
    {"id": "add", "mode": "stdio", "code": "a, b = map(int, input().split())\nprint(a + b)", "inputs": ["1 2"]}
    {"id": "sq", "mode": "call", "code": "def sq(x):\n    return x * x", "entry_point": "sq", "inputs": [[3]]}
    {"id": "c", "language": "cpp", "mode": "stdio", "code": "int main() { return x; }", "inputs": [""]}
  give {"id": "add", "results": [{"status": "ok", "stdout": "3\n", ...}]} and
       {"id": "sq", "results": [{"status": "ok", "return": 9, ...}]} and
       {"id": "c", "results": [{"status": "error", "compile_error": "error", "stderr": "/tmp/prog.cpp: In
        function ‘int main()’:\n/tmp/prog.cpp:1:21: error: ‘x’ was not declared in this scope ...", ...}]}.

Lines are read lazily and at most a few jobs per worker are in flight, so memory does not grow with the
number of lines; each output line is flushed as soon as it and all lines before it are done, even while
the input (a pipe, say) has no next line yet. A malformed line is reported in its place and does not stop
the run; the exit status is 1 only when a file cannot be read or written or the sandbox is unavailable
(2 for bad arguments).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from queue import Queue
from typing import IO, Any

from semi_instruct.sandbox import LANGUAGES, Limits, Program, Runner, RunResult

IN_FLIGHT_PER_WORKER = 4  # jobs queued per worker: enough to keep workers busy, bounded memory


@dataclass(frozen=True)
class Case:
    id: str
    program: Program
    inputs: list[str]  # stdin texts, or JSON argument arrays in call mode
    limits: Limits


@dataclass
class Summary:
    lines: int = 0
    cases: int = 0
    malformed: int = 0


def parse_case(raw: bytes, defaults: Limits) -> Case:
    """One input line as a Case; ValueError says what is wrong with it."""
    if not raw.strip():
        raise ValueError("empty line")
    try:
        obj = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8: {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    known = {"id", "mode", "code", "entry_point", "inputs", "language", "timeout_s", "memory_mb"}
    unknown = sorted(set(obj) - known)
    if unknown:
        raise ValueError(f"unknown keys {unknown}")
    case_id, mode, code, inputs = obj.get("id"), obj.get("mode"), obj.get("code"), obj.get("inputs")
    if not isinstance(case_id, str):
        raise ValueError('"id" must be a string')
    if mode not in ("stdio", "call"):
        raise ValueError(f'"mode" must be "stdio" or "call", got {mode!r}')
    language = obj.get("language", "python")
    if language not in LANGUAGES:
        raise ValueError(f'"language" must be one of {", ".join(map(repr, LANGUAGES))}, got {language!r}')
    if language != "python" and mode != "stdio":
        raise ValueError(f'{language} programs run in "stdio" mode only, got {mode!r}')
    if not isinstance(code, str):
        raise ValueError('"code" must be a string')
    entry_point = obj.get("entry_point")
    if mode == "call" and not (isinstance(entry_point, str) and entry_point):
        raise ValueError('call mode needs "entry_point" (a function name)')
    if mode == "stdio" and entry_point is not None:
        raise ValueError('"entry_point" is only for call mode')
    if not isinstance(inputs, list):
        raise ValueError('"inputs" must be a list')
    if mode == "stdio" and not all(isinstance(x, str) for x in inputs):
        raise ValueError('stdio "inputs" must be strings (stdin text)')
    if mode == "call" and not all(isinstance(x, list) for x in inputs):
        raise ValueError('call "inputs" must be lists of arguments')
    timeout_s, memory_mb = obj.get("timeout_s", defaults.timeout_s), obj.get("memory_mb", defaults.memory_mb)
    if type(timeout_s) not in (int, float) or not 0 < timeout_s <= 3600 or not math.isfinite(timeout_s):
        raise ValueError(f'"timeout_s" must be a number of seconds in (0, 3600], got {timeout_s!r}')
    if type(memory_mb) is not int or not 1 <= memory_mb <= 1 << 20:
        raise ValueError(f'"memory_mb" must be a positive integer, got {memory_mb!r}')
    texts = inputs if mode == "stdio" else [json.dumps(args) for args in inputs]
    limits = Limits(
        timeout_s=float(timeout_s),
        memory_mb=memory_mb,
        max_output_bytes=defaults.max_output_bytes,
        max_processes=defaults.max_processes,
    )
    return Case(case_id, Program(mode, code, entry_point, language), texts, limits)


def result_record(mode: str, result: RunResult) -> dict[str, Any]:
    record: dict[str, Any] = {"status": result.status}
    if mode == "stdio":
        record["stdout"] = result.stdout or ""
    else:
        record["return"] = result.returned
    record.update(stderr=result.stderr, exit_code=result.exit_code, wall_ms=result.wall_ms)
    if "compile_error" in result.extra:
        record["compile_error"] = result.extra["compile_error"]
    return record


def _jobs(source: IO[bytes], defaults: Limits) -> Iterator[tuple[int, Case | str]]:
    for lineno, raw in enumerate(source, start=1):
        try:
            yield lineno, parse_case(raw, defaults)
        except ValueError as exc:
            yield lineno, str(exc)


def run_cases(source: IO[bytes], sink: IO[str], runner: Runner, workers: int, defaults: Limits) -> Summary:
    """Stream `source` (JSONL bytes) through `runner` into `sink`, in input order.

    A reader thread parses lines and submits jobs; this thread writes each line's record as soon as it
    and every line before it are done. The queue between them bounds the jobs in flight."""
    summary = Summary()
    done = object()
    queue: Queue[Any] = Queue(maxsize=workers * IN_FLIGHT_PER_WORKER)

    def execute(case: Case) -> dict[str, Any]:
        results = runner.run(case.program, case.inputs, case.limits)
        return {"id": case.id, "results": [result_record(case.program.mode, r) for r in results]}

    def read(pool: ThreadPoolExecutor) -> None:
        try:
            for lineno, job in _jobs(source, defaults):
                summary.lines += 1
                if isinstance(job, str):
                    summary.malformed += 1
                    queue.put({"line": lineno, "error": job})
                else:
                    summary.cases += len(job.inputs)
                    queue.put(pool.submit(execute, job))
        except BaseException as exc:  # e.g. the input file became unreadable: re-raised by the writer
            queue.put(exc)
        finally:
            queue.put(done)

    with ThreadPoolExecutor(workers, thread_name_prefix="exec") as pool:
        reader = threading.Thread(target=read, args=(pool,), name="exec-reader", daemon=True)
        reader.start()
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            record = item.result() if isinstance(item, Future) else item
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
            sink.flush()
        reader.join()
    return summary
