"""Score only the answer's positions in TRL's fused LM head when training on a CPU.

TRL's SFTTrainer projects hidden states through the LM head in tiles (`trl.trainer.utils.add_fused_lm_head`). On
Triton devices it scores only positions with a label; elsewhere it scores every position and zeroes the rest, so that
tile shapes stay fixed for compilers that would otherwise recompile per batch (Neuron). A CPU compiles nothing, and
with completion-only loss the prompt's positions (a third of the laptop dataset's tokens) cost the LM head's matmul
over the 49,152-word vocabulary, forward and backward, for a loss term of zero. The loss and gradients are the same
either way; `bench/cpu_train_bench.py` measures the time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def labelled_positions_only(*, enabled: bool = True) -> Iterator[bool]:
    """While open, TRL's fused LM head scores only labelled positions on a CPU too. Yields whether it does (a TRL
    without the fused head, or with another switch, is left as it is)."""
    fused: Any = importlib.import_module("trl.trainer.utils")  # private: looked up, never assumed
    original: Callable[[Any], bool] | None = getattr(fused, "_use_triton", None) if enabled else None
    if original is None or not hasattr(fused, "add_fused_lm_head"):
        yield False
        return

    def compact(device: Any) -> bool:
        return bool(original(device)) or device.type == "cpu"

    fused._use_triton = compact
    try:
        yield True
    finally:
        fused._use_triton = original
