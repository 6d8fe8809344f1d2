"""A local stand-in for the Hugging Face Hub's file endpoints (HEAD and GET `/{repo}/resolve/{revision}/{file}`,
with the LFS headers huggingface_hub reads and HTTP ranges), reached through HF_ENDPOINT. It can cut the first
download short, as a dropped connection or a Ctrl-C does."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "c0ffee" * 6 + "abcd"


class HubStandIn:
    def __init__(self, files: dict[str, bytes], *, advertised: dict[str, str] | None = None) -> None:
        """`files`: `repo/filename` -> content; `advertised`: a sha256 to announce instead of the real one."""
        self.files = files
        self.advertised = advertised or {}
        self.requests: list[tuple[str, str, str | None]] = []
        """(method, path, Range header) of every request."""
        self.sent: list[int] = []
        """Bytes of content sent by each GET."""
        self.stall_after: int | None = None
        """Send this many bytes of the first full GET, then stop sending until `release` is set."""
        self.stalled = threading.Event()
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _file(self) -> tuple[str, bytes] | None:
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    return None
                key = f"{parts[0]}/{parts[1]}/{'/'.join(parts[4:])}"
                return (key, owner.files[key]) if key in owner.files else None

            def _head(self, key: str, data: bytes, status: int, length: int, first: int) -> None:
                sha = owner.advertised.get(key) or hashlib.sha256(data).hexdigest()
                self.send_response(status)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("X-Linked-Etag", f'"{sha}"')
                self.send_header("ETag", f'"{sha}"')
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(length))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {first}-{len(data) - 1}/{len(data)}")
                self.end_headers()

            def do_HEAD(self) -> None:
                owner.requests.append(("HEAD", self.path, None))
                found = self._file()
                if found is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.end_headers()
                    return
                self._head(found[0], found[1], 200, len(found[1]), 0)

            def do_GET(self) -> None:
                wanted = self.headers.get("Range")
                owner.requests.append(("GET", self.path, wanted))
                found = self._file()
                if found is None:
                    self.send_error(404)
                    return
                key, data = found
                first = int(wanted.removeprefix("bytes=").split("-")[0]) if wanted else 0
                body = data[first:]
                self._head(key, data, 206 if wanted else 200, len(body), first)
                cut = owner.stall_after if (owner.stall_after is not None and not wanted) else None
                owner.stall_after = None
                try:
                    if cut is not None:
                        self.wfile.write(body[:cut])
                        self.wfile.flush()
                        owner.sent.append(cut)
                        owner.stalled.set()
                        owner.release.wait(120)
                        return  # the client is gone; close without the rest
                    self.wfile.write(body)
                    owner.sent.append(len(body))
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
