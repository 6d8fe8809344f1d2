"""A model as the two things the research needs: a Hugging Face folder to train from, and a quantised GGUF to serve.

The base model goes through the same two calls as every other, so it is judged exported like the tuned one: the
same converter, the same quantisation, the same prompt contract in its metadata.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import BaseModel

from dagcore import finished, stamp, write_manifest
from dagdata import DEFAULT_CONTRACT, PromptContract
from dagtune._extras import require_export
from dagtune._load import load_model, load_tokenizer, smollm2_gguf
from dagtune.gguf_export import convert
from dagtune.quantize import quantize


class Materialized(BaseModel):
    """A model as a local Hugging Face folder."""

    source: str
    """What was read: a GGUF file, a local folder or a hub id (`smollm2` resolved to its GGUF file)."""
    hf_dir: Path
    """The folder: config, weights, tokenizer (and dagtune's manifest.json)."""
    skipped: bool = False
    """True when the folder already held this model: nothing was loaded or written."""


class ModelExport(BaseModel):
    """A Hugging Face folder converted to GGUF and quantised."""

    gguf: Path
    quant: str
    tensor_types: dict[str, int]
    """Types really written (k-quants fall back on rows that are not multiples of 256)."""
    contract: PromptContract
    """The prompt contract written into the metadata."""
    skipped: bool = False
    """True when the output folder already held this export: nothing was converted."""


def materialize(spec: str, folder: str | Path, *, force: bool = False) -> Materialized:
    """`spec` (a GGUF file, a local folder, a hub id, or `smollm2`) saved as a Hugging Face folder at `folder`.

    The folder is written beside its place and renamed into it, so it is whole or absent. A no-op when it
    already holds the same source (unless `force`)."""
    source = str(smollm2_gguf()) if spec == "smollm2" else spec
    target = Path(folder)
    expected = stamp("materialize", "dagtune", {"model": source}, {})
    if not force and finished(target, expected) is not None:
        return Materialized(source=source, hf_dir=target, skipped=True)
    model, tokenizer = load_model(source), load_tokenizer(source)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    result = Materialized(source=source, hf_dir=target)
    write_manifest(tmp, expected.model_copy(update={"complete": True, "result": result.model_dump(mode="json")}))
    old = target.with_name(f".{target.name}.old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return result


def export_model(
    hf_dir: str | Path,
    out_dir: str | Path,
    *,
    contract: PromptContract = DEFAULT_CONTRACT,
    quant: str = "q4_k_m",
    name: str | None = None,
    force: bool = False,
) -> ModelExport:
    """`hf_dir` as `out_dir/model-<quant>.gguf` with `contract` in its metadata, and `out_dir/manifest.json`.

    No verification against PyTorch (`export` does that for a trained run). A no-op when `out_dir` holds the same
    export of the same model (unless `force`)."""
    require_export()
    source, out = Path(hf_dir), Path(out_dir)
    settings = {"quant": quant, "name": name, "contract": contract.model_dump()}
    expected = stamp("export_model", "dagtune", {"model": source}, settings)
    if not force and (done := finished(out, expected)) is not None:
        return ModelExport.model_validate({**done.result, "skipped": True})
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"model-{quant}.gguf"
    # Temporary names until the end: a killed export never leaves a file that looks finished.
    f16 = convert(source, out / ".model-f16.gguf.tmp", metadata=contract.metadata(), name=name or source.name)
    quantised = quantize(f16, out / f".model-{quant}.gguf.tmp", quant)
    f16.unlink()
    quantised.path.replace(target)
    result = ModelExport(gguf=target, quant=quant, tensor_types=quantised.tensor_types, contract=contract)
    write_manifest(out, expected.model_copy(update={"complete": True, "result": result.model_dump(mode="json")}))
    return result
