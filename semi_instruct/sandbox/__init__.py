"""Running untrusted programs: one interface (`Runner.run`), implemented by the hardened executor.

Every program the pipeline runs (the human originals and the LLM's candidates) goes through `Runner.run`.
Expected outputs never enter the sandbox: runners only report what the program did; comparison happens
on the host (`semi_instruct.compare`). `make_runner` returns `executor.Executor` (persistent bubblewrap
sandboxes that fork a pre-started interpreter per case); `semi-instruct sandbox doctor` shows which
protections a host provides. C++ and Java programs (stdio only) are compiled once inside a sandbox
(`toolchains.py`: flags, compile cache) and their artifact runs per input with the same protections; a
compile failure is no exception but one `error` result per input with `extra["compile_error"]`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from semi_instruct.sandbox.executor import Executor
    from semi_instruct.sandbox.toolchains import CompileOptions

Mode = Literal["stdio", "call"]
Language = Literal["python", "cpp", "java"]
LANGUAGES: tuple[str, ...] = ("python", "cpp", "java")
Status = Literal["ok", "error", "timeout", "memory", "output_limit", "killed"]


@dataclass(frozen=True)
class Program:
    mode: Mode
    code: str
    # call mode: the function called with each input's arguments, or `Class.method` (LeetCode's `class
    # Solution`): the method of a new `Class()`, created without arguments for each input
    entry_point: str | None = None
    language: Language = "python"  # cpp/java: mode must be "stdio" (ValueError otherwise, in Executor.run)


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 5.0  # wall-clock limit per input (CPU time is capped at the same value, rounded up)
    memory_mb: int = (
        512  # per process (address space beyond the pre-started interpreter); in total where a cgroup can be had
    )
    max_output_bytes: int = 1 << 20
    max_processes: int = 64


@dataclass
class RunResult:
    status: Status
    stdout: str | None = None  # stdio mode (decoded with replacement)
    returned: Any = None  # call mode: the entry point's return value, as exact JSON types
    stderr: str = ""  # tail, capped (a compile failure: the head of the compiler's diagnostics)
    exit_code: int | None = None
    wall_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # "compile_error": error|timeout|memory|output_limit

    def output(self, mode: Mode) -> str | None:
        """What gets compared: stdout for stdio programs, canonical JSON of the return value for calls."""
        if self.status != "ok":
            return None
        if mode == "stdio":
            return self.stdout
        return json.dumps(self.returned, sort_keys=True, ensure_ascii=False)


class Runner(Protocol):
    def run(self, program: Program, inputs: Sequence[str], limits: Limits) -> list[RunResult]:
        """Run `program` once per input, returning exactly one result per input, in order.

        stdio mode: each input is the stdin text. call mode: each input is a JSON array of arguments.
        A case the runner could not report is `killed`, never missing. Safe to call from several threads.
        cpp/java (stdio only): compiled once; if that fails every input gets `status="error"`, the head of
        the diagnostics as `stderr` and `extra["compile_error"]`; a missing compiler raises
        `toolchains.ToolchainUnavailable`.
        """
        ...

    def close(self) -> None:
        """Stop the runner's sandboxes."""
        ...


class SandboxUnavailable(RuntimeError):
    """The host cannot provide the minimum isolation; we refuse to run code unprotected."""


def make_runner(python: str = "/usr/bin/python3", compile_options: CompileOptions | None = None) -> Executor:
    """The executor; raises SandboxUnavailable when this host can't provide the minimum protections.
    `compile_options` (C++/Java) default to CompileOptions() without a disk cache."""
    from semi_instruct.sandbox.executor import Executor

    return Executor(python=python, compile_options=compile_options)
