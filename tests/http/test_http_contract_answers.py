"""What the OpenAPI document promises, request by request (issue #16 item 7).

``test_contract.py`` lets schemathesis find disagreements; these are the ones it found
once, written down as a client meets them: a PATCH field that cannot be cleared is not
nullable, and null is refused; an empty customer list is refused and documented as
such; ``If-Match`` is answered as the document says, after the input is checked; a 405
names every method of the path; a key reused on another endpoint is a documented 422;
what the stored records refuse is a 409 (a closed case's priority too); a served document
lists the installation's channels, workflows and service contracts; a time is RFC 3339
text, never a number of seconds; an undeclared method on ``/customers/duplicates`` is a
405, not a request about a customer named "duplicates"; opening hours name a day; a task
about a contact person names the customer, in the document as on the server.
"""

from __future__ import annotations

import re
from datetime import timedelta

from api_world import forwarded

from dealercrm.http import openapi_document


def schema_of(document: dict, name: str) -> dict:
    return document["components"]["schemas"][name]


def test_a_patch_field_that_cannot_be_cleared_is_not_nullable_and_null_is_refused(api, world):
    document = api.get("/openapi.json").json()
    patch = schema_of(document, "CustomerPatch")["properties"]
    assert "anyOf" not in patch["kind"] and patch["kind"]["type"] == "string"  # no null among its types
    assert "anyOf" not in patch["name"] and "default" not in patch["name"]
    assert {"type": "null"} in patch["email"]["anyOf"]  # an e-mail address can be cleared
    me, path = api.as_("service"), f"/customers/{world.customer.id}"
    for field in ("kind", "name"):
        refused = api.patch(path, headers=me, json={field: None})
        assert refused.status_code == 422 and refused.json()["field"] == field, refused.text
    cleared = api.patch(path, headers=me, json={"email": None, "kind": "company"})
    assert cleared.status_code == 200 and cleared.json()["kind"] == "company" and cleared.json()["email"] is None
    contact = world.crm.customers.add_contact(world.customer.id, "Hans Musterfrau", by=world.crm.system)
    contact_patch = schema_of(document, "ContactPatch")["properties"]
    assert "anyOf" not in contact_patch["name"] and "anyOf" not in contact_patch["function"]
    assert api.patch(f"{path}/contacts/{contact.id}", headers=me, json={"function": None}).status_code == 422


def test_an_empty_customer_list_is_refused_as_the_document_says(api):
    body = openapi_document()["paths"]["/imports/customers"]["post"]["requestBody"]
    assert body["required"] is True and body["content"]["text/csv"]["schema"]["minLength"] == 1
    empty = api.post("/imports/customers", headers=api.as_("service", **{"Content-Type": "text/csv"}), content=b"")
    assert empty.status_code == 422 and empty.json()["field"] == "body"


def test_if_match_is_answered_as_documented_after_the_input_is_checked(api, world):
    case_id = forwarded(world)
    tag = api.get(f"/cases/{case_id}", headers=api.as_("service")).headers["ETag"]
    fact = {"key": "customer_agreed_late_slot", "value": True}  # the dealer records it (fact_keepers)
    path = f"/cases/{case_id}/facts"
    for unmet in ("null", '"0"', 'W/' + tag, f"{tag}, \"999\""):
        answer = api.post(path, headers=api.as_("service", **{"If-Match": unmet}), json=fact)
        assert answer.status_code == 412, (unmet, answer.text)
    assert api.post(path, headers=api.as_("service", **{"If-Match": ""}), json=fact).status_code == 422
    # an invalid request is a 422 whatever it claims to expect: the input comes first
    invalid = api.post(path, headers=api.as_("service", **{"If-Match": "null"}), json={"key": "two words", "value": 1})
    assert invalid.status_code == 422 and invalid.json()["field"] == "key"
    met = api.post(path, headers=api.as_("service", **{"If-Match": tag}), json=fact)
    assert met.status_code == 200 and met.headers["ETag"] != tag
    parameter = next(p for p in openapi_document()["paths"][path.replace(str(case_id), "{case_id}")]["post"]
                     ["parameters"] if p["name"] == "if-match")
    assert parameter["schema"] == {"type": "string", "minLength": 1, "description": parameter["description"],
                                   "title": "If-Match"}
    assert "412" in parameter["description"]


def test_a_405_names_every_method_of_the_path(api, world):
    for method, path, allowed in (("OPTIONS", "/cases", "GET, POST"),
                                  ("DELETE", "/cases", "GET, POST"),
                                  ("OPTIONS", f"/customers/{world.customer.id}", "GET, PATCH"),
                                  ("PUT", "/tasks", "GET, POST"),
                                  ("PATCH", "/customers/duplicates", "GET"),
                                  ("DELETE", "/customers/duplicates", "GET")):
        answer = api.request(method, path, headers=api.as_("service"))
        assert answer.status_code == 405, (method, path)
        assert answer.headers["Allow"] == allowed, (method, path)
        assert allowed in answer.json()["detail"]


def test_a_key_reused_on_another_endpoint_is_the_documented_422(api, world):
    me = api.as_("service", **{"Idempotency-Key": "monday-1"})
    first = api.post(f"/customers/{world.customer.id}/interests", headers=me, json={"tag": "dishwasher"})
    assert first.status_code == 201
    elsewhere = api.post(f"/customers/{world.customer.id}/interactions", headers=me,
                         json={"channel": "phone", "direction": "inbound", "summary": "asked about a dishwasher"})
    assert elsewhere.status_code == 422 and elsewhere.json()["type"] == "urn:dealercrm:problem:idempotency-key-reused"
    for path, item in openapi_document()["paths"].items():
        if "post" in item and not path.startswith("/inbound"):
            answers = item["post"]["responses"]
            assert "idempotency-key-reused" in answers["422"]["description"], path
            assert "idempotency-key-in-progress" in answers["409"]["description"], path
            assert all("Idempotent-Replayed" in answers[s].get("headers", {}) for s in answers if s[0] == "2"), path


def test_what_the_stored_records_refuse_is_a_409_naming_the_field(api, world):
    manager = api.as_("manager")
    assert api.post(f"/customers/{world.customer.id}/erase", headers=manager).status_code == 200
    again = api.post(f"/customers/{world.customer.id}/erase", headers=manager)
    assert again.status_code == 409
    assert again.json()["type"] == "urn:dealercrm:problem:state-conflict" and again.json()["field"] == "customer"
    for path, item in openapi_document()["paths"].items():
        for method in ("post", "put", "patch", "delete"):
            if method in item and not path.startswith("/inbound"):
                assert "409" in item[method]["responses"], (method, path)


def test_a_path_that_names_nothing_is_a_404(api):
    for path in ("/customers/None/messages", "/customers/3000000000", "/reports/nonsense"):
        answer = api.get(path, headers=api.as_("service"))
        assert answer.status_code == 404 and answer.json()["type"] == "urn:dealercrm:problem:not-found", path


def test_a_served_document_lists_the_installations_channels_and_workflows(api, world):
    served = api.get("/openapi.json").json()
    consent = schema_of(served, "ConsentIn")["properties"]["channel"]
    assert consent["enum"] == list(world.crm.consents.channels())
    assert schema_of(served, "CaseIn")["properties"]["workflow"]["anyOf"][0]["enum"] == sorted(world.crm.workflows)
    assert "enum" not in schema_of(openapi_document(), "ConsentIn")["properties"]["channel"]  # no installation


def test_a_customer_is_named_by_a_number_and_duplicates_is_no_customer(api, world):
    me = api.as_("manager")
    assert api.get("/customers/duplicates", headers=me).status_code == 200
    refused = api.patch("/customers/duplicates", headers=me, json={"name": "Erika"})
    assert refused.status_code == 405 and refused.headers["Allow"] == "GET"
    for path in ("/customers/erika", "/customers/-1", "/customers/1.5"):
        assert api.get(path, headers=me).status_code == 404, path
        assert api.patch(path, headers=me, json={"name": "Erika"}).status_code == 404, path
    assert api.patch(f"/customers/{world.customer.id}", headers=me, json={"city": "Kiel"}).json()["city"] == "Kiel"
    assert "/customers/{customer_id}" in openapi_document()["paths"]  # the document names the parameter as ever


def test_a_closed_case_refuses_a_new_priority_with_a_409(api, world):
    case = world.open_case()
    world.fire(case.id, "withdraw", world.service, reason="the customer fixed it herself")
    refused = api.patch(f"/cases/{case.id}", headers=api.as_("service"), json={"priority": "urgent"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"] == "urn:dealercrm:problem:state-conflict" and refused.json()["field"] == "case"
    assert "409" in openapi_document()["paths"]["/cases/{case_id}"]["patch"]["responses"]
    assert api.get(f"/cases/{case.id}", headers=api.as_("service")).json()["priority"] == "normal"


def test_a_time_is_rfc_3339_text_never_a_number_of_seconds(api, world):
    me = api.as_("service")
    for value in ("0.5", "1789000000", "2026-03-09", "2026-03-09T17:00+01:00", "2026-03-09T17:00:00"):
        refused = api.get("/tasks", headers=me, params={"due_before": value})
        assert refused.status_code == 422 and refused.json()["field"] == "due_before", value
    assert api.get("/tasks", headers=me, params={"due_before": "2026-03-09T17:00:00+01:00"}).status_code == 200
    now = world.crm.clock.now()
    task = api.post("/tasks", headers=me, json={"title": "call Erika back", "due_at": (now + timedelta(hours=2))
                                                 .isoformat()})
    assert task.status_code == 201, task.text
    assert api.post("/tasks", headers=me, json={"title": "call back", "due_at": "1789000000"}).status_code == 422
    snooze = f"/tasks/{task.json()['id']}/snooze"
    for value in (1789000000, "1789000000", 0.5):
        refused = api.post(snooze, headers=me, json={"until": value})
        assert refused.status_code == 422 and refused.json()["field"] == "until", value
    later = (now + timedelta(days=1)).isoformat()
    assert api.post(snooze, headers=me, json={"until": later}).status_code == 200
    parameter = next(p for p in openapi_document()["paths"]["/tasks"]["get"]["parameters"] if p["name"] == "due_before")
    assert {"type": "string", "format": "date-time"} in parameter["schema"]["anyOf"]


def test_a_served_document_names_the_service_contracts_its_levels_know(api, world):
    served = api.get("/openapi.json").json()
    me, path = api.as_("service"), f"/customers/{world.customer.id}"
    for model in ("CustomerIn", "CustomerPatch", "AssetIn", "AssetPatch"):
        text = next(b for b in schema_of(served, model)["properties"]["service_contract"]["anyOf"]
                    if b.get("type") == "string")
        named = re.compile(text["pattern"])
        assert named.search("premium") and named.search(" premium ") and named.search(""), model
        assert not named.search("gold") and not named.search("premium gold"), model
    assert api.patch(path, headers=me, json={"service_contract": "gold"}).status_code == 422
    assert api.patch(path, headers=me, json={"service_contract": " premium "}).json()["service_contract"] == "premium"
    assert api.patch(path, headers=me, json={"service_contract": "  "}).json().get("service_contract") is None
    unserved = schema_of(openapi_document(), "CustomerIn")["properties"]["service_contract"]["anyOf"][0]
    assert "premium" not in unserved["pattern"]  # no installation, no contracts to name


def test_opening_hours_name_at_least_one_day(api, world):
    path, me = f"/parties/{world.dealer.id}/calendar", api.as_("manager")
    refused = api.put(path, headers=me, json={"hours": {}})
    assert refused.status_code == 422 and refused.json()["field"] == "hours", refused.text
    hours = schema_of(openapi_document(), "CalendarIn")["properties"]["hours"]["anyOf"][0]
    assert hours["minProperties"] == 1
    kept = api.put(path, headers=me, json={"hours": {"mon-fri": "07:30-16:00"}})
    assert kept.status_code == 200 and kept.json()["hours"]["fri"] == "07:30-16:00", kept.text


def test_a_task_about_a_contact_person_names_the_customer_in_the_document_as_on_the_server(api, world):
    contact = world.crm.customers.add_contact(world.customer.id, "Hans Musterfrau", by=world.crm.system)
    me, due = api.as_("service"), (world.crm.clock.now() + timedelta(days=1)).isoformat()
    refused = api.post("/tasks", headers=me, json={"title": "call Hans", "due_at": due,
                                                   "contact_person_id": contact.id, "customer_id": None})
    assert refused.status_code == 422 and refused.json()["field"] == "contact_person_id"
    either = schema_of(openapi_document(), "TaskIn")["anyOf"]
    assert {"properties": {"contact_person_id": {"type": "null"}}} in either
    assert {"required": ["customer_id"], "properties": {"customer_id": {"type": "integer"}}} in either
    named = api.post("/tasks", headers=me, json={"title": "call Hans", "due_at": due, "contact_person_id": contact.id,
                                                 "customer_id": world.customer.id})
    assert named.status_code == 201 and named.json()["contact_person_id"] == contact.id, named.text


def test_a_customers_language_and_time_zone_are_what_the_document_says(api, world):
    patch = schema_of(openapi_document(), "CustomerPatch")["properties"]
    language = re.compile(patch["language"]["anyOf"][0]["pattern"])
    zone = patch["time_zone"]["anyOf"][0]["anyOf"]
    assert {"type": "string", "maxLength": 64, "format": "time-zone"} in zone
    me, path = api.as_("service"), f"/customers/{world.customer.id}"
    for value, kept in ((" DE ", "de"), ("", None), ("en", "en")):
        assert language.search(value)
        assert api.patch(path, headers=me, json={"language": value}).json().get("language") == kept, value
    for value in ("deu", "0000000", "d3"):
        assert not language.search(value)
        refused = api.patch(path, headers=me, json={"language": value})
        assert refused.status_code == 422 and refused.json()["field"] == "language", value
    assert api.patch(path, headers=me, json={"time_zone": "Europe/Vienna"}).json()["time_zone"] == "Europe/Vienna"
    refused = api.patch(path, headers=me, json={"time_zone": "Mars/Olympus"})
    assert refused.status_code == 422 and refused.json()["field"] == "time_zone"


def test_a_parameter_of_one_value_given_twice_is_refused_not_half_read(api, world):
    me = api.as_("service")
    for path, query in (("/products", "offset=0&offset=5"), ("/products", "category=a&category=b"),
                        ("/tasks", "status=open&status=done"), ("/customers/duplicates", "min_score=0&min_score=5"),
                        ("/cases", "open=true&open=false")):
        refused = api.get(f"{path}?{query}", headers=api.as_("manager") if "duplicates" in path else me)
        assert refused.status_code == 422, (path, query, refused.text)
        assert refused.json()["field"] == query.split("=")[0] and "2 times" in refused.json()["detail"]
    assert api.get("/products?offset=0&category=washing+machine", headers=me).status_code == 200
    assert api.get("/products?unknown=1&unknown=2", headers=me).status_code == 200  # not a parameter: not read
    listed = ("external_id,name\nK-7,Nora Berg\n").encode()
    imported = api.post("/imports/customers?ignore_column=a&ignore_column=b", content=listed,
                        headers=api.as_("manager", **{"Content-Type": "text/csv"}))
    assert imported.json()["field"] == "ignore_columns"  # a list parameter: both read (and neither is a column)
