"""generate -> validate (dageval, up to a real Airflow import) -> repair, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from airflow_net_server import AppSettings, create_app
from dagcore import GRAMMAR_BY_DEFAULT, RETRY_BY_DEFAULT
from dageval import Level, Validator
from dagserve import Client

from .scripted import ScriptedModel

GOOD = """```python
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="orders", schedule="@daily"):
    EmptyOperator(task_id="extract") >> EmptyOperator(task_id="load")
```"""
# An invented operator, used: an unused one would only be dropped by the import fixer.
HALLUCINATED = GOOD.replace(
    "from airflow.sdk import DAG", "from airflow.sdk import DAG\nfrom airflow.operators.magic import MagicOperator"
).replace('EmptyOperator(task_id="extract")', 'MagicOperator(task_id="extract")')


@pytest.fixture
def validator() -> Iterator[Validator]:
    with Validator(Level.IMPORT, install_runtimes=True) as checker:
        yield checker


def app_with(model: ScriptedModel, validator: Validator, **settings: Any) -> Any:
    config = AppSettings(endpoint=model.url, **settings)
    return create_app(config, client=Client(model.url), validator=validator)


def test_a_hallucinated_import_is_fed_back_and_repaired(serve: Callable[[Any], str], validator: Validator) -> None:
    model = ScriptedModel([HALLUCINATED, GOOD])
    url = serve(app_with(model, validator))
    asked = {"request": "Load orders daily", "airflow_version": "3.1.3", "retry": {"feedback": True}}
    answer = httpx.post(f"{url}/v1/dags", json=asked, timeout=300)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["ok"] and len(data["attempts"]) == 2
    first, second = data["attempts"]
    assert (first["level"], first["category"]) == ("import", "hallucinated_module")
    assert second["ok"] and second["level"] == "import" and "2 task(s)" in second["message"]
    assert [lv["level"] for lv in second["levels"]] == ["extract", "syntax", "structure", "lint", "import"]
    assert 'class="code"' in data["html"] and "EmptyOperator" in data["html"]
    # The repair request carried the failure back to the model, after its own first answer.
    repair = model.requests[1]["messages"]
    assert repair[-2]["role"] == "assistant" and "magic" in repair[-2]["content"]
    assert "hallucinated_module" in repair[-1]["content"] and "airflow.operators.magic" in repair[-1]["content"]
    assert "Target: Apache Airflow 3.1" in model.requests[0]["messages"][1]["content"]
    model.close()


def test_by_default_a_rejected_answer_is_asked_for_afresh_and_sampled(
    serve: Callable[[Any], str], validator: Validator
) -> None:
    model = ScriptedModel([HALLUCINATED, GOOD])
    url = serve(app_with(model, validator))
    data = httpx.post(f"{url}/v1/dags", json={"request": "Load orders daily", "airflow_version": "3.1.3"}, timeout=300)
    assert data.json()["ok"] and len(data.json()["attempts"]) == 2
    first, retry = model.requests
    # dagcore.RETRY_BY_DEFAULT: the request again, not the rejected answer and its error, at the retry temperature.
    assert retry["messages"] == first["messages"] and first["temperature"] == 0.0
    assert retry["temperature"] == RETRY_BY_DEFAULT.temperature and not RETRY_BY_DEFAULT.feedback
    # dagcore.GRAMMAR_BY_DEFAULT: the first answer decodes under the answer grammar too, as a sampled retry does.
    assert "grammar" in first and "grammar" in retry and GRAMMAR_BY_DEFAULT
    model.close()
    # `"grammar": false` leaves the first answer free (the retry follows `retry.grammar`).
    model = ScriptedModel([HALLUCINATED, GOOD])
    url = serve(app_with(model, validator))
    body = {"request": "Load orders daily", "airflow_version": "3.1.3", "grammar": False}
    assert httpx.post(f"{url}/v1/dags", json=body, timeout=300).json()["ok"]
    first, retry = model.requests
    assert "grammar" not in first and "grammar" in retry
    model.close()


def test_fix_imports_makes_an_airflow_3_answer_load_in_airflow_2(
    serve: Callable[[Any], str], validator: Validator
) -> None:
    # Airflow 2 also wants a start date once tasks are made: the answer has one, so only its imports are wrong.
    dated = GOOD.replace("from airflow.sdk", "import datetime\nfrom airflow.sdk").replace(
        'schedule="@daily"', 'schedule="@daily", start_date=datetime.datetime(2024, 1, 1)'
    )
    model = ScriptedModel([dated])
    url = serve(app_with(model, validator, max_attempts=1))
    asked = {"request": "Load orders daily", "airflow_version": "2.10.5"}
    as_written = httpx.post(f"{url}/v1/dags", json={**asked, "fix_imports": False}, timeout=300).json()
    assert not as_written["ok"] and as_written["attempts"][0]["category"] == "hallucinated_module"
    fixed = httpx.post(f"{url}/v1/dags", json=asked, timeout=300).json()  # fixed unless asked not to
    assert fixed["ok"] and fixed["attempts"][0]["level"] == "import", fixed
    assert "from airflow import DAG" in fixed["code"] and "airflow.sdk" not in fixed["code"]
    assert fixed["attempts"][0]["fixes"] == [
        "DAG: airflow.sdk -> airflow",
        "EmptyOperator: airflow.providers.standard.operators.empty -> airflow.operators.empty",
    ]
    model.close()


def test_attempts_stop_at_the_limit_and_say_why(serve: Callable[[Any], str], validator: Validator) -> None:
    model = ScriptedModel(["I cannot write code today."])
    url = serve(app_with(model, validator, max_attempts=2))
    data = httpx.post(f"{url}/v1/dags", json={"request": "anything at all"}, timeout=60).json()
    assert not data["ok"] and len(data["attempts"]) == 2
    assert {a["category"] for a in data["attempts"]} == {"no_code"}
    assert data["code"] is None and data["html"] == ""
    model.close()


def test_bad_requests_and_a_dead_model_server(serve: Callable[[Any], str], validator: Validator) -> None:
    model = ScriptedModel([GOOD])
    url = serve(app_with(model, validator))
    assert httpx.post(f"{url}/v1/dags", json={"request": ""}).status_code == 422
    assert httpx.post(f"{url}/v1/dags", json={"request": "ok then", "airflow_version": "latest"}).status_code == 422
    assert (
        httpx.post(f"{url}/v1/dags", content=b"{not json", headers={"Content-Type": "application/json"}).status_code
        == 422
    )
    model.close()
    dead = httpx.post(f"{url}/v1/dags", json={"request": "still there?"}, timeout=60)
    assert dead.status_code == 502 and "model server failed" in dead.json()["detail"]
    assert httpx.get(f"{url}/health").status_code == 200  # the app itself carries on


def test_versions_offer_the_installed_runtimes(serve: Callable[[Any], str], validator: Validator) -> None:
    model = ScriptedModel([GOOD])
    url = serve(app_with(model, validator))
    validator.validate(GOOD.strip("`").removeprefix("python\n"), "3.1.3")  # installs 3.1.3 if missing
    offered = httpx.get(f"{url}/v1/versions").json()
    assert offered[:2] == ["3.1", "3.0"] and "3.1.3" in offered
    model.close()


def test_a_spec_request_renders_the_file_for_the_version_and_it_loads(
    serve: Callable[[Any], str], validator: Validator
) -> None:
    spec = {
        "dag_id": "orders_daily",
        "schedule": "30 5 * * *",
        "tasks": [
            {"operator": "bash", "task_id": "extract", "group": "", "bash_command": "python /opt/extract.py"},
            {"operator": "python", "task_id": "clean", "group": "", "does": "clean the orders"},
            {"operator": "empty", "task_id": "done", "group": ""},
        ],
        "dependencies": [
            {"upstream": "extract", "downstream": "clean"},
            {"upstream": "clean", "downstream": "done"},
        ],
        "taskflow": True,
        "retries": 2,
        "retry_delay_minutes": 5,
        "catchup": False,
        "owner": "",
        "tags": [],
        "email_on_failure": "",
        "failure_callback": False,
        "max_active_runs": 0,
        "trigger_param": False,
    }
    model = ScriptedModel([json.dumps(spec)] * 2)
    url = serve(app_with(model, validator, max_attempts=1))
    for version, module in (("2.10.5", "airflow.decorators"), ("3.1.3", "airflow.sdk")):
        asked = {"request": "Extract and clean the orders at 5:30", "airflow_version": version, "spec": True}
        data = httpx.post(f"{url}/v1/dags", json=asked, timeout=300).json()
        assert data["ok"] and data["attempts"][0]["level"] == "import", data
        assert f"from {module} import" in data["code"] and 'schedule="30 5 * * *"' in data["code"]
    assert all(r["response_format"]["type"] == "json_schema" for r in model.requests)
    model.close()
