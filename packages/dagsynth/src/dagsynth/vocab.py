"""The things a data team's DAG is about: one domain gives every name, path and phrase of one composed file."""

from __future__ import annotations

import random
from typing import TypeVar

from pydantic import BaseModel, ConfigDict


class Domain(BaseModel):
    model_config = ConfigDict(frozen=True)

    noun: str
    """How a person says it: `orders`, `support tickets`."""
    slug: str
    """How code names it: `orders`, `support_tickets`."""
    source: str
    """Where it comes from, in words: `the shop database`."""


DOMAINS = [
    Domain(noun="orders", slug="orders", source="the shop database"),
    Domain(noun="invoices", slug="invoices", source="the billing system"),
    Domain(noun="customers", slug="customers", source="the CRM"),
    Domain(noun="clickstream events", slug="clickstream", source="the web tracker"),
    Domain(noun="payments", slug="payments", source="the payment provider"),
    Domain(noun="inventory levels", slug="inventory", source="the warehouse system"),
    Domain(noun="marketing leads", slug="leads", source="the marketing platform"),
    Domain(noun="support tickets", slug="tickets", source="the helpdesk"),
    Domain(noun="sensor readings", slug="sensor_readings", source="the IoT gateway"),
    Domain(noun="web server logs", slug="web_logs", source="the nginx servers"),
    Domain(noun="user signups", slug="signups", source="the app backend"),
    Domain(noun="shipments", slug="shipments", source="the logistics partner"),
    Domain(noun="ad spend", slug="ad_spend", source="the ads API"),
    Domain(noun="exchange rates", slug="fx_rates", source="the rates API"),
    Domain(noun="product catalog", slug="products", source="the PIM"),
    Domain(noun="subscriptions", slug="subscriptions", source="the billing system"),
    Domain(noun="weather data", slug="weather", source="the weather API"),
    Domain(noun="employee records", slug="employees", source="the HR system"),
]

TEAMS = ["data", "analytics", "platform", "finance", "growth", "ops"]
EMAILS = ["data-team@example.com", "oncall@example.com", "finance@example.com", "analytics@example.com"]
BUCKETS = ["raw-data", "company-datalake", "landing-zone", "exports", "analytics-archive"]
IMAGES = ["python:3.11-slim", "alpine:3.19", "ghcr.io/acme/etl:latest", "busybox:1.36"]
NAMESPACES = ["default", "data", "etl", "batch"]


T = TypeVar("T")


def pick(rng: random.Random, items: list[T]) -> T:
    return items[rng.randrange(len(items))]
