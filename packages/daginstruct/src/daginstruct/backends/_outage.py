"""Waiting out an API outage that outlasted the SDK's own retries, within a time budget."""

from __future__ import annotations

from typing import Any

from daginstruct.exceptions import BackendError

FIRST_PAUSE = 2.0
MAX_PAUSE = 60.0


class Outage:
    """Consecutive failures of one run: pauses of 2, 4, 8 ... up to 60 s, `budget` seconds of them in all.

    The work is resumable at any point, so when the budget is spent the run stops with one line that says so;
    the same command picks up where it stopped.
    """

    def __init__(self, budget: float, clock: Any) -> None:
        self.budget, self.clock = budget, clock
        self.waited = 0.0
        self._pause = FIRST_PAUSE

    def back_off(self, what: str, error: Exception) -> None:
        """Sleep before the next try, or raise `BackendError` once the budget is spent."""
        if self.waited >= self.budget:
            raise BackendError(
                f"the Anthropic API stayed {what} through {_duration(self.waited)} of retries (the budget); "
                "nothing is lost: run the same command again to resume"
            ) from error
        pause = min(self._pause, self.budget - self.waited)
        self.clock.sleep(pause)
        self.waited += pause
        self._pause = min(MAX_PAUSE, self._pause * 2)

    def over(self) -> None:
        """A call got through: the next failure starts a new outage, with the whole budget."""
        self.waited, self._pause = 0.0, FIRST_PAUSE


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
