"""What the OpenAPI document promises, request by request (issue #16 item 7).

``test_contract.py`` lets schemathesis find disagreements; these are the ones it found
once, written down as a client meets them: a PATCH field that cannot be cleared is not
nullable, and null is refused; an empty customer list is refused and documented as
such; ``If-Match`` is answered as the document says, after the input is checked; a 405
names every method of the path; a key reused on another endpoint is a documented 422;
what the stored records refuse is a 409; a served document lists the installation's
channels.
"""

from __future__ import annotations

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
                                  ("PUT", "/tasks", "GET, POST")):
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
