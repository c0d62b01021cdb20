"""Survey answers over HTTP: the dealer writes down what the customer said on the phone.

Satisfaction is the dealer's relationship with its customer: the case's dealer records
and reads the answers; the manufacturer and the technician, who see the case, do not.
"""

from __future__ import annotations

import pytest
from api_world import assigned

from dealercrm.db.models import Task
from dealercrm.db.rule_models import SurveyResponse


def answer(api, who, case_id, **body):
    return api.post(f"/cases/{case_id}/survey", headers=api.as_(who), json=body)


def test_the_dealer_records_a_phone_answer_and_reads_it_back(api, world):
    case_id = assigned(world)
    recorded = answer(api, "service", case_id, csat=5, nps=9, comment="quick and friendly")
    assert recorded.status_code == 201, recorded.text
    row = recorded.json()
    assert (row["case_id"], row["customer_id"], row["csat"], row["nps"], row["comment"], row["channel"]) == (
        case_id, world.customer.id, 5, 9, "quick and friendly", "phone")
    only_nps = answer(api, "manager", case_id, nps=7, channel="post")  # she called back: one answer, revised
    assert only_nps.status_code == 201
    assert {k: only_nps.json()[k] for k in ("id", "csat", "nps", "comment", "channel")} == {
        "id": row["id"], "csat": 5, "nps": 7, "comment": "quick and friendly", "channel": "post"}
    listed = api.get(f"/cases/{case_id}/survey", headers=api.as_("service"))
    assert listed.status_code == 200 and listed.json() == [only_nps.json()]
    timeline = api.get(f"/customers/{world.customer.id}/timeline", headers=api.as_("service")).json()["items"]
    assert any(i["summary"].startswith(f"survey for case {case_id}: CSAT 5/5, NPS 9/10") and i["channel"] == "phone"
               for i in timeline)
    assert any(i["summary"].startswith(f"survey for case {case_id} revised: CSAT 5/5, NPS 7/10 (was CSAT 5/5, "
                                       "NPS 9/10)") for i in timeline)


def test_a_low_score_recorded_over_http_makes_a_follow_up_for_the_dealer(api, world):
    case_id = world.open_case().id
    assert answer(api, "service", case_id, csat=1, comment="nobody called back").status_code == 201
    tasks = api.get(f"/tasks?case_id={case_id}", headers=api.as_("service")).json()["items"]
    assert len(tasks) == 1 and tasks[0]["origin"] == "rule"


@pytest.mark.parametrize("body,field", [({}, "survey answer"), ({"csat": 6}, "csat"), ({"csat": 0}, "csat"),
                                        ({"nps": 11}, "nps"), ({"csat": "good"}, "csat"),
                                        ({"csat": 4, "channel": "webhook"}, "channel"),
                                        ({"csat": 4, "mood": "fine"}, "mood")])
def test_a_bad_answer_is_a_problem_naming_the_field(api, world, body, field):
    case_id = world.open_case().id
    refused = answer(api, "service", case_id, **body)
    assert refused.status_code == 422 and refused.json()["field"] == field, refused.text
    assert world.count(SurveyResponse) == 0


@pytest.mark.parametrize("who", ["warranty", "fitter"])
def test_the_manufacturer_and_the_technician_neither_record_nor_read_answers(api, world, who):
    case_id = assigned(world)  # both see the case
    world.crm.surveys.record(case_id, csat=2, comment="the technician was late", by=world.service.id)
    tasks = world.count(Task)
    recorded = answer(api, who, case_id, csat=5)
    read = api.get(f"/cases/{case_id}/survey", headers=api.as_(who))
    for refused in (recorded, read):
        assert refused.status_code == 403 and refused.json()["type"] == "urn:dealercrm:problem:not-permitted"
    assert "late" not in read.text
    assert world.count(SurveyResponse) == 1 and world.count(Task) == tasks


@pytest.mark.parametrize("who", ["other_dealer", "other_maker", "warranty", "fitter"])
def test_a_party_that_does_not_see_the_case_finds_no_survey(api, world, who):
    case_id = world.open_case().id  # still at the dealer
    world.crm.surveys.record(case_id, csat=4, by=world.service.id)
    assert answer(api, who, case_id, csat=1).status_code == 404
    assert api.get(f"/cases/{case_id}/survey", headers=api.as_(who)).status_code == 404
    assert world.count(SurveyResponse) == 1
