"""When two cron schedules are the same schedule: `0 */1 * * *` is `@hourly`, `0 9 * * MON-FRI` is `0 9 * * 1-5`.

The intent level compared the strings, so a DAG that runs exactly when asked failed for how it spelled it. Each
field is expanded to the set of values it matches (names, ranges, steps, lists; day of week 7 is Sunday, as in
croniter), and day of month and day of week keep cron's rule for the day: when both are restricted a day matches
either, otherwise both (a field counts as unrestricted when it starts with `*`, as in Vixie cron and croniter).
What is not a five-field cron expression (`@once`, a timedelta, six fields) is compared as text.
"""

from __future__ import annotations

from dagcore.asked import PRESET_CRON

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NAMES: tuple[dict[str, int], ...] = (
    {},
    {},
    {},
    {name: i + 1 for i, name in enumerate(_MONTHS)},
    {name: i for i, name in enumerate(_DAYS)},
)

Fields = tuple[frozenset[int], ...]


def _value(text: str, names: dict[str, int]) -> int:
    return names[text] if text in names else int(text)


def _field(text: str, index: int) -> frozenset[int]:
    """The values one field matches; ValueError (or KeyError for an unknown name) when it is not cron."""
    low, high = _RANGES[index]
    names = _NAMES[index]
    values: set[int] = set()
    for part in text.lower().split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(part)
        if span == "*":
            start, end = low, high
        elif "-" in span:
            first, last = span.split("-", 1)
            start, end = _value(first, names), _value(last, names)
        else:
            start = _value(span, names)
            end = high if step_text else start  # `5/15` is every 15 from 5
        if not low <= start <= end <= high:
            raise ValueError(part)
        values.update(range(start, end + 1, step))
    if index == 4 and 7 in values:  # Sunday is 0 and 7
        values = (values - {7}) | {0}
    return frozenset(values)


def _spelled(text: str) -> str:
    """The schedule as written, without quotes and with single spaces."""
    return " ".join(text.strip().strip("\"'").split())


def _fields(text: str) -> tuple[Fields, str] | None:
    """The expanded fields and how days combine (`and`/`or`), or None for what is not a five-field cron."""
    text = _spelled(text)
    parts = PRESET_CRON.get(text.lower(), text).split(" ")
    if len(parts) != 5:
        return None
    try:
        fields = tuple(_field(part, i) for i, part in enumerate(parts))
    except (ValueError, KeyError):
        return None
    both_restricted = not parts[2].startswith("*") and not parts[4].startswith("*")
    return fields, "or" if both_restricted else "and"


def same_schedule(said: str, wanted: str) -> bool:
    """Whether two schedules, as a DAG states them and as a request asks, run at the same times."""
    a, b = _fields(said), _fields(wanted)
    if a is None or b is None:
        return _spelled(said) == _spelled(wanted)
    return a == b
