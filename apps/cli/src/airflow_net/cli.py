"""The `airflow-net` command."""

from __future__ import annotations

import typer

from airflow_net import __version__
from airflow_net.check_cmd import check
from airflow_net.config_cmd import app as config_app
from airflow_net.dataset_cmd import dataset
from airflow_net.eval_cmd import app as eval_app
from airflow_net.instruct_cmd import app as instruct_app
from airflow_net.mcp_cmd import mcp_cmd
from airflow_net.mine_cmd import mine
from airflow_net.models_cmd import app as models_app
from airflow_net.pipeline import pipeline
from airflow_net.serve_cmd import app_cmd, generate, serve_cmd, status_cmd, stop_cmd
from airflow_net.tune_cmd import export, train

app = typer.Typer(
    name="airflow-net",
    help="Build, serve and measure a small code model that writes Apache Airflow DAGs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command(name="mine")(mine)
app.add_typer(instruct_app, name="instruct")
app.command(name="dataset")(dataset)
app.command(name="train")(train)
app.command(name="export")(export)
app.add_typer(eval_app, name="eval")
app.command(name="serve")(serve_cmd)
app.command(name="stop")(stop_cmd)
app.command(name="status")(status_cmd)
app.command(name="generate")(generate)
app.command(name="app")(app_cmd)
app.command(name="check")(check)
app.add_typer(config_app, name="config")
app.add_typer(models_app, name="models")
# Every argument, --help included, is the MCP app's own.
app.command(
    name="mcp",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
)(mcp_cmd)
app.command(name="pipeline")(pipeline)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"airflow-net {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """airflow-net: mine Airflow DAGs, write the request behind each, build the dataset, fine-tune, serve, evaluate."""


def main() -> None:
    app()
