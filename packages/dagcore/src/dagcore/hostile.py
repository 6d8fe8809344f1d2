"""Hostile clients for tests of real servers on loopback: bodies sent by hand, memory watched, the log read.

For the tests of dagserve and of the app (apps/server), which both read JSON bodies with `dagcore.body`. Linux
only (`/proc/self/status`), and the server under test runs in the test's own process.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

MiB = 1024 * 1024
CHUNK = 64 * 1024


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@contextmanager
def peak_rss_growth() -> Iterator[Callable[[], float]]:
    """Samples this process's RSS (the servers under test run in it) every 2 ms; yields `growth()` in MiB."""
    start, peak, stop = rss_mib(), [0.0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mib() - start)
            stop.wait(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield lambda: peak[0]
    finally:
        stop.set()
        thread.join()


def send_chunked_until_answered(url: str, path: str, total: int) -> tuple[int, int]:
    """POST `total` bytes as a chunked body with no Content-Length, by hand, checking for an answer between
    chunks; stops sending at the first byte of one. Returns (status, bytes sent before it came)."""
    parts = urlsplit(url)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    frame = f"{CHUNK:x}\r\n".encode() + b"[" + b" " * (CHUNK - 1) + b"\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head)
        sent = 0
        while sent < total and not select.select([sock], [], [], 0)[0]:
            sock.sendall(frame)
            sent += CHUNK
        if sent >= total:
            sock.sendall(b"0\r\n\r\n")  # all of it went unanswered: end the body, as a client would
        answer = b""
        while b"\r\n" not in answer:
            got = sock.recv(4096)
            if not got:
                break
            answer += got
    return int(answer.split(b" ", 2)[1]), sent


@contextmanager
def server_errors() -> Iterator[list[logging.LogRecord]]:
    """Records of what uvicorn and asyncio log at ERROR (tracebacks of the app, tasks never awaited).

    Attach after the server started: uvicorn's log setup replaces the handlers of its loggers.
    """
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.ERROR)
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "asyncio")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def hang_up_mid_body(url: str, path: str) -> None:
    """Announce 1000 bytes of body, send 10, and leave."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: 1000\r\n\r\n".encode())
        sock.sendall(b'{"messages')
        time.sleep(0.05)
