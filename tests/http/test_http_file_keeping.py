"""Contact persons, merging duplicates, the right of access and the right to erasure over HTTP.

Contact persons are kept by the owning dealer like the rest of the file. Merging,
exporting and erasing cannot be undone or hand out everything at once: the dealer's
manager does them, not its service desk (refusals for every other party are in
test_http_access.py).
"""

from __future__ import annotations

import json

from sqlalchemy import select

from dealercrm.db.api_models import IdempotencyRecord
from dealercrm.db.models import AuditRecord, Customer


def test_the_dealer_keeps_a_customers_contact_persons(api, world):
    me, path = api.as_("service"), f"/customers/{world.customer.id}/contacts"
    added = api.post(path, headers=me, json={"name": "Hans Musterfrau", "function": "spouse",
                                             "phone": "040 5550199"})
    assert added.status_code == 201, added.text
    contact = added.json()
    assert added.headers["location"] == f"{path}/{contact['id']}"
    assert (contact["name"], contact["function"], contact["phone"], contact["email"]) == (
        "Hans Musterfrau", "spouse", "+49405550199", None)
    changed = api.patch(f"{path}/{contact['id']}", headers=me, json={"email": "Hans@Example.org", "phone": None})
    assert changed.status_code == 200 and (changed.json()["email"], changed.json()["phone"]) == (
        "hans@example.org", None)
    assert api.get(path, headers=me).json() == [changed.json()]
    assert [c["name"] for c in api.get(f"/customers/{world.customer.id}", headers=me).json()["contacts"]] == [
        "Hans Musterfrau"]
    assert api.delete(f"{path}/{contact['id']}", headers=me).status_code == 204
    assert api.get(path, headers=me).json() == []
    assert api.delete(f"{path}/{contact['id']}", headers=me).status_code == 404
    actions = [(r.action, r.actor_id) for r in _audit(world, "contact_person")]
    assert actions == [("insert", world.service.id), ("update", world.service.id), ("delete", world.service.id)]


def test_a_contact_person_is_reached_only_through_their_own_customer(api, world):
    max_ = world.crm.customers.add("Max Mustermann", owner_party_id=world.dealer.id, by=world.crm.system)
    his = world.crm.customers.add_contact(max_.id, "Sabine Mustermann", "spouse", by=world.crm.system)
    me = api.as_("service")
    wrong = f"/customers/{world.customer.id}/contacts/{his.id}"
    assert api.patch(wrong, headers=me, json={"name": "Someone"}).status_code == 404
    assert api.delete(wrong, headers=me).status_code == 404
    assert world.crm.customers.contacts(max_.id, by=world.crm.system)[0].name == "Sabine Mustermann"


def test_bad_contact_input_is_a_problem_naming_the_field(api, world):
    path, me = f"/customers/{world.customer.id}/contacts", api.as_("service")
    for body, field in (({"name": "Hans", "email": "not-an-address"}, "email"),
                        ({"name": "Hans", "phone": "12"}, "phone"),
                        ({"name": ""}, "name"),
                        ({"name": "Hans", "age": 40}, "age")):
        answer = api.post(path, headers=me, json=body)
        assert answer.status_code == 422 and answer.json()["field"] == field, (body, answer.text)
    contact = world.crm.customers.add_contact(world.customer.id, "Hans Musterfrau", by=world.crm.system)
    answer = api.patch(f"{path}/{contact.id}", headers=me, json={"name": None})  # not nullable: cannot be cleared
    assert answer.status_code == 422 and answer.json()["field"] == "name"


def test_the_manager_merges_a_duplicate_into_the_kept_customer(api, world):
    dup = world.crm.customers.add("Erika Musterfrau", phone="040 5550100", city="Hamburg",
                                  owner_party_id=world.dealer.id, by=world.crm.system)
    world.crm.interests.note(dup.id, "cooking", by=world.crm.system)
    merged = api.post(f"/customers/{world.customer.id}/merge", headers=api.as_("manager"),
                      json={"duplicate_id": dup.id})
    assert merged.status_code == 200, merged.text
    assert (merged.json()["id"], merged.json()["phone"], merged.json()["city"]) == (
        world.customer.id, "+49405550100", "Hamburg")
    assert world.crm.customers.get(dup.id, by=world.crm.system).merged_into_id == world.customer.id
    interests = api.get(f"/customers/{world.customer.id}/interests", headers=api.as_("service")).json()
    assert [i["tag"] for i in interests] == ["cooking"]
    [row] = [r for r in _audit(world, "customer") if r.operation == "customers.merge" and r.entity_id == dup.id]
    assert row.actor_id == world.manager.id


def test_a_merge_needs_two_customers_of_the_callers_own(api, world):
    me = api.as_("manager")
    theirs = world.crm.customers.add("Erika M.", owner_party_id=world.other_dealer.id, by=world.crm.system)
    into_itself = api.post(f"/customers/{world.customer.id}/merge", headers=me,
                           json={"duplicate_id": world.customer.id})
    assert into_itself.status_code == 409 and into_itself.json()["field"] == "duplicate_id"
    another_dealers = api.post(f"/customers/{world.customer.id}/merge", headers=me, json={"duplicate_id": theirs.id})
    assert another_dealers.status_code == 404
    missing = api.post(f"/customers/{world.customer.id}/merge", headers=me, json={})
    assert missing.status_code == 422 and missing.json()["field"] == "duplicate_id"
    assert world.crm.customers.get(theirs.id, by=world.crm.system).merged_into_id is None


def test_the_manager_exports_everything_held_about_the_customer(api, world):
    world.crm.interests.note(world.customer.id, "skiing", by=world.service.id)
    world.crm.customers.add_contact(world.customer.id, "Hans Musterfrau", "spouse", by=world.crm.system)
    answer = api.get(f"/customers/{world.customer.id}/export", headers=api.as_("manager"))
    assert answer.status_code == 200, answer.text
    export = answer.json()
    assert (export["customer"]["name"], export["customer"]["email"]) == ("Erika Musterfrau", "erika@example.org")
    assert [i["tag"] for i in export["interest"]] == ["skiing"]
    assert [c["name"] for c in export["contact_person"]] == ["Hans Musterfrau"]
    assert [a["serial_number"] for a in export["asset"]] == ["BR7-0001"]
    assert any(r["operation"] == "customers.add" for r in export["audit"])


def test_the_manager_erases_a_customer_and_nothing_personal_is_left(api, world):
    world.crm.customers.add_contact(world.customer.id, "Hans Musterfrau", "spouse", email="hans@example.org", by=world.crm.system)
    answer = api.post(f"/customers/{world.customer.id}/erase", headers=api.as_("manager"))
    assert answer.status_code == 200, answer.text
    erased = answer.json()
    assert erased["name"] == f"erased customer #{world.customer.id}" and erased["erased_at"]
    assert erased.get("email") is None
    export = json.dumps(world.crm.customers.export(world.customer.id, by=world.crm.system))
    for personal in ("Erika", "erika@example.org", "Hans Musterfrau", "hans@example.org"):
        assert personal not in export, personal
    again = api.post(f"/customers/{world.customer.id}/erase", headers=api.as_("manager"))
    assert again.status_code == 409 and "already erased" in again.json()["detail"]


def test_an_erasure_drops_the_kept_answers_that_held_the_customers_data(api, world):
    me = api.as_("service", **{"Idempotency-Key": "register-max"})
    body = {"name": "Max Mustermann", "email": "max@example.org", "city": "Hamburg"}
    first = api.post("/customers", headers=me, json=body)
    assert first.status_code == 201
    max_id = first.json()["id"]
    contact = api.post(f"/customers/{max_id}/contacts", json={"name": "Sabine Mustermann", "phone": "040 5550177"},
                       headers=api.as_("service", **{"Idempotency-Key": "his-wife"}))
    assert contact.status_code == 201
    other = api.post("/customers", headers=api.as_("service", **{"Idempotency-Key": "register-lisa"}),
                     json={"name": "Lisa Lustig", "email": "lisa@example.org"})
    assert "Max Mustermann" in _kept(world, "register-max") and "Sabine" in _kept(world, "his-wife")

    assert api.post(f"/customers/{max_id}/erase", headers=api.as_("manager")).status_code == 200

    for key in ("register-max", "his-wife"):
        assert _kept(world, key) is None, key
    assert "Lisa Lustig" in _kept(world, "register-lisa")  # another customer's answer stays
    repeat = api.post("/customers", headers=me, json=body)
    assert repeat.status_code == 410 and repeat.headers["idempotent-replayed"] == "true"
    assert repeat.headers["content-type"] == "application/problem+json"
    assert "Max" not in repeat.text and "max@" not in repeat.text
    assert repeat.json()["type"] == "urn:dealercrm:problem:answer-erased"
    assert world.count(Customer, Customer.name == "Max Mustermann") == 0  # not registered again
    assert api.post("/customers", headers=api.as_("service", **{"Idempotency-Key": "register-lisa"}),
                    json={"name": "Lisa Lustig", "email": "lisa@example.org"}).json() == other.json()


def _kept(world, key: str) -> str | None:
    with world.crm.read(world.crm.system) as uow:
        return uow.connection.execute(select(IdempotencyRecord.body).where(IdempotencyRecord.key == key)).scalar_one()


def _audit(world, entity: str) -> list[AuditRecord]:
    with world.crm.read(world.crm.system) as uow:
        return list(uow.session.scalars(select(AuditRecord).where(AuditRecord.entity == entity)
                                        .order_by(AuditRecord.id)))



def _claimed(world, store, key: str, path: str, digest: str):
    """A keyed request whose operation committed (its claim with it), its answer not kept yet."""
    from dealercrm.http.idempotency import Claim
    from dealercrm.uow import RIDER

    claim = Claim(store, world.dealer.id, key, "POST", path, digest)
    token = RIDER.set(claim)
    try:
        with world.crm.uow(world.crm.system, "the request's operation") as uow:
            uow.commit()
    finally:
        RIDER.reset(token)
    assert claim.record_id is not None
    return claim


def test_an_answer_finished_after_its_customer_was_erased_is_not_kept(world):
    """A keyed request still running when the erasure came: the scrub could not see its answer
    yet, so it is judged when it is stored."""
    import json

    from dealercrm.http.idempotency import RecordStore

    store = RecordStore(world.crm)
    claim = _claimed(world, store, "late-answer", "/tasks", "digest")
    world.crm.customers.erase(world.customer.id, by=world.manager.id)
    answer = {"id": 1, "title": "call Erika Musterfrau back", "customer_id": world.customer.id}
    assert store.finish(claim, 201, {"content-type": "application/json"}, json.dumps(answer).encode())
    assert _kept(world, "late-answer") is None
    assert store.lookup(world.dealer.id, "late-answer", "digest").status == 410
    # an answer about a customer still on file is kept as it is
    claim = _claimed(world, store, "other-answer", "/tasks", "digest-2")
    store.finish(claim, 201, {}, json.dumps({"customer_id": None, "title": "order parts"}).encode())
    assert "order parts" in _kept(world, "other-answer")


def test_an_answer_on_a_path_naming_an_impossible_customer_id_is_kept_and_not_left_running(world):
    from dealercrm.http.idempotency import Claim, RecordStore

    store = RecordStore(world.crm)
    path = "/customers/18446744073709551616/owner"
    refused = Claim(store, world.dealer.id, "huge", "POST", path, "digest")  # refused before writing anything
    assert store.finish(refused, 404, {}, b'{"status": 404}')
    assert store.lookup(world.dealer.id, "huge", "digest").status == 404
