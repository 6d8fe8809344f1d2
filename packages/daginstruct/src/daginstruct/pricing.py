"""Prices and the cost estimate shown before anything is sent. Update `PRICES` when prices change."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel

from daginstruct.exceptions import ConfigError
from daginstruct.models import InstructionRequest

# US dollars per million tokens (input, output), standard rates; the Batch API halves both.
PRICES: dict[str, tuple[float, float]] = {
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-sonnet-4-5": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-opus-4-1": (15.00, 75.00),
    "claude-3-5-haiku-latest": (0.80, 4.00),
}
BATCH_DISCOUNT = 0.5
CHARS_PER_TOKEN = 4.0
"""Offline token estimate: characters / 4, rounded up, per text (English prose and Python code
average close to this for Claude's tokenizer; the estimate is a budget, not an invoice)."""
EXPECTED_OUTPUT_SHARE = 0.5
"""Answers use about half their `max_tokens` on average; the upper bound assumes all of it."""


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def price_of(model: str) -> tuple[float, float]:
    for name, price in PRICES.items():
        if model == name or model.startswith(name + "-"):  # dated snapshots: claude-haiku-4-5-20251001
            return price
    raise ConfigError(f"no price for model {model!r}: add it to daginstruct.pricing.PRICES")


def cost_usd(input_tokens: int, output_tokens: int, model: str, *, batch: bool) -> float:
    """Dollars for a token count at `model`'s price, halved for the Batch API."""
    price_in, price_out = price_of(model)
    factor = BATCH_DISCOUNT if batch else 1.0
    return round(factor * (input_tokens * price_in + output_tokens * price_out) / 1e6, 6)


class CostEstimate(BaseModel):
    model: str
    batch: bool
    requests: int
    input_tokens: int
    expected_output_tokens: int
    max_output_tokens: int
    expected_usd: float
    max_usd: float


def estimate(requests: Sequence[InstructionRequest], model: str, *, batch: bool = True) -> CostEstimate:
    price_of(model)  # an unknown model fails before any counting
    input_tokens = sum(estimate_tokens(r.system) + estimate_tokens(r.prompt) for r in requests)
    max_out = sum(r.max_tokens for r in requests)
    expected_out = math.ceil(max_out * EXPECTED_OUTPUT_SHARE)

    return CostEstimate(
        model=model,
        batch=batch,
        requests=len(requests),
        input_tokens=input_tokens,
        expected_output_tokens=expected_out,
        max_output_tokens=max_out,
        expected_usd=cost_usd(input_tokens, expected_out, model, batch=batch),
        max_usd=cost_usd(input_tokens, max_out, model, batch=batch),
    )
