"""The guard of every writing request (``RequestGuard``), and ``Idempotency-Key`` on POSTs.

The guard authenticates the caller before it reads a body or takes the write gate,
bounds the body in size and time, and holds SQLite's write gate only around the
server's own work (see ``RequestGuard`` and ``gate.py``).

A POST with an ``Idempotency-Key`` header is recorded per party before it runs. The
same key with the same request (actor, method, path, query and body) again gets the stored
answer, marked ``Idempotent-Replayed: true``, and nothing runs twice; the same key with
a different request is a 422 problem; a repeat while the first is still running is a
409. An answer of 5xx is not kept, so the client may retry with the same key. Records
are kept for ``KEEP`` (24 h). If the server stops while a keyed request runs, its
record stays "in progress": the outcome is unknown, and the 409 says so. An answer that
concerned a customer erased since is dropped by the erasure (``services/privacy.py``):
a repeat then gets a 410 problem and still runs nothing. What a route shows only once
(a new subscription's secret, ``NOT_KEPT``) is not kept: the repeat has it as null.

Written as plain ASGI middleware: it must read the body before the route does and
capture the answer after it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from contextlib import nullcontext
from datetime import timedelta

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.routing import Match

from ..db.api_models import IdempotencyRecord
from ..db.models import Customer
from ..access import NotAuthenticated
from ..services.privacy import customers_in_answer
from ..errors import DealerCrmError, NotFound
from .auth import presented_key
from .gate import HELD, WriteGate, paced
from ..unsubscribe import token_in_path
from . import unsubscribe as unsubscribe_page
from .inbound_auth import CHANNEL_NAME
from .problem import IdempotencyInProgress, IdempotencyMismatch, from_domain_error, problem

KEEP = timedelta(hours=24)
SWEEP_EVERY = timedelta(minutes=1)
STALE = timedelta(minutes=5)
MAX_BODY = 1 << 20  # the defaults of [http] max_body_bytes and body_timeout_seconds
BODY_TIMEOUT = 30.0
WRITES = ("POST", "PUT", "PATCH", "DELETE")
#: the request scope's ``state`` key naming the inbound channel whose sender the guard authenticated
INBOUND_AUTHENTICATED = "dealercrm_inbound_authenticated"
#: the request scope's ``state`` key a route sets to members of its JSON answer that must never be
#: kept for a repeat (a secret shown once): the kept answer has them as null
NOT_KEPT = "dealercrm_not_kept"
log = logging.getLogger("dealercrm.http")
KEPT_HEADERS = ("content-type", "etag", "location")
REC = IdempotencyRecord.__table__


# built once: two of these run around every keyed POST (the SET of _ANSWER comes from the parameters)
_SWEEP = delete(REC).where(REC.c.created_at < bindparam("expired_before"))
_RECORD = insert(REC).returning(REC.c.id)
_ANSWER = update(REC).where(REC.c.id == bindparam("record_id"))
_FORGET = delete(REC).where(REC.c.id == bindparam("record_id"))


class RecordStore:
    def __init__(self, crm):
        self.crm = crm
        self._swept_at = None  # expired records go once a minute, not with every request

    def begin(self, party_id: int, key: str, method: str, path: str, digest: str):
        """("new", id) for a first request, else the stored record (raises on misuse)."""
        try:
            with self.crm.uow(self.crm.system, "idempotency.begin") as uow:
                conn = uow.connection
                sweep = self._swept_at is None or uow.now - self._swept_at > SWEEP_EVERY
                if sweep:
                    conn.execute(_SWEEP, {"expired_before": uow.now - KEEP})
                new_id = conn.execute(_RECORD, dict(key=key, party_id=party_id, method=method, path=path,
                                                    request_hash=digest, created_at=uow.now)).scalar_one()
                uow.commit()
                if sweep:  # only once it is committed: a repeat's rollback takes the sweep with it
                    self._swept_at = uow.now
                return "new", new_id
        except IntegrityError:
            pass
        with self.crm.read(self.crm.system) as uow:
            row = uow.connection.execute(select(REC).where(REC.c.party_id == party_id, REC.c.key == key)).first()
            now = uow.now
        if row is None:  # expired and removed in between: rare enough to let the client retry
            raise IdempotencyInProgress(f"Idempotency-Key {key!r}: try again")
        if row.request_hash != digest:
            raise IdempotencyMismatch(f"Idempotency-Key {key!r} was used for another request (another method, "
                                      f"path or body than {row.method} {row.path}, or by another key of your "
                                      "party); use a new key for a new request")
        if row.status is None:
            age = now - row.created_at
            raise IdempotencyInProgress(
                f"Idempotency-Key {key!r}: the first request is still running" if age < STALE else
                f"Idempotency-Key {key!r}: the first request started {int(age.total_seconds())}s ago and never "
                "finished (the server may have stopped); its outcome is unknown — look at the resource, then use "
                "a new key")
        return "replay", row

    def finish(self, record_id: int, path: str, status: int, headers: dict, body: bytes,
               not_kept: tuple[str, ...] = ()) -> None:
        with self.crm.uow(self.crm.system, "idempotency.finish") as uow:
            if status >= 500:
                uow.connection.execute(_FORGET, {"record_id": record_id})
            else:
                text = _without(body.decode("utf-8", "replace"), not_kept)
                if self._about_erased(uow.connection, path, text):
                    # erased while this request ran: its answer is kept like those the erasure scrubbed
                    status, headers, text = 410, None, None
                uow.connection.execute(_ANSWER, dict(status=status, headers=headers, body=text, completed_at=uow.now,
                                                    record_id=record_id))
            uow.commit()

    @staticmethod
    def _about_erased(conn, path: str, text: str) -> bool:
        named = customers_in_answer(path, text)
        return bool(named) and conn.execute(select(Customer.id).where(
            Customer.id.in_(sorted(named)), Customer.erased_at.is_not(None)).limit(1)).first() is not None


class RequestGuard:
    """Every writing request: its caller authenticated, then its body read within bounds, then — only
    then — the write gate, around the server's own work.

    1. Who is calling, from the headers alone: an API key (401 if none is valid), or for
       ``/inbound/<channel>`` the channel's sender authentication (``inbound_auth``). An
       unauthenticated request is answered without its body being read.

       The one deliberate exception to "an API key first": ``/unsubscribe/<token>``, the
       RFC 8058 one-click link in marketing e-mail. Mail providers POST it without any
       credentials, so the signed token in the path *is* the authentication
       (``dealercrm.unsubscribe``): checked here, from the path, before the body is read,
       exactly where a key would be; a token that is not genuine is a 404 and nothing is
       read or stored. A genuine one can do one thing only — revoke marketing on its own
       channel for its own customer — and takes no ``Idempotency-Key`` (a repeat changes
       nothing anyway).

       A route a plugin contributed that authenticates its callers itself (a portal's
       session, ``router.dealercrm_authenticates_itself``) is let through to do so, and
       takes no ``Idempotency-Key``; its body is bounded all the same.
    2. The body: a declared ``Content-Length`` over the limit is a 413 before reading; the
       whole body must arrive within ``body_timeout`` or the answer is a 408 and the
       connection is closed. Nothing is held meanwhile but the client's own socket.
    3. For inbound channels that sign the body, the signature (401 if wrong).
    4. ``Idempotency-Key`` and the route itself, inside the write gate (``gate``); the
       answer is sent after the gate is released, so a client that reads slowly does not
       hold it either. Paced routes (imports) take the gate per chunk themselves.
    """

    def __init__(self, app, max_body: int = MAX_BODY, body_timeout: float = BODY_TIMEOUT):
        self.app, self.max_body, self.body_timeout = app, max_body, body_timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in WRITES or scope["app"].state.crm is None:
            return await self.app(scope, receive, send)
        state = scope["app"].state
        headers = Headers(scope=scope)
        request = Request(scope)
        path = scope["path"]
        inbound = _inbound_channel(path)
        unsubscribing = token_in_path(path)
        principal = None
        if unsubscribing is not None:  # the token is the authentication (see above)
            if state.unsubscribe.read(unsubscribing) is None:
                log.warning("unsubscribe link refused from %s: not a genuine token",
                            request.client.host if request.client else "?")
                return await _refuse(unsubscribe_page.invalid(request), scope, send)
        elif inbound is not None:
            check = state.inbound_auth.for_channel(inbound, state.crm.channels.get(inbound))
            if check is None:
                return await _refuse(from_domain_error(request, NotFound("inbound channel", inbound)), scope, send)
            if not check.needs_body:
                refused = _inbound_refusal(request, inbound, check.problem(headers, None))
                if refused is not None:
                    return await _refuse(refused, scope, send)
        elif not _plugin_route(scope):
            try:
                principal = await run_in_threadpool(
                    state.keys.authenticate, presented_key(headers.get("authorization"), headers.get("x-api-key")))
            except DealerCrmError as exc:
                return await _refuse(from_domain_error(request, exc), scope, send)
            scope.setdefault("state", {})["dealercrm_principal"] = principal

        declared = headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_body:
            return await _refuse(_too_large(request, self.max_body), scope, send)
        body = await _read_body(receive, self.max_body, self.body_timeout)
        if body is DISCONNECTED:
            return
        if body is TOO_LARGE:
            return await _refuse(_too_large(request, self.max_body), scope, send)
        if body is TIMED_OUT:
            return await _refuse(problem(request, 408, "request-timeout", "Request timeout",
                                         f"the body did not arrive within {self.body_timeout:g}s"), scope, send)
        if inbound is not None:
            if check.needs_body:
                refused = _inbound_refusal(request, inbound, check.problem(headers, body))
                if refused is not None:
                    return await _refuse(refused, scope, send)
            scope.setdefault("state", {})[INBOUND_AUTHENTICATED] = inbound

        gate: WriteGate = state.write_gate
        whole = nullcontext if paced(path) else gate.held  # around all the server's work on the request
        step = gate.held if paced(path) else nullcontext   # around each write of the guard's own
        replayed = _replay(body, receive)
        answer = _Buffered()
        key = headers.get("idempotency-key")
        if (principal is None or inbound is not None or unsubscribing is not None or key is None
                or scope["method"] != "POST" or principal.party_id is None):
            async with whole():
                await self._run(scope, replayed, answer)
            return await answer.flush(send)
        if not key.strip() or len(key) > 255:
            return await _send(problem(request, 422, "validation-error", "Invalid input",
                                       "Idempotency-Key must be 1 to 255 characters", field="Idempotency-Key",
                                       reason="1 to 255 characters"), scope, receive, send)
        # the actor is part of the request: a key another person of the party used must not hand
        # this one an answer (or a permission check) that was someone else's
        digest = hashlib.sha256(b"\n".join([str(principal.actor_id).encode(), scope["method"].encode(),
                                            path.encode(), scope.get("query_string", b""),
                                            body])).hexdigest()
        store: RecordStore = state.idempotency
        async with whole():
            try:
                async with step():
                    outcome, found = await run_in_threadpool(store.begin, principal.party_id, key,
                                                             scope["method"], path, digest)
            except DealerCrmError as exc:
                outcome, found = "refused", exc
            if outcome == "new":
                try:
                    await self._run(scope, replayed, answer)
                finally:
                    async with step():
                        await run_in_threadpool(store.finish, found, path, answer.status, answer.kept_headers,
                                                answer.body, tuple(scope.get("state", {}).get(NOT_KEPT, ())))
        if outcome == "refused":
            return await _send(from_domain_error(request, found), scope, receive, send)
        if outcome == "replay" and found.body is None:  # dropped by an erasure (IdempotencyRecord)
            return await _send(problem(request, 410, "answer-erased", "Answer erased",
                                       f"Idempotency-Key {key!r}: the request was carried out once; its answer "
                                       "concerned a customer whose data has since been erased, so it is not kept",
                                       {"Idempotent-Replayed": "true"}), scope, receive, send)
        if outcome == "replay":
            kept = {**(found.headers or {}), "idempotent-replayed": "true"}
            raw = [(k.encode(), str(v).encode()) for k, v in kept.items()]
            await send({"type": "http.response.start", "status": found.status, "headers": raw})
            return await send({"type": "http.response.body", "body": (found.body or "").encode()})
        return await answer.flush(send)

    async def _run(self, scope, receive, answer: _Buffered) -> None:
        held = scope.setdefault("state", {})
        held[HELD] = not paced(scope["path"]) and scope["app"].state.write_gate.serialised
        try:
            await self.app(scope, receive, answer)
        finally:
            held[HELD] = False


class _Buffered:
    """The route's answer, kept until the write gate is released, then sent."""

    def __init__(self):
        self.messages: list[dict] = []
        self.status, self.kept_headers, self.body = 500, {}, b""

    async def __call__(self, message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.kept_headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])
                                 if k.decode().lower() in KEPT_HEADERS}
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")
        self.messages.append(message)

    async def flush(self, send) -> None:
        for message in self.messages:
            await send(message)


class _Outcome:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


DISCONNECTED, TOO_LARGE, TIMED_OUT = _Outcome("disconnected"), _Outcome("too large"), _Outcome("timed out")


async def _read_body(receive, limit: int, timeout: float):
    """The whole body, or why not: the client left, sent more than ``limit``, or took longer than ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    chunks, size = [], 0
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return TIMED_OUT
        try:
            message = await asyncio.wait_for(receive(), remaining)
        except asyncio.TimeoutError:
            return TIMED_OUT
        if message["type"] == "http.disconnect":
            return DISCONNECTED
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return TOO_LARGE
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _without(text: str, members: tuple[str, ...]) -> str:
    """The JSON answer ``text`` with ``members`` set to null: what is shown once is not kept."""
    if not members:
        return text
    try:
        answer = json.loads(text)
    except ValueError:
        return text
    if isinstance(answer, dict):
        answer.update({m: None for m in members if m in answer})
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":"))


def _plugin_route(scope) -> bool:
    """Is the route this request goes to one a plugin contributed (``dealercrm_register_routes``)?
    Those authenticate their callers themselves (a portal's session, a signed link); their
    bodies are still bounded and, on SQLite, their work still queues for the one writer."""
    ours = scope["app"].state.plugin_routes
    if not ours:
        return False
    for route in scope["app"].router.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return id(route) in ours
    return False


def _inbound_channel(path: str) -> str | None:
    if not path.startswith("/inbound/"):
        return None
    name = path[len("/inbound/"):]
    return name if CHANNEL_NAME.fullmatch(name) else None


def _inbound_refusal(request: Request, channel: str, reason: str | None):
    if reason is None:
        return None
    # the reason goes to the log only: a forger learns nothing about what is configured
    log.warning("inbound %s from %s refused: %s", channel, request.client.host if request.client else "?", reason)
    return from_domain_error(request, NotAuthenticated(
        f"inbound channel {channel!r}: the sender is not authenticated (a shared secret or a signature, "
        "as configured for the channel); nothing was stored"))


def _too_large(request: Request, limit: int):
    return problem(request, 413, "request-too-large", "Request too large", f"the body exceeds {limit} bytes")


async def _refuse(response, scope, send) -> None:
    """An answer given without reading (all of) the body: the connection is not reused for another request."""
    response.headers["connection"] = "close"
    await response(scope, _no_body, send)


async def _no_body():
    return {"type": "http.disconnect"}


def _replay(body: bytes, upstream):
    """The body read once, handed to the app; after it, the client's own messages (disconnect)."""
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return await upstream()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _send(response, scope, receive, send) -> None:
    await response(scope, receive, send)
