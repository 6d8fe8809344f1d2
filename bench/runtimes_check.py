"""Runtimes for every Airflow series offered, resolved as of each release, checked, and used.

For each series (newest release on the index): create the runtime in a fresh root (no constraints file can be
fetched here, so it is resolved with uv's --exclude-newer at the release's upload time), then judge, at the
import level, one small DAG per provider most answers use, each importing that provider for real. Prints a
table and writes JSON. Not part of the test run: it installs seven providers into six Airflows (minutes).

    uv run python bench/runtimes_check.py --root /tmp/runtimes-proof --out docs/results/runtimes
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import dageval
from dageval import Level, Sample
from dageval.runtime import Runtime, resolve_version

SERIES = ["2.7", "2.8", "2.9", "2.10", "3.0", "3.1"]
PROVIDERS = {
    "google": "from airflow.providers.google.cloud.hooks.gcs import GCSHook",
    "amazon": "from airflow.providers.amazon.aws.hooks.s3 import S3Hook",
    "postgres": "from airflow.providers.postgres.hooks.postgres import PostgresHook",
    "snowflake": "from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook",
    "slack": "from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook",
    "cncf.kubernetes": "from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook",
    "http": "from airflow.providers.http.hooks.http import HttpHook",
}
HEAD2 = "from datetime import datetime\nfrom airflow import DAG\nfrom airflow.operators.empty import EmptyOperator\n"
HEAD3 = "from airflow.sdk import DAG\nfrom airflow.providers.standard.operators.empty import EmptyOperator\n"


def dag(version: str, provider: str | None) -> str:
    head = HEAD3 if version.startswith("3.") else HEAD2
    start = "" if version.startswith("3.") else ", start_date=datetime(2024, 1, 1)"
    uses = PROVIDERS[provider] + "\n" if provider else ""
    name = (provider or "none").replace(".", "_")
    hook = uses.split()[-1] if provider else "None"
    return (
        f"{head}{uses}\nwith DAG(dag_id='uses_{name}', schedule=None{start}):\n"
        f"    EmptyOperator(task_id='a', doc={hook!r}.__repr__())\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="a fresh folder for the runtimes")
    parser.add_argument("--out", type=Path, default=Path("docs/results/runtimes"))
    parser.add_argument("--series", nargs="*", default=SERIES)
    args = parser.parse_args()
    rows = []
    for series in args.series:
        version = resolve_version(series)
        start = time.monotonic()
        info = Runtime(version, args.root).ensure()
        made = time.monotonic() - start
        samples = [Sample(id="none", completion=dag(version, None), airflow_version=version)]
        samples += [Sample(id=p, completion=dag(version, p), airflow_version=version) for p in PROVIDERS]
        start = time.monotonic()
        verdicts = dageval.evaluate(samples, level=Level.IMPORT, runtime_root=args.root, import_workers=2)
        judged = time.monotonic() - start
        info = Runtime(version, args.root).ensure()
        results = {v.sample_id: (v.failure.category if v.failure else "loads") for v in verdicts}
        messages = {v.sample_id: v.failure.message[:200] for v in verdicts if v.failure}
        rows.append(
            {
                "series": series,
                "version": version,
                "exclude_newer": info.exclude_newer,
                "constraints": info.constraints,
                "install_s": round(made, 1),
                "providers_and_judging_s": round(judged, 1),
                "results": results,
                "messages": messages,
                "broken_providers": info.broken_providers,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "runtimes.json").write_text(json.dumps(rows, indent=2) + "\n")
    names = ["none", *PROVIDERS]
    lines = [
        "| Airflow | resolved as of | runtime s | " + " | ".join(names) + " |",
        "|---|---|---:|" + "---|" * len(names),
    ]
    for row in rows:
        cells = " | ".join(row["results"].get(n, "?") for n in names)
        lines.append(
            f"| {row['version']} | {row['exclude_newer'] or row['constraints']} | {row['install_s']} | {cells} |"
        )
    table = "\n".join(lines)
    (args.out / "runtimes.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
