"""`airflow-net-server` (also `airflow-net app`): the app on 127.0.0.1."""

from __future__ import annotations

import argparse

import uvicorn

from airflow_net_server.app import create_app
from airflow_net_server.settings import AppSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="airflow-net-server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8780)
    parser.add_argument("--endpoint", help="an OpenAI-compatible base URL (default: a local dagserve)")
    parser.add_argument("--model", help="GGUF path or name for the local dagserve, or the model name to send")
    parser.add_argument("--max-attempts", type=int, default=3)
    parser.add_argument("--level", default="import")
    parser.add_argument("--install-runtimes", action="store_true", help="install missing Airflow runtimes")
    args = parser.parse_args(argv)
    settings = AppSettings(
        endpoint=args.endpoint,
        model=args.model,
        max_attempts=args.max_attempts,
        level=args.level,
        install_runtimes=args.install_runtimes,
    )
    uvicorn.run(create_app(settings), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
