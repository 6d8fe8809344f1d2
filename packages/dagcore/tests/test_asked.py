"""What a request asks for: the schedule and providers people write, and nothing wherever the words are unclear."""

from __future__ import annotations

import pytest

from dagcore import asked_imports, asked_schedule

ASKED = {
    "nightly at 2, tar up /etc/airflow and rsync it to the backup host": "0 2 * * *",
    "Send the summary to the team daily at 6.": "0 6 * * *",  # the full stop ends the hour: not `@daily`
    "Every day at 2am UTC pull yesterday's orders from Postgres": "0 2 * * *",
    "daily at 06:00 run the customer load": "0 6 * * *",
    "run our dbt cloud job every weekday at 6am": "0 6 * * 1-5",
    "every 5 minutes check the consumer lag": "*/5 * * * *",
    "echo hello world with bash every 5 min": "*/5 * * * *",
    "plz write a dag: get top stories from the hacker news api. every 4 hours": "0 */4 * * *",
    "send the weekly KPI report every friday at 4pm": "0 16 * * 5",
    "weekly report: every monday 8am, count last week's signups": "0 8 * * 1",
    "loads Shopify orders every hour at minute 5": "5 * * * *",
    "VACUUM ANALYZE our tables on the first of every month at 03:00.": "0 3 1 * *",
    "Monthly invoicing, on the 2nd at 04:00: compute billable shipments": "0 4 2 * *",
    "weekly, sunday 23:00 UTC: rebuild the leaderboard": "0 23 * * 0",
    "Every weekday 5:50.": "50 5 * * 1-5",
    "Post a message to Slack #eng at 9 on weekdays.": "0 9 * * 1-5",
    "daily at 12:30: run the acme/abtest:2024.6 image": "30 12 * * *",
    "Every half hour, list the new files": "*/30 * * * *",
    "porting a crontab line to airflow: 0 */2 * * 1-5 /usr/local/bin/sync_ldap.sh": "0 */2 * * 1-5",
    "Daily at midnight, fetch the store ids": "0 0 * * *",
    "an hourly job that appends exchange rates": "@hourly",
    "Weekly data contract check of our tables": "@weekly",
    "catchup on: daily runs backfilled since 2024-01-01": "@daily",
    "manual trigger only. params: table name and dry run": "none",
    "No schedule, we'll trigger it by hand": "none",
    "When the orders_clean asset is updated, rebuild the daily revenue summary": "asset",
    "whenever the dataset s3://acme-ml/features is updated retrain the model": "asset",
    "Refresh the customers table every day at 05:00 and mark the dataset as updated when done": "0 5 * * *",
    "Target: Apache Airflow 2.10\nrun the etl at 7am and at 7pm": "0 7,19 * * *",
}

UNCLEAR = [
    "Load the partner feed into BigQuery",  # no schedule named
    "The 6:15 finance export has to finish by 7:00",  # two times, one of them a deadline
    "they publish around 16:00 CET on business days",  # a time zone, and "around"
    "every 2 hours from 8 to 20 on weekdays",  # an hour range
    "on the 1st of January, April, July and October at 06:00",  # months by name
    "Two DAGs please: the first runs at 05:00, the second is scheduled on its dataset",  # two DAGs
    "Wait with a PythonSensor (check every 5 minutes, give up after 3 hours), then load",  # a poke interval
    "Branch on the day of week: on Mondays do a full reload, other days the incremental",  # a branch, no time
    "every weekend archive the old rows",  # weekends: Saturday, Sunday or both?
    "run it daily, but also whenever the clicks asset gets updated",  # two schedules
    "wake me at 25:00",  # not a time
    "look at 3 tables and count their rows",  # a count, not an hour
    "PUT /data/out/daily.csv into the stage",  # a file's name, not a schedule
]


@pytest.mark.parametrize("request_text", list(ASKED))
def test_the_schedule_people_ask_for_is_read(request_text: str) -> None:
    assert asked_schedule(request_text) == ASKED[request_text]


@pytest.mark.parametrize("request_text", UNCLEAR)
def test_unclear_words_ask_for_nothing(request_text: str) -> None:
    assert asked_schedule(request_text) is None


IMPORTS = {
    "Load each day's CSV from s3://acme-raw/shipments/ into the Postgres table shipments_raw": (
        "PostgresHook",
        "S3Hook",
    ),
    "run the expiry procedure in Snowflake, then post the count to #loyalty on Slack": (
        "SnowflakeHook",
        "SlackWebhookOperator",
    ),
    "GET /readings from our IoT gateway (http conn iot_gw) every hour": ("HttpOperator",),
    "train each config in its own Kubernetes pod, then pick the best": ("KubernetesPodOperator",),
    # named as data, not as a service to call: no provider
    "whenever the dataset s3://acme-media/uploads is updated, run /opt/media/thumbs.sh": (),
    "mark the dataset postgres://dwh/public/customers as updated when done": (),
    "pull the open Jira issues via the REST API and email a count per assignee": (),
    "echo hello world with bash every 5 min": (),
}


@pytest.mark.parametrize("request_text", list(IMPORTS))
def test_the_providers_a_request_names_are_read(request_text: str) -> None:
    assert asked_imports(request_text) == IMPORTS[request_text]
