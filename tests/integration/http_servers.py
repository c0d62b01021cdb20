"""A real HTTP server on 127.0.0.1 for the channel tests: it records what it received.

``RecordingServer()`` listens on a random port in a thread (``http.server``), keeps every
request (method, path, headers, body, JSON) with the status it answered, and answers
what the test tells it to: scripted ``answers`` first, then ``reply(request)``, by
default 200 with ``{"id": "<prefix>-<n>"}``. Given a ``secret`` it checks the webhook
signature the way a receiver would — with its own HMAC code, not the plugin's — and
answers 401 to a bad one. ``stop()`` and ``start()`` take it down and bring it back on
the same port. Tests count what arrived here, not what the outbox says.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    json: Any = None
    form: dict[str, str] | None = None
    signature_ok: bool | None = None  # None: the server has no secret to check with
    status: int = 0  # what the server answered

    @property
    def key(self) -> str | None:
        return self.headers.get("idempotency-key")


@dataclass
class Answer:
    status: int = 200
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def signature_ok(secret: str, body: bytes, headers: dict[str, str], tolerance_s: float = 300) -> bool:
    """The documented receiver check, written independently of the plugin."""
    stamp, signature = headers.get("x-dealercrm-timestamp", ""), headers.get("x-dealercrm-signature", "")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > tolerance_s:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


class RecordingServer:
    def __init__(self, *, secret: str | None = None, id_prefix: str = "rcv", delay: float = 0.0):
        self.secret, self.id_prefix, self.delay = secret, id_prefix, delay
        self.received: list[Request] = []
        self.answers: deque[Answer] = deque()
        self.reply: Callable[[Request], Answer] = self.default_reply
        self.port = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.start()

    # -- what the test sees ----------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def delivered(self) -> list[Request]:
        """Requests the server accepted (answered 2xx)."""
        return [r for r in self.received if 200 <= r.status < 300]

    def delivered_keys(self) -> Counter:
        return Counter(r.key for r in self.delivered())

    def default_reply(self, request: Request) -> Answer:
        return Answer(200, {"id": f"{self.id_prefix}-{len(self.received)}"})

    # -- running -----------------------------------------------------------------------
    def start(self) -> None:
        assert self._server is None, "already running"
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def _answer(self, request: Request) -> Answer:
        with self._lock:
            self.received.append(request)
            if self.secret is not None:
                request.signature_ok = signature_ok(self.secret, request.body, request.headers)
                if not request.signature_ok:
                    return Answer(401, {"error": {"message": "bad signature"}})
            return self.answers.popleft() if self.answers else self.reply(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = Request("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                kind = request.headers.get("content-type", "")
                if kind.startswith("application/json"):
                    request.json = json.loads(body)
                elif kind.startswith("application/x-www-form-urlencoded"):
                    request.form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
                if owner.delay:
                    time.sleep(owner.delay)
                answer = owner._answer(request)
                request.status = answer.status
                data = json.dumps(answer.json).encode() if answer.json is not None else b""
                self.send_response(answer.status)
                for name, value in {"Content-Type": "application/json", **answer.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        return Handler


@contextmanager
def running(**kwargs: Any) -> Iterator[RecordingServer]:
    server = RecordingServer(**kwargs)
    try:
        yield server
    finally:
        server.stop()
