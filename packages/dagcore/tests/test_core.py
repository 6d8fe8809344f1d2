"""dagcore: the version type, the contract, the code rule, the test-internals rule."""

from __future__ import annotations

import pickle

import pytest
from pydantic import BaseModel

from dagcore import (
    DEFAULT_CONTRACT,
    AirflowVersion,
    Judgement,
    PromptContract,
    VersionError,
    best_index,
    extract_code,
    is_test_internal,
    series,
)


class Record(BaseModel):
    airflow_version: AirflowVersion | None = None


def test_version_orders_numerically_and_prints_its_text() -> None:
    versions = [AirflowVersion(v) for v in ["2.10.5", "2.9.3", "3.1", "3.1.0rc1", "3.1.0", "2.10", "v1.10.15"]]
    assert [str(v) for v in sorted(versions)] == ["1.10.15", "2.9.3", "2.10", "2.10.5", "3.1", "3.1.0rc1", "3.1.0"]
    assert AirflowVersion("2.10.5").series == "2.10" and AirflowVersion("2.10.5").is_release
    assert not AirflowVersion("2.10").is_release
    assert AirflowVersion("2.10.5").in_series(AirflowVersion("2.10"))
    assert not AirflowVersion("2.1.5").in_series(AirflowVersion("2.10"))
    assert (
        AirflowVersion("2.10.5") == AirflowVersion("2.10.5")
        and len({AirflowVersion("3.1"), AirflowVersion("3.1")}) == 1
    )
    assert pickle.loads(pickle.dumps(AirflowVersion("3.1.0rc1"))) == AirflowVersion("3.1.0rc1")
    assert AirflowVersion("2.10.5") == "2.10.5" and AirflowVersion("v2.10.5") != "v2.10.5"
    assert AirflowVersion("2.10") != "2.10.0" and {"3.1.8": 1}[AirflowVersion("3.1.8")] == 1
    assert series(None) == "latest" and series(AirflowVersion("3.0.6")) == "3.0"


@pytest.mark.parametrize("text", ["", "latest", "2", "2.x", "3.1.x", "3.1rc1", "two.ten"])
def test_not_a_version_says_what_one_looks_like(text: str) -> None:
    with pytest.raises(VersionError, match=r"looks like 2\.10|names its patch"):
        AirflowVersion(text)


def test_version_is_a_field_written_as_text() -> None:
    record = Record.model_validate_json('{"airflow_version": "2.10.5"}')
    assert record.airflow_version == AirflowVersion("2.10.5")
    assert record.model_dump_json() == '{"airflow_version":"2.10.5"}'
    assert record.model_dump(mode="json") == {"airflow_version": "2.10.5"}
    assert Record(airflow_version=None).model_dump_json() == '{"airflow_version":null}'
    with pytest.raises(ValueError, match=r"looks like 2\.10"):
        Record.model_validate({"airflow_version": "two"})
    with pytest.raises(ValueError, match="is a string"):
        Record.model_validate({"airflow_version": 2.1})


def test_version_found_in_prose_once() -> None:
    assert AirflowVersion.find("Copy files.\n\nTarget: Apache Airflow 2.10") == AirflowVersion("2.10")
    assert AirflowVersion.find("Airflow Version: 2.9.3\nWrite a DAG") == AirflowVersion("2.9.3")
    assert AirflowVersion.find("an Airflow 3.1 DAG that") == AirflowVersion("3.1")
    assert AirflowVersion.find("Write a DAG") is None


def test_contract_states_the_series_and_round_trips_through_metadata() -> None:
    assert DEFAULT_CONTRACT.user("Do it. ", AirflowVersion("2.10.5")).endswith("Target: Apache Airflow 2.10")
    assert DEFAULT_CONTRACT.user("Do it.", "3.1").endswith("Target: Apache Airflow 3.1")
    assert DEFAULT_CONTRACT.user("Do it.", None).endswith("Target: Apache Airflow latest")
    other = PromptContract(system="Write DAGs.", user_template="Airflow {airflow_version}: {request}", notes={})
    messages = other.messages("Copy S3 to GCS", "3.0.6", "x = 1\n")
    assert messages == [
        {"role": "system", "content": "Write DAGs."},
        {"role": "user", "content": "Airflow 3.0: Copy S3 to GCS"},
        {"role": "assistant", "content": "```python\nx = 1\n```"},
    ]
    assert PromptContract.from_metadata(other.metadata()) == other
    assert PromptContract.from_metadata({"general.name": "x"}) == DEFAULT_CONTRACT
    assert PromptContract.from_metadata({**other.metadata(), "airflow_net.prompt.future": "?"}) == other
    assert PromptContract.from_metadata(DEFAULT_CONTRACT.metadata()) == DEFAULT_CONTRACT


def test_the_system_message_shows_the_target_majors_imports() -> None:
    two, three, unknown = (DEFAULT_CONTRACT.system_message(v) for v in ("2.9.3", "3.1", None))
    assert two.startswith(DEFAULT_CONTRACT.system) and three.startswith(DEFAULT_CONTRACT.system)
    assert "from airflow.decorators import dag, task, task_group" in two and "airflow.sdk" not in two
    assert "from airflow.datasets import Dataset" in two
    assert "from airflow.sdk import Asset, DAG, dag, task, task_group" in three and "airflow.decorators" not in three
    assert unknown == three  # no version known: the latest major
    # A model file or dataset made before contract 2 carries no notes: it is prompted as it was trained, without them.
    old = {k: v for k, v in DEFAULT_CONTRACT.metadata().items() if not k.endswith(("notes", "notes_header"))}
    assert PromptContract.from_metadata({**old, "airflow_net.prompt.version": "1"}).system_message("2.10") == (
        DEFAULT_CONTRACT.system
    )
    manifest = DEFAULT_CONTRACT.model_dump(exclude={"notes", "notes_header"}) | {"version": "1"}
    assert PromptContract.model_validate(manifest).notes == {}


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (
            "Here:\n```python\nimport os\n```\nand a longer one\n```python\nimport os\nimport sys\n```\n",
            "import os\nimport sys\n",
        ),
        ("```py\na = 1\n```", "a = 1\n"),
        ("```\nb = 2\n```", "b = 2\n"),
        ("```python\nx = 1\ny = (\n", "x = 1\ny = (\n"),  # cut off by max_tokens: up to the end
        ("x = 1\nprint(x)\n", "x = 1\nprint(x)\n"),  # bare code
        ("```python\nab = 1\n```\n```python\ncd = 2\n```", "ab = 1\n"),  # the first of equals
        ("```bash\npip install x\n```\n```python\nimport x\n```", "import x\n"),
        ("Sorry, I cannot do that.", None),
        ("", None),
        ("```bash\nls\n```", None),
    ],
)
def test_one_rule_for_the_code_of_an_answer(answer: str, code: str | None) -> None:
    assert extract_code(answer) == code


def test_contract_answer_round_trips_through_the_rule() -> None:
    code = "from airflow import DAG\n\nwith DAG('x') as dag:\n    pass\n"
    assert extract_code(DEFAULT_CONTRACT.answer(code)) == code


def test_an_answer_cut_at_the_contracts_stop_string_still_gives_its_code() -> None:
    code = "from airflow import DAG\n\nwith DAG('x') as dag:\n    pass"
    assert DEFAULT_CONTRACT.stop == ["\n```\n"]
    answer = "Here it is:\n" + DEFAULT_CONTRACT.answer(code) + "\nThis DAG runs daily.\n```python\nmore"
    cut = answer.split(DEFAULT_CONTRACT.stop[0])[0]  # what a server returns: the opening fence did not match
    assert cut == "Here it is:\n```python\n" + code
    assert extract_code(cut) == code + "\n"
    assert PromptContract(answer_template="{code}").stop == []  # nothing after the code: nothing to stop at


@pytest.mark.parametrize(
    ("module", "internal"),
    [
        ("tests.system.utils", True),
        ("tests_common.test_utils.system_tests", True),
        ("dev.tests_common.x", True),
        ("system.openlineage.operator", True),
        ("providers.google.tests.system.utils", True),
        ("airflow.operators.python", False),
        ("airflow.utils.test_utils", True),
        ("dev.helpers", False),
        ("mycompany.testing", False),
    ],
)
def test_test_internals(module: str, internal: bool) -> None:
    assert is_test_internal(module) is internal


def test_the_loop_hands_over_the_valid_answer_else_the_closest() -> None:
    def verdict(ok: bool, passed: int) -> Judgement:
        levels = [{"level": n, "ok": n < passed} for n in range(4)]
        return Judgement(ok=ok, details={"levels": levels})

    assert verdict(False, 2).depth == 2 and Judgement(ok=False).depth == 0  # a judge that lists no levels
    assert best_index([verdict(False, 2), verdict(False, 1), verdict(False, 0)]) == 0  # repairs made it worse
    assert best_index([verdict(False, 2), verdict(False, 2)]) == 1  # equals: the later, which saw the feedback
    assert best_index([verdict(False, 3), verdict(True, 4)]) == 1
