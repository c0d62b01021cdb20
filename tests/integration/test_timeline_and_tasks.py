"""The one timeline, and the follow-ups that keep a relationship alive.

Story 004: twelve mailings a year are not a relationship. Only a personal touch — a
call, a visit, a personal letter — counts as the last time somebody spoke to the
customer; a mass mailing lands on the timeline but moves nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from dealercrm import InteractionRecorded, NotFound, TaskCompleted, TaskCreated, ValidationError, hookimpl


@pytest.fixture
def home(crm):
    return crm.parties.by_name("Our Dealership", by=crm.system)


@pytest.fixture
def sabine(crm, home):
    return crm.parties.add_actor(home.id, "Sabine Krüger", "sales", by=crm.system)


@pytest.fixture
def max_(crm):
    return crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)


class Events:
    def __init__(self):
        self.seen = []

    @hookimpl
    def dealercrm_handle_event(self, event):
        self.seen.append(event)


# --- the timeline --------------------------------------------------------------------


def test_a_personal_call_moves_the_last_touch(any_crm, clock):
    crm = any_crm
    c = crm.customers.add("Max Mustermann", by=crm.system)
    assert crm.customers.get(c.id, by=crm.system).last_touch_at is None
    clock.advance(days=3)
    talk = crm.interactions.record(c.id, "phone", "outbound", "check-in call: all fine", by=crm.system)
    got = crm.customers.get(c.id, by=crm.system)
    assert got.last_touch_at == clock.now() == talk.at
    assert got.last_touch_at.utcoffset() == timedelta(0)


def test_a_mass_mailing_lands_on_the_timeline_but_does_not_move_the_last_touch(any_crm, clock):
    crm = any_crm
    c = crm.customers.add("Max Mustermann", by=crm.system)
    crm.interactions.record(c.id, "visit", "inbound", "purchase and handover", by=crm.system)
    touched = clock.now()
    clock.advance(days=30)
    mailing = crm.interactions.record(c.id, "email", "outbound", "spring newsletter", personal=False, by=crm.system)
    assert crm.customers.get(c.id, by=crm.system).last_touch_at == touched
    assert [i.id for i in crm.interactions.timeline(c.id, by=crm.system)][0] == mailing.id
    assert mailing.personal is False


def test_a_call_written_down_late_does_not_move_the_last_touch_back(crm, clock, max_):
    crm.interactions.record(max_.id, "visit", "inbound", "came by for winter tyres", by=crm.system)
    latest = clock.now()
    crm.interactions.record(max_.id, "phone", "inbound", "called last week about the warranty",
                            at=clock.now() - timedelta(days=7), by=crm.system)
    assert crm.customers.get(max_.id, by=crm.system).last_touch_at == latest


def test_the_timeline_is_newest_first_and_can_be_limited(crm, clock, max_):
    for summary in ("handover", "check-in call", "question about the warranty"):
        crm.interactions.record(max_.id, "phone", "inbound", summary, by=crm.system)
        clock.advance(days=1)
    backdated = crm.interactions.record(max_.id, "post", "outbound", "thank-you letter",
                                        at=clock.now() - timedelta(days=10), by=crm.system)
    summaries = [i.summary for i in crm.interactions.timeline(max_.id, by=crm.system)]
    assert summaries == ["question about the warranty", "check-in call", "handover", "thank-you letter"]
    assert len(crm.interactions.timeline(max_.id, limit=2, by=crm.system)) == 2
    assert crm.customers.view(max_.id, by=crm.system).timeline[-1].id == backdated.id


def test_an_interaction_records_who_spoke_and_is_announced(crm, max_, sabine, register_plugin):
    events = Events()
    register_plugin(events, "events")
    talk = crm.interactions.record(max_.id, "whatsapp", "inbound", "photo of the scratch", by=sabine.id)
    assert talk.actor_id == sabine.id
    [event] = [e for e in events.seen if isinstance(e, InteractionRecorded)]
    assert (event.interaction_id, event.customer_id, event.channel, event.personal) == (
        talk.id, max_.id, "whatsapp", True)


@pytest.mark.parametrize("channel, direction, summary, field", [
    ("pigeon", "inbound", "hello", "channel"),
    ("phone", "sideways", "hello", "direction"),
    ("phone", "inbound", "  ", "summary"),
])
def test_an_interaction_with_unknown_channel_direction_or_no_summary_is_refused(crm, max_, channel, direction,
                                                                                 summary, field):
    with pytest.raises(ValidationError) as info:
        crm.interactions.record(max_.id, channel, direction, summary, by=crm.system)
    assert info.value.field == field
    assert crm.interactions.timeline(max_.id, by=crm.system) == []


def test_an_interaction_at_a_naive_time_is_refused(crm, max_):
    with pytest.raises(ValidationError, match="timezone"):
        crm.interactions.record(max_.id, "phone", "inbound", "hello", at=datetime(2026, 3, 1, 9, 0), by=crm.system)


def test_an_interaction_can_answer_a_task_of_the_same_customer_only(crm, clock, max_, home):
    task = crm.tasks.create("call Max about the roof box", clock.now() + timedelta(days=1),
                            customer_id=max_.id, assigned_party_id=home.id, by=crm.system)
    talk = crm.interactions.record(max_.id, "phone", "outbound", "offered a roof box", task_id=task.id, by=crm.system)
    assert talk.task_id == task.id
    erika = crm.customers.add("Erika Mustermann", by=crm.system)
    with pytest.raises(ValidationError, match=f"belongs to customer {max_.id}"):
        crm.interactions.record(erika.id, "phone", "outbound", "wrong task", task_id=task.id, by=crm.system)
    with pytest.raises(NotFound, match="task 999 not found"):
        crm.interactions.record(max_.id, "phone", "outbound", "no such task", task_id=999, by=crm.system)


# --- tasks ---------------------------------------------------------------------------


def test_a_task_nobody_owns_is_refused_as_a_dead_end(crm, clock, max_):
    with pytest.raises(ValidationError, match="needs an assigned party or actor"):
        crm.tasks.create("call back", clock.now() + timedelta(days=1), customer_id=max_.id, by=crm.system)
    assert crm.tasks.open(by=crm.system) == []


def test_a_task_given_to_a_salesperson_belongs_to_her_dealer_too(crm, clock, max_, sabine, home, register_plugin):
    events = Events()
    register_plugin(events, "events")
    task = crm.tasks.create("check-in call after purchase", clock.now() + timedelta(days=14),
                            customer_id=max_.id, assigned_actor_id=sabine.id, by=sabine.id)
    assert (task.assigned_actor_id, task.assigned_party_id) == (sabine.id, home.id)
    assert (task.status, task.origin) == ("open", "human")
    assert task.due_at == clock.now() + timedelta(days=14) and task.due_at.utcoffset() == timedelta(0)
    assert task.created_at == clock.now()
    [event] = [e for e in events.seen if isinstance(e, TaskCreated)]
    assert (event.task_id, event.customer_id, event.origin) == (task.id, max_.id, "human")


def test_a_task_for_an_unknown_owner_or_customer_is_not_found(crm, clock, home):
    due = clock.now() + timedelta(days=1)
    with pytest.raises(NotFound, match="actor 99 not found"):
        crm.tasks.create("call", due, assigned_actor_id=99, by=crm.system)
    with pytest.raises(NotFound, match="party 99 not found"):
        crm.tasks.create("call", due, assigned_party_id=99, by=crm.system)
    with pytest.raises(NotFound, match="customer 99 not found"):
        crm.tasks.create("call", due, customer_id=99, assigned_party_id=home.id, by=crm.system)


def test_a_task_needs_a_title_a_known_origin_and_an_aware_due_date(crm, clock, home):
    with pytest.raises(ValidationError, match="task title"):
        crm.tasks.create(" ", clock.now(), assigned_party_id=home.id, by=crm.system)
    with pytest.raises(ValidationError, match="invalid origin 'whim'"):
        crm.tasks.create("call", clock.now(), assigned_party_id=home.id, origin="whim", by=crm.system)
    with pytest.raises(ValidationError, match="invalid due_at .*timezone"):
        crm.tasks.create("call", datetime(2026, 3, 3, 9, 0), assigned_party_id=home.id, by=crm.system)


def test_completing_a_task_closes_it_with_a_time_and_a_note(crm, clock, max_, sabine, register_plugin):
    events = Events()
    register_plugin(events, "events")
    task = crm.tasks.create("bring a bottle of wine on his birthday", clock.now() + timedelta(days=2),
                            customer_id=max_.id, assigned_actor_id=sabine.id, note="he likes Riesling", by=crm.system)
    clock.advance(days=2)
    done = crm.tasks.complete(task.id, note="delivered, he was delighted", by=sabine.id)
    assert (done.status, done.completed_at) == ("done", clock.now())
    assert done.note == "he likes Riesling\ndelivered, he was delighted"
    assert crm.tasks.open(customer_id=max_.id, by=crm.system) == []
    assert [e.task_id for e in events.seen if isinstance(e, TaskCompleted)] == [task.id]


def test_a_task_cannot_be_completed_twice(crm, clock, home):
    task = crm.tasks.create("call", clock.now(), assigned_party_id=home.id, by=crm.system)
    crm.tasks.complete(task.id, by=crm.system)
    with pytest.raises(ValidationError, match="is done, only open tasks can be completed"):
        crm.tasks.complete(task.id, by=crm.system)
    with pytest.raises(NotFound, match="task 999 not found"):
        crm.tasks.complete(999, by=crm.system)


def test_open_tasks_are_listed_soonest_first_and_can_be_filtered(crm, clock, max_, sabine, home):
    other = crm.parties.add("dealer", "Autohaus Berg", by=crm.system)
    erika = crm.customers.add("Erika Mustermann", by=crm.system)
    now = clock.now()
    later = crm.tasks.create("invite to the summer party", now + timedelta(days=20), customer_id=max_.id,
                             assigned_actor_id=sabine.id, by=crm.system)
    soon = crm.tasks.create("check-in call", now + timedelta(days=2), customer_id=erika.id,
                            assigned_party_id=home.id, by=crm.system)
    theirs = crm.tasks.create("their task", now + timedelta(days=1), assigned_party_id=other.id, by=crm.system)
    finished = crm.tasks.create("done already", now, customer_id=max_.id, assigned_actor_id=sabine.id, by=crm.system)
    crm.tasks.complete(finished.id, by=crm.system)
    assert [t.id for t in crm.tasks.open(by=crm.system)] == [theirs.id, soon.id, later.id]
    assert [t.id for t in crm.tasks.open(assigned_actor_id=sabine.id, by=crm.system)] == [later.id]
    assert [t.id for t in crm.tasks.open(assigned_party_id=home.id, by=crm.system)] == [soon.id, later.id]
    assert [t.id for t in crm.tasks.open(customer_id=max_.id, by=crm.system)] == [later.id]
    assert [t.id for t in crm.tasks.open(limit=1, by=crm.system)] == [theirs.id]
    assert [t.id for t in crm.customers.view(max_.id, by=crm.system).open_tasks] == [later.id]
