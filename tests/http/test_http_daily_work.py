"""The day's work over HTTP: the desk's tasks by assignee and due time, a customer's cases and
where they went, and duplicate suspects with the merge that settles them."""

from __future__ import annotations

from datetime import timedelta

from zoneinfo import ZoneInfo

import pytest
from api_world import forwarded

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def tasks(world, clock):
    crm, now = world.crm, clock.now()

    def add(title, hours, **kw):
        return crm.tasks.create(title, now + timedelta(hours=hours), by=crm.system, **kw).id

    return dict(jonas=add("call Erika back", -1, assigned_actor_id=world.service.id),
                desk=add("order the drum seal", 2, assigned_party_id=world.dealer.id),
                petra=add("review the price list", 30, assigned_actor_id=world.manager.id),
                ole=add("bring the spare part", 3, assigned_actor_id=world.fitter.id))


def ids(answer) -> list[int]:
    assert answer.status_code == 200, answer.text
    return [t["id"] for t in answer.json()["items"]]


def test_the_desk_asks_for_its_own_its_colleagues_and_whats_due(api, world, tasks, clock):
    me = api.as_("service")
    soon = (clock.now() + timedelta(hours=2, minutes=30)).astimezone(BERLIN).isoformat()
    assert ids(api.get("/tasks?assigned_to=me", headers=me)) == [tasks["jonas"], tasks["desk"]]
    assert ids(api.get(f"/tasks?assigned_to={world.manager.id}", headers=me)) == [tasks["petra"]]
    assert ids(api.get("/tasks?due=overdue", headers=me)) == [tasks["jonas"]]
    assert ids(api.get("/tasks?due=today", headers=me)) == [tasks["jonas"], tasks["desk"]]  # 10:00 in Berlin
    assert ids(api.get("/tasks", params={"due_before": soon}, headers=me)) == [tasks["jonas"], tasks["desk"]]
    assert ids(api.get("/tasks?assigned_to=me", headers=api.as_("fitter"))) == [tasks["ole"]]


@pytest.mark.parametrize("query,field", [("assigned_to=someone", "assigned_to"), ("assigned_to=0", "assigned_to"),
                                         ("due_before=2026-01-02T10:00:00", "due_before"),
                                         ("due=tomorrow", "due"), ("status=later", "status")])
def test_a_query_that_cannot_be_read_is_a_422_naming_it(api, query, field):
    answer = api.get(f"/tasks?{query}", headers=api.as_("service"))
    assert answer.status_code == 422 and field in answer.text


def test_another_partys_person_does_not_exist_for_the_desk(api, world, tasks):
    answer = api.get(f"/tasks?assigned_to={world.fitter.id}", headers=api.as_("service"))
    assert answer.status_code == 404


def test_a_task_is_snoozed_into_the_future_only(api, world, tasks, clock):
    me = api.as_("service")
    later = (clock.now() + timedelta(days=1)).isoformat()
    answer = api.post(f"/tasks/{tasks['jonas']}/snooze", headers=me, json={"until": later})
    assert answer.status_code == 200 and answer.json()["due_at"].startswith(later[:16])
    assert ids(api.get("/tasks?due=overdue", headers=me)) == []
    past = api.post(f"/tasks/{tasks['desk']}/snooze", headers=me, json={"until": "2025-01-01T08:00:00+01:00"})
    assert past.status_code == 422 and "future" in past.text


def test_the_customers_file_lists_the_cases_and_the_timeline_where_they_went(api, world):
    case_id = forwarded(world)
    me = api.as_("service")
    view = api.get(f"/customers/{world.customer.id}", headers=me).json()
    assert [c["id"] for c in view["cases"]] == [case_id]
    timeline = api.get(f"/customers/{world.customer.id}/timeline", headers=me).json()["items"]
    handed = [e for e in timeline if e["kind"] == "hand_off"]
    assert [(e["state"], e["owner_kind"], e["case_id"]) for e in handed] == [
        ("manufacturer_review", "manufacturer", case_id), ("reported", "dealer", case_id)]
    assert handed[0]["owner_party_id"] == world.manufacturer.id and handed[0]["due_at"].endswith("Z")
    assert [e["kind"] for e in view["timeline"]] == [e["kind"] for e in timeline]


def test_duplicate_suspects_come_with_the_merge_that_settles_them(api, world):
    crm = world.crm
    copy = crm.customers.add("Musterfrau, Erika", owner_party_id=world.dealer.id, by=crm.system)
    for customer_id in (world.customer.id, copy.id):
        crm.customers.update(customer_id, postcode="20095", by=crm.system)
    crm.customers.add("Erika Musterfrau", postcode="20095", owner_party_id=world.other_dealer.id, by=crm.system)

    answer = api.get("/customers/duplicates", headers=api.as_("service"))
    assert answer.status_code == 200
    [suspect] = answer.json()["items"]
    assert (suspect["keep_id"], suspect["duplicate_id"]) == (world.customer.id, copy.id)
    assert suspect["reasons"] == ["same postcode 20095", "names 100% alike"] and suspect["score"] == 70
    merge = suspect["merge"]
    assert merge == {"method": "POST", "href": f"/customers/{world.customer.id}/merge",
                     "body": {"duplicate_id": copy.id}}
    assert api.request(merge["method"], merge["href"], json=merge["body"],
                       headers=api.as_("service")).status_code == 403  # the desk finds, the manager merges
    assert api.request(merge["method"], merge["href"], json=merge["body"],
                       headers=api.as_("manager")).status_code == 200
    assert api.get("/customers/duplicates", headers=api.as_("service")).json()["items"] == []
    assert api.get("/customers/duplicates", headers=api.as_("other_dealer")).json()["items"] == []


@pytest.mark.parametrize("query", ["min_score=101", "limit=0", "customer_id=0", "offset=-1"])
def test_duplicate_paging_out_of_bounds_is_a_422(api, query):
    assert api.get(f"/customers/duplicates?{query}", headers=api.as_("service")).status_code == 422


def test_the_new_queries_are_documented(api):
    doc = api.get("/openapi.json").json()
    tasks = {p["name"] for p in doc["paths"]["/tasks"]["get"]["parameters"]}
    assert {"assigned_to", "due_before", "due", "status"} <= tasks
    duplicates = doc["paths"]["/customers/duplicates"]["get"]
    assert {p["name"] for p in duplicates["parameters"]} >= {"customer_id", "min_score", "limit", "offset"}
    assert "/tasks/{task_id}/snooze" in doc["paths"]
