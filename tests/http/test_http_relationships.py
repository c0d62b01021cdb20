"""Relationships over HTTP (issue 17): calls and tasks naming the contact person, the map,
the hand-over when someone leaves, the single-threaded accounts report.

Elektro Schmidt keeps the file of Hotel Seeblick GmbH (a company: their buyer and their
house technician); Jonas (``service``) visits their technician, the manager reads the map
and lets a leaver go. Brioche's warranty desk and the technician serve Erika's case and
see her minimised; they do not see anyone's relationships.
"""

from __future__ import annotations

from api_world import assigned


def hotel(api, world):
    me = api.as_("manager")
    company = api.post("/customers", headers=me, json={"name": "Hotel Seeblick GmbH", "kind": "company"}).json()
    buyer = api.post(f"/customers/{company['id']}/contacts", headers=me, json={
        "name": "Bernd Bauer", "function": "buyer", "email": "bauer@seeblick.example", "phone": "040 5550123"}).json()
    tech = api.post(f"/customers/{company['id']}/contacts", headers=me, json={
        "name": "Petra Koch", "function": "technician"}).json()
    return company["id"], buyer["id"], tech["id"]


def test_a_visit_names_their_technician_and_the_map_shows_who_knows_whom(api, world):
    cid, buyer, tech = hotel(api, world)
    talk = api.post(f"/customers/{cid}/interactions", headers=api.as_("service"), json={
        "channel": "visit", "direction": "outbound", "summary": "maintenance walk-through", "contact_person_id": tech})
    assert talk.status_code == 201 and talk.json()["contact_person_id"] == tech
    task = api.post("/tasks", headers=api.as_("service"), json={
        "title": "send Petra the spare-parts list", "due_at": "2026-03-04T10:00:00+01:00", "customer_id": cid,
        "contact_person_id": tech})
    assert task.status_code == 201 and task.json()["contact_person_id"] == tech

    answer = api.get(f"/customers/{cid}/relationships", headers=api.as_("manager"))
    assert answer.status_code == 200, answer.text
    m = answer.json()
    assert [(t["actor_id"], t["contact_id"], t["channel"], t["touches_12_months"]) for t in m["threads"]] == [
        (world.service.id, tech, "visit", 1)]
    assert m["single_threaded"] == "both" and m["their_functions_in_window"] == ["technician"]
    levels = {level["level"]: level for level in m["levels"]}
    assert levels["service"]["state"] == "kept" and levels["service"]["met"] == [[world.service.id, tech]]
    # minimised: the map names their people and functions, never their addresses
    assert {c["name"] for c in m["contacts"]} == {"Bernd Bauer", "Petra Koch"}
    assert "bauer@seeblick.example" not in answer.text and "5550123" not in answer.text
    view = api.get(f"/customers/{cid}", headers=api.as_("service")).json()
    assert view["relationships"] == m and view["timeline"][0]["contact_person_id"] == tech


def test_nobody_else_sees_the_map_and_a_case_party_gets_the_view_without_it(api, world):
    cid, buyer, _ = hotel(api, world)
    for who in ("other_dealer", "other_maker", "warranty", "fitter"):
        assert api.get(f"/customers/{cid}/relationships", headers=api.as_(who)).status_code == 404
    case_id = assigned(world)  # Erika's case: dealer, manufacturer and technician serve it
    erika = world.customer.id
    for who in ("warranty", "fitter"):
        assert api.get(f"/customers/{erika}/relationships", headers=api.as_(who)).status_code == 403
        view = api.get(f"/customers/{erika}", headers=api.as_(who)).json()
        assert view["visibility"] == "case" and view["relationships"] is None
    # a contact person of another file is not found, and nothing is written
    other = api.post("/customers", headers=api.as_("manager"), json={"name": "Pension Ufer", "kind": "company"}).json()["id"]
    refused = api.post(f"/customers/{other}/interactions", headers=api.as_("service"), json={
        "channel": "phone", "direction": "outbound", "summary": "x", "contact_person_id": buyer})
    assert refused.status_code == 404 and refused.json()["status"] == 404
    assert api.get(f"/customers/{other}/timeline", headers=api.as_("service")).json()["items"] == []
    assert case_id


def test_the_manager_lets_a_salesman_go_and_hands_his_accounts_to_a_colleague(api, world):
    crm = world.crm
    cid, buyer, _ = hotel(api, world)
    lars = crm.parties.add_actor(world.dealer.id, "Lars Abgang", "sales", by=crm.system)
    crm.customers.reassign(cid, lars.id, by=crm.system)
    crm.interactions.record(cid, "phone", "outbound", "order", contact_person_id=buyer, by=lars.id)
    path = f"/parties/{world.dealer.id}/actors/{lars.id}/deactivate"

    assert api.post(path, headers=api.as_("service"), json={"handover_to": world.service.id}).status_code == 403
    bad = api.post(path, headers=api.as_("manager"), json={"handover_to": world.other_dealer_service.id})
    assert bad.status_code == 422 and "handover_to" in bad.text
    assert api.post(f"/parties/{world.manufacturer.id}/actors/{lars.id}/deactivate", headers=api.as_("manager"),
                    json={}).status_code == 404  # not a person of that party
    done = api.post(path, headers=api.as_("manager"), json={"handover_to": world.service.id})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["successor_id"] == world.service.id and [a["customer_id"] for a in body["accounts"]] == [cid]
    [account] = body["accounts"]
    assert account["account_owner"] and account["only_relationship"]
    assert [i["name"] for i in account["introduce"]] == ["Bernd Bauer"]
    task = api.get(f"/tasks/{account['task_id']}", headers=api.as_("service")).json()
    assert task["assigned_actor_id"] == world.service.id and task["contact_person_id"] == buyer
    assert api.get(f"/customers/{cid}/relationships", headers=api.as_("manager")).json()["account_owner_id"] == \
        world.service.id
    people = api.get(f"/parties/{world.dealer.id}/actors?active=false", headers=api.as_("manager")).json()["items"]
    assert [p["id"] for p in people] == [lars.id]


def test_the_single_threaded_accounts_report_is_a_dealers_own(api, world, clock):
    cid, _, tech = hotel(api, world)
    visit = {"channel": "visit", "direction": "outbound", "summary": "walk-through", "contact_person_id": tech}
    api.post(f"/customers/{cid}/interactions", headers=api.as_("service"), json=visit)
    clock.advance(days=91)
    api.post(f"/customers/{cid}/interactions", headers=api.as_("service"), json=visit)
    for who in ("warranty", "fitter"):
        assert api.get("/reports/single_threaded", headers=api.as_(who)).status_code == 403
    answer = api.get("/reports/single_threaded", headers=api.as_("manager"))
    assert answer.status_code == 200
    [row] = answer.json()["rows"]
    assert (row["customer_id"], row["thread"], row["single"]) == (cid, "Jonas Weber (service) ↔ technician", "both")
    assert api.get("/reports/single_threaded", headers=api.as_("other_dealer")).json()["rows"] == []
