"""Is a generation caught in a loop? Small models fall into one and would write the same block until max_tokens."""

from __future__ import annotations

MIN_SPAN = 96
"""Tokens the repeated blocks must cover together: the repeats of a short line (a `)` or a blank line) are code."""
MAX_PERIOD = 160
"""The longest block looked for: three copies of a longer one come near most answers' token limits anyway."""


def looping(tokens: list[int], repeats: int, *, min_span: int = MIN_SPAN, max_period: int = MAX_PERIOD) -> bool:
    """The last tokens are one block written `repeats` times in a row, over at least `min_span` tokens.

    Called after each new token, so only loops that end at the last token are looked for. A loop of period q
    also has the periods 2q, 3q, ..., so looking from the period whose repeats fill `min_span` up finds short
    loops too. The first test per period is one comparison (the last token and the one a period before it), so
    a token costs about `max_period` integer comparisons when nothing repeats.
    """
    if repeats < 2:
        return False
    n = len(tokens)
    last = tokens[-1] if tokens else None
    lowest = max(1, -(-min_span // repeats))
    for period in range(lowest, min(max_period, n // repeats) + 1):
        if tokens[n - 1 - period] != last:
            continue
        block = tokens[n - period :]
        if all(tokens[n - (k + 1) * period : n - k * period] == block for k in range(1, repeats)):
            return True
    return False


def first_loop(tokens: list[int], repeats: int) -> int | None:
    """How many tokens of a finished text the engine would have kept: the first length at which `looping` fires,
    checked after each token as the engine checks it (None: never). For replaying answers written without the stop."""
    seen: list[int] = []
    for token in tokens:
        seen.append(token)
        if looping(seen, repeats):
            return len(seen)
    return None
