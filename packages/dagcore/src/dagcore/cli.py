"""The one error style of every airflow-net command line (`dagserve`, `dageval`, `airflow-net`).

Library errors become one clear line on stderr and exit code 1, invalid input a readable list and exit code 2;
anything else is a bug and keeps its traceback. Needs `dagcore[cli]` (typer).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

try:
    import typer
except ImportError as e:  # pragma: no cover - the extra is declared by every package with a command line
    raise ImportError("install `dagcore[cli]` for the command-line helpers") from e
from pydantic import ValidationError

from dagcore.exceptions import AirflowNetError

P = ParamSpec("P")
R = TypeVar("R")


def readable(error: ValidationError) -> str:
    """A pydantic error as `field: message; field: message`."""
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in error.errors()]
    return "; ".join(parts)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `error: message` on stderr; raise what this returns to exit with `code`."""
    typer.secho("error: ", fg=typer.colors.RED, bold=True, err=True, nl=False)
    typer.echo(message, err=True)
    return typer.Exit(code)


def one_line_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command: an airflow-net error is one line and exit 1, invalid input exit 2."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except AirflowNetError as e:
            raise fail(str(e)) from None
        except ValidationError as e:
            typer.secho("invalid input: ", fg=typer.colors.RED, bold=True, err=True, nl=False)
            typer.echo(readable(e), err=True)
            raise typer.Exit(2) from None

    return wrapper
