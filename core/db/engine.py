"""Engines that behave the same on SQLite and PostgreSQL.

SQLite gets WAL (readers never block the writer), foreign keys (off by default there),
``synchronous=NORMAL`` (safe under WAL, ~20x faster than FULL), a busy timeout, and
``secure_delete`` (freed pages are zeroed, so text blanked or deleted by an erasure does
not linger in the file on builds that do not zero them by default).
pysqlite's legacy transaction handling does not BEGIN on a SELECT, so a
read-then-write unit of work could fail with "database is locked" instead of
waiting; we take over BEGIN ourselves and make it ``BEGIN IMMEDIATE``: the write lock
is taken up front. Writers of this process queue on a fair lock per database file
(``write_lock``) and never meet SQLite's busy handler; those of other processes wait on
the busy timeout.

Every statement dealercrm runs goes through SQLAlchemy's execution (``Connection.execute``
or ``exec_driver_sql``), BEGIN included, so a host's engine events (``before_cursor_execute``:
echo, OpenTelemetry, Sentry) see them all. The only exception is the pragmas above, run on
the new DBAPI connection in the "connect" event as SQLAlchemy's SQLite documentation does,
once per connection, before any SQLAlchemy ``Connection`` exists for it.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine, create_engine, event

from ..errors import ValidationError

DEFAULT_URL = "sqlite:///dealercrm.db"
BUSY_TIMEOUT_MS = 30_000
#: seconds a pooled PostgreSQL connection is used before it is replaced (below the idle
#: timeouts of common firewalls, load balancers and poolers)
POOL_RECYCLE = 1800


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("DEALERCRM_DATABASE_URL") or DEFAULT_URL


def make_engine(url: str | None = None, **kwargs) -> Engine:
    url = database_url(url)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
            raise ValidationError("database url", url, "in-memory SQLite is not supported (every unit of work "
                                  "opens its own connection); give a file path, e.g. sqlite:///crm.db")
        kwargs.setdefault("connect_args", {"timeout": BUSY_TIMEOUT_MS / 1000})
        # a reader never waits for a pooled connection: SQLite's are local files, cheap to
        # have more of (writers are one at a time anyway, dealercrm.db.write_lock)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", -1)
    else:
        # No ping per checkout (a round trip before every unit of work). Connections are
        # renewed after POOL_RECYCLE seconds, before a server or a firewall drops idle ones;
        # one found dead anyway (a server restart, pg_terminate_backend) invalidates the pool
        # and its unit of work begins again on a fresh connection (``UnitOfWork.first``).
        kwargs.setdefault("pool_recycle", POOL_RECYCLE)
    engine = create_engine(url, **kwargs)
    prepare_engine(engine)
    return engine


def prepare_engine(engine: Engine) -> Engine:
    """Install the SQLite pragmas and BEGIN handling; harmless to call twice."""
    if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _on_connect):
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
    return engine


def _on_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _on_begin(conn) -> None:
    readonly = conn.get_execution_options().get("dealercrm_readonly")
    # SQLAlchemy's SQLite recipe ("Serializable isolation / Savepoints / Transactional DDL"):
    # emit BEGIN ourselves from the "begin" event, through the Connection, so a host's
    # engine listeners see it like every other statement.
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")
