"""The app served for real by uvicorn on a free loopback port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from dagcore.testing import free_port


@pytest.fixture
def serve() -> Iterator[Any]:
    """serve(app) -> base URL of the app running in uvicorn on a free loopback port."""
    servers: list[uvicorn.Server] = []

    def start(app: FastAPI) -> str:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        servers.append(server)
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the app did not start")

    yield start
    for server in servers:
        server.should_exit = True
