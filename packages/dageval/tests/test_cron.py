"""The intent level's schedule comparison: the same times, however the cron expression spells them."""

from __future__ import annotations

import pytest

from dageval._cron import same_schedule
from dageval.intent import check_intent
from dageval.models import Expect, LoadedDag, LoadedTask


@pytest.mark.parametrize(
    ("said", "wanted"),
    [
        ("0 */1 * * *", "@hourly"),
        ("0 0 * * *", "@daily"),
        ("@midnight", "@daily"),
        ("0 9 * * MON-FRI", "0 9 * * 1-5"),
        ("0 9 * * 1,2,3,4,5", "0 9 * * 1-5"),
        ("0 0 * * 7", "@weekly"),
        ("0 0 1 JAN *", "@yearly"),
        ("*/15 * * * *", "0,15,30,45 * * * *"),
        ("5/20 * * * *", "5,25,45 * * * *"),
        ("0 0-23/6 * * *", "0 */6 * * *"),
        (" '0  6 * * *' ", "0 6 * * *"),
        ("@once", "@once"),
    ],
)
def test_spellings_of_one_schedule_are_the_same(said: str, wanted: str) -> None:
    assert same_schedule(said, wanted)


@pytest.mark.parametrize(
    ("said", "wanted"),
    [
        ("0 */2 * * *", "@hourly"),
        ("15 10 1 * *", "10 19 15 * *"),
        ("0 9 * * 1-5", "0 9 * * 1-6"),
        # both day fields restricted: either matches (the 1st, and every Monday) -- not the Mondays that are the 1st
        ("0 0 1 * 1", "0 0 1 * *"),
        ("0 0 1 * 1", "0 0 */1 * 1"),
        ("@once", "@daily"),
        ("0 0 * *", "0 0 * * *"),  # four fields: compared as text
        ("61 * * * *", "1 * * * *"),  # out of range: not cron, compared as text
    ],
)
def test_different_schedules_differ(said: str, wanted: str) -> None:
    assert not same_schedule(said, wanted)


def test_the_intent_level_accepts_another_spelling_of_the_asked_schedule() -> None:
    task = LoadedTask(operator="BashOperator", bases=["BaseOperator"])
    hourly = LoadedDag(dag_id="h", schedule="0 */1 * * *", timetable="CronTriggerTimetable", tasks=[task])
    assert check_intent(Expect(schedule="@hourly"), [hourly], "").ok
    result = check_intent(Expect(schedule="@daily"), [hourly], "")
    assert result.category == "intent_schedule" and "0 */1 * * *" in result.message
