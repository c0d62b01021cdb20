"""Issue #14, finding 3: a party's failed subscription deliveries became the home dealer's tasks.

The manufacturer's own system stops accepting deliveries. Before, every delivery that
finally failed became a task for the home dealer — a party with nothing to do with the
manufacturer's endpoint — whose note held the manufacturer's URL and the case event
(ids, states, who handed over to whom); the manufacturer was never told, and any party
could fill the home dealer's task list by subscribing a dead URL. Now the subscriber's
own party is told, once per subscription while that task is open, and the task names
nothing but its own subscription, endpoint and error.
"""

from __future__ import annotations

import pytest
from api_world import forwarded
from http_servers import Answer, running
from sqlalchemy import select

from dealercrm.db.models import Task

ALLOW_LOOPBACK = {"http_subscriptions": {"allow_internal_targets": True}}  # the receivers listen on 127.0.0.1


def tasks(world) -> list[Task]:
    with world.crm.read(world.crm.system) as uow:
        return list(uow.session.scalars(select(Task).order_by(Task.id)))


@pytest.fixture
def gone(inbound_api):
    """(api, world, receiver, subscription): Brioche's system answers every delivery 410 Gone."""
    api, world = inbound_api(plugins=ALLOW_LOOPBACK)
    with running() as brioche:
        brioche.reply = lambda request: Answer(410, {"error": {"message": "endpoint retired"}})
        answer = api.post("/subscriptions", headers=api.as_("warranty"),
                          json={"url": f"{brioche.url}/events", "kinds": ["case_handed_over"]})
        assert answer.status_code == 201
        yield api, world, brioche, answer.json()


def test_the_subscriber_is_told_of_its_failed_deliveries_and_nobody_else(gone):
    api, world, brioche, sub = gone
    before = tasks(world)
    forwarded(world)
    report = world.crm.outbox.dispatch()
    assert report.failed == 1 and len(brioche.received) == 1
    [task] = [t for t in tasks(world) if t not in before]
    assert task.assigned_party_id == world.manufacturer.id  # not the home dealer, not Elektro Schmidt
    assert task.customer_id is None and task.case_id is None
    assert f"subscription {sub['id']} to {brioche.url}" in task.title
    assert "HTTP 410: endpoint retired" in task.note
    # the manufacturer finds it with its own key; the dealer does not
    assert [t["id"] for t in api.get("/tasks", headers=api.as_("warranty")).json()["items"]] == [task.id]
    assert task.id not in [t["id"] for t in api.get("/tasks", headers=api.as_("service")).json()["items"]]


def test_the_task_names_nothing_of_the_case_event_or_other_parties(gone):
    api, world, brioche, sub = gone
    forwarded(world)
    world.crm.outbox.dispatch()
    [task] = [t for t in tasks(world) if t.assigned_party_id == world.manufacturer.id]
    [sent] = brioche.received
    event = sent.json["body"]  # what the delivery carried: the case event as JSON text
    text = f"{task.title}\n{task.note}"
    assert event not in text and "to_party_id" not in text and "manufacturer_review" not in text
    for other in ("Elektro Schmidt", "Jonas Weber", "Our Dealership", "erika"):
        assert other not in text


def test_a_dead_endpoint_makes_one_task_not_a_flood(gone):
    api, world, brioche, sub = gone
    before = tasks(world)
    for _ in range(5):
        forwarded(world)
    assert world.crm.outbox.dispatch().failed == 5
    new = [t for t in tasks(world) if t not in before]
    assert [(t.assigned_party_id, t.status) for t in new] == [(world.manufacturer.id, "open")]  # none for the home dealer

    # once a person dealt with it, the next failure is news again
    assert api.post(f"/tasks/{new[0].id}/complete", headers=api.as_("warranty")).status_code == 200
    forwarded(world)
    assert world.crm.outbox.dispatch().failed == 1
    again = [t for t in tasks(world) if t not in before and t.id != new[0].id]
    assert [(t.assigned_party_id, t.status) for t in again] == [(world.manufacturer.id, "open")]


def test_each_subscription_has_its_own_task(gone):
    api, world, brioche, sub = gone
    with running() as dms:
        dms.reply = lambda request: Answer(404, {"message": "no such hook"})
        mine = api.post("/subscriptions", headers=api.as_("service"),
                        json={"url": f"{dms.url}/hook", "kinds": ["case_handed_over"]}).json()
        before = tasks(world)
        forwarded(world)
        forwarded(world)
        assert world.crm.outbox.dispatch().failed == 4
    new = {(t.assigned_party_id, t.title) for t in tasks(world) if t not in before}
    assert new == {(world.manufacturer.id, f"subscription {sub['id']} to {brioche.url}: a delivery could not be made"),
                   (world.dealer.id, f"subscription {mine['id']} to {dms.url}: a delivery could not be made")}
