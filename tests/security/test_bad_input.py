"""Issue #14, findings 7 and 14: bad input is a clear 422 naming the field — never a 500, never stored.

Finding 7, input that crashed the server (500): a due date at the edge of the calendar
with an offset (``0001-01-01T00:00+05:00`` has no UTC time), an asset handed over on
9999-12-31 (its warranty would end in year 10001), ``If-Match: "²"`` (``"²".isdigit()``
is True, ``int("²")`` raises). Finding 14, implausible values that were accepted: a
birthday in 2999 or in year 1, a technician's visit "scheduled" for 0001-01-01 (which
passed the within-the-deadline guard), facts of NaN and 1e999 (stored, read back as null).

The client raises on any server error, so a 500 fails these tests on its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from datetime import timedelta

import httpx
import pytest
from api_world import assigned

from dealercrm import ValidationError
from dealercrm.db.case_models import CaseEvent


def refused(answer, field: str, words: str = "", *, kind: str = "validation-error") -> None:
    assert answer.status_code == {"validation-error": 422, "state-conflict": 409}[kind], answer.text
    problem = answer.json()
    assert problem["type"] == f"urn:dealercrm:problem:{kind}" and problem["field"] == field, problem
    assert words in problem["detail"]


# -- finding 7: no 500 ---------------------------------------------------------------------

@pytest.mark.parametrize("due", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_a_due_time_with_no_utc_equivalent_is_out_of_range(api, due):
    answer = api.post("/tasks", headers=api.as_("service"), json={"title": "call back", "due_at": due})
    refused(answer, "due_at", "out of range")


def test_the_python_api_says_the_same(api):
    from datetime import datetime, timezone

    world = api.world
    with pytest.raises(ValidationError) as err:
        world.crm.tasks.create("call back", datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), by=world.service.id)
    assert err.value.field == "due_at"


@pytest.mark.parametrize("field", ["handed_over_on", "purchased_on"])
def test_an_asset_whose_warranty_would_end_after_9999_is_refused(api, field):
    world = api.world
    answer = api.post(f"/customers/{world.customer.id}/assets", headers=api.as_("service"),
                      json={"product_id": world.product_id, field: "9999-12-31"})
    refused(answer, field, "after the year 9999", kind="state-conflict")  # with this product's warranty


def as_sent(api, path: str, headers: dict[str, str | bytes], body: dict) -> httpx.Response:
    """POST with the header bytes exactly as given, as they travel to the server (the test client
    would re-encode a byte 0xB2 as UTF-8; the server reads header bytes as latin-1: 0xB2 is "²")."""
    async def post():
        transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post(path, headers=headers, json=body)

    # in a thread of its own: a browser test before may have left an event loop running here
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, post()).result()


@pytest.mark.parametrize("if_match", [b'"\xb2"', b'"\xb9"', '"²"'.encode(), '"١"'.encode(),
                                      b'"99999999999999999999"'],
                         ids=["superscript two", "superscript one", "utf-8 superscript two", "arabic-indic one",
                              "too long"])
@pytest.mark.parametrize("path,body", [("facts", {"key": "noted", "value": True}),
                                       ("transitions", {"trigger": "start_diagnosis"})])
def test_if_match_with_digits_that_are_no_version_is_a_412(api, if_match, path, body):
    world = api.world
    case = world.open_case()
    answer = as_sent(api, f"/cases/{case.id}/{path}", api.as_("service", **{"If-Match": if_match}), body)
    assert answer.status_code == 412 and "names no version" in answer.json()["detail"], answer.text
    assert world.crm.cases.get(case.id, by=world.crm.system).version == case.version


@pytest.mark.parametrize("visit", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_a_visit_time_with_no_utc_equivalent_is_out_of_range(api, visit):
    case_id = assigned(api.world)
    answer = api.post(f"/cases/{case_id}/transitions", headers=api.as_("fitter"),
                      json={"trigger": "schedule_visit", "data": {"visit_at": visit}})
    refused(answer, "visit_at", "out of range")


# -- finding 14: implausible values ------------------------------------------------------

@pytest.mark.parametrize("birthday", ["2999-01-01", "0001-01-01", "1899-12-31", "tomorrow"])
def test_an_implausible_birthday_is_refused(api, birthday):
    world = api.world
    if birthday == "tomorrow":
        birthday = (world.crm.clock.now() + timedelta(days=1)).date().isoformat()
    refused(api.post("/customers", headers=api.as_("service"), json={"name": "Future Child", "birthday": birthday}),
            "birthday", "plausible date of birth")
    refused(api.patch(f"/customers/{world.customer.id}", headers=api.as_("service"), json={"birthday": birthday}),
            "birthday", "plausible date of birth")
    assert world.crm.customers.get(world.customer.id, by=world.crm.system).birthday is None


@pytest.mark.parametrize("birthday", ["1900-01-01", "1978-02-14", "today"])
def test_a_plausible_birthday_is_kept(api, birthday):
    if birthday == "today":
        birthday = api.world.crm.clock.now().date().isoformat()
    answer = api.post("/customers", headers=api.as_("service"), json={"name": "Born Then", "birthday": birthday})
    assert answer.status_code == 201 and answer.json()["birthday"] == birthday


@pytest.mark.parametrize("days_ago", [365 * 2025, 400, 2])
def test_a_visit_in_the_past_is_refused_though_it_lies_within_the_deadline(api, days_ago):
    world = api.world
    case_id = assigned(world)
    visit = (world.crm.clock.now() - timedelta(days=days_ago)).isoformat()
    answer = api.post(f"/cases/{case_id}/transitions", headers=api.as_("fitter"),
                      json={"trigger": "schedule_visit", "data": {"visit_at": visit}})
    refused(answer, "visit_at", "lies in the past")
    assert world.crm.cases.get(case_id, by=world.crm.system).state == "technician_dispatch"


def test_a_visit_still_to_come_is_scheduled(api):
    world = api.world
    case_id = assigned(world)
    visit = (world.crm.clock.now() + timedelta(hours=3)).isoformat()
    answer = api.post(f"/cases/{case_id}/transitions", headers=api.as_("fitter"),
                      json={"trigger": "schedule_visit", "data": {"visit_at": visit}})
    assert answer.status_code == 200 and answer.json()["dest"] == "visit_scheduled"


@pytest.mark.parametrize("value,field", [("NaN", "value"), ("Infinity", "value"), ("-Infinity", "value"),
                                         ("1e999", "value"), ('{"readings": [1.5, NaN]}', "value.readings.1")])
def test_a_fact_that_json_cannot_hold_is_refused(api, value, field):
    world = api.world
    case = world.open_case()
    answer = api.post(f"/cases/{case.id}/facts", headers=api.as_("service", **{"Content-Type": "application/json"}),
                      content=f'{{"key": "drum_temperature", "value": {value}}}'.encode())
    refused(answer, field, "finite number")
    assert world.count(CaseEvent, CaseEvent.kind == "fact") == 0


def test_data_of_a_transition_that_json_cannot_hold_is_refused(api):
    world = api.world
    case = world.open_case()
    answer = api.post(f"/cases/{case.id}/transitions",
                      headers=api.as_("service", **{"Content-Type": "application/json"}),
                      content=b'{"trigger": "start_diagnosis", "data": {"noise_db": NaN}}')
    refused(answer, "noise_db", "finite number")
    assert world.crm.cases.get(case.id, by=world.crm.system).state == "reported"


def test_the_python_api_refuses_them_too(api):
    world = api.world
    case = world.open_case()
    with pytest.raises(ValidationError) as err:
        world.crm.cases.record_fact(case.id, "drum_temperature", float("nan"), by=world.service.id)
    assert err.value.field == "value"
    with pytest.raises(ValidationError) as err:
        world.crm.customers.add("Old Soul", birthday="1850-05-01", by=world.service.id)
    assert err.value.field == "birthday"
