"""Gated tests: `network` and `gpu` tests run only when asked for (`--run-network`, `--run-gpu`)."""

from __future__ import annotations

import pytest

_GATES = {"network": "needs the internet and real credentials", "gpu": "needs a CUDA GPU", "slow": "long-running"}


def pytest_addoption(parser: pytest.Parser) -> None:
    for gate, why in _GATES.items():
        parser.addoption(f"--run-{gate}", action="store_true", default=False, help=f"run tests marked {gate} ({why})")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for gate, why in _GATES.items():
        if config.getoption(f"--run-{gate}"):
            continue
        skip = pytest.mark.skip(reason=f"{why}: pass --run-{gate}")
        for item in items:
            if item.get_closest_marker(gate) is not None:
                item.add_marker(skip)
