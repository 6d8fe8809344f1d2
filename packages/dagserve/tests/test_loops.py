"""Answers caught in a loop end early, as cut, and only those: the detector on token lists, then the server."""

from __future__ import annotations

import random

import httpx

from dagserve._loops import MIN_SPAN, first_loop, looping


def _ends_looping(tokens: list[int], repeats: int = 3) -> int | None:
    return first_loop(tokens, repeats)


def test_a_block_written_three_times_is_a_loop_once_it_spans_the_minimum() -> None:
    rng = random.Random(0)
    head = [rng.randrange(1000, 2000) for _ in range(50)]
    block = [rng.randrange(100) for _ in range(40)]
    tokens = head + block * 5
    # Three copies of 40 tokens cover 120 >= 96: it fires at the third copy's last token, not before.
    assert _ends_looping(tokens) == len(head) + 3 * len(block)
    assert _ends_looping(tokens, repeats=4) == len(head) + 4 * len(block)
    assert not looping(tokens, 0) and not looping(tokens, 1)


def test_short_loops_are_found_through_their_multiples_and_short_repeats_are_left_alone() -> None:
    line = [7, 8, 9, 10, 11]  # one short line written over and over: period 5
    # Seen as a block of 7 lines (35 tokens, the first multiple of 5 whose 3 copies span 96) written 3 times.
    assert _ends_looping([1, 2, 3] + line * 40) == 3 + 3 * 35
    # A handful of identical short lines, as code has (closing brackets, blank lines), stays under the span.
    assert _ends_looping([1, 2, 3] + line * 12 + [99]) is None
    assert _ends_looping([5] * (MIN_SPAN - 1)) is None
    assert _ends_looping([5] * MIN_SPAN) == MIN_SPAN


def test_similar_blocks_that_differ_somewhere_are_not_a_loop() -> None:
    # Five tasks alike but for their ids, as a generated DAG has them.
    rng = random.Random(1)
    body = [rng.randrange(100) for _ in range(60)]
    tokens: list[int] = []
    for task in range(5):
        tokens += [500 + task, *body]
    assert _ends_looping(tokens) is None
    # A period past the longest looked for is not seen.
    long_block = [rng.randrange(100) for _ in range(200)]
    assert _ends_looping(long_block * 3) is None


def _ask(server: str, **fields: object) -> dict[str, object]:
    # The bias makes greedy decoding write one letter over and over, the shortest loop there is.
    body = {"prompt": "the dag", "max_tokens": 600, "ignore_eos": True, "temperature": 0.0, "logit_bias": {97: 100}}
    body |= fields
    reply = httpx.post(f"{server}/v1/completions", json=body, timeout=60).json()
    return {"text": reply["choices"][0]["text"], "finish": reply["choices"][0]["finish_reason"], **reply["usage"]}


def test_the_server_cuts_a_looping_answer_where_it_starts_repeating(server: str) -> None:
    # With the detector off, the loop runs to max_tokens.
    whole = _ask(server, stop_repeats=0)
    assert whole["finish"] == "length" and whole["completion_tokens"] == 600
    before = httpx.get(f"{server}/health").json()["loops_stopped"]
    cut = _ask(server, stop_repeats=3)
    assert cut["finish"] == "length"
    assert cut["completion_tokens"] == MIN_SPAN  # the first length whose three copies of a block span 96
    assert str(whole["text"]).startswith(str(cut["text"])) and set(str(whole["text"])) == {"a"}
    assert httpx.get(f"{server}/health").json()["loops_stopped"] == before + 1
    # Left out, the server's setting (3 by default) decides.
    assert _ask(server)["completion_tokens"] == MIN_SPAN
    # Unbiased, the tiny model's greedy text does not repeat itself: nothing is cut.
    assert _ask(server, logit_bias={})["completion_tokens"] == 600


def test_stop_repeats_is_checked(server: str) -> None:
    reply = httpx.post(f"{server}/v1/completions", json={"prompt": "a", "stop_repeats": -1}, timeout=30)
    assert reply.status_code == 400 and "stop_repeats" in reply.text
