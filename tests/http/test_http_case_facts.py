"""Facts on a case over HTTP: what a guard consults, written down by a party of the case.

The technician may not book a visit past the service deadline unless the customer
agreed; that agreement is a fact (``customer_agreed_late_slot``) the dealer records
when Erika says yes on the phone. Like firing, recording a fact moves the case to a new
version: the answer carries its ETag, and ``If-Match`` guards against a stale decision.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from api_world import assigned, forwarded

from dealercrm.db.case_models import CaseEvent


def fact(api, who, case_id, headers=None, **body):
    return api.post(f"/cases/{case_id}/facts", headers=api.as_(who, **(headers or {})),
                    json={"key": "customer_agreed_late_slot", "value": True, **body})


def test_the_customers_agreement_recorded_over_http_lets_the_technician_book_a_late_slot(api, world):
    case_id = assigned(world)
    due = world.crm.cases.get(case_id, by=world.crm.system).due_at
    late = {"trigger": "schedule_visit", "data": {"visit_at": (due + timedelta(days=21)).isoformat()}}
    refused = api.post(f"/cases/{case_id}/transitions", headers=api.as_("fitter"), json=late)
    assert refused.status_code == 409 and "customer's recorded agreement" in refused.json()["detail"]

    recorded = fact(api, "service", case_id, note="Frau Musterfrau agreed on the phone")
    assert recorded.status_code == 200, recorded.text
    case = recorded.json()
    assert case["facts"] == {"customer_agreed_late_slot": True} and case["state"] == "technician_dispatch"
    assert recorded.headers["etag"] == f'"{case["version"]}"'
    assert api.get(f"/cases/{case_id}", headers=api.as_("fitter")).headers["etag"] == recorded.headers["etag"]
    last = api.get(f"/cases/{case_id}/history", headers=api.as_("fitter")).json()[-1]
    assert (last["kind"], last["actor_id"], last["data"], last["note"]) == (
        "fact", world.service.id, {"customer_agreed_late_slot": True}, "Frau Musterfrau agreed on the phone")

    booked = api.post(f"/cases/{case_id}/transitions", headers=api.as_("fitter"), json=late)
    assert booked.status_code == 200 and booked.json()["dest"] == "visit_scheduled"


@pytest.mark.parametrize("who", ["service", "warranty", "fitter"])
def test_every_party_of_the_case_records_facts(api, world, who):
    case_id = assigned(world)
    answer = fact(api, who, case_id, key="slot_offered", value={"at": "2026-03-04T10:00:00+01:00"})
    assert answer.status_code == 200, answer.text
    assert world.crm.cases.get(case_id, by=world.crm.system).facts == {"slot_offered": {"at": "2026-03-04T10:00:00+01:00"}}


def test_if_match_refuses_a_fact_decided_on_a_stale_version(api, world):
    case_id = forwarded(world)
    seen = api.get(f"/cases/{case_id}", headers=api.as_("service")).headers["etag"]
    world.fire(case_id, "approve_visit", world.warranty_desk, technician_party_id=world.technician.id)
    before = world.snapshot(case_id)
    stale = fact(api, "service", case_id, headers={"If-Match": seen})
    assert stale.status_code == 412 and stale.json()["type"] == "urn:dealercrm:problem:precondition-failed"
    assert "no longer current" in stale.json()["detail"]
    assert world.snapshot(case_id) == before
    current = api.get(f"/cases/{case_id}", headers=api.as_("service")).headers["etag"]
    fresh = fact(api, "service", case_id, headers={"If-Match": current})
    assert fresh.status_code == 200 and fresh.headers["etag"] == f'"{int(current.strip(chr(34))) + 1}"'


@pytest.mark.parametrize("body,field", [({"key": "drop table"}, "key"), ({"key": ""}, "key"),
                                        ({"key": "x" * 65}, "key"), ({"value": None, "colour": "red"}, "colour")])
def test_a_bad_fact_is_a_problem_naming_the_field(api, world, body, field):
    case_id = forwarded(world)
    answer = fact(api, "service", case_id, **body)
    assert answer.status_code == 422 and answer.json()["field"] == field, answer.text
    assert world.count(CaseEvent, CaseEvent.kind == "fact") == 0


def test_a_fact_needs_its_value(api, world):
    case_id = forwarded(world)
    answer = api.post(f"/cases/{case_id}/facts", headers=api.as_("service"), json={"key": "customer_agreed"})
    assert answer.status_code == 422 and answer.json()["field"] == "value"


def test_facts_are_recorded_on_open_cases_only(api, world):
    case_id = world.open_case().id
    world.fire(case_id, "withdraw", world.service, reason="the customer changed his mind")
    answer = fact(api, "service", case_id)
    assert answer.status_code == 409 and answer.json()["field"] == "case" and "withdrawn" in answer.json()["detail"]


@pytest.mark.parametrize("who", ["other_dealer", "other_maker", "warranty", "fitter"])
def test_a_party_that_does_not_see_the_case_finds_no_case_to_record_facts_on(api, world, who):
    case_id = world.open_case().id  # still at the dealer: none of the manufacturer's or technician's business
    before = world.snapshot(case_id)
    answer = fact(api, who, case_id)
    assert answer.status_code == 404 and answer.json()["type"] == "urn:dealercrm:problem:not-found"
    assert world.snapshot(case_id) == before
