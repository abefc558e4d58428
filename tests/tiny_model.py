"""A tiny random-weight chat model + tokenizer, built locally so real engines run in tests without a download.

Run with the vLLM venv's interpreter (it has `tokenizers`, `transformers` and `torch`):
    .venv-vllm/bin/python tests/tiny_model.py DEST [--reasoning]
The text it produces is nonsense; tests assert on counts, finish reasons, determinism, cache hits and
agreement between engines, never on content. Llama layout with head_dim 32 (vLLM's CPU attention needs
>= 32) and float32 weights, ~3 MB.

Its chat template reads `enable_thinking` as Qwen3's does: `false` puts an empty `<think>\n\n</think>\n\n`
block after the assistant header (the prompt the model sees changes; without the variable it is as before).

`--reasoning` builds a reasoning model for `vllm serve --reasoning-parser deepseek_r1`: `<think>` and
`</think>` are tokens of their own (added, not special, as in DeepSeek-R1's and Qwen3's tokenizers, so they stay
in the decoded text), and the weights are rigged so that the model writes them often: a residual dimension
that no layer reads or writes carries a constant, and only those two tokens' output rows read it. Its answers
are nonsense too, but many hold `<think>…</think>` with text after it, so the server splits reasoning from
content as it does for a real reasoning model.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
REASONING_TOKENS = ("<think>", "</think>")
# logit offsets of <think> and </think> per unit of the normalized constant dimension: each is sampled in
# roughly 1 of 6 (<think>) and 1 of 12 (</think>) steps
REASONING_LOGITS = (0.37, 0.30)
SPECIAL_TOKENS = ["<|end|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>"]
VOCAB_SIZE = 512
SEED = 1234


def training_text() -> list[str]:
    """A few KB of the text the prompts are made of: the templates and the demo programs."""
    texts = [p.read_text(encoding="utf-8") for p in sorted((REPO / "semi_instruct/prompts").glob("*.md"))]
    texts.append((REPO / "data/demo/shard.jsonl").read_text(encoding="utf-8"))
    return texts


def build(dest: Path, reasoning: bool = False) -> Path:
    import torch
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(training_text(), trainer=trainer)
    if reasoning:
        tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in REASONING_TOKENS])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|end|>", pad_token="<|pad|>")
    fast.chat_template = CHAT_TEMPLATE

    torch.manual_seed(SEED)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        bos_token_id=None,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    model = LlamaForCausalLM(config).to(torch.float32)
    if reasoning:
        rig_reasoning(model, [fast.convert_tokens_to_ids(t) for t in REASONING_TOKENS])
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    fast.save_pretrained(dest)
    return dest


def rig_reasoning(model, token_ids: list[int]) -> None:  # type: ignore[no-untyped-def]
    """Residual dimension 0 holds 1.0 at every position: every embedding has it, no layer reads it (its norm
    weights are 0) or writes it (its output rows are 0). The final norm turns it into a roughly constant
    feature that only the reasoning tokens' output rows read, so each gets a steady logit offset."""
    import torch

    with torch.no_grad():
        model.model.embed_tokens.weight[:, 0] = 1.0
        for layer in model.model.layers:
            layer.input_layernorm.weight[0] = 0.0
            layer.post_attention_layernorm.weight[0] = 0.0
            layer.self_attn.o_proj.weight[0, :] = 0.0
            layer.mlp.down_proj.weight[0, :] = 0.0
        model.lm_head.weight[:, 0] = 0.0
        for token, logit in zip(token_ids, REASONING_LOGITS, strict=True):
            model.lm_head.weight[token, 0] = logit


if __name__ == "__main__":
    print(build(Path(sys.argv[1]), reasoning="--reasoning" in sys.argv[2:]))
