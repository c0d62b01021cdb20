"""Warranty, judged when the case opens, and the replaced unit's way back (issue #13, item 7).

Erika's washing machine was handed over on 24 February 2026 with two years of warranty.
When she reports it, the case says at once whether the machine is still covered — as of
that day, in the dealer's time zone. When the manufacturer approves a replacement it
gives an RMA number; the dealer ships the old machine back, the manufacturer confirms it
arrived and credits the dealer. The new machine has a warranty of its own.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from case_world import build_world, copy_world
from sqlalchemy import select

from dealercrm import CaseReturnRecorded, Conflict, NotFound, NotPermitted, ValidationError
from dealercrm.db.models import AuditRecord

UTC = timezone.utc


@pytest.fixture
def world(tmp_path, clock):
    world = copy_world(tmp_path, clock)
    yield world
    world.crm.close()


def case_of(world, case_id):
    return world.crm.cases.get(case_id, by=world.crm.system)


def replaced(world, **approval):
    """Erika's case: forwarded, the manufacturer approves a replacement, the dealer delivers
    the new machine and Erika confirms it."""
    case = world.open_case()
    world.to_manufacturer(case.id)
    world.fire(case.id, "approve_replacement", world.warranty_desk, **approval)
    world.fire(case.id, "deliver_replacement", world.service, new_serial="BR7-0002")
    world.fire(case.id, "confirm", world.service)
    return case.id


# -- in or out of warranty, as of the day the case opens ----------------------------------------
def test_a_case_opened_a_week_after_the_handover_is_in_warranty_until_two_years_after_it(world):
    case = world.open_case()  # 2026-03-02; handed over 2026-02-24, 24 months
    assert (case.warranty_status, case.warranty_until) == ("in", date(2028, 2, 24))
    assert (case_of(world, case.id).warranty_status, case_of(world, case.id).warranty_until) == (
        "in", date(2028, 2, 24))


def test_the_last_day_of_the_warranty_counts_in_the_dealers_time_zone(world, clock):
    clock.set(datetime(2028, 2, 24, 22, 30, tzinfo=UTC))  # 23:30 in Berlin: still the last day
    assert world.open_case().warranty_status == "in"
    clock.set(datetime(2028, 2, 24, 23, 30, tzinfo=UTC))  # 00:30 on 25 February in Berlin: over
    late = world.open_case()
    assert (late.warranty_status, late.warranty_until) == ("out", date(2028, 2, 24))


def test_an_extended_warranty_recorded_on_the_asset_counts(world, clock):
    crm = world.crm
    extended = crm.assets.record(world.customer.id, world.product_id, serial_number="BR7-0100",
                                 handed_over_on="2024-01-10", warranty_until="2029-01-10", by=crm.system)
    plain = crm.assets.record(world.customer.id, world.product_id, serial_number="BR7-0101",
                              handed_over_on="2024-01-10", by=crm.system)  # ended 2026-01-10
    on_extended = crm.cases.open(world.customer.id, "pump noise", asset_id=extended.id, by=world.service.id)
    on_plain = crm.cases.open(world.customer.id, "pump noise", asset_id=plain.id, by=world.service.id)
    assert (on_extended.warranty_status, on_extended.warranty_until) == ("in", date(2029, 1, 10))
    assert (on_plain.warranty_status, on_plain.warranty_until) == ("out", date(2026, 1, 10))


def test_an_asset_without_dates_is_unknown_and_a_case_about_no_asset_has_no_warranty(world):
    crm = world.crm
    undated = crm.assets.record(world.customer.id, world.product_id, serial_number="BR7-0200", by=crm.system)
    case = crm.cases.open(world.customer.id, "door seal", asset_id=undated.id, by=world.service.id)
    assert (case.warranty_status, case.warranty_until) == ("unknown", None)
    assert world.open_case(asset=False).warranty_status is None


def test_what_the_case_said_on_opening_stays_when_the_asset_changes_later(world, clock):
    case = world.open_case()
    clock.set(datetime(2029, 1, 1, 9, tzinfo=UTC))  # long after the warranty: the case still says "in"
    world.fire(case.id, "start_diagnosis", world.service)
    assert case_of(world, case.id).warranty_status == "in"


# -- the RMA, the return and the credit ---------------------------------------------------------
def test_the_replaced_machine_goes_back_under_the_rma_and_the_dealer_is_credited(world, clock):
    crm = world.crm
    case_id = replaced(world, rma_number="RMA-2026-0042")
    assert case_of(world, case_id).rma_number == "RMA-2026-0042"  # given with the approval
    version = case_of(world, case_id).version

    clock.advance(days=1)
    shipped = crm.cases.record_return(case_id, shipped_on="2026-03-03", note="DHL 00340434", by=world.service.id)
    assert (shipped.return_shipped_on, shipped.version) == (date(2026, 3, 3), version + 1)
    clock.advance(days=2)
    received = crm.cases.record_return(case_id, received_on=date(2026, 3, 5), by=world.warranty_desk.id)
    assert (received.return_shipped_on, received.return_received_on) == (date(2026, 3, 3), date(2026, 3, 5))
    credited = crm.cases.record_credit(case_id, "449.90", "eur", by=world.warranty_desk.id)
    assert (credited.credit_amount, credited.credit_currency, credited.credited_on) == (
        Decimal("449.90"), "EUR", clock.now().date())
    assert credited.state == "closed" and credited.version == version + 3  # after the customer confirmed

    history = crm.cases.history(case_id, by=crm.system)[-3:]
    assert [(h.kind, h.actor_id, h.party_id, h.data) for h in history] == [
        ("return", world.service.id, world.dealer.id, {"return_shipped_on": "2026-03-03"}),
        ("return", world.warranty_desk.id, world.manufacturer.id, {"return_received_on": "2026-03-05"}),
        ("credit", world.warranty_desk.id, world.manufacturer.id,
         {"credit_amount": "449.90", "credit_currency": "EUR", "credited_on": clock.now().date().isoformat()}),
    ]
    assert history[0].note == "DHL 00340434"
    events = world.log.of(CaseReturnRecorded, case_id)
    assert [(e.actor_id, e.values) for e in events] == [(h.actor_id, h.data) for h in history]
    with crm.read(crm.system) as uow:
        audit = uow.session.scalars(select(AuditRecord).where(AuditRecord.operation == "cases.record_credit")).one()
    assert (audit.actor_id, audit.entity_id, audit.changes["credit_amount"]) == (
        world.warranty_desk.id, case_id, [None, "449.90"])


def test_each_step_is_recorded_by_the_party_that_knows_it(world):
    crm = world.crm
    case_id = replaced(world, rma_number="RMA-1")
    before = case_of(world, case_id).version
    with pytest.raises(NotPermitted, match=r"may not record return_received_on on case \d+: that is for the "
                                           r"case's manufacturer .*a dealer of the case records return_shipped_on"):
        crm.cases.record_return(case_id, received_on="2026-03-02", by=world.service.id)
    with pytest.raises(NotPermitted, match="may not record credit_amount"):
        crm.cases.record_credit(case_id, 100, "EUR", by=world.service.id)
    with pytest.raises(NotPermitted, match="may not record return_shipped_on .* for the case's dealer"):
        crm.cases.record_return(case_id, shipped_on="2026-03-02", by=world.warranty_desk.id)
    with pytest.raises(NotPermitted, match="may not record rma_number"):
        crm.cases.record_return(case_id, rma_number="RMA-2", by=world.service.id)
    for stranger in (world.other_warranty_desk, world.other_dealer_service, world.fitter):
        with pytest.raises(NotFound, match=f"case {case_id} not found"):  # not their case: it does not exist
            crm.cases.record_credit(case_id, 100, "EUR", by=stranger.id)
    assert case_of(world, case_id).version == before
    assert crm.cases.record_return(case_id, shipped_on="2026-03-02", by=crm.system).return_shipped_on == date(2026, 3, 2)


def test_the_technician_of_the_case_records_no_step_of_the_return(world):
    case = world.open_case()
    world.to_technician(case.id)
    with pytest.raises(NotPermitted, match="a technician records no step of the return"):
        world.crm.cases.record_return(case.id, shipped_on="2026-03-02", by=world.fitter.id)


def test_the_steps_keep_their_order_and_stay_inside_the_cases_life(world, clock):
    crm = world.crm
    case_id = replaced(world)  # approved without an RMA number
    clock.advance(days=3)  # 2026-03-05
    refusals = [
        (dict(shipped_on="2026-03-04"), world.service, "shipped_on '2026-03-04': case .*: the old unit goes back "
                                                       "under an RMA number, and the case has none yet"),
        (dict(received_on="2026-03-04"), world.warranty_desk, "the old unit has not been shipped yet"),
        (dict(rma_number="R" * 65), world.warranty_desk, "rma_number 'RRRR.*is longer than 64 characters"),
    ]
    for given, actor, message in refusals:
        with pytest.raises(ValidationError, match=message):
            crm.cases.record_return(case_id, **given, by=actor.id)
    crm.cases.record_return(case_id, rma_number="RMA-9", by=world.warranty_desk.id)
    for day, message in (("2026-03-01", r"between the day the case was opened \(2026-03-02\) and today"),
                         ("2026-03-06", r"and today \(2026-03-05\)"), ("05.03.2026", "not a date")):
        with pytest.raises(ValidationError, match=f"shipped_on '?{day}"[:20]) as refused:
            crm.cases.record_return(case_id, shipped_on=day, by=world.service.id)
        assert refused.value.field == "shipped_on" and refused.match(message)
    crm.cases.record_return(case_id, shipped_on="2026-03-04", by=world.service.id)
    with pytest.raises(ValidationError, match="received_on '2026-03-03': case .*: is before the shipment on 2026-03-04"):
        crm.cases.record_return(case_id, received_on="2026-03-03", by=world.warranty_desk.id)
    with pytest.raises(ValidationError, match="nothing to record"):
        crm.cases.record_return(case_id, by=world.service.id)
    assert case_of(world, case_id).return_received_on is None


@pytest.mark.parametrize("amount, currency, message", [
    (49.9, "EUR", "must be exact"),
    ("49.905", "EUR", "more than two decimal places"),
    ("0", "EUR", "must be above 0"),
    ("-5", "EUR", "must be above 0"),
    ("NaN", "EUR", "must be above 0"),
    ("forty", "EUR", "is not an amount"),
    ("49.90", "EURO", "three-letter ISO 4217"),
    ("49.90", "", "a credit needs an amount and its currency"),
])
def test_a_credit_is_an_exact_amount_in_a_currency(world, amount, currency, message):
    case_id = replaced(world, rma_number="RMA-1")
    with pytest.raises(ValidationError, match=message):
        world.crm.cases.record_credit(case_id, amount, currency, by=world.warranty_desk.id)
    assert case_of(world, case_id).credit_amount is None


def test_a_step_is_corrected_by_its_party_and_recording_it_again_changes_nothing(world, clock):
    crm = world.crm
    case_id = replaced(world, rma_number="RMA-1")
    clock.advance(days=2)
    first = crm.cases.record_return(case_id, shipped_on="2026-03-03", by=world.service.id)
    again = crm.cases.record_return(case_id, shipped_on="2026-03-03", by=world.service.id)
    assert again.version == first.version  # nothing new: no history line, no version
    fixed = crm.cases.record_return(case_id, shipped_on="2026-03-04", by=world.service.id,
                                    expected_version=first.version)
    assert (fixed.return_shipped_on, fixed.version) == (date(2026, 3, 4), first.version + 1)
    with pytest.raises(Conflict, match=f"version {first.version} is no longer current"):
        crm.cases.record_return(case_id, shipped_on="2026-03-02", by=world.service.id,
                                expected_version=first.version)
    with crm.read(crm.system) as uow:
        audits = uow.session.scalars(select(AuditRecord.changes).where(
            AuditRecord.operation == "cases.record_return").order_by(AuditRecord.id)).all()
    assert [a["return_shipped_on"] for a in audits] == [[None, "2026-03-03"], ["2026-03-03", "2026-03-04"]]


def test_the_rma_given_with_the_approval_is_checked_like_any_other(world):
    case = world.open_case()
    world.to_manufacturer(case.id)
    with pytest.raises(ValidationError, match="rma_number"):
        world.fire(case.id, "approve_replacement", world.warranty_desk, rma_number="R" * 65)
    assert case_of(world, case.id).state == "manufacturer_review"


def test_amounts_and_days_survive_the_database_exactly(any_crm, clock):
    world = build_world(any_crm)
    case = world.open_case()
    world.to_manufacturer(case.id)
    world.fire(case.id, "approve_replacement", world.warranty_desk, rma_number="RMA-PG")
    world.crm.cases.record_return(case.id, shipped_on=clock.now().date(), by=world.service.id)
    world.crm.cases.record_credit(case.id, Decimal("12345678.91"), "CHF", by=world.warranty_desk.id)
    got = case_of(world, case.id)
    assert (got.credit_amount, got.credit_currency, got.return_shipped_on) == (
        Decimal("12345678.91"), "CHF", clock.now().date())
    assert (got.warranty_status, got.warranty_until) == ("in", date(2028, 2, 24))


# -- the new unit's warranty -------------------------------------------------------------------
def test_the_replacement_machine_has_two_years_from_the_day_it_was_delivered(world, clock):
    crm = world.crm
    case = world.open_case()
    world.to_manufacturer(case.id)
    world.fire(case.id, "approve_replacement", world.warranty_desk, rma_number="RMA-7")
    clock.set(datetime(2026, 3, 5, 23, 30, tzinfo=UTC))  # 00:30 on 6 March at the dealer's, in Berlin
    world.fire(case.id, "deliver_replacement", world.service, new_serial="BR7-0002")
    new = crm.assets.get(case_of(world, case.id).replacement_asset_id, by=crm.system)
    assert (new.handed_over_on, new.warranty_until, new.warranty_overridden) == (
        date(2026, 3, 6), date(2028, 3, 6), False)
    assert new.purchased_on == world.machine.purchased_on  # a free replacement is no purchase

    clock.set(datetime(2028, 3, 1, 9, tzinfo=UTC))  # the old machine's warranty ended on 24 February
    again = crm.cases.open(world.customer.id, "drum noise", asset_id=new.id, by=world.service.id)
    assert (again.warranty_status, again.warranty_until) == ("in", date(2028, 3, 6))


def test_an_extended_warranty_on_the_old_unit_carries_over_when_it_reaches_further(world, clock):
    crm = world.crm
    for extended_until, expected in (("2031-02-24", (date(2031, 2, 24), True)),
                                     ("2027-02-24", (date(2028, 3, 2), False))):
        old = crm.assets.record(world.customer.id, world.product_id, serial_number=f"X-{extended_until}",
                                handed_over_on="2026-02-24", warranty_until=extended_until, by=crm.system)
        case = crm.cases.open(world.customer.id, "leaks", asset_id=old.id, by=world.service.id)
        world.fire(case.id, "start_diagnosis", world.service)
        world.fire(case.id, "offer_replacement", world.service)
        world.fire(case.id, "deliver_replacement", world.service, new_serial=f"N-{extended_until}")
        new = crm.assets.get(case_of(world, case.id).replacement_asset_id, by=crm.system)
        assert (new.warranty_until, new.warranty_overridden) == expected, extended_until
