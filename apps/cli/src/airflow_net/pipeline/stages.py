"""What each stage does: one library call (or two), wired by the typed result of the stage before.

Whether a stage has work to do is the library's to decide (its manifest); each returns the library's result.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

import dagdata
import dageval
import daginstruct
import dagmine
import dagserve
import dagsynth
import dagtune
from airflow_net.mine_cmd import build_source
from airflow_net.pipeline.config import EvalSection, PipelineConfig, PromptSetSection
from airflow_net.pipeline.runner import Report


class BaseModels(BaseModel):
    """The base model as a Hugging Face folder (to train from) and as a GGUF quantised like the tuned one."""

    hf: dagtune.Materialized
    gguf: dagtune.ModelExport

    @property
    def skipped(self) -> bool:
        return self.hf.skipped and self.gguf.skipped


def mine(config: PipelineConfig, folder: Path, report: Report) -> dagmine.MineSummary:
    section = config.mine
    paths = [section.source] if section.source else []
    source = build_source(paths, section.pypi, dists_dir(config), sdist=section.sdist)
    return dagmine.mine_to_dir(source, folder, refs=section.refs or None, tag_pattern=section.tags, progress=report)


def instruct(
    config: PipelineConfig, mined: dagmine.MineSummary, folder: Path, report: Report
) -> daginstruct.InstructSummary:
    section = config.instruct
    settings = daginstruct.InstructConfig(
        backend=section.backend, model=section.model, styles=section.styles, per_dag=section.per_dag
    )
    return daginstruct.instruct(list(dagmine.read_records(mined.out_dir)), folder, settings, progress=report)


def compose(config: PipelineConfig, folder: Path, report: Report) -> dagsynth.ComposeSummary:
    section = config.compose
    return compose_fresh(
        config, folder, per_version=section.per_version, seed=section.seed, repairs=section.repairs, report=report
    )


def compose_fresh(
    config: PipelineConfig, folder: Path, *, per_version: int, seed: int, repairs: float, report: Report
) -> dagsynth.ComposeSummary:
    """Composed files kept where dageval passes them to `compose.level` in a real Airflow of their version (the
    compose stage's, and each refine round's fresh requests under a seed of its own)."""
    section = config.compose
    level = dageval.Level.from_label(section.level, "compose.level")

    def judge(dags: Sequence[dagsynth.ComposedDag]) -> list[dagsynth.Verdict]:
        samples = [
            dageval.Sample(
                id=d.id,
                completion=f"```python\n{d.code}```",
                airflow_version=d.airflow_version,
                expect=d.expect,  # one model (dagcore.Expect): what the composer promises is what the judge checks
            )
            for d in dags
        ]
        verdicts = dageval.evaluate(
            samples,
            level=level,
            import_workers=config.eval.workers,
            install_providers=config.eval.install_providers,
            progress=report,
        )
        return [composed_verdict(v, level) for v in verdicts]

    return dagsynth.compose_to_dir(
        folder,
        per_version=per_version,
        versions=section.versions,
        seed=seed,
        judge=judge,
        judged_by=f"dageval {dageval.__version__} to {level.label}",
        repairs=repairs,
        clock=section.clock,
        cron_note=section.cron_note,
        reads=section.reads,
    )


def composed_verdict(verdict: dageval.Verdict, level: dageval.Level) -> dagsynth.Verdict:
    """dageval's verdict on a file as dagsynth keeps it: passed to `level`, or the failing level's words."""
    if verdict.passed is not None and verdict.passed >= level:
        return dagsynth.Verdict(ok=True)
    # The first level that failed (a lint finding does not stop the judge, so it is not always the last result).
    found = verdict.failure or verdict.results[-1]
    # The message whole: a repair lesson shows it to the model as the repair loop would (dageval's `Check`).
    return dagsynth.Verdict(
        ok=False, level=found.level.label, category=found.category or "failed", message=found.message
    )


def base(config: PipelineConfig, folder: Path, report: Report) -> BaseModels:
    report("Hugging Face folder, GGUF", 0, 2)
    hf = dagtune.materialize(config.base.model, folder / "hf")
    report("Hugging Face folder, GGUF", 1, 2)
    # The contract the dataset is built with, so that base and tuned are prompted alike.
    contract = config.dataset.contract
    gguf = dagtune.export_model(hf.hf_dir, folder, contract=contract, quant=config.base.quant, name="base")
    report("Hugging Face folder, GGUF", 2, 2)
    return BaseModels(hf=hf, gguf=gguf)


def dataset(
    config: PipelineConfig,
    mined: dagmine.MineSummary,
    instructed: daginstruct.InstructSummary,
    composed: dagsynth.ComposeSummary,
    models: BaseModels,
    folder: Path,
    report: Report,
) -> dagdata.DatasetSummary:
    section = config.dataset
    return dagdata.build_dataset(
        mined.out_dir,
        instructed.out_dir,
        folder,
        dataset_config(config, models),
        composed_path=composed.dags_file if composed.kept else None,
        exclude_requests=benchmark_requests(config) if section.exclude_benchmark else None,
        progress=report,
    )


def dataset_config(config: PipelineConfig, models: BaseModels) -> dagdata.DatasetConfig:
    """How conversations are made and filtered, with the base model's tokenizer: the same for every dataset built."""
    section = config.dataset
    return dagdata.DatasetConfig(
        tokenizer=str(models.hf.hf_dir),
        max_tokens=section.max_tokens,
        max_repair_tokens=section.max_repair_tokens,
        test_fraction=section.test_fraction,
        near_dup_threshold=section.near_dup_threshold,
        seed=section.seed,
        contract=section.contract,
    )


def benchmark_requests(config: PipelineConfig) -> Path:
    """The request benchmark the eval stage judges: its requests never enter training."""
    return config.eval.benchmark.file or dageval.benchmark_file()


def train(
    config: PipelineConfig, data: dagdata.DatasetSummary, models: BaseModels, folder: Path, report: Report
) -> dagtune.TrainResult:
    fixed = {"base_model": str(models.hf.hf_dir), "dataset": data.out_dir, "output_dir": folder}
    return train_model({**config.train.settings, **fixed}, config, report)


def train_model(settings: dict[str, Any], config: PipelineConfig, report: Report) -> dagtune.TrainResult:
    """Train with `settings` (dagtune.TrainConfig fields) on the train section's backend; a killed run goes on from
    its last checkpoint."""
    found = train_config(settings, config)
    steps = max(found.max_steps, 1)
    report("training", 0, steps)
    result = dagtune.train(found, resume=dagtune.resumable(found))
    report("training", steps, steps)
    return result


def train_config(settings: dict[str, Any], config: PipelineConfig) -> dagtune.TrainConfig:
    """`settings` on the train section's backend. `head_vocab: seen` takes the sources of the distributions the
    mine stage fetched as its corpus, unless the settings name one."""
    found = {**settings, "backend": config.train.backend}
    if found.get("head_vocab") == "seen" and "head_corpus" not in found and dists_dir(config).is_dir():
        found["head_corpus"] = dists_dir(config)
    return dagtune.TrainConfig.model_validate(found)


def dists_dir(config: PipelineConfig) -> Path:
    """Where the mine stage keeps the distributions it fetched from PyPI."""
    return config.out / "dists"


def export(config: PipelineConfig, trained: dagtune.TrainResult, folder: Path, report: Report) -> dagtune.ExportResult:
    section = config.export
    report("merge, GGUF, quantise, verify", 0, 1)
    result = dagtune.export(trained.run_dir, out_dir=folder, quant=section.quant, verify_tokens=section.verify_tokens)
    report("merge, GGUF, quantise, verify", 1, 1)
    return result


class Evaluation(BaseModel):
    """Base vs tuned on the request benchmark and on the dataset's held-out split."""

    benchmark: dageval.Experiment
    heldout: dageval.Experiment

    @property
    def skipped(self) -> bool:
        return self.benchmark.skipped and self.heldout.skipped

    def sets(self) -> dict[str, dageval.Experiment]:
        """Each prompt set's experiment, by title, the benchmark first."""
        return {"Request benchmark": self.benchmark, "Held-out split": self.heldout}


def judge_config(section: EvalSection, where: Literal["benchmark", "heldout"]) -> dageval.JudgeConfig:
    """How one prompt set is judged: its own level, prompts and retries, the rest as the eval section says."""
    part: PromptSetSection = getattr(section, where)
    return dageval.JudgeConfig(
        level=dageval.Level.from_label(part.level, f"eval.{where}.level"),
        max_prompts=part.max_prompts,
        n=section.n,
        max_tokens=section.max_tokens,
        temperature=section.temperature,
        concurrency=section.parallel,
        extra=section.sampling,
        import_workers=section.workers,
        install_providers=section.install_providers,
        repairs=section.repairs if part.repairs is None else part.repairs,
        retry=section.retry,
        grammar=section.grammar,
    )


def evaluate(
    config: PipelineConfig,
    data: dagdata.DatasetSummary,
    models: BaseModels,
    exported: dagtune.ExportResult,
    folder: Path,
    report: Report,
) -> Evaluation:
    if models.gguf.contract != exported.contract:
        raise dageval.InputError("the base and tuned GGUFs carry different prompt contracts: not a fair comparison")
    # Both sets hold bare requests, each stated through the served model's own contract.
    sets = prompt_sets(config.eval, benchmark_requests(config), data.test_file)
    found = dageval.run_experiments(
        models.gguf.gguf, exported.gguf, sets, folder, serve=serve(config, folder), progress=report
    )
    return Evaluation(benchmark=found[0], heldout=found[1])


def prompt_sets(section: EvalSection, benchmark: Path, heldout: Path) -> list[dageval.PromptSet]:
    """The request benchmark and the held-out split, each judged as `judge_config` says, the base's retries capped
    by `eval.base_repairs`."""
    where: tuple[tuple[Literal["benchmark", "heldout"], Path], ...] = (("benchmark", benchmark), ("heldout", heldout))
    return [
        dageval.PromptSet(
            name=name, prompts=prompts, judge=judge_config(section, name), base_repairs=section.base_repairs
        )
        for name, prompts in where
    ]


def serve(config: PipelineConfig, folder: Path) -> dageval.Serve:
    """Serves a model file with dagserve as the eval section says, its state in `folder`."""
    return partial(_served, config.eval, state=folder / "server")


@contextmanager
def _served(section: EvalSection, model: Path, *, state: Path) -> Iterator[str]:
    """A private dagserve for one model (its own state folder), stopped whatever happens."""
    config = dagserve.ServeConfig(model=str(model), port=0, parallel=section.parallel, ctx=section.ctx)
    info = dagserve.start_server(config, state_dir=state)
    try:
        yield f"{info.url}/v1"
    finally:
        dagserve.stop_server(state_dir=state)
