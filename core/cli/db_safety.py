"""``db backup``, ``db restore`` and ``db copy``: keeping the data safe and moving it.

The work is done in ``dealercrm.db.backup`` and ``dealercrm.db.copying``; these commands
open the databases without loading plugins or migrating (a backup takes the database as
it is) and print what was done, table by table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError, OperationalError

from ..db.backup import backup, restore
from ..db.copying import CHUNK, CopyReport, copy_database
from ..db.engine import database_url, make_engine
from ..settings import load_settings
from .output import examples
from .common import _shown, _state, console, err, fail


def _engine(url: str | None = None) -> Engine:
    """The database of ``--db`` (or ``url``), opened as it is: no migration, no plugins."""
    url = url or database_url(_state["db"] or load_settings().database_url)
    try:
        return make_engine(url)
    except (ArgumentError, ValueError, ModuleNotFoundError) as exc:
        fail(f"cannot open database {_shown(url)}: {str(exc).splitlines()[0]}")
        raise  # pragma: no cover (fail always raises)


def register(db_cli: typer.Typer) -> None:
    @db_cli.command("backup", epilog=examples("dealercrm db backup backups/crm-2026-12-06.db",
                                              "dealercrm db backup nightly.db --force"))
    def backup_cmd(
        file: Annotated[Path, typer.Argument(metavar="FILE", help="where to write the backup (a SQLite file)")],
        force: Annotated[bool, typer.Option("--force", help="overwrite FILE if it exists")] = False,
    ) -> None:
        """Back up the SQLite database while it is in use (SQLite's online backup API).

        The file is the database as of one moment, even while a server writes. PostgreSQL: pg_dump.

        Example: dealercrm db backup crm-2026-12-06.db
        """
        engine = _engine()
        try:
            snapshot = backup(engine, file, overwrite=force)
        except OperationalError as exc:
            fail(f"cannot back up {_shown(str(engine.url))}: {str(exc.orig).splitlines()[0]}")
        finally:
            engine.dispose()
        console.print(f"backed up {_shown(str(engine.url))} to {snapshot.path} ({snapshot.bytes:,} bytes, schema "
                      f"{snapshot.revision}, {sum(snapshot.rows.values()):,} rows in {len(snapshot.rows)} tables; "
                      "integrity checked)", soft_wrap=True)

    @db_cli.command("restore", epilog=examples("dealercrm db restore backups/crm-2026-12-06.db",
                                               "dealercrm db restore nightly.db --force"))
    def restore_cmd(
        file: Annotated[Path, typer.Argument(metavar="FILE", help="a backup made by `dealercrm db backup`")],
        force: Annotated[bool, typer.Option("--force", help="replace a database that holds data")] = False,
    ) -> None:
        """Restore a backup into the SQLite database; an older backup is then upgraded to this schema.

        Refuses a database holding data unless --force, and a newer dealercrm's backup. Stop the server first.

        Example: dealercrm --db sqlite:///crm.db db restore crm-2026-12-06.db --force
        """
        engine = _engine()
        try:
            done = restore(engine, file, force=force)
        except OperationalError as exc:
            fail(f"cannot restore into {_shown(str(engine.url))}: {str(exc.orig).splitlines()[0]}")
        finally:
            engine.dispose()
        upgraded = f", upgraded to {done.revision}" if done.revision != done.backup.revision else ""
        replaced = f"; replaced {done.replaced_rows:,} rows" if done.replaced_rows else ""
        console.print(f"restored {file} into {_shown(str(engine.url))}: {sum(done.backup.rows.values()):,} rows in "
                      f"{len(done.backup.rows)} tables, schema {done.backup.revision}{upgraded}{replaced}",
                      soft_wrap=True)

    @db_cli.command("copy", epilog=examples(
        "dealercrm db copy --to postgresql+psycopg://crm:secret@127.0.0.1/crm",
        "dealercrm --db postgresql+psycopg://crm:secret@127.0.0.1/crm db copy --to sqlite:///crm.db"))
    def copy_cmd(
        to: Annotated[str, typer.Option("--to", metavar="URL", help="the database to copy into: empty, or holding "
                                        "an interrupted copy of this one")],
        chunk_size: Annotated[int, typer.Option(min=1, max=1_000_000, metavar="ROWS",
                                                help="rows per committed chunk (a resumed copy repeats at most one)")
                              ] = CHUNK,
    ) -> None:
        """Copy the whole database (every table, ids kept) into another one, and verify it.

        SQLite to PostgreSQL and back. Interrupted? Run it again: it carries on where it stopped.

        Example: dealercrm --db sqlite:///dealercrm.db db copy --to postgresql://crm:secret@127.0.0.1/crm
        """
        source, target = _engine(), _engine(to)
        try:
            report = copy_database(source, target, chunk_size=chunk_size, progress=_progress())
        except OperationalError as exc:
            fail(f"cannot copy: {str(exc.orig).splitlines()[0]}")
        finally:
            source.dispose()
            target.dispose()
        console.print(_table(report))
        console.print(f"copied and verified: {len(report.tables)} tables, {report.rows:,} rows, schema "
                      f"{report.revision}, {_shown(str(source.url))} -> {_shown(str(target.url))}", soft_wrap=True)


def _progress():
    started: set[str] = set()

    def say(table: str, done: int, total: int) -> None:
        if table not in started:
            started.add(table)
            resumed = f" (resuming after {done:,} copied before)" if done else ""
            err.print(f"{table}: {total:,} rows{resumed}", highlight=False)

    return say


def _table(report: CopyReport) -> Table:
    table = Table("table", "rows", "copied now", "digest (SHA-256, source = target)", "verified",
                  title="Copied, table by table", title_justify="left")
    for t in report.tables:
        table.add_row(t.name, f"{t.source_rows:,}", f"{t.copied:,}", t.source_digest[:16],
                      "yes" if t.matches else f"NO: {t.target_rows:,} rows, {t.target_digest[:16]}")
    return table
