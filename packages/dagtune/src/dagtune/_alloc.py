"""Keep freed memory in the process while a CPU training run lasts.

glibc's malloc serves big blocks (over its mmap threshold, at most 32 MiB) with mmap and unmaps them on free, and
trims the heap top back to the kernel. A training step on a CPU allocates and frees hundreds of MiB of activations
per sequence, of a new size for each sequence length, so every step page-faults them in again: measured on the
laptop config (SmolLM2-135M, bf16, one sequence per micro-batch), 57 s of system time in 116 s, and 1.4x the tokens/s
once freed memory stays (bench/cpu_train_bench.py, the Trainer rows). The settings are put back and the heap trimmed
afterwards, so a long-lived process (the pipeline) gives the memory back once training ends.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from collections.abc import Iterator
from contextlib import contextmanager

# mallopt parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_DEFAULT_TRIM_THRESHOLD = 128 * 1024
_DEFAULT_MMAP_MAX = 65536
_KEEP = 1 << 30  # the heap keeps up to 1 GiB of freed memory at its top (an int: mallopt takes one)


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None  # musl, macOS and Windows allocators behave otherwise; nothing to tune
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


@contextmanager
def keep_freed_memory(enabled: bool = True) -> Iterator[bool]:
    """Within the block, freed memory stays with the process (no mmap for big blocks, no trimming); yields whether
    the allocator was changed (False off glibc, or when `enabled` is False)."""
    libc = _glibc() if enabled else None
    if libc is None:
        yield False
        return
    libc.mallopt(_M_MMAP_MAX, 0)
    libc.mallopt(_M_TRIM_THRESHOLD, _KEEP)
    try:
        yield True
    finally:
        libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
        libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
        libc.malloc_trim(0)
