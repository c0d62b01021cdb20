"""Who may move a case, and what a refusal says.

Every refusal names the case, its state, the trigger, the actor and what that actor
could do instead — and leaves everything as it was: state, version, history, audit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from case_world import build_world, copy_world

from dealercrm import Conflict, NotFound, NotPermitted, TransitionNotAllowed, ValidationError
from dealercrm.db.case_models import Case


@pytest.fixture
def world(tmp_path, clock):
    world = copy_world(tmp_path, clock)
    yield world
    world.crm.close()


@pytest.fixture
def at_manufacturer(world):
    case = world.open_case()
    world.to_manufacturer(case.id)
    return case.id


def refused(world, case_id, error, *, trigger, by, **data):
    """Fire, expect ``error``, check nothing changed; return the message."""
    before = world.snapshot(case_id)
    with pytest.raises(error) as err:
        world.fire(case_id, trigger, by, **data)
    assert world.snapshot(case_id) == before, "a refused trigger changed the case"
    return str(err.value), err.value


def names_the_essentials(message, case_id, state, trigger, actor):
    assert f"case {case_id}" in message
    assert repr(state) in message
    assert repr(trigger) in message
    assert actor.name in message


def test_an_unknown_trigger_names_case_state_actor_and_what_is_allowed(world, at_manufacturer):
    message, err = refused(world, at_manufacturer, TransitionNotAllowed, trigger="fly_to_the_moon",
                           by=world.service)
    names_the_essentials(message, at_manufacturer, "manufacturer_review", "fly_to_the_moon", world.service)
    assert "unknown trigger" in message
    assert err.allowed == ("take_over", "withdraw")
    assert "allowed triggers: take_over, withdraw" in message


def test_a_trigger_that_cannot_fire_in_this_state_is_refused(world, at_manufacturer):
    message, err = refused(world, at_manufacturer, TransitionNotAllowed, trigger="confirm", by=world.service)
    names_the_essentials(message, at_manufacturer, "manufacturer_review", "confirm", world.service)
    assert err.allowed == ("take_over", "withdraw")


def test_a_party_of_the_wrong_kind_may_not_decide_for_the_manufacturer(world, at_manufacturer):
    message, _ = refused(world, at_manufacturer, NotPermitted, trigger="approve_visit", by=world.service,
                         technician_party_id=world.technician.id)
    names_the_essentials(message, at_manufacturer, "manufacturer_review", "approve_visit", world.service)
    assert "may be fired by: manufacturer" in message
    assert "may fire: take_over, withdraw" in message


def test_the_manufacturer_may_not_book_the_technicians_visit(world, clock):
    case = world.open_case()
    dispatched = world.to_technician(case.id)
    message, _ = refused(world, case.id, NotPermitted, trigger="schedule_visit", by=world.warranty_desk,
                         visit_at=(dispatched.due_at - timedelta(hours=1)).isoformat())
    names_the_essentials(message, case.id, "technician_dispatch", "schedule_visit", world.warranty_desk)
    assert "may fire: none" in message


def test_another_manufacturer_may_not_decide_on_this_case(world, at_manufacturer):
    """Another party's case does not exist for it: the same answer as an id never used."""
    message, _ = refused(world, at_manufacturer, NotFound, trigger="approve_replacement",
                         by=world.other_warranty_desk)
    assert message == f"case {at_manufacturer!r} not found"
    with pytest.raises(NotFound):
        world.crm.cases.allowed_triggers(at_manufacturer, world.other_warranty_desk.id)
    assert world.crm.cases.allowed_triggers(at_manufacturer, world.warranty_desk.id) == [
        "approve_replacement", "approve_visit", "reject"]


def test_another_dealer_may_neither_move_nor_withdraw_the_case(world):
    case = world.open_case()
    for trigger, data in (("start_diagnosis", {}), ("withdraw", {"reason": "mine now"})):
        message, _ = refused(world, case.id, NotFound, trigger=trigger, by=world.other_dealer_service, **data)
        assert message == f"case {case.id!r} not found"
    with pytest.raises(NotFound):
        world.crm.cases.allowed_triggers(case.id, world.other_dealer_service.id)


def test_another_dealer_may_not_open_a_case_for_our_customer(world):
    with pytest.raises(NotFound, match="customer"):
        world.open_case(by=world.other_dealer_service.id)
    with pytest.raises(NotFound, match="customer"):
        world.open_case(by=world.warranty_desk.id)
    assert world.crm.cases.list(open_only=False, by=world.crm.system) == []


def test_a_service_desk_may_not_refund_only_a_manager(world, at_manufacturer):
    world.fire(at_manufacturer, "reject", world.warranty_desk, reason="not covered")
    message, _ = refused(world, at_manufacturer, NotPermitted, trigger="refund", by=world.service)
    names_the_essentials(message, at_manufacturer, "dealer_decision", "refund", world.service)
    assert "dealer:manager" in message and "dealer:service may fire:" in message
    refused(world, at_manufacturer, NotPermitted, trigger="refund", by=world.owner)


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_rejection_without_a_reason_names_the_missing_field(world, at_manufacturer, reason):
    data = {} if reason is None else {"reason": reason}
    message, err = refused(world, at_manufacturer, ValidationError, trigger="reject", by=world.warranty_desk, **data)
    assert err.field == "reason"
    assert f"case {at_manufacturer}" in message and "'reject'" in message and "manufacturer_review" in message


@pytest.mark.parametrize("visit_at", ["2026-03-03T10:00:00", "2026-03-03 10:00", "next tuesday", "",
                                      datetime(2026, 3, 3, 10, 0)])
def test_a_visit_time_without_a_timezone_is_refused_not_guessed(world, visit_at):
    case = world.open_case()
    world.to_technician(case.id)
    _, err = refused(world, case.id, ValidationError, trigger="schedule_visit", by=world.fitter, visit_at=visit_at)
    assert err.field == "visit_at"


def test_a_close_by_agreement_needs_the_agreement_written_down(world, at_manufacturer):
    world.fire(at_manufacturer, "take_over", world.service, reason="customer is waiting")
    _, err = refused(world, at_manufacturer, ValidationError, trigger="close_by_agreement", by=world.service)
    assert err.field == "note"


def test_a_stale_version_is_a_conflict_naming_case_and_version(world):
    case = world.open_case()
    world.fire(case.id, "start_diagnosis", world.service, expected_version=1)
    before = world.snapshot(case.id)
    with pytest.raises(Conflict) as err:
        world.fire(case.id, "forward_to_manufacturer", world.service, expected_version=1)
    assert f"case {case.id}" in str(err.value) and "version 1" in str(err.value) and "now 2" in str(err.value)
    assert world.snapshot(case.id) == before
    assert world.fire(case.id, "forward_to_manufacturer", world.service, expected_version=2).version == 3


def test_unknown_cases_and_actors_are_not_found(world):
    case = world.open_case()
    cases, system = world.crm.cases, world.crm.system
    for call in (lambda: cases.get(999, by=system), lambda: cases.history(999, by=system),
                 lambda: cases.allowed_triggers(999, system),
                 lambda: cases.fire(999, "start_diagnosis", by=world.service.id),
                 lambda: cases.record_fact(999, "customer_agreed_late_slot", True, by=world.service.id)):
        with pytest.raises(NotFound, match="case 999"):
            call()
    before = world.snapshot(case.id)
    for call in (lambda: cases.fire(case.id, "start_diagnosis", by=4242),
                 lambda: cases.allowed_triggers(case.id, 4242),
                 lambda: cases.record_fact(case.id, "customer_agreed_late_slot", True, by=4242),
                 lambda: cases.open(world.customer.id, "noisy", by=4242)):
        with pytest.raises(NotFound, match="actor 4242"):
            call()
    assert world.snapshot(case.id) == before
    with pytest.raises(NotFound, match="customer 999"):
        cases.open(999, "noisy", by=world.service.id)
    with pytest.raises(NotFound, match="workflow 'no_such_flow'"):
        cases.open(world.customer.id, "noisy", workflow="no_such_flow", by=world.service.id)


def test_a_case_needs_a_summary_and_the_customers_own_asset(world):
    other = world.crm.customers.add("Otto Normal", owner_party_id=world.dealer.id, by=world.crm.system)
    with pytest.raises(ValidationError, match="summary"):
        world.open_case(summary="  ")
    with pytest.raises(NotFound, match="asset"):  # another customer's asset: not probed, as a missing one
        world.crm.cases.open(other.id, "noisy", asset_id=world.machine.id, by=world.service.id)
    assert world.crm.cases.list(open_only=False, by=world.crm.system) == []


def test_facts_are_recorded_only_by_the_cases_parties_and_only_on_open_cases(world):
    case = world.open_case()
    before = world.snapshot(case.id)
    with pytest.raises(NotFound, match=f"case {case.id}"):
        world.crm.cases.record_fact(case.id, "customer_agreed_late_slot", True, by=world.other_dealer_service.id)
    with pytest.raises(ValidationError, match="fact"):
        world.crm.cases.record_fact(case.id, "drop table", True, by=world.service.id)
    assert world.snapshot(case.id) == before
    world.fire(case.id, "withdraw", world.service, reason="duplicate of another case")
    with pytest.raises(ValidationError, match="open cases only"):
        world.crm.cases.record_fact(case.id, "customer_agreed_late_slot", True, by=world.service.id)


# --- no bypass: the ORM refuses direct assignment -------------------------------------


@pytest.mark.parametrize("field, value", [("state", "closed"), ("due_at", None), ("owner_party_id", None),
                                          ("version", 99), ("closed_at", datetime(2026, 3, 3).astimezone()),
                                          ("reopen_count", 5), ("dealer_party_id", 1),
                                          ("technician_party_id", 1),
                                          ("facts", {"customer_agreed_late_slot": True})])
def test_assigning_state_or_deadline_on_a_loaded_case_is_refused_at_once(world, field, value):
    case = world.open_case()
    before = world.snapshot(case.id)
    with world.crm.uow(world.service.id, "sneaky") as uow:
        loaded = uow.session.get(Case, case.id)
        with pytest.raises(NotPermitted, match=f"case {case.id}: {field} cannot be assigned"):
            setattr(loaded, field, value)
        uow.commit()
    assert world.snapshot(case.id) == before


def test_a_closed_case_cannot_be_given_an_owner_or_deadline_behind_the_workflows_back(world, clock):
    case = world.open_case()
    world.fire(case.id, "withdraw", world.service, reason="customer changed his mind")
    with world.crm.uow(world.service.id, "sneaky") as uow:
        loaded = uow.session.get(Case, case.id)
        assert loaded.due_at is None and loaded.owner_party_id is None
        with pytest.raises(NotPermitted):
            loaded.due_at = clock.now()
        with pytest.raises(NotPermitted):
            loaded.owner_party_id = world.dealer.id
        with pytest.raises(NotPermitted):
            loaded.closed_at = None


def test_a_loaded_case_keeps_its_other_fields_editable(world):
    case = world.open_case()
    with world.crm.uow(world.service.id, "cases.edit") as uow:
        loaded = uow.session.get(Case, case.id)
        loaded.summary = "washes badly, and the door squeaks"
        loaded.state = loaded.state  # assigning the same value is no change
        uow.commit()
    assert world.crm.cases.get(case.id, by=world.crm.system).summary == "washes badly, and the door squeaks"


def test_the_priority_of_a_loaded_case_changes_only_through_the_service_that_decides_its_level(world):
    case = world.open_case()
    with world.crm.uow(world.service.id, "cases.edit") as uow:
        loaded = uow.session.get(Case, case.id)
        with pytest.raises(NotPermitted, match="crm.cases.set_priority"):
            loaded.priority = "urgent"
        with pytest.raises(NotPermitted, match="crm.cases.set_priority"):
            loaded.service_level = "premium"


def test_an_employee_who_left_may_no_longer_move_cases_and_is_welcome_back(world, at_manufacturer):
    """Who fires is read for every operation, not remembered from the first one."""
    world.fire(at_manufacturer, "take_over", world.service, reason="the manufacturer does not answer")
    world.crm.parties.set_actor_active(world.service.id, False, by=world.owner.id)
    message, _ = refused(world, at_manufacturer, NotPermitted, trigger="retry_manufacturer", by=world.service)
    assert f"actor {world.service.id}" in message and "inactive" in message
    world.crm.parties.set_actor_active(world.service.id, True, by=world.owner.id)
    world.fire(at_manufacturer, "retry_manufacturer", world.service)
    assert world.crm.cases.get(at_manufacturer, by=world.crm.system).state == "manufacturer_review"


def test_the_system_actor_cannot_be_switched_off(world):
    with pytest.raises(ValidationError, match="system actor"):
        world.crm.parties.set_actor_active(world.crm.system_actor_id, False, by=world.crm.system)
