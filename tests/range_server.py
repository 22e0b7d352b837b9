"""A real local HTTP server for tests that serves a folder and answers Range requests (206), as
Common Crawl's HTTPS endpoint and S3 do, with faults injected on demand.

    with RangeServer(folder) as server:
        server.fail_next("503", times=2)      # also "500", "truncated" (a short body), "404",
                                              # "timeout" (answers after `timeout_sleep_s`)
        fetch(server.base_url + "crawl-data/...warc.gz", offset, length)
        assert len(server.requests) == 3

Every request is recorded as (path, "bytes=a-b" or None).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FAULTS = ("503", "500", "truncated", "404", "timeout")


class RangeServer:
    def __init__(self, root: Path, timeout_sleep_s: float = 2.0, ignore_range: bool = False) -> None:
        self.root, self.timeout_sleep_s, self.ignore_range = Path(root), timeout_sleep_s, ignore_range
        self.requests: list[tuple[str, str | None]] = []
        self.faults: deque[str] = deque()
        self.lock = threading.Lock()

    def fail_next(self, kind: str, times: int = 1) -> None:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; known: {FAULTS}")
        with self.lock:
            self.faults.extend([kind] * times)

    def _next_fault(self) -> str | None:
        with self.lock:
            return self.faults.popleft() if self.faults else None

    def __enter__(self) -> RangeServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                wanted = self.headers.get("Range")
                with server.lock:
                    server.requests.append((self.path, wanted))
                fault = server._next_fault()
                path = server.root / self.path.lstrip("/")
                if fault == "timeout":
                    time.sleep(server.timeout_sleep_s)
                if fault in ("503", "500"):
                    self._reply(int(fault), b"SlowDown" if fault == "503" else b"error")
                    return
                if fault == "404" or not path.is_file():
                    self._reply(404, b"not found")
                    return
                data = path.read_bytes()
                if wanted and wanted.startswith("bytes=") and not server.ignore_range:
                    first, _, last = wanted[len("bytes="):].partition("-")
                    start, end = int(first), min(int(last), len(data) - 1)
                    body = data[start:end + 1]
                    if fault == "truncated":
                        body = body[: len(body) // 2]
                    self._reply(206, body, {"Content-Range": f"bytes {start}-{end}/{len(data)}"})
                else:
                    self._reply(200, data)

            def _reply(self, status: int, body: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
