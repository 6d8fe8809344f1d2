"""Run llama.cpp work in a fresh child process.

A crash inside llama.cpp (a SIGILL from a CPU feature the machine advertises but does not run was
seen here with a `-march=native` build) would otherwise kill the training process and lose its
state; in a child it comes back as a clear error. The child also keeps llama.cpp's OpenMP runtime
apart from PyTorch's. It is started as `python -m dagtune._isolate`, not through multiprocessing,
so a caller's script without a `__main__` guard is not run a second time.
"""

from __future__ import annotations

import importlib
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from dagtune.exceptions import ExportError

P = ParamSpec("P")
R = TypeVar("R")


def isolated(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    with tempfile.TemporaryDirectory(prefix="dagtune-") as tmp:
        job, result = Path(tmp) / "job.pkl", Path(tmp) / "result.pkl"
        job.write_bytes(pickle.dumps((func.__module__, func.__qualname__, args, kwargs)))
        done = subprocess.run(
            [sys.executable, "-m", "dagtune._isolate", str(job), str(result)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0 or not result.is_file():
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise ExportError(f"llama.cpp failed in {func.__qualname__} (exit {done.returncode}): {tail}")
        value: R = pickle.loads(result.read_bytes())
        return value


def _main(job: str, result: str) -> None:
    module, name, args, kwargs = pickle.loads(Path(job).read_bytes())
    target: Any = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    Path(result).write_bytes(pickle.dumps(target(*args, **kwargs)))


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
