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


def test_upgrading_keeps_the_latest_of_several_answers_to_one_case(db_url, clock):
    """Before 0007 every reply was another answer; after it a case has one, the latest."""
    from sqlalchemy import text

    from dealercrm import connect
    from dealercrm.settings import Settings

    crm = connect(db_url, clock=clock, settings=Settings())
    dealer = crm.parties.add("dealer", "Elektro Schmidt", by=crm.system)
    erika = crm.customers.add("Erika Musterfrau", owner_party_id=dealer.id, by=crm.system)
    case = crm.cases.open(erika.id, "washes badly", by=crm.system)
    crm.surveys.record(case.id, csat=2, nps=3, by=crm.system)
    crm.close()
    engine = make_engine(db_url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    with engine.begin() as conn:  # as a second reply was stored before
        conn.execute(text("INSERT INTO survey_response (case_id, customer_id, csat, nps, channel, at) "
                          "VALUES (:case, :customer, 4, 9, 'email', :at)"),
                     {"case": case.id, "customer": erika.id, "at": clock.now().replace(tzinfo=None)})
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT csat, nps FROM survey_response")).all() == [(4, 9)]
    assert differences(engine) == []
    engine.dispose()
