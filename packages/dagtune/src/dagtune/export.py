"""Merge the adapter, convert to GGUF, quantise, verify against PyTorch, write a model card."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dagcore import finished, stamp, write_manifest
from dagdata import PromptContract
from dagtune._extras import require_export
from dagtune._isolate import isolated
from dagtune._load import load_model, load_tokenizer
from dagtune.config import TrainConfig
from dagtune.contract import run_contract
from dagtune.exceptions import ExportError
from dagtune.gguf_export import convert, tensor_types
from dagtune.quantize import QuantReport, quantize

PROMPTS = [
    "Write an Airflow 2.10 DAG that runs a bash command every day.",
    "Create a DAG with two Python tasks, extract then load, scheduled hourly.",
    "I need an Airflow 3.1 DAG that waits for a file in S3, then copies it.",
]


# Two next tokens whose PyTorch logits are closer than this swap on rounding alone: f16 weights move a logit by about
# 1e-3 of its size. A greedy path that parts there is a tie broken the other way, not an export that is wrong.
TIE = 0.05


class Agreement(BaseModel):
    prompts: int
    tokens: int
    """Greedy tokens compared per prompt."""
    identical_prompts: int
    matching_tokens: float
    """Share of positions where the GGUF's greedy token equals PyTorch's (up to the first difference)."""
    near_ties: int = 0
    """Prompts whose paths part where PyTorch's two best next tokens were within `TIE` logits of each other; an
    export agrees with PyTorch when `identical_prompts + near_ties == prompts`."""

    @property
    def agrees(self) -> bool:
        return self.identical_prompts + self.near_ties == self.prompts


class ExportResult(BaseModel):
    merged_dir: Path
    f16: Path
    f16_types: dict[str, int]
    quantized: QuantReport | None
    tokenizer_identical: bool
    f16_agreement: Agreement
    quant_agreement: Agreement | None
    card: Path
    contract: PromptContract
    """The prompt contract written into the GGUF metadata (`airflow_net.prompt.*`)."""
    skipped: bool = False
    """True when the output folder already held this exact export: nothing was done."""

    @property
    def gguf(self) -> Path:
        """The file to serve: the quantised GGUF, or the f16 one when no quantisation was asked for."""
        return self.quantized.path if self.quantized is not None else self.f16


def merge(run_dir: Path, out: Path | None = None) -> Path:
    """Base weights + LoRA adapter (or a fully fine-tuned model) -> one f16 checkpoint with its tokenizer."""
    import torch
    from peft import PeftModel

    config = TrainConfig.model_validate_json((run_dir / "config.json").read_text(encoding="utf-8"))
    adapter = run_dir / "adapter"
    if not adapter.is_dir():
        raise ExportError(f"no adapter in {run_dir}: train first")
    target = out or run_dir / "merged"
    if config.finetune == "full":  # the run saved the whole model where a LoRA run saves its adapter
        merged = load_model(str(adapter), dtype=torch.float32)
    else:
        model = load_model(config.base_model, dtype=torch.float32)
        merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    merged = merged.to(torch.float16)
    merged.save_pretrained(str(target), safe_serialization=True)
    tokenizer = (
        load_tokenizer(str(adapter)) if (adapter / "tokenizer.json").is_file() else load_tokenizer(config.base_model)
    )
    tokenizer.save_pretrained(str(target))
    return target


class Greedy(BaseModel):
    """PyTorch's greedy path for one prompt, and at each step how far its best token led the second."""

    tokens: list[int]
    margins: list[float]


def _greedy_torch(folder: Path, prompts: list[str], n: int, contract: PromptContract) -> tuple[list[Greedy], Any]:
    import torch
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    model.train(False)
    outputs = []
    for prompt in prompts:
        text = tokenizer.apply_chat_template(
            contract.messages(prompt, "2.10"), tokenize=False, add_generation_prompt=True
        )
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            out = model.generate(
                ids,
                max_new_tokens=n,
                do_sample=False,
                min_new_tokens=n,
                output_logits=True,
                return_dict_in_generate=True,
            )
        top2 = [step[0].float().topk(2).values for step in out.logits]
        margins = [float(v[0] - v[1]) for v in top2]
        outputs.append(Greedy(tokens=out.sequences[0, ids.shape[1] :].tolist(), margins=margins))
    return outputs, tokenizer


def _greedy_gguf(path: Path, prompt_ids: list[list[int]], n: int) -> list[list[int]]:
    return isolated(_greedy_gguf_here, path, prompt_ids, n)


def _greedy_gguf_here(path: Path, prompt_ids: list[list[int]], n: int) -> list[list[int]]:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(path), n_ctx=2048, n_threads=2, verbose=False, logits_all=False)
    results = []
    for ids in prompt_ids:
        tokens: list[int] = []
        for token in llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, repeat_penalty=1.0, reset=True):
            tokens.append(int(token))
            if len(tokens) >= n:
                break
        results.append(tokens)
    return results


def _agreement(reference: list[Greedy], other: list[list[int]]) -> Agreement:
    matching = 0
    total = 0
    identical = 0
    ties = 0
    for path, got in zip(reference, other, strict=True):
        ref = path.tokens
        total += len(ref)
        same = 0
        for a, b in zip(ref, got, strict=False):
            if a != b:
                break
            same += 1
        matching += same
        identical += int(ref == got[: len(ref)])
        ties += int(same < len(ref) and same < len(got) and path.margins[same] < TIE)
    return Agreement(
        prompts=len(reference),
        tokens=len(reference[0].tokens) if reference else 0,
        identical_prompts=identical,
        matching_tokens=matching / total if total else 1.0,
        near_ties=ties,
    )


def tokenizer_identity(folder: Path, gguf_path: Path, texts: list[str]) -> bool:
    """Does llama.cpp split text into the same token ids as the Hugging Face tokenizer?"""
    require_export()
    tokenizer = load_tokenizer(str(folder))
    theirs = [list(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in texts]
    return isolated(_llama_tokenize, gguf_path, texts) == theirs


def _llama_tokenize(gguf_path: Path, texts: list[str]) -> list[list[int]]:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(gguf_path), n_ctx=256, verbose=False, vocab_only=True)
    return [list(llm.tokenize(text.encode(), add_bos=False, special=True)) for text in texts]


IDENTITY_TEXTS = [
    "from airflow import DAG\nwith DAG(dag_id='x_1', schedule='@daily') as dag:\n    t1 >> t2\n",
    "Numbers 12345 and 3.14159, tabs\tand  double  spaces, unicode: café, naïve, 日本語, emoji 🚀.",
    "<|im_start|>user\nWrite a DAG<|im_end|>\n",
    "   leading spaces and trailing   \n\n\n",
]


def export(
    run_dir: str | Path,
    *,
    out_dir: str | Path | None = None,
    quant: str = "q4_k_m",
    verify_tokens: int = 16,
    contract: PromptContract | None = None,
    force: bool = False,
) -> ExportResult:
    """Into `out_dir` (default run_dir/gguf): model-f16.gguf, model-<quant>.gguf, export.json, README.md, and last
    manifest.json; the merged checkpoint goes to run_dir/merged (out_dir/merged when `out_dir` is given).

    The GGUF carries the prompt contract the run trained with (`contract` overrides it). A no-op when `out_dir`
    holds a finished export of the same run and settings (unless `force`)."""
    require_export()
    run = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run / "gguf"
    contract = contract or run_contract(run)
    settings = {"quant": quant, "verify_tokens": verify_tokens, "contract": contract.model_dump()}
    expected = stamp("export", "dagtune", {"run": run}, settings)
    if not force and (done := finished(out, expected)) is not None:
        return ExportResult.model_validate({**done.result, "skipped": True})
    merged = merge(run, out / "merged" if out_dir is not None else None)
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, expected)  # unfinished until the end: a killed export is done again
    metadata = contract.metadata()
    f16 = convert(merged, out / "model-f16.gguf", metadata=metadata, name="airflow-net")
    identical = tokenizer_identity(merged, f16, IDENTITY_TEXTS)
    reference, tokenizer = _greedy_torch(merged, PROMPTS, verify_tokens, contract)
    prompt_ids = [
        tokenizer(
            tokenizer.apply_chat_template(contract.messages(p, "2.10"), tokenize=False, add_generation_prompt=True),
            add_special_tokens=False,
        )["input_ids"]
        for p in PROMPTS
    ]
    f16_agreement = _agreement(reference, _greedy_gguf(f16, prompt_ids, verify_tokens))
    report = None
    quant_agreement = None
    if quant != "f16":
        report = quantize(f16, out / f"model-{quant}.gguf", quant)
        quant_agreement = _agreement(reference, _greedy_gguf(report.path, prompt_ids, verify_tokens))
    result = ExportResult(
        merged_dir=merged,
        f16=f16,
        f16_types=tensor_types(f16),
        quantized=report,
        tokenizer_identical=identical,
        f16_agreement=f16_agreement,
        quant_agreement=quant_agreement,
        card=out / "README.md",
        contract=contract,
    )
    (out / "export.json").write_text(result.model_dump_json(indent=2), encoding="utf-8")
    result.card.write_text(model_card(run, result), encoding="utf-8")
    write_manifest(out, expected.model_copy(update={"complete": True, "result": result.model_dump(mode="json")}))
    return result


def model_card(run: Path, result: ExportResult) -> str:
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    metrics = json.loads((run / "result.json").read_text(encoding="utf-8")) if (run / "result.json").is_file() else {}
    quant = result.quantized
    lines = [
        "---",
        "license: apache-2.0",
        "tags: [airflow, code, gguf, lora]",
        f"base_model: {config['base_model']}",
        "---",
        "",
        "# airflow-net DAG writer",
        "",
        f"A LoRA fine-tune of `{config['base_model']}` that writes Apache Airflow DAG files from a request,",
        "merged and exported to GGUF for llama.cpp (and `dagserve`). The prompt contract it was trained with is",
        "stored in the GGUF metadata (`airflow_net.prompt.*`), so dagserve prompts it the same way.",
        "",
        "## Training",
        "",
        f"- data: `{config['dataset']}`; backend `{metrics.get('backend', '?')}`, {metrics.get('steps', '?')} steps",
        f"- LoRA r {config['lora_r']}, alpha {config['lora_alpha']}, targets {', '.join(config['target_modules'])}",
        f"- learning rate {config['learning_rate']}, batch {config['per_device_train_batch_size']} x "
        f"{config['gradient_accumulation_steps']} accumulation, max length {config['max_seq_length']}",
        f"- loss: first {metrics.get('first_loss')}, last {metrics.get('last_loss')}, eval {metrics.get('eval_loss')}",
        "",
        "## Files",
        "",
        f"- `model-f16.gguf`: tensor types {result.f16_types}",
    ]
    if quant is not None:
        lines.append(
            f"- `{quant.path.name}` ({quant.size_bytes / 1e6:.1f} MB): tensor types {quant.tensor_types}"
            + (" (llama.cpp fell back from k-quants where rows are not multiples of 256)" if quant.fallback else "")
        )
    lines += [
        "",
        "## Verification",
        "",
        f"- tokenizer: llama.cpp and Hugging Face give identical token ids: {result.tokenizer_identical}",
        f"- greedy decoding, f16 GGUF vs PyTorch: {result.f16_agreement.identical_prompts}/"
        f"{result.f16_agreement.prompts} prompts identical over {result.f16_agreement.tokens} tokens "
        f"({result.f16_agreement.matching_tokens:.0%} of positions before the first difference; "
        f"{result.f16_agreement.near_ties} parted where PyTorch's two best tokens were within {TIE} logits)",
    ]
    if result.quant_agreement is not None and quant is not None:
        lines.append(
            f"- greedy decoding, {quant.quant} vs PyTorch: {result.quant_agreement.identical_prompts}/"
            f"{result.quant_agreement.prompts} prompts identical ({result.quant_agreement.matching_tokens:.0%})"
        )
    lines += ["", f"Exported {datetime.now(UTC).date().isoformat()} by dagtune.", ""]
    return "\n".join(lines)
