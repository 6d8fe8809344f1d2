"""`dageval runtime install|list|remove`: the isolated Airflow runtimes the import level uses."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dageval.exceptions import DagevalError
from dageval.runtime import Runtime, installed_runtimes, resolve_version


def _install(args: argparse.Namespace) -> None:
    for spec in args.versions:
        version = resolve_version(spec)
        print(f"Airflow {version}: installing (uv, cached under {args.root or 'the default cache'})", flush=True)
        info = Runtime(version, args.root, constraints=args.constraints).ensure()
        how = f"constraints from {info.constraints}" if info.constraints else "no constraints file could be fetched"
        print(f"Airflow {version}: ready at {info.python.parent.parent} ({how})")


def _list(args: argparse.Namespace) -> None:
    found = installed_runtimes(args.root)
    if not found:
        print("no Airflow runtime installed: `dageval runtime install 3.1.x`")
    for info in found:
        providers = sorted(name for name, ok in info.providers.items() if ok)
        print(f"{info.version}\t{info.python.parent.parent}\tproviders: {', '.join(providers) or '-'}")


def _remove(args: argparse.Namespace) -> None:
    for version in args.versions:
        Runtime(resolve_version(version), args.root).remove()
        print(f"Airflow {version}: removed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dageval", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    runtime = commands.add_parser("runtime", help="manage Airflow runtimes").add_subparsers(
        dest="action", required=True
    )
    install = runtime.add_parser("install", help="install Airflow versions: 3.1.x (newest 3.1), 2.10.5 (exact)")
    install.add_argument("versions", nargs="+")
    install.add_argument("--constraints", help="a constraints file or URL (default: Airflow's published one)")
    install.set_defaults(run=_install)
    runtime.add_parser("list", help="the installed runtimes").set_defaults(run=_list)
    remove = runtime.add_parser("remove", help="delete runtimes")
    remove.add_argument("versions", nargs="+")
    remove.set_defaults(run=_remove)
    for sub in runtime.choices.values():
        sub.add_argument("--root", type=Path, default=None, help="where runtimes live ($AIRFLOW_NET_CACHE/runtimes)")
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except DagevalError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
