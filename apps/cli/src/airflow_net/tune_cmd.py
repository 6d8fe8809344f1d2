"""`airflow-net train` and `airflow-net export`: fine-tune, merge, GGUF, quantise, verify."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import dagtune
from airflow_net._ui import console
from dagcore.cli import one_line_errors


@one_line_errors
def train(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML with TrainConfig fields.")] = None,
    override: Annotated[
        list[str] | None, typer.Option("--set", help="Override a field: --set max_steps=20 (repeatable).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint of the run folder.")] = False,
    force: Annotated[bool, typer.Option(help="Train again even if the run folder holds this exact run.")] = False,
) -> None:
    """Fine-tune with LoRA/QLoRA (Unsloth on CUDA, TRL + PEFT elsewhere) on dagdata's dataset."""
    settings = dagtune.load_config(config, override)
    console.print(f"training {settings.base_model} -> {settings.output_dir} (backend {settings.backend})")
    result = dagtune.train(settings, resume=resume, force=force)
    if result.skipped:
        console.print("unchanged: the run folder holds this exact run (--force trains again)")
    table = Table(title="dagtune train", show_header=False)
    for name, value in [
        ("backend", result.backend),
        ("steps", result.steps),
        ("first / last train loss", f"{result.first_loss} / {result.last_loss}"),
        ("eval loss", result.eval_loss),
        ("adapter", result.adapter_dir),
    ]:
        table.add_row(name, str(value))
    console.print(table)


@one_line_errors
def export(
    run: Annotated[Path, typer.Argument(help="The run folder of `airflow-net train`.")] = Path("out/train"),
    quant: Annotated[str, typer.Option(help="q4_k_m, q8_0, q5_k_m, q4_0 or f16.")] = "q4_k_m",
    verify_tokens: Annotated[int, typer.Option(help="Greedy tokens compared with PyTorch per prompt.")] = 16,
    force: Annotated[bool, typer.Option(help="Export again even if the output is up to date.")] = False,
) -> None:
    """Merge the adapter, write GGUF (f16 and quantised) with no network, verify it, write a model card.

    The GGUF carries the prompt contract the run was trained with, so dagserve prompts it the same way."""
    result = dagtune.export(run, quant=quant, verify_tokens=verify_tokens, force=force)
    if result.skipped:
        console.print("unchanged: this export of this run is already there (--force exports again)")
    table = Table(title="dagtune export", show_header=False)
    rows = [
        ("f16 GGUF", f"{result.f16} {result.f16_types}"),
        ("tokenizer ids identical", str(result.tokenizer_identical)),
        (
            "f16 vs PyTorch (greedy)",
            f"{result.f16_agreement.identical_prompts}/{result.f16_agreement.prompts} "
            f"prompts, {result.f16_agreement.matching_tokens:.0%} tokens"
            + (f", {result.f16_agreement.near_ties} parted at a near tie" if result.f16_agreement.near_ties else ""),
        ),
    ]
    if result.quantized is not None and result.quant_agreement is not None:
        rows += [
            (
                f"{quant} GGUF",
                f"{result.quantized.path} {result.quantized.tensor_types}"
                + (" (fell back from k-quants)" if result.quantized.fallback else ""),
            ),
            (
                f"{quant} vs PyTorch (greedy)",
                f"{result.quant_agreement.identical_prompts}/"
                f"{result.quant_agreement.prompts} prompts, {result.quant_agreement.matching_tokens:.0%} tokens",
            ),
        ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    console.print(f"model card: {result.card}")
