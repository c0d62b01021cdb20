"""The baseline ``bench/api_load.py`` measures dealercrm against: the same HTTP API, minimal.

A FastAPI app on the same uvicorn, answering the two requests the load consists of —
``POST /cases`` and ``POST /cases/{id}/transitions`` — as a careful hand-written service
would, and nothing else:

* the API key looked up in a dict (made at start-up);
* the body validated by a pydantic model (FastAPI), the answer a small JSON document;
* ``Idempotency-Key`` honoured: the key's record read, and written with the answer, in the
  same transaction as the case (a repeat gets the kept answer);
* the case read with the caller's visibility (its dealer, manufacturer or technician), its
  version checked against ``If-Match`` (412), the transition checked against a table of
  trigger -> (from, to, who) (409);
* per request one transaction with raw ``sqlite3`` (WAL, ``synchronous=NORMAL``,
  ``BEGIN IMMEDIATE``, one connection per thread, a process-wide lock around each write
  transaction so writers never meet SQLite's busy handler) or ``psycopg`` (a small pool,
  ``SELECT ... FOR UPDATE``): the case row inserted or updated, one history row and one
  audit row inserted.

Run by ``bench/api_load.py`` as ``python bench/api_baseline.py PORT`` with the database URL
and the fixture (keys, parties, customers) in the environment.

With ``BASELINE_SQLALCHEMY=1`` the same statements go through SQLAlchemy Core instead
(``text()`` with named parameters, compiled once and cached, on an ``Engine`` whose
connections have the same pragmas and ``BEGIN IMMEDIATE`` from the ``begin`` event, as
dealercrm's): the same app's cost on the execution layer the design card fixes. It is a
lower bound of what SQLAlchemy costs dealercrm — ``text()`` has no type processing, where
dealercrm's typed columns convert datetimes and JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import sqlite3
import sys
import threading
from contextlib import contextmanager
from datetime import datetime, timezone

import uvicorn
from fastapi import FastAPI, Header, Request, Response
from pydantic import BaseModel, Field

URL = os.environ["BASELINE_DATABASE_URL"]
FIXTURE = json.loads(os.environ["BASELINE_FIXTURE"])
POSTGRES = URL.startswith("postgresql")

#: trigger -> (from state, to state, party kind that fires it)
FLOW = {"start_diagnosis": ("new", "diagnosis", "dealer"),
        "forward_to_manufacturer": ("diagnosis", "at_manufacturer", "dealer"),
        "approve_visit": ("at_manufacturer", "visit_approved", "manufacturer"),
        "schedule_visit": ("visit_approved", "visit_scheduled", "technician"),
        "report_fixed": ("visit_scheduled", "fixed", "technician"),
        "confirm": ("fixed", "closed", "dealer")}
PARTY_COLUMN = {"dealer": "dealer_party_id", "manufacturer": "manufacturer_party_id",
                "technician": "technician_party_id"}
SCHEMA = """
CREATE TABLE bl_case (id {pk}, customer_id INTEGER NOT NULL, asset_id INTEGER, summary TEXT NOT NULL,
  state TEXT NOT NULL, version INTEGER NOT NULL, dealer_party_id INTEGER NOT NULL,
  manufacturer_party_id INTEGER, technician_party_id INTEGER, opened_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE bl_case_event (id {pk}, case_id INTEGER NOT NULL REFERENCES bl_case(id), kind TEXT NOT NULL,
  trigger TEXT, from_state TEXT, to_state TEXT NOT NULL, version INTEGER NOT NULL, actor_id INTEGER NOT NULL,
  at TEXT NOT NULL, data TEXT);
CREATE INDEX bl_case_event_case ON bl_case_event (case_id);
CREATE TABLE bl_audit (id {pk}, at TEXT NOT NULL, actor_id INTEGER NOT NULL, operation TEXT NOT NULL,
  entity TEXT NOT NULL, entity_id INTEGER NOT NULL, changes TEXT NOT NULL);
CREATE TABLE bl_idempotency (id {pk}, party_id INTEGER NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL,
  status INTEGER NOT NULL, body TEXT NOT NULL, etag TEXT, created_at TEXT NOT NULL, UNIQUE (party_id, key));
"""
KEYS = {key: who for key, who in FIXTURE["keys"].items()}  # key -> {"party": id, "actor": id, "kind": ...}
ASSETS = {asset: (customer, maker) for customer, asset, maker in FIXTURE["customers"]}
DEALER = FIXTURE["dealer"]


class CaseIn(BaseModel):
    customer_id: int = Field(ge=1)
    summary: str = Field(min_length=1, max_length=2000)
    asset_id: int | None = Field(default=None, ge=1)


class FireIn(BaseModel):
    trigger: str = Field(min_length=1, max_length=64)
    data: dict = Field(default_factory=dict)
    note: str | None = None


class Refused(Exception):
    def __init__(self, status: int, detail: str):
        self.status, self.detail = status, detail


class SQLite:
    """One connection per thread; writers take the process's lock, then BEGIN IMMEDIATE."""

    def __init__(self, path: str):
        self.path, self.local, self.lock = path, threading.local(), threading.Lock()

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                                     timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @contextmanager
    def write(self):
        conn = self.connection()
        with self.lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn.cursor()
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def script(self, sql: str) -> None:
        self.connection().executescript(sql.format(pk="INTEGER PRIMARY KEY"))


class Postgres:
    """A small pool of psycopg connections; each request one transaction."""

    def __init__(self, url: str, size: int = 10):
        import psycopg

        self.pool: queue.Queue = queue.Queue()
        for _ in range(size):
            self.pool.put(psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")))

    @contextmanager
    def write(self):
        conn = self.pool.get()
        try:
            with conn.transaction():
                yield _Qmark(conn.cursor())
        finally:
            self.pool.put(conn)

    def script(self, sql: str) -> None:
        conn = self.pool.get()
        try:
            with conn.transaction():
                for statement in sql.format(pk="SERIAL PRIMARY KEY").split(";"):
                    if statement.strip():
                        conn.execute(statement)
        finally:
            self.pool.put(conn)


class _Qmark:
    """psycopg's cursor with sqlite3's ``?`` placeholders."""

    def __init__(self, cursor):
        self.cursor = cursor

    def execute(self, sql: str, params=()):
        return self.cursor.execute(sql.replace("?", "%s"), params)


class Alchemy:
    """The same statements through SQLAlchemy Core: ``?`` placeholders become named binds of a
    ``text()`` construct made once per statement (SQLAlchemy caches its compiled form)."""

    def __init__(self, url: str):
        from sqlalchemy import create_engine, event

        if POSTGRES:
            url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        self.engine = create_engine(url, pool_size=10, max_overflow=-1 if not POSTGRES else 10)
        self.lock = threading.Lock() if not POSTGRES else None
        self.texts: dict[str, object] = {}
        if not POSTGRES:
            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_connection, _record):
                dbapi_connection.isolation_level = None
                for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
                    dbapi_connection.execute(f"PRAGMA {pragma}")

            @event.listens_for(self.engine, "begin")
            def _begin(conn):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

    def statement(self, sql: str):
        found = self.texts.get(sql)
        if found is None:
            from sqlalchemy import text

            parts = sql.split("?")
            found = self.texts[sql] = text("".join(p + (f":p{i}" if i < len(parts) - 1 else "")
                                                   for i, p in enumerate(parts)))
        return found

    @contextmanager
    def write(self):
        if self.lock is not None:
            self.lock.acquire()
        try:
            with self.engine.begin() as conn:
                yield _Bound(self, conn)
        finally:
            if self.lock is not None:
                self.lock.release()

    def script(self, sql: str) -> None:
        with self.engine.begin() as conn:
            for statement in sql.format(pk="SERIAL PRIMARY KEY" if POSTGRES else "INTEGER PRIMARY KEY").split(";"):
                if statement.strip():
                    conn.exec_driver_sql(statement)


class _Bound:
    """A cursor's ``execute(sql, params)`` on a SQLAlchemy connection."""

    def __init__(self, db: Alchemy, conn):
        self.db, self.conn = db, conn

    def execute(self, sql: str, params=()):
        return self.conn.execute(self.db.statement(sql), {f"p{i}": v for i, v in enumerate(params)})


if os.environ.get("BASELINE_SQLALCHEMY"):
    DB = Alchemy(URL)
else:
    DB = Postgres(URL) if POSTGRES else SQLite(URL.removeprefix("sqlite:///"))
app = FastAPI()


def caller(authorization: str | None) -> dict:
    who = KEYS.get((authorization or "").removeprefix("Bearer "))
    if who is None:
        raise Refused(401, "unknown API key")
    return who


def replayed(cur, who: dict, key: str | None, digest: str) -> Response | None:
    if key is None:
        return None
    row = cur.execute("SELECT request_hash, status, body, etag FROM bl_idempotency WHERE party_id = ? AND key = ?",
                      (who["party"], key)).fetchone()
    if row is None:
        return None
    if row[0] != digest:
        raise Refused(422, "Idempotency-Key used for another request")
    return Response(row[2], row[1], {"ETag": row[3], "Idempotent-Replayed": "true"}, media_type="application/json")


def answered(cur, who: dict, key: str | None, digest: str, status: int, answer: dict, etag: str) -> Response:
    body = json.dumps(answer)
    if key is not None:
        cur.execute("INSERT INTO bl_idempotency (party_id, key, request_hash, status, body, etag, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", (who["party"], key, digest, status, body, etag, now()))
    return Response(body, status, {"ETag": etag}, media_type="application/json")


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def digest_of(who: dict, path: str, body: BaseModel) -> str:
    return hashlib.sha256(f"{who['actor']}\n{path}\n{body.model_dump_json()}".encode()).hexdigest()


@app.exception_handler(Refused)
def refused(_request: Request, exc: Refused) -> Response:
    return Response(json.dumps({"status": exc.status, "detail": exc.detail}), exc.status,
                    media_type="application/problem+json")


@app.post("/cases", status_code=201)
def open_case(body: CaseIn, authorization: str | None = Header(None),
              idempotency_key: str | None = Header(None)):
    who = caller(authorization)
    digest = digest_of(who, "/cases", body)
    with DB.write() as cur:
        replay = replayed(cur, who, idempotency_key, digest)
        if replay is not None:
            return replay
        customer, maker = ASSETS.get(body.asset_id, (None, None))
        if who["kind"] != "dealer" or who["party"] != DEALER or customer != body.customer_id:
            raise Refused(404, "no such customer or asset")
        at = now()
        case_id = cur.execute(
            "INSERT INTO bl_case (customer_id, asset_id, summary, state, version, dealer_party_id, "
            "manufacturer_party_id, opened_at, updated_at) VALUES (?, ?, ?, 'new', 1, ?, ?, ?, ?) RETURNING id",
            (body.customer_id, body.asset_id, body.summary, who["party"], maker, at, at)).fetchone()[0]
        cur.execute("INSERT INTO bl_case_event (case_id, kind, to_state, version, actor_id, at) "
                    "VALUES (?, 'opened', 'new', 1, ?, ?)", (case_id, who["actor"], at))
        cur.execute("INSERT INTO bl_audit (at, actor_id, operation, entity, entity_id, changes) VALUES "
                    "(?, ?, 'cases.open', 'service_case', ?, ?)",
                    (at, who["actor"], case_id, json.dumps({"state": [None, "new"], "summary": [None, body.summary]})))
        return answered(cur, who, idempotency_key, digest, 201,
                        {"id": case_id, "state": "new", "version": 1, "customer_id": body.customer_id}, '"1"')


@app.post("/cases/{case_id}/transitions")
def fire(case_id: int, body: FireIn, authorization: str | None = Header(None),
         idempotency_key: str | None = Header(None), if_match: str | None = Header(None)):
    who = caller(authorization)
    digest = digest_of(who, f"/cases/{case_id}/transitions", body)
    with DB.write() as cur:
        replay = replayed(cur, who, idempotency_key, digest)
        if replay is not None:
            return replay
        lock = " FOR UPDATE" if POSTGRES else ""
        row = cur.execute(f"SELECT state, version, {PARTY_COLUMN[who['kind']]} FROM bl_case WHERE id = ?{lock}",
                          (case_id,)).fetchone()
        if row is None or row[2] != who["party"]:
            raise Refused(404, f"case {case_id} not found")
        state, version, _ = row
        if if_match is not None and if_match.strip('"') != str(version):
            raise Refused(412, f"case {case_id} is at version {version}")
        source, dest, kind = FLOW.get(body.trigger, (None, None, None))
        if source != state or kind != who["kind"]:
            raise Refused(409, f"{body.trigger} cannot fire in state {state}")
        technician = body.data.get("technician_party_id") if body.trigger == "approve_visit" else None
        at = now()
        cur.execute("UPDATE bl_case SET state = ?, version = ?, updated_at = ?, "
                    "technician_party_id = COALESCE(?, technician_party_id) WHERE id = ? AND version = ?",
                    (dest, version + 1, at, technician, case_id, version))
        cur.execute("INSERT INTO bl_case_event (case_id, kind, trigger, from_state, to_state, version, actor_id, at, "
                    "data) VALUES (?, 'transition', ?, ?, ?, ?, ?, ?, ?)",
                    (case_id, body.trigger, state, dest, version + 1, who["actor"], at, json.dumps(body.data)))
        cur.execute("INSERT INTO bl_audit (at, actor_id, operation, entity, entity_id, changes) VALUES "
                    "(?, ?, ?, 'service_case', ?, ?)", (at, who["actor"], f"cases.fire:{body.trigger}", case_id,
                                                        json.dumps({"state": [state, dest],
                                                                    "version": [version, version + 1]})))
        return answered(cur, who, idempotency_key, digest, 200,
                        {"case_id": case_id, "trigger": body.trigger, "source": state, "dest": dest,
                         "version": version + 1}, f'"{version + 1}"')


@app.get("/health")
def health():
    return {"status": "ok"}


if __name__ == "__main__":
    DB.script(SCHEMA)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error")
