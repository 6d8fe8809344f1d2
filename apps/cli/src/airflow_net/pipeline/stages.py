"""What each stage does: the same library calls as the individual commands, wired folder to folder."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagdata
import daginstruct
import dagmine
import dagtune
from airflow_net.mine_cmd import _source
from airflow_net.pipeline.config import PipelineConfig
from airflow_net.pipeline.runner import Report, Stage
from dagtune.train import last_checkpoint, plot_loss


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _base_gguf(spec: str) -> str:
    return str(dagtune.smollm2_gguf()) if spec == "smollm2" else spec


def build_stages(config: PipelineConfig) -> list[Stage]:
    out = config.out

    def mine(folder: Path, report: Report) -> dict[str, Any]:
        section = config.mine
        paths = [section.source] if section.source else []
        source = _source(paths, section.pypi, out / "dists", None, None, None, section.sdist)
        summary = dagmine.mine_to_dir(
            source, folder, refs=section.refs or None, tag_pattern=section.tags, progress=report
        )
        excluded = {str(k): v for k, v in summary.stats.excluded.items() if str(k) != "not_dag"}
        return {"records": summary.stats.records, "refs": summary.stats.refs, "excluded": excluded}

    def instruct(folder: Path, report: Report) -> dict[str, Any]:
        section = config.instruct
        settings = daginstruct.InstructConfig(
            backend=section.backend,
            model=section.model,
            styles=section.styles,
            per_dag=section.per_dag,
        )
        summary = daginstruct.instruct(_jsonl(out / "mine" / "dags.jsonl"), folder, settings, progress=report)
        return {
            "backend": summary.backend,
            "model": summary.model,
            "written": summary.written,
            "failed": summary.failed,
        }

    def base(folder: Path, report: Report) -> dict[str, Any]:
        """The base model as an HF folder (to train from) and as a GGUF quantised like the tuned one."""
        spec = _base_gguf(config.base.model)
        hf = folder / "hf"
        report("loading the base model", 0, 3)
        if not (hf / "config.json").is_file():
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # the pipeline shows progress
            model, tokenizer = dagtune.load_model(spec), dagtune.load_tokenizer(spec)
            tmp = folder / ".hf.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            tmp.replace(hf)
        report("converting to GGUF", 1, 3)
        contract = dagdata.PromptContract()
        f16 = dagtune.convert(hf, folder / "model-f16.gguf", metadata=contract.metadata(), name="base")
        report(f"quantising ({config.base.quant})", 2, 3)
        quantised = dagtune.quantize(f16, folder / f"model-{config.base.quant}.gguf", config.base.quant)
        f16.unlink()
        report("done", 3, 3)
        return {"source": spec, "hf": str(hf), "gguf": str(quantised.path)}

    def dataset(folder: Path, report: Report) -> dict[str, Any]:
        section = config.dataset
        settings = dagdata.DatasetConfig(
            tokenizer=str(out / "base" / "hf"),
            max_tokens=section.max_tokens,
            test_fraction=section.test_fraction,
            near_dup_threshold=section.near_dup_threshold,
            seed=section.seed,
        )
        summary = dagdata.build_dataset(out / "mine", out / "instruct", folder, settings, progress=report)
        return {"train": summary.train, "test": summary.test, "filters": summary.filters.model_dump()}

    def train(folder: Path, report: Report) -> dict[str, Any]:
        settings = dagtune.TrainConfig.model_validate(
            {
                **config.train.settings,
                "base_model": str(out / "base" / "hf"),
                "dataset": out / "dataset",
                "output_dir": folder,
                "backend": config.train.backend,
            }
        )
        report("training", 0, max(settings.max_steps, 1))
        resume = last_checkpoint(folder) is not None  # a killed run goes on from its last checkpoint
        result = dagtune.train(settings, resume=resume)
        report("training", max(settings.max_steps, 1), max(settings.max_steps, 1))
        plot = plot_loss(folder)
        return {
            "backend": result.backend,
            "steps": result.steps,
            "first_loss": result.first_loss,
            "last_loss": result.last_loss,
            "eval_loss": result.eval_loss,
            "loss_plot": str(plot) if plot else None,
        }

    def export(folder: Path, report: Report) -> dict[str, Any]:
        report("merge, GGUF, quantise, verify", 0, 1)
        result = dagtune.export(out / "train", quant=config.export.quant, verify_tokens=config.export.verify_tokens)
        final = result.quantized.path if result.quantized else result.f16
        target = folder / f"model-{config.export.quant}.gguf"
        shutil.copyfile(final, target)
        shutil.copyfile(result.card, folder / "README.md")
        report("merge, GGUF, quantise, verify", 1, 1)
        agreement = result.quant_agreement or result.f16_agreement
        return {"gguf": str(target), "matching_tokens": agreement.matching_tokens}

    def evaluate(folder: Path, report: Report) -> dict[str, Any]:
        from airflow_net.pipeline.evaluate import run_eval

        models = {
            "base": out / "base" / f"model-{config.base.quant}.gguf",
            "tuned": out / "export" / f"model-{config.export.quant}.gguf",
        }
        return run_eval(config.eval, out / "dataset" / "test.jsonl", models, folder, report)

    def report_stage(folder: Path, report: Report) -> dict[str, Any]:
        from airflow_net.pipeline.report import write_pipeline_report

        page = write_pipeline_report(config, folder)
        if config.results is not None:
            shutil.copytree(folder, config.results, dirs_exist_ok=True)
        return {"report": str(page)}

    return [
        Stage("mine", config.mine.model_dump(mode="json"), [], mine),
        Stage("instruct", _instruct_key(config), ["mine"], instruct),
        Stage("base", config.base.model_dump(mode="json"), [], base),
        Stage("dataset", config.dataset.model_dump(mode="json"), ["mine", "instruct", "base"], dataset),
        Stage("train", config.train.model_dump(mode="json"), ["dataset", "base"], train),
        Stage("export", config.export.model_dump(mode="json"), ["train"], export),
        Stage("eval", config.eval.model_dump(mode="json"), ["export", "base", "dataset"], evaluate),
        Stage(
            "report", {"name": config.name, "results": str(config.results)}, ["eval", "train", "dataset"], report_stage
        ),
    ]


def _instruct_key(config: PipelineConfig) -> dict[str, Any]:
    """`auto` means a different backend with or without a key: the key's presence is part of the stage's identity."""
    data = config.instruct.model_dump(mode="json")
    if config.instruct.backend == "auto":
        data["backend"] = "anthropic-batch" if os.environ.get("ANTHROPIC_API_KEY") else "template"
    return data


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
