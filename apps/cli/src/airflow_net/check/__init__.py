"""The migration check: does each DAG file of a folder that loads in one Airflow still load in another?"""

from airflow_net.check.models import CheckReport, FileCheck
from airflow_net.check.report import html, markdown
from airflow_net.check.run import dag_files, run_check

__all__ = ["CheckReport", "FileCheck", "dag_files", "html", "markdown", "run_check"]
