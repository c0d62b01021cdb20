"""Copy a whole dealercrm database to another one — SQLite to PostgreSQL and back.

``dealercrm db copy --to URL`` moves everything, not just the customer file: every table
the source holds (the audit log, case history, the outbox, rule firings, sessions, and
tables a plugin made for itself), found by reflecting the source, never from a list kept
here. Ids are kept as they are, so every reference between rows still holds, and
PostgreSQL's sequences are set past the highest id so the next row gets a new one.

How it stays correct:

- **One consistent picture of the source.** The whole source is read in one transaction
  (SQLite: a read transaction, which under WAL sees one snapshot while the server goes on
  writing; PostgreSQL: REPEATABLE READ).
- **Resumable.** Each table is copied in primary-key order, in chunks each committed on
  its own. A copy that was killed leaves every table holding a prefix of the source's
  rows; run again, it checks that prefix (row count and content digest of the source's
  rows up to the last key copied) and carries on after it. References that point forward
  in that order (a customer merged into a later one, foreign keys in a cycle) are copied
  as null with their row and filled in once every row is there.
- **Nothing overwritten.** A target that holds anything but such a prefix of this source
  (other data, or this source's rows changed since the interrupted copy) is refused,
  naming the table. A target that only holds what dealercrm's migrations write into a
  fresh database (its server secret) counts as empty: the source's own is copied.
- **Verified.** At the end every table's row count and SHA-256 digest over its rows in
  key order (values normalised, so SQLite's and PostgreSQL's representations of the
  same value agree) are computed on both sides; any difference is an error.

Everything goes through SQLAlchemy Core on the engines handed in: their events (``echo``,
``before_cursor_execute``, tracing) see every statement.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import attrs
from sqlalchemy import (Column, Connection, Engine, ForeignKeyConstraint, Index, MetaData, Table, UniqueConstraint,
                        and_, bindparam, event, func, inspect, literal, or_, select, tuple_, update)
from sqlalchemy.schema import sort_tables_and_constraints
from sqlmodel import SQLModel

from ..errors import ValidationError
from . import models  # noqa: F401  (registers every core table in SQLModel.metadata)
from .engine import make_engine, prepare_engine
from .migrate import current_revision, head_revision, upgrade

#: Alembic's own table: each database keeps its own record of its schema revision
SCHEMA_TABLE = "alembic_version"
CHUNK = 1000


@attrs.frozen
class TableCopy:
    """One table's outcome: rows and digest on each side, and how many rows this run copied."""

    name: str
    source_rows: int
    source_digest: str
    target_rows: int
    target_digest: str
    copied: int
    resumed_after: int

    @property
    def matches(self) -> bool:
        return self.source_rows == self.target_rows and self.source_digest == self.target_digest


@attrs.frozen
class CopyReport:
    revision: str
    tables: tuple[TableCopy, ...]

    @property
    def verified(self) -> bool:
        return all(t.matches for t in self.tables)

    @property
    def rows(self) -> int:
        return sum(t.source_rows for t in self.tables)


Progress = Callable[[str, int, int], None]  # (table, rows in the target so far, rows in the source)


def copy_database(source: Engine, target: Engine, *, chunk_size: int = CHUNK,
                  progress: Progress | None = None) -> CopyReport:
    """Copy every table of ``source`` into ``target`` (empty, or holding an interrupted copy of it)
    and verify the result; see the module's description. Raises ``ValidationError`` when the
    databases cannot be copied (not a dealercrm database, another schema revision, a target
    holding other data) and when the verification fails."""
    if chunk_size < 1:
        raise ValidationError("chunk size", chunk_size, "must be at least 1")
    prepare_engine(source)
    prepare_engine(target)
    if _same_database(source, target):
        raise ValidationError("target", _shown(target), "is the source database itself")
    revision = _source_revision(source)
    _prepare_target(target, revision)
    with _snapshot(source) as src:
        order, deferred = _source_tables(src)
        with target.begin() as conn:
            _create_missing(conn, order, source.dialect.name)
        _refuse_foreign_rows(target, {t.name for t in order})
        _clear_if_fresh(target, order)
        done: dict[str, tuple[int, int]] = {}
        for table in order:
            done[table.name] = _copy_table(src, target, table, deferred.get(table.name, ()), chunk_size, progress)
        for table in order:
            if deferred.get(table.name):
                _fill_deferred(src, target, table, deferred[table.name], chunk_size)
        if target.dialect.name == "postgresql":
            with target.begin() as conn:
                for table in order:
                    _reset_sequence(conn, table)
        results = []
        with target.connect() as dst:
            with dst.begin():
                _utc(dst)
                for table in order:
                    s_rows, s_digest = digest(src, table)
                    t_rows, t_digest = digest(dst, table)
                    copied, resumed = done[table.name]
                    results.append(TableCopy(table.name, s_rows, s_digest, t_rows, t_digest, copied, resumed))
    report = CopyReport(revision, tuple(results))
    if not report.verified:
        wrong = ", ".join(f"{t.name} ({t.source_rows} rows, {t.source_digest[:12]} in the source; {t.target_rows}, "
                          f"{t.target_digest[:12]} in the target)" for t in report.tables if not t.matches)
        raise ValidationError("copy", _shown(target), f"does not match the source after copying: {wrong}")
    return report


def copy_url(source_url: str, target_url: str, **kwargs: Any) -> CopyReport:
    """``copy_database`` between two URLs, with dealercrm's engines (SQLite pragmas, psycopg)."""
    source, target = make_engine(source_url), make_engine(target_url)
    try:
        return copy_database(source, target, **kwargs)
    finally:
        source.dispose()
        target.dispose()


# -- the two databases -----------------------------------------------------------------------------

def _shown(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _same_database(a: Engine, b: Engine) -> bool:
    if a.dialect.name != b.dialect.name:
        return False
    if a.dialect.name == "sqlite":
        pa, pb = a.url.database, b.url.database
        return bool(pa and pb) and Path(pa).resolve() == Path(pb).resolve()
    return (a.url.host, a.url.port, a.url.database) == (b.url.host, b.url.port, b.url.database)


def _source_revision(source: Engine) -> str:
    revision, head = current_revision(source), head_revision()
    if revision is None:
        raise ValidationError("source", _shown(source), "is not a dealercrm database (it has no schema revision)")
    if revision != head:
        raise ValidationError("source", _shown(source), f"is at schema revision {revision}, this dealercrm's is "
                              f"{head}: run `dealercrm db upgrade` on it first")
    return revision


def _prepare_target(target: Engine, revision: str) -> None:
    """Bring an empty target to the source's schema revision; refuse one at another revision."""
    found = current_revision(target)
    if found == revision:
        return
    if found is not None:
        raise ValidationError("target", _shown(target), f"is at schema revision {found}, the source at {revision}: "
                              "bring both to the same revision (`dealercrm db upgrade`), or copy into an empty "
                              "database")
    with target.connect() as conn:
        names = inspect(conn).get_table_names()
    if names:
        raise ValidationError("target", _shown(target), f"holds tables ({', '.join(sorted(names)[:5])}) but no "
                              "dealercrm schema; copy into an empty database")
    upgrade(target, revision)


def fresh_counts() -> dict[str, int]:
    """The rows dealercrm's migrations write into a new database (its server secret), per table:
    found by migrating a scratch SQLite file, so no migration's seed is listed here by hand."""
    global _FRESH
    if _FRESH is None:
        with tempfile.TemporaryDirectory() as folder:
            engine = make_engine(f"sqlite:///{folder}/fresh.db")
            try:
                upgrade(engine)
                with engine.connect() as conn:
                    counted = {n: count_rows(conn, Table(n, MetaData())) for n in inspect(conn).get_table_names()}
            finally:
                engine.dispose()
        _FRESH = {name: n for name, n in counted.items() if n and name != SCHEMA_TABLE}
    return _FRESH


_FRESH: dict[str, int] | None = None


class _snapshot:
    """A connection reading the whole source as of one moment, for the length of the copy."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def __enter__(self) -> Connection:
        conn = self.engine.connect()
        if self.engine.dialect.name == "sqlite":
            conn = conn.execution_options(dealercrm_readonly=True)  # BEGIN, not BEGIN IMMEDIATE (engine.py)
        elif self.engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        self.conn = conn
        conn.begin()
        _utc(conn)
        return conn

    def __exit__(self, *exc: object) -> None:
        self.conn.rollback()
        self.conn.close()


def _utc(conn: Connection) -> None:
    """PostgreSQL hands out and reads zone-less timestamps in the session's zone: make it UTC for
    this transaction, so a plugin's plain ``DateTime`` column means the same on both sides."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.set_config("TimeZone", "UTC", True)))


# -- the tables ------------------------------------------------------------------------------------

def _source_tables(src: Connection) -> tuple[list[Table], dict[str, tuple[str, ...]]]:
    """Every table of the source, those referred to first (see ``_order``), each as dealercrm's own
    definition where it has one with the same columns (its column types keep timestamps in UTC
    and money exact), else as reflected with portable types (a plugin's tables)."""
    reflected = MetaData()

    @event.listens_for(reflected, "column_reflect")
    def portable(_inspector, _table, column_info):  # SQLite's or PostgreSQL's own types -> generic ones
        column_info["type"] = column_info["type"].as_generic()

    reflected.reflect(bind=src)
    order, deferred = _order([t for name, t in reflected.tables.items() if name != SCHEMA_TABLE])
    known = SQLModel.metadata.tables
    tables = []
    for table in order:
        ours = known.get(table.name)
        same = ours is not None and {c.name for c in ours.columns} == {c.name for c in table.columns}
        tables.append(ours if same else table)
    return tables, deferred


def _order(tables: Sequence[Table]) -> tuple[list[Table], dict[str, tuple[str, ...]]]:
    """Tables with the ones they refer to first; per table, the nullable columns referring to a
    row that may only come later (its own table, or a cycle), copied as null and filled in last."""
    ordered = sort_tables_and_constraints(tables)
    cyclic = {fk for table, fks in ordered if table is None for fk in fks}
    deferred: dict[str, tuple[str, ...]] = {}
    order = [table for table, _ in ordered if table is not None]
    for table in order:
        later = []
        for constraint in table.foreign_key_constraints:
            if constraint in cyclic or constraint.referred_table is table:
                later += [c.name for c in constraint.columns if c.nullable]
        if later:
            deferred[table.name] = tuple(dict.fromkeys(later))
    return order, deferred


def _create_missing(conn: Connection, tables: Sequence[Table], source_dialect: str) -> None:
    """Tables of the source the migrations did not make (a plugin's own), made from the source's
    definition: columns with portable types, keys, unique constraints and indexes — and server
    defaults only between two databases of one kind (``nextval(…)`` means nothing to SQLite).
    SQLite keeps no time zone flag: a plugin that needs its exact schema creates its tables in
    the target before the copy, which then fills them."""
    present = MetaData()
    present.reflect(bind=conn)
    same = source_dialect == conn.dialect.name
    for table in tables:
        if table.name in present.tables:
            continue
        made = Table(
            table.name, present,
            *(Column(c.name, c.type, nullable=c.nullable, primary_key=c.primary_key,
                     server_default=c.server_default if same else None) for c in table.columns),
            *(ForeignKeyConstraint([c.name for c in fk.columns],
                                   [f"{fk.referred_table.name}.{e.column.name}" for e in fk.elements], name=fk.name)
              for fk in table.foreign_key_constraints),
            *(UniqueConstraint(*(c.name for c in u.columns), name=u.name)
              for u in table.constraints if isinstance(u, UniqueConstraint)))
        for index in table.indexes:
            Index(index.name, *(made.c[c.name] for c in index.columns), unique=index.unique)
        made.create(conn)


def _refuse_foreign_rows(target: Engine, copied: set[str]) -> None:
    with target.connect() as conn:
        for name in inspect(conn).get_table_names():
            if name not in copied and name != SCHEMA_TABLE and count_rows(conn, Table(name, MetaData())):
                raise ValidationError("target", _shown(target), f"holds rows in table {name!r}, which the source "
                                      "does not have; copy into an empty database")


def _clear_if_fresh(target: Engine, tables: Sequence[Table]) -> None:
    """A target holding only what a fresh migration writes is empty: those rows make way for the source's."""
    with target.begin() as conn:
        held = {t.name: count_rows(conn, t) for t in tables}
        seeded = {name: n for name, n in held.items() if n}
        if seeded and seeded == {n: c for n, c in fresh_counts().items() if n in held}:
            for table in tables:
                if table.name in seeded:
                    conn.execute(table.delete())


# -- copying a table -------------------------------------------------------------------------------

def _key(table: Table) -> list:
    """The order rows are copied, resumed and digested in: the primary key, else every column."""
    return list(table.primary_key.columns) or list(table.columns)


def _after(table: Table, last: Sequence[Any] | None):
    if last is None:
        return literal(True)
    key = _key(table)
    return key[0] > last[0] if len(key) == 1 else tuple_(*key) > tuple_(*(literal(v) for v in last))


def _upto(table: Table, last: Sequence[Any]):
    key = _key(table)
    return key[0] <= last[0] if len(key) == 1 else tuple_(*key) <= tuple_(*(literal(v) for v in last))


def count_rows(conn: Connection, table: Table, where=None) -> int:
    query = select(func.count()).select_from(table)
    return conn.scalar(query if where is None else query.where(where)) or 0


def _last_key(conn: Connection, table: Table) -> tuple | None:
    key = _key(table)
    row = conn.execute(select(*key).order_by(*(c.desc() for c in key)).limit(1)).first()
    return tuple(row) if row is not None else None


def _copy_table(src: Connection, target: Engine, table: Table, deferred: Sequence[str], chunk_size: int,
                progress: Progress | None) -> tuple[int, int]:
    """Copy the rows of ``table`` the target does not have yet; (rows copied now, rows found copied)."""
    total = count_rows(src, table)
    with target.connect() as dst:
        with dst.begin():
            _utc(dst)
            held = count_rows(dst, table)
            last = _last_key(dst, table) if held else None
            if held:
                _check_prefix(src, dst, table, last, held, deferred)
    if progress:
        progress(table.name, held, total)
    if not table.primary_key.columns and held:
        return 0, held  # no key to resume after: the table was copied in one piece (see below)
    columns = [c for c in table.columns]
    copied = 0
    step = chunk_size if table.primary_key.columns else None  # no key: one transaction for the whole table
    while True:
        query = select(*columns).where(_after(table, last)).order_by(*_key(table))
        rows = src.execute(query.limit(step) if step else query).mappings().all()
        if not rows:
            break
        values = [{k: (None if k in deferred else v) for k, v in row.items()} for row in rows]
        with target.begin() as dst:
            _utc(dst)
            dst.execute(table.insert(), values)
        copied += len(rows)
        last = tuple(rows[-1][c.name] for c in _key(table))
        if progress:
            progress(table.name, held + copied, total)
        if step is None:
            break
    return copied, held


def _check_prefix(src: Connection, dst: Connection, table: Table, last: tuple | None, held: int,
                  deferred: Sequence[str]) -> None:
    """The target's rows of ``table`` must be exactly the source's first ``held`` rows."""
    where = _upto(table, last) if table.primary_key.columns else None
    shown = [c for c in table.columns if c.name not in deferred]
    theirs = digest(src, table, where=where, columns=shown)
    ours = digest(dst, table, columns=shown)
    if theirs != ours:
        raise ValidationError("target", _shown(dst.engine), f"holds {held} rows in table {table.name!r} that are not "
                              f"the source's ({theirs[0]} source rows up to the same key): it holds other data, or "
                              "the source changed since an interrupted copy; copy into an empty database")


def _fill_deferred(src: Connection, target: Engine, table: Table, deferred: Sequence[str], chunk_size: int) -> None:
    """Set the forward references copied as null, now that every row they name is there."""
    key = _key(table)
    wanted = or_(*(table.c[name].is_not(None) for name in deferred))
    names = [f"k_{c.name}" for c in key]
    statement = update(table).where(and_(*(c == bindparam(n) for c, n in zip(key, names))))
    statement = statement.values({name: bindparam(f"v_{name}") for name in deferred})
    last = None
    while True:
        rows = src.execute(select(*key, *(table.c[n] for n in deferred)).where(wanted, _after(table, last))
                           .order_by(*key).limit(chunk_size)).all()
        if not rows:
            return
        params = [{**{n: row[i] for i, n in enumerate(names)},
                   **{f"v_{name}": row[len(key) + i] for i, name in enumerate(deferred)}} for row in rows]
        with target.begin() as dst:
            dst.execute(statement, params)
        last = tuple(rows[-1][:len(key)])


def _reset_sequence(conn: Connection, table: Table) -> None:
    """The next id PostgreSQL hands out follows the highest one copied."""
    key = list(table.primary_key.columns)
    if len(key) != 1 or not _is_integer(key[0]):
        return
    column = key[0]
    sequence = conn.scalar(select(func.pg_get_serial_sequence(table.name, column.name)))
    if sequence is None:
        return
    highest = conn.scalar(select(func.max(column)))
    conn.execute(select(func.setval(sequence, highest if highest is not None else 1, highest is not None)))


def _is_integer(column) -> bool:
    try:
        return column.type.python_type is int
    except NotImplementedError:
        return False


# -- digests ---------------------------------------------------------------------------------------

def digest(conn: Connection, table: Table, *, where=None, columns: Sequence | None = None) -> tuple[int, str]:
    """(rows, SHA-256 hex) of ``table`` in key order, each value normalised (see ``canonical``)."""
    query = select(*(columns or table.columns)).order_by(*_key(table))
    if where is not None:
        query = query.where(where)
    sha, n = hashlib.sha256(), 0
    for row in _stream(conn, query):
        sha.update(json.dumps([canonical(v) for v in row], ensure_ascii=False, separators=(",", ":"))
                   .encode("utf-8", "surrogatepass"))
        sha.update(b"\n")
        n += 1
    return n, sha.hexdigest()


def _stream(conn: Connection, query) -> Iterator[Sequence[Any]]:
    yield from conn.execution_options(yield_per=2000).execute(query)


def canonical(value: Any) -> Any:
    """One spelling per value on both backends: aware times in UTC without the zone, decimals
    without trailing zeros, JSON with sorted keys, bytes as hex."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value else "NaN"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=canonical)
    return value
