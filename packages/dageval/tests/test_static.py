"""Levels 1-4 (extract, syntax, structure, Airflow lint) and the statistics, on hand-made completions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dageval
from dageval import Level, Sample, evaluate

GOOD = """from airflow import DAG
from airflow.providers.standard.operators.bash import BashOperator

with DAG(dag_id="ok", schedule="@daily") as dag:
    a = BashOperator(task_id="a", bash_command="echo a")
    b = BashOperator(task_id="b", bash_command="echo b")
    a >> b
"""
TASKFLOW = """from airflow.sdk import dag, task


@dag(schedule=None)
def flow():
    @task
    def one():
        return 1

    @task.python
    def two(x):
        print(x)

    two(one())


flow()
"""


def fenced(code: str, prose: str = "Here is the DAG:") -> str:
    return f"{prose}\n\n```python\n{code}```\n\nIt runs daily."


def verdict(completion: str, version: str | None = "3.1", finish: str | None = None) -> dageval.Verdict:
    [result] = evaluate([Sample(id="s", completion=completion, airflow_version=version, finish_reason=finish)])
    return result


def failure(completion: str, **kwargs: object) -> tuple[str, str]:
    result = verdict(completion, **kwargs)  # type: ignore[arg-type]
    failed = result.failure
    assert failed is not None, "expected a failure"
    return failed.level.label, failed.category


class TestExtract:
    def test_good_dag_in_prose_passes_every_static_level(self) -> None:
        result = verdict(fenced(GOOD))
        assert result.passed == Level.LINT
        assert result.code == GOOD

    def test_taskflow_and_bare_code(self) -> None:
        assert verdict(TASKFLOW).passed == Level.LINT

    def test_longest_python_block_wins(self) -> None:
        completion = "```bash\npip install apache-airflow\n```\n" + fenced(GOOD) + "\n```python\nprint(1)\n```"
        assert verdict(completion).code == GOOD

    def test_no_code(self) -> None:
        assert failure("I cannot help with that request, sorry.") == ("extract", "no_code")

    def test_truncated_by_the_token_limit(self) -> None:
        assert failure(fenced(GOOD), finish="length") == ("extract", "truncated")

    def test_unclosed_code_from_a_model_that_stopped_is_a_syntax_error(self) -> None:
        cut = fenced(GOOD[: len(GOOD) // 2].rstrip() + "(\n")
        assert failure(cut, finish="stop")[1] == "syntax_error"

    def test_truncated_mid_statement_is_not_a_syntax_error(self) -> None:
        cut = "```python\n" + GOOD[: GOOD.index('bash_command="echo b"')]
        assert failure(cut) == ("extract", "truncated")

    def test_a_real_syntax_error_is_one(self) -> None:
        broken = GOOD.replace("a >> b", "a >> >> b\nx = 1")
        level, category = failure(fenced(broken))
        assert (level, category) == ("syntax", "syntax_error")


class TestStructure:
    @pytest.mark.parametrize(
        ("code", "category"),
        [
            ("import os\nprint(os.getcwd())\n", "no_dag"),
            ('from airflow import DAG\nwith DAG(dag_id="x") as dag:\n    pass\n', "no_tasks"),
            (GOOD.replace('task_id="b"', 'task_id="a"'), "duplicate_task_id"),
            (GOOD.replace("a >> b", "a >> b >> a"), "cycle"),
            (GOOD.replace("a >> b", "a.set_downstream(b)\n    b.set_downstream(a)"), "cycle"),
            (GOOD.replace("a >> b", "chain(a, b)\n    b >> a"), "cycle"),
            ("from tests.system.utils import get_test_run\n" + GOOD, "test_internals"),
            ("from tests_common.test_utils.watcher import watcher\n" + GOOD, "test_internals"),
        ],
    )
    def test_structure_failures(self, code: str, category: str) -> None:
        assert failure(fenced(code)) == ("structure", category)

    def test_fan_in_is_not_a_cycle(self) -> None:
        code = GOOD.replace("a >> b", "c = BashOperator(task_id='c', bash_command='x')\n    [a, b] >> c")
        assert verdict(fenced(code)).passed == Level.LINT


class TestLint:
    OLD = GOOD.replace('schedule="@daily"', 'schedule_interval="@daily"')

    def test_removed_in_airflow_3_fails_on_3_and_is_recorded_on_2(self) -> None:
        on_3 = verdict(fenced(self.OLD), version="3.1")
        assert on_3.failure is not None and on_3.failure.category == "removed_in_airflow_3"
        assert "AIR301" in on_3.failure.codes
        on_2 = verdict(fenced(self.OLD), version="2.10")
        assert on_2.passed == Level.LINT
        assert "AIR301" in on_2.results[-1].codes

    def test_lint_runs_in_one_batch(self) -> None:
        samples = [
            Sample(id=str(i), completion=fenced(GOOD if i % 2 else self.OLD), airflow_version="3.0") for i in range(40)
        ]
        verdicts = evaluate(samples)
        assert sum(v.passed == Level.LINT for v in verdicts) == 20


def test_version_is_the_rows_field_else_read_once_from_a_foreign_prompt(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "airflow_version": "2.9.3", "prompt": "Target: Apache Airflow 3.1", "completion": "x = 1"},
        {"id": "b", "prompt": "Copy files.\n\nTarget: Apache Airflow 2.10", "completion": "x = 1"},
        {"id": "c", "prompt": "Airflow Version: 2.9.3\nWrite a DAG", "completion": "x = 1"},
        {"id": "d", "prompt": "Write a DAG", "completion": "x = 1"},
    ]
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [s.airflow_version for s in dageval.read_samples(path)] == ["2.9.3", "2.10", "2.9.3", None]
    path.write_text(json.dumps({"id": "e", "airflow_version": "latest", "prompt": "p", "completion": "x"}) + "\n")
    with pytest.raises(dageval.InputError, match=r"s.jsonl:1: airflow_version: .*looks like 2.10"):
        dageval.read_samples(path)


def test_inputs_chat_prompt_completion_and_folder(tmp_path: Path) -> None:
    rows = [
        {
            "id": "c1",
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "x\n\nTarget: Apache Airflow 2.10"},
                {"role": "assistant", "content": fenced(GOOD)},
            ],
        },
        {"id": "p1", "prompt": "Airflow Version: 3.1", "completion": fenced(GOOD), "finish_reason": "length"},
    ]
    file = tmp_path / "samples.jsonl"
    file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    chat, plain = dageval.read_samples(file)
    assert (chat.airflow_version, plain.airflow_version, plain.finish_reason) == ("2.10", "3.1", "length")
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "a.py").write_text(GOOD)
    [sample] = dageval.read_samples(tmp_path / "dags")
    assert sample.id == "a.py"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x"}\n')
    with pytest.raises(dageval.InputError, match="messages"):
        dageval.read_samples(bad)


class TestStats:
    def test_summary_counts_per_level(self) -> None:
        samples = [
            Sample(id=str(i), completion=c, airflow_version="3.1")
            for i, c in enumerate([fenced(GOOD), "no code here at all", fenced(GOOD.replace("a >> b", "a >> b >> a"))])
        ]
        summary = dageval.summarize(evaluate(samples))
        rows = {row.level: (row.passed, row.failed, row.categories) for row in summary.levels}
        assert rows["extract"] == (2, 1, {"no_code": 1})
        assert rows["structure"] == (1, 2, {"no_code": 1, "cycle": 1})
        assert rows["lint"][0] == 1

    def test_pass_at_k(self) -> None:
        assert dageval.pass_at_k(5, 0, 1) == 0.0
        assert dageval.pass_at_k(5, 5, 1) == 1.0
        assert dageval.pass_at_k(4, 2, 1) == pytest.approx(0.5)
        assert dageval.pass_at_k(4, 2, 2) == pytest.approx(1 - (2 / 4) * (1 / 3))
        samples = [
            Sample(id=f"{p}-{i}", prompt_id=p, completion=fenced(GOOD) if i < 2 else "nothing")
            for p in ("x", "y")
            for i in range(4)
        ]
        assert dageval.summarize(evaluate(samples)).pass_at_k["lint"]["pass@1"] == pytest.approx(0.5)

    def test_paired_comparison_ci_and_mcnemar(self) -> None:
        def run(good: int) -> list[dageval.Verdict]:
            return evaluate([Sample(id=str(i), completion=fenced(GOOD) if i < good else "nope") for i in range(40)])

        result = dageval.compare(run(10), run(30), Level.LINT)
        assert (result.pairs, result.base_rate, result.tuned_rate) == (40, 0.25, 0.75)
        assert result.difference == pytest.approx(0.5)
        assert result.ci_low < 0.5 < result.ci_high and result.ci_low > 0.3
        assert (result.base_only, result.tuned_only) == (0, 20)
        assert result.mcnemar_p == pytest.approx(2 * 0.5**20)
        same = dageval.compare(run(10), run(10), Level.LINT)
        assert (same.difference, same.mcnemar_p) == (0.0, 1.0)


class TestNoFalseAlarms:
    """Real Airflow examples that a naive static check flags: each must pass the structure level."""

    def test_task_ids_reused_in_task_groups_and_in_other_dags(self) -> None:
        code = """from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.utils.task_group import TaskGroup

with DAG(dag_id="groups") as dag:
    with TaskGroup("one"):
        EmptyOperator(task_id="task_1")
    with TaskGroup("two"):
        EmptyOperator(task_id="task_1")

with DAG(dag_id="second") as other:
    EmptyOperator(task_id="task_1")
"""
        assert verdict(fenced(code), version="2.10").passed == Level.LINT

    def test_a_reused_loop_variable_is_not_a_cycle(self) -> None:
        code = """from airflow import DAG
from airflow.operators.bash import BashOperator

dag = DAG(dag_id="loop")
end = BashOperator(task_id="end", bash_command="x", dag=dag)
for i in range(3):
    task = BashOperator(task_id=f"t{i}", bash_command="x", dag=dag)
    task >> end
task = BashOperator(task_id="first", bash_command="x", dag=dag)
end >> task
"""
        assert verdict(fenced(code), version="2.10").passed == Level.LINT

    def test_mapped_and_partial_tasks_count_as_tasks(self) -> None:
        code = """from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG(dag_id="mapped") as dag:
    BashOperator.partial(task_id="echo").expand(bash_command=["a", "b"])
"""
        assert verdict(fenced(code), version="2.10").passed == Level.LINT


def test_report_markdown_html_and_plots(tmp_path: Path) -> None:
    def run(good: int) -> list[dageval.Verdict]:
        return evaluate([Sample(id=str(i), completion=fenced(GOOD) if i < good else "nope") for i in range(20)])

    base, tuned = run(5), run(15)
    comparisons = [dageval.compare(base, tuned, level) for level in (Level.SYNTAX, Level.LINT)]
    page = dageval.write_report(tmp_path, dageval.summarize(tuned), comparisons, title="base vs tuned")
    text = (tmp_path / "report.md").read_text()
    assert "| lint | 15 | 5 | 75.0% | no_code 5 |" in text
    assert "| lint | 20 | 25.0% | 75.0% | +50.0% |" in text
    assert "<table>" in page.read_text() and "plots/comparison.png" in page.read_text()
    for name in ("validity", "failures", "comparison"):
        assert (tmp_path / "plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
