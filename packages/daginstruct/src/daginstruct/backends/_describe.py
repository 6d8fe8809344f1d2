"""What a DAG file does, read from its code: the steps, the systems it touches, when it runs, its features.

The template backend turns these facts into a user's words. Nothing here is the DAG's own naming (dag id,
task ids, file name): a request that repeats them teaches a model to echo ids, not to write DAGs.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

# Provider package -> how a data engineer names the system.
SYSTEMS = {
    "amazon": "AWS",
    "google": "Google Cloud",
    "postgres": "Postgres",
    "mysql": "MySQL",
    "snowflake": "Snowflake",
    "slack": "Slack",
    "http": "an HTTP API",
    "cncf": "Kubernetes",
    "docker": "Docker",
    "sftp": "an SFTP server",
    "ssh": "a remote host over SSH",
    "databricks": "Databricks",
    "microsoft": "Azure",
    "apache": "Spark/Hadoop",
    "redis": "Redis",
    "mongo": "MongoDB",
    "elasticsearch": "Elasticsearch",
    "smtp": "email",
    "dbt": "dbt Cloud",
    "openlineage": "OpenLineage",
}
# Class-name fragments -> a step in words, first match wins (checked in order).
_STEPS: list[tuple[str, str]] = [
    ("BranchPython", "decide which branch to run"),
    ("ShortCircuit", "skip the rest when a condition is not met"),
    ("TriggerDagRun", "trigger another pipeline"),
    ("ExternalTaskSensor", "wait for another pipeline to finish"),
    ("S3KeySensor", "wait for a file to land in S3"),
    ("GCSObjectExistenceSensor", "wait for a file to land in GCS"),
    ("FileSensor", "wait for a file to show up"),
    ("HttpSensor", "wait until an HTTP endpoint is ready"),
    ("DateTimeSensor", "wait until a given time"),
    ("TimeDeltaSensor", "wait for a while"),
    ("Sensor", "wait for a condition"),
    ("KubernetesPod", "run a container on Kubernetes"),
    ("Docker", "run a Docker container"),
    ("Email", "send an email"),
    ("Slack", "post a message to Slack"),
    ("SimpleHttp", "call an HTTP API"),
    ("Http", "call an HTTP API"),
    ("SQLExecuteQuery", "run SQL"),
    ("Postgres", "run SQL on Postgres"),
    ("Snowflake", "run SQL on Snowflake"),
    ("BigQuery", "run a BigQuery job"),
    ("Bash", "run a shell command"),
    ("Empty", ""),
    ("Dummy", ""),
    ("PythonVirtualenv", "run Python code in its own virtualenv"),
    ("External", "run Python code in another interpreter"),
    ("Python", "run some Python code"),
]
_META = re.compile(
    r"\b(examples?|demonstrat\w*|tutorial|test\w*|this (?:dag|function|task|is)|usage of|showcas\w*|airflow)\b",
    re.IGNORECASE,
)


@dataclass
class Facts:
    steps: list[str] = field(default_factory=list)
    """Each task in words, in file order, without repeats."""
    systems: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    schedule: str | None = None
    """When it runs, in words; None when the file does not say."""
    purpose: str = ""
    """The docstring's first sentence, when it says what the pipeline is for (not `Example DAG ...`)."""
    names: set[str] = field(default_factory=set)
    """The file's own ids (dag ids, task ids): never said in a request."""


def _callee(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _callee(node.func)
    return ""


def _decorator(node: ast.expr) -> str:
    """`@task`, `@task.branch`, `@task(...)`, `@dag` -> `task`, `task.branch`, `task`, `dag`."""
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
        return f"{target.value.id}.{target.attr}"
    return _callee(target)


def _transfer(name: str) -> str | None:
    """`S3ToSnowflakeOperator` -> `copy data from S3 to Snowflake`."""
    match = re.fullmatch(r"(\w+?)To(\w+?)(?:Operator)?", name)
    if not match:
        return None
    spaced = [re.sub(r"(?<=[a-z])(?=[A-Z])", " ", part) for part in match.groups()]
    return f"copy data from {spaced[0]} to {spaced[1]}"


def _step(name: str, call: ast.Call) -> str:
    words = _transfer(name) if "To" in name and not name.startswith("Trigger") else None
    if words:
        return words
    if name == "BashOperator":
        command = next((k.value for k in call.keywords if k.arg == "bash_command"), None)
        if isinstance(command, ast.Constant) and isinstance(command.value, str) and "dbt " in command.value:
            return "run dbt"
    for fragment, phrase in _STEPS:
        if fragment in name:
            return phrase
    base = re.sub(r"(Operator|Sensor)$", "", name)
    return f"use the {base} operator" if base else ""


def _schedule(value: ast.expr) -> str | None:
    if isinstance(value, ast.Constant):
        if value.value is None:
            return "only when triggered by hand"
        if isinstance(value.value, str):
            return cron_words(value.value)
    text = ast.unparse(value)
    if "Dataset" in text or "Asset" in text:
        return "whenever the upstream data is updated"
    days = re.search(r"timedelta\((?:days=)?(\d+)\)", text)
    hours = re.search(r"timedelta\(hours=(\d+)\)", text)
    minutes = re.search(r"timedelta\(minutes=(\d+)\)", text)
    if hours:
        return "every hour" if hours.group(1) == "1" else f"every {hours.group(1)} hours"
    if minutes:
        return "every minute" if minutes.group(1) == "1" else f"every {minutes.group(1)} minutes"
    if days:
        return "every day" if days.group(1) == "1" else f"every {days.group(1)} days"
    return None


_PRESETS = {
    "@once": "once",
    "@hourly": "every hour",
    "@daily": "every day",
    "@weekly": "every week",
    "@monthly": "every month",
    "@yearly": "every year",
    "@annually": "every year",
    "@continuous": "continuously",
}


def cron_words(text: str) -> str:
    """`@daily` -> `every day`; `0 2 * * *` -> `every day at 02:00`; other crons are said as they are."""
    text = text.strip()
    if text in _PRESETS:
        return _PRESETS[text]
    parts = text.split()
    if len(parts) != 5:
        return f"on the schedule {text}"
    minute, hour, day, month, weekday = parts
    if minute.startswith("*/") and hour == day == month == weekday == "*":
        return "every minute" if minute == "*/1" else f"every {minute[2:]} minutes"
    if minute == "*" and hour == day == month == weekday == "*":
        return "every minute"
    if minute.isdigit() and hour == day == month == weekday == "*":
        return "every hour" if minute == "0" else f"every hour at minute {minute}"
    if minute.isdigit() and hour.isdigit() and day == month == "*":
        at = f"at {int(hour):02d}:{int(minute):02d}"
        if weekday == "*":
            return f"every day {at}"
        if weekday in ("1-5", "MON-FRI", "mon-fri"):
            return f"on weekdays {at}"
    return f"on the cron schedule {text}"


def describe(code: str, docstring: str | None = None) -> Facts:
    """The facts of a DAG file; an unparsable file gives empty facts."""
    facts = Facts()
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return facts
    providers: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("airflow.providers."):
            providers.append(node.module.split(".")[2])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            kinds = [_decorator(d) for d in node.decorator_list]
            if any(k.startswith("task") for k in kinds):
                facts.names.add(node.name)
                if "task.branch" in kinds:
                    _add(facts.features, "branching")
                said = _purpose(ast.get_docstring(node)).rstrip(".")
                phrase = "decide which branch to run" if "task.branch" in kinds else said[:1].lower() + said[1:]
                _add(facts.steps, phrase or "run some Python code")
            if "dag" in kinds:
                facts.names.add(node.name)
        elif isinstance(node, ast.Call):
            _call(node, facts)
    facts.systems = list(dict.fromkeys(SYSTEMS[p] for p in providers if p in SYSTEMS))
    facts.purpose = _purpose(docstring if docstring is not None else ast.get_docstring(tree))
    return facts


def _call(node: ast.Call, facts: Facts) -> None:
    name = _callee(node.func)
    for keyword in node.keywords:
        value = keyword.value
        if keyword.arg in ("task_id", "dag_id", "group_id") and isinstance(value, ast.Constant):
            facts.names.add(str(value.value))
        if keyword.arg in ("schedule", "schedule_interval") and facts.schedule is None:
            facts.schedule = _schedule(value)
        if keyword.arg == "retries" and not (isinstance(value, ast.Constant) and value.value == 0):
            _add(facts.features, "retries")
        if keyword.arg in ("on_failure_callback", "on_success_callback", "sla_miss_callback"):
            _add(facts.features, "alerts")
        if keyword.arg == "deferrable":
            _add(facts.features, "deferrable")
    if name in ("DAG", "dag") and node.args and isinstance(node.args[0], ast.Constant):
        facts.names.add(str(node.args[0].value))
    if name in ("expand", "expand_kwargs"):
        _add(facts.features, "mapping")
    elif name == "TaskGroup" or name == "task_group":
        _add(facts.features, "task_group")
    elif name.endswith(("Operator", "Sensor")):
        if "Branch" in name:
            _add(facts.features, "branching")
        _add(facts.steps, _step(name, node))


def _purpose(text: str | None) -> str:
    """A docstring's first sentence, when it is prose about the pipeline (not about being an example)."""
    if not text:
        return ""
    flat = " ".join(line for line in text.splitlines() if not line.lstrip().startswith(("#", ">>>", "```")))
    sentence = re.split(r"(?<=[.!?])\s", " ".join(flat.split()), maxsplit=1)[0].strip()
    if not sentence or _META.search(sentence) or re.search(r"[`{}()\[\]=<>]|\w+_\w+|\.py\b", sentence):
        return ""
    return sentence[:200]


def _add(items: list[str], item: str) -> None:
    if item and item not in items:
        items.append(item)
