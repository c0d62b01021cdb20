"""Service levels and the promise over HTTP: every case body says on which level the case runs
and by when it is resolved at the latest; the dealer changes the priority, gives a unit or a
customer a service contract, and the open cases follow."""

from __future__ import annotations

from datetime import datetime

from api_world import forwarded


def test_every_case_body_carries_its_level_and_its_promise(api, world):
    opened = api.post("/cases", headers=api.as_("service"),
                      json={"customer_id": world.customer.id, "summary": "water on the floor",
                            "asset_id": world.machine.id, "priority": "urgent"})
    assert opened.status_code == 201, opened.text
    body = opened.json()
    promised = world.crm.cases.promise(body["id"], by=world.crm.system)
    assert (body["priority"], body["service_level"]) == ("urgent", "urgent")
    assert datetime.fromisoformat(body["resolved_by"]) == promised.resolved_by  # offset-aware
    assert api.get(f"/cases/{body['id']}", headers=api.as_("service")).json()["resolved_by"] == body["resolved_by"]
    [listed] = [c for c in api.get("/cases", headers=api.as_("service")).json()["items"] if c["id"] == body["id"]]
    assert listed["resolved_by"] == body["resolved_by"]


def test_the_dealer_raises_the_priority_with_if_match_and_the_level_follows(api, world):
    case_id = forwarded(world)
    shown = api.get(f"/cases/{case_id}", headers=api.as_("service"))
    tag = shown.headers["etag"]
    raised = api.patch(f"/cases/{case_id}", headers=api.as_("service", **{"If-Match": tag}),
                       json={"priority": "urgent", "note": "no washing for a family of five"})
    assert raised.status_code == 200, raised.text
    assert (raised.json()["priority"], raised.json()["service_level"]) == ("urgent", "urgent")
    assert raised.json()["due_at"] < shown.json()["due_at"]
    assert raised.json()["resolved_by"] < shown.json()["resolved_by"]
    assert raised.headers["etag"] != tag
    stale = api.patch(f"/cases/{case_id}", headers=api.as_("service", **{"If-Match": tag}), json={"priority": "low"})
    assert stale.status_code == 412
    assert api.patch(f"/cases/{case_id}", headers=api.as_("warranty"), json={"priority": "low"}).status_code == 403
    assert api.patch(f"/cases/{case_id}", headers=api.as_("other_dealer"), json={"priority": "low"}).status_code == 404
    assert api.patch(f"/cases/{case_id}", headers=api.as_("service"), json={"priority": "asap"}).status_code == 422
    kinds = [e["kind"] for e in api.get(f"/cases/{case_id}/history", headers=api.as_("service")).json()]
    assert kinds[-1] == "level"


def test_a_unit_gets_a_service_contract_and_its_open_case_the_premium_level(api, world):
    case_id = forwarded(world)
    path = f"/customers/{world.customer.id}/assets/{world.machine.id}"
    refused = api.patch(path, headers=api.as_("service"), json={"service_contract": "gold"})
    assert refused.status_code == 422 and "contracts: premium" in refused.json()["detail"]
    given = api.patch(path, headers=api.as_("service"), json={"service_contract": "premium"})
    assert given.status_code == 200, given.text
    assert given.json()["service_contract"] == "premium"
    assert api.get(f"/cases/{case_id}", headers=api.as_("service")).json()["service_level"] == "premium"
    assert api.patch(path, headers=api.as_("other_dealer"), json={"service_contract": None}).status_code == 404
    elsewhere = f"/customers/{world.customer.id + 1000}/assets/{world.machine.id}"
    assert api.patch(elsewhere, headers=api.as_("service"), json={"service_contract": None}).status_code == 404
    ended = api.patch(path, headers=api.as_("service"), json={"service_contract": None})
    assert ended.json()["service_contract"] is None
    assert api.get(f"/cases/{case_id}", headers=api.as_("service")).json()["service_level"] == "standard"


def test_a_customers_contract_is_a_field_of_her_file(api, world):
    changed = api.patch(f"/customers/{world.customer.id}", headers=api.as_("service"),
                        json={"service_contract": "premium"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["service_contract"] == "premium"
    opened = api.post("/cases", headers=api.as_("service"), json={"customer_id": world.customer.id,
                                                                   "summary": "the dryer"})
    assert opened.json()["service_level"] == "premium"


def test_the_workflow_definition_lists_its_levels_with_their_promise(api):
    definition = api.get("/workflows/service_case", headers=api.as_("warranty")).json()
    levels = {level["name"]: level for level in definition["levels"]}
    assert list(levels) == ["standard", "urgent", "premium", "essential"]
    assert levels["standard"]["resolved_within"] == "22h working time (2 working days of 9h + 4h)"
    assert levels["premium"]["contracts"] == ["premium"]
    assert levels["premium"]["deadlines"]["manufacturer_review"] == {
        "seconds": 9 * 3600, "business_time": True, "text": "due within 9h working time"}
    assert levels["essential"]["categories"] == ["freezer", "heating", "refrigerator"]
