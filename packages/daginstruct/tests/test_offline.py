"""daginstruct without any model: requests, validation, cost estimate, template backend, store, resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import daginstruct
from daginstruct import DagInput, InstructConfig, check, estimate, instruct
from daginstruct.pricing import estimate_tokens
from daginstruct.store import RESULTS, Store
from daginstruct.styles import build_requests, styles_for, version_label

DAG_CODE = '''"""Copy the daily sales export to the warehouse."""
from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG(dag_id="sales_export", schedule="@daily") as dag:
    BashOperator(task_id="copy", bash_command="cp a b")
'''


def dag(i: int = 0, version: str | None = "2.10.5") -> DagInput:
    return DagInput(id=f"{i:016x}", code=DAG_CODE.replace("sales_export", f"sales_export_{i}"), airflow_version=version)


class TestRequests:
    def test_one_request_per_dag_and_style_with_deterministic_ids(self) -> None:
        requests = build_requests([dag(1), dag(2)], ["terse", "detailed", "business"], 3)
        assert [r.custom_id for r in requests] == [
            f"{1:016x}-terse",
            f"{1:016x}-detailed",
            f"{1:016x}-business",
            f"{2:016x}-terse",
            f"{2:016x}-detailed",
            f"{2:016x}-business",
        ]
        assert all("Airflow 2.10" in r.prompt and "sales_export" in r.prompt for r in requests)
        assert build_requests([dag(1)], ["terse"], 1) == build_requests([dag(1)], ["terse"], 1)

    def test_fewer_styles_than_available_rotate_by_dag(self) -> None:
        picked = {tuple(styles_for(f"{i:016x}", ["terse", "detailed", "business"], 1)) for i in range(30)}
        assert picked == {("terse",), ("detailed",), ("business",)}

    def test_dagmine_record_fields_are_read(self) -> None:
        record = {"id": "abc123", "code": DAG_CODE, "last_version": "3.1.8", "dag_ids": ["x"], "refs": ["3.1.8"]}
        [parsed] = daginstruct.as_inputs([record])
        assert str(parsed.airflow_version) == "3.1.8"
        assert version_label(parsed.airflow_version) == "Airflow 3.1"

    def test_unknown_style_and_empty_code_are_clear_errors(self) -> None:
        with pytest.raises(daginstruct.ConfigError, match="unknown style 'poem'"):
            build_requests([dag()], ["poem"], 1)
        with pytest.raises(daginstruct.InputError, match="has no code"):
            build_requests([DagInput(id="x", code="  ")], ["terse"], 1)
        with pytest.raises(daginstruct.InputError, match="custom_id"):
            build_requests([DagInput(id="has space", code="x")], ["terse"], 1)


class TestValidation:
    def test_clean_answer_passes(self) -> None:
        verdict = check("Create an Airflow 2.10 DAG that copies the sales export daily.", "2.10.5")
        assert verdict.ok and verdict.cleaned == []

    @pytest.mark.parametrize(
        ("raw", "cleaned"),
        [
            ("Here is the request: Create an Airflow 2.10 DAG that copies files daily.", ["preamble"]),
            ("Sure! Here's the user's request:\nCreate an Airflow 2.10 DAG that copies files daily.", ["preamble"]),
            ('"Create an Airflow 2.10 DAG that copies files every day."', ["quotes"]),
            ("Request: Create an Airflow 2.10 DAG that copies files every day.", ["preamble"]),
        ],
    )
    def test_preamble_and_quotes_are_cleaned(self, raw: str, cleaned: list[str]) -> None:
        verdict = check(raw, "2.10.5")
        assert verdict.ok
        assert verdict.text == verdict.text.strip()
        assert verdict.text.startswith("Create an Airflow 2.10 DAG")
        assert verdict.cleaned == cleaned

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            ("", "empty"),
            ("   \n", "empty"),
            ("Copy files.", "too_short"),
            ("Write this:\n```python\nfrom airflow import DAG\n```", "contains_code"),
            ("Create a DAG where\nimport os is used and extract >> load runs daily", "contains_code"),
            ("word " * 600, "too_long"),
        ],
    )
    def test_bad_answers_are_rejected(self, raw: str, reason: str) -> None:
        verdict = check(raw, "2.10.5")
        assert not verdict.ok
        assert verdict.reason == reason

    def test_missing_version_is_added(self) -> None:
        verdict = check("Create a DAG that copies the sales export every day.", "3.1.8")
        assert verdict.ok
        assert verdict.text.endswith("(Use Airflow 3.1.)")
        assert verdict.cleaned == ["version_added"]


def test_cost_estimate_matches_a_hand_count() -> None:
    requests = build_requests([dag(1), dag(2)], ["terse", "business"], 2)
    hand_input = sum(math.ceil(len(r.system) / 4) + math.ceil(len(r.prompt) / 4) for r in requests)
    hand_max_out = 2 * (96 + 256)
    result = estimate(requests, "claude-haiku-4-5", batch=True)
    assert result.input_tokens == hand_input
    assert result.max_output_tokens == hand_max_out
    assert result.max_usd == pytest.approx(0.5 * (hand_input * 1.00 + hand_max_out * 5.00) / 1e6, abs=1e-6)
    assert estimate(requests, "claude-haiku-4-5", batch=False).max_usd == pytest.approx(2 * result.max_usd, abs=2e-6)
    assert estimate_tokens("abcd" * 10) == 10
    with pytest.raises(daginstruct.ConfigError, match="no price"):
        estimate(requests, "gpt-unknown")
    dated = estimate(requests, "claude-haiku-4-5-20251001")
    assert dated.max_usd == result.max_usd


def test_template_backend_end_to_end_and_rerun_is_a_no_op(tmp_path: Path) -> None:
    out = tmp_path / "instruct"
    dags = [dag(i) for i in range(4)]
    summary = instruct(dags, out, InstructConfig(backend="template"))
    assert (summary.requested, summary.written, summary.failed) == (12, 12, 0)
    records = [json.loads(line) for line in (out / "instructions.jsonl").read_text().splitlines()]
    assert len(records) == 12
    first = records[0]
    assert first["backend"] == "template"
    assert first["airflow_version"] == "2.10.5"
    assert "Airflow 2.10" in first["text"] and "sales_export" not in first["text"]  # no dag id: see below
    for record in records:
        assert check(record["text"], "2.10.5").ok, record["text"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["styles"] == {"business": 4, "detailed": 4, "terse": 4}
    mtime = (out / "instructions.jsonl").stat().st_mtime_ns
    again = instruct(dags, out, InstructConfig(backend="template"))
    assert again.skipped
    assert (out / "instructions.jsonl").stat().st_mtime_ns == mtime
    changed = instruct(dags, out, InstructConfig(backend="template", styles=["terse"]))
    assert not changed.skipped and changed.written == 4


def test_auto_backend_without_key_is_the_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    summary = instruct([dag()], tmp_path, InstructConfig(per_dag=1))
    assert summary.backend == "template"
    with pytest.raises(daginstruct.ConfigError, match="ANTHROPIC_API_KEY"):
        instruct([dag()], tmp_path / "b", InstructConfig(backend="anthropic-batch"))


def test_store_survives_a_torn_last_line_and_keeps_results(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.add(
        daginstruct.Instruction(
            custom_id="a-terse", dag_id="a", style="terse", text="t " * 5, airflow_version=None, backend="x", model="m"
        )
    )
    with (tmp_path / RESULTS).open("a") as handle:
        handle.write('{"custom_id": "b-terse", "dag_id"')  # killed mid-write
    reopened = Store(tmp_path)
    assert reopened.done("a-terse")
    assert not reopened.done("b-terse")
    reopened.reject(daginstruct.Outcome(custom_id="b-terse", ok=False, reason="errored", source="batch_1"))
    reopened.reject(daginstruct.Outcome(custom_id="b-terse", ok=False, reason="errored", source="batch_1"))
    assert Store(tmp_path).attempts("b-terse") == 1  # the same batch result read twice counts once


def test_read_dags_errors(tmp_path: Path) -> None:
    with pytest.raises(daginstruct.InputError, match="does not exist"):
        daginstruct.read_dags(tmp_path / "missing.jsonl")
    bad = tmp_path / "dags.jsonl"
    bad.write_text('{"id": "x"}\n')
    with pytest.raises(daginstruct.InputError, match=r"dags.jsonl:1"):
        daginstruct.read_dags(tmp_path)


LEAKY_DAGS = [
    '''"""Load the nightly orders_daily extract into the warehouse_orders table."""
from airflow.sdk import dag, task
from airflow.providers.postgres.hooks.postgres import PostgresHook


@dag(schedule="0 2 * * *", catchup=False)
def orders_nightly_load():
    @task(retries=3)
    def extract_orders() -> list[str]:
        """Read yesterday's orders from the shop database."""
        return []

    @task.branch
    def choose_path(rows: list[str]) -> str:
        return "load_orders" if rows else "skip_load"

    @task
    def load_orders(row: str) -> None:
        PostgresHook().run("select 1")

    rows = extract_orders()
    choose_path(rows) >> load_orders.expand(row=rows)


orders_nightly_load()
''',
    """from airflow import DAG
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.providers.snowflake.transfers.copy_into_snowflake import CopyFromExternalStageToSnowflakeOperator
from airflow.providers.slack.operators.slack_webhook import SlackWebhookOperator

with DAG("s3_to_snowflake_marketing", schedule="@hourly", default_args={"on_failure_callback": print}) as dag:
    wait = S3KeySensor(task_id="wait_for_marketing_file", bucket_key="s3://m/*.csv", deferrable=True)
    copy = CopyFromExternalStageToSnowflakeOperator(task_id="copy_marketing", table="marketing", stage="m")
    note = SlackWebhookOperator(task_id="notify", message="done")
    wait >> copy >> note
""",
]


@pytest.mark.parametrize("code", LEAKY_DAGS)
@pytest.mark.parametrize("style", ["terse", "detailed", "business"])
def test_template_requests_say_what_the_dag_does_without_its_ids(code: str, style: str) -> None:
    from daginstruct.backends._describe import describe
    from daginstruct.backends.template import write

    facts = describe(code)
    text = write(DagInput(id="x", code=code, airflow_version="3.1.3"), style)
    assert "Airflow 3.1" in text and check(text, "3.1.3").ok, text
    ids = {n for n in facts.names if len(n) > 3}
    assert {"orders_nightly_load", "extract_orders", "load_orders"} <= ids or {"copy_marketing", "notify"} <= ids
    assert not [n for n in ids if n.lower() in text.lower()], text
    assert "`" not in text and ".py" not in text and "_" not in text, text


def test_template_requests_carry_the_schedule_steps_and_systems() -> None:
    from daginstruct.backends.template import write

    first = write(DagInput(id="x", code=LEAKY_DAGS[0], airflow_version="2.10.5"), "detailed")
    assert "every day at 02:00" in first and "read yesterday's orders from the shop database" in first
    assert "one task per item" in first or "retry" in first
    second = write(DagInput(id="y", code=LEAKY_DAGS[1], airflow_version="2.10.5"), "detailed")
    assert "every hour" in second and "wait for a file to land in S3" in second and "Slack" in second
