"""Prepared statements run on the driver's cursor yet behave like ``Connection.execute``:
typed values both ways, the same transaction, the same error classes, on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError, StatementError

from dealercrm.db.models import AuditRecord, Customer, Interest
from dealercrm.db.outbox_models import OutboxMessage
from dealercrm.db.prepared import Prepared

CUSTOMER_BY_ID = Prepared(select(Customer).where(Customer.id == bindparam("c")))
AUDIT_IN = Prepared(insert(AuditRecord.__table__).returning(AuditRecord.__table__.c.id))
RENAME = Prepared(update(Customer.__table__).where(Customer.__table__.c.id == bindparam("where_id")))
OUT = OutboxMessage.__table__
QUEUE = Prepared(insert(OUT).returning(OUT.c.id, OUT.c.status, OUT.c.attempts))


def test_reads_come_back_typed_as_through_sqlalchemy(any_crm, clock):
    anna = any_crm.customers.add("Anna Berger", email="anna@example.org", birthday="1980-02-29", by=any_crm.system)
    with any_crm.uow(any_crm.system, "test") as uow:
        row = CUSTOMER_BY_ID.first(uow.connection, {"c": anna.id})
        same = uow.connection.execute(select(Customer.__table__).where(Customer.id == anna.id)).mappings().one()
    assert row == dict(same)
    assert row["created_at"] == clock.now() and row["created_at"].tzinfo is not None
    assert str(row["birthday"]) == "1980-02-29"


def test_writes_join_the_unit_of_work_and_roll_back_with_it(any_crm):
    anna = any_crm.customers.add("Anna Berger", email="anna@example.org", by=any_crm.system)
    with any_crm.uow(any_crm.system, "test") as uow:
        assert RENAME.run(uow.connection, {"name": "Anna Huber", "where_id": anna.id}) == 1
        assert uow.session.get(Customer, anna.id).name == "Anna Huber"  # same transaction
        # leaving without commit rolls back
    assert any_crm.customers.get(anna.id, by=any_crm.system).name == "Anna Berger"
    with any_crm.uow(any_crm.system, "test") as uow:
        RENAME.run(uow.connection, {"name": "Anna Huber", "where_id": anna.id})
        uow.commit()
    assert any_crm.customers.get(anna.id, by=any_crm.system).name == "Anna Huber"


def test_json_and_time_values_round_trip_and_scalar_defaults_are_filled(any_crm, clock):
    anna = any_crm.customers.add("Anna Berger", email="anna@example.org", by=any_crm.system)
    with any_crm.uow(any_crm.system, "test") as uow:
        audit_id = AUDIT_IN.scalar(uow.connection, dict(
            at=clock.now(), actor_id=uow.actor_id, operation="test", action="insert", entity="customer",
            entity_id=anna.id, changes={"name": [None, "Änne"], "n": [1, 2]}, personal_changes=None,
            customer_id=anna.id))
        message_id, status, attempts = QUEUE.execute(uow.connection, dict(
            idempotency_key="k-1", customer_id=anna.id, channel="email", purpose="service", recipient="a@b.c",
            subject=None, body="hello", data={"case_id": None}, case_id=None, reason=None,
            next_attempt_at=clock.now() + timedelta(hours=1), created_at=clock.now())).one_or_none()
        uow.commit()
    assert (status, attempts) == ("pending", 0)  # the columns' defaults, as SQLAlchemy would fill them
    with any_crm.read(any_crm.system) as uow:
        audit = uow.session.get(AuditRecord, audit_id)
        message = uow.session.get(OutboxMessage, message_id)
    assert audit.changes == {"name": [None, "Änne"], "n": [1, 2]} and audit.personal_changes is None
    assert message.origin == "human" and message.next_attempt_at == clock.now() + timedelta(hours=1)


def test_driver_errors_arrive_as_sqlalchemy_errors_and_nothing_is_kept(any_crm, clock):
    anna = any_crm.customers.add("Anna Berger", email="anna@example.org", by=any_crm.system)
    before = _count(any_crm)
    row = dict(at=clock.now(), actor_id=any_crm.system_actor_id, operation="test", action="insert",
               entity="customer", entity_id=anna.id, changes={}, personal_changes=None, customer_id=anna.id)
    with any_crm.uow(any_crm.system, "test") as uow, pytest.raises(IntegrityError, match="audit_record"):
        AUDIT_IN.scalar(uow.connection, row)  # written, then taken back with the failed operation
        AUDIT_IN.scalar(uow.connection, {**row, "at": None})
    assert _count(any_crm) == before
    with any_crm.uow(any_crm.system, "test") as uow, pytest.raises(StatementError, match="naive"):
        AUDIT_IN.scalar(uow.connection, {**row, "at": datetime(2026, 3, 2, 9, 0)})  # no timezone
    assert _count(any_crm) == before


def test_outside_a_transaction_a_write_begins_one_and_is_not_kept_unless_committed(any_crm, clock):
    anna = any_crm.customers.add("Anna Berger", email="anna@example.org", by=any_crm.system)
    before = _count(any_crm)
    with any_crm.engine.connect() as conn:
        AUDIT_IN.scalar(conn, dict(at=clock.now(), actor_id=any_crm.system_actor_id, operation="test",
                                   action="insert", entity="customer", entity_id=anna.id, changes={},
                                   personal_changes=None, customer_id=anna.id))
        assert conn.in_transaction()
        conn.rollback()
    assert _count(any_crm) == before


def test_an_onupdate_value_is_filled_in_as_sqlalchemy_would(any_crm):
    from sqlalchemy import Column, Integer, MetaData, String, Table

    table = Table("prepared_probe", MetaData(), Column("id", Integer, primary_key=True),
                  Column("name", String(20)), Column("revision", Integer, default=1, onupdate=7))
    table.create(any_crm.engine)
    try:
        with any_crm.uow(any_crm.system, "test") as uow:
            Prepared(insert(table)).run(uow.connection, {"id": 1, "name": "a"})
            Prepared(update(table).where(table.c.id == bindparam("where_id"))).run(
                uow.connection, {"name": "b", "where_id": 1})
            row = uow.connection.execute(select(table)).one()
            uow.commit()
        assert (row.name, row.revision) == ("b", 7)
    finally:
        table.drop(any_crm.engine)


def test_what_it_cannot_do_is_refused_when_first_used(any_crm):
    listing = Prepared(select(Customer.id).where(Customer.id.in_(bindparam("ids", expanding=True))))
    with any_crm.read(any_crm.system) as uow, pytest.raises(TypeError, match="parameter 'ids' is expanding"):
        listing.all(uow.connection, {"ids": [1, 2]})
    missing = Prepared(select(Interest.id).where(Interest.customer_id == bindparam("c")))
    with any_crm.read(any_crm.system) as uow, pytest.raises(TypeError, match="no value for parameter 'c'"):
        missing.all(uow.connection, {})
    twins = Prepared(select(Customer.id, Interest.id).join(Interest, Interest.customer_id == Customer.id))
    with any_crm.read(any_crm.system) as uow, pytest.raises(TypeError, match=r"\['id'\] share a name"):
        twins.all(uow.connection, {})


def _count(crm) -> int:
    with crm.read(crm.system) as uow:
        return uow.connection.execute(select(func.count()).select_from(AuditRecord)).scalar_one()
