"""`uv run apps/cli <command>` runs the same CLI as `airflow-net <command>`."""

from airflow_net.cli import main

if __name__ == "__main__":
    main()
