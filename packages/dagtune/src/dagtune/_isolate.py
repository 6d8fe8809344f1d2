"""Run llama.cpp work in a fresh child process.

A crash inside llama.cpp (a SIGILL from a CPU feature the machine advertises but does not run was
seen here with a `-march=native` build) would otherwise kill the training process and lose its
state; in a spawned child it comes back as a clear error. The child also keeps llama.cpp's OpenMP
runtime apart from PyTorch's.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

from dagtune.exceptions import ExportError

P = ParamSpec("P")
R = TypeVar("R")


def isolated(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            return pool.submit(func, *args, **kwargs).result()
        except BrokenProcessPool as e:
            raise ExportError(f"llama.cpp crashed in {getattr(func, '__name__', func)}: see its output above") from e
