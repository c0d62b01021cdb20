"""Cases simulated on the pure engine: random actors, random data, time passing.

The checker proves the properties on the graph; these tests make sure the running
engine (permissions, required data, guards, deadlines and timeouts together) keeps
them too, the way the persistence layer and the deadline processor will drive it.
"""

from datetime import datetime, timedelta

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from dealercrm.clock import UTC, ManualClock
from dealercrm.errors import TransitionNotAllowed
from dealercrm.workflow import PARTY_KINDS, Calendars, CompiledWorkflow
from dealercrm.workflows.service_case import SERVICE_CASE

FLOW = CompiledWorkflow(SERVICE_CASE)
CALENDARS = Calendars()
ACTORS = (("dealer", "clerk"), ("dealer", "manager"), ("manufacturer", "agent"), ("technician", "field"),
          ("system", "system"))
OPEN = tuple(s.name for s in SERVICE_CASE.states if not s.final)
MADE_RIGHT = {"closed", "refunded"}
SETTINGS = settings(max_examples=200, deadline=None)


@attrs.define
class Case:
    state: str
    due_at: datetime | None
    clock: ManualClock

    def enter(self, state: str) -> None:
        self.state, self.due_at = state, FLOW.due_at(state, self.clock.now(), CALENDARS)

    @property
    def final(self) -> bool:
        return SERVICE_CASE.state(self.state).final


def open_case(data: st.DataObject) -> Case:
    start = datetime(2026, 1, 5, 9, tzinfo=UTC) + timedelta(minutes=data.draw(st.integers(0, 60 * 24 * 365)))
    case = Case(data.draw(st.sampled_from(OPEN)), None, ManualClock(start))
    case.enter(case.state)
    return case


def payload(transition, case: Case, data: st.DataObject) -> dict:
    values: dict[str, object] = {key: "because the customer asked" for key in transition.required}
    if "visit_at" in values:
        values["visit_at"] = case.clock.now() + timedelta(hours=data.draw(st.integers(1, 24 * 30)))
    return values


def transition(state: str, trigger: str):
    return next(t for t in SERVICE_CASE.transitions_from(state) if t.trigger == trigger)


def act(case: Case, data: st.DataObject) -> None:
    kind, role = data.draw(st.sampled_from(ACTORS))
    triggers = FLOW.allowed_triggers(case.state, kind, role)
    if not triggers:
        return
    trigger = data.draw(st.sampled_from(triggers))
    facts = {"customer_agreed_late_slot": data.draw(st.booleans())}
    try:
        result = FLOW.fire(case.state, trigger, party_kind=kind, role=role, now=case.clock.now(),
                           data=payload(transition(case.state, trigger), case, data), due_at=case.due_at,
                           facts=facts)
    except TransitionNotAllowed as err:
        assert "refused by guard 'visit_within_deadline'" in str(err)  # the only legitimate refusal
        return
    case.enter(result.dest)


def wait(case: Case, minutes: int) -> None:
    """Time passes; the deadline processor fires the timeout as the system."""
    case.clock.advance(minutes=minutes)
    if case.due_at is not None and case.clock.now() >= case.due_at:
        trigger = FLOW.timeout_trigger(case.state)
        case.enter(FLOW.fire(case.state, trigger, party_kind="system", role="system", now=case.clock.now()).dest)


def live(case: Case, data: st.DataObject, steps: int) -> None:
    for _ in range(steps):
        if case.final:
            return
        if data.draw(st.booleans()):
            act(case, data)
        else:
            wait(case, data.draw(st.integers(1, 60 * 24 * 20)))
        assert_has_owner_and_due_time(case)


def assert_has_owner_and_due_time(case: Case) -> None:
    state = SERVICE_CASE.state(case.state)
    if state.final:
        assert case.due_at is None
        return
    assert state.owner in PARTY_KINDS
    assert case.due_at is not None and case.due_at > case.clock.now(), "an open case is never left overdue"
    assert FLOW.timeout_trigger(case.state) is not None


#: Dealer and system transitions, minus withdrawing: giving up is not making it right.
USABLE = tuple(t for t in SERVICE_CASE.transitions if t.trigger != "withdraw" and any(
    a == "system" or a.split(":")[0] == "dealer" for a in t.allowed))


def distances_to_made_right() -> dict[str, int]:
    """Fewest USABLE steps from each state to closed or refunded (Bellman-Ford style)."""
    dist = {name: 0 for name in MADE_RIGHT}
    for _ in SERVICE_CASE.states:
        for t in USABLE:
            if t.dest in dist and dist.get(t.source, 1 << 30) > dist[t.dest] + 1:
                dist[t.source] = dist[t.dest] + 1
    return dist


DIST = distances_to_made_right()


def dealer_step(case: Case, data: st.DataObject) -> None:
    """The dealer (or the clock) takes any step that brings the case closer to done."""
    options = [t for t in USABLE if t.source == case.state and DIST.get(t.dest, 1 << 30) < DIST[case.state]]
    chosen = data.draw(st.sampled_from(options))
    if chosen.timeout:
        wait(case, int((case.due_at - case.clock.now()).total_seconds() // 60) + 1)
        return
    actor = next((a.split(":") + ["clerk"])[:2] for a in sorted(chosen.allowed) if a.startswith("dealer"))
    result = FLOW.fire(case.state, chosen.trigger, party_kind=actor[0], role=actor[1], now=case.clock.now(),
                       data=payload(chosen, case, data), due_at=case.due_at)
    case.enter(result.dest)


@SETTINGS
@given(st.data())
def test_an_open_case_always_has_an_owner_and_a_due_time_whoever_acts_and_however_long_they_wait(data):
    case = open_case(data)
    assert_has_owner_and_due_time(case)
    live(case, data, data.draw(st.integers(1, 40)))


@SETTINGS
@given(st.data())
def test_the_dealer_and_the_system_alone_always_make_it_right_within_a_few_steps(data):
    case = open_case(data)
    live(case, data, data.draw(st.integers(0, 20)))
    if case.final:
        return
    assert set(DIST) >= set(OPEN), "every open state has a way to closed or refunded"
    for _ in range(len(SERVICE_CASE.states)):
        if case.final:
            break
        dealer_step(case, data)
        assert_has_owner_and_due_time(case)
    assert case.state in MADE_RIGHT


@SETTINGS
@given(st.data())
def test_nobodys_silence_keeps_a_case_with_a_party_other_than_the_dealer(data):
    case = open_case(data)
    for _ in range(len(SERVICE_CASE.states)):
        owner = SERVICE_CASE.state(case.state).owner
        if case.final or owner in ("dealer", "customer"):
            break
        wait(case, int((case.due_at - case.clock.now()).total_seconds() // 60) + data.draw(st.integers(1, 600)))
    assert case.final or SERVICE_CASE.state(case.state).owner in ("dealer", "customer")
