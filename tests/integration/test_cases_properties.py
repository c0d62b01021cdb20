"""The no-dead-end promise, checked where it matters: in the database.

The unit tests simulate the pure engine; here random people act through the public
API on a real SQLite file — permissions, required data, guards, persisted due times
and the deadline processor together — and after every step the row itself must show
an owner and a due time for every open case, and a history without gaps. Then the
dealer alone (with the clock) must always bring the case to a good end in a few steps.

Each example runs on a fresh copy of one prepared database (``copy_world``), so it
costs a file copy and a ``connect``, not a migration.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dealercrm import NotFound
from case_world import World, copy_world
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from dealercrm import DealerCrmError, ManualClock, TransitionNotAllowed
from dealercrm.db.case_models import Case

UTC = timezone.utc
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
GOOD_ENDS = {"closed", "refunded"}
PEOPLE = ("service", "manager", "owner", "warranty_desk", "fitter", "other_dealer_service", "other_warranty_desk",
          None)  # None: the system, e.g. an inbound e-mail answering for the customer
DEALER_PEOPLE = ("service", "manager", "owner")
TEXT = "as agreed with Frau Musterfrau"


@pytest.fixture
def fresh():
    """A fresh application per example (the fixture itself is shared by all examples)."""
    folder = Path(tempfile.mkdtemp(prefix="dealercrm-props-"))
    made = []

    def make(start: datetime):
        clock = ManualClock(start)
        made.append(copy_world(folder, clock))
        return made[-1], clock

    yield make
    for world in made:
        world.crm.close()
    shutil.rmtree(folder, ignore_errors=True)


def start_times():
    # any minute of 2026: nights, weekends, Easter and Christmas included
    return st.integers(0, 365 * 24 * 60).map(lambda m: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=m))


# --- what must hold after every step ------------------------------------------------------


def row(world: World, case_id: int) -> dict:
    with world.crm.read(world.crm.system) as uow:
        return dict(uow.connection.execute(select(Case.__table__).where(Case.id == case_id)).mappings().one())


def assert_owned_and_timed(world: World, case_id: int) -> dict:
    case = row(world, case_id)
    flow = world.crm.workflows[case["workflow"]].workflow
    state = flow.state(case["state"])
    if state.final:
        assert case["closed_at"] is not None and case["due_at"] is None and case["owner_party_id"] is None
    else:
        assert case["closed_at"] is None
        assert case["owner_kind"] == state.owner
        assert case["due_at"] is not None and case["due_at"] >= case["state_entered_at"]
        expected_party = {"dealer": case["dealer_party_id"], "customer": case["dealer_party_id"],
                          "manufacturer": case["manufacturer_party_id"],
                          "technician": case["technician_party_id"]}[state.owner]
        assert case["owner_party_id"] is not None and case["owner_party_id"] == expected_party
    versions = [h.version for h in world.crm.cases.history(case_id, by=world.crm.system)]
    assert versions == list(range(1, case["version"] + 1)), "the history has a gap or a double"
    return case


# --- the actors ---------------------------------------------------------------------------


def person(world: World, name: str | None) -> int | None:
    return world.crm.system if name is None else getattr(world, name).id


def payload(world: World, case: dict, trigger: str, clock: ManualClock, data) -> dict:
    flow = world.crm.workflows[case["workflow"]].workflow
    transition = next(t for t in flow.transitions_from(case["state"]) if t.trigger == trigger)
    values: dict = {key: TEXT for key in transition.required}
    if "visit_at" in values:
        values["visit_at"] = (clock.now() + timedelta(hours=data.draw(st.integers(1, 24 * 30)))).isoformat()
    if "new_serial" in values:
        values["new_serial"] = f"BR7-{data.draw(st.integers(1000, 9999))}"
    if flow.state(transition.dest).owner == "technician" and case["technician_party_id"] is None:
        values["technician_party_id"] = world.technician.id
    return values


def someone_acts(world: World, case_id: int, clock: ManualClock, data) -> None:
    name = data.draw(st.sampled_from(PEOPLE), label="actor")
    actor = person(world, name)
    try:
        allowed = world.crm.cases.allowed_triggers(case_id, actor)
    except NotFound:  # a party that does not see the case (yet): it cannot act on it
        allowed = []
    case = row(world, case_id)
    if not allowed:
        if case["closed_at"] is None and name not in (None, "other_dealer_service", "other_warranty_desk"):
            # a party of the case that may do nothing here must be told so when it tries
            with pytest.raises(DealerCrmError):
                world.crm.cases.fire(case_id, "withdraw" if name == "fitter" else "confirm", by=actor,
                                     data={"reason": TEXT})
            assert row(world, case_id) == case
        return
    trigger = data.draw(st.sampled_from(allowed), label="trigger")
    if trigger == "schedule_visit" and data.draw(st.booleans(), label="customer agrees to any slot"):
        world.crm.cases.record_fact(case_id, "customer_agreed_late_slot", True, by=world.service.id)
        case = row(world, case_id)
    try:
        world.crm.cases.fire(case_id, trigger, by=actor, data=payload(world, case, trigger, clock, data))
    except TransitionNotAllowed as err:
        assert "refused by guard 'visit_within_deadline'" in str(err), err  # the only legitimate refusal
        assert row(world, case_id) == case


def time_passes(world: World, clock: ManualClock, minutes: int) -> None:
    clock.advance(minutes=minutes)
    world.crm.cases.tick(batch_size=2)
    for case in world.crm.cases.list(by=world.crm.system):
        # a tick leaves nothing overdue, except what entered its state at this very instant
        assert case.due_at > clock.now() or case.state_entered_at == clock.now()


def live(world: World, case_id: int, clock: ManualClock, data, steps: int) -> None:
    for _ in range(steps):
        if row(world, case_id)["closed_at"] is not None:
            return
        if data.draw(st.booleans(), label="act rather than wait"):
            someone_acts(world, case_id, clock, data)
        else:
            time_passes(world, clock, data.draw(st.integers(1, 60 * 24 * 20), label="minutes"))
        assert_owned_and_timed(world, case_id)


@SETTINGS
@given(data=st.data(), start=start_times())
def test_an_open_case_in_the_database_always_has_an_owner_and_a_due_time(fresh, data, start):
    world, clock = fresh(start)
    case = world.open_case()
    assert_owned_and_timed(world, case.id)
    live(world, case.id, clock, data, data.draw(st.integers(1, 30), label="steps"))


# --- the dealer alone makes it right --------------------------------------------------------


def distances(flow) -> dict[str, int]:
    """Fewest dealer-or-system steps from each state to a good end (withdrawing is giving up)."""
    usable = [t for t in flow.transitions if t.trigger != "withdraw"
              and any(a == "system" or a.split(":")[0] == "dealer" for a in t.allowed)]
    dist = {name: 0 for name in GOOD_ENDS}
    for _ in flow.states:
        for t in usable:
            if t.dest in dist and dist.get(t.source, 1 << 30) > dist[t.dest] + 1:
                dist[t.source] = dist[t.dest] + 1
    return dist


def dealer_step(world: World, case_id: int, clock: ManualClock, dist: dict, data) -> None:
    """A dealer's person (or the clock) takes a step that brings the case closer to a good end."""
    case = row(world, case_id)
    flow = world.crm.workflows[case["workflow"]].workflow
    here = dist[case["state"]]
    options = []
    for name in DEALER_PEOPLE:
        for trigger in world.crm.cases.allowed_triggers(case_id, person(world, name)):
            t = next(t for t in flow.transitions_from(case["state"]) if t.trigger == trigger)
            if dist.get(t.dest, 1 << 30) < here:
                options.append((name, trigger))
    timeout = next(t for t in flow.transitions_from(case["state"]) if t.timeout)
    if dist.get(timeout.dest, 1 << 30) < here:
        options.append(("the clock", timeout.trigger))
    assert options, f"the dealer is stuck in {case['state']!r}"
    name, trigger = data.draw(st.sampled_from(sorted(options)), label="dealer step")
    if name == "the clock":
        clock.set(max(case["due_at"], clock.now()) + timedelta(minutes=1))
        assert world.crm.cases.tick().fired >= 1
        assert world.crm.cases.history(case_id, by=world.crm.system)[-1].trigger == trigger
        return
    world.crm.cases.fire(case_id, trigger, by=person(world, name), data=payload(world, case, trigger, clock, data))


@SETTINGS
@given(data=st.data(), start=start_times())
def test_the_dealer_and_the_clock_alone_bring_every_case_to_a_good_end(fresh, data, start):
    world, clock = fresh(start)
    case = world.open_case()
    live(world, case.id, clock, data, data.draw(st.integers(0, 15), label="chaos steps"))
    flow = world.crm.workflows["service_case"].workflow
    dist = distances(flow)
    current = row(world, case.id)
    if current["closed_at"] is not None:
        return
    bound = dist[current["state"]]
    for _ in range(bound):
        dealer_step(world, case.id, clock, dist, data)
        assert_owned_and_timed(world, case.id)
    assert row(world, case.id)["state"] in GOOD_ENDS
    assert bound <= len(flow.states)
