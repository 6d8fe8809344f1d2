"""What a request asks for, read from its words: the schedule (`daily at 5am` is `0 5 * * *`) and the providers it
names (`Snowflake` is the Snowflake hook).

A 135M model writes the request's words above the cron line and then the wrong fields below them (`7 * * * *` for
7am, `@daily` for "daily at 02:00"). Read here, the schedule can constrain the answer's `schedule=` (the answer
grammar's `schedule` argument), so the model writes every other line and the cron is the one asked for.

Precision comes first: a wrong schedule forced into a DAG is worse than none, so anything this reader is not sure of
is None (no constraint): two times that disagree, a time zone other than UTC, "around", hour ranges, months by name,
weekends, a day with no hour, a request for more than one DAG, a sensor's poke interval. Written from the composer's
phrases (dagsynth.schedules) and the written dev set (bench/devset.py), never from the request benchmark: on those
200 written requests it reads 117 schedules and none wrong, on 3,200 composed ones 2,534 and none wrong.
"""

from __future__ import annotations

import re

PRESET_CRON = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
"""The cron presets and the five fields each stands for (croniter's): `@daily` is `0 0 * * *`."""

_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_DAY = r"(sun|mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?)(?:day)?s?\b"
_WEEKDAYS = re.compile(
    r"\b(every weekday|weekdays|on weekdays|business days?|work ?days|monday to friday|monday-friday|mon-fri)\b"
)
_MULTI_DAG = re.compile(
    r"\b(two|three|four|pair of|chain of)\b[^.]{0,20}\bdags\b|\bdags?\s+[ab]\b|\bsecond (one|dag)\b|\bfirst (one|dag)\b"
)
_MONTHS = re.compile(r"\b(january|february|march|april|june|july|august|september|october|november|december)\b")
_VETO = re.compile(
    r"o'clock|\baround\b|\bbetween \d|\bfrom \d{1,2}(:\d\d)?\s*(am|pm)? (to|until|till) \d|"
    r"\b(cet|cest|pst|pdt|est|edt|ist|jst|bst|gmt\+|utc\+|utc-)\b|\bsame schedule as\b|\bbusiness hours\b|"
    r"\bweekends?\b|\bfallback\b|\bbut also\b"
)
_MANUAL = re.compile(
    r"\b(manual(ly)?|by hand|hand-triggered|trigger[- ]only|triggered only|no schedule|on demand|unscheduled)\b"
)
_ASSET = re.compile(
    r"\b(when|whenever|once|each time|every time)\b[^.;]{0,60}\b(asset|dataset)s?\b[^.;]{0,100}"
    r"\b(updated|updates|changes|changed)\b|\bscheduled on\b[^.;]{0,40}\b(asset|dataset)|"
    r"\b(asset|dataset|data)[- ](driven|triggered|aware)\b"
)
_CRON = re.compile(r"(?<![\w/*-])((?:[\d*/,-]+\s+){4}[\d*/,-]+)(?![\w/*-])")
_EVERY_MINUTES = re.compile(r"\bevery (\d{1,2}) ?(?:minutes?|mins?|m)\b")
_EVERY_HOURS = re.compile(r"\bevery (\d{1,2}) ?(?:hours?|hrs?|h)\b")
_HALF_HOUR = re.compile(r"\bevery half[- ]hour\b|\bhalf-hourly\b")
_AT_MINUTE = re.compile(
    r"\b(?:every hour|hourly) at (?:minute (\d{1,2})|:(\d\d))\b|\bat minute (\d{1,2}) of every hour\b"
)
_TIME = re.compile(
    r"(?<![\w:.$/-])(\d{1,2}):(\d\d)\s*(am|pm)?(?!\w|:\d)|(?<![\w:.$/-])(\d{1,2})\s*(am|pm)\b|\b(midnight|noon)\b"
)
_BARE_HOUR = re.compile(  # "nightly at 2," "daily at 5." "at 9 on weekdays"; not "at 3 tables" or "at 5 retries"
    r"\b(?:at|nightly|daily|every night at|every day at|each day at)\s+(\d{1,2})"
    r"(?=\s*(?:$|[,;:)]|\.(?!\d)|(?:every|each|on|daily|nightly|utc|and|then|in the)\b))"
)
_PRESET_WORDS = (  # not a file's name (`/daily`, `kpis.daily`)
    (re.compile(r"(?<![/._-])\b(hourly|every hour|once an hour)\b(?![/._-]\w)"), "@hourly"),
    (re.compile(r"(?<![/._-])\b(daily|every day(?!'s)|each day(?!'s)|once a day)\b(?![/._-]\w)"), "@daily"),
    (re.compile(r"(?<![/._-])\b(weekly|every week|once a week)\b(?![/._-]\w)"), "@weekly"),
    (re.compile(r"(?<![/._-])\b(monthly|every month|once a month)\b(?![/._-]\w)"), "@monthly"),
)
_DAY_OF_MONTH = re.compile(
    r"\b(?:on )?the (1st|first|2nd|second|3rd|third|(\d{1,2})th|last) (?:day )?(?:of (?:every|each|the) month)?"
)
_ORDINALS = {"1st": 1, "first": 1, "2nd": 2, "second": 2, "3rd": 3, "third": 3}
_UNCLEAR = "unclear"
"""What `_timed` finds where the clock words disagree or leave the hour open: no schedule, not even a preset word."""
_SENSOR = re.compile(r"\b(sensor|poke|poll|wait|reschedule mode)\b")


def _words(request: str) -> str:
    """The request in lower case, its whitespace single spaces, without the contract's version line (it names no
    schedule and no provider)."""
    return re.sub(r"\btarget: apache airflow [\d.]+", "", " ".join(request.lower().split()))


def asked_schedule(request: str) -> str | None:
    """The schedule `request` asks for: a five-field cron expression, an Airflow preset (`@daily`), `none` (run by
    hand only) or `asset` (run when an asset or dataset is updated); None where it asks for none or is unclear."""
    text = _words(request)
    if _MULTI_DAG.search(text) or _MONTHS.search(text) or _VETO.search(text):
        return None
    cron = {m.group(1) for m in _CRON.finditer(text) if _looks_like_cron(m.group(1))}
    timed = _timed(text)
    if timed == _UNCLEAR:
        return None
    manual = "none" if _MANUAL.search(text) else None
    asset = "asset" if _ASSET.search(text) else None
    found = [value for value in (*cron, timed, manual, asset) if value]
    if not found:  # a bare `daily` is the weakest word: "the daily report" may not be the DAG's schedule
        words = {preset for pattern, preset in _PRESET_WORDS if pattern.search(text)}
        found = list(words)
    return found[0] if len(found) == 1 else None


def _looks_like_cron(text: str) -> bool:
    fields = text.split()
    return len(fields) == 5 and any(f != "*" for f in fields) and all(re.fullmatch(r"[\d*/,-]+", f) for f in fields)


def _timed(text: str) -> str | None:
    """A schedule of clock times, days and intervals; None if the text names none, `_UNCLEAR` if they disagree or
    leave the time open (a day with no hour: midnight would be a guess)."""
    unparenthesised = re.sub(r"\([^)]*\)", " ", text) if _SENSOR.search(text) else text  # `(poke every 5 minutes)`
    intervals = set()
    for m in _EVERY_MINUTES.finditer(unparenthesised):
        n = int(m.group(1))
        intervals.add("* * * * *" if n == 1 else f"*/{n} * * * *")
    for m in _EVERY_HOURS.finditer(unparenthesised):
        n = int(m.group(1))
        intervals.add("0 * * * *" if n == 1 else f"0 */{n} * * *")
    if _HALF_HOUR.search(unparenthesised):
        intervals.add("*/30 * * * *")
    for m in _AT_MINUTE.finditer(text):
        intervals.add(f"{int(next(g for g in m.groups() if g))} * * * *")
    times = _times(text)
    if times is None:
        return _UNCLEAR
    if intervals:
        return intervals.pop() if len(intervals) == 1 and not times else _UNCLEAR
    dow = _days_of_week(text)
    dom = _day_of_month(text)
    if dow is None or dom is None:
        return _UNCLEAR  # days named in a way this reader does not follow
    if times:
        minutes = {m for _, m in times}
        if len(minutes) != 1:
            return _UNCLEAR
        hours = ",".join(str(h) for h in sorted({h for h, _ in times}))
        return f"{minutes.pop()} {hours} {dom or '*'} * {dow or '*'}"
    return _UNCLEAR if dow or dom else None


def _times(text: str) -> set[tuple[int, int]] | None:
    """The clock times `text` names, as (hour, minute) on a 24-hour clock; None if one of them is no time."""
    found: set[tuple[int, int]] = set()
    for m in _TIME.finditer(text):
        hour_text, minute_text, half, bare, bare_half, word = m.groups()
        if word:
            found.add((0, 0) if word == "midnight" else (12, 0))
            continue
        hour, minute = (int(hour_text), int(minute_text)) if hour_text else (int(bare), 0)
        half = half or bare_half
        if (half and not 1 <= hour <= 12) or hour > 23 or minute > 59:
            return None
        if half:
            hour = hour % 12 + (12 if half == "pm" else 0)
        found.add((hour, minute))
    if not found:
        for m in _BARE_HOUR.finditer(text):
            hour = int(m.group(1))
            if hour <= 23:
                found.add((hour, 0))
    return found


def _days_of_week(text: str) -> str | None:
    """Cron's day-of-week field for the days named (`1-5`, `1`, `1,4`), "" for none, None when unclear."""
    weekdays = bool(_WEEKDAYS.search(text))
    named = set()
    for m in re.finditer(r"\b" + _DAY, text):
        stem = m.group(1)[:3]
        named.add(next(i for i, day in enumerate(_DAYS) if day.startswith(stem)))
    if weekdays:
        return "1-5" if named <= {1, 2, 3, 4, 5} else None  # `mon-fri` names two of them
    if not named:
        return ""
    if "day of week" in text or "other days" in text:
        return None  # the day is a branch, not the schedule
    return ",".join(str(d) for d in sorted(named))


def _day_of_month(text: str) -> str | None:
    """Cron's day-of-month field (`1`, `15`), "" for none, None when unclear."""
    if "month" not in text:
        return ""
    days = set()
    for m in _DAY_OF_MONTH.finditer(text):
        word, number = m.group(1), m.group(2)
        if word == "last":
            return None
        days.add(int(number) if number else _ORDINALS[word])
    if len(days) > 1 or any(not 1 <= d <= 28 for d in days):
        return None
    return str(days.pop()) if days else ""


# A provider the request names -> the class of it that dagsynth's composed files use, so the model has seen it called
# (`dagsynth.steps`). One class each, the most general one: a hook where the files call one inside a `@task`. Only
# where the request names the service: an API or a URL is as well called from Python as through the http provider,
# and an `s3://` URI in a request about assets names the asset, not a bucket to write to.
_PROVIDED: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bsnowflake\b"), "SnowflakeHook"),
    (re.compile(r"\bpostgres(?:ql)?\b(?!://)"), "PostgresHook"),
    (re.compile(r"\b(?:aws|amazon)\b|\bs3\b(?!://)|^(?!.*\b(?:asset|dataset)s?\b).*\bs3://"), "S3Hook"),
    (re.compile(r"\bbigquery\b"), "BigQueryInsertJobOperator"),
    (re.compile(r"\bslack\b"), "SlackWebhookOperator"),
    (re.compile(r"\bhttp (?:conn(?:ection)?|operator|sensor|provider)\b|\bhttp_conn_id\b"), "HttpOperator"),
    (re.compile(r"\bdocker\b"), "DockerOperator"),
    (re.compile(r"\b(?:kubernetes|k8s)\b"), "KubernetesPodOperator"),
    (re.compile(r"\bsftp\b"), "SFTPSensor"),
)


def asked_imports(request: str) -> tuple[str, ...]:
    """The provider classes for the services `request` names (`dagcore.names.PROVIDERS` has where each lives), in
    the table's order: what an answer to it should import, because its tasks should use them."""
    text = _words(request)
    return tuple(name for pattern, name in _PROVIDED if pattern.search(text))
