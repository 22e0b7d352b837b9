"""A real local HTTP server speaking the OpenAI chat API, for tests: the client under test goes
through sockets, HTTP parsing, timeouts and status codes exactly as against vLLM.

    with FakeOpenAI(delay_s=0.05) as server:
        server.fail_next("429", times=2, retry_after="1")
        ...  # LLMConfig(base_url=server.base_url, ...)
        assert len(server.chat_requests) == 3

Fault kinds (consumed one per chat request, in order): "429" (with Retry-After), "400" (echoes
the request's Authorization header in its body, like a careless proxy), "500", "503",
"timeout" (sleeps `timeout_sleep_s`, longer than a test client's timeout), "malformed" (200 with
a body that is not JSON), "missing_choices" (200 with JSON lacking choices), "malformed_logprobs"
(a reward answer with only two of the five attributes).

With `reward` (messages, body) -> {attribute: score} or None, requests it answers get a reward
answer in NIM's format (Nemotron-4-340B-Reward): no text, the scores as
choices[0].logprobs.content = [{"token": "helpfulness", "logprob": 3.1}, ...].
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("429", "400", "500", "503", "timeout", "malformed", "missing_choices", "malformed_logprobs")
Responder = Callable[[list[dict], dict], str]


def echo(messages: list[dict], params: dict) -> str:
    return "echo: " + str(messages[-1].get("content", "")) if messages else "echo:"


def count_tokens(text: str) -> int:
    return len(text.split())


class FakeOpenAI:
    def __init__(self, responder: Responder = echo, delay_s: float = 0.0, timeout_sleep_s: float = 5.0,
                 reward: Callable[[list[dict], dict], dict | None] | None = None):
        self.responder, self.delay_s, self.timeout_sleep_s = responder, delay_s, timeout_sleep_s
        self.reward = reward
        self.requests: list[dict[str, Any]] = []  # {"method", "path", "headers", "body"} per request
        self.in_flight = self.max_in_flight = 0
        self._faults: deque[tuple[str, dict]] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["path"] == "/v1/chat/completions"]

    def fail_next(self, kind: str, times: int = 1, **options: Any) -> None:
        """Queue `times` faults of `kind` for the next chat requests. Options: retry_after (str)."""
        assert kind in FAULTS, kind
        with self._lock:
            self._faults.extend([(kind, options)] * times)

    def start(self) -> FakeOpenAI:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes handlers sleeping in a "timeout" fault or a delay
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _chat(self, body: dict) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) for one chat request, after any queued fault."""
        with self._lock:
            kind, options = self._faults.popleft() if self._faults else (None, {})
        if kind == "timeout":
            self._stop.wait(self.timeout_sleep_s)
        elif kind in ("400", "429", "500", "503"):
            headers = {"Retry-After": str(options.get("retry_after", "1"))} if kind == "429" else {}
            return int(kind), headers, json.dumps({"error": {"message": f"injected {kind}",
                                                             "code": int(kind)}}).encode()
        elif kind == "malformed":
            return 200, {}, b'{"id": "chatcmpl-x", "choices": [ <html>oops'
        elif kind == "missing_choices":
            return 200, {}, json.dumps({"id": "chatcmpl-x", "object": "chat.completion"}).encode()
        if self.delay_s:
            self._stop.wait(self.delay_s)
        messages, params = body.get("messages", []), {k: v for k, v in body.items() if k not in ("messages", "model")}
        scores = self.reward(messages, body) if self.reward is not None else None
        if scores is not None:
            if kind == "malformed_logprobs":
                scores = dict(list(scores.items())[:2])
            content = [{"token": name, "logprob": value} for name, value in scores.items()]
            return 200, {}, json.dumps({
                "id": "chatcmpl-reward", "object": "chat.completion", "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": ""},
                             "logprobs": {"content": content}, "finish_reason": "length"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        words = self.responder(messages, params).split(" ")
        limit = params.get("max_tokens")
        finish = "length" if limit is not None and len(words) > limit else "stop"
        text = " ".join(words[:limit] if finish == "length" else words)
        return 200, {}, json.dumps({
            "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": (p := sum(count_tokens(str(m.get("content", ""))) for m in messages)),
                      "completion_tokens": (c := count_tokens(text)), "total_tokens": p + c},
        }, ensure_ascii=False).encode()


def _handler(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _record(self, body: Any) -> None:
            with server._lock:
                server.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                        "body": body})

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            try:
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers,
                                    "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

        def do_GET(self) -> None:
            self._record(None)
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {}, json.dumps({"object": "list",
                                                "data": [{"id": "test-model", "object": "model"}]}).encode())
            else:
                self._send(404, {}, b'{"error": "not found"}')

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                self._record(raw)
                return self._send(400, {}, b'{"error": "body is not JSON"}')
            self._record(body)
            if self.path != "/v1/chat/completions":
                return self._send(404, {}, b'{"error": "not found"}')
            with server._lock:
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                status, headers, payload = server._chat(body)
                if status == 400:  # a careless proxy echoing what it got, credentials included
                    payload = json.dumps({"error": "bad request", "echo": self.headers.get("Authorization")}).encode()
                self._send(status, headers, payload)
            finally:
                with server._lock:
                    server.in_flight -= 1

    return Handler
