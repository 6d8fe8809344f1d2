"""When a DAG runs, in the words a person uses and as Airflow's `schedule=`."""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, ConfigDict

from dagsynth.vocab import pick

CronNote = Literal["clock", "fields"]
"""What a composed file says above a cron `schedule=`, after the request's words. `clock` (the default, format 3): the
24-hour time they name where the words do not (`every day at 4:15pm (16:15)`). `fields`: each cron field that is not
`*`, by name and in cron's order (`every day at 4:15pm: minute 15, hour 16`), so the line below copies the fields in
the order they were just written. Measured on the 45-minute config (bench/README, the written dev set): schedule
failures fell from 14-18 of 96 to 4, import did not move (23-30% -> 21%; benchmark 37.5% -> 32.5%), so `clock` stays
the default."""
_FIELDS = ("minute", "hour", "day of month", "month", "day of week")

_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


class Schedule(BaseModel):
    model_config = ConfigDict(frozen=True)

    phrase: str
    """`every weekday at 6:30`."""
    value: str
    """What the request's intent check expects: a cron expression or preset, `none`, or `asset`."""
    asset_uri: str = ""
    """For `asset`: the URI the DAG is scheduled on."""
    clock: str = ""
    """The time of day the phrase names, on a 24-hour clock (`18:30`), where it names one."""

    def comment(self, note: CronNote = "clock") -> str:
        """What the file says above `schedule=`: the request's words, and the 24-hour time they name (or the cron
        fields, by name). A small model turns `8:15pm` into cron's hour at this line, beside the words, instead of
        far from them in the prompt."""
        if self.value in ("none", "asset") or self.value.startswith("@"):
            return ""  # `None`, an asset, `@daily` say it themselves
        if note == "fields":
            fields = [
                f"{name} {value}" for name, value in zip(_FIELDS, self.value.split(), strict=True) if value != "*"
            ]
            return f"{self.phrase}: {', '.join(fields)}"
        named = self.clock and self.clock not in self.phrase  # `9:05pm`, `9:05`: say 21:05, 09:05
        return f"{self.phrase} ({self.clock})" if named else self.phrase


def _clock(rng: random.Random, hour: int, minute: int) -> str:
    if rng.random() < 0.5:
        return f"{hour:02d}:{minute:02d}" if rng.random() < 0.5 else f"{hour}:{minute:02d}"
    suffix = "am" if hour < 12 else "pm"
    twelve = hour % 12 or 12
    return f"{twelve}{suffix}" if minute == 0 else f"{twelve}:{minute:02d}{suffix}"


def schedule(rng: random.Random, slug: str) -> Schedule:
    hour, minute = rng.randrange(24), pick(rng, [0, 0, 0, 15, 30, 45, 10, 5])
    at = _clock(rng, hour, minute)
    clock = f"{hour:02d}:{minute:02d}"
    kind = rng.random()
    if kind < 0.22:
        return Schedule(
            phrase=pick(rng, [f"every day at {at}", f"daily at {at}", f"each day at {at}"]),
            value=f"{minute} {hour} * * *",
            clock=clock,
        )
    if kind < 0.34:
        phrase = pick(rng, [f"every weekday at {at}", f"Monday to Friday at {at}", f"on weekdays at {at}"])
        return Schedule(phrase=phrase, value=f"{minute} {hour} * * 1-5", clock=clock)
    if kind < 0.42:
        day = rng.randrange(7)
        return Schedule(phrase=f"every {_DAYS[day]} at {at}", value=f"{minute} {hour} * * {day}", clock=clock)
    if kind < 0.48:
        dom = pick(rng, [1, 1, 2, 15])
        nth = {1: "1st", 2: "2nd", 15: "15th"}[dom]
        return Schedule(phrase=f"on the {nth} of every month at {at}", value=f"{minute} {hour} {dom} * *", clock=clock)
    if kind < 0.54:
        m = pick(rng, [5, 10, 15, 20, 30, 45])
        return Schedule(phrase=pick(rng, [f"every hour at minute {m}", f"hourly at :{m:02d}"]), value=f"{m} * * * *")
    if kind < 0.6:
        n = pick(rng, [5, 10, 15, 20, 30])
        return Schedule(phrase=f"every {n} minutes", value=f"*/{n} * * * *")
    if kind < 0.65:
        n = pick(rng, [2, 3, 4, 6, 8, 12])
        return Schedule(phrase=f"every {n} hours", value=f"0 */{n} * * *")
    if kind < 0.8:
        preset, words = pick(
            rng,
            [
                ("@daily", ["daily", "once a day"]),
                ("@hourly", ["hourly", "every hour"]),
                ("@weekly", ["weekly", "once a week"]),
                ("@monthly", ["monthly", "once a month"]),
            ],
        )
        return Schedule(phrase=pick(rng, words), value=preset)
    if kind < 0.9:
        phrase = pick(
            rng,
            ["only when triggered manually", "on demand only (no schedule)", "with no schedule: we trigger it by hand"],
        )
        return Schedule(phrase=phrase, value="none")
    uri = f"s3://{pick(rng, ['datalake', 'warehouse', 'landing'])}/{slug}/"
    phrase = pick(
        rng,
        [
            f"whenever the {uri} dataset is updated",
            f"when the upstream data at {uri} is updated (data-aware scheduling)",
        ],
    )
    return Schedule(phrase=phrase, value="asset", asset_uri=uri)
