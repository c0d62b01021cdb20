"""Schema by Alembic migrations shipped inside the package.

The tables are never created with ``metadata.create_all`` outside tests of the
migrations themselves: the migration history is the schema, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported where it is used: ``import dealercrm`` stays light for hosts.


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(files("dealercrm") / "migrations"))
    return cfg


@functools.cache
def head_revision() -> str | None:
    """The newest migration shipped with this version: read from the migration scripts once per
    process (some 8 ms of parsing), not at every ``/health`` a load balancer polls."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine | Connection) -> str | None:
    """The schema's revision, read on ``engine`` (a connection of its own) or on a connection given."""
    from alembic.runtime.migration import MigrationContext

    if isinstance(engine, Connection):
        return MigrationContext.configure(engine).get_current_revision()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Bring the schema to ``revision``; a no-op (one query) when already there."""
    if revision == "head" and current_revision(engine) == head_revision():
        return head_revision()
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return current_revision(engine)


def known_revision(revision: str) -> bool:
    """Whether ``revision`` is one of the shipped migrations (a newer dealercrm's is not)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False
