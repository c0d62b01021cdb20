"""The dealer's own software writes a repair order, and dealercrm opens the service case,
in one transaction: both commit, or neither does — and the customer is told only of a
case that exists.

The host owns the transaction (``crm.joining(session)``, or ``crm.uow(by,
connection=…)``): dealercrm never commits or rolls it back, publishes its events after
the host's commit and forgets them on a rollback; its outbox rows go with the host's.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.orm import Session

from dealercrm import CaseOpened, NotFound, hookimpl
from dealercrm.db.case_models import Case
from dealercrm.db.models import AuditRecord, Customer
from dealercrm.db.outbox_models import OutboxMessage

HOST = MetaData()
REPAIR_ORDER = Table("host_repair_order", HOST, Column("id", Integer, primary_key=True),
                     Column("text", String(200)))


class Heard:
    def __init__(self):
        self.events = []

    @hookimpl
    def dealercrm_handle_event(self, event):
        self.events.append(event)


@pytest.fixture
def shop(any_crm):
    crm = any_crm
    HOST.create_all(crm.engine)
    heard = Heard()
    crm.register(heard, "heard")
    dealer = crm.parties.by_name(crm.settings.home_dealer, by=crm.system)
    lea = crm.parties.add_actor(dealer.id, "Lea Yilmaz", "service", by=crm.system)
    max_ = crm.customers.add("Max Mustermann", email="max@example.org", by=lea.id)
    crm.consents.grant(max_.id, "email", "service", source="order form", by=lea.id)
    heard.events.clear()
    yield crm, heard, lea, max_
    HOST.drop_all(crm.engine)


def count(crm, model) -> int:
    with crm.read(crm.system) as uow:
        return uow.session.scalar(select(func.count()).select_from(model))


def test_a_host_that_rolls_back_leaves_nothing_of_dealercrms_and_sends_nothing(shop):
    crm, heard, lea, max_ = shop
    before = {m: count(crm, m) for m in (Case, OutboxMessage, AuditRecord)}
    with Session(crm.engine) as session:
        with session.begin():
            session.execute(REPAIR_ORDER.insert().values(text="washer, drum noise"))
            with crm.joining(session):
                case = crm.cases.open(max_.id, "drum noise", by=lea.id)
                crm.outbox.send("email", "service", "we are on it", customer_id=max_.id, by=lea.id)
                assert crm.cases.get(case.id, by=lea.id).state == "reported"  # reads see the host's writes
            session.rollback()
    assert {m: count(crm, m) for m in (Case, OutboxMessage, AuditRecord)} == before
    with crm.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(REPAIR_ORDER)) == 0
    assert heard.events == []
    assert crm.outbox.dispatch().sent == 0
    with pytest.raises(NotFound):
        crm.cases.get(case.id, by=crm.system)


def test_a_host_that_commits_keeps_both_and_the_events_are_published_once_after_its_commit(shop):
    crm, heard, lea, max_ = shop
    with Session(crm.engine) as session:
        with session.begin():
            session.execute(REPAIR_ORDER.insert().values(text="washer, drum noise"))
            with crm.joining(session):
                case = crm.cases.open(max_.id, "drum noise", by=lea.id)
                crm.outbox.send("email", "service", "we are on it", customer_id=max_.id, by=lea.id)
            assert heard.events == []  # not before the host committed
        opened = [e for e in heard.events if isinstance(e, CaseOpened)]
        assert [e.case_id for e in opened] == [case.id]
        session.execute(REPAIR_ORDER.insert().values(text="another order"))  # a later transaction of the host
        session.commit()
    assert [e.case_id for e in heard.events if isinstance(e, CaseOpened)] == [case.id]  # once
    assert crm.cases.get(case.id, by=crm.system).state == "reported"
    assert count(crm, OutboxMessage) == 1
    with crm.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(REPAIR_ORDER)) == 2


def test_a_refused_operation_rolls_back_only_itself_and_the_host_goes_on(shop):
    crm, heard, lea, max_ = shop
    with Session(crm.engine) as session, session.begin():
        with crm.joining(session):
            with pytest.raises(NotFound):
                crm.cases.open(max_.id, "drum noise", asset_id=999, by=lea.id)
            crm.customers.update(max_.id, city="Hamburg", by=lea.id)
        session.execute(REPAIR_ORDER.insert().values(text="still mine"))
    assert crm.customers.get(max_.id, by=lea.id).city == "Hamburg"
    assert count(crm, Case) == 0


def test_a_bare_connection_joins_too_and_dealercrm_never_commits_it(shop):
    crm, heard, lea, max_ = shop
    with crm.engine.connect() as conn:
        conn.begin()
        with crm.uow(lea.id, "host.note", connection=conn) as uow:
            uow.session.get(Customer, max_.id).city = "Bremen"
            uow.commit()
        assert conn.in_transaction()  # still the host's to end
        conn.rollback()
    assert crm.customers.get(max_.id, by=lea.id).get("city") is None


def test_joining_needs_an_open_transaction_on_dealercrms_database(shop, tmp_path):
    from sqlalchemy import create_engine

    from dealercrm import ValidationError
    crm, heard, lea, max_ = shop
    with crm.engine.connect() as conn:
        with pytest.raises(ValidationError, match="begin its transaction first"):
            crm.uow(lea.id, "x", connection=conn)
    other = create_engine(f"sqlite:///{tmp_path}/other.db")
    with other.connect() as conn:
        conn.begin()
        with pytest.raises(ValidationError, match="not dealercrm's database"):
            crm.uow(lea.id, "x", connection=conn)
    other.dispose()
