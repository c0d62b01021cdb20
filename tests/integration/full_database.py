"""A database with something in every table: the demo dealer, then what the demo leaves empty.

Backups and copies are only shown to keep everything if everything is there to keep: the
demo's customer file, cases, outbox, rule firings and audit log, plus an API key, a
webhook subscription, a kept idempotent answer, a password, a sign-in link and session,
an inbound message, a survey answer, a customer merged into a *later* one (a reference
pointing forward in id order) — and a table of a plugin's own that dealercrm knows
nothing about (``roofbox_fitting``, made the way a plugin would make it).
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import warnings
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy import (JSON, Column, DateTime, ForeignKey, Integer, MetaData, Numeric, String, Table, create_engine,
                        func, inspect, select)

from dealercrm import connect
from dealercrm.db.case_models import Case
from dealercrm.db.models import Customer
from dealercrm.plugins.http_subscriptions.service import SubscriptionService
from dealercrm.settings import Settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PLUGIN_METADATA = MetaData()
ROOFBOX_FITTING = Table(
    "roofbox_fitting", PLUGIN_METADATA,
    Column("id", Integer, primary_key=True),
    Column("customer_id", Integer, ForeignKey(Customer.__table__.c.id), nullable=False),
    Column("fitted_at", DateTime(timezone=True), nullable=False),
    Column("price", Numeric(10, 2)),
    Column("details", JSON),
    Column("note", String(200)),
    # a later fitting that redoes an earlier one, or an earlier one redone by a later one
    Column("redone_by_id", Integer, ForeignKey("roofbox_fitting.id")),
)


def build(path: Path) -> str:
    """Fill a new SQLite database at ``path``; returns its URL."""
    url = f"sqlite:///{path}"
    # the demo dealer's e-mail configured, as the demo's installation would have it: the
    # e-mail channel is offered only then, and the notices of the demo's cases go by it
    crm = connect(url, settings=Settings(plugins={"channel_email": {"from_address": "service@demo.example"}}))
    for _ in crm.plugins.checked_call("dealercrm_seed_demo", crm=crm, rng=random.Random(7)):
        pass
    system = crm.system
    dealer = 1
    issued = crm.api_keys.create(dealer, role="manager", label="copy test", by=system)
    SubscriptionService(crm).create("https://93.184.215.14/dealercrm-hook", ["case_closed"], by=issued.actor_id)
    from dealercrm.http import create_app

    ids = _customers_of(crm, dealer)
    with TestClient(create_app(crm)) as api:
        answer = api.post(f"/customers/{ids[1]}/interests", json={"tag": "roof box", "note": "asked at the counter"},
                          headers={"Authorization": f"Bearer {issued.key}", "Idempotency-Key": "copy-test-1"})
        assert answer.status_code == 201, answer.text
    person = issued.actor_id
    crm.sign_in.set_password(person, "a long enough password 42", by=system)
    crm.sign_in.redeem_link(crm.sign_in.issue_link(person, by=system))
    crm.inbound.receive("sms", "not a provider's payload")
    with crm.engine.connect() as conn:
        case_id = conn.scalar(select(func.min(Case.id)))
    crm.surveys.record(case_id, csat=4, nps=9, comment="schnell repariert", channel="phone", by=system)
    crm.customers.merge(ids[-1], ids[0], by=system)  # the first customer now points at a later id
    PLUGIN_METADATA.create_all(crm.engine)
    with crm.engine.begin() as conn:
        fitted = datetime(2026, 3, 9, 14, 30, tzinfo=timezone.utc)
        conn.execute(ROOFBOX_FITTING.insert(), [
            dict(id=1, customer_id=ids[2], fitted_at=fitted, price=Decimal("349.90"),
                 details={"box": "Thule", "litres": 420}, note="Dachbox montiert"),
            dict(id=2, customer_id=ids[2], fitted_at=fitted, price=None, details=None, note="nachjustiert"),
            dict(id=3, customer_id=ids[3], fitted_at=fitted, price=Decimal("0.10"), details=[1, 2.5, "ü"], note=None)])
        conn.execute(ROOFBOX_FITTING.update().where(ROOFBOX_FITTING.c.id == 1).values(redone_by_id=2))
    crm.close()
    with sqlite3.connect(path) as conn:  # everything in the main file: it is copied as one file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return url


def _customers_of(crm, party_id: int) -> list[int]:
    with crm.read(crm.system) as uow:
        return list(uow.session.scalars(select(Customer.id).where(Customer.owner_party_id == party_id,
                                                                  Customer.erased_at.is_(None),
                                                                  Customer.merged_into_id.is_(None))
                                        .order_by(Customer.id)))


def copy_of(template: Path, path: Path) -> str:
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def table_names(url: str) -> list[str]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return sorted(n for n in inspect(conn).get_table_names() if n != "alembic_version")
    finally:
        engine.dispose()
