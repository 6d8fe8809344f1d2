"""A DAG as a small spec a model fills under a JSON schema, and the deterministic renderer that writes its file.

Free code asks a small model to get every import path, argument and bracket right. The spec asks only what the
request decides: which operators, their few arguments, the schedule, the order, the DAG's options. dagserve
decodes the answer under `SPEC_SCHEMA` (`response_format`), so it is always a spec; `render_spec` writes the
file for the Airflow version asked for with compose's renderer and dagcore's table of import paths, which every
composed file is judged on. What the spec cannot say (mapping, branching, task groups) it does not promise.
"""

from __future__ import annotations

import itertools
import json
import keyword
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dagcore import AirflowVersion
from dagsynth.compose import Design, Group, Mapping, Options, Shape, _Chained, render
from dagsynth.schedules import Schedule
from dagsynth.steps import Step, _call, _q, _task, s3_read_body

SPEC_FORMAT = 3
"""Bump when the schema or the renderer changes what a spec means (2: the schedule's shape is in the schema; 3: the
`s3_read` operator)."""

_ID = r"^[a-z][a-z0-9_]{0,39}$"
_CRON_FIELD = r"[0-9*/,-]{1,20}"
_SCHEDULE = (
    r"^(none|@(hourly|daily|weekly|monthly|yearly)|[a-z0-9]{2,10}://[a-z0-9_./-]{1,80}|"
    + " ".join([_CRON_FIELD] * 5)
    + ")$"
)
"""What a schedule can be: `none`, a preset, a dataset URI, or five cron fields. In the schema, so the grammar
lets no model write `18:30` or a four-field cron (measured: 4 of 40 untuned answers did, and failed to load)."""
_TEXT = 160
"""Most characters of a free-text argument: a small model under a grammar can otherwise run on inside a string."""


class _Task(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: Annotated[str, Field(pattern=_ID)]
    group: Annotated[str, Field(pattern=r"^([a-z][a-z0-9_]{0,39})?$")]
    """The task group it belongs to; empty: none."""


def _text(n: int = _TEXT) -> Any:
    return Field(max_length=n)


class Bash(_Task):
    operator: Literal["bash"]
    bash_command: str = _text()


class Python(_Task):
    operator: Literal["python"]
    does: str = _text()
    """What the function does, in words (its body prints them: the request does not give the code)."""


class Sql(_Task):
    operator: Literal["postgres", "snowflake", "bigquery"]
    sql: str = _text(240)


class S3Upload(_Task):
    operator: Literal["s3_upload"]
    bucket: str = _text(63)
    key: str = _text()


class S3Read(_Task):
    operator: Literal["s3_read"]
    bucket: str = _text(63)
    key: str = _text()
    """An object's key to read, or a prefix ending in `/` whose keys are listed."""


class S3Sensor(_Task):
    operator: Literal["s3_sensor"]
    bucket: str = _text(63)
    key: str = _text()
    deferrable: bool


class PathSensor(_Task):
    operator: Literal["file_sensor", "sftp_sensor"]
    path: str = _text()


class Http(_Task):
    operator: Literal["http"]
    method: Literal["GET", "POST"]
    endpoint: str = _text()


class HttpSensor(_Task):
    operator: Literal["http_sensor"]
    endpoint: str = _text()


class Docker(_Task):
    operator: Literal["docker"]
    image: str = _text(80)
    command: str = _text()


class Kubernetes(_Task):
    operator: Literal["kubernetes"]
    image: str = _text(80)
    namespace: str = _text(40)
    command: str = _text()


class Slack(_Task):
    operator: Literal["slack"]
    message: str = _text()


class Email(_Task):
    operator: Literal["email"]
    to: str = _text(80)
    subject: str = _text(80)


class OtherDag(_Task):
    operator: Literal["trigger_dag", "wait_for_dag"]
    dag_id: Annotated[str, Field(pattern=_ID)]


class Wait(_Task):
    operator: Literal["wait"]
    minutes: Literal[1, 5, 10, 15, 30, 60, 120]
    deferrable: bool


class Empty(_Task):
    operator: Literal["empty"]


TaskSpec = Annotated[
    Bash
    | Python
    | Sql
    | S3Upload
    | S3Read
    | S3Sensor
    | PathSensor
    | Http
    | HttpSensor
    | Docker
    | Kubernetes
    | Slack
    | Email
    | OtherDag
    | Wait
    | Empty,
    Field(discriminator="operator"),
]


class Dependency(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upstream: Annotated[str, Field(pattern=_ID)]
    downstream: Annotated[str, Field(pattern=_ID)]


class DagSpec(BaseModel):
    """What a request decides about a DAG; `render_spec` writes the file for an Airflow version."""

    model_config = ConfigDict(extra="forbid")

    dag_id: Annotated[str, Field(pattern=_ID)]
    schedule: Annotated[str, Field(pattern=_SCHEDULE)]
    """A cron expression, a preset (`@daily`), `none` (manual runs only), or a dataset URI it runs on."""
    tasks: list[TaskSpec] = Field(min_length=1, max_length=10)
    dependencies: list[Dependency] = Field(max_length=16)
    """Upstream runs before downstream; tasks in no dependency run on their own."""
    taskflow: bool
    """Python tasks as `@task` functions (TaskFlow) instead of PythonOperator."""
    retries: Literal[0, 1, 2, 3, 4, 5]
    retry_delay_minutes: Literal[1, 2, 5, 10, 15, 30, 60]
    catchup: bool
    owner: str = Field(max_length=40)
    """Empty: no owner."""
    tags: list[Annotated[str, Field(max_length=30)]] = Field(max_length=3)
    email_on_failure: str = Field(max_length=80)
    """Empty: no email."""
    failure_callback: bool
    """A callback that logs which task failed."""
    max_active_runs: Literal[0, 1]
    """1: never two runs at once; 0: Airflow's default."""
    trigger_param: bool
    """A `full_refresh` boolean parameter people can set when they trigger a run."""


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every `$ref` written out: the shape grammar converters and small models read best."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].rsplit("/", 1)[1]])
            out = {k: walk(v) for k, v in node.items() if k not in ("title", "description", "discriminator")}
            if "oneOf" in out:  # a discriminated union: each branch is told apart by its `operator` const
                out["anyOf"] = out.pop("oneOf")
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)  # type: ignore[no-any-return]


def _operator_first(node: Any) -> Any:
    # The model says what a task is before it names it: `operator` leads each task's properties.
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict) and "operator" in props:
            node["properties"] = {"operator": props["operator"], **{k: v for k, v in props.items() if k != "operator"}}
        for value in node.values():
            _operator_first(value)
    elif isinstance(node, list):
        for value in node:
            _operator_first(value)
    return node


SPEC_SCHEMA: dict[str, Any] = _operator_first(_inline(DagSpec.model_json_schema()))
"""The JSON schema a model's spec is decoded under (`response_format.json_schema.schema`)."""

SPEC_RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "dag_spec", "schema": SPEC_SCHEMA},
}
"""OpenAI's `response_format` that asks an answer for a spec (dagserve decodes it under the schema's grammar)."""

SPEC_SYSTEM = """You turn a request for an Apache Airflow DAG into a JSON spec; a program writes the DAG file from it.
Operators: bash (a shell command), python (a Python function; say what it does), postgres, snowflake, bigquery (a \
SQL statement), s3_upload (write an object to S3), s3_read (read an \
object, or list the keys under a prefix ending in /), s3_sensor (wait for an S3 key), file_sensor, sftp_sensor (wait \
for a file), http (call an HTTP API), http_sensor (wait until an endpoint answers), docker, kubernetes (run a \
command in a container image), slack (post a message), email, trigger_dag (start another DAG), wait_for_dag (wait \
for another DAG to finish), wait (a fixed delay), empty (a placeholder).
schedule: a cron expression (minute hour day-of-month month day-of-week, 24-hour clock), a preset (@hourly, @daily, \
@weekly, @monthly), none (only run when triggered), or a dataset URI such as s3://bucket/path/ (run when it is \
updated).
dependencies: the upstream task runs before the downstream one.
Set retries, catchup, owner, tags, email_on_failure, failure_callback, max_active_runs and trigger_param only as \
the request asks; otherwise 0, false or empty."""

SPEC_TASK = "Write the JSON spec of the Apache Airflow DAG the request asks for."
"""The system message of a spec-trained model: what it learned the task by, so nothing more is needed."""

SPEC_EXAMPLE = (
    "Every Monday at 7pm, run `python /opt/jobs/export_users.py`, then load the users into the Postgres table "
    "crm.users and post 'users loaded' to Slack. Retry twice.",
    DagSpec.model_validate(
        {
            "dag_id": "users_weekly",
            "schedule": "0 19 * * 1",
            "tasks": [
                {
                    "operator": "bash",
                    "task_id": "export_users",
                    "group": "",
                    "bash_command": "python /opt/jobs/export_users.py",
                },
                {
                    "operator": "postgres",
                    "task_id": "load_users",
                    "group": "",
                    "sql": "INSERT INTO crm.users SELECT * FROM staging.users",
                },
                {"operator": "slack", "task_id": "notify_slack", "group": "", "message": "users loaded"},
            ],
            "dependencies": [
                {"upstream": "export_users", "downstream": "load_users"},
                {"upstream": "load_users", "downstream": "notify_slack"},
            ],
            "taskflow": False,
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
    ),
)
"""One worked request, written for this prompt (no benchmark request, nothing mined): the shape of an answer."""


def spec_text(spec: DagSpec) -> str:
    """The spec as a model writes it under `SPEC_SCHEMA`: its properties in the schema's order, compact."""
    data = spec.model_dump()
    data["tasks"] = [
        {"operator": t["operator"], **{k: v for k, v in t.items() if k != "operator"}} for t in data["tasks"]
    ]
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def spec_messages(request: str, *, guide: bool = True) -> list[dict[str, str]]:
    """The conversation that asks a model for a spec. `guide`: the whole guide and the worked example, for a model
    never trained on specs; without: the one-line task a spec-trained model learned with (`spec_conversation`)."""
    if not guide:
        return [{"role": "system", "content": SPEC_TASK}, {"role": "user", "content": request}]
    example_request, example = SPEC_EXAMPLE
    return [
        {"role": "system", "content": SPEC_SYSTEM},
        {"role": "user", "content": example_request},
        {"role": "assistant", "content": spec_text(example)},
        {"role": "user", "content": request},
    ]


def spec_conversation(request: str, spec: DagSpec) -> list[dict[str, str]]:
    """A training conversation: the request, and its spec as the answer."""
    return [*spec_messages(request, guide=False), {"role": "assistant", "content": spec_text(spec)}]


def _plain(text: str) -> str:
    """A name or address as the header writes it between quotes: letters, digits and `_.@-` only."""
    return re.sub(r"[^A-Za-z0-9_.@-]", "", text)


_RESERVED = set(keyword.kwlist) | {
    *("dag", "task", "datetime", "timedelta", "pendulum", "default_args", "print", "notify_failure")
}


def _safe_id(task_id: str, taken: set[str]) -> str:
    name = f"{task_id}_task" if task_id in _RESERVED or keyword.iskeyword(task_id) else task_id
    base, n = name, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def _step(t: TaskSpec, tid: str, major: int, taskflow: bool) -> Step:
    """The task as compose writes it (the same calls and arguments every composed file was judged with)."""
    if isinstance(t, Bash):
        return Step(tid, "bash", "", {"BashOperator"}, _call("BashOperator", tid, bash_command=_q(t.bash_command)))
    if isinstance(t, Python):
        body = [f"print({_q(t.does or tid)})"]
        if taskflow:
            return Step(tid, "taskflow", "", {"task"}, f"{tid}()", function=_task(tid, body))
        helper = "\n".join([f"def {tid}():", *[f"    {line}" for line in body]])
        return Step(
            tid, "python", "", {"PythonOperator"}, _call("PythonOperator", tid, python_callable=tid), helper=helper
        )
    if isinstance(t, Sql):
        if t.operator == "bigquery":
            conf = '{"query": {"query": ' + _q(t.sql) + ', "useLegacySql": False}}'
            return Step(
                tid,
                "bigquery",
                "",
                {"BigQueryInsertJobOperator"},
                _call("BigQueryInsertJobOperator", tid, configuration=conf),
            )
        hook = {"postgres": ("PostgresHook", "postgres_conn_id"), "snowflake": ("SnowflakeHook", "snowflake_conn_id")}
        cls, conn = hook[t.operator]
        body = [f'hook = {cls}({conn}="{t.operator}_default")', f"hook.run({_q(t.sql)})"]
        return Step(tid, t.operator, "", {"task", cls}, f"{tid}()", function=_task(tid, body))
    if isinstance(t, S3Upload):
        expr = _call(
            "S3CreateObjectOperator", tid, s3_bucket=_q(t.bucket), s3_key=_q(t.key), data=_q("{}"), replace="True"
        )
        return Step(tid, "s3", "", {"S3CreateObjectOperator"}, expr)
    if isinstance(t, S3Read):
        return Step(tid, "s3", "", {"task", "S3Hook"}, f"{tid}()", function=_task(tid, s3_read_body(t.bucket, t.key)))
    if isinstance(t, S3Sensor):
        kwargs = {"bucket_name": _q(t.bucket), "bucket_key": _q(t.key), "aws_conn_id": _q("aws_default")}
        kwargs |= {"deferrable": "True"} if t.deferrable else {"poke_interval": "300", "mode": _q("reschedule")}
        return Step(tid, "s3_sensor", "", {"S3KeySensor"}, _call("S3KeySensor", tid, **kwargs))
    if isinstance(t, PathSensor):
        if t.operator == "sftp_sensor":
            kwargs = {"sftp_conn_id": _q("sftp_default"), "path": _q(t.path), "poke_interval": "120"}
            return Step(tid, "sftp_sensor", "", {"SFTPSensor"}, _call("SFTPSensor", tid, **kwargs))
        kwargs = {"filepath": _q(t.path), "poke_interval": "60", "mode": _q("reschedule")}
        return Step(tid, "file_sensor", "", {"FileSensor"}, _call("FileSensor", tid, **kwargs))
    if isinstance(t, Http):
        kwargs = {"http_conn_id": _q("http_default"), "endpoint": _q(t.endpoint), "method": _q(t.method)}
        return Step(tid, "http", "", {"HttpOperator"}, _call("HttpOperator", tid, **kwargs))
    if isinstance(t, HttpSensor):
        kwargs = {"http_conn_id": _q("http_default"), "endpoint": _q(t.endpoint), "poke_interval": "60"}
        return Step(tid, "http_sensor", "", {"HttpSensor"}, _call("HttpSensor", tid, **kwargs))
    if isinstance(t, Docker):
        expr = _call("DockerOperator", tid, image=_q(t.image), command=_q(t.command))
        return Step(tid, "docker", "", {"DockerOperator"}, expr)
    if isinstance(t, Kubernetes):
        kwargs = {
            "name": _q(tid.replace("_", "-")),
            "namespace": _q(_plain(t.namespace) or "default"),
            "image": _q(t.image),
            "cmds": "[" + ", ".join(_q(part) for part in t.command.split()) + "]",
        }
        return Step(tid, "kubernetes", "", {"KubernetesPodOperator"}, _call("KubernetesPodOperator", tid, **kwargs))
    if isinstance(t, Slack):
        expr = _call("SlackWebhookOperator", tid, slack_webhook_conn_id=_q("slack_default"), message=_q(t.message))
        return Step(tid, "slack", "", {"SlackWebhookOperator"}, expr)
    if isinstance(t, Email):
        kwargs = {"to": _q(t.to), "subject": _q(t.subject), "html_content": _q(t.subject)}
        return Step(tid, "email", "", {"EmailOperator"}, _call("EmailOperator", tid, **kwargs))
    if isinstance(t, OtherDag):
        if t.operator == "trigger_dag":
            return Step(
                tid,
                "trigger",
                "",
                {"TriggerDagRunOperator"},
                _call("TriggerDagRunOperator", tid, trigger_dag_id=_q(t.dag_id)),
            )
        kwargs = {"external_dag_id": _q(t.dag_id), "mode": _q("reschedule"), "timeout": "3600"}
        return Step(tid, "external_sensor", "", {"ExternalTaskSensor"}, _call("ExternalTaskSensor", tid, **kwargs))
    if isinstance(t, Wait):
        kwargs = {"delta": f"pendulum.duration(minutes={t.minutes})"}
        if t.deferrable and major >= 3:  # Airflow 2's TimeDeltaSensor has no `deferrable` (its *Async class defers)
            kwargs["deferrable"] = "True"
        return Step(tid, "deferred_wait", "", {"TimeDeltaSensor"}, _call("TimeDeltaSensor", tid, **kwargs))
    return Step(tid, "empty", "", {"EmptyOperator"}, _call("EmptyOperator", tid))


def _schedule(value: str) -> Schedule:
    # The schema gave the value its shape (`_SCHEDULE`): `none`, a dataset URI, or what Airflow reads as it is.
    if value == "none":
        return Schedule(phrase="", value="none")
    if "://" in value:
        return Schedule(phrase="", value="asset", asset_uri=value)
    return Schedule(phrase="", value=value)


def render_spec(spec: DagSpec, airflow_version: AirflowVersion) -> str:
    """The DAG file the spec describes, for `airflow_version` (its major picks every import path)."""
    major = int(str(airflow_version).split(".")[0])
    taken: set[str] = set()
    ids: dict[str, str] = {}
    elements: list[Step | Group] = []
    groups: dict[str, Group] = {}
    for t in spec.tasks:
        tid = _safe_id(t.task_id, taken)
        ids.setdefault(t.task_id, tid)  # a dependency on a repeated id means its first task
        step = _step(t, tid, major, spec.taskflow)
        if not t.group:
            elements.append(step)
        elif t.group in groups:
            groups[t.group].steps.append(step)
        else:  # a group stands where its first task is
            groups[t.group] = Group(_safe_id(t.group, taken), [step])
            elements.append(groups[t.group])
    # Dependencies on tasks the spec does not have, or on themselves, cannot be written: they are left out.
    edges = list(
        dict.fromkeys(
            (ids[d.upstream], ids[d.downstream])
            for d in spec.dependencies
            if d.upstream in ids and d.downstream in ids and d.upstream != d.downstream
        )
    )
    options = Options(
        retries=spec.retries,
        retry_minutes=spec.retry_delay_minutes,
        callback=spec.failure_callback,
        email_on_failure=_plain(spec.email_on_failure),
        params=spec.trigger_param,
        catchup=spec.catchup,
        tags=[tag for tag in map(_plain, spec.tags) if tag][:1],
        owner=_plain(spec.owner),
        max_active_runs=spec.max_active_runs,
    )
    shape = Shape(stages=[elements])
    return render(spec.dag_id, shape, _schedule(spec.schedule), options, major, spec.taskflow, edges)


def spec_of(design: Design) -> DagSpec | None:
    """The spec of a composed design, or None where the spec cannot say it (mapping, branching, an SLA)."""
    if {"mapping", "branching"} & set(design.shape.features) or design.options.sla_hours:
        return None
    tasks: list[dict[str, Any]] = []
    edges: list[tuple[str, str]] = []
    ends: list[tuple[list[str], list[str]]] = []
    """Per stage: the tasks it starts with and the tasks it ends with."""
    for stage in design.shape.stages:
        heads: list[str] = []
        tails: list[str] = []
        for element in stage:
            if isinstance(element, Mapping):
                return None
            group = element.group_id if isinstance(element, Group) else ""
            for step in element.steps if isinstance(element, Group) else [element]:
                chain = step.members if isinstance(step, _Chained) else [step]
                for member in chain:
                    if not member.spec:
                        return None
                    tasks.append({"task_id": member.task_id, "group": group, **member.spec})
                edges += [(a.task_id, b.task_id) for a, b in itertools.pairwise(chain)]
                heads.append(chain[0].task_id)
                tails.append(chain[-1].task_id)
        ends.append((heads, tails))
    for (_, tails), (heads, _) in itertools.pairwise(ends):
        edges += [(up, down) for up in tails for down in heads]
    when, o = design.when, design.options
    schedule = {"none": "none", "asset": when.asset_uri}.get(when.value, when.value)
    return DagSpec.model_validate(
        {
            "dag_id": design.dag_id,
            "schedule": schedule,
            "tasks": tasks,
            "dependencies": [{"upstream": up, "downstream": down} for up, down in edges],
            "taskflow": design.taskflow,
            "retries": o.retries,
            "retry_delay_minutes": o.retry_minutes if o.retries else 5,
            "catchup": o.catchup,
            "owner": o.owner,
            "tags": o.tags,
            "email_on_failure": o.email_on_failure,
            "failure_callback": o.callback,
            "max_active_runs": o.max_active_runs,
            "trigger_param": o.params,
        }
    )


def spec_code(answer: str, airflow_version: AirflowVersion | str | None) -> str | None:
    """The file a spec answer renders to for `airflow_version` (3.x when unknown); None when it is no spec (cut at
    the token limit, or from a server that ignored the schema)."""
    try:
        spec = DagSpec.model_validate_json(answer)
    except ValidationError:
        return None
    return render_spec(spec, AirflowVersion.of(airflow_version) or AirflowVersion("3.1"))


def spec_loop_args(request: str, airflow_version: AirflowVersion | str | None, *, guide: bool = True) -> dict[str, Any]:
    """How the generate-validate loop asks for a spec and reads the answer: `messages`, `extra` and `answer_code`
    for `dagcore.repair_loop` (and `dagserve.generate_valid_dag`), as `airflow-net generate --spec` and the app
    send them. `guide`: the guide and worked example, for any model; without, the one-line task a spec-tuned model
    learned (measured on such a model: intent 35% with it, 25% guided, which copies the example's schedule)."""

    def answer_code(answer: str) -> str | None:
        return spec_code(answer, airflow_version)

    return {
        "messages": spec_messages(request, guide=guide),
        "extra": {"response_format": SPEC_RESPONSE_FORMAT},
        "answer_code": answer_code,
    }
