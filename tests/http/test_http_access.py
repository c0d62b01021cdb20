"""Every (party, resource) pair that must be refused is refused, over HTTP.

What a party may not see does not exist for it (404, like an id never used); what it
sees but may not do is 403. Dealer Elektro Schmidt owns Erika and her washing machine;
Brioche made the machine; Technik-Service Nord is sent to repair it; Küchenwelt Meyer
(another dealer) and Frostkalt (another manufacturer) have nothing to do with any of it.
"""

from __future__ import annotations

import pytest
from api_world import assigned, forwarded

from dealercrm.services.api_keys import ApiKeyService

CUSTOMER_READS = ["/customers/{c}", "/customers/{c}/assets"]
FILE_READS = ["/customers/{c}/consents", "/customers/{c}/interests", "/customers/{c}/timeline",
              "/customers/{c}/contacts", "/customers/{c}/messages"]
CASE_READS = ["/cases/{k}", "/cases/{k}/history", "/cases/{k}/allowed-triggers", "/cases/{k}/survey"]
FILE_WRITES = [("POST", "/customers/{c}/consents", {"channel": "email", "purpose": "marketing", "granted": True,
                                                    "source": "web form"}),
               ("POST", "/customers/{c}/interests", {"tag": "skiing"}),
               ("POST", "/customers/{c}/assets", {"product_id": 1}),
               ("POST", "/customers/{c}/interactions", {"channel": "phone", "direction": "outbound",
                                                        "summary": "called about the washer"}),
               ("PATCH", "/customers/{c}", {"city": "Hamburg"}),
               ("POST", "/customers/{c}/contacts", {"name": "Hans Musterfrau", "function": "spouse"}),
               ("POST", "/customers/{c}/messages", {"channel": "email", "purpose": "service", "body": "Hallo"}),
               ("POST", "/customers/{c}/owner", {"account_owner_id": 1})]
CONTACT_CHANGES = [("PATCH", "/customers/{c}/contacts/{p}", {"phone": "040 5550199"}),
                   ("DELETE", "/customers/{c}/contacts/{p}", None)]
#: irreversible, or the whole file at once: the owning dealer's owner or manager only
MANAGING = [("POST", "/customers/{c}/merge"), ("GET", "/customers/{c}/export"), ("POST", "/customers/{c}/erase")]


def call(api, who, method, template, world, case_id=0, body=None, contact_id=0):
    path = template.format(c=world.customer.id, k=case_id, p=contact_id)
    return api.request(method, path, headers=api.as_(who), json=body)


# -- another dealer -------------------------------------------------------------------


@pytest.mark.parametrize("template", CUSTOMER_READS + FILE_READS + CASE_READS)
def test_another_dealer_cannot_read_the_dealers_customer_or_case(api, world, template):
    case_id = forwarded(world)
    answer = call(api, "other_dealer", "GET", template, world, case_id)
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "urn:dealercrm:problem:not-found"


@pytest.mark.parametrize("method,template,body", FILE_WRITES)
def test_another_dealer_cannot_change_the_dealers_customer(api, world, method, template, body):
    assert call(api, "other_dealer", method, template, world, body=body).status_code == 404
    assert call(api, "service", "GET", "/customers/{c}/timeline", world).json()["items"] == []


def test_another_dealer_cannot_fire_or_open_cases_for_the_dealers_customer(api, world):
    case_id = world.open_case().id
    fired = call(api, "other_dealer", "POST", "/cases/{k}/transitions", world, case_id, {"trigger": "withdraw",
                                                                                          "data": {"reason": "x"}})
    opened = api.post("/cases", headers=api.as_("other_dealer"), json={"customer_id": world.customer.id,
                                                                       "summary": "sneaky"})
    assert (fired.status_code, opened.status_code) == (404, 404)
    assert world.crm.cases.get(case_id, by=world.crm.system).state == "reported"


def test_another_dealers_lists_do_not_show_the_dealers_customers_or_cases(api, world):
    forwarded(world)
    for path in ("/customers", "/cases?open=false", "/tasks?status=all"):
        assert api.get(path, headers=api.as_("other_dealer")).json()["items"] == [], path
    mine = api.get("/customers", headers=api.as_("service")).json()["items"]
    assert [c["id"] for c in mine] == [world.customer.id]


def test_another_dealer_cannot_probe_whether_an_address_is_a_customer_of_the_dealer(api, world):
    """Uniqueness is per dealer: Erika may be Meyer's customer too, and Meyer learns nothing of Schmidt's."""
    answer = api.post("/customers", headers=api.as_("other_dealer"),
                      json={"name": "Erika M.", "email": "erika@example.org", "external_id": "K-1"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["id"] != world.customer.id
    again = api.post("/customers", headers=api.as_("other_dealer"), json={"name": "Erika", "email": "erika@example.org"})
    assert again.status_code == 409 and f"customer {answer.json()['id']}" in again.json()["detail"]


# -- manufacturers --------------------------------------------------------------------


@pytest.mark.parametrize("template", CUSTOMER_READS + CASE_READS)
def test_the_manufacturer_sees_nothing_of_a_case_still_at_the_dealer(api, world, template):
    case = world.open_case()
    world.fire(case.id, "start_diagnosis", world.service)
    assert world.crm.cases.get(case.id, by=world.crm.system).manufacturer_party_id == world.manufacturer.id  # its machine, not its case
    assert call(api, "warranty", "GET", template, world, case.id).status_code == 404
    assert api.get("/cases", headers=api.as_("warranty")).json()["items"] == []


def test_the_manufacturer_sees_a_forwarded_case_and_only_what_a_warranty_decision_needs(api, world):
    case_id = forwarded(world)
    world.crm.customers.update(world.customer.id, phone="+49 40 5550100", street="Elbchaussee 1",
                               postcode="22763", city="Hamburg", birthday="1970-05-01", by=world.crm.system)
    world.crm.interests.note(world.customer.id, "skiing", by=world.service.id)
    assert api.get(f"/cases/{case_id}", headers=api.as_("warranty")).status_code == 200
    view = api.get(f"/customers/{world.customer.id}", headers=api.as_("warranty")).json()
    assert view["visibility"] == "case"
    assert view["customer"] == {"id": world.customer.id, "name": "Erika Musterfrau", "kind": "person",
                                "postcode": "22763", "city": "Hamburg"}  # no e-mail, phone, street, birthday
    assert all(view[s] is None for s in ("interests", "consents", "timeline", "open_tasks", "contacts"))
    assert [a["id"] for a in view["assets"]] == [world.machine.id]
    listed = api.get("/customers", headers=api.as_("warranty")).json()["items"]
    assert listed == [view["customer"]]


@pytest.mark.parametrize("who", ["warranty", "fitter"])
@pytest.mark.parametrize("template", FILE_READS)
def test_manufacturer_and_technician_may_not_read_interests_consents_or_the_timeline(api, world, who, template):
    assigned(world)  # both serve the case now
    answer = call(api, who, "GET", template, world)
    assert answer.status_code == 403 and answer.json()["type"] == "urn:dealercrm:problem:not-permitted"


@pytest.mark.parametrize("who", ["warranty", "fitter"])
@pytest.mark.parametrize("method,template,body", FILE_WRITES)
def test_manufacturer_and_technician_may_not_keep_the_customer_file(api, world, who, method, template, body):
    assigned(world)
    assert call(api, who, method, template, world, body=body).status_code == 403


def test_the_manufacturer_sees_no_other_customer_of_the_dealer(api, world):
    forwarded(world)
    other = world.crm.customers.add("Max Mustermann", email="max@example.org", owner_party_id=world.dealer.id, by=world.crm.system)
    assert api.get(f"/customers/{other.id}", headers=api.as_("warranty")).status_code == 404


@pytest.mark.parametrize("template", CUSTOMER_READS + CASE_READS)
def test_another_manufacturer_sees_nothing_of_the_case(api, world, template):
    case_id = forwarded(world)
    assert call(api, "other_maker", "GET", template, world, case_id).status_code == 404


def test_a_manufacturer_may_fire_what_the_workflow_allows_it_and_nothing_else(api, world):
    case_id = forwarded(world)
    refused = api.post(f"/cases/{case_id}/transitions", headers=api.as_("warranty"),
                       json={"trigger": "withdraw", "data": {"reason": "no"}})
    assert refused.status_code == 403 and "may fire: approve_replacement, approve_visit" in refused.json()["detail"]
    wrong_state = api.post(f"/cases/{case_id}/transitions", headers=api.as_("warranty"),
                           json={"trigger": "parts_arrived"})
    assert wrong_state.status_code == 409 and "approve_visit" in wrong_state.json()["allowed"]
    approved = api.post(f"/cases/{case_id}/transitions", headers=api.as_("warranty"),
                        json={"trigger": "approve_visit", "data": {"technician_party_id": world.technician.id}})
    assert approved.status_code == 200 and approved.json()["dest"] == "technician_dispatch"


# -- contact persons, merging, export and erasure ------------------------------------------


@pytest.mark.parametrize("who,status", [("other_dealer", 404), ("other_maker", 404), ("warranty", 403),
                                        ("fitter", 403)])
@pytest.mark.parametrize("method,template,body", CONTACT_CHANGES)
def test_only_the_owning_dealer_changes_or_removes_contact_persons(api, world, who, status, method, template, body):
    assigned(world)  # the manufacturer and the technician both serve the customer's case
    contact = world.crm.customers.add_contact(world.customer.id, "Hans Musterfrau", "spouse", by=world.crm.system)
    answer = call(api, who, method, template, world, body=body, contact_id=contact.id)
    assert answer.status_code == status and answer.headers["content-type"] == "application/problem+json"
    assert [(c.name, c.phone) for c in world.crm.customers.contacts(world.customer.id, by=world.crm.system)] == [("Hans Musterfrau", None)]


@pytest.mark.parametrize("who,status", [("other_dealer", 404), ("other_manager", 404), ("other_maker", 404),
                                        ("warranty", 403), ("fitter", 403), ("service", 403)])
@pytest.mark.parametrize("method,template", MANAGING)
def test_only_the_dealers_owner_or_manager_merges_exports_or_erases_a_customer(api, world, who, status, method,
                                                                               template):
    assigned(world)
    api.keys["other_manager"] = world.crm.api_keys.create(world.other_dealer.id, "manager", by=world.crm.system).key
    dup = world.crm.customers.add("Erika M.", phone="040 5550100", owner_party_id=world.dealer.id, by=world.crm.system)
    answer = call(api, who, method, template, world, body={"duplicate_id": dup.id} if "merge" in template else None)
    assert answer.status_code == status, answer.text
    assert answer.json()["type"] == f"urn:dealercrm:problem:{'not-found' if status == 404 else 'not-permitted'}"
    assert "Musterfrau" not in answer.text
    erika, her_duplicate = world.crm.customers.get(world.customer.id, by=world.crm.system), world.crm.customers.get(dup.id, by=world.crm.system)
    assert (erika.erased_at, erika.phone, her_duplicate.merged_into_id) == (None, None, None)


def test_the_dealers_owner_may_do_what_its_manager_may(api, world):
    api.keys["owner"] = world.crm.api_keys.create(world.dealer.id, actor_id=world.owner.id, by=world.crm.system).key
    assert call(api, "owner", "GET", "/customers/{c}/export", world).status_code == 200


def test_another_dealers_manager_cannot_merge_the_dealers_customer_into_its_own(api, world):
    api.keys["other_manager"] = world.crm.api_keys.create(world.other_dealer.id, "manager", by=world.crm.system).key
    theirs = world.crm.customers.add("Erika Musterfrau", owner_party_id=world.other_dealer.id, by=world.crm.system)
    answer = api.post(f"/customers/{theirs.id}/merge", headers=api.as_("other_manager"),
                      json={"duplicate_id": world.customer.id})
    assert answer.status_code == 404 and str(world.customer.id) in answer.json()["detail"]
    assert world.crm.customers.get(world.customer.id, by=world.crm.system).merged_into_id is None


# -- technicians ----------------------------------------------------------------------


def test_the_technician_sees_only_cases_assigned_to_it(api, world):
    waiting = forwarded(world)
    mine = assigned(world)
    assert api.get(f"/cases/{waiting}", headers=api.as_("fitter")).status_code == 404
    assert api.get(f"/cases/{mine}", headers=api.as_("fitter")).status_code == 200
    assert [c["id"] for c in api.get("/cases", headers=api.as_("fitter")).json()["items"]] == [mine]


def test_the_technician_gets_what_a_visit_needs_and_no_more(api, world):
    assigned(world)
    world.crm.customers.update(world.customer.id, phone="+49 40 5550100", street="Elbchaussee 1",
                               postcode="22763", city="Hamburg", by=world.crm.system)
    view = api.get(f"/customers/{world.customer.id}", headers=api.as_("fitter")).json()
    assert set(view["customer"]) == {"id", "name", "kind", "phone", "street", "postcode", "city"}
    assert view["interests"] is None
    assert api.get(f"/customers/{world.customer.id}/consents", headers=api.as_("fitter")).status_code == 403


def test_the_technician_cannot_see_a_customer_before_a_case_is_assigned(api, world):
    forwarded(world)
    assert api.get(f"/customers/{world.customer.id}", headers=api.as_("fitter")).status_code == 404


# -- keys -----------------------------------------------------------------------------


def test_a_revoked_key_is_refused_with_the_next_request(api, world):
    assert api.get("/me", headers=api.as_("service")).status_code == 200
    prefix = api.keys["service"].split("_")[0] + "_" + api.keys["service"].split("_")[1]
    world.crm.api_keys.revoke(prefix, by=world.crm.system)
    answer = api.get("/me", headers=api.as_("service"))
    assert answer.status_code == 401 and "revoked" in answer.json()["detail"]
    assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"},
                                     {"X-API-Key": "dcrm_00000000_" + "A" * 43}])
def test_missing_malformed_or_unknown_keys_are_401(api, headers):
    answer = api.get("/cases", headers=headers)
    assert answer.status_code == 401 and answer.json()["type"] == "urn:dealercrm:problem:unauthenticated"


def test_a_key_with_the_right_prefix_but_a_wrong_secret_is_refused(api):
    key = api.keys["service"]
    assert api.get("/me", headers={"X-API-Key": key}).status_code == 200
    assert api.get("/me", headers={"X-API-Key": key[:-1] + ("A" if key[-1] != "A" else "B")}).status_code == 401


def test_keys_are_stored_only_as_hashes(world):
    issued = world.crm.api_keys.create(world.dealer.id, "service", label="DMS", by=world.crm.system)
    [row] = [k for k in world.crm.api_keys.list(by=world.crm.system) if k.id == issued.id]
    assert issued.key not in repr(row.model_dump()) and issued.key.startswith(row.prefix + "_")
    assert issued.key not in repr(issued)
