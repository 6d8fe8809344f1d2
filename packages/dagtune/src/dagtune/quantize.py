"""Quantise a GGUF with llama.cpp's own quantiser, bound by llama-cpp-python: nothing to clone or build."""

from __future__ import annotations

import ctypes
from pathlib import Path

from pydantic import BaseModel

from dagtune._extras import require_export
from dagtune._isolate import isolated
from dagtune.exceptions import ExportError
from dagtune.gguf_export import tensor_types

QUANTS = {
    "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
    "f16": "LLAMA_FTYPE_MOSTLY_F16",
    "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
    "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0",
}


class QuantReport(BaseModel):
    path: Path
    quant: str
    tensor_types: dict[str, int]
    """Types really written: k-quants need rows that are multiples of 256, and llama.cpp silently
    falls back to other types for tensors that are not."""
    fallback: bool
    size_bytes: int


def _llama_quantize(source: str, target: str, ftype_name: str, threads: int) -> int:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, ftype_name)
    params.nthread = threads
    return int(llama_cpp.llama_model_quantize(source.encode(), target.encode(), ctypes.byref(params)))


def quantize(src: str | Path, dest: str | Path, quant: str = "q4_k_m", *, threads: int = 0) -> QuantReport:
    require_export()
    if quant not in QUANTS:
        raise ExportError(f"unknown quantisation {quant!r}: choose from {', '.join(QUANTS)}")
    source, target = Path(src), Path(dest)
    code = isolated(_llama_quantize, str(source), str(target), QUANTS[quant], threads)
    if code != 0 or not target.is_file():
        raise ExportError(f"llama.cpp could not quantise {source} to {quant} (code {code})")
    types = tensor_types(target)
    expected = {
        "q4_k_m": {"Q4_K", "Q6_K"},
        "q5_k_m": {"Q5_K", "Q6_K"},
        "q8_0": {"Q8_0"},
        "f16": {"F16"},
        "q4_0": {"Q4_0"},
    }[quant]
    weights = {t for t in types if t not in ("F32",)}
    return QuantReport(
        path=target,
        quant=quant,
        tensor_types=types,
        fallback=bool(weights - expected),
        size_bytes=target.stat().st_size,
    )
