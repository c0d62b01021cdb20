"""``Idempotency-Key`` on POSTs, and a bound on request bodies.

A POST with an ``Idempotency-Key`` header is recorded per party before it runs. The
same key with the same request (actor, method, path, query and body) again gets the stored
answer, marked ``Idempotent-Replayed: true``, and nothing runs twice; the same key with
a different request is a 422 problem; a repeat while the first is still running is a
409. An answer of 5xx is not kept, so the client may retry with the same key. Records
are kept for ``KEEP`` (24 h). If the server stops while a keyed request runs, its
record stays "in progress": the outcome is unknown, and the 409 says so. An answer that
concerned a customer erased since is dropped by the erasure (``services/privacy.py``):
a repeat then gets a 410 problem and still runs nothing.

Written as plain ASGI middleware: it must read the body before the route does and
capture the answer after it.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request

from ..db.api_models import IdempotencyRecord
from ..db.models import Customer
from ..db.prepared import Prepared
from ..services.privacy import customers_in_answer
from ..errors import DealerCrmError
from .auth import presented_key
from .problem import IdempotencyInProgress, IdempotencyMismatch, from_domain_error, problem

KEEP = timedelta(hours=24)
SWEEP_EVERY = timedelta(minutes=1)
STALE = timedelta(minutes=5)
MAX_BODY = 1 << 20
KEPT_HEADERS = ("content-type", "etag", "location")
REC = IdempotencyRecord.__table__


# prepared once (dealercrm.db.prepared): two of these run around every keyed POST
_SWEEP = Prepared(delete(REC).where(REC.c.created_at < bindparam("expired_before")))
_RECORD = Prepared(insert(REC).returning(REC.c.id))
_ANSWER = Prepared(update(REC).where(REC.c.id == bindparam("record_id")))
_FORGET = Prepared(delete(REC).where(REC.c.id == bindparam("record_id")))


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
                    _SWEEP.run(conn, {"expired_before": uow.now - KEEP})
                new_id = _RECORD.scalar(conn, dict(key=key, party_id=party_id, method=method, path=path,
                                                   request_hash=digest, created_at=uow.now))
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

    def finish(self, record_id: int, path: str, status: int, headers: dict, body: bytes) -> None:
        with self.crm.uow(self.crm.system, "idempotency.finish") as uow:
            if status >= 500:
                _FORGET.run(uow.connection, {"record_id": record_id})
            else:
                text = body.decode("utf-8", "replace")
                if self._about_erased(uow.connection, path, text):
                    # erased while this request ran: its answer is kept like those the erasure scrubbed
                    status, headers, text = 410, None, None
                _ANSWER.run(uow.connection, dict(status=status, headers=headers, body=text, completed_at=uow.now,
                                                 record_id=record_id))
            uow.commit()

    @staticmethod
    def _about_erased(conn, path: str, text: str) -> bool:
        named = customers_in_answer(path, text)
        return bool(named) and conn.execute(select(Customer.id).where(
            Customer.id.in_(sorted(named)), Customer.erased_at.is_not(None)).limit(1)).first() is not None


class RequestGuard:
    """Bounds bodies, honours ``Idempotency-Key``, and on SQLite lets one writing request in at a time.

    SQLite has one writer; concurrent writers otherwise wait in its busy handler, which
    sleeps in growing steps (up to 100 ms) however soon the lock is free. Queueing the
    writing requests of this process on a fair lock keeps the writer busy instead; reads
    still run side by side, and other processes are still handled by the busy timeout.
    """

    def __init__(self, app, max_body: int = MAX_BODY):
        self.app, self.max_body = app, max_body
        self._write_lock: asyncio.Lock | None = None

    def _serialised(self, scope) -> bool:
        crm = scope["app"].state.crm
        return crm is not None and crm.engine.dialect.name == "sqlite"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH", "DELETE"):
            return await self.app(scope, receive, send)
        if not self._serialised(scope):
            return await self._guarded(scope, receive, send)
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        async with self._write_lock:
            return await self._guarded(scope, receive, send)

    async def _guarded(self, scope, receive, send):
        headers = Headers(scope=scope)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                return await _send(problem(Request(scope), 413, "request-too-large", "Request too large",
                                           f"the body exceeds {self.max_body} bytes"), scope, receive, send)
        replayed = _replay(body, receive)
        key = headers.get("idempotency-key")
        if key is None or scope["method"] != "POST":
            return await self.app(scope, replayed, send)
        request = Request(scope)
        if not key.strip() or len(key) > 255:
            return await _send(problem(request, 422, "validation-error", "Invalid input",
                                       "Idempotency-Key must be 1 to 255 characters", field="Idempotency-Key",
                                       reason="1 to 255 characters"), scope, receive, send)
        state = scope["app"].state
        try:
            principal = await run_in_threadpool(
                state.keys.authenticate, presented_key(headers.get("authorization"), headers.get("x-api-key")))
        except DealerCrmError:
            return await self.app(scope, replayed, send)  # the route answers 401
        if principal.party_id is None:
            return await self.app(scope, replayed, send)
        scope.setdefault("state", {})["dealercrm_principal"] = principal
        # the actor is part of the request: a key another person of the party used must not hand
        # this one an answer (or a permission check) that was someone else's
        digest = hashlib.sha256(b"\n".join([str(principal.actor_id).encode(), scope["method"].encode(),
                                            scope["path"].encode(), scope.get("query_string", b""),
                                            body])).hexdigest()
        store: RecordStore = state.idempotency
        try:
            outcome, found = await run_in_threadpool(store.begin, principal.party_id, key, scope["method"],
                                                     scope["path"], digest)
        except DealerCrmError as exc:
            return await _send(from_domain_error(request, exc), scope, receive, send)
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
        answer = {"status": 500, "headers": {}, "body": b""}

        async def capture(message):
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])
                                     if k.decode().lower() in KEPT_HEADERS}
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, replayed, capture)
        finally:
            await run_in_threadpool(store.finish, found, scope["path"], answer["status"], answer["headers"],
                                    answer["body"])


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
