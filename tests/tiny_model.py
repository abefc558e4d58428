"""A tiny random-weight chat model + tokenizer, built locally so real engines run in tests without a download.

Run with the vLLM venv's interpreter (it has `tokenizers`, `transformers` and `torch`):
    .venv-vllm/bin/python tests/tiny_model.py DEST
The text it produces is nonsense; tests assert on counts, finish reasons, determinism, cache hits and
agreement between engines, never on content. Llama layout with head_dim 32 (vLLM's CPU attention needs
>= 32) and float32 weights, ~3 MB.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL_TOKENS = ["<|end|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>"]
VOCAB_SIZE = 512
SEED = 1234


def training_text() -> list[str]:
    """A few KB of the text the prompts are made of: the templates and the demo programs."""
    texts = [p.read_text(encoding="utf-8") for p in sorted((REPO / "semi_instruct/prompts").glob("*.md"))]
    texts.append((REPO / "data/demo/shard.jsonl").read_text(encoding="utf-8"))
    return texts


def build(dest: Path) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(training_text(), trainer=trainer)
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
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    fast.save_pretrained(dest)
    return dest


if __name__ == "__main__":
    print(build(Path(sys.argv[1])))
