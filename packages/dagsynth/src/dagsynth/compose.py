"""Compose one short DAG file and the requests it answers: a shape, steps from a domain, DAG-level options.

The file is rendered for the Airflow version it is labelled with (imports from `dagsynth.imports`, `Dataset`
vs `Asset`, SLAs only before 3.0); the request says everything the file does, and `expect` records what a
judge can check of it (schedule, providers, features, task count), so a composed pair is verified against
itself before it is kept.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from dagcore import AirflowVersion, Expect
from dagsynth import steps as S
from dagsynth.imports import NOTED, asset_class, import_lines
from dagsynth.models import ComposedDag
from dagsynth.schedules import CronNote, Schedule, schedule
from dagsynth.steps import Context, Step
from dagsynth.vocab import DOMAINS, EMAILS, TEAMS, pick

FORMAT = 3
"""How composed files are written; a stored compose of another format is redone (2: the contract's import block;
3: the request's words and the 24-hour time above a cron schedule)."""
_PENDULUM_START = 'start_date=pendulum.datetime(2024, 1, 1, tz="UTC")'

Clock = Literal["datetime", "pendulum"]
"""How a composed file writes dates and durations. `datetime` (the default): `from datetime import datetime`, with
`timedelta` only where retries, an SLA or a sensor use it. `pendulum`: one `import pendulum` whatever the body
(`pendulum.datetime`, `pendulum.duration`, as Airflow's own examples), so the first line never depends on the body.
Measured on the 45-minute config (README): pendulum doubled dev import (20% -> 38-41%: an unimported `timedelta` went
from 27 of 64 dev failures to 2) and cost the benchmark (32.5% -> 12.5%), so it is not the default."""


@dataclass
class Group:
    group_id: str
    steps: list[Step]


@dataclass
class Mapping:
    lister: Step
    worker: Step
    phrase: str


Element = Step | Group | Mapping


@dataclass
class Shape:
    stages: list[Sequence[Element]] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    """The request's sentence about the work, in order."""
    features: list[str] = field(default_factory=list)


def _steps(shape: Shape) -> list[Step]:
    found: list[Step] = []
    for stage in shape.stages:
        for element in stage:
            if isinstance(element, Step):
                found.append(element)
            elif isinstance(element, Group):
                found.extend(element.steps)
            else:
                found.extend([element.lister, element.worker])
    return found


def _then(parts: list[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return ", then ".join(parts[:-1]) + ", and finally " + parts[-1]


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _distinct(c: Context, builders: list[S.Builder], n: int, taken: set[str]) -> list[Step]:
    out: list[Step] = []
    for _ in range(n * 6):
        if len(out) == n:
            break
        step = pick(c.rng, builders)(c)
        if step.task_id not in taken:
            taken.add(step.task_id)
            out.append(step)
    return out


def _linear(c: Context) -> Shape:
    taken: set[str] = set()
    chosen: list[Step] = []
    if c.rng.random() < 0.35:
        chosen += _distinct(c, S.WAITS, 1, taken)
    chosen += _distinct(c, S.extracts(c), 1, taken)
    if c.rng.random() < 0.6:
        chosen += _distinct(c, S.TRANSFORMS, 1, taken)
    chosen += _distinct(c, S.LOADS, 1, taken)
    if c.rng.random() < 0.45:
        chosen += _distinct(c, S.NOTIFIES, 1, taken)
    return Shape(stages=[[s] for s in chosen], phrases=[_then([s.phrase for s in chosen])])


def _single(c: Context) -> Shape:
    taken: set[str] = set()
    chosen = _distinct(c, S.extracts(c) + S.TRANSFORMS, 1, taken)
    if c.rng.random() < 0.3:
        chosen += _distinct(c, S.NOTIFIES, 1, taken)
    return Shape(stages=[[s] for s in chosen], phrases=[_then([s.phrase for s in chosen])])


def _fan_out(c: Context) -> Shape:
    taken: set[str] = set()
    first = _distinct(c, S.extracts(c), 1, taken)
    middle = _distinct(c, S.TRANSFORMS, c.rng.choice([2, 3]), taken)
    last = _distinct(c, S.LOADS + S.NOTIFIES, 1, taken)
    shape = Shape()
    together = _and([s.phrase for s in middle]) + " in parallel"
    if c.rng.random() < 0.4:
        group = f"process_{c.domain.slug}"
        shape.stages = [first, [Group(group, middle)], last]
        together += f" (in a task group named `{group}`)"
        shape.features.append("task_group")
    else:
        shape.stages = [first, list(middle), last]
    shape.phrases = [_then([first[0].phrase, together, last[0].phrase])]
    return shape


def _groups(c: Context) -> Shape:
    sources = c.rng.sample(["crm", "erp", "web", "billing", "ads", "support"], c.rng.choice([2, 3]))
    per = c.rng.sample(["extract", "validate", "load"], 2)
    per.sort(key=["extract", "validate", "load"].index)
    groups = []
    for source in sources:
        members = [
            S.Step(
                f"{verb}_{source}",
                "bash",
                "",
                {"BashOperator"},
                S._call(
                    "BashOperator",
                    f"{verb}_{source}",
                    bash_command=S._q(f"python /opt/etl/{verb}.py --source {source}"),
                ),
                spec={"operator": "bash", "bash_command": f"python /opt/etl/{verb}.py --source {source}"},
            )
            for verb in per
        ]
        groups.append(Group(source, members))
    publish = S.empty("publish") if c.rng.random() < 0.5 else S.bash_script(c)
    shape = Shape(stages=[list(groups), [publish]], features=["task_group"])
    what = " and ".join(per)
    end = "a final `publish` step" if publish.kind == "empty" else publish.phrase
    shape.phrases = [
        f"one task group per source system ({', '.join(sources)}), each running {what} one after the other "
        f"(`python /opt/etl/<step>.py --source <name>`); all groups run in parallel, then {end}"
    ]
    # Steps inside a group chain one after the other.
    for group in groups:
        group.steps = [_Chained(group.steps)]
    return shape


class _Chained(Step):
    """Steps of one task group that run in sequence (rendered as `a >> b` inside the group)."""

    def __init__(self, members: list[Step]) -> None:
        super().__init__(members[0].task_id, "chain", "", set().union(*(m.names for m in members)))
        self.members = members


def _mapping(c: Context) -> Shape:
    d = c.domain
    lister = S.Step(
        f"list_{d.slug}_files",
        "taskflow",
        "",
        {"task"},
        f"list_{d.slug}_files()",
        function=S._task(
            f"list_{d.slug}_files", [f'return ["{d.slug}/part-1.csv", "{d.slug}/part-2.csv", "{d.slug}/part-3.csv"]']
        ),
    )
    worker = S.Step(
        f"process_{d.slug}_file",
        "taskflow",
        "",
        {"task"},
        "",
        function="\n".join(["@task", f"def process_{d.slug}_file(path: str):", '    print(f"processing {path}")']),
    )
    phrase = f"list the {d.noun} files, then process each file in its own mapped task (dynamic task mapping)"
    shape = Shape(stages=[[Mapping(lister, worker, phrase)]], features=["mapping", "taskflow"])
    taken = {lister.task_id, worker.task_id}
    parts = [phrase]
    if c.rng.random() < 0.5:
        after = _distinct(c, S.LOADS + S.NOTIFIES, 1, taken)
        shape.stages.append(after)
        parts.append(after[0].phrase)
    shape.phrases = [_then(parts)]
    return shape


def _branching(c: Context) -> Shape:
    taken: set[str] = set()
    a, b = _distinct(c, S.TRANSFORMS + S.LOADS, 2, taken)
    chooser = S.Step(
        f"choose_{c.domain.slug}_path",
        "branch",
        "",
        {"task"},
        f"choose_{c.domain.slug}_path()",
        function=S._task(
            f"choose_{c.domain.slug}_path",
            ["if pendulum.now().weekday() < 5:", f'    return "{a.task_id}"', f'return "{b.task_id}"'],
            decorator="@task.branch",
        ),
    )
    join = S.empty("join", trigger_rule="none_failed_min_one_success")
    shape = Shape(stages=[[chooser], [a, b], [join]], features=["branching", "trigger_rule"])
    shape.phrases = [
        f"branch on the day: on weekdays {a.phrase}, on weekends {b.phrase}; then join both paths "
        f"in a `join` task that runs whichever branch was taken (trigger rule none_failed_min_one_success)"
    ]
    if c.rng.random() < 0.4:
        notify = _distinct(c, S.NOTIFIES, 1, taken)
        shape.stages.append(notify)
        shape.phrases[0] += f", and finally {notify[0].phrase}"
    return shape


_SHAPES = [(_linear, 0.36), (_single, 0.16), (_fan_out, 0.16), (_groups, 0.08), (_mapping, 0.12), (_branching, 0.12)]


@dataclass
class Options:
    retries: int = 0
    retry_minutes: int = 5
    callback: bool = False
    email_on_failure: str = ""
    params: bool = False
    catchup: bool = False
    sla_hours: int = 0
    tags: list[str] = field(default_factory=list)
    owner: str = ""
    max_active_runs: int = 0
    sentences: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)


def _options(rng: random.Random, major: int) -> Options:
    o = Options()
    if rng.random() < 0.3:
        o.retries, o.retry_minutes = pick(rng, [1, 2, 3, 5]), pick(rng, [1, 2, 5, 10, 15])
        o.sentences.append(
            pick(
                rng,
                [
                    f"Retry failed tasks {o.retries} times, {o.retry_minutes} minutes apart.",
                    f"Each task retries {o.retries}x with a {o.retry_minutes} minute delay.",
                ],
            )
        )
        o.features.append("retries")
    if rng.random() < 0.15:
        o.callback = True
        o.sentences.append("Call a failure callback that logs which task failed.")
        o.features.append("callbacks")
    if rng.random() < 0.1:
        o.email_on_failure = pick(rng, EMAILS)
        o.sentences.append(f"Email {o.email_on_failure} when a task fails.")
    if rng.random() < 0.12:
        o.params = True
        o.sentences.append(
            "Add a `full_refresh` parameter (a boolean, false by default) people can set when triggering it."
        )
        o.features.append("params")
    if rng.random() < 0.1:
        o.catchup = True
        o.sentences.append("Backfill missed runs since January 1st, 2024 (catchup on).")
    elif rng.random() < 0.2:
        o.sentences.append(pick(rng, ["No backfill.", "Don't catch up on missed runs."]))
    # Drawn for every version (Airflow 3 has no SLAs), so version twins keep drawing the same options after it.
    sla, hours = rng.random() < 0.06, pick(rng, [1, 2])
    if major < 3 and sla:
        o.sla_hours = hours
        o.sentences.append(
            f"Flag an SLA miss when a task is not done within {o.sla_hours} hour{'s' * (o.sla_hours > 1)}."
        )
    if rng.random() < 0.35:
        o.tags = [pick(rng, TEAMS)]
        o.sentences.append(f"Tag it `{o.tags[0]}`.")
    if rng.random() < 0.2:
        o.owner = pick(rng, TEAMS)
        o.sentences.append(f"The owner is the {o.owner} team.")
    if rng.random() < 0.1:
        o.max_active_runs = 1
        o.sentences.append("Never run two runs at once.")
    return o


@dataclass
class Design:
    """One draw: everything a file is rendered from, and the requests it answers with what they promise."""

    dag_id: str
    shape: Shape
    when: Schedule
    options: Options
    major: int
    taskflow: bool
    requests: list[str]
    expect: Expect
    kinds: list[str]

    def render(self, clock: Clock = "datetime", cron_note: CronNote = "clock") -> str:
        return render(
            self.dag_id,
            self.shape,
            self.when,
            self.options,
            self.major,
            self.taskflow,
            clock=clock,
            cron_note=cron_note,
        )


def compose_one(
    rng: random.Random,
    version: AirflowVersion,
    clock: Clock = "datetime",
    cron_note: CronNote = "clock",
    reads: bool = False,
) -> ComposedDag:
    """One composed file for `version` (a series such as `3.1`), with its requests and what they promise."""
    design = draw(rng, version, reads)
    code = design.render(clock, cron_note)
    digest = hashlib.sha256(f"{version}\n{code}".encode()).hexdigest()[:16]
    return ComposedDag(
        id=digest,
        dag_id=design.dag_id,
        airflow_version=version,
        code=code,
        requests=design.requests,
        expect=design.expect,
        kinds=design.kinds,
    )


def draw(rng: random.Random, version: AirflowVersion, reads: bool = False) -> Design:
    """The design of one file for `version`; `compose_one` renders it (the same draws, in the same order)."""
    major = int(str(version).split(".")[0])
    domain = pick(rng, DOMAINS)
    c = Context(rng=rng, domain=domain, major=major, taskflow=rng.random() < 0.5, reads=reads)
    builders, weights = zip(*_SHAPES, strict=True)
    shape = rng.choices(builders, weights=weights)[0](c)
    when = schedule(rng, domain.slug)
    options = _options(rng, major)
    if "mapping" in shape.features and options.sla_hours:  # Airflow refuses SLAs on mapped tasks
        options.sla_hours = 0
        options.sentences = [t for t in options.sentences if "SLA" not in t]
    dag_id = f"{domain.slug}_{pick(rng, ['pipeline', 'daily', 'sync', 'etl', 'job', 'report', 'load'])}"
    all_steps = _steps(shape)
    features = sorted({*shape.features, *options.features, *(f for s in all_steps for f in s.features)})
    has_taskflow = any(s.function and s.kind != "branch" for s in all_steps)
    if c.taskflow and has_taskflow and "taskflow" not in features and rng.random() < 0.5:
        features.append("taskflow")  # half the TaskFlow files say so in the request (and are judged on it)
    expect = Expect(
        schedule=when.value,
        providers=sorted({p for s in all_steps for p in s.providers}),
        features=sorted(features),
        min_tasks=_task_count(shape),
    )
    requests = describe(rng, shape, when, options, features)
    kinds = sorted({s.kind for s in all_steps})
    return Design(dag_id, shape, when, options, major, c.taskflow, requests, expect, kinds)


def _task_count(shape: Shape) -> int:
    n = 0
    for step in _steps(shape):
        n += len(step.members) if isinstance(step, _Chained) else 1
    return n


def describe(rng: random.Random, shape: Shape, when: Schedule, options: Options, features: list[str]) -> list[str]:
    """Two requests for the same file: a terse one and a conversational one, both stating all it does."""
    work = " ".join(shape.phrases)
    extra = list(options.sentences)
    if "taskflow" in features and "mapping" not in features:
        extra.append(pick(rng, ["Use the TaskFlow API.", "Write it with TaskFlow (@task)."]))
    terse = f"{work[0].upper()}{work[1:]}, {when.phrase}. " + " ".join(extra)
    opener = pick(
        rng,
        [
            "I need a DAG that",
            "Write an Airflow DAG to",
            "Can you build a pipeline that will",
            "Create a DAG that should",
            "We want to",
        ],
    )
    plain = f"{opener} {work}. It should run {when.phrase}. " + " ".join(extra)
    return [terse.strip(), plain.strip()]


def _deps(refs: list[list[tuple[str, str]]]) -> list[str]:
    """`a >> [b, c] >> d` lines; a mapped stage splits the chain (its head is the lister's output)."""

    def fmt(parts: list[str]) -> str:
        return parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"

    segments: list[list[str]] = []
    current: list[str] = []
    for stage in refs:
        heads, tails = [h for h, _ in stage], [t for _, t in stage]
        current.append(fmt(heads))
        if heads != tails:
            segments.append(current)
            current = [fmt(tails)]
    segments.append(current)
    return [" >> ".join(segment) for segment in segments if len(segment) > 1]


def _element_lines(element: Element, body: list[str]) -> tuple[str, str]:
    """Append the lines that create `element` to `body`; return the names that start and end it in the chain."""
    if isinstance(element, Mapping):
        lister, worker = element.lister, element.worker
        body.append(f"{lister.task_id}_out = {lister.task_id}()")
        body.append(f"processed = {worker.task_id}.expand(path={lister.task_id}_out)")
        return f"{lister.task_id}_out", "processed"
    if isinstance(element, Group):
        body.append(f'with TaskGroup(group_id="{element.group_id}") as {element.group_id}_group:')
        inner: list[str] = []
        for step in element.steps:
            members = step.members if isinstance(step, _Chained) else [step]
            names = [_step_ref(m, inner) for m in members]
            if len(names) > 1:
                inner.append(" >> ".join(names))
        body.extend(f"    {line}" for line in inner)
        return f"{element.group_id}_group", f"{element.group_id}_group"
    name = _step_ref(element, body)
    return name, name


def _step_ref(step: Step, body: list[str]) -> str:
    if step.function:
        body.append(f"{step.task_id}_task = {step.expr}")
        return f"{step.task_id}_task"
    body.append(f"{step.task_id} = {step.expr}")
    return step.task_id


def render(
    dag_id: str,
    shape: Shape,
    when: Schedule,
    o: Options,
    major: int,
    taskflow: bool,
    edges: Sequence[tuple[str, str]] | None = None,
    *,
    clock: Clock = "datetime",
    cron_note: CronNote = "clock",
) -> str:
    """The file's text. Dependencies follow the shape's stages, or `edges` (upstream, downstream task ids)."""
    all_steps = _steps(shape)
    for step in list(all_steps):
        if isinstance(step, _Chained):
            all_steps.extend(step.members)
    names: set[str] = {"dag" if taskflow else "DAG"} | {n for s in all_steps for n in s.names}
    if any(isinstance(e, Group) for stage in shape.stages for e in stage):
        names.add("TaskGroup")
    if o.params:
        names.add("Param")
    # Every file opens with the prompt contract's import block (the names most DAGs use, unused ones included),
    # merged with what this file needs beyond it: the block no longer depends on the body that follows it.
    # Measured on the 2026-12-05 laptop model: 18 of 31 failures used a name (`@task` 15) the import line
    # written before the body had left out.
    names |= {*NOTED, asset_class(major)}
    # Written in the pendulum clock, then turned into the datetime one unless asked (`_datetime_clock`): every date
    # and duration comes from a few expressions, so one rewrite keeps the two clocks the same files otherwise.
    lines = ["import pendulum", "", *import_lines(names, major), ""]
    helpers = [s.helper for s in all_steps if s.helper]
    if o.callback:
        helpers.append("def notify_failure(context):\n    print(f\"Task failed: {context['task_instance'].task_id}\")")
    for helper in helpers:
        lines += ["", helper, ""]
    default_args = _default_args(o)
    if default_args:
        lines += ["", "default_args = {", *[f"    {k}: {v}," for k, v in default_args], "}", ""]
    header = _header(dag_id, when, o, major, bool(default_args), cron_note)
    body: list[str] = []
    for step in all_steps:
        if step.function:
            body += [*step.function.splitlines(), ""]
    refs = [[_element_lines(e, body) for e in stage] for stage in shape.stages]
    if edges is None:
        body += _deps(refs)
    else:
        # Edges name tasks; the file names each task's variable (`<id>_task` for a TaskFlow call's result).
        ref = {s.task_id: f"{s.task_id}_task" if s.function else s.task_id for s in all_steps}
        body += [f"{ref[up]} >> {ref[down]}" for up, down in edges]
    if taskflow:
        lines += ["", f"@dag({header})", f"def {dag_id}():"]
        lines += [f"    {line}" if line else "" for line in body]
        lines += ["", "", f"{dag_id}()"]
    else:
        lines += ["", f"with DAG({header}) as dag:"]
        lines += [f"    {line}" if line else "" for line in body]
    text = "\n".join(lines)
    while "\n\n\n\n" in text:
        text = text.replace("\n\n\n\n", "\n\n\n")
    return (_datetime_clock(text) if clock == "datetime" else text).strip() + "\n"


def _datetime_clock(text: str) -> str:
    """A pendulum-clock file written with `datetime` instead: every date and duration in a composed file comes from
    the few expressions replaced here (the start date, `pendulum.duration`, `pendulum.now`). Format 3's files exactly
    (checked on 400 files against the code before the clock existed)."""
    text = text.replace(_PENDULUM_START, "start_date=datetime(2024, 1, 1)").replace("pendulum.duration(", "timedelta(")
    text = text.replace("pendulum.now()", "datetime.now()")
    names = "datetime, timedelta" if "timedelta(" in text else "datetime"
    return text.replace("import pendulum\n", f"from datetime import {names}\n", 1)


def _default_args(o: Options) -> list[tuple[str, str]]:
    args: list[tuple[str, str]] = []
    if o.owner:
        args.append(('"owner"', f'"{o.owner}"'))
    if o.retries:
        args += [('"retries"', str(o.retries)), ('"retry_delay"', f"pendulum.duration(minutes={o.retry_minutes})")]
    if o.email_on_failure:
        args += [('"email"', f'["{o.email_on_failure}"]'), ('"email_on_failure"', "True")]
    if o.callback:
        args.append(('"on_failure_callback"', "notify_failure"))
    if o.sla_hours:
        args.append(('"sla"', f"pendulum.duration(hours={o.sla_hours})"))
    return args


def _header(dag_id: str, when: Schedule, o: Options, major: int, default_args: bool, cron_note: CronNote) -> str:
    if when.value == "none":
        sched = "None"
    elif when.value == "asset":
        sched = f'[{asset_class(major)}("{when.asset_uri}")]'
    else:
        sched = f'"{when.value}"'
    comment = when.comment(cron_note)
    note = [f"# {comment}"] if comment else []
    args = [f'dag_id="{dag_id}"', *note, f"schedule={sched}", _PENDULUM_START, f"catchup={o.catchup}"]
    if default_args:
        args.append("default_args=default_args")
    if o.max_active_runs:
        args.append(f"max_active_runs={o.max_active_runs}")
    if o.params:
        args.append('params={"full_refresh": Param(False, type="boolean")}')
    if o.tags:
        args.append(f'tags=["{o.tags[0]}"]')
    return "\n" + "".join(f"    {a}\n" if a.startswith("#") else f"    {a},\n" for a in args)
