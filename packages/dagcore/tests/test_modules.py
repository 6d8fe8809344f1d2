"""The bundled table of Airflow's modules and names (read from real installs by scripts/airflow_names.py)."""

from __future__ import annotations

import pytest

from dagcore.modules import SeriesTable, series_known
from dagcore.names import CORE, NOTED, PROVIDERS, asset_class, import_lines


def _table(version: str) -> SeriesTable:
    table = SeriesTable.for_version(version)
    assert table is not None
    return table


def test_the_table_holds_the_series_dageval_judges_on() -> None:
    assert series_known() == ["2.9", "2.10", "3.0", "3.1"]
    assert [_table(s).release for s in ("2.9", "2.10.5", "3.0", "3.1.3")] == ["2.9.3", "2.10.5", "3.0.6", "3.1.8"]
    # A series the table lacks reads the nearest of its major; a major it lacks has no table.
    assert (_table("2.7").release, _table("3.2").release, SeriesTable.for_version("1.10.15")) == (
        "2.9.3",
        "3.1.8",
        None,
    )


@pytest.mark.parametrize("series", ["2.9", "2.10", "3.0", "3.1"])
def test_every_import_dagcore_teaches_exists_in_every_series_of_its_major(series: str) -> None:
    # dagcore.names is what composed files and the prompt's import block are written from: the table must agree.
    table = _table(series)
    major = int(series.split(".")[0])
    names = [n for n in [*CORE, *PROVIDERS] if n in PROVIDERS or CORE[n][0 if major < 3 else 1]]
    wrong = {n for n in names if table.refusal(import_lines([n], major)[0]) is not None}
    assert wrong == ({"BaseHook"} if series == "3.0" else set())  # `airflow.sdk.BaseHook` is new in 3.1
    for line in import_lines([*{*names, *NOTED, asset_class(major)} - wrong], major):
        assert table.refusal(line) is None, line


def test_what_a_small_model_invents_is_refused_with_what_is_wrong() -> None:
    three, two = _table("3.1"), _table("2.10")
    assert three.refusal("from airflow.sdk import EmptyOperator") == (
        "cannot import EmptyOperator from airflow.sdk in Airflow 3.1.8"
    )
    assert "does not exist in Airflow 3.1.8" in (three.refusal("from airflow.providers.amazon.redshift import X") or "")
    assert "cannot import EmailOperator" in (two.refusal("from airflow.utils.email import EmailOperator") or "")
    assert two.refusal("from airflow.sdk import dag") is not None  # Airflow 3's module, asked for 2.10
    assert two.refusal("import airflow.providers.mlflow") is not None  # a provider Airflow does not publish
    assert three.refusal("from airflow.providers.google.cloud.operators.gcs import GCSCreateJobOperator") is not None


def test_real_imports_pass_in_every_form() -> None:
    three, two = _table("3.1"), _table("2.9")
    for statement in (
        "from airflow.sdk import DAG, task as t, Asset",
        "from airflow.providers.google.cloud.operators.gcs import (\n    GCSCreateBucketOperator,  # make\n)",
        "from airflow.providers.google.cloud.operators import gcs",  # a submodule is a package's name
        "import airflow.providers.amazon.aws.hooks.s3 as s3, datetime",
        "from airflow.utils.trigger_rule import TriggerRule",  # a virtual module Airflow 3 keeps for old code
        "from airflow.providers.mongo.hooks.mongo import MongoHook",  # published, not installed: any module
        "from datetime import datetime",  # not Airflow's: never checked
        "from airflow.sdk import *",
    ):
        assert three.refusal(statement) is None, statement
    assert two.refusal("from airflow.operators.bash import BashOperator") is None
    assert (
        two.refusal("from airflow.datasets import Dataset") is None
        and three.refusal("from airflow.datasets import Dataset") is None
    )


def test_a_cut_statement_is_refused_only_where_it_can_no_longer_become_right() -> None:
    three = _table("3.1")
    for cut in (
        "from airflow.pro",
        "from airflow.providers.amazon.aws.ho",
        "from airflow.sdk imp",
        "from airflow.sdk import Ta",
        "from airf",
    ):
        assert three.refusal(cut, complete=False) is None, cut
    for cut in ("from airflow.providers.amazon.red", "from airflow.sdk import Em", "from airflow.providers.mlf"):
        assert three.refusal(cut, complete=False) is not None, cut
    assert three.refusal("from airflow.sdk import Ta", complete=True) is not None  # ended there, it is no name


def test_a_trigger_rule_must_be_one_the_series_has() -> None:
    three, two = _table("3.1"), _table("2.10")
    assert three.value_refusal('    end = EmptyOperator(task_id="end", trigger_rule="all_done")') is None
    assert three.value_refusal("trigger_rule=TriggerRule.ONE_FAILED,") is None
    assert three.value_refusal('trigger_rule="on_failure",') == (
        'trigger_rule="on_failure" is none of Airflow 3.1.8\'s trigger rules'
    )
    # Each series its own: `all_done_min_one_success` is new in 3.1, `none_failed_or_skipped` gone in 3.0.
    assert two.value_refusal('trigger_rule="all_done_min_one_success"') is not None
    assert three.value_refusal('trigger_rule="none_failed_or_skipped"') is not None
    assert two.value_refusal('trigger_rule="none_failed_or_skipped"') is None
    # Cut while written: refused only once no value begins so.
    assert three.value_refusal('trigger_rule="one_fa', complete=False) is None
    assert three.value_refusal('trigger_rule="on_', complete=False) is not None
    assert three.value_refusal("trigger_rule=TriggerRule.ALL_DO", complete=False) is None
    assert three.value_refusal("trigger_rule=rule, retries=2") is None  # a name: its value is not known here
