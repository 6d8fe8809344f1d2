"""Constrained decoding over real HTTP: OpenAI's `response_format` and llama.cpp's `grammar`, on the tiny model.

The tiny model's weights are random, so whatever it answers under a grammar shows the grammar at work: left
alone it writes one long identifier (conftest), never JSON.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai

TASK_SCHEMA = {
    "type": "object",
    "properties": {
        "operator": {"enum": ["bash", "python", "empty"]},
        "retries": {"enum": [0, 1, 2]},
        "task_id": {"type": "string", "pattern": "^[a-z][a-z_]{0,11}$"},
    },
    "required": ["operator", "retries", "task_id"],
}


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=60)


def _ask(server: str, **kwargs: Any) -> Any:
    return _client(server).chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "a task, please"}], max_tokens=200, **kwargs
    )


def test_a_json_schema_answer_is_json_the_schema_accepts_greedy_and_sampled(server: str) -> None:
    response_format: Any = {"type": "json_schema", "json_schema": {"name": "task", "schema": TASK_SCHEMA}}
    free = _ask(server, temperature=0.0).choices[0].message.content
    assert not free.lstrip().startswith("{")  # without the grammar the model writes no JSON
    answers = [_ask(server, temperature=0.0, response_format=response_format)]
    with ThreadPoolExecutor(4) as pool:  # decoded together, each under its own grammar state
        answers += pool.map(
            lambda seed: _ask(server, temperature=1.5, seed=seed, response_format=response_format), range(6)
        )
    for answer in answers:
        choice = answer.choices[0]
        assert choice.finish_reason == "stop", choice  # the grammar ends, then only the end token is allowed
        task = json.loads(choice.message.content)
        assert list(task) == ["operator", "retries", "task_id"]
        assert task["operator"] in {"bash", "python", "empty"} and task["retries"] in {0, 1, 2}
        assert re.fullmatch(r"[a-z][a-z_]{0,11}", task["task_id"])
    # The model's own picks broke the grammar and were picked again under it (`GuidedSampler`'s second path).
    assert httpx.get(f"{server}/health").json()["grammar_refused_tokens"] > 0


def test_a_gbnf_grammar_and_json_object_constrain_completions_and_streams(server: str) -> None:
    grammar = 'root ::= "dag_" [a-z] [a-z] [0-9] "\\n"'
    text = httpx.post(
        f"{server}/v1/completions", json={"prompt": "name:", "grammar": grammar, "max_tokens": 16}, timeout=60
    ).json()["choices"][0]["text"]
    assert re.fullmatch(r"dag_[a-z]{2}[0-9]\n", text)
    stream = _client(server).chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "json"}],
        max_tokens=200,
        temperature=0.0,
        stream=True,
        extra_body={"grammar": 'root ::= "{\\"ok\\": " ("true" | "false") "}"'},
    )
    assert json.loads("".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices))["ok"] in (
        True,
        False,
    )


def test_bad_grammars_and_schemas_get_a_clear_400_and_the_server_keeps_serving(server: str) -> None:
    url = f"{server}/v1/chat/completions"
    messages = [{"role": "user", "content": "hi"}]
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"grammar": "root ::= (unclosed"}, "invalid_grammar", "could not parse the grammar"),
        ({"grammar": 'start ::= "x"'}, "invalid_grammar", "root"),
        ({"response_format": {"type": "json_schema"}}, "invalid_request", "json_schema"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {"$ref": "#/nowhere"}}}},
            "invalid_grammar",
            "JSON schema",
        ),
        ({"response_format": {"type": "json_object"}, "grammar": 'root ::= "x"'}, "invalid_request", "not both"),
        ({"grammar": 'root ::= "x"', "ignore_eos": True}, "invalid_request", "ignore_eos"),
    ]
    for extra, code, words in cases:
        response = httpx.post(url, json={"messages": messages, **extra}, timeout=60)
        assert response.status_code == 400, (extra, response.text)
        error = response.json()["error"]
        assert error["code"] == code and words in error["message"], (extra, error)
    assert _ask(server, temperature=0.0, response_format={"type": "text"}).choices[0].message.content


def test_greedy_answers_are_the_same_whether_the_grammar_checks_each_pick_or_masks_it(server: str) -> None:
    response_format: Any = {"type": "json_schema", "json_schema": {"name": "task", "schema": TASK_SCHEMA}}
    client = _client(server)
    for prompt in ("a task", "move the files", "dag dag dag", "load the orders, then report"):
        answers = [
            client.chat.completions.create(
                model="tiny",
                messages=[{"role": "user", "content": prompt}],
                max_tokens=200,
                temperature=0.0,
                response_format=response_format,
                extra_body={"grammar_first": first},
            )
            .choices[0]
            .message.content
            for first in (False, True)
        ]
        assert answers[0] == answers[1]
        json.loads(answers[0])
