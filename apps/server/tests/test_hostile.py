"""The inputs that broke dagserve, sent to the app's `POST /v1/dags` over real HTTP: a 4xx each, and it serves on."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from airflow_net_server import AppSettings, create_app
from dagcore.hostile import hang_up_mid_body, peak_rss_growth, send_chunked_until_answered, server_errors
from dageval import Level, Validator
from dagserve import Client

from .scripted import ScriptedModel

GOOD = "```python\nfrom airflow.sdk import DAG\n\nwith DAG(dag_id='nightly'):\n    pass\n```"


@pytest.fixture
def app_url(serve: Callable[[Any], str]) -> Iterator[str]:
    model = ScriptedModel([GOOD])
    with Validator(Level.SYNTAX) as validator:  # no Airflow runtime needed: the bodies never get that far
        yield serve(create_app(AppSettings(endpoint=model.url, level="syntax"), Client(model.url), validator))
    model.close()


def _refused(answer: httpx.Response, status: int, kind: str) -> None:
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    assert (detail if isinstance(detail, str) else detail[0]["type"]) == kind, detail


def _still_serving(url: str) -> None:
    answer = httpx.post(f"{url}/v1/dags", json={"request": "A nightly DAG"}, timeout=60)
    assert answer.status_code == 200 and answer.json()["ok"], answer.text


def test_hostile_json_is_a_422_not_a_500(app_url: str) -> None:
    url = f"{app_url}/v1/dags"
    with server_errors() as errors:
        _refused(
            httpx.post(url, content='{"request": "A nightly DAG", "max_attempts": ' + "9" * 5000 + "}"),
            422,
            "invalid_json",
        )
        _refused(httpx.post(url, content=json.dumps({"request": "A \ud800 DAG"})), 422, "invalid_json")
        _refused(httpx.post(url, content="[" * 100_000), 422, "body_too_complex")
        _refused(httpx.post(url, json={"request": "A nightly DAG", "x": [{}] * 16_000}), 422, "body_too_complex")
        _refused(httpx.post(url, json={"request": ""}), 422, "string_too_short")
        hang_up_mid_body(app_url, "/v1/dags")
        _still_serving(app_url)
    assert not errors, [r.getMessage() for r in errors]


def test_a_200_mb_chunked_body_is_refused_while_it_arrives(app_url: str) -> None:
    with peak_rss_growth() as growth:
        status, sent = send_chunked_until_answered(app_url, "/v1/dags", 200 * 1024 * 1024)
    assert status == 413
    assert sent < 32 * 1024 * 1024, sent  # the limit is 256 KiB; the rest is what loopback buffers hold
    assert growth() < 32, f"the app's memory grew by {growth():.0f} MiB"
    _still_serving(app_url)
