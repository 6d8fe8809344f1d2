"""Library errors become one clear line on stderr and a non-zero exit; nothing else is caught."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from dagdata import DagdataError
from dageval import DagevalError
from daginstruct import DaginstructError
from dagmine import DagmineError
from dagserve import DagserveError
from dagtune import DagtuneError

P = ParamSpec("P")
R = TypeVar("R")

stderr = Console(stderr=True)


def readable(error: ValidationError) -> str:
    """A pydantic error as `field: message; field: message`."""
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in error.errors()]
    return "; ".join(parts)


def one_line_errors(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (DagmineError, DaginstructError, DagdataError, DagtuneError, DagevalError, DagserveError) as e:
            stderr.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except ValidationError as e:
            stderr.print(f"[bold red]invalid input:[/] {readable(e)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper
