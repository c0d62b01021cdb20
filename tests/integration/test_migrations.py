"""The migration history is the schema: it produces exactly the models' tables."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from dealercrm.db.engine import make_engine
from dealercrm.db.migrate import alembic_config, current_revision, head_revision, upgrade


def differences(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, SQLModel.metadata)


def test_migrations_produce_the_models_schema(db_url):
    engine = make_engine(db_url)
    assert current_revision(engine) is None
    assert upgrade(engine) == head_revision()
    assert differences(engine) == []
    engine.dispose()


def test_migrations_go_down_and_up_again_cleanly(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert current_revision(engine) is None
    upgrade(engine)
    assert differences(engine) == []
    engine.dispose()


def test_upgrading_an_up_to_date_database_changes_nothing(db_url):
    engine = make_engine(db_url)
    first = upgrade(engine)
    assert upgrade(engine) == first == head_revision()
    engine.dispose()
