"""The promise, on the pure engine: resolved by when at the latest, only the dealer acting.

The search (Dijkstra over arrival times, pruned A*-style) is checked against brute force
on workflows made up at random, and the promise is played: the manufacturer, technician
and customer stay silent, their states end by timeout at the deadline, the dealer takes
the way the promise names at any moment up to its deadline — and the case is never
resolved later than promised. Calendars in several zones, with weekends and holidays,
make "a state costs its deadline" depend on when it starts.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dealercrm.clock import UTC
from dealercrm.workflow import BusinessCalendar, DeadlinePolicy, Guard, State, Transition, Workflow
from dealercrm.workflow.promise import Game, bound, leave, moves, promise, resolvable
from dealercrm.workflows.service_case import SERVICE_CASE

HOUR = timedelta(hours=1)
BERLIN = BusinessCalendar(region="DE", subdiv="BY", tz="Europe/Berlin")
NEW_YORK = BusinessCalendar(region="US", subdiv="NY", tz="America/New_York")
PARIS = BusinessCalendar(region="FR", tz="Europe/Paris", hours=((0, time(9), time(18)), (1, time(9), time(18)),
                                                                 (2, time(9), time(18)), (3, time(9), time(18)),
                                                                 (5, time(9), time(12))))
CALENDARS = (BERLIN, NEW_YORK, PARIS)
KINDS = ("dealer", "manufacturer", "technician", "customer")
NEVER = Guard("never", lambda ctx: "no")
SETTINGS = settings(max_examples=200, deadline=None)


def only(calendar):
    return lambda kind: calendar


# -- the figures ---------------------------------------------------------------------------------

def test_the_service_case_promises_per_level_what_the_dealer_alone_can_guarantee():
    found = {name: bound(SERVICE_CASE.at_level(name)) for name in SERVICE_CASE.level_names}
    assert {name: b.working for name, b in found.items()} == {
        "standard": 22 * HOUR, "urgent": 9 * HOUR, "premium": 10 * HOUR, "essential": 14 * HOUR}
    assert all(b.wall == timedelta(0) for b in found.values())
    # the dealer's safety net: look, decide, refund — whatever the manufacturer does or does not
    assert found["standard"].way == ("reported -start_diagnosis-> dealer_diagnosis -escalate-> dealer_decision "
                                     "-refund-> refunded")
    assert found["standard"].describe() == "22h working time (2 working days of 9h + 4h)"


def test_from_a_silent_manufacturer_the_promise_runs_out_its_deadline_and_the_dealers():
    b = bound(SERVICE_CASE, "manufacturer_review")
    assert (b.working, b.way) == (27 * HOUR, "manufacturer_review -escalate-> dealer_decision -refund-> refunded")
    waiting = bound(SERVICE_CASE, "waiting_for_customer")  # a week of the customer's silence, then the dealer
    assert (waiting.working, waiting.wall) == (9 * HOUR, timedelta(days=7))
    assert waiting.describe() == "9h working time (1 working day of 9h) + 7d on the wall clock"


def test_withdrawing_resolves_nothing_so_the_promise_never_ends_there():
    # the quickest end of all: the dealer withdraws the case at once; had it counted, 4 hours
    counted = SERVICE_CASE.extend(replace_states=[attrs.evolve(SERVICE_CASE.state("withdrawn"), resolves=True)])
    assert bound(counted).states[-1] == "withdrawn" and bound(counted).working == 4 * HOUR
    assert bound(SERVICE_CASE).states[-1] == "refunded"
    assert promise(SERVICE_CASE, "withdrawn", datetime(2026, 3, 2, tzinfo=UTC), only(BERLIN)) is None


def test_a_friday_afternoon_start_pays_the_weekend_and_easter_monday():
    # Thursday before Easter, 15:00 in Berlin: Good Friday and Easter Monday are holidays in Bavaria
    start = datetime(2026, 4, 2, 13, 0, tzinfo=UTC)
    p = promise(SERVICE_CASE, "reported", start, only(BERLIN))
    # dealer_diagnosis 9h: Thu 15-17 (2h), Tue 7 April 8-15 (7h); dealer_decision 9h: Tue 15-17, Wed 8-15
    assert p.resolved_by == datetime(2026, 4, 8, 13, 0, tzinfo=UTC)
    assert [s.leaves_at for s in p.steps] == [start, datetime(2026, 4, 7, 13, tzinfo=UTC), p.resolved_by]


def test_each_party_counts_in_its_own_calendar():
    # the manufacturer works in New York: its two days end there, then the Bavarian dealer's day
    calendars = {"manufacturer": NEW_YORK, "dealer": BERLIN}
    leaves = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # Monday, the manufacturer's deadline
    p = promise(SERVICE_CASE, "manufacturer_review", leaves, calendars.get)
    assert p.way == "manufacturer_review -escalate-> dealer_decision -refund-> refunded"
    assert p.resolved_by == BERLIN.add(leaves, 9 * HOUR)


def test_fewer_hours_of_working_time_can_end_later_than_more_hours_on_the_wall_clock():
    """At Friday 16:00 the dealer hands the case to the manufacturer (9 working hours: Monday
    afternoon) or asks the customer (40 hours of the wall clock: Sunday morning); both come back
    to the dealer, who closes it. The figures favour the manufacturer, the weekend does not."""
    wf = Workflow("diamond", "start", [
        State("start", "dealer", DeadlinePolicy(HOUR)),
        State("maker", "manufacturer", DeadlinePolicy(9 * HOUR)),
        State("asked", "customer", DeadlinePolicy(40 * HOUR, business=False)),
        State("decide", "dealer", DeadlinePolicy(HOUR, business=False)),
        State("done", final=True)], [
        Transition("to_maker", "start", "maker", {"dealer"}), Transition("ask", "start", "asked", {"dealer"}),
        Transition("late", "start", "maker", {"system"}, timeout=True),
        Transition("late", "maker", "decide", {"system"}, timeout=True),
        Transition("late", "asked", "decide", {"system"}, timeout=True),
        Transition("close", "decide", "done", {"dealer"}),
        Transition("late", "decide", "decide", {"system"}, timeout=True)])
    # 10 working hours and 1 on the clock against 1 and 41 on the clock (a working week is 45 of 168 hours)
    assert bound(wf).way == "start -to_maker-> maker -late-> decide -close-> done"
    friday = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)  # 16:00 in Berlin: the start's deadline
    p = promise(wf, "start", friday, only(BERLIN))
    assert p.way == "start -ask-> asked -late-> decide -close-> done"
    assert p.resolved_by == friday + 41 * HOUR  # Sunday 09:00 in Berlin, not Monday afternoon
    assert brute_force(wf, "start", friday, only(BERLIN)) == p.resolved_by
    monday = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # 09:00 in Berlin: now the manufacturer is quicker
    assert promise(wf, "start", monday, only(BERLIN)).way == "start -to_maker-> maker -late-> decide -close-> done"


def test_the_searchs_shortcut_never_skips_what_could_be_earlier():
    # "least" is a lower bound of the wall-clock time to resolution from each state
    game = Game.of(SERVICE_CASE)
    assert game.least["awaiting_confirmation"] == timedelta(days=14)
    assert game.least["dealer_decision"] == 9 * HOUR
    assert set(game.least) == resolvable(SERVICE_CASE) | {"closed", "refunded"}


# -- random workflows against brute force ---------------------------------------------------------

@st.composite
def workflows(draw):
    """Open states of any owner and deadline, one timeout each (anywhere), the dealer's own
    moves (some behind a guard that never passes), the others' moves (silent here), and
    two final states: one resolves, one does not."""
    n = draw(st.integers(2, 7))
    names = [f"s{i}" for i in range(n)] + ["done", "gone"]
    # the dealer's states are where ways part: half of them are the dealer's
    states = [State(f"s{i}", draw(st.sampled_from(("dealer", "dealer", "dealer", *KINDS[1:]))),
                    DeadlinePolicy(timedelta(minutes=draw(st.integers(15, 60 * 30))), draw(st.booleans())))
              for i in range(n)]
    states += [State("done", final=True), State("gone", final=True, resolves=False)]
    transitions = []
    for s in states[:n]:
        transitions.append(Transition(f"{s.name}_late", s.name, draw(st.sampled_from(names)), {"system"},
                                      timeout=True))
        for j in range(draw(st.integers(0 if s.owner != "dealer" else 1, 4))):
            guards = (NEVER,) if draw(st.integers(0, 4)) == 0 else ()
            who = {"dealer"} if s.owner == "dealer" else {s.owner if s.owner != "customer" else "dealer"}
            transitions.append(Transition(f"{s.name}_{j}", s.name, draw(st.sampled_from(names)), who, guards=guards))
    return Workflow("random", "s0", states, transitions)


def brute_force(wf, state, leaves_at, calendar_of):
    """The earliest resolution over every way without a repeated state (a repeat never helps:
    time only moves on), each state costing its full deadline."""
    best = []

    def walk(name, departs, seen):
        for t in moves(wf, name):
            dest = wf.state(t.dest)
            if dest.final:
                if dest.resolves:
                    best.append(departs)
            elif t.dest not in seen:
                walk(t.dest, leave(dest, departs, calendar_of), seen | {t.dest})

    walk(state, leaves_at, {state})
    return min(best, default=None)


def calendars_of(data):
    chosen = {kind: data.draw(st.sampled_from(CALENDARS)) for kind in KINDS}
    return chosen.get


def a_moment(data):
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=data.draw(st.integers(0, 60 * 24 * 365)))


@SETTINGS
@given(st.data())
def test_the_promise_is_the_earliest_resolution_any_way_of_the_dealers_gives(data):
    wf = data.draw(workflows())
    start = data.draw(st.sampled_from([s.name for s in wf.states if not s.final]))
    leaves, calendar_of = a_moment(data), calendars_of(data)
    found = promise(wf, start, leaves, calendar_of)
    expected = brute_force(wf, start, leaves, calendar_of)
    assert (found.resolved_by if found else None) == expected
    assert (found is not None) == (start in resolvable(wf))
    if found:  # the way it names gets there, step by step, at those times
        at = leaves
        for step, nxt in zip(found.steps, [*found.steps[1:], None]):
            assert step.leaves_at == at
            t = next(t for t in moves(wf, step.state) if t.trigger == step.trigger)
            assert t.dest == (nxt.state if nxt else found.final)
            at = leave(wf.state(t.dest), at, calendar_of) if nxt else at
        assert at == found.resolved_by


def play(wf, start, calendar_of, data, entered):
    """The case from a fresh entry into ``start``: silent parties' states end by timeout at their
    deadline; in the dealer's states the dealer makes the move the promise names (as it stands
    then) at any moment up to its deadline. Returns (the promise at the start, when it resolved)."""
    state, due = start, leave(wf.state(start), entered, calendar_of)
    first = promise(wf, state, due, calendar_of)
    while True:
        now = promise(wf, state, due, calendar_of)
        assert now is not None and now.resolved_by <= first.resolved_by  # never later than first promised
        if not now.steps:
            return first, due
        t = next(t for t in moves(wf, state) if t.trigger == now.steps[0].trigger)
        if wf.state(state).owner == "dealer" and not t.timeout:
            acts = entered + (due - entered) * data.draw(st.floats(0, 1))  # whenever it likes, in time
        else:
            acts = due  # the clock's move: at the deadline, not before
        state, entered = t.dest, acts
        due = acts if wf.state(state).final else leave(wf.state(state), acts, calendar_of)


@SETTINGS
@given(st.data())
def test_no_way_with_silent_parties_resolves_later_than_promised(data):
    wf = data.draw(workflows())
    start = data.draw(st.sampled_from([s for s in resolvable(wf) if not wf.state(s).final] or ["done"]))
    if start == "done":
        return
    first, resolved = play(wf, start, calendars_of(data), data, a_moment(data))
    assert resolved <= first.resolved_by


@SETTINGS
@given(st.data())
def test_on_every_level_of_the_service_case_a_dealer_in_time_keeps_the_promise(data):
    wf = SERVICE_CASE.at_level(data.draw(st.sampled_from(SERVICE_CASE.level_names)))
    start = data.draw(st.sampled_from([s.name for s in wf.states if not s.final]))
    first, resolved = play(wf, start, calendars_of(data), data, a_moment(data))
    assert resolved <= first.resolved_by
    assert first.final in ("closed", "refunded")


@pytest.mark.parametrize("level", SERVICE_CASE.level_names)
def test_a_dealer_who_takes_every_deadline_in_full_resolves_exactly_at_the_promise(level):
    wf = SERVICE_CASE.at_level(level)
    entered = datetime(2026, 3, 6, 14, 30, tzinfo=UTC)  # a Friday afternoon
    state, due = "reported", leave(wf.state("reported"), entered, only(BERLIN))
    first = promise(wf, state, due, only(BERLIN))
    for step in first.steps:
        assert step.state == state and step.leaves_at == due
        state = next(t.dest for t in moves(wf, state) if t.trigger == step.trigger)
        due = due if wf.state(state).final else leave(wf.state(state), due, only(BERLIN))
    assert (state, due) == (first.final, first.resolved_by)
