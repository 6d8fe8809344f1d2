"""A scripted OpenAI-compatible chat endpoint on a loopback port, for tests of what talks to a model; and the
two steps of every test that starts a real server process: a free port, and waiting for its /health.

Real HTTP, a real server thread; only the model is a script. Used by dagserve's, dageval's and the app's tests,
where the loop around the model is what is tested, not the model.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

Script = list[str] | Callable[[dict[str, Any]], str]


class ScriptedModel:
    """Answers chat completions from its script: a list (the next answer; the last one repeats) or a function of
    the request body, cut before the request's stop strings as real servers cut. Serves `contract` at
    `/v1/dagserve/contract` when given (else 404, as non-dagserve servers do). Records every request body in
    `requests`."""

    def __init__(self, script: Script, *, contract: dict[str, str] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, payload: object) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})
                elif self.path == "/v1/dagserve/contract" and contract is not None:
                    self._send(200, contract)
                else:
                    self._send(404, {"error": {"message": "not found", "type": "not_found"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    owner.requests.append(body)
                    count = len(owner.requests)
                answer = script(body) if callable(script) else script[min(count, len(script)) - 1]
                for stop in body.get("stop") or []:  # as real servers do: the answer ends before a stop string
                    answer = answer.split(stop, 1)[0]
                choice = {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
                usage = {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
                self._send(200, {"id": "x", "object": "chat.completion", "model": "scripted", "choices": [choice],
                                 "usage": usage})  # fmt: skip

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    """A loopback port free now (a server started next will almost surely get it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[str], *, timeout: float = 120.0) -> None:
    """Wait until `url`/health answers 200; raise at once, with its output, if `process` ends first."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            output = process.stdout or process.stderr
            raise AssertionError(f"the server exited ({process.returncode}): {output.read() if output else ''}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url}/health did not answer within {timeout:.0f} s")
        time.sleep(0.2)
