"""Whoever holds a case hears of its deadline before it passes — once per deadline — and
an overdue case is left to the tick, which escalates it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from case_world import build_world, copy_world
from sqlalchemy import select

from dealercrm import connect
from dealercrm.db.models import Task
from dealercrm.db.outbox_models import ContactLedger
from dealercrm.db.rule_models import RuleFiring
from dealercrm.settings import Settings

RULE = "rule_case_reminders"
UTC = timezone.utc


@pytest.fixture
def world(tmp_path, clock):
    world = copy_world(tmp_path, clock)
    yield world
    world.crm.close()


def reminders(crm):
    with crm.read(crm.system) as uow:
        return list(uow.session.scalars(select(Task).where(Task.origin_ref == f"rule:{RULE}").order_by(Task.id)))


def situations(crm):
    with crm.read(crm.system) as uow:
        return list(uow.session.execute(select(RuleFiring.subject_kind, RuleFiring.subject_id, RuleFiring.situation)
                                        .where(RuleFiring.rule == RULE).order_by(RuleFiring.id)))


def run(crm) -> int:
    return crm.rules.run(RULE)[0].fired


def test_the_dealer_is_reminded_before_the_deadline_once_and_again_for_the_next_one(world, clock):
    crm = world.crm
    case = world.open_case()  # Monday 09:00 UTC, due at 13:00 UTC
    clock.advance(minutes=30)
    assert run(crm) == 1
    assert run(crm) == 0  # once per deadline, however often the tick runs
    [task] = reminders(crm)
    assert task.title == f"Fall {case.id} ist fällig am 02.03.2026 14:00 CET (Stand: reported)"  # the dealer in Hamburg reads Berlin time
    assert (task.assigned_party_id, task.customer_id, task.case_id, task.due_at) == (
        world.dealer.id, world.customer.id, case.id, case.due_at)
    assert situations(crm) == [("case", case.id, f"due:{case.due_at.isoformat()}")]
    assert f"rule {RULE}: task 'Fall {case.id} ist fällig" in crm.interactions.timeline(world.customer.id, by=crm.system)[0].summary

    diagnosis = world.fire(case.id, "start_diagnosis", world.service)  # a new deadline: Tuesday 09:00
    assert run(crm) == 0  # not within four hours yet
    clock.set(diagnosis.due_at - timedelta(hours=3))
    assert run(crm) == 1 and reminders(crm)[-1].title.endswith("(Stand: dealer_diagnosis)")


def test_an_overdue_case_gets_no_reminder_the_tick_escalates_it(world, clock):
    crm = world.crm
    case = world.open_case()
    clock.set(case.due_at + timedelta(minutes=1))
    assert run(crm) == 0 and reminders(crm) == []
    assert crm.cases.tick().fired == 1


def test_the_manufacturer_holding_the_case_is_the_one_reminded(world, clock):
    crm = world.crm
    case = world.open_case()
    forwarded = world.to_manufacturer(case.id)
    clock.set(forwarded.due_at - timedelta(hours=2))
    assert run(crm) == 1
    [task] = reminders(crm)
    assert task.assigned_party_id == world.manufacturer.id and "manufacturer_review" in task.title


def test_a_case_waiting_on_the_customer_is_not_reminded_unless_configured(tmp_path, clock):
    for owner_kinds, expected in ((None, 0), (["dealer", "customer"], 1)):
        settings = Settings(plugins={RULE: {"owner_kinds": owner_kinds}} if owner_kinds else {})
        world = copy_world(tmp_path, clock, settings=settings)
        try:
            case = world.open_case()
            world.fire(case.id, "start_diagnosis", world.service)
            waiting = world.fire(case.id, "solve_by_advice", world.service)  # awaiting_confirmation, 14 days
            clock.set(waiting.due_at - timedelta(hours=1))
            assert run(world.crm) == expected
        finally:
            world.crm.close()
            clock.set(datetime(2026, 3, 2, 9, tzinfo=UTC))


def test_reminders_are_service_contacts_the_budget_does_not_cap_and_the_window_is_a_setting(tmp_path, clock):
    world = copy_world(tmp_path, clock, settings=Settings(plugins={RULE: {"window_hours": 1}}))
    crm = world.crm
    try:
        crm.consents.grant(world.customer.id, "email", "marketing", source="form", by=crm.system)
        for n in range(4):
            crm.outbox.send("email", "marketing", f"offer {n}", customer_id=world.customer.id, by=crm.system)
        case = world.open_case()
        clock.set(case.due_at - timedelta(minutes=61))
        assert run(crm) == 0  # outside the one-hour window
        clock.advance(minutes=2)
        assert run(crm) == 1
        with crm.read(crm.system) as uow:
            last = uow.session.scalars(select(ContactLedger).order_by(ContactLedger.id.desc())).first()
        assert (last.purpose, last.kind) == ("service", "task")
    finally:
        crm.close()


def test_a_dry_run_shows_the_reminder_and_changes_nothing(world, clock):
    case = world.open_case()
    planned = world.crm.rules.run(RULE, dry_run=True)[0].planned
    assert [(p["subject"], p["situation"]) for p in planned] == [(case.id, f"due:{case.due_at.isoformat()}")]
    assert planned[0]["would"][0].startswith(f"task for customer {world.customer.id}: Fall {case.id} ist fällig")
    assert reminders(world.crm) == [] and situations(world.crm) == []


def test_the_deadline_in_the_situation_reads_the_same_on_sqlite_and_postgresql(db_url, clock):
    crm = connect(db_url, clock=clock, settings=Settings(language="en"))
    try:
        crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
        world = build_world(crm, log=False)
        clock.advance(seconds=17)  # a deadline with seconds
        case = world.open_case()
        assert run(crm) == 1 and run(crm) == 0
        assert situations(crm) == [("case", case.id, f"due:{case.due_at.isoformat()}")]
        assert reminders(crm)[0].title == f"case {case.id} is due at 02.03.2026 14:00 CET (state reported)"
    finally:
        crm.close()


def test_a_manufacturer_in_another_time_zone_reads_the_deadline_on_its_own_clock(world, clock):
    crm = world.crm
    crm.parties.set_calendar(world.manufacturer.id, time_zone="Europe/Lisbon", by=crm.system)
    forwarded = world.to_manufacturer(world.open_case().id)
    clock.set(forwarded.due_at - timedelta(hours=2))
    assert run(crm) == 1
    [task] = reminders(crm)
    lisbon = forwarded.due_at.astimezone(ZoneInfo("Europe/Lisbon"))
    assert f"{lisbon:%d.%m.%Y %H:%M} WET" in task.title, task.title
    assert task.due_at == forwarded.due_at  # the task's own due time stays the instant it is
