"""A base-vs-tuned experiment: each model answers the same prompts and is judged into its own folder, then the two
are compared prompt by prompt, per level and per tag, single-shot; with repairs, each model's validity after
0..N repairs too. `run_experiments` does this for several prompt sets (the request benchmark and a held-out split),
serving each model once for all of them, one set after the other (`judge_sets` can ask them at once: measured, it
saved nothing, bench/README).

dageval starts no server. The caller passes `serve`, which makes a model file answer on an OpenAI-compatible
endpoint while its context lasts (the airflow-net pipeline uses dagserve). Each step writes a `manifest.json`
last: run again with the same model files, prompts and settings, it returns what it found without serving,
generating or judging; a killed run keeps the completions it had.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, nullcontext
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, Field

from dagcore import Retry, finished, read_manifest, stamp, write_manifest
from dageval.evaluate import evaluate
from dageval.exceptions import InputError
from dageval.generate import GenerateConfig, generate, read_prompts
from dageval.importer import shared_checkers
from dageval.inputs import read_samples
from dageval.models import Level, Sample, Verdict
from dageval.repairs import RepairRow, repair_table
from dageval.report import write_report
from dageval.stats import Comparison, Summary, TagRate, compare, summarize, tag_rates
from dageval.validator import Validator

Serve = Callable[[Path], AbstractContextManager[str]]
"""Given a model file, a context in which an OpenAI-compatible base URL (ending in /v1) answers with that model."""
Progress = Callable[[str, int, int], None]


class JudgeConfig(BaseModel):
    """How a model is asked and judged: the same for both models of an experiment."""

    level: Level = Level.IMPORT
    """The deepest level judged."""
    max_prompts: int = 0
    """Judge the first N prompts; 0 means all."""
    n: int = 1
    """Samples per prompt."""
    max_tokens: int = 1024
    temperature: float | None = None
    """Default 0 (greedy) for n == 1 and 0.8 for n > 1."""
    concurrency: int = 4
    """Requests in flight at once."""
    extra: dict[str, Any] = {}
    """More request fields for the server (e.g. `repeat_penalty`)."""
    import_workers: int = 2
    install_providers: bool = True
    repairs: int = 0
    """Also run the generate-validate-repair loop with up to N repairs per prompt, judged by a `Validator` of
    `level` (at most import); the verdicts stay single-shot, `JudgedModel.repairs` gives validity after 0..N."""
    retry: Retry = Retry()
    """How the loop asks again after a rejected answer (dagcore.Retry; default: the error fed back, greedy)."""
    grammar: bool = False
    """Decode under the Python answer grammar (`GenerateConfig.grammar`), first answers and retries alike."""

    def stamped(self) -> dict[str, Any]:
        """The settings a judgement is stamped with: `retry` and `grammar` only where they are not the default, so
        that a judgement made before the field existed is still found."""
        found = self.model_dump(mode="json")
        if self.retry == Retry():
            del found["retry"]
        elif not self.retry.grammar:
            del found["retry"]["grammar"]  # a retry stamped before `Retry.grammar` existed is the same retry
        if not self.grammar:
            del found["grammar"]
        guard = self.extra.get("version_guard", "")  # absent: on wherever the grammar is (since 2026-12-07)
        if guard is None:
            del found["extra"]["version_guard"]  # turned off: decoded as before the guard existed
            found["extra"].pop("version_guard_keywords", None)
        elif self.grammar and self.extra.get("version_guard_keywords", True) is False:
            found["version_guard"] = True  # imports and trigger rules only: as judged before the keyword table
            del found["extra"]["version_guard_keywords"]
        elif self.grammar:
            found["version_guard"] = "keywords"
        return found


class JudgedModel(BaseModel):
    """One model's answers and verdicts, in its folder."""

    name: str
    folder: Path
    model: Path
    """The model file that answered."""
    prompts: int
    samples_per_prompt: int
    summary: Summary
    completions: Path
    verdicts: Path
    report: Path
    repairs: list[RepairRow] = []
    """Validity per level (at most import) after 0..N repairs; empty when the config asked for none."""
    skipped: bool = False
    """True when the folder already held this judgement: nothing was served, generated or judged."""

    def read_verdicts(self) -> list[Verdict]:
        lines = self.verdicts.read_text(encoding="utf-8").splitlines()
        return [Verdict.model_validate_json(line) for line in lines if line.strip()]

    def read_samples(self) -> list[Sample]:
        """The answered samples (completion, tags, expect), read back from the completions."""
        return read_samples(self.completions)

    @property
    def categories(self) -> dict[str, int]:
        """Failures by category at the deepest level (each sample under the level where it failed)."""
        return dict(self.summary.levels[-1].categories) if self.summary.levels else {}


class Experiment(BaseModel):
    """Base and tuned, paired by sample at every level up to the deepest judged."""

    folder: Path
    base: JudgedModel
    tuned: JudgedModel
    comparisons: list[Comparison]
    comparison_file: Path
    tags: list[TagRate] = []
    """Per tag at the deepest level, the most frequent first; empty for a prompt set without tags."""
    report: Path
    skipped: bool = False
    """True when nothing was done: both judgements and the comparison were found current."""


def judge_model(
    name: str,
    model: Path,
    prompts_file: Path,
    folder: Path,
    config: JudgeConfig,
    *,
    serve: Serve,
    progress: Progress | None = None,
    force: bool = False,
) -> JudgedModel:
    """`model` served by `serve` answers the prompts of `prompts_file`; completions.jsonl, verdicts.jsonl,
    summary.json, report.md/html and manifest.json go to `folder`."""
    report: Progress = progress or (lambda stage, done, total: None)
    expected = stamp("judge", "dageval", {"model": model, "prompts": prompts_file}, config.stamped())
    if not force and (done := finished(folder, expected)) is not None:
        return JudgedModel.model_validate({**done.result, "skipped": True})
    started = read_manifest(folder)
    completions = folder / "completions.jsonl"
    if started is None or started.fingerprint != expected.fingerprint or force:
        completions.unlink(missing_ok=True)  # another model's answers, or asked otherwise: never resumed
    write_manifest(folder, expected)
    prompts = read_prompts(prompts_file)
    if config.max_prompts:
        prompts = prompts[: config.max_prompts]
    deepest_repaired = min(config.level, Level.IMPORT)  # the Validator judges no intent
    # The repair loop's Validator and the judgement after it share each runtime's workers.
    with shared_checkers():
        with ExitStack() as stack:
            settings = GenerateConfig(
                endpoint=stack.enter_context(serve(model)),
                n=config.n,
                max_tokens=config.max_tokens,
                temperature=config.temperature,
                concurrency=config.concurrency,
                extra=config.extra,
                repairs=config.repairs,
                retry=config.retry,
                grammar=config.grammar,
            )
            judge = None
            if config.repairs:
                # Installs runtimes as `evaluate` does: otherwise an answer that lints counts as valid at import.
                validator = Validator(
                    deepest_repaired, install_runtimes=True, install_providers=config.install_providers
                )
                judge = stack.enter_context(validator)
            samples = generate(prompts, settings, completions, lambda d, t: report("generating", d, t), judge)
        verdicts = evaluate(
            samples,
            level=config.level,
            progress=report,
            import_workers=config.import_workers,
            install_providers=config.install_providers,
        )
    summary = summarize(verdicts, config.level)
    verdicts_file = folder / "verdicts.jsonl"
    verdicts_file.write_text("".join(v.model_dump_json() + "\n" for v in verdicts), encoding="utf-8")
    (folder / "summary.json").write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    repairs = repair_table(samples, config.repairs, deepest_repaired) if config.repairs else []
    page = write_report(folder, summary, title=f"{name} model", repairs={name: repairs})
    result = JudgedModel(
        name=name,
        folder=folder,
        model=model,
        prompts=len(prompts),
        samples_per_prompt=config.n,
        summary=summary,
        completions=completions,
        verdicts=verdicts_file,
        report=page,
        repairs=repairs,
    )
    write_manifest(folder, expected.model_copy(update={"complete": True, "result": result.model_dump(mode="json")}))
    return result


def compare_models(
    base: JudgedModel, tuned: JudgedModel, folder: Path, level: Level, *, force: bool = False
) -> Experiment:
    """Pair the two judgements by sample: comparison.json, report.md/html (plots included) and manifest.json."""
    expected = stamp("compare", "dageval", {"base": base.folder, "tuned": tuned.folder}, {"level": int(level)})
    nothing_new = base.skipped and tuned.skipped
    if not force and (done := finished(folder, expected)) is not None:
        return Experiment.model_validate({**done.result, "base": base, "tuned": tuned, "skipped": nothing_new})
    base_verdicts, tuned_verdicts = base.read_verdicts(), tuned.read_verdicts()
    comparisons = [compare(base_verdicts, tuned_verdicts, lv) for lv in Level if lv <= level]
    comparison_file = folder / "comparison.json"
    folder.mkdir(parents=True, exist_ok=True)
    comparison_file.write_text(_json_list(comparisons), encoding="utf-8")
    tags = tag_rates(base_verdicts, tuned_verdicts, base.read_samples(), level)
    page = write_report(
        folder,
        summarize(tuned_verdicts, level),
        comparisons,
        title="base vs tuned",
        repairs={"base": base.repairs, "tuned": tuned.repairs},
        tags=tags,
    )
    result = Experiment(
        folder=folder,
        base=base,
        tuned=tuned,
        comparisons=comparisons,
        comparison_file=comparison_file,
        tags=tags,
        report=page,
    )
    write_manifest(folder, expected.model_copy(update={"complete": True, "result": result.model_dump(mode="json")}))
    return result


class PromptSet(BaseModel):
    """One prompt set of an experiment, asked and judged alike for both models (but for the base's retries)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    """Its subfolder of the experiment's folder (e.g. `benchmark`, `heldout`)."""
    prompts: Path
    """A JSONL prompt set: the request benchmark (`benchmark_file()`), a dataset's test.jsonl, ..."""
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    base_repairs: int | None = Field(None, ge=0)
    """The base model's retries, at most `judge.repairs`; None: as many as the tuned model's. An untuned base
    fails nearly every request, so each of its retries costs a whole round of decoding (often to the token limit)
    and measures no comparison the single-shot pairing does not."""

    def base_judge(self) -> JudgeConfig:
        """How the base model is judged: `judge`, its retries capped by `base_repairs`."""
        if self.base_repairs is None or self.base_repairs >= self.judge.repairs:
            return self.judge
        return self.judge.model_copy(update={"repairs": self.base_repairs})


class _Set(NamedTuple):
    folder: Path
    prompts: Path
    judges: dict[str, JudgeConfig]
    """By model: "base", "tuned"."""
    label: str


def run_experiment(
    base: Path,
    tuned: Path,
    prompts_file: Path,
    folder: Path,
    config: JudgeConfig,
    *,
    serve: Serve,
    progress: Progress | None = None,
) -> Experiment:
    """Judge `base` into folder/base and `tuned` into folder/tuned on the same prompts, then compare them."""
    return _run(base, tuned, [_Set(folder, prompts_file, {"base": config, "tuned": config}, "")], serve, progress)[0]


def run_experiments(
    base: Path,
    tuned: Path,
    sets: Sequence[PromptSet],
    folder: Path,
    *,
    serve: Serve,
    progress: Progress | None = None,
) -> list[Experiment]:
    """`run_experiment` for each prompt set, into folder/<set name>; each model is served once for all the sets
    (and not at all when all its judgements are current). One experiment per set, in order."""
    return _run(base, tuned, _named(sets, folder), serve, progress)


def judge_sets(
    name: Literal["base", "tuned"],
    model: Path,
    sets: Sequence[PromptSet],
    folder: Path,
    *,
    serve: Serve,
    progress: Progress | None = None,
    at_once: bool = False,
) -> list[JudgedModel]:
    """One model's half of `run_experiments`: each prompt set judged into folder/<set name>/`name`, the model served
    once for all of them, one set after the other; `at_once` asks them together, so one set's requests fill the slots
    another's last answers leave idle (measured: the base judged 1.03x as fast, the tuned model with its retries 0.89x;
    bench/sets_at_once_bench.py)."""
    return _judge_sets(name, model, _named(sets, folder), serve, progress, at_once=at_once)


def _named(sets: Sequence[PromptSet], folder: Path) -> list[_Set]:
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise InputError(f"prompt sets need distinct names, not {names}")
    return [_Set(folder / s.name, s.prompts, {"base": s.base_judge(), "tuned": s.judge}, f"{s.name} ") for s in sets]


def _judge_sets(
    name: str, model: Path, sets: Sequence[_Set], serve: Serve, progress: Progress | None, *, at_once: bool = False
) -> list[JudgedModel]:
    report: Progress = progress or (lambda stage, done, total: None)

    def labelled(label: str) -> Progress:
        return lambda stage, done, total: report(f"{label}: {stage}", done, total)

    # One warm checker per runtime for all the sets: a set's own block, closing first, would stop the others'.
    with shared_checkers(), ExitStack() as stack:
        once = _served_once(serve, stack)

        def judge(s: _Set) -> JudgedModel:
            return judge_model(
                name, model, s.prompts, s.folder / name, s.judges[name], serve=once, progress=labelled(s.label + name)
            )

        if not at_once:
            return [judge(s) for s in sets]  # in this thread, so Ctrl-C stops it at once
        pool = ThreadPoolExecutor(max_workers=len(sets))
        try:
            return list(pool.map(judge, sets))
        finally:
            # On an error or Ctrl-C, do not wait for the other sets: the server stops next, and their requests fail.
            pool.shutdown(wait=False, cancel_futures=True)


def _run(
    base: Path,
    tuned: Path,
    sets: Sequence[_Set],
    serve: Serve,
    progress: Progress | None,
) -> list[Experiment]:
    judged: dict[str, list[JudgedModel]] = {}
    with shared_checkers():  # each runtime's Airflow workers started once for both models, every set and round
        for name, model in (("base", base), ("tuned", tuned)):
            judged[name] = _judge_sets(name, model, sets, serve, progress)
    return [
        compare_models(b, t, s.folder, s.judges["tuned"].level)
        for s, b, t in zip(sets, judged["base"], judged["tuned"], strict=True)
    ]


def _served_once(serve: Serve, stack: ExitStack) -> Serve:
    """`serve`, entered on first use and kept open by `stack`: one server for all of a model's prompt sets, however
    many of them ask at once."""
    endpoints: dict[Path, str] = {}
    starting = threading.Lock()

    def once(model: Path) -> AbstractContextManager[str]:
        with starting:
            if model not in endpoints:
                endpoints[model] = stack.enter_context(serve(model))
        return nullcontext(endpoints[model])

    return once


def _json_list(models: Sequence[BaseModel]) -> str:
    return "[\n" + ",\n".join(m.model_dump_json(indent=2) for m in models) + "\n]\n"
