"""Hugging Face checkpoint (Qwen2 or Llama family) -> GGUF, built on the `gguf` package's own pieces.

No llama.cpp clone, no compiler, no network: tensors are renamed with `TensorNameMap`, written with
`GGUFWriter`; the BPE tokenizer, its special tokens and chat template come from `tokenizer.json` and
`SpecialVocab`. The pre-tokenizer name matters: llama.cpp picks its splitting regex by that name, and
the wrong one makes it tokenise differently from the model's training (tests check token-id identity).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dagtune._extras import require_export
from dagtune.exceptions import ExportError

_ARCHES = {"LlamaForCausalLM": "LLAMA", "Qwen2ForCausalLM": "QWEN2"}

# The splitting regexes of the BPE tokenizers we know, as tokenizer.json writes them, and the name
# llama.cpp gives each (its `tokenizer.ggml.pre`).
QWEN2_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def pre_tokenizer_name(tokenizer_json: dict[str, Any]) -> str:
    """llama.cpp's name for this tokenizer's pre-tokenization, or an error naming what we saw."""
    pre = tokenizer_json.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [p.get("type") for p in parts]
    regexes = [p.get("pattern", {}).get("Regex") for p in parts if p.get("type") == "Split"]
    if regexes == [QWEN2_REGEX]:
        return "qwen2"
    if regexes == [LLAMA3_REGEX]:
        return "llama-bpe"
    if kinds == ["Digits", "ByteLevel"] and parts[0].get("individual_digits") and parts[1].get("use_regex", True):
        return "smollm"  # SmolLM/SmolLM2: digits one by one, then GPT-2's regex
    if kinds == ["ByteLevel"] and parts[0].get("use_regex", True):
        return "gpt-2"
    raise ExportError(
        f"unknown pre-tokenizer {pre!r}: llama.cpp would split text differently from the model; "
        "add its regex and llama.cpp's name to dagtune.gguf_export"
    )


def _vocab(folder: Path, n_vocab: int) -> tuple[list[str], list[int], str]:
    import gguf

    data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    model = data.get("model", {})
    if model.get("type") != "BPE":
        raise ExportError(f"only BPE tokenizers are supported, this one is {model.get('type')!r}")
    vocab: dict[str, int] = dict(model["vocab"])
    added = {t["content"]: t for t in data.get("added_tokens", [])}
    for token in added.values():
        vocab[token["content"]] = token["id"]
    size = max(n_vocab, max(vocab.values()) + 1)
    by_id = {i: t for t, i in vocab.items()}
    tokens: list[str] = []
    types: list[int] = []
    for i in range(size):
        text = by_id.get(i)
        if text is None:
            tokens.append(f"[PAD{i}]")  # the embedding matrix is larger than the vocabulary
            types.append(gguf.TokenType.UNUSED)
        elif text in added:
            tokens.append(text)
            types.append(gguf.TokenType.CONTROL if added[text].get("special") else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(text)
            types.append(gguf.TokenType.NORMAL)
    return tokens, types, pre_tokenizer_name(data)


def _permute(weights: np.ndarray[Any, Any], n_head: int, n_head_kv: int | None) -> np.ndarray[Any, Any]:
    """Undo the rotary layout Hugging Face uses for Llama's q/k projections (llama.cpp expects GPT-J style)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _tensors(folder: Path) -> Iterator[tuple[str, np.ndarray[Any, Any]]]:
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ExportError(f"no .safetensors weights in {folder}: merge the adapter first")
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            for name in handle.keys():  # noqa: SIM118 - safe_open is not a dict
                yield name, handle.get_tensor(name).float().numpy()


def convert(
    folder: str | Path, out: str | Path, *, metadata: dict[str, str] | None = None, name: str | None = None
) -> Path:
    """Write an f16 GGUF (1-D tensors stay f32) of the model in `folder`; return its path."""
    require_export()
    import gguf

    src = Path(folder)
    dest = Path(out)
    config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    archs = config.get("architectures") or []
    arch_key = next((_ARCHES[a] for a in archs if a in _ARCHES), None)
    if arch_key is None:
        raise ExportError(f"architecture {archs} is not supported: Qwen2 and Llama families only")
    arch = getattr(gguf.MODEL_ARCH, arch_key)
    n_layers = int(config["num_hidden_layers"])
    n_head = int(config["num_attention_heads"])
    n_head_kv = int(config.get("num_key_value_heads", n_head))
    hidden = int(config["hidden_size"])
    tensor_map = gguf.get_tensor_name_map(arch, n_layers)

    writer = gguf.GGUFWriter(str(dest), gguf.MODEL_ARCH_NAMES[arch])
    writer.add_name(name or src.name)
    writer.add_context_length(int(config.get("max_position_embeddings", 4096)))
    writer.add_embedding_length(hidden)
    writer.add_block_count(n_layers)
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    _add_rope(writer, config)
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    head_dim = int(config.get("head_dim") or hidden // n_head)
    writer.add_rope_dimension_count(head_dim)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    n_vocab = int(config["vocab_size"])
    tokens, types, pre = _vocab(src, n_vocab)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_vocab_size(len(tokens))
    special = gguf.SpecialVocab(src, load_merges=True, n_vocab=len(tokens))
    special.add_to_gguf(writer, quiet=True)
    if special.chat_template is None:
        template = _chat_template(src)
        if template:
            writer.add_chat_template(template)
    for key, value in (metadata or {}).items():
        writer.add_string(key, value)

    seen: set[str] = set()
    for hf_name, data in _tensors(src):
        if hf_name.endswith(("rotary_emb.inv_freq", "attention.masked_bias")):
            continue
        gguf_name = tensor_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ExportError(f"no GGUF name for tensor {hf_name!r}")
        if arch_key == "LLAMA" and hf_name.endswith("q_proj.weight"):
            data = _permute(data, n_head, n_head)
        elif arch_key == "LLAMA" and hf_name.endswith("k_proj.weight"):
            data = _permute(data, n_head, n_head_kv)
        data = data.astype(np.float16) if data.ndim >= 2 else data.astype(np.float32)
        writer.add_tensor(gguf_name, data)
        seen.add(gguf_name)
    if "token_embd.weight" not in seen:
        raise ExportError(f"{src} has no token embedding tensor")

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dest


def _add_rope(writer: Any, config: dict[str, Any]) -> None:
    """Rotary settings: transformers 5 nests them in `rope_parameters`, older configs keep `rope_theta`."""
    import gguf

    rope = dict(config.get("rope_parameters") or config.get("rope_scaling") or {})
    theta = config.get("rope_theta") or rope.get("rope_theta") or 10000.0
    writer.add_rope_freq_base(float(theta))
    kind = rope.get("rope_type", rope.get("type", "default"))
    if kind in ("default", None):
        return
    if kind == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(rope["factor"]))
        return
    if kind == "yarn":
        writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        writer.add_rope_scaling_factor(float(rope["factor"]))
        writer.add_rope_scaling_orig_ctx_len(int(rope["original_max_position_embeddings"]))
        return
    raise ExportError(f"rope scaling {kind!r} is not supported by dagtune's converter")


def _chat_template(folder: Path) -> str | None:
    for name in ("chat_template.jinja",):
        if (folder / name).is_file():
            return (folder / name).read_text(encoding="utf-8")
    config = folder / "tokenizer_config.json"
    if config.is_file():
        template = json.loads(config.read_text(encoding="utf-8")).get("chat_template")
        return template if isinstance(template, str) else None
    return None


def tensor_types(path: str | Path) -> dict[str, int]:
    """How many tensors of each type the GGUF really holds (llama.cpp may fall back from k-quants)."""
    require_export()
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    counts: dict[str, int] = {}
    for tensor in reader.tensors:
        kind = tensor.tensor_type.name
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


def read_metadata(path: str | Path, prefix: str = "") -> dict[str, str]:
    """String metadata of a GGUF (optionally only keys starting with `prefix`)."""
    require_export()
    from gguf import GGUFReader, GGUFValueType

    reader = GGUFReader(str(path))
    found: dict[str, str] = {}
    for key, field in reader.fields.items():
        if key.startswith(prefix) and field.types == [GGUFValueType.STRING]:
            found[key] = bytes(field.parts[field.data[0]]).decode("utf-8")
    return found
