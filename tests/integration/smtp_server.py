"""A real SMTP server for the e-mail tests: aiosmtpd on 127.0.0.1, a free port.

``SmtpServer`` records every message it accepted (with its Message-ID, parsed) and
every connection that greeted it, and can misbehave on purpose:

* ``stop()`` / ``start()``: the port is closed (connection refused) and opened again;
* ``go_down_after(n)``: after the n-th accepted message it answers 421 to the next
  MAIL FROM and hangs up on every new connection, until ``come_back()``;
* ``flap(times)``: the next ``times`` new connections and RCPT TOs are answered in
  turn with a temporary failure (421 greeting, then hang-up / 451) and normally;
* ``refuse(address)``: RCPT TO that address gets 550 (no such user);
* ``queue_ids=True``: DATA is answered "250 2.0.0 Ok: queued as Q<n>", as Postfix does.

``tls_files(folder)`` makes a self-signed certificate for 127.0.0.1 with openssl, for
STARTTLS and implicit-TLS servers (``starttls=``/``implicit_tls=`` an ``ssl.SSLContext``).
"""

from __future__ import annotations

import email
import email.policy
import itertools
import shutil
import socket
import ssl
import subprocess
import threading
from collections import Counter, deque
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult


@dataclass
class Received:
    message_id: str
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    connection: int
    login: str | None = None
    tls: bool = False

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def text(self) -> str:
        return self.message.get_body(preferencelist=("plain",)).get_content()

    def html(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tls_files(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate (and key) valid for 127.0.0.1 and localhost."""
    if shutil.which("openssl") is None:
        import pytest
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class _Recorder:
    """The aiosmtpd handler: runs in the server's thread, shares state under a lock."""

    def __init__(self, server: SmtpServer):
        self.server = server

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.server._greeted(server)
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        self.server._greeted(server)
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.server.down:
            return "421 4.3.2 service shutting down, closing transmission channel"
        envelope.mail_from, envelope.mail_options = address, list(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        answer = self.server._planned(self.server.rcpt_answers)
        if answer:
            return answer
        if address.lower() in self.server.unknown:
            return f"550 5.1.1 <{address}>: no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        return self.server._record(server, session, envelope)


class _Smtp(SMTP):
    async def _handle_client(self):
        owner: SmtpServer = self.event_handler.server
        if owner.down:
            self.transport.close()  # hang up before the greeting: "the server crashed"
            return
        answer = owner._planned(owner.greetings)
        if answer:
            await self.push(answer)
            self.transport.close()
            return
        await super()._handle_client()


class _Controller(Controller):
    def factory(self):
        return _Smtp(self.handler, **self.SMTP_kwargs)


class SmtpServer:
    def __init__(self, *, starttls: ssl.SSLContext | None = None, implicit_tls: ssl.SSLContext | None = None,
                 credentials: tuple[str, str] | None = None, queue_ids: bool = False):
        self.host, self.port = "127.0.0.1", free_port()
        self.received: list[Received] = []
        self.connections = 0
        self.greetings: deque[str | None] = deque()
        self.rcpt_answers: deque[str | None] = deque()
        self.unknown: set[str] = set()
        self.down = False
        self.queue_ids = queue_ids
        self._down_after: int | None = None
        self._lock = threading.Lock()
        self._queue = itertools.count(1)
        self._kwargs: dict = {"hostname": self.host, "port": self.port, "server_hostname": "mx.test",
                              "ready_timeout": 5, "enable_SMTPUTF8": True}
        if starttls is not None:
            self._kwargs.update(tls_context=starttls, require_starttls=True)
        if implicit_tls is not None:
            self._kwargs.update(ssl_context=implicit_tls)
        if credentials is not None:
            self.credentials = credentials
            self._kwargs.update(authenticator=self._authenticate, auth_required=True,
                                auth_require_tls=starttls is not None or implicit_tls is not None)
        self._controller: Controller | None = None

    # -- running ---------------------------------------------------------------------------
    def start(self) -> SmtpServer:
        self._controller = _Controller(_Recorder(self), **self._kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def settings(self) -> dict:
        """The channel_email settings table that points at this server."""
        return {"host": self.host, "port": self.port, "timeout": 5, "from_address": "service@autohaus.example",
                "from_name": "Autohaus Beispiel"}

    # -- misbehaving -----------------------------------------------------------------------
    def go_down_after(self, messages: int) -> None:
        self._down_after = len(self.received) + messages

    def come_back(self) -> None:
        self.down, self._down_after = False, None

    def flap(self, times: int) -> None:
        """Every other of the next ``times`` connections and recipients fails temporarily."""
        for n in range(times):
            self.greetings.append("421 4.3.2 too busy, try again later" if n % 2 == 0 else None)
            self.rcpt_answers.append("451 4.3.0 temporary local problem, try again later" if n % 2 == 0 else None)

    def refuse(self, address: str) -> None:
        self.unknown.add(address.lower())

    # -- looking at what arrived ----------------------------------------------------------
    def message_ids(self) -> Counter:
        with self._lock:
            return Counter(r.message_id for r in self.received)

    def to(self, address: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if address in r.rcpt_tos]

    # -- called from the server's thread -------------------------------------------------
    def _planned(self, answers: deque) -> str | None:
        with self._lock:
            return answers.popleft() if answers else None

    def _greeted(self, smtp: SMTP) -> None:
        with self._lock:  # once per connection, also when EHLO is repeated after STARTTLS
            if not getattr(smtp, "_counted", False):
                smtp._counted = True
                self.connections += 1
                smtp._connection_no = self.connections

    def _record(self, smtp: SMTP, session, envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.received.append(Received(
                message_id=str(message["Message-ID"]), mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos),
                message=message, raw=envelope.content, connection=getattr(smtp, "_connection_no", 0),
                login=session.auth_data, tls=session.ssl is not None or self._kwargs.get("ssl_context") is not None))
            if self._down_after is not None and len(self.received) >= self._down_after:
                self.down = True
        return f"250 2.0.0 Ok: queued as Q{next(self._queue)}" if self.queue_ids else "250 2.0.0 OK"

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = (login, password) == self.credentials
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)
