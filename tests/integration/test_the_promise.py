"""The promise (issue #13, item 3): resolved by when at the latest, said on day one.

"A technician in three weeks at the earliest, take it or leave it" — the seed's answer. Here
the dealer answers instead: with the manufacturer, the technician and the customer silent,
every deadline taken in full, the dealer's safety net still resolves the case by a time
dealercrm computes when the case opens. These tests play that on the clock: nobody but the
dealer and the deadline processor acts, and the case is resolved exactly then — not a
minute earlier, not a minute later. A dealer who acts sooner only gets there sooner.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from datetime import datetime, timedelta, timezone

import pytest
from case_world import copy_world
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dealercrm.clock import ManualClock

UTC = timezone.utc
FRIDAY = datetime(2026, 3, 6, 14, 30, tzinfo=UTC)  # 15:30 in Berlin: the weekend is near


@pytest.fixture
def world(tmp_path, clock):
    world = copy_world(tmp_path, clock)
    yield world
    world.crm.close()


def case_of(world, case_id):
    return world.crm.cases.get(case_id, by=world.crm.system)


def play_silent(world, clock, case_id, promised):
    """Only the dealer and the clock: at each deadline the dealer makes the move the promise
    names (the manager, who may refund), or the deadline processor fires the timeout. The
    promise is the same at every step."""
    wf = world.crm.cases.workflow(case_of(world, case_id).workflow).workflow
    steps = 0
    while (case := case_of(world, case_id)).closed_at is None:
        now = world.crm.cases.promise(case_id, by=world.crm.system)
        assert now.resolved_by == promised.resolved_by, f"the promise moved at {case.state}"
        clock.set(case.due_at)
        trigger = now.steps[0].trigger
        if next(t for t in wf.transitions_from(case.state) if t.trigger == trigger).timeout:
            assert world.crm.cases.tick().fired == 1
        else:
            world.fire(case_id, trigger, world.manager, note="as promised", reason="the customer waited enough")
        steps += 1
    return case, steps


def test_the_all_silent_path_on_the_clock_resolves_exactly_at_the_promise(world, clock):
    clock.set(FRIDAY)
    case = world.open_case()
    promised = world.crm.cases.promise(case.id, by=world.service.id)
    # reported 4 working hours (Friday 15:30-17:00, Monday 08:00-10:30), diagnosis and the
    # dealer's decision nine each: Wednesday 10:30 in Berlin
    assert promised.resolved_by == datetime(2026, 3, 11, 9, 30, tzinfo=UTC)
    assert promised.way == ("reported -start_diagnosis-> dealer_diagnosis -escalate-> dealer_decision "
                            "-refund-> refunded")
    opened = world.crm.cases.history(case.id, by=world.crm.system)[0]
    assert opened.data["resolved_by"] == promised.resolved_by.isoformat()  # the promise given on day one, kept
    closed, steps = play_silent(world, clock, case.id, promised)
    assert (closed.state, closed.closed_at, steps) == ("refunded", promised.resolved_by, 3)
    assert [e.kind for e in world.crm.cases.history(case.id, by=world.crm.system)] == [
        "opened", "transition", "timeout", "transition"]


LEVELS = {
    "standard": {},
    "urgent": {"priority": "urgent"},
    "premium": {"contract": "premium"},
    "essential": {"category": "heating"},
}


@pytest.mark.parametrize("level", LEVELS)
def test_on_each_level_the_silent_path_ends_exactly_at_that_levels_promise(world, clock, level):
    clock.set(FRIDAY)
    given_ = LEVELS[level]
    asset_id = world.machine.id
    if "contract" in given_:
        world.crm.assets.set_contract(asset_id, given_["contract"], by=world.service.id)
    if "category" in given_:
        boiler = world.crm.products.add("BR-H-1", "Brioche Therme", category=given_["category"],
                                        manufacturer_party_id=world.manufacturer.id, by=world.crm.system)
        asset_id = world.crm.assets.record(world.customer.id, boiler.id, by=world.crm.system).id
    case = world.crm.cases.open(world.customer.id, "broken", asset_id=asset_id,
                                priority=given_.get("priority", "normal"), by=world.service.id)
    assert case.service_level == level
    promised = world.crm.cases.promise(case.id, by=world.service.id)
    wf = world.crm.workflows["service_case"].at_level(level)
    # the level's own deadlines along the way, in the dealer's calendar from the opening
    calendar = world.crm.cases.calendar(world.dealer.id)
    expected = FRIDAY
    for state in ("reported", "dealer_diagnosis", "dealer_decision"):
        expected = calendar.add(expected, wf.state(state).deadline.duration)
    assert promised.resolved_by == expected
    closed, _ = play_silent(world, clock, case.id, promised)
    assert closed.closed_at == promised.resolved_by


def test_a_step_the_promise_did_not_count_on_moves_it_and_the_new_one_holds_exactly(world, clock):
    clock.set(FRIDAY)
    case = world.open_case()
    first = world.crm.cases.promise(case.id, by=world.service.id)
    world.to_manufacturer(case.id)  # at once: the manufacturer gets its two working days
    moved = world.crm.cases.promise(case.id, by=world.service.id)
    assert moved.resolved_by > first.resolved_by
    assert moved.way == "manufacturer_review -escalate-> dealer_decision -refund-> refunded"
    closed, _ = play_silent(world, clock, case.id, moved)  # the manufacturer stays silent
    assert closed.closed_at == moved.resolved_by


def test_a_dealer_who_acts_at_once_resolves_sooner_never_later(world, clock):
    clock.set(FRIDAY)
    case = world.open_case()
    promised = world.crm.cases.promise(case.id, by=world.service.id)
    world.fire(case.id, "start_diagnosis", world.service)
    world.fire(case.id, "forward_to_manufacturer", world.service)  # a detour, but made early
    world.fire(case.id, "take_over", world.service, reason="the customer needs it now")
    assert world.crm.cases.promise(case.id, by=world.service.id).resolved_by < promised.resolved_by
    world.fire(case.id, "refund", world.manager)
    assert case_of(world, case.id).closed_at == FRIDAY < promised.resolved_by
    assert world.crm.cases.promise(case.id, by=world.service.id).resolved_by == FRIDAY


def test_a_withdrawn_case_promises_nothing_any_more(world):
    case = world.open_case()
    world.fire(case.id, "withdraw", world.service, reason="she bought a new one")
    assert world.crm.cases.promise(case.id, by=world.service.id) is None


def test_the_customers_first_hand_off_notice_tells_her_the_promise_and_the_next_do_not(world, clock):
    clock.set(FRIDAY)
    case = world.open_case()
    world.to_manufacturer(case.id)
    promised = world.crm.cases.promise(case.id, by=world.service.id)
    world.crm.outbox.dispatch()
    [first] = world.crm.outbox.of_customer(world.customer.id, by=world.crm.system)
    # in the customer's zone, with its name (she lives where her Bavarian dealer works)
    local = promised.resolved_by.astimezone(ZoneInfo("Europe/Berlin"))
    assert f"Ihr Anliegen ist spätestens am {local:%d.%m.%Y, %H:%M}" in first.body and "erledigt." in first.body
    clock.set(case_of(world, case.id).due_at)
    world.crm.cases.tick()  # the manufacturer was silent: back to the dealer, a second notice
    world.crm.outbox.dispatch()
    second = [m for m in world.crm.outbox.of_customer(world.customer.id, by=world.crm.system) if m.id != first.id]
    assert len(second) == 1 and "Ihr Anliegen ist spätestens" not in second[0].body


def test_no_path_with_the_others_silent_resolves_later_than_promised(tmp_path):
    """Any level, any opening time; the dealer makes the move the promise names, at any
    moment up to its deadline, the others never act: resolved no later than promised."""
    clock = ManualClock(FRIDAY)
    world = copy_world(tmp_path, clock)
    try:
        world.crm.customers.update(world.customer.id, service_contract=None, by=world.service.id)

        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.data())
        def play(data):
            clock.advance(minutes=data.draw(st.integers(0, 60 * 24 * 9)))
            priority = data.draw(st.sampled_from(["low", "normal", "high", "urgent"]))
            contract = data.draw(st.sampled_from([None, "premium"]))
            world.crm.assets.set_contract(world.machine.id, contract, by=world.service.id)
            case = world.crm.cases.open(world.customer.id, "broken", asset_id=world.machine.id, priority=priority,
                                        by=world.service.id)
            promised = world.crm.cases.promise(case.id, by=world.service.id)
            wf = world.crm.cases.workflow(case.workflow).workflow
            while (now := case_of(world, case.id)).closed_at is None:
                step = world.crm.cases.promise(case.id, by=world.service.id).steps[0]
                move = next(t for t in wf.transitions_from(now.state) if t.trigger == step.trigger)
                if move.timeout:
                    clock.set(now.due_at)
                    world.crm.cases.tick()
                else:
                    clock.set(clock.now() + (now.due_at - clock.now()) * data.draw(st.floats(0, 1)))
                    world.fire(case.id, step.trigger, world.manager, reason="made right")
            assert now.closed_at <= promised.resolved_by

        play()
    finally:
        world.crm.close()
