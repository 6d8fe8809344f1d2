"""The whole pipeline on a tiny scale: a local git repo with release tags, the template backend, a tiny
Qwen2 made here, two training steps, real GGUF export and serving, real evaluation of both prompt sets (a few
benchmark requests and the held-out split, with one repair), the report and its README block.
A second run skips every stage. The run uses a prompt contract of its own, which must reach the dataset, both
GGUFs, the server and the prompts the models are judged on."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

import dageval
import dagserve
import dagtune
from airflow_net.pipeline import PipelineConfig, run_pipeline
from airflow_net.pipeline.readme import read_block, write_block
from airflow_net.pipeline.runner import Runner
from dagcore import AirflowVersion
from dagdata import DEFAULT_CONTRACT, PromptContract
from dagtune.testing import make_tiny_model

CONTRACT = PromptContract(
    system="You write Airflow DAG files for a tiny test, and nothing else.",
    user_template="Airflow {airflow_version}, please: {request}",
)

DAGS_2 = {
    "dags/daily_bash.py": """from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG(dag_id="daily_bash", schedule="@daily", start_date=datetime(2024, 1, 1)) as dag:
    BashOperator(task_id="hello", bash_command="echo hello")
""",
    "dags/etl.py": """from datetime import datetime

from airflow.decorators import dag, task


@dag(schedule="@hourly", start_date=datetime(2024, 1, 1))
def etl():
    @task
    def extract():
        return 1

    @task
    def load(x):
        print(x)

    load(extract())


etl()
""",
}
DAGS_3 = {
    "dags/empty_chain.py": "from airflow.sdk import DAG\nfrom airflow.providers.standard.operators.empty import "
    'EmptyOperator\n\nwith DAG(dag_id="empty_chain", schedule=None):\n    EmptyOperator(task_id="a") >> '
    'EmptyOperator(task_id="b")\n',
    "dags/python_task.py": "from airflow.sdk import DAG\nfrom airflow.providers.standard.operators.python import "
    'PythonOperator\n\nwith DAG(dag_id="python_task", schedule="@weekly"):\n    PythonOperator(task_id="run", '
    "python_callable=print)\n",
    "dags/sensor_then_bash.py": "from airflow.sdk import DAG\nfrom airflow.providers.standard.operators.bash import "
    "BashOperator\nfrom airflow.providers.standard.sensors.time_delta import TimeDeltaSensor\nfrom datetime import "
    'timedelta\n\nwith DAG(dag_id="sensor_then_bash", schedule="@daily"):\n    TimeDeltaSensor(task_id="wait", '
    'delta=timedelta(minutes=5)) >> BashOperator(task_id="go", bash_command="date")\n',
}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Airflow-like history: DAG files at release tag 2.10.5, more (Airflow 3 style) at 3.1.3."""
    repo = tmp_path_factory.mktemp("airflow-like")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    for tag, files in (("2.10.5", DAGS_2), ("3.1.3", DAGS_3)):
        for name, code in files.items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_text(code)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", f"release {tag}")
        _git(repo, "tag", tag)
    return repo


BENCHMARK_PROMPTS, REPAIRS = 4, 1
README = (
    "# tiny\n\nProse the writer keeps.\n\n"
    "<!-- results:tiny:start -->\nold numbers\n<!-- results:tiny:end -->\n\nMore.\n"
)


def tiny_config(source: Path, base: Path, out: Path, **dataset: Any) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "name": "tiny",
            "out": out,
            "results": out / "results",
            "mine": {"source": source},
            "instruct": {"backend": "template", "per_dag": 3},
            "compose": {"per_version": 1, "versions": ["2.10", "3.1"]},  # and a refine round's fresh requests
            "base": {"model": str(base), "quant": "q8_0"},
            "dataset": {"max_tokens": 1024, "test_fraction": 0.3, "near_dup_threshold": 0.95, **dataset},
            "train": {
                "backend": "hf",
                "settings": {
                    "max_steps": 2,
                    "per_device_train_batch_size": 1,
                    "gradient_accumulation_steps": 1,
                    "max_seq_length": 1024,
                    "eval_steps": 2,
                    "save_steps": 2,
                    "logging_steps": 1,
                    "max_eval_samples": 2,
                },
            },
            "export": {"quant": "q8_0", "verify_tokens": 4},
            "refine": {
                "rounds": 1,
                "per_version": 2,
                "with_compose": True,
                "settings": {"max_steps": 1, "eval_steps": 1, "save_steps": 1},
            },
            "eval": {
                "benchmark": {"max_prompts": BENCHMARK_PROMPTS},
                "heldout": {"level": "import", "max_prompts": 3},
                "repairs": REPAIRS,
                "max_tokens": 24,
                "parallel": 2,
                "ctx": 1024,
                "workers": 1,
            },
        }
    )


@pytest.fixture(scope="module")
def first_run(source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[PipelineConfig, Runner]:
    """One whole run, shared: with a contract that is not the default, set in the config's dataset section."""
    tmp = tmp_path_factory.mktemp("pipeline")
    base = make_tiny_model(tmp / "tiny-base", [*DAGS_2.values(), *DAGS_3.values()])
    readme = tmp / "README.md"  # never the repository's: the stage writes only the file the config names
    readme.write_text(README)
    config = tiny_config(source, base, tmp / "run", contract=CONTRACT.model_dump())
    config = config.model_copy(update={"readme": readme})
    return config, run_pipeline(config)


def test_the_pipeline_runs_every_stage_then_skips_them(first_run: tuple[PipelineConfig, Runner]) -> None:
    config, first = first_run
    out = config.out
    assert all(status.endswith("done[/]") for status in first.status.values()), first.status
    mined = [json.loads(line) for line in (out / "mine" / "dags.jsonl").read_text().splitlines()]
    assert {r["first_version"] for r in mined} == {"2.10.5", "3.1.3"} and len(mined) == 5
    assert len((out / "instruct" / "instructions.jsonl").read_text().splitlines()) == 15
    assert (out / "base" / "model-q8_0.gguf").is_file() and (out / "base" / "hf" / "config.json").is_file()
    assert (out / "dataset" / "test.jsonl").read_text().strip()
    train = first.results["train"]
    assert train.steps == 2 and train.first_loss is not None
    assert (out / "export" / "model-q8_0.gguf").is_file() and (out / "export" / "README.md").is_file()
    (round_1,) = first.results["refine"].rounds
    # Fresh verified requests answered by the trained model, judged, turned into rows, trained on, exported.
    assert round_1.compose.kept > 0 and round_1.judged.prompts == round_1.answers.answers == round_1.compose.kept
    asked = [
        json.loads(line)
        for line in (out / "refine" / "round-1" / "rows" / "instructions.jsonl").read_text().splitlines()
    ]
    assert len(asked) == round_1.answers.kept + round_1.answers.references + round_1.answers.lessons > 0
    assert round_1.train.steps == 1 and round_1.dataset.test == first.results["dataset"].test
    # The round's rows join the first training's composed files (refine.with_compose), not replace them.
    composed = first.results["dataset"].composed
    assert composed > 0 and round_1.dataset.composed == composed + len(asked)
    evaluation = first.results["eval"]
    assert evaluation.benchmark.tuned.model == round_1.export.gguf  # the eval stage judges the last round's model
    for model in ("base", "tuned"):
        verdicts = (out / "eval" / "heldout" / model / "verdicts.jsonl").read_text().splitlines()
        assert len(verdicts) == evaluation.heldout.base.prompts > 0
        assert (out / "eval" / "heldout" / model / "completions.jsonl").is_file()
        benchmark = (out / "eval" / "benchmark" / model / "verdicts.jsonl").read_text().splitlines()
        assert len(benchmark) == evaluation.benchmark.base.prompts == BENCHMARK_PROMPTS
    levels = ["extract", "syntax", "structure", "lint", "import"]
    comparison = json.loads((out / "eval" / "heldout" / "comparison.json").read_text())
    assert [row["level"] for row in comparison] == levels
    comparison = json.loads((out / "eval" / "benchmark" / "comparison.json").read_text())
    assert [row["level"] for row in comparison] == [*levels, "intent"]
    for experiment in (evaluation.benchmark, evaluation.heldout):  # validity after 0..N repairs, per model
        for judged in (experiment.base, experiment.tuned):
            assert [row.repairs for row in judged.repairs] == list(range(REPAIRS + 1)), judged.folder
            assert list(judged.repairs[0].rates) == levels  # the loop's judge stops at import
    assert evaluation.benchmark.tags and evaluation.heldout.tags == []
    assert sum(t.n for t in evaluation.benchmark.tags) >= BENCHMARK_PROMPTS
    report = (out / "report" / "report.md").read_text()
    assert "## Base vs tuned" in report and "| import |" in report and "train conversations" in report
    assert "## Request benchmark" in report and "## Held-out split" in report and "| intent |" in report
    assert "Validity after repairs, tuned:" in report and "Per tag, at intent:" in report
    # The loop as `airflow-net generate` runs it (dagcore.RETRY_BY_DEFAULT), named where its numbers are.
    retry = (
        "the request asked afresh, sampled at temperature 0.8 under the answer grammar, the name guard and the "
        "version guard"
    )
    assert f"after up to 1 retry ({retry}), up to import" in report
    assert "| base after 1 retry | tuned after 1 retry |" in report
    assert "## Verifier as teacher" in report
    assert (out / "results" / "report.html").is_file() and (out / "results" / "plots" / "loss.png").is_file()
    readme = config.readme.read_text() if config.readme else ""
    assert readme.startswith("# tiny\n\nProse the writer keeps.\n\n<!-- results:tiny:start -->\n")
    assert readme.endswith("\n<!-- results:tiny:end -->\n\nMore.\n") and "old numbers" not in readme
    assert "Pipeline `tiny`, judged on " in readme and "**Request benchmark**" in readme
    assert "| intent |" in readme and "| tuned after 1 retry |" in readme

    again = run_pipeline(config)
    assert all(status.startswith("skipped") for status in again.status.values()), again.status
    assert config.readme is not None and config.readme.read_text() == readme


def test_a_config_change_reruns_that_stage_and_what_follows(source: Path, tmp_path: Path) -> None:
    base = make_tiny_model(tmp_path / "tiny-base", [*DAGS_2.values()])
    config = tiny_config(source, base, tmp_path / "run")
    run_pipeline(config, until="dataset")
    changed = config.model_copy(update={"dataset": config.dataset.model_copy(update={"test_fraction": 0.4})})
    again = run_pipeline(changed, until="dataset")
    assert again.status["mine"].startswith("skipped") and again.status["base"].startswith("skipped")
    assert again.status["dataset"].endswith("done[/]")


def test_a_contract_set_in_the_config_reaches_the_ggufs_the_server_and_the_eval(
    first_run: tuple[PipelineConfig, Runner], tmp_path: Path
) -> None:
    config, first = first_run
    assert CONTRACT != DEFAULT_CONTRACT
    dataset = json.loads((config.out / "dataset" / "manifest.json").read_text())
    assert PromptContract.model_validate(dataset["config"]["contract"]) == CONTRACT
    tuned: Path = first.results["export"].gguf
    base: Path = first.results["base"].gguf.gguf
    for gguf in (tuned, base):  # the base model is prompted like the tuned one: a fair comparison
        assert PromptContract.from_metadata(dagtune.read_metadata(gguf)) == CONTRACT, gguf

    state = tmp_path / "server"
    served = dagserve.start_server(dagserve.ServeConfig(model=str(tuned), port=0, ctx=512), state_dir=state)
    try:
        contract = httpx.get(f"{served.url}/v1/dagserve/contract", timeout=30).json()
    finally:
        dagserve.stop_server(state_dir=state)
    assert PromptContract.model_validate(contract) == CONTRACT

    user = re.compile(r"Airflow (\d+\.\d+|latest), please: \S")
    benchmark = [json.loads(line) for line in dageval.benchmark_file().read_text().splitlines()]
    for model in ("base", "tuned"):
        for prompt_set in ("heldout", "benchmark"):
            completions = config.out / "eval" / prompt_set / model / "completions.jsonl"
            rows = [json.loads(line) for line in completions.read_text().splitlines()]
            assert rows
            for row in rows:
                system, request = row["messages"][0], row["messages"][1]
                assert system == {"role": "system", "content": CONTRACT.system_message(row["airflow_version"])}
                assert request["role"] == "user" and user.match(request["content"]), request
        asked = {row["prompt_id"]: row["messages"][:2] for row in rows}  # the benchmark's, in the contract's words
        assert asked == {
            b["id"]: CONTRACT.messages(b["request"], AirflowVersion(b["airflow_version"]))
            for b in benchmark[:BENCHMARK_PROMPTS]
        }


def test_the_readme_writer_replaces_only_its_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    before = "# title\r\n\r\nkept <!-- results:other:start -->x<!-- results:other:end -->\r\n"
    readme.write_bytes(f"{before}<!-- results:tiny:start -->\nold\n<!-- results:tiny:end -->\r\ntail\r\n".encode())
    assert write_block(readme, "tiny", "| a | b |\n|---|---|\n")
    expected = f"{before}<!-- results:tiny:start -->\n| a | b |\n|---|---|\n<!-- results:tiny:end -->\r\ntail\r\n"
    assert readme.read_bytes().decode() == expected  # bytes outside the block as they were, CRLF included
    assert read_block(readme, "tiny") == "| a | b |\n|---|---|"
    assert not write_block(readme, "tiny", "| a | b |\n|---|---|") and readme.read_bytes().decode() == expected
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]  # no temporary file left behind
    with pytest.raises(dageval.InputError, match="no <!-- results:missing:start -->"):
        write_block(readme, "missing", "x")
    readme.write_text(expected + "<!-- results:tiny:start -->\n<!-- results:tiny:end -->\n")
    with pytest.raises(dageval.InputError, match="more than one"):
        write_block(readme, "tiny", "x")


def test_a_prompt_set_may_set_its_own_retries() -> None:
    from airflow_net.pipeline.stages import judge_config

    config = PipelineConfig.model_validate(
        {"eval": {"repairs": 2, "max_tokens": 640, "heldout": {"level": "import", "repairs": 0}}}
    )
    benchmark, heldout = judge_config(config.eval, "benchmark"), judge_config(config.eval, "heldout")
    assert (benchmark.repairs, heldout.repairs) == (2, 0)
    assert benchmark.max_tokens == heldout.max_tokens == 640
    with pytest.raises(ValueError, match="repairs"):
        PipelineConfig.model_validate({"eval": {"heldout": {"repairs": -1}}})


def test_the_base_may_be_judged_with_fewer_retries(tmp_path: Path) -> None:
    from airflow_net.pipeline.stages import prompt_sets

    config = PipelineConfig.model_validate({"eval": {"repairs": 2, "base_repairs": 0, "heldout": {"repairs": 1}}})
    benchmark, heldout = prompt_sets(config.eval, tmp_path / "benchmark.jsonl", tmp_path / "test.jsonl")
    assert (benchmark.name, benchmark.judge.repairs, benchmark.base_judge().repairs) == ("benchmark", 2, 0)
    assert (heldout.prompts.name, heldout.judge.repairs, heldout.base_judge().repairs) == ("test.jsonl", 1, 0)
    alike = prompt_sets(PipelineConfig.model_validate({"eval": {"repairs": 2}}).eval, tmp_path, tmp_path)
    assert [s.base_judge() == s.judge for s in alike] == [True, True]  # by default both models get the retries
    with pytest.raises(ValueError, match="base_repairs"):
        PipelineConfig.model_validate({"eval": {"base_repairs": -1}})


def test_a_head_vocabulary_reads_the_mined_distributions(tmp_path: Path) -> None:
    from airflow_net.pipeline.stages import dists_dir, train_config

    config = PipelineConfig.model_validate({"out": tmp_path, "train": {"backend": "hf"}})
    seen = {"head_vocab": "seen", "shared_prefix": True}
    assert train_config(seen, config).head_corpus is None  # nothing mined from PyPI: the training rows alone
    dists_dir(config).mkdir()
    assert train_config(seen, config).head_corpus == tmp_path / "dists"
    assert train_config({**seen, "head_corpus": tmp_path / "mine"}, config).head_corpus == tmp_path / "mine"
    assert train_config({}, config).head_corpus is None  # the whole vocabulary needs no corpus
    assert train_config({}, config).backend == "hf"


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[1].glob("configs/*.yaml")), ids=lambda p: p.name)
def test_the_shipped_configs_load(path: Path) -> None:
    from airflow_net.pipeline import load_pipeline_config

    if path.name.startswith("train-"):
        assert dagtune.load_config(path).max_seq_length > 0
        return
    config = load_pipeline_config(path)
    assert config.name == path.stem  # the README block and results folder are named after it


def test_the_headline_says_when_the_base_was_not_retried(tmp_path: Path) -> None:
    from airflow_net.pipeline.headline import comparison_table, describe
    from dagcore import Retry

    def judged(name: str, rates: list[float]) -> dageval.JudgedModel:
        rows = [dageval.RepairRow(repairs=n, rates={"import": r}, samples=4) for n, r in enumerate(rates)]
        summary = dageval.Summary(samples=4, levels=[])
        files = {k: tmp_path / k for k in ("folder", "model", "completions", "verdicts", "report")}
        return dageval.JudgedModel(name=name, prompts=4, samples_per_prompt=1, summary=summary, repairs=rows, **files)

    pairs = {"pairs": 4, "ci_low": 0.25, "ci_high": 1.0, "base_only": 0, "tuned_only": 2, "mcnemar_p": 0.5}
    comparison = dageval.Comparison(level="import", base_rate=0.0, tuned_rate=0.5, difference=0.5, **pairs)
    experiment = dageval.Experiment(
        folder=tmp_path,
        base=judged("base", []),
        tuned=judged("tuned", [0.5, 0.75, 1.0]),
        comparisons=[comparison],
        comparison_file=tmp_path,
        report=tmp_path,
    )
    retry = Retry(feedback=False, temperature=0.8)
    table = comparison_table(experiment, retry)
    assert table[0].endswith("| base, retries not judged | tuned after 2 retries |")
    assert table[2].endswith("| 0.0% | 50.0% | +50.0 pts | [+25.0, +100.0] | 0.5 | n/a | 100.0% |")
    assert describe(experiment, retry).endswith("up to import; the base single-shot only (eval.base_repairs).")
    grammared = retry.model_copy(update={"grammar": True})
    assert "0.8 under the answer grammar, the name guard and the version guard)" in describe(experiment, grammared)
    assert "0.8 under the answer grammar and the name guard)" in describe(
        experiment, grammared, {"version_guard": None}
    )
    retried = experiment.model_copy(update={"base": judged("base", [0.0, 0.0, 0.25])})
    assert comparison_table(retried, retry)[0].endswith("| base after 2 retries | tuned after 2 retries |")
    assert "25.0% | 100.0% |" in comparison_table(retried, retry)[2] and "the base" not in describe(retried)
