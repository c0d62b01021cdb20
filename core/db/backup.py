"""Backups of a SQLite database while it is in use, and restoring one.

``backup`` uses SQLite's online backup API (``sqlite3.Connection.backup``): all pages are
copied in one step inside one read transaction, so the file is the database as of one
moment even while a server goes on writing (under WAL the writer is never blocked). The
copy is written next to the target under a temporary name, checked (``PRAGMA
integrity_check``, a dealercrm schema revision), switched to a plain rollback journal so
it is one self-contained file, and only then renamed into place: a backup that failed
half-way never looks like a good one.

PostgreSQL has its own tools for this, and they are the right ones (``pg_dump`` /
``pg_restore``): both functions refuse a PostgreSQL database and say so. ``dealercrm db
copy`` moves a whole database between SQLite and PostgreSQL.

``restore`` copies a backup over a SQLite database with the same API (pages, not rows:
the append-only audit log's triggers do not stand in the way of putting back its own
rows). It refuses a database that holds data unless told to replace it, refuses a backup
made by a newer dealercrm (a schema revision this installation does not know), and
brings an older backup up to this installation's schema after restoring it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import attrs
from sqlalchemy import Engine, MetaData, Table, inspect

from ..errors import ValidationError
from .copying import SCHEMA_TABLE, count_rows, fresh_counts
from .migrate import current_revision, head_revision, known_revision, upgrade

PG_DUMP = ("back a PostgreSQL database up with its own tools: `pg_dump --format=custom --file=crm.dump URL`, "
           "restore with `pg_restore --clean --dbname=URL crm.dump`; or copy it into a SQLite file with "
           "`dealercrm db copy --to sqlite:///crm-backup.db`")


@attrs.frozen
class Snapshot:
    """What a backup file holds: its schema revision and the rows per table."""

    path: Path
    revision: str
    rows: dict[str, int]
    bytes: int


@attrs.frozen
class Restored:
    backup: Snapshot
    replaced_rows: int  # rows the database held before (0 unless forced)
    revision: str  # the schema revision after restoring (and upgrading)


def backup(engine: Engine, path: str | os.PathLike[str], *, overwrite: bool = False) -> Snapshot:
    """Write a consistent copy of the SQLite database of ``engine`` to ``path``."""
    _sqlite_only(engine, "back up")
    path = Path(path)
    if path.exists() and not overwrite:
        raise ValidationError("backup file", str(path), "already exists; choose another name or pass --force")
    if path.is_dir():
        raise ValidationError("backup file", str(path), "is a folder")
    if not path.parent.is_dir():
        raise ValidationError("backup file", str(path), "is in a folder that does not exist")
    source = Path(engine.url.database or "")
    if path.resolve() == source.resolve():
        raise ValidationError("backup file", str(path), "is the database itself")
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    raw = engine.raw_connection()
    try:
        with sqlite3.connect(partial) as dest:
            raw.dbapi_connection.backup(dest)  # every page in one step: one read transaction, one moment
        dest.close()
        with sqlite3.connect(partial, isolation_level=None) as dest:
            dest.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        dest.close()
        snapshot = inspect_backup(partial)
        os.replace(partial, path)
    finally:
        raw.close()
        partial.unlink(missing_ok=True)
    return attrs.evolve(snapshot, path=path)


def inspect_backup(path: str | os.PathLike[str]) -> Snapshot:
    """Check that ``path`` is an intact dealercrm SQLite database and say what it holds."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError("backup file", str(path), "does not exist" if not path.exists() else "is not a file")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            check = conn.execute("PRAGMA integrity_check").fetchall()
            if check != [("ok",)]:
                raise ValidationError("backup file", str(path), f"is damaged: {check[0][0]}")
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
            if SCHEMA_TABLE not in tables:
                raise ValidationError("backup file", str(path), "is not a dealercrm database (no schema revision)")
            revision = conn.execute(f"SELECT version_num FROM {SCHEMA_TABLE}").fetchone()
            rows = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables if t != SCHEMA_TABLE}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise ValidationError("backup file", str(path), f"is not a SQLite database ({exc})") from None
    if revision is None:
        raise ValidationError("backup file", str(path), "is not a dealercrm database (no schema revision)")
    return Snapshot(path, revision[0], rows, path.stat().st_size)


def restore(engine: Engine, path: str | os.PathLike[str], *, force: bool = False) -> Restored:
    """Put the backup at ``path`` in place of the SQLite database of ``engine``."""
    _sqlite_only(engine, "restore")
    snapshot = inspect_backup(path)
    if not known_revision(snapshot.revision):
        raise ValidationError("backup file", str(path), f"has schema revision {snapshot.revision}, which this "
                              f"dealercrm (schema {head_revision()}) does not know: it was made by a newer version; "
                              "restore it with that version")
    held = _held_rows(engine)
    if held and not force:
        raise ValidationError("database", engine.url.render_as_string(hide_password=True),
                              f"holds data ({held} rows); pass --force to replace it with the backup")
    source = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    raw = engine.raw_connection()
    try:
        source.backup(raw.dbapi_connection)
    except sqlite3.Error as exc:
        raise ValidationError("backup file", str(path), f"cannot be restored: {exc}") from None
    finally:
        raw.close()
        source.close()
    engine.dispose()  # pooled connections knew the old schema
    revision = upgrade(engine) or snapshot.revision
    return Restored(snapshot, held, revision)


def _held_rows(engine: Engine) -> int:
    """Rows of the database besides what a fresh migration writes (its server secret)."""
    with engine.connect() as conn:
        names = [n for n in inspect(conn).get_table_names() if n != SCHEMA_TABLE]
        counts = {n: count_rows(conn, Table(n, MetaData())) for n in names}
    if current_revision(engine) is not None and {n: c for n, c in counts.items() if c} == {
            n: c for n, c in fresh_counts().items() if n in counts}:
        return 0
    return sum(counts.values())


def _sqlite_only(engine: Engine, what: str) -> None:
    if engine.dialect.name != "sqlite":
        raise ValidationError("database", engine.url.render_as_string(hide_password=True),
                              f"is {engine.dialect.name}: dealercrm can {what} SQLite databases only; {PG_DUMP}")
