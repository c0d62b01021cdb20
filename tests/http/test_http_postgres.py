"""The HTTP API on PostgreSQL: the same answers, and concurrency without SQLite's single writer."""

from __future__ import annotations

import threading

import pytest
from api_world import WEBHOOK_SECRET, Api, issue_keys
from case_world import build_world

from dealercrm import connect
from dealercrm.db.case_models import Case, CaseEvent
from dealercrm.http import create_app
from dealercrm.settings import Settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def world(postgres_url, clock):
    crm = connect(postgres_url, clock=clock,
                  settings=Settings(plugins={"channel_webhook": {"secret": WEBHOOK_SECRET}}))
    crm.parties.add("dealer", crm.settings.home_dealer)
    w = build_world(crm)
    yield w
    crm.close()


@pytest.fixture
def api(world):
    client = Api(create_app(world.crm))
    client.keys = issue_keys(world)
    with client:
        yield client


def test_the_story_and_its_refusals_on_postgresql(api, world):
    opened = api.post("/cases", headers=api.as_("service"), json={
        "customer_id": world.customer.id, "summary": "washes badly", "asset_id": world.machine.id})
    case_id = opened.json()["id"]
    assert api.get(f"/cases/{case_id}", headers=api.as_("warranty")).status_code == 404
    for trigger, version in (("start_diagnosis", 1), ("forward_to_manufacturer", 2)):
        answer = api.post(f"/cases/{case_id}/transitions", headers=api.as_("service", **{"If-Match": f'"{version}"'}),
                          json={"trigger": trigger})
        assert answer.status_code == 200, answer.text
    stale = api.post(f"/cases/{case_id}/transitions", headers=api.as_("warranty", **{"If-Match": '"2"'}),
                     json={"trigger": "approve_visit", "data": {"technician_party_id": world.technician.id}})
    assert stale.status_code == 412
    view = api.get(f"/customers/{world.customer.id}", headers=api.as_("warranty")).json()
    assert view["visibility"] == "case" and "email" not in view["customer"]


def test_concurrent_fires_on_one_version_make_one_transition_on_postgresql(api, world):
    case_id = world.open_case().id
    answers: list[int] = []

    def fire(trigger, data):
        answer = api.post(f"/cases/{case_id}/transitions", headers=api.as_("service", **{"If-Match": '"1"'}),
                          json={"trigger": trigger, "data": data})
        answers.append(answer.status_code)

    threads = [threading.Thread(target=fire, args=("start_diagnosis", {})),
               threading.Thread(target=fire, args=("withdraw", {"reason": "changed his mind"}))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 412]
    assert world.count(CaseEvent, CaseEvent.case_id == case_id) == 2  # opened + the one that won


def test_concurrent_requests_with_one_idempotency_key_open_one_case_on_postgresql(api, world):
    answers: list[tuple[int, dict]] = []

    def open_case():
        answer = api.post("/cases", headers=api.as_("service", **{"Idempotency-Key": "same"}),
                          json={"customer_id": world.customer.id, "summary": "washes badly"})
        answers.append((answer.status_code, answer.json()))

    threads = [threading.Thread(target=open_case) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert world.count(Case) == 1
    statuses = sorted(status for status, _ in answers)
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}
    assert len({body["id"] for status, body in answers if status == 201}) == 1
