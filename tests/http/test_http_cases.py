"""Cases over HTTP: the washing machine's way from the dealer to the technician and back,
with ETag/If-Match guarding every decision against a lost update, and paged lists."""

from __future__ import annotations

from datetime import timedelta

from api_world import forwarded

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


def open_case(api, world, who="service", **extra):
    body = {"customer_id": world.customer.id, "summary": "washes badly", "asset_id": world.machine.id, **extra}
    answer = api.post("/cases", headers=api.as_(who), json=body)
    assert answer.status_code == 201, answer.text
    return answer


def fire(api, case_id, trigger, who="service", if_match=None, **data):
    headers = api.as_(who, **({"If-Match": if_match} if if_match is not None else {}))
    return api.post(f"/cases/{case_id}/transitions", headers=headers, json={"trigger": trigger, "data": data})


def test_the_washing_machine_story_over_http(api, world):
    opened = open_case(api, world)
    case_id = opened.json()["id"]
    assert opened.headers["location"] == f"/cases/{case_id}" and opened.headers["etag"] == '"1"'
    assert fire(api, case_id, "start_diagnosis", if_match='"1"').json()["version"] == 2
    handed = fire(api, case_id, "forward_to_manufacturer", if_match='"2"')
    assert handed.json()["owner_party_id"] == world.manufacturer.id and handed.headers["etag"] == '"3"'
    allowed = api.get(f"/cases/{case_id}/allowed-triggers", headers=api.as_("warranty")).json()
    assert allowed["triggers"] == ["approve_replacement", "approve_visit", "reject"] and allowed["version"] == 3
    fire(api, case_id, "approve_visit", "warranty", technician_party_id=world.technician.id)
    visit = (world.crm.clock.now() + timedelta(days=1)).isoformat()
    assert fire(api, case_id, "schedule_visit", "fitter", visit_at=visit).status_code == 200
    assert fire(api, case_id, "report_fixed", "fitter").json()["dest"] == "awaiting_confirmation"
    assert fire(api, case_id, "confirm", "service").json()["dest"] == "closed"
    history = api.get(f"/cases/{case_id}/history", headers=api.as_("service")).json()
    assert [e["to_state"] for e in history] == ["reported", "dealer_diagnosis", "manufacturer_review",
                                                "technician_dispatch", "visit_scheduled", "awaiting_confirmation",
                                                "closed"]
    assert [e["actor_id"] for e in history[1:]] == [world.service.id, world.service.id, world.warranty_desk.id,
                                                    world.fitter.id, world.fitter.id, world.service.id]


def test_a_stale_if_match_is_412_and_changes_nothing(api, world):
    case_id = open_case(api, world).json()["id"]
    fire(api, case_id, "start_diagnosis")
    before = world.snapshot(case_id)
    answer = fire(api, case_id, "forward_to_manufacturer", if_match='"1"')
    assert answer.status_code == 412
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "urn:dealercrm:problem:precondition-failed" and "now 2" in answer.json()["detail"]
    assert world.snapshot(case_id) == before


def test_two_clients_deciding_on_the_same_version_one_wins_the_other_gets_412(api, world):
    case_id = open_case(api, world).json()["id"]
    tag = api.get(f"/cases/{case_id}", headers=api.as_("service")).headers["etag"]
    first = fire(api, case_id, "start_diagnosis", if_match=tag)
    second = fire(api, case_id, "withdraw", if_match=tag, reason="customer changed his mind")
    assert (first.status_code, second.status_code) == (200, 412)
    assert world.crm.cases.get(case_id, by=world.crm.system).state == "dealer_diagnosis"


def test_if_match_star_and_no_if_match_fire_unconditionally_but_a_malformed_one_cannot_match(api, world):
    case_id = open_case(api, world).json()["id"]
    assert fire(api, case_id, "start_diagnosis", if_match="*").status_code == 200
    assert fire(api, case_id, "forward_to_manufacturer", if_match='W/"2"').status_code == 412
    assert fire(api, case_id, "forward_to_manufacturer", if_match="2").status_code == 412
    assert fire(api, case_id, "forward_to_manufacturer").status_code == 200


def test_if_none_match_with_the_current_etag_is_304(api, world):
    case_id = open_case(api, world).json()["id"]
    assert api.get(f"/cases/{case_id}", headers=api.as_("service", **{"If-None-Match": '"1"'})).status_code == 304
    fire(api, case_id, "start_diagnosis")
    fresh = api.get(f"/cases/{case_id}", headers=api.as_("service", **{"If-None-Match": '"1"'}))
    assert fresh.status_code == 200 and fresh.headers["etag"] == '"2"'


def test_an_invalid_transition_is_409_with_the_triggers_the_caller_may_fire(api, world):
    case_id = open_case(api, world).json()["id"]
    answer = fire(api, case_id, "report_fixed")
    assert answer.status_code == 409
    problem = answer.json()
    assert set(problem) == PROBLEM_KEYS | {"allowed"}
    assert problem["type"] == "urn:dealercrm:problem:transition-not-allowed"
    assert problem["allowed"] == ["start_diagnosis", "withdraw"]


def test_missing_transition_data_is_409_naming_the_field(api, world):
    """What a transition needs depends on the case's workflow and state, not on the request's shape."""
    case_id = open_case(api, world).json()["id"]
    answer = fire(api, case_id, "withdraw")
    assert answer.status_code == 409 and answer.json()["field"] == "reason"
    assert answer.json()["type"] == "urn:dealercrm:problem:state-conflict"


def test_the_case_list_pages_and_filters(api, world):
    ids = [open_case(api, world).json()["id"] for _ in range(5)]
    fire(api, ids[0], "start_diagnosis")
    fire(api, ids[0], "forward_to_manufacturer")
    fire(api, ids[1], "withdraw", reason="resolved on the phone")
    first = api.get("/cases?limit=2&sort=id", headers=api.as_("service")).json()
    second = api.get(f"/cases?limit=2&sort=id&offset={first['next_offset']}", headers=api.as_("service")).json()
    assert [c["id"] for c in first["items"] + second["items"]] == [ids[0], *ids[2:5]]
    assert second["next_offset"] is None
    everything = api.get("/cases?open=false&sort=-id&limit=200", headers=api.as_("service")).json()["items"]
    assert [c["id"] for c in everything] == ids[::-1]
    held = api.get("/cases?held=true&sort=id", headers=api.as_("service")).json()["items"]
    assert [c["id"] for c in held] == ids[2:5]
    by_state = api.get("/cases?state=manufacturer_review", headers=api.as_("warranty")).json()["items"]
    assert [c["id"] for c in by_state] == [ids[0]]
    world.crm.clock.advance(hours=5)  # past the 4 h of 'reported', inside the manufacturer's 2 days
    overdue = api.get("/cases?overdue=true&sort=id", headers=api.as_("service")).json()["items"]
    assert [c["id"] for c in overdue] == ids[2:5]


def test_list_parameters_out_of_range_are_422(api):
    for query in ("limit=0", "limit=201", "offset=-1", "sort=sideways", "customer_id=0"):
        answer = api.get(f"/cases?{query}", headers=api.as_("service"))
        assert answer.status_code == 422, query
        assert answer.json()["field"] in query


def test_a_case_is_opened_only_by_the_customers_dealer(api, world):
    forwarded(world)
    answer = api.post("/cases", headers=api.as_("warranty"), json={"customer_id": world.customer.id,
                                                                   "summary": "I will take it from here"})
    assert answer.status_code == 403
