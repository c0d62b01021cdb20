"""The guard of every writing request (``RequestGuard``), and ``Idempotency-Key`` on POSTs.

The guard authenticates the caller before it reads a body, bounds the body in size and
time, and admits at most ``writers`` writing requests at once (the rest wait on the event
loop, holding no thread), so reads always find a thread. Writes to SQLite are ordered by
the database file's write lock, held only for each transaction (``dealercrm.db.write_lock``);
on SQLite the core's writing routes also run one after the other on one thread of the app,
its write lane (``WriteLane``; see ``RequestGuard`` 4).

A POST with an ``Idempotency-Key`` header is recorded per party. The record (the claim)
is written in the transaction of the request's operation (``dealercrm.uow.RIDER``): the
operation and its claim commit together or not at all. Where the route's answer is made
in the route's thread right after it (the core's writing routes, ``common.in_pool``), the
operation's commit waits for that answer and the record is written with it: the
operation, its claim and its answer are one transaction, and a route that fails after
its operation leaves nothing. Elsewhere — a route that runs another unit of work after
its operation (which commits first, so the other sees it), a plugin's route — the answer
is kept right after, in a second, small transaction. The same key with the same request (actor,
method, path, query and body) again gets the stored answer, marked
``Idempotent-Replayed: true``, and nothing is carried out twice (a repeat's operation
finds the key claimed when it commits, and rolls back); the same key with a different
request is a 422 problem; a repeat while the first is still running is a 409. An answer
refused before anything was written (a 4xx) is kept as well. An answer of 5xx is not
kept, so the client may retry with the same key. Records are kept for ``KEEP`` (24 h).
If the server stops between an operation's commit and the keeping of its answer (where
the two are apart), the record stays "in progress": the outcome is unknown, and the 409
says so. An answer that
concerned a customer erased since is dropped by the erasure (``services/privacy.py``):
a repeat then gets a 410 problem and still runs nothing. What a route shows only once (a
new subscription's secret, ``NOT_KEPT``) is not kept: the repeat has it as null.

Written as plain ASGI middleware: it must read the body before the route does and
capture the answer after it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from datetime import timedelta

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.routing import Match

from ..db.api_models import IdempotencyRecord
from ..db.models import Customer
from ..access import NotAuthenticated, Principal
from ..uow import RIDER
from ..services.privacy import customers_in_answer
from ..errors import Conflict, DealerCrmError, NotFound
from .auth import presented_key
from ..unsubscribe import token_in_path
from . import unsubscribe as unsubscribe_page
from .inbound_auth import CHANNEL_NAME
from .plugin_routes import path_head
from .problem import IdempotencyInProgress, IdempotencyMismatch, from_domain_error, problem

KEEP = timedelta(hours=24)
SWEEP_EVERY = timedelta(minutes=1)
STALE = timedelta(minutes=5)
MAX_BODY = 1 << 20  # the defaults of [http] max_body_bytes and body_timeout_seconds
BODY_TIMEOUT = 30.0
WRITES = ("POST", "PUT", "PATCH", "DELETE")
#: writing requests admitted into the thread pool at once, unless given: the pool's size
#: less the threads kept for reads (``reserved_for_reads``)
READ_THREADS = 8
#: the request scope's ``state`` key naming the inbound channel whose sender the guard authenticated
INBOUND_AUTHENTICATED = "dealercrm_inbound_authenticated"
#: the request scope's ``state`` key a route sets to members of its JSON answer that must never be
#: kept for a repeat (a secret shown once): the kept answer has them as null
NOT_KEPT = "dealercrm_not_kept"
log = logging.getLogger("dealercrm.http")
KEPT_HEADERS = ("content-type", "etag", "location")
REC = IdempotencyRecord.__table__
#: the lane a core writing route of this request runs in, instead of the thread pool: on SQLite one
#: per app (``RequestGuard.lane``), None where writers run side by side (PostgreSQL)
WRITE_LANE: ContextVar[WriteLane | None] = ContextVar("dealercrm_write_lane", default=None)


class WriteLane:
    """One thread that runs an app's writing routes, one after the other in arrival order.

    Handed to it straight from the event loop, a route's call waits in the thread's queue; the
    thread takes the next one the moment it is done with one, without a trip back through the
    loop in between. What runs there runs after everything queued before it: a route, and the
    ``dealercrm_handle_event`` handlers its commit calls, must not wait on anything slow — least
    of all on another write of the same server."""

    def __init__(self):
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dealercrm-writes")

    async def run(self, function, /, **kwargs):
        """``function(**kwargs)`` in the lane's thread, in this request's context (``RIDER``)."""
        call = functools.partial(contextvars.copy_context().run, function, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    def close(self) -> None:
        """End the thread once what it was given is done (the app's shutdown)."""
        self._thread.shutdown(wait=True)


# built once: they run around every keyed POST (the SET of _ANSWER comes from the parameters)
_SWEEP = delete(REC).where(REC.c.created_at < bindparam("expired_before"))
_RECORD = insert(REC).returning(REC.c.id)
_ANSWER = update(REC).where(REC.c.id == bindparam("record_id"))
_FORGET = delete(REC).where(REC.c.id == bindparam("record_id"))
_FIND = select(REC).where(REC.c.party_id == bindparam("party_id"), REC.c.key == bindparam("key"))
_KEEP = insert(REC)  # a record written with its answer: its id is not needed after
_ERASED_AMONG = (select(Customer.id).where(Customer.id.in_(bindparam("ids", expanding=True)),
                                            Customer.erased_at.is_not(None)).limit(1))


class Claim:
    """A keyed POST's record, written with the first operation of the request that commits
    (a ``dealercrm.uow.Rider``): ``record_id`` once committed; ``taken`` when the key
    turned out to be claimed already (the operation was rolled back).

    Where the route's answer is made in the route's thread (``common.in_pool``: ``answers``
    set meanwhile), the claim holds the operation's commit until the answer is made, and
    writes the record with the answer in that same transaction (``answer``): one commit for
    the operation, its claim and its answer. A read of the route after its operation (the
    case read back for the answer) joins that transaction and sees what it wrote
    (``next_unit``). Another writing unit of work of the route has the operation committed
    with its claim alone first; the answer is then kept after it, as for routes answered
    on the event loop (``RecordStore.finish``)."""

    def __init__(self, store: RecordStore, party_id: int, key: str, method: str, path: str, digest: str,
                 state: dict | None = None):
        self.store, self.party_id, self.key, self.method, self.path, self.digest = (
            store, party_id, key, method, path, digest)
        self.state = state if state is not None else {}  # the request scope's state (``NOT_KEPT``)
        self.pending = True
        self.taken = False
        self.record_id: int | None = None
        self.kept = False  # the answer is kept (written with the operation)
        self.answers = False  # the route's answer is made in its thread, and handed to ``answer``
        self._held = None  # the unit of work whose commit waits for the answer
        self._swept = False  # the last record written swept the expired ones
        self._written: tuple[int, bool] | None = None

    def values(self, now) -> dict:
        return dict(key=self.key, party_id=self.party_id, method=self.method, path=self.path,
                    request_hash=self.digest, created_at=now)

    def holds(self, uow) -> bool:
        if not self.answers:
            return False
        self.pending, self._held = False, uow
        return True

    def ride(self, uow) -> None:
        self._written = (self._write(uow, None), uow.now if self._swept else None)

    def committed(self) -> None:
        record_id, swept_at = self._written
        self.pending, self.record_id = False, record_id
        if swept_at is not None:  # only once it is committed: a rollback takes the sweep with it
            self.store.swept(swept_at)

    def next_unit(self, readonly: bool):
        if self._held is None:
            return None
        if readonly:
            return self._held  # a read sees the operation: it joins its transaction
        self._commit_held(None)  # another write: the operation commits first, with its claim
        return None

    def answer(self, status: int, headers: dict, body: bytes) -> None:
        """The route's answer (in the route's thread, before it is sent): kept with the held operation."""
        if self._held is not None:
            self._commit_held((status, headers, body))

    def abandon(self) -> None:
        """The route ended without an answer to keep (it raised): a held operation rolls back."""
        if self._held is not None:
            uow, self._held = self._held, None
            uow.release(commit=False)

    def _commit_held(self, answer: tuple[int, dict, bytes] | None) -> None:
        uow, self._held = self._held, None
        try:
            record_id = self._write(uow, answer)
        except BaseException:
            uow.release(commit=False)
            raise
        uow.release(commit=True)
        self.record_id, self.kept = record_id, answer is not None
        if self._swept:
            self.store.swept(uow.now)

    def _write(self, uow, answer: tuple[int, dict, bytes] | None) -> int | None:
        """The record, in ``uow``'s transaction (with the answer, if given; else its id, for the
        answer to be kept after); expired records go once a minute. A key claimed already rolls
        the operation back (``Conflict``)."""
        conn = uow.connection
        self._swept = self.store.sweep_due(uow.now)
        if self._swept:
            conn.execute(_SWEEP, {"expired_before": uow.now - KEEP})
        values = self.values(uow.now)
        if answer is not None:
            status, headers, body = answer
            text = _without(body.decode("utf-8", "replace"), tuple(self.state.get(NOT_KEPT, ())))
            if RecordStore._about_erased(conn, self.path, text):
                status, headers, text = 410, None, None  # as RecordStore.finish keeps it
            values.update(status=status, headers=headers, body=text, completed_at=uow.now)
        try:
            if answer is not None:
                conn.execute(_KEEP, values)
                return None
            return conn.execute(_RECORD, values).scalar_one()
        except IntegrityError:
            self.pending, self.taken = False, True
            # rolls the operation back; the guard answers with what the key's record says instead
            raise Conflict(f"Idempotency-Key {self.key!r} is taken: the request was not carried out again") from None


class RecordStore:
    def __init__(self, crm):
        self.crm = crm
        self._swept_at = None  # expired records go once a minute, not with every request
        self._system = None

    def sweep_due(self, now) -> bool:
        return self._swept_at is None or now - self._swept_at > SWEEP_EVERY

    def swept(self, now) -> None:
        self._swept_at = now

    def _as_system(self):
        """The system actor, read once: the records are the API's own bookkeeping."""
        if self._system is None:
            with self.crm.read(self.crm.system) as uow:
                self._system = uow.principal
        return self._system

    def lookup(self, party_id: int, key: str, digest: str):
        """The record of a key found claimed: its stored answer to replay (raises on misuse)."""
        with self.crm.read(self._as_system()) as uow:
            row = uow.connection.execute(_FIND, {"party_id": party_id, "key": key}).first()
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
        return row

    def finish(self, claim: Claim, status: int, headers: dict, body: bytes, not_kept: tuple[str, ...] = ()) -> bool:
        """Keep the answer of a claimed request (or of one that wrote nothing: then the record is
        made now). False: the key turned out to be claimed by another request meanwhile."""
        if claim.record_id is None and status >= 500:
            return True  # nothing was written and nothing is kept: the client may retry
        with self.crm.uow(self._as_system(), "idempotency.finish") as uow:
            conn = uow.connection
            if status >= 500:
                conn.execute(_FORGET, {"record_id": claim.record_id})
            else:
                text = _without(body.decode("utf-8", "replace"), not_kept)
                if self._about_erased(conn, claim.path, text):
                    # erased while this request ran: its answer is kept like those the erasure scrubbed
                    status, headers, text = 410, None, None
                answer = dict(status=status, headers=headers, body=text, completed_at=uow.now)
                if claim.record_id is not None:
                    conn.execute(_ANSWER, dict(answer, record_id=claim.record_id))
                else:
                    try:
                        conn.execute(insert(REC).values(**claim.values(uow.now), **answer))
                    except IntegrityError:
                        return False
            uow.commit()
        return True

    @staticmethod
    def _about_erased(conn, path: str, text: str) -> bool:
        named = customers_in_answer(path, text)
        return bool(named) and conn.execute(_ERASED_AMONG, {"ids": sorted(named)}).first() is not None


class RequestGuard:
    """Every writing request: its caller authenticated, then its body read within bounds, then — only
    then — admitted to the server's work.

    1. Who is calling, from the headers alone: an API key (401 if none is valid), or for
       ``/inbound/<channel>`` the channel's sender authentication (``inbound_auth``). An
       unauthenticated request is answered without its body being read. A key checked
       within the last seconds is known without a database read (``ApiKeyService.known``).

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
    4. Admission: at most ``writers`` writing requests are let in at once; the others wait
       here, on the event loop, in arrival order, holding no thread. The pool keeps threads
       for reads, which therefore never queue behind writes. On SQLite the core's writing
       routes (every plain-function writing route of a core router, ``common.in_pool``)
       then run on the app's write lane (``lane``) instead of the pool: one thread that
       takes them one after the other, first come first served. Their transactions run one
       at a time anyway (the write lock); in the pool, dozens of threads waited on that
       lock and took the interpreter's lock from each other at every statement (some
       0.25 ms of CPU per request at 32 clients). A write queued in the lane waits for those
       before it, without a time limit of its own. Routes that run many transactions (a CSV
       import) and plugins' routes do not take the lane: other writers still come in
       between their chunks.
    5. ``Idempotency-Key`` (claimed with the operation, see above) and the route itself;
       the answer of a keyed request is kept, then sent.
    """

    def __init__(self, app, max_body: int = MAX_BODY, body_timeout: float = BODY_TIMEOUT,
                 writers: int | None = None):
        self.app, self.max_body, self.body_timeout = app, max_body, body_timeout
        self.writers = writers
        self._admitted: asyncio.Semaphore | None = None

    @staticmethod
    def lane(state) -> WriteLane | None:
        """The write lane of the app's database (``state``: the app's): on SQLite (where this
        process orders its writers, ``crm.write_lock``) made on first use, ended with the app
        (its lifespan: ``close_write_lane``)."""
        if state.crm.write_lock is None:
            return None
        lane = getattr(state, "write_lane", None)
        if lane is None:
            lane = state.write_lane = WriteLane()
        return lane

    def admission(self) -> asyncio.Semaphore:
        if self._admitted is None:  # made on the server's event loop, on first use
            limit = self.writers
            if limit is None:
                import anyio.to_thread
                threads = int(anyio.to_thread.current_default_thread_limiter().total_tokens)
                limit = max(1, threads - min(READ_THREADS, threads // 2))
            self._admitted = asyncio.Semaphore(limit)
        return self._admitted

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in WRITES or scope["app"].state.crm is None:
            return await self.app(scope, receive, send)
        lane = WRITE_LANE.set(self.lane(scope["app"].state))
        try:
            return await self._guarded(scope, receive, send)
        finally:
            WRITE_LANE.reset(lane)

    async def _guarded(self, scope, receive, send):
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
                principal = await authenticate(state.keys, headers)
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

        replayed = _replay(body, receive)
        key = headers.get("idempotency-key")
        if (principal is None or inbound is not None or unsubscribing is not None or key is None
                or scope["method"] != "POST" or principal.party_id is None):
            async with self.admission():
                return await self.app(scope, replayed, send)
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
        claim = Claim(store, principal.party_id, key, scope["method"], path, digest, scope.setdefault("state", {}))
        answer = _Buffered()
        async with self.admission():
            token = RIDER.set(claim)  # the route's first committing operation writes the claim with it
            try:
                await self.app(scope, replayed, answer)
            finally:
                RIDER.reset(token)
            kept = claim.kept  # written with the operation (``Claim.answer``)
            if not claim.taken and not kept:
                kept = await run_in_threadpool(store.finish, claim, answer.status, answer.kept_headers,
                                               answer.body, tuple(scope.get("state", {}).get(NOT_KEPT, ())))
            found = None
            if not kept:  # the key was claimed by another request: answer with what its record says
                try:
                    found = await run_in_threadpool(store.lookup, principal.party_id, key, digest)
                except DealerCrmError as exc:
                    return await _send(from_domain_error(request, exc), scope, receive, send)
        if found is None:
            return await answer.flush(send)
        if found.body is None:  # dropped by an erasure (IdempotencyRecord)
            return await _send(problem(request, 410, "answer-erased", "Answer erased",
                                       f"Idempotency-Key {key!r}: the request was carried out once; its answer "
                                       "concerned a customer whose data has since been erased, so it is not kept",
                                       {"Idempotent-Replayed": "true"}), scope, receive, send)
        kept_headers = {**(found.headers or {}), "idempotent-replayed": "true"}
        raw = [(k.encode(), str(v).encode()) for k, v in kept_headers.items()]
        await send({"type": "http.response.start", "status": found.status, "headers": raw})
        return await send({"type": "http.response.body", "body": (found.body or "").encode()})


def close_write_lane(state) -> None:
    """End the app's write lane, if it has one (at its shutdown; a later request makes a new one)."""
    lane = getattr(state, "write_lane", None)
    if lane is not None:
        state.write_lane = None
        lane.close()


async def authenticate(keys, headers) -> Principal:
    """The caller of a request, from its headers: on the event loop if the key was checked
    within the last seconds, else in the thread pool (a database read)."""
    presented = presented_key(headers.get("authorization"), headers.get("x-api-key"))
    known = keys.known(presented)
    return known if known is not None else await run_in_threadpool(keys.authenticate, presented)


class _Buffered:
    """The answer of a keyed request, held until it is kept (or replaced by a replay), then sent."""

    def __init__(self):
        self.messages: list[dict] = []
        self.status, self.kept_headers, self.body = 500, {}, b""

    async def __call__(self, message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.kept_headers = kept_headers(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")
        self.messages.append(message)

    async def flush(self, send) -> None:
        for message in self.messages:
            await send(message)


def kept_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The headers of an answer that are kept with it for a repeat (``KEPT_HEADERS``)."""
    return {k.decode().lower(): v.decode() for k, v in raw if k.decode().lower() in KEPT_HEADERS}


class _Outcome:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


DISCONNECTED, TOO_LARGE, TIMED_OUT = _Outcome("disconnected"), _Outcome("too large"), _Outcome("timed out")


async def _read_body(receive, limit: int, timeout: float):
    """The whole body, or why not: the client left, sent more than ``limit``, or took longer than ``timeout``.

    One deadline for the whole body (``asyncio.timeout``): no task per chunk, as ``wait_for`` makes."""
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return DISCONNECTED
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    return TOO_LARGE
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        return TIMED_OUT


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
    bodies are still bounded and their writes still admitted like every other."""
    ours = scope["app"].state.plugin_routes
    if not ours:
        return False
    heads = scope["app"].state.own_auth_heads
    if None not in heads and path_head(scope["path"]) not in heads:
        return False  # no such route begins like this path: no need to match them all
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
