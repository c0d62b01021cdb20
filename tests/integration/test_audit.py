"""Every change names who made it, and nothing half-happens.

The audit log is append-only down to the database: raw SQL cannot rewrite or delete
it; only the personal half of a row may be blanked, which is what erasure needs.
One business operation is one transaction: an exception or a plugin's veto before
commit leaves no trace.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from dealercrm import CustomerRegistered, DealerCrmError, PluginError, Vetoed, hookimpl
from dealercrm.db.models import AuditRecord, Customer


def audit(crm, **where):
    with crm.read(crm.system) as uow:
        query = select(AuditRecord).order_by(AuditRecord.id)
        for key, value in where.items():
            query = query.where(getattr(AuditRecord, key) == value)
        return list(uow.session.scalars(query))


def count(crm, model) -> int:
    with crm.read(crm.system) as uow:
        return uow.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def sabine(crm):
    return crm.parties.add_actor(crm.parties.by_name("Our Dealership", by=crm.system).id, "Sabine Krüger", "manager", by=crm.system)


# --- who, what, when, before and after ----------------------------------------------


def test_every_service_operation_leaves_audit_rows_naming_actor_and_operation(crm, clock, sabine):
    by = sabine.id
    home = crm.parties.by_name("Our Dealership", by=crm.system)
    car = crm.products.add("CAR-1", "Alpina Touring", by=by)
    c = crm.customers.add("Max Mustermann", email="max@example.org", account_owner_id=by, by=by)
    crm.customers.update(c.id, city="Hamburg", by=by)
    tom = crm.parties.add_actor(home.id, "Tom Albers", "sales", by=by)
    crm.customers.reassign(c.id, account_owner_id=tom.id, by=by)
    crm.customers.add_contact(c.id, "Erika Mustermann", "spouse", by=by)
    crm.assets.record(c.id, car.id, handed_over_on="2026-03-01", by=by)
    talk = crm.interactions.record(c.id, "visit", "inbound", "handover", by=by)
    crm.interests.note(c.id, "skiing", interaction_id=talk.id, by=by)
    crm.consents.grant(c.id, "email", "service", source="form", by=by)
    crm.consents.revoke(c.id, "email", "service", source="letter", by=by)
    task = crm.tasks.create("call", clock.now() + timedelta(days=1), customer_id=c.id, assigned_actor_id=by, by=by)
    crm.tasks.complete(task.id, by=by)
    dup = crm.customers.add("Max M.", by=by)
    crm.customers.merge(c.id, dup.id, by=by)
    crm.customers.erase(c.id, by=by)
    trail = [r for r in audit(crm) if r.actor_id == by]
    assert {r.operation for r in trail} == {
        "products.add", "customers.add", "customers.update", "parties.add_actor", "customers.reassign",
        "customers.add_contact", "assets.record", "interactions.record", "interests.note", "consents.grant",
        "consents.revoke", "tasks.create", "tasks.complete", "customers.merge", "customers.erase"}
    assert all(r.at.utcoffset() == timedelta(0) for r in trail)
    # nothing is written without an actor: the system stands in when no one is named (except
    # the row that creates the system actor itself)
    assert [r.operation for r in audit(crm) if r.actor_id is None] == ["system.bootstrap"]


def test_an_operation_without_a_named_actor_is_recorded_as_the_system(crm):
    c = crm.customers.add("Max Mustermann", by=crm.system)
    [row] = audit(crm, entity="customer", entity_id=c.id)
    assert row.actor_id == crm.system_actor_id


def test_an_insert_records_every_value_as_after(crm, clock, sabine):
    c = crm.customers.add("Max Mustermann", kind="person", email="max@example.org", city="München",
                          account_owner_id=sabine.id, by=sabine.id)
    [row] = audit(crm, entity="customer", entity_id=c.id)
    assert (row.action, row.operation, row.customer_id, row.at) == ("insert", "customers.add", c.id, clock.now())
    assert row.changes["kind"] == [None, "person"]
    assert row.changes["account_owner_id"] == [None, sabine.id]
    assert row.changes["created_at"] == [None, clock.now().isoformat()]
    assert "id" not in row.changes and "email" not in row.changes


def test_an_update_records_before_and_after_of_the_changed_fields_only(crm, clock, sabine):
    c = crm.customers.add("Max Mustermann", email="max@example.org", city="München", by=crm.system)
    clock.advance(days=1)
    crm.customers.update(c.id, city="Hamburg", email="max@example.org", by=sabine.id)
    [row] = [r for r in audit(crm, entity="customer", entity_id=c.id) if r.action == "update"]
    assert row.actor_id == sabine.id
    assert row.personal_changes == {"city": ["München", "Hamburg"]}
    assert set(row.changes) == {"updated_at"}


def test_personal_fields_land_in_the_personal_half(crm):
    c = crm.customers.add("Max Mustermann", email="max@example.org", phone="0171 5550100", birthday="1978-02-14",
                          street="Bergstraße 1", postcode="80331", city="München", kind="person", by=crm.system)
    [row] = audit(crm, entity="customer", entity_id=c.id)
    assert row.personal_changes == {
        "name": [None, "Max Mustermann"], "email": [None, "max@example.org"], "phone": [None, "+491715550100"],
        "birthday": [None, "1978-02-14"], "street": [None, "Bergstraße 1"], "postcode": [None, "80331"],
        "city": [None, "München"]}
    assert not set(row.changes) & set(row.personal_changes)
    talk = crm.interactions.record(c.id, "phone", "inbound", "about the skiing holiday", by=crm.system)
    [talk_row] = audit(crm, entity="interaction", entity_id=talk.id)
    assert talk_row.personal_changes == {"summary": [None, "about the skiing holiday"]}
    assert talk_row.changes["channel"] == [None, "phone"]
    assert talk_row.customer_id == c.id


def test_a_reassignment_is_audited_with_the_old_and_new_owner(crm, sabine):
    home = crm.parties.by_name("Our Dealership", by=crm.system)
    tom = crm.parties.add_actor(home.id, "Tom Albers", "sales", by=crm.system)
    c = crm.customers.add("Max Mustermann", account_owner_id=sabine.id, by=crm.system)
    crm.customers.reassign(c.id, account_owner_id=tom.id, by=sabine.id)
    [row] = audit(crm, operation="customers.reassign")
    assert row.changes["account_owner_id"] == [sabine.id, tom.id]
    assert row.actor_id == sabine.id


# --- append-only, down to the database --------------------------------------------------


@pytest.mark.parametrize("statement", [
    "UPDATE audit_record SET operation = 'forged'",
    "UPDATE audit_record SET actor_id = NULL",
    "UPDATE audit_record SET changes = NULL",
    "UPDATE audit_record SET entity_id = entity_id + 1",
    "DELETE FROM audit_record",
])
def test_raw_sql_cannot_rewrite_or_delete_the_audit_log(any_crm, statement):
    crm = any_crm
    crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)
    before = [(r.id, r.operation, r.actor_id, r.changes) for r in audit(crm)]
    with pytest.raises(DBAPIError, match="append-only"):
        with crm.engine.begin() as conn:
            conn.execute(text(statement))
    assert [(r.id, r.operation, r.actor_id, r.changes) for r in audit(crm)] == before


def test_raw_sql_may_blank_the_personal_half_and_nothing_else(any_crm):
    crm = any_crm
    c = crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)
    with crm.engine.begin() as conn:
        conn.execute(text("UPDATE audit_record SET personal_changes = NULL WHERE customer_id = :c"), {"c": c.id})
    [row] = audit(crm, customer_id=c.id)
    assert row.personal_changes is None and row.changes["kind"] == [None, "person"]
    with pytest.raises(DBAPIError, match="append-only"):
        with crm.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE audit_record SET personal_changes = '{\"name\": \"forged\"}'")
    assert audit(crm, customer_id=c.id)[0].personal_changes is None


# --- one operation, one transaction -----------------------------------------------------


def test_an_exception_inside_a_unit_of_work_before_commit_leaves_nothing_written(any_crm):
    crm = any_crm
    customers, rows = count(crm, Customer), count(crm, AuditRecord)
    with pytest.raises(RuntimeError, match="power cut"):
        with crm.uow(crm.system, "test.crash") as uow:
            uow.session.add(Customer(name="Half Written", owner_party_id=1, created_at=uow.now,
                                     updated_at=uow.now))
            uow.flush()  # written to the transaction, audit row included
            raise RuntimeError("power cut")
    assert (count(crm, Customer), count(crm, AuditRecord)) == (customers, rows)


def test_leaving_a_unit_of_work_without_commit_rolls_back(crm):
    with crm.uow(crm.system, "test.forgot") as uow:
        uow.session.add(Customer(name="Never Committed", owner_party_id=1, created_at=uow.now, updated_at=uow.now))
        uow.flush()
    assert crm.customers.count(by=crm.system) == 0


def test_a_plugins_veto_rolls_back_the_whole_operation(any_crm):
    crm = any_crm
    handled = []

    class OnlyWithEmail:
        @hookimpl
        def dealercrm_check_event(self, event, uow):
            if isinstance(event, CustomerRegistered):
                customer = uow.session.get(Customer, event.customer_id)
                if customer.email is None:
                    raise Vetoed("only-with-email", "customers need an e-mail address")

        @hookimpl
        def dealercrm_handle_event(self, event):
            handled.append(event)

    crm.register(OnlyWithEmail(), "only-with-email")
    rows = count(crm, AuditRecord)
    with pytest.raises(Vetoed) as info:
        crm.customers.add("Max Mustermann", phone="0171 5550100", by=crm.system)
    assert info.value.plugin == "only-with-email"
    assert "customers need an e-mail address" in str(info.value)
    assert crm.customers.count(by=crm.system) == 0
    assert count(crm, AuditRecord) == rows  # not even the audit row survived
    assert handled == []  # a vetoed operation is never announced
    # the phone is free again: nothing half-written holds it
    assert crm.customers.add("Max Mustermann", phone="0171 5550100", email="max@example.org", by=crm.system).id


def test_a_plugin_crashing_inside_the_transaction_is_named_and_rolls_back(crm, register_plugin):
    class Broken:
        @hookimpl
        def dealercrm_check_event(self, event):
            raise KeyError("oops")

    register_plugin(Broken(), "broken-checker")
    with pytest.raises(PluginError) as info:
        crm.customers.add("Max Mustermann", by=crm.system)
    assert (info.value.plugin, info.value.hook) == ("broken-checker", "dealercrm_check_event")
    assert isinstance(info.value, DealerCrmError)
    assert crm.customers.count(by=crm.system) == 0


def test_a_plugin_failing_after_commit_cannot_undo_the_change(crm, register_plugin):
    class LateFailure:
        @hookimpl
        def dealercrm_handle_event(self, event):
            raise RuntimeError("mail server down")

    register_plugin(LateFailure(), "late")
    c = crm.customers.add("Max Mustermann", by=crm.system)
    assert crm.customers.get(c.id, by=crm.system).name == "Max Mustermann"
    assert [(f.plugin, f.hook) for f in crm.plugin_failures] == [("late", "dealercrm_handle_event")]


def test_rows_a_checker_adds_commit_together_with_the_operation(crm, register_plugin):
    class Greeter:
        @hookimpl
        def dealercrm_check_event(self, event, uow):
            if isinstance(event, CustomerRegistered):
                from dealercrm.services.interactions import record_interaction
                record_interaction(uow, event.customer_id, "system", "internal", "welcome pack queued",
                                   personal=False)

    register_plugin(Greeter(), "greeter")
    c = crm.customers.add("Max Mustermann", by=crm.system)
    assert [i.summary for i in crm.interactions.timeline(c.id, by=crm.system)] == ["welcome pack queued"]
    assert [r.operation for r in audit(crm, entity="interaction")] == ["customers.add"]


def test_opening_a_case_is_audited_as_the_orm_would_audit_the_new_case_and_its_history_row(crm):
    """The case and its "opened" history row are written through Core; their audit rows are
    those the ORM listener writes for an inserted object: every column set (but ``id``) from
    nothing to its stored value, the personal ones (the summary, the facts, the row's data) in
    the half an erasure blanks, the customer named for the case."""
    from case_world import build_world

    from dealercrm.audit import jsonable
    from dealercrm.db.case_models import Case, CaseEvent

    world = build_world(crm)
    case = world.open_case("the drum squeaks")
    with crm.read(crm.system) as uow:
        stored = {Case: dict(uow.connection.execute(select(Case.__table__).where(Case.id == case.id)).mappings().one()),
                  CaseEvent: dict(uow.connection.execute(select(CaseEvent.__table__).where(
                      CaseEvent.case_id == case.id)).mappings().one())}
    rows = {row.entity: row for row in audit(crm, operation="cases.open") if row.entity_id in
            (stored[Case]["id"], stored[CaseEvent]["id"])}
    assert set(rows) == {"service_case", "case_event"}
    for model, row in ((Case, rows["service_case"]), (CaseEvent, rows["case_event"])):
        expected = {k: [None, jsonable(v)] for k, v in stored[model].items() if v is not None and k != "id"}
        assert {**(row.changes or {}), **(row.personal_changes or {})} == expected
        assert set(row.personal_changes or {}) == set(expected) & model.__personal__
        assert (row.action, row.actor_id) == ("insert", world.service.id)
    assert rows["service_case"].personal_changes["summary"] == [None, "the drum squeaks"]
    assert rows["service_case"].customer_id == world.customer.id and rows["case_event"].customer_id is None
