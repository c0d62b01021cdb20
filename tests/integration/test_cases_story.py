"""Story 002, the washing machine run-around, played through the public API.

Delivered on a Tuesday, the machine washes badly. This time the dealer opens a case,
forwards it to the manufacturer, the manufacturer stays silent — and instead of the
customer chasing a hold queue, the deadline hands the case back to the dealer, who
swaps the machine. Every hand-off names the new owner and the time it has.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from case_world import build_world, copy_world, plugin
from sqlalchemy import select

from dealercrm import (NotFound,
    AssetRecorded,
    CaseClosed,
    CaseEscalated,
    CaseHandedOver,
    CaseOpened,
    CaseReopened,
    CaseTransitioned,
    NotPermitted,
    PluginError,
    TransitionNotAllowed,
    ValidationError,
)
from dealercrm.db.models import Asset, AuditRecord

UTC = timezone.utc
BERLIN_WINTER = timedelta(hours=1)  # Europe/Berlin is UTC+1 until 2026-03-29


def audits_of(w, case_id: int, operation: str) -> list[AuditRecord]:
    with w.crm.read(w.crm.system) as uow:
        return list(uow.session.scalars(select(AuditRecord).where(
            AuditRecord.entity == "service_case", AuditRecord.entity_id == case_id, AuditRecord.operation == operation)))


@pytest.fixture
def world(tmp_path, clock):
    world = copy_world(tmp_path, clock)
    yield world
    world.crm.close()


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_silent_manufacturer_returns_the_case_to_the_dealer_who_swaps_the_machine(world, clock):
    crm, w = world.crm, world
    opened_at = clock.now()  # Monday 2026-03-02 09:00 UTC, 10:00 in Berlin
    case = w.open_case()
    assert (case.state, case.owner_kind, case.owner_party_id) == ("reported", "dealer", w.dealer.id)
    assert case.due_at == utc(2026, 3, 2, 13)  # four working hours: 14:00 in Berlin
    assert case.manufacturer_party_id == w.manufacturer.id  # taken from the machine

    diag = w.fire(case.id, "start_diagnosis", w.service)
    assert diag.due_at == utc(2026, 3, 3, 9)  # one working day: 7 h on Monday, 2 h on Tuesday
    clock.advance(minutes=30)
    forwarded = w.fire(case.id, "forward_to_manufacturer", w.service, note="drum does not turn at full speed")
    assert (forwarded.dest, forwarded.owner_kind, forwarded.owner_party_id) == (
        "manufacturer_review", "manufacturer", w.manufacturer.id)
    assert forwarded.due_at == utc(2026, 3, 4, 9, 30)  # two working days, Wednesday 10:30 in Berlin
    assert [c.id for c in crm.cases.list(party_id=w.manufacturer.id, by=crm.system)] == [case.id]  # the manufacturer's queue
    assert crm.cases.list(party_id=w.dealer.id, by=crm.system) == []

    # The manufacturer stays silent. Just before the deadline nothing happens ...
    clock.set(forwarded.due_at - timedelta(minutes=1))
    assert crm.cases.tick().fired == 0
    # ... and once it passed, the case is back with the dealer.
    clock.set(forwarded.due_at + timedelta(minutes=5))
    report = crm.cases.tick()
    assert (report.fired, report.failed) == (1, [])
    back = crm.cases.get(case.id, by=crm.system)
    assert (back.state, back.owner_kind, back.owner_party_id) == ("dealer_decision", "dealer", w.dealer.id)
    assert back.due_at == utc(2026, 3, 5, 9, 35)  # a fresh working day for the dealer
    [escalated] = w.log.of(CaseEscalated, case.id)
    assert (escalated.source, escalated.dest, escalated.missed_by_party_id, escalated.due_at_missed) == (
        "manufacturer_review", "dealer_decision", w.manufacturer.id, forwarded.due_at)
    assert back.warranty_decision is None  # silence is no decision

    # The dealer swaps the machine.
    clock.advance(hours=1)
    w.fire(case.id, "offer_replacement", w.service)
    clock.advance(days=1)
    delivered = w.fire(case.id, "deliver_replacement", w.service, new_serial="BR7-0002")
    assert (delivered.dest, delivered.owner_kind, delivered.owner_party_id) == (
        "awaiting_confirmation", "customer", w.dealer.id)
    assert delivered.due_at == clock.now() + timedelta(days=14)  # the customer's time runs on the wall clock
    swapped = crm.cases.get(case.id, by=crm.system)
    new_machine = crm.assets.get(swapped.replacement_asset_id, by=crm.system)
    assert (new_machine.serial_number, new_machine.replaces_asset_id) == ("BR7-0002", w.machine.id)
    assert (new_machine.customer_id, new_machine.product_id) == (w.customer.id, w.product_id)
    assert new_machine.handed_over_on == clock.now().date()
    assert crm.assets.get(w.machine.id, by=crm.system).serial_number == "BR7-0001"  # the old one is kept, not overwritten
    assert [e.asset_id for e in w.log.of(AssetRecorded)] == [new_machine.id]  # others hear of it
    [audit] = audits_of(w, case.id, "cases.fire:deliver_replacement")  # the link: in the transition's one row
    assert audit.changes["replacement_asset_id"] == [None, new_machine.id] and "state" in audit.changes

    clock.advance(days=2)
    closed = w.fire(case.id, "confirm", w.service, note="Frau Musterfrau: washes perfectly")
    assert (closed.dest, closed.owner_party_id, closed.due_at) == ("closed", None, None)
    final = crm.cases.get(case.id, by=crm.system)
    assert final.closed_at == clock.now() and final.opened_at == opened_at
    assert (final.state, final.owner_kind, final.version, final.reopen_count) == ("closed", None, 7, 0)
    assert crm.cases.list(by=crm.system) == [] and [c.id for c in crm.cases.list(open_only=False, by=crm.system)] == [case.id]

    # Every hand-off told who has the case now, and until when.
    handed = w.log.of(CaseHandedOver, case.id)
    assert [(h.state, h.from_party_id, h.to_party_id, h.to_kind, h.due_at) for h in handed] == [
        ("manufacturer_review", w.dealer.id, w.manufacturer.id, "manufacturer", forwarded.due_at),
        ("dealer_decision", w.manufacturer.id, w.dealer.id, "dealer", back.due_at),
        ("awaiting_confirmation", w.dealer.id, w.dealer.id, "customer", delivered.due_at),
    ]
    assert [e.name for e in w.log.events if getattr(e, "case_id", None) == case.id
            and e.name.startswith("case_")] == [
        "case_opened", "case_transitioned", "case_transitioned", "case_handed_over",
        "case_transitioned", "case_escalated", "case_handed_over", "case_transitioned",
        "case_transitioned", "case_handed_over", "case_transitioned", "case_closed"]
    [opened_event] = w.log.of(CaseOpened, case.id)
    assert (opened_event.owner_party_id, opened_event.due_at) == (w.dealer.id, case.due_at)
    [closed_event] = w.log.of(CaseClosed, case.id)
    assert closed_event.final_state == "closed"

    # The history tells the whole story: from, to, trigger, actor, party, time, data.
    history = crm.cases.history(case.id, by=crm.system)
    system = crm.system_actor_id
    assert [(h.kind, h.from_state, h.to_state, h.trigger, h.actor_id, h.party_id, h.version) for h in history] == [
        ("opened", None, "reported", None, w.service.id, w.dealer.id, 1),
        ("transition", "reported", "dealer_diagnosis", "start_diagnosis", w.service.id, w.dealer.id, 2),
        ("transition", "dealer_diagnosis", "manufacturer_review", "forward_to_manufacturer", w.service.id,
         w.dealer.id, 3),
        ("timeout", "manufacturer_review", "dealer_decision", "escalate", system, None, 4),
        ("transition", "dealer_decision", "replacement", "offer_replacement", w.service.id, w.dealer.id, 5),
        ("transition", "replacement", "awaiting_confirmation", "deliver_replacement", w.service.id, w.dealer.id, 6),
        ("transition", "awaiting_confirmation", "closed", "confirm", w.service.id, w.dealer.id, 7),
    ]
    assert [h.at for h in history] == [
        opened_at, opened_at, opened_at + timedelta(minutes=30), forwarded.due_at + timedelta(minutes=5),
        forwarded.due_at + timedelta(minutes=65), forwarded.due_at + timedelta(days=1, minutes=65),
        forwarded.due_at + timedelta(days=3, minutes=65)]
    assert [h.owner_party_id for h in history] == [w.dealer.id, w.dealer.id, w.manufacturer.id, w.dealer.id,
                                                   w.dealer.id, w.dealer.id, None]
    assert history[2].note == "drum does not turn at full speed" and history[2].due_at == forwarded.due_at
    assert "passed" in history[3].note
    assert history[5].data == {"new_serial": "BR7-0002"}
    assert history[6].due_at is None


def test_manufacturer_rejects_with_a_reason_and_the_case_goes_back_to_the_dealer_not_the_customer(world):
    w = world
    case = w.open_case()
    w.to_manufacturer(case.id)
    with pytest.raises(ValidationError, match="reason"):
        w.fire(case.id, "reject", w.warranty_desk)
    fired = w.fire(case.id, "reject", w.warranty_desk, reason="damage from overloading, not covered")
    assert (fired.dest, fired.owner_kind, fired.owner_party_id) == ("dealer_decision", "dealer", w.dealer.id)
    case = w.crm.cases.get(case.id, by=w.crm.system)
    assert case.warranty_decision == "warranty: rejected: damage from overloading, not covered"
    assert w.crm.cases.history(case.id, by=w.crm.system)[-1].data == {"reason": "damage from overloading, not covered"}
    assert w.log.of(CaseHandedOver, case.id)[-1].to_party_id == w.dealer.id


def test_approving_a_visit_needs_the_technician_and_records_the_warranty_decision(world):
    w = world
    case = w.open_case()
    w.to_manufacturer(case.id)
    before = w.snapshot(case.id)
    with pytest.raises(ValidationError, match="technician_party_id") as err:
        w.fire(case.id, "approve_visit", w.warranty_desk)
    assert f"case {case.id}" in str(err.value) and "technician_dispatch" in str(err.value)
    assert w.snapshot(case.id) == before
    fired = w.fire(case.id, "approve_visit", w.warranty_desk, technician_party_id=w.technician.id, rma_number="RMA-77")
    assert (fired.dest, fired.owner_kind, fired.owner_party_id) == ("technician_dispatch", "technician",
                                                                    w.technician.id)
    case = w.crm.cases.get(case.id, by=w.crm.system)
    assert (case.technician_party_id, case.rma_number) == (w.technician.id, "RMA-77")
    assert case.warranty_decision == "warranty: technician visit approved"
    # the decision is written with the transition: its one audit row, as the warranty desk's
    audits = audits_of(w, case.id, "cases.fire:approve_visit")
    assert len(audits) == 1 and audits[0].actor_id == w.warranty_desk.id
    assert audits[0].changes["state"] == ["manufacturer_review", "technician_dispatch"]
    assert audits[0].changes["warranty_decision"] == [None, "warranty: technician visit approved"]
    assert audits[0].changes["rma_number"] == [None, "RMA-77"]


def test_what_a_plugin_decides_is_amended_with_the_transition_but_never_its_place_in_the_workflow(world):
    w = world
    case = w.open_case()

    def mover(event, case, uow):
        return {"state": "closed", "version": 9}

    w.crm.register(plugin("mover", dealercrm_amend_case=mover), "mover")
    before = w.snapshot(case.id)
    with pytest.raises(PluginError, match="state, version cannot be amended") as err:
        w.fire(case.id, "start_diagnosis", w.service)
    assert (err.value.plugin, err.value.hook) == ("mover", "dealercrm_amend_case")
    assert w.snapshot(case.id) == before
    w.crm.unregister("mover")

    def labeller(event, case, uow):
        return {"rma_number": f"RMA-{case['id']}-{event.version}"}

    w.crm.register(plugin("labeller", dealercrm_amend_case=labeller), "labeller")
    w.fire(case.id, "start_diagnosis", w.service)
    found = w.crm.cases.get(case.id, by=w.crm.system)
    assert (found.state, found.version, found.rma_number) == ("dealer_diagnosis", 2, f"RMA-{case.id}-2")


def test_two_plugins_amending_one_column_differently_are_refused_naming_both(world):
    w = world
    case = w.open_case()
    w.crm.register(plugin("first", dealercrm_amend_case=lambda event, case, uow: {"rma_number": "A"}), "first")
    w.crm.register(plugin("second", dealercrm_amend_case=lambda event, case, uow: {"rma_number": "B"}), "second")
    before = w.snapshot(case.id)
    with pytest.raises(PluginError, match="rma_number is amended to") as err:
        w.fire(case.id, "start_diagnosis", w.service)
    assert {"first", "second"} <= set(str(err.value).replace("'", " ").split())
    assert w.snapshot(case.id) == before


@pytest.mark.parametrize("named", ["dealer", "manufacturer", "nobody"])
def test_only_a_technician_company_can_be_sent_to_the_customer(world, named):
    w = world
    case = w.open_case()
    w.to_manufacturer(case.id)
    party = {"dealer": w.other_dealer.id, "manufacturer": w.manufacturer.id, "nobody": 999_999}[named]
    before = w.snapshot(case.id)
    with pytest.raises((ValidationError, NotPermitted), match="technician_party_id"):
        w.fire(case.id, "approve_visit", w.warranty_desk, technician_party_id=party)
    assert w.snapshot(case.id) == before


def test_nobody_can_move_the_case_to_another_dealer_by_naming_it_in_the_data(world):
    w = world
    case = w.open_case()
    w.to_manufacturer(case.id)
    with pytest.raises((ValidationError, NotPermitted), match="dealer_party_id"):
        w.fire(case.id, "reject", w.warranty_desk, reason="no", dealer_party_id=w.other_dealer.id)
    assert w.crm.cases.get(case.id, by=w.crm.system).dealer_party_id == w.dealer.id


def test_the_technician_books_a_visit_inside_the_deadline(world, clock):
    w = world
    case = w.open_case()
    dispatched = w.to_technician(case.id)
    visit = dispatched.due_at - timedelta(hours=1)
    fired = w.fire(case.id, "schedule_visit", w.fitter, visit_at=visit.isoformat())
    assert fired.dest == "visit_scheduled" and fired.owner_party_id == w.technician.id
    assert w.crm.cases.history(case.id, by=w.crm.system)[-1].data == {"visit_at": visit.isoformat()}


def test_a_later_slot_is_refused_with_the_guards_reason_until_the_customer_agreed(world, clock):
    w = world
    case = w.open_case()
    dispatched = w.to_technician(case.id)
    late = (dispatched.due_at + timedelta(days=21)).isoformat()  # "in three weeks at the earliest"
    before = w.snapshot(case.id)
    with pytest.raises(TransitionNotAllowed, match="visit_within_deadline") as err:
        w.fire(case.id, "schedule_visit", w.fitter, visit_at=late)
    message = str(err.value)
    assert "after the service deadline" in message and "customer's recorded agreement" in message
    assert f"case {case.id}" in message and "technician_dispatch" in message
    assert set(err.value.allowed) == {"decline_slot", "schedule_visit"}
    assert w.snapshot(case.id) == before

    version = w.crm.cases.record_fact(case.id, "customer_agreed_late_slot", True, by=w.service.id,
                                      note="Frau Musterfrau agreed on the phone")
    assert version == before[1] + 1
    fact = w.crm.cases.history(case.id, by=w.crm.system)[-1]
    assert (fact.kind, fact.actor_id, fact.data, fact.to_state) == (
        "fact", w.service.id, {"customer_agreed_late_slot": True}, "technician_dispatch")
    fired = w.fire(case.id, "schedule_visit", w.fitter, visit_at=late)
    assert fired.dest == "visit_scheduled"


def test_the_customers_agreement_covers_one_late_slot_not_every_later_one(world, clock):
    w = world
    case = w.open_case()
    dispatched = w.to_technician(case.id)
    w.crm.cases.record_fact(case.id, "customer_agreed_late_slot", True, by=w.service.id)
    w.fire(case.id, "schedule_visit", w.fitter, visit_at=(dispatched.due_at + timedelta(days=10)).isoformat())
    assert "customer_agreed_late_slot" not in (w.crm.cases.get(case.id, by=w.crm.system).facts or {})
    [audit] = audits_of(w, case.id, "cases.fire:schedule_visit")  # used up with the visit, audited with it
    assert audit.personal_changes == {"facts": [{"customer_agreed_late_slot": True}, {}]}
    assert audit.changes["state"] == ["technician_dispatch", "visit_scheduled"]
    w.fire(case.id, "order_parts", w.fitter)
    again = w.fire(case.id, "parts_arrived", w.warranty_desk)
    with pytest.raises(TransitionNotAllowed, match="visit_within_deadline"):
        w.fire(case.id, "schedule_visit", w.fitter, visit_at=(again.due_at + timedelta(days=10)).isoformat())


def test_a_case_without_a_machine_goes_to_the_manufacturer_the_dealer_names(world):
    w = world
    case = w.open_case("the dryer we sold in 2019 makes a noise", asset=False)
    assert case.manufacturer_party_id is None
    w.fire(case.id, "start_diagnosis", w.service)
    with pytest.raises(ValidationError, match="manufacturer_party_id"):
        w.fire(case.id, "forward_to_manufacturer", w.service)
    with pytest.raises(ValidationError, match="needs a manufacturer party; party .* is a technician"):
        w.fire(case.id, "forward_to_manufacturer", w.service, manufacturer_party_id=w.technician.id)
    fired = w.fire(case.id, "forward_to_manufacturer", w.service, manufacturer_party_id=w.other_manufacturer.id)
    assert fired.owner_party_id == w.other_manufacturer.id
    assert w.crm.cases.allowed_triggers(case.id, w.other_warranty_desk.id) == [
        "approve_replacement", "approve_visit", "reject"]
    with pytest.raises(NotFound):  # the manufacturer not named never sees the case
        w.crm.cases.allowed_triggers(case.id, w.warranty_desk.id)


def test_a_technician_who_cannot_keep_the_deadline_declines_and_the_dealer_decides(world):
    w = world
    case = w.open_case()
    w.to_technician(case.id)
    fired = w.fire(case.id, "decline_slot", w.fitter, reason="no slot before April")
    assert (fired.dest, fired.owner_party_id) == ("dealer_decision", w.dealer.id)


def test_parts_are_ordered_shipped_and_the_visit_booked_again(world, clock):
    w = world
    case = w.open_case()
    dispatched = w.to_technician(case.id)
    w.fire(case.id, "schedule_visit", w.fitter, visit_at=(dispatched.due_at - timedelta(hours=2)).isoformat())
    waiting = w.fire(case.id, "order_parts", w.fitter, note="bearing kit BR-447")
    assert (waiting.dest, waiting.owner_kind, waiting.owner_party_id) == (
        "waiting_for_parts", "manufacturer", w.manufacturer.id)
    clock.advance(days=2)
    again = w.fire(case.id, "parts_arrived", w.warranty_desk)
    assert (again.dest, again.owner_party_id) == ("technician_dispatch", w.technician.id)  # the same technician
    w.fire(case.id, "schedule_visit", w.fitter, visit_at=(again.due_at - timedelta(hours=1)).isoformat())
    fixed = w.fire(case.id, "report_fixed", w.fitter)
    assert (fixed.dest, fixed.owner_kind) == ("awaiting_confirmation", "customer")


def test_still_broken_reopens_the_case_at_the_dealer(world, clock):
    w = world
    case = w.open_case()
    dispatched = w.to_technician(case.id)
    w.fire(case.id, "schedule_visit", w.fitter, visit_at=(dispatched.due_at - timedelta(hours=2)).isoformat())
    w.fire(case.id, "report_fixed", w.fitter)
    clock.advance(days=3)
    reopened = w.fire(case.id, "still_broken", w.service, note="still leaves grey streaks")
    assert (reopened.dest, reopened.owner_kind, reopened.owner_party_id) == (
        "dealer_diagnosis", "dealer", w.dealer.id)
    assert reopened.due_at > clock.now()
    assert w.crm.cases.get(case.id, by=w.crm.system).reopen_count == 1
    [event] = w.log.of(CaseReopened, case.id)
    assert event.reopen_count == 1


def test_still_broken_after_advice_reopens_with_a_fresh_working_day(world, clock):
    w = world
    case = w.open_case()
    w.fire(case.id, "start_diagnosis", w.service)
    clock.advance(hours=3)
    w.fire(case.id, "solve_by_advice", w.service, note="use the 60 degree programme")
    clock.advance(days=5)
    reopened = w.fire(case.id, "still_broken", w.service)
    assert reopened.dest == "dealer_diagnosis"
    # the diagnosis was finished; a reopened case gets a full working day, not the leftovers
    assert reopened.due_at == w.crm.cases.calendar(w.dealer.id).add(clock.now(), timedelta(hours=9))
    assert w.crm.cases.get(case.id, by=w.crm.system).reopen_count == 1
    assert len(w.log.of(CaseReopened, case.id)) == 1


def test_a_customer_who_does_not_answer_is_not_a_reopened_case(world, clock):
    w = world
    case = w.open_case()
    w.fire(case.id, "start_diagnosis", w.service)
    w.fire(case.id, "ask_customer", w.service, question="Which programme do you use?")
    clock.advance(days=8)
    assert w.crm.cases.tick().fired == 1
    case = w.crm.cases.get(case.id, by=w.crm.system)
    assert case.state == "dealer_decision" and case.reopen_count == 0
    assert w.log.of(CaseReopened, case.id) == []


def test_only_a_dealer_manager_refunds(world):
    w = world
    case = w.open_case()
    w.to_manufacturer(case.id)
    w.fire(case.id, "reject", w.warranty_desk, reason="not covered")
    assert "refund" not in w.crm.cases.allowed_triggers(case.id, w.service.id)
    assert "refund" not in w.crm.cases.allowed_triggers(case.id, w.owner.id)
    assert "refund" in w.crm.cases.allowed_triggers(case.id, w.manager.id)
    before = w.snapshot(case.id)
    with pytest.raises(NotPermitted, match="dealer:manager") as err:
        w.fire(case.id, "refund", w.service)
    assert f"case {case.id}" in str(err.value) and "dealer_decision" in str(err.value)
    assert w.snapshot(case.id) == before
    fired = w.fire(case.id, "refund", w.manager)
    assert fired.dest == "refunded"
    case = w.crm.cases.get(case.id, by=w.crm.system)
    assert case.closed_at is not None and case.due_at is None and case.owner_party_id is None
    assert w.log.of(CaseClosed, case.id)[0].final_state == "refunded"


def test_the_dealer_closes_by_agreement_with_a_note(world):
    w = world
    case = w.open_case()
    w.to_manufacturer(case.id)
    w.fire(case.id, "take_over", w.service, reason="customer is waiting")
    fired = w.fire(case.id, "close_by_agreement", w.service, note="customer keeps the machine, 50 EUR voucher")
    assert fired.dest == "closed"
    assert w.crm.cases.history(case.id, by=w.crm.system)[-1].note == "customer keeps the machine, 50 EUR voucher"


STATES_ON_THE_WAY = {
    "reported": [],
    "dealer_diagnosis": [("start_diagnosis", "service", {})],
    "waiting_for_customer": [("start_diagnosis", "service", {}), ("ask_customer", "service", {"question": "?"})],
    "manufacturer_review": [("start_diagnosis", "service", {}), ("forward_to_manufacturer", "service", {})],
    "technician_dispatch": [("start_diagnosis", "service", {}), ("forward_to_manufacturer", "service", {}),
                            ("approve_visit", "warranty_desk", {"technician_party_id": "technician"})],
    "replacement": [("start_diagnosis", "service", {}), ("offer_replacement", "service", {})],
    "dealer_repair": [("start_diagnosis", "service", {}), ("repair_at_dealer", "service", {})],
    "awaiting_confirmation": [("start_diagnosis", "service", {}), ("repair_at_dealer", "service", {}),
                              ("report_fixed", "service", {})],
}


@pytest.mark.parametrize("state", sorted(STATES_ON_THE_WAY))
def test_the_dealer_can_withdraw_a_case_from_any_open_state_with_a_reason(world, state):
    w = world
    case = w.open_case()
    for trigger, who, data in STATES_ON_THE_WAY[state]:
        data = {k: getattr(w, v).id for k, v in data.items()} if "technician_party_id" in data else data
        w.fire(case.id, trigger, getattr(w, who), **data)
    assert w.crm.cases.get(case.id, by=w.crm.system).state == state
    assert "withdraw" in w.crm.cases.allowed_triggers(case.id, w.service.id)
    with pytest.raises(ValidationError, match="reason"):
        w.fire(case.id, "withdraw", w.service)
    fired = w.fire(case.id, "withdraw", w.service, reason="customer bought a new machine elsewhere")
    assert fired.dest == "withdrawn"
    case = w.crm.cases.get(case.id, by=w.crm.system)
    assert case.closed_at is not None and case.owner_party_id is None and case.due_at is None
    assert w.crm.cases.allowed_triggers(case.id, w.service.id) == []
