"""`airflow-net config show|set|unset`: the user's defaults, kept in one TOML file (dagcore.UserConfig)."""

from __future__ import annotations

from typing import Annotated

import typer

from airflow_net._ui import console, summary_table
from dagcore import UserConfig, config_path, load_user_config, set_user_config
from dagcore.cli import one_line_errors
from dagcore.userconfig import KEYS

app = typer.Typer(
    help="Your defaults: the Airflow version, the model, a server URL. Flags always override them.",
    no_args_is_help=True,
)


def _show(config: UserConfig) -> None:
    values = config.model_dump(mode="json")
    console.print(summary_table(str(config_path()), [(k, values[k] if values[k] is not None else "-") for k in KEYS]))


@app.command("show")
@one_line_errors
def show() -> None:
    """Print the config file's path and every key ("-": unset, the command's own default applies)."""
    _show(load_user_config())


@app.command("set")
@one_line_errors
def set_(
    key: Annotated[str, typer.Argument(help=f"One of: {', '.join(KEYS)}.")],
    value: Annotated[str, typer.Argument(help="The new value, e.g. 3.1, a model name, http://host:8765/v1.")],
) -> None:
    """Save a default: `airflow-net config set airflow_version 3.1`."""
    _show(set_user_config(key, value))


@app.command("unset")
@one_line_errors
def unset(key: Annotated[str, typer.Argument(help=f"One of: {', '.join(KEYS)}.")]) -> None:
    """Forget a default: the command's built-in one applies again."""
    _show(set_user_config(key, None))
