"""The DAG spec: composed designs say themselves as specs, and any spec the schema accepts renders to a file."""

from __future__ import annotations

import ast
import json
import random

import pytest
from pydantic import ValidationError

from dagsynth.compose import Design, draw
from dagsynth.spec import (
    SPEC_EXAMPLE,
    SPEC_SCHEMA,
    DagSpec,
    render_spec,
    spec_conversation,
    spec_messages,
    spec_of,
    spec_text,
)


def _designs(n: int, version: str, seed: int = 5) -> list[Design]:
    rng = random.Random(seed)
    return [draw(rng, version) for _ in range(n)]


def _edges(code: str) -> set[tuple[str, str]]:
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift):
            assert isinstance(node.left, ast.Name) and isinstance(node.right, ast.Name)
            found.add((node.left.id, node.right.id))
    return found


@pytest.mark.parametrize("version", ["2.10", "3.1"])
def test_composed_designs_say_themselves_as_specs_that_render_every_task_and_edge(version: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    specs = [(d, spec_of(d)) for d in _designs(150, version)]
    said = [(d, s) for d, s in specs if s is not None]
    # Mapping and branching shapes (and SLAs) are what the spec cannot say; the rest it must.
    unsaid = [d for d, s in specs if s is None]
    assert all({"mapping", "branching"} & set(d.shape.features) or d.options.sla_hours for d in unsaid)
    assert 0.5 < len(said) / len(specs) < 0.9
    for design, spec in said:
        text = spec_text(spec)
        jsonschema.validate(json.loads(text), SPEC_SCHEMA)
        assert DagSpec.model_validate_json(text) == spec
        assert all(next(iter(task)) == "operator" for task in json.loads(text)["tasks"])  # the grammar's order
        code = render_spec(spec, version)
        tree = ast.parse(code)
        task_ids = {
            kw.value.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            for kw in node.keywords
            if kw.arg == "task_id" and isinstance(kw.value, ast.Constant)
        }
        functions = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert {t.task_id for t in spec.tasks} <= task_ids | functions
        assert len(_edges(code)) == len({(d.upstream, d.downstream) for d in spec.dependencies})
        imports = "airflow.sdk" if version == "3.1" else "airflow.decorators"
        assert imports in code
        if design.when.value == "asset":
            assert ("Asset(" if version == "3.1" else "Dataset(") in code


def test_a_hostile_spec_renders_to_a_file_that_says_only_what_it_should() -> None:
    spec = DagSpec.model_validate(
        {
            "dag_id": "odd_dag",
            "schedule": "@daily",
            "tasks": [
                {"operator": "bash", "task_id": "for", "group": "", "bash_command": 'echo "$(rm -rf /)" \\ done'},
                {"operator": "python", "task_id": "dag", "group": "", "does": 'print("x")\nimport os'},
                {"operator": "email", "task_id": "for", "group": "g", "to": "a@b.c", "subject": "'''"},
                {"operator": "wait", "task_id": "pause", "group": "g", "minutes": 5, "deferrable": True},
            ],
            "dependencies": [
                {"upstream": "for", "downstream": "dag"},
                {"upstream": "dag", "downstream": "nowhere"},
                {"upstream": "pause", "downstream": "pause"},
                {"upstream": "for", "downstream": "dag"},
            ],
            "taskflow": True,
            "retries": 0,
            "retry_delay_minutes": 5,
            "catchup": False,
            "owner": 'ops", "x": "y',
            "tags": ['a"b', ""],
            "email_on_failure": "",
            "failure_callback": False,
            "max_active_runs": 1,
            "trigger_param": False,
        }
    )
    for schedule in ("18:30", "0 19 * * ", "@fortnightly", "daily at 5"):  # what an untuned model wrote, and worse
        with pytest.raises(ValidationError, match="schedule"):
            DagSpec.model_validate({**spec.model_dump(), "schedule": schedule})
    for version in ("2.10", "3.1"):
        code = render_spec(spec, version)
        tree = ast.parse(code)
        strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        assert 'echo "$(rm -rf /)" \\ done' in strings and 'print("x")\nimport os' in strings
        assert not any(isinstance(n, ast.Import) for n in ast.walk(tree))  # text stays text
        assert '"owner": "opsxy"' in code and 'tags=["ab"]' in code
        assert _edges(code) == {("for_task", "dag_task_task")}  # keywords renamed; the unknown and the loop left out
        assert "for_task_2" in code and "TaskGroup" in code
        assert ("deferrable=True" in code) == (version == "3.1")  # Airflow 2's TimeDeltaSensor cannot defer


def test_the_prompts_state_the_task_once_and_the_example_is_a_valid_spec() -> None:
    _, example = SPEC_EXAMPLE
    guided = spec_messages("Load the orders hourly.")
    assert [m["role"] for m in guided] == ["system", "user", "assistant", "user"]
    assert DagSpec.model_validate_json(guided[2]["content"]) == example
    conversation = spec_conversation("Load the orders hourly.", example)
    assert conversation[:2] == spec_messages("Load the orders hourly.", guide=False)
    assert conversation[-1] == {"role": "assistant", "content": spec_text(example)}
    assert "users_weekly" in render_spec(example, "3.1")
