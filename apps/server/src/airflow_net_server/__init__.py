"""airflow-net's HTTP app: generate -> validate -> repair, and a page for people."""

from __future__ import annotations

from airflow_net_server.app import AttemptOut, DagRequest, DagResponse, create_app
from airflow_net_server.settings import AppSettings

__all__ = ["AppSettings", "AttemptOut", "DagRequest", "DagResponse", "create_app"]
