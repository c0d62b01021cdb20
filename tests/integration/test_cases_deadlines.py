"""Deadlines in working time, paused while the customer is asked, enforced by ``tick``.

A manufacturer handed a case on Friday afternoon before Easter does not lose its time
to the weekend and the holidays; fourteen days of customer silence are fourteen days;
and every overdue case escalates exactly once, however often ``tick`` runs — also when
a plugin refuses one case or the process dies in the middle of a batch.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from case_world import build_world, copy_world, plugin, timeouts_of
from sqlalchemy import func, select

from dealercrm import CaseClosed, CaseEscalated, TransitionNotAllowed, ValidationError, Vetoed, connect
from dealercrm.db.case_models import CaseEvent
from dealercrm.settings import Settings
from dealercrm.workflow import DeadlinePolicy, State, Transition

UTC = timezone.utc
HERE = Path(__file__).resolve().parent


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def world(tmp_path, clock):
    world = copy_world(tmp_path, clock)
    yield world
    world.crm.close()


def forwarded_at(world, clock, when: datetime):
    clock.set(when)
    case = world.open_case()
    return case, world.to_manufacturer(case.id)


# --- the business calendar ---------------------------------------------------------------


def test_a_friday_afternoon_hand_off_gives_the_manufacturer_until_tuesday_afternoon(world, clock):
    # Friday 2026-03-06 15:00 in Berlin: 2 h on Friday, 9 h on Monday, 7 h on Tuesday
    _, fired = forwarded_at(world, clock, utc(2026, 3, 6, 14))
    assert fired.due_at == utc(2026, 3, 10, 14)
    clock.set(utc(2026, 3, 9, 16))  # Monday evening: three calendar days later, not overdue
    assert world.crm.cases.tick().fired == 0
    clock.set(utc(2026, 3, 10, 14))
    assert world.crm.cases.tick().fired == 1


def test_a_friday_afternoon_diagnosis_is_due_on_monday(world, clock):
    clock.set(utc(2026, 3, 6, 14))
    case = world.open_case()
    assert case.due_at == utc(2026, 3, 9, 9)  # 2 h on Friday, 2 h on Monday from 08:00: 10:00 in Berlin
    assert world.fire(case.id, "start_diagnosis", world.service).due_at == utc(2026, 3, 9, 14)


def test_good_friday_and_easter_monday_do_not_eat_the_manufacturers_review_time(world, clock):
    # Maundy Thursday 2026-04-02 14:00 in Berlin (summer time): 3 h, then Good Friday, the
    # weekend and Easter Monday off, 9 h on Tuesday, 6 h on Wednesday.
    _, fired = forwarded_at(world, clock, utc(2026, 4, 2, 12))
    assert fired.due_at == utc(2026, 4, 8, 12)
    assert world.log.of(CaseEscalated) == []


def test_a_case_opened_on_sunday_starts_counting_on_monday_morning(world, clock):
    clock.set(utc(2026, 3, 8, 20))
    case = world.open_case()
    assert case.due_at == utc(2026, 3, 9, 11)  # 08:00 + 4 h in Berlin


def test_a_technician_in_another_region_works_by_its_own_holidays(world, clock):
    # Corpus Christi (2026-06-04) is a holiday in Bavaria, not in Berlin.
    clock.set(utc(2026, 6, 3, 13))  # Wednesday 15:00 in Berlin
    case = world.open_case()
    world.to_manufacturer(case.id)
    north = world.open_case()
    world.to_manufacturer(north.id)
    # The Bavarian company joins after cases were already moving: nothing may be cached stale.
    bavarian = world.crm.parties.add("technician", "Kundendienst Süd", region="DE-BY", by=world.crm.system)
    south = world.fire(case.id, "approve_visit", world.warranty_desk, technician_party_id=bavarian.id)
    nord = world.fire(north.id, "approve_visit", world.warranty_desk, technician_party_id=world.technician.id)
    # 18 working hours: Wed 2 h, Thu 9 h, Fri 7 h — in Bavaria Wed 2 h, (Thu off,) Fri 9 h, Mon 7 h
    assert nord.due_at == utc(2026, 6, 5, 13)
    assert south.due_at == utc(2026, 6, 8, 13)
    assert world.crm.cases.calendar(bavarian.id).subdiv == "BY"


# --- the customer's clock ------------------------------------------------------------------


def test_a_fixed_machine_closes_by_itself_after_fourteen_quiet_days_on_the_wall_clock(world, clock):
    case = world.open_case()
    world.fire(case.id, "start_diagnosis", world.service)
    world.fire(case.id, "repair_at_dealer", world.service)
    clock.set(utc(2026, 3, 6, 16))  # Friday evening
    fixed = world.fire(case.id, "report_fixed", world.service)
    assert fixed.due_at == utc(2026, 3, 20, 16)  # weekends count: the customer's time is wall-clock time
    clock.set(fixed.due_at - timedelta(seconds=1))
    assert world.crm.cases.tick().fired == 0
    clock.set(fixed.due_at)
    assert world.crm.cases.tick().fired == 1
    closed = world.crm.cases.get(case.id, by=world.crm.system)
    assert (closed.state, closed.closed_at, closed.due_at, closed.owner_party_id) == (
        "closed", fixed.due_at, None, None)
    last = world.crm.cases.history(case.id, by=world.crm.system)[-1]
    assert (last.kind, last.trigger, last.actor_id) == ("timeout", "auto_close", world.crm.system_actor_id)
    assert [e.final_state for e in world.log.of(CaseClosed, case.id)] == ["closed"]
    [escalated] = world.log.of(CaseEscalated, case.id)
    assert escalated.missed_by_party_id is None  # the customer's silence is no deadline the dealer missed


def test_asking_the_customer_pauses_the_dealers_deadline_and_the_reply_gives_back_what_was_left(world, clock):
    case = world.open_case()
    diag = world.fire(case.id, "start_diagnosis", world.service)
    assert diag.due_at == utc(2026, 3, 3, 9)  # Tuesday 10:00 in Berlin
    clock.set(utc(2026, 3, 2, 13))  # Monday 14:00 in Berlin: 3 h today + 2 h tomorrow are left
    asked = world.fire(case.id, "ask_customer", world.service, question="Which programme, how full?")
    assert (asked.dest, asked.owner_kind, asked.owner_party_id) == ("waiting_for_customer", "customer", world.dealer.id)
    assert asked.due_at == utc(2026, 3, 9, 13)  # a week on the wall clock
    waiting = world.crm.cases.get(case.id, by=world.crm.system)
    assert (waiting.paused_from, waiting.paused_remaining_s) == ("dealer_diagnosis", 5 * 3600)

    clock.set(diag.due_at + timedelta(days=1))  # the dealer's old deadline passed while paused
    assert world.crm.cases.tick().fired == 0

    clock.set(utc(2026, 3, 5, 15))  # Thursday 16:00 in Berlin
    replied = world.fire(case.id, "customer_replied", None, note="inbound e-mail: 40 degrees, full drum")
    # 1 h on Thursday and 4 h on Friday: Friday 12:00 in Berlin
    assert (replied.dest, replied.owner_kind, replied.due_at) == ("dealer_diagnosis", "dealer", utc(2026, 3, 6, 11))
    resumed = world.crm.cases.get(case.id, by=world.crm.system)
    assert (resumed.paused_from, resumed.paused_remaining_s, resumed.reopen_count) == (None, None, 0)
    assert world.crm.cases.calendar(world.dealer.id).working_time_between(clock.now(), replied.due_at) == \
        timedelta(hours=5)


def test_a_reply_on_saturday_resumes_the_dealers_time_on_monday_morning(world, clock):
    case = world.open_case()
    world.fire(case.id, "start_diagnosis", world.service)
    clock.set(utc(2026, 3, 2, 13))
    world.fire(case.id, "ask_customer", world.service, question="Photo of the error code?")
    clock.set(utc(2026, 3, 7, 10))
    replied = world.fire(case.id, "customer_replied", world.service)
    assert replied.due_at == utc(2026, 3, 9, 12)  # Monday 08:00 + 5 h in Berlin


def test_a_customer_who_never_answers_hands_the_case_to_the_dealer_after_a_week(world, clock):
    case = world.open_case()
    world.fire(case.id, "start_diagnosis", world.service)
    asked = world.fire(case.id, "ask_customer", world.service, question="?")
    clock.set(asked.due_at)
    assert world.crm.cases.tick().fired == 1
    case = world.crm.cases.get(case.id, by=world.crm.system)
    assert (case.state, case.owner_kind, case.paused_from, case.paused_remaining_s) == (
        "dealer_decision", "dealer", None, None)
    assert world.crm.cases.history(case.id, by=world.crm.system)[-1].trigger == "customer_silent"
    [escalated] = world.log.of(CaseEscalated, case.id)
    assert (escalated.source, escalated.missed_by_party_id) == ("waiting_for_customer", None)


def test_a_timeout_cannot_be_fired_early_by_hand_and_late_it_counts_as_the_escalation(world, clock):
    case = world.open_case()
    forwarded = world.to_manufacturer(case.id)
    before = world.snapshot(case.id)
    assert "escalate" not in world.crm.cases.allowed_triggers(case.id, world.crm.system)
    with pytest.raises(TransitionNotAllowed, match="'escalate' is the timeout of state 'manufacturer_review'"):
        world.crm.cases.fire(case.id, "escalate", by=world.crm.system)
    assert world.snapshot(case.id) == before
    clock.set(forwarded.due_at)
    assert "escalate" in world.crm.cases.allowed_triggers(case.id, world.crm.system)
    world.crm.cases.fire(case.id, "escalate", by=world.crm.system, note="escalated by the night job")
    [timeout] = timeouts_of(world.crm, case.id)
    assert (timeout.trigger, timeout.note) == ("escalate", "escalated by the night job")
    assert world.log.of(CaseEscalated, case.id)[0].missed_by_party_id == world.manufacturer.id
    assert world.crm.cases.tick().fired == 0


# --- tick: every overdue case exactly once --------------------------------------------------


def test_tick_escalates_each_overdue_case_once_and_a_second_tick_fires_nothing(world, clock):
    cases = [world.open_case(f"case {i}") for i in range(5)]
    for case in cases[:3]:
        world.to_manufacturer(case.id)
    world.fire(cases[3].id, "start_diagnosis", world.service)
    clock.advance(days=7)
    progress = []
    report = world.crm.cases.tick(batch_size=2, on_progress=progress.append)
    assert (report.fired, report.failed, sum(progress)) == (5, [], 5)
    # then the notices of every case event committed so far (5 opened, 7 moved by hand, 5 escalated)
    assert report.batches == 3 and report.noticed == 17
    assert report.summary() == "5 overdue cases escalated in 3 batches, 0 failed; 17 case events noticed"
    states = [world.crm.cases.get(c.id, by=world.crm.system).state for c in cases]
    assert states == ["dealer_decision"] * 4 + ["dealer_diagnosis"]
    assert world.crm.cases.tick().fired == 0
    assert len(timeouts_of(world.crm)) == 5
    assert {e.case_id for e in world.log.of(CaseEscalated)} == {c.id for c in cases}


def test_an_escalated_case_escalates_again_only_after_its_new_deadline(world, clock):
    case = world.open_case()
    world.to_manufacturer(case.id)
    clock.advance(days=7)  # Monday 2026-03-09 09:00 UTC
    assert world.crm.cases.tick().fired == 1
    first = world.crm.cases.get(case.id, by=world.crm.system)
    assert first.state == "dealer_decision" and first.due_at == utc(2026, 3, 10, 9)
    assert world.crm.cases.tick().fired == 0
    clock.set(first.due_at - timedelta(minutes=1))
    assert world.crm.cases.tick().fired == 0
    clock.set(first.due_at)
    assert world.crm.cases.tick().fired == 1
    again = world.crm.cases.get(case.id, by=world.crm.system)
    assert (again.state, again.due_at, again.version) == ("dealer_decision", utc(2026, 3, 11, 9), first.version + 1)
    escalations = world.log.of(CaseEscalated, case.id)
    assert [(e.source, e.dest, e.missed_by_party_id) for e in escalations] == [
        ("manufacturer_review", "dealer_decision", world.manufacturer.id),
        ("dealer_decision", "dealer_decision", world.dealer.id)]
    assert [t.due_at for t in timeouts_of(world.crm, case.id)] == [first.due_at, again.due_at]


def test_tick_fires_every_kind_of_timeout_on_sqlite_and_postgresql(any_crm, clock):
    w = build_world(any_crm)
    reported = w.open_case("reported only")
    review = w.open_case("at the manufacturer")
    w.to_manufacturer(review.id)
    dispatch = w.open_case("at the technician")
    w.to_technician(dispatch.id)
    asked = w.open_case("asked the customer")
    w.fire(asked.id, "start_diagnosis", w.service)
    w.fire(asked.id, "ask_customer", w.service, question="?")
    fixed = w.open_case("fixed at the dealer")
    w.fire(fixed.id, "start_diagnosis", w.service)
    w.fire(fixed.id, "repair_at_dealer", w.service)
    w.fire(fixed.id, "report_fixed", w.service)
    closed = w.open_case("withdrawn")
    w.fire(closed.id, "withdraw", w.service, reason="duplicate")
    clock.advance(days=15)
    report = any_crm.cases.tick(batch_size=2)
    assert (report.fired, report.failed) == (5, [])
    got = {c: (any_crm.cases.get(c, by=any_crm.system).state, any_crm.cases.history(c, by=any_crm.system)[-1].trigger)
           for c in (reported.id, review.id, dispatch.id, asked.id, fixed.id, closed.id)}
    assert got == {reported.id: ("dealer_diagnosis", "escalate"), review.id: ("dealer_decision", "escalate"),
                   dispatch.id: ("dealer_decision", "escalate"), asked.id: ("dealer_decision", "customer_silent"),
                   fixed.id: ("closed", "auto_close"), closed.id: ("withdrawn", "withdraw")}
    assert any_crm.cases.tick().fired == 0
    assert len(timeouts_of(any_crm)) == 5
    for case in any_crm.cases.list(by=any_crm.system):
        assert case.owner_party_id is not None and case.due_at > clock.now()


# --- tick survives refusals and crashes -------------------------------------------------------


def test_a_plugin_refusing_one_escalation_holds_up_only_that_case(any_crm, clock):
    world = build_world(any_crm)
    cases = [world.open_case(f"case {i}") for i in range(4)]
    for case in cases:
        world.to_manufacturer(case.id)
    stubborn = cases[1].id
    refusing = {"on": True}

    def check(event, uow):
        if isinstance(event, CaseEscalated) and event.case_id == stubborn and refusing["on"]:
            raise Vetoed("audit-bridge", "the ERP is down for this customer")

    world.crm.register(plugin("audit-bridge", dealercrm_check_event=check), "audit-bridge")
    clock.advance(days=7)
    report = world.crm.cases.tick(batch_size=2)
    assert report.fired == 3
    assert [case_id for case_id, _ in report.failed] == [stubborn]
    assert "the ERP is down" in report.failed[0][1]
    assert [world.crm.cases.get(c.id, by=world.crm.system).state for c in cases] == [
        "dealer_decision", "manufacturer_review", "dealer_decision", "dealer_decision"]
    assert world.crm.cases.get(stubborn, by=world.crm.system).version == 3 and timeouts_of(world.crm, stubborn) == []
    assert {e.case_id for e in world.log.of(CaseEscalated)} == {cases[0].id, cases[2].id, cases[3].id}

    refusing["on"] = False
    clock.advance(hours=1)
    report = world.crm.cases.tick()
    assert (report.fired, report.failed) == (1, [])
    assert world.crm.cases.get(stubborn, by=world.crm.system).state == "dealer_decision"
    assert world.crm.cases.tick().fired == 0
    assert [len(timeouts_of(world.crm, c.id)) for c in cases] == [1, 1, 1, 1]


def test_a_case_whose_workflow_a_removed_plugin_took_away_does_not_stop_the_others(crm_factory, tmp_path, clock):
    url = f"sqlite:///{tmp_path}/orphans.db"
    lab = State("lab", "manufacturer", DeadlinePolicy(timedelta(hours=9)), also_allowed={"dealer"})
    lab_plugin = plugin("lab", dealercrm_extend_workflow=lambda workflow: workflow.extend(
        states=[lab],
        transitions=[Transition("send_to_lab", "dealer_decision", "lab", {"dealer"}),
                     Transition("lab_done", "lab", "dealer_decision", {"manufacturer"}),
                     Transition("escalate", "lab", "dealer_decision", {"system"}, timeout=True),
                     Transition("withdraw", "lab", "withdrawn", {"dealer"})]))
    with_lab = crm_factory(url, plugins={"lab": lab_plugin})
    world = build_world(with_lab, log=False)
    orphan = world.open_case("in the lab")
    world.to_manufacturer(orphan.id)
    world.fire(orphan.id, "take_over", world.service, reason="faster")
    world.fire(orphan.id, "send_to_lab", world.service)
    others = [world.open_case(f"case {i}") for i in range(3)]
    with_lab.close()

    without = crm_factory(url)  # the lab plugin was uninstalled
    clock.advance(days=7)
    report = without.cases.tick(batch_size=2)
    assert report.fired == 3
    [(failed_id, why)] = report.failed
    assert failed_id == orphan.id and "lab" in why
    assert [without.cases.get(c.id, by=without.system).state for c in others] == ["dealer_diagnosis"] * 3


CRASHING_TICK = textwrap.dedent("""
    import os, sys
    from datetime import datetime
    from dealercrm import CaseEscalated, ManualClock, connect, hookimpl
    from dealercrm.settings import Settings

    url, now, crash_at = sys.argv[1], datetime.fromisoformat(sys.argv[2]), int(sys.argv[3])

    class Crasher:
        seen = 0

        @hookimpl
        def dealercrm_check_event(self, event, uow):
            if isinstance(event, CaseEscalated):
                Crasher.seen += 1
                if Crasher.seen == crash_at:
                    os._exit(1)  # the power goes out in the middle of a batch

    crm = connect(url, clock=ManualClock(now), settings=Settings(), plugins={"crasher": Crasher()})
    crm.cases.tick(batch_size=3)
    print("tick finished without crashing")
""")


def test_a_tick_that_dies_mid_batch_resumes_without_losing_or_doubling_an_escalation(crm_factory, tmp_path, clock):
    url = f"sqlite:///{tmp_path}/crash.db"
    crm = crm_factory(url)
    world = build_world(crm)
    cases = [world.open_case(f"case {i}") for i in range(10)]
    for case in cases[:6]:
        world.to_manufacturer(case.id)
    clock.advance(days=7)
    done = subprocess.run([sys.executable, "-c", CRASHING_TICK, url, clock.now().isoformat(), "5"],
                          capture_output=True, text=True, timeout=60, cwd=HERE)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "finished" not in done.stdout
    # The first batch of three was committed, the second died with its second case.
    assert len(timeouts_of(crm)) == 3

    report = crm.cases.tick(batch_size=3)
    assert (report.fired, report.failed) == (7, [])
    assert crm.cases.tick().fired == 0
    with crm.read(crm.system) as uow:
        per_case = dict(uow.session.execute(
            select(CaseEvent.case_id, func.count()).where(CaseEvent.kind == "timeout").group_by(CaseEvent.case_id)
        ).all())
    assert per_case == {c.id: 1 for c in cases}
    for case in cases:
        [timeout] = timeouts_of(crm, case.id)
        assert timeout.version == crm.cases.get(case.id, by=crm.system).version  # nothing happened after it
        assert timeout.at == clock.now()


def test_a_second_application_sees_the_escalations_of_the_first(crm_factory, tmp_path, clock):
    url = f"sqlite:///{tmp_path}/shared.db"
    first = crm_factory(url)
    world = build_world(first, log=False)
    case = world.open_case()
    world.to_manufacturer(case.id)
    clock.advance(days=7)
    second = connect(url, clock=clock, settings=Settings())
    try:
        assert second.cases.tick().fired == 1
        assert first.cases.tick().fired == 0
        assert first.cases.get(case.id, by=first.system).state == "dealer_decision"
    finally:
        second.close()


@pytest.mark.parametrize("region", ["XX", "DE-ZZ", ""])
def test_a_party_whose_region_has_no_calendar_is_refused_before_any_deadline_depends_on_it(crm, region):
    with pytest.raises(ValidationError, match="region") as err:
        crm.parties.add("technician", "Kundendienst Irgendwo", region=region, by=crm.system)
    assert err.value.field == "region" and "DE-BY" in str(err.value)
    assert [p.name for p in crm.parties.list(kind="technician", by=crm.system)] == []


def test_a_region_is_kept_in_its_usual_spelling(crm):
    assert crm.parties.add("technician", "Kundendienst Süd", region=" de-by ", by=crm.system).region == "DE-BY"
