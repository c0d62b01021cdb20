"""Two files for one person become one; and a person can see, or have removed,
everything held about him.

Max was filed twice: once by e-mail at the car handover, once by phone when his
washing machine broke. The merge keeps one file with everything linked to either.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from dealercrm import CustomerErased, CustomersMerged, NotFound, PluginError, ValidationError, Vetoed, hookimpl
from dealercrm.db.models import (AuditRecord, Asset, Consent, ContactPerson, Customer, Interaction, Interest,
                                 Task)
from dealercrm.services.privacy import ERASED


def rows(crm, model, **where):
    with crm.read(crm.system) as uow:
        query = select(model).order_by(model.id)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return list(uow.session.scalars(query))


def audit(crm, **where):
    return rows(crm, AuditRecord, **where)


class Events:
    def __init__(self):
        self.seen = []

    @hookimpl
    def dealercrm_handle_event(self, event):
        self.seen.append(event)


def two_files_for_max(crm, clock):
    """Max by e-mail (kept) and Max by phone (the duplicate), each with records."""
    home = crm.parties.by_name("Our Dealership", by=crm.system)
    sabine = crm.parties.add_actor(home.id, "Sabine Krüger", "manager", by=crm.system)
    car = crm.products.add("CAR-ALP-T", "Alpina Touring estate", warranty_months=36, by=crm.system)
    washer = crm.products.add("WM-BRI-8", "Brioche WashPro 8kg", warranty_months=24, by=crm.system)
    keep = crm.customers.add("Max Mustermann", email="max@example.org", kind="person", by=crm.system)
    crm.assets.record(keep.id, car.id, serial_number="WALP42", handed_over_on="2023-01-09", by=crm.system)
    crm.consents.grant(keep.id, "email", "marketing", source="handover form", by=crm.system)
    crm.interactions.record(keep.id, "visit", "inbound", "handover; off skiing next month", by=crm.system)
    clock.advance(days=400)
    dup = crm.customers.add("Max Mustermann", phone="0171 5550100", birthday="1978-02-14", street="Bergstraße 1",
                            postcode="80331", city="München", account_owner_id=sabine.id, external_id="ERP-7", by=crm.system)
    crm.assets.record(dup.id, washer.id, serial_number="WM-1", handed_over_on="2024-02-13", by=crm.system)
    talk = crm.interactions.record(dup.id, "phone", "inbound", "the washing machine washes badly", by=crm.system)
    crm.interests.note(dup.id, "skiing", interaction_id=talk.id, by=crm.system)
    crm.consents.grant(dup.id, "sms", "service", source="service call", by=crm.system)
    crm.customers.add_contact(dup.id, "Erika Mustermann", "spouse", phone="0171 5550101", by=crm.system)
    crm.tasks.create("call back about the washer", clock.now() + timedelta(days=1), customer_id=dup.id,
                     assigned_actor_id=sabine.id, note="prefers mornings", by=crm.system)
    return keep, dup, sabine


# --- merge ---------------------------------------------------------------------------


def test_merge_moves_every_linked_record_to_the_kept_customer(any_crm, clock):
    crm = any_crm
    keep, dup, _ = two_files_for_max(crm, clock)
    crm.customers.merge(keep.id, dup.id, by=crm.system)
    for model in (Asset, Interest, Consent, Interaction, Task, ContactPerson):
        assert rows(crm, model, customer_id=dup.id) == [], model.__name__
    view = crm.customers.view(keep.id, by=crm.system)
    assert sorted(a.serial_number for a, _ in view.assets) == ["WALP42", "WM-1"]
    assert [i.tag for i in view.interests] == ["skiing"]
    assert [p.name for p in view.contacts] == ["Erika Mustermann"]
    assert [t.title for t in view.open_tasks] == ["call back about the washer"]
    assert len(view.timeline) == 2
    assert crm.consents.may_contact(keep.id, "sms", "service", by=crm.system) is True
    assert crm.consents.may_contact(keep.id, "email", "marketing", by=crm.system) is True


def test_the_duplicate_stays_as_a_tombstone_pointing_at_the_kept_file(any_crm, clock):
    crm = any_crm
    keep, dup, _ = two_files_for_max(crm, clock)
    crm.customers.merge(keep.id, dup.id, by=crm.system)
    tomb = crm.customers.get(dup.id, by=crm.system)
    assert tomb.merged_into_id == keep.id
    assert tomb.phone is None  # moved to the kept file: unique there
    assert tomb.external_id == "ERP-7"  # a re-run import still recognises it
    assert tomb.updated_at == clock.now() and tomb.updated_at.utcoffset() == timedelta(0)
    assert crm.customers.get(keep.id, by=crm.system).merged_into_id is None


def test_merge_fills_missing_fields_from_the_duplicate_without_overwriting(crm, clock):
    keep, dup, sabine = two_files_for_max(crm, clock)
    crm.customers.update(keep.id, city="Hamburg", by=crm.system)
    merged = crm.customers.merge(keep.id, dup.id, by=crm.system)
    got = crm.customers.get(keep.id, by=crm.system)
    assert got.email == "max@example.org"  # kept
    assert got.phone == "+491715550100"  # filled
    assert got.birthday == date(1978, 2, 14)
    assert got.street == "Bergstraße 1"
    assert got.city == "Hamburg"  # not overwritten
    assert got.account_owner_id == sabine.id
    assert merged.id == keep.id


def test_merge_keeps_the_latest_personal_touch(crm, clock):
    keep, dup, _ = two_files_for_max(crm, clock)
    latest = crm.customers.get(dup.id, by=crm.system).last_touch_at
    assert crm.customers.get(keep.id, by=crm.system).last_touch_at < latest
    crm.customers.merge(keep.id, dup.id, by=crm.system)
    assert crm.customers.get(keep.id, by=crm.system).last_touch_at == latest


def test_merge_is_audited_with_the_ids_it_moved_and_announced(crm, clock, register_plugin):
    events = Events()
    register_plugin(events, "events")
    keep, dup, sabine = two_files_for_max(crm, clock)
    moved_assets = [a.id for a in crm.assets.of_customer(dup.id, by=crm.system)]
    crm.customers.merge(keep.id, dup.id, by=sabine.id)
    trail = [r for r in audit(crm) if r.operation == "customers.merge"]
    assert trail and all(r.actor_id == sabine.id for r in trail)
    by_entity = {r.entity: r for r in trail if r.entity_id is None}
    assert set(by_entity) >= {"asset", "interest", "consent", "interaction", "task", "contact_person"}
    assert by_entity["asset"].changes == {"customer_id": [dup.id, keep.id], "ids": moved_assets}
    tomb_row = next(r for r in trail if r.entity == "customer" and r.entity_id == dup.id)
    assert tomb_row.changes["merged_into_id"] == [None, keep.id]
    [event] = [e for e in events.seen if isinstance(e, CustomersMerged)]
    assert (event.kept_id, event.merged_id) == (keep.id, dup.id)
    assert dict(event.moved)["asset"] == 1 and dict(event.moved)["interaction"] == 1


def test_a_customer_cannot_be_merged_into_itself(crm):
    c = crm.customers.add("Max Mustermann", by=crm.system)
    with pytest.raises(ValidationError, match="cannot be merged into itself"):
        crm.customers.merge(c.id, c.id, by=crm.system)


def test_a_duplicate_cannot_be_merged_twice_nor_be_kept(crm):
    keep = crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)
    dup = crm.customers.add("Max Mustermann", phone="0171 5550100", by=crm.system)
    third = crm.customers.add("Max M.", by=crm.system)
    crm.customers.merge(keep.id, dup.id, by=crm.system)
    with pytest.raises(ValidationError, match=f"was already merged into customer {keep.id}"):
        crm.customers.merge(keep.id, dup.id, by=crm.system)
    with pytest.raises(ValidationError, match="already merged"):
        crm.customers.merge(dup.id, third.id, by=crm.system)


def test_merging_an_unknown_customer_is_not_found(crm):
    c = crm.customers.add("Max Mustermann", by=crm.system)
    with pytest.raises(NotFound, match="customer 99 not found"):
        crm.customers.merge(c.id, 99, by=crm.system)


def test_a_chain_of_merges_leaves_every_tombstone_pointing_at_the_survivor(crm):
    a = crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)
    b = crm.customers.add("Max Mustermann", phone="0171 5550100", by=crm.system)
    c = crm.customers.add("Maximilian Mustermann", by=crm.system)
    crm.customers.merge(a.id, b.id, by=crm.system)
    crm.customers.merge(c.id, a.id, by=crm.system)
    assert crm.customers.get(b.id, by=crm.system).merged_into_id == c.id
    assert crm.customers.get(a.id, by=crm.system).merged_into_id == c.id
    assert [m["id"] for m in crm.customers.export(c.id, by=crm.system)["merged_records"]] == [a.id, b.id]


def test_nothing_new_can_be_filed_on_a_tombstone(crm, clock):
    keep, dup, _ = two_files_for_max(crm, clock)
    crm.customers.merge(keep.id, dup.id, by=crm.system)
    home = crm.parties.by_name("Our Dealership", by=crm.system)
    for call in (lambda: crm.interactions.record(dup.id, "phone", "inbound", "lost call", by=crm.system),
                 lambda: crm.interests.note(dup.id, "golf", by=crm.system),
                 lambda: crm.consents.grant(dup.id, "email", "service", source="form", by=crm.system),
                 lambda: crm.customers.add_contact(dup.id, "Someone", by=crm.system),
                 lambda: crm.tasks.create("lost task", clock.now(), customer_id=dup.id, assigned_party_id=home.id, by=crm.system)):
        with pytest.raises(ValidationError, match=f"merged into customer {keep.id}"):
            call()


def test_merge_rolls_back_entirely_when_a_plugin_vetoes_it(crm, clock, register_plugin):
    keep, dup, _ = two_files_for_max(crm, clock)

    class NoMerges:
        @hookimpl
        def dealercrm_check_event(self, event):
            if isinstance(event, CustomersMerged):
                raise Vetoed("no-merges", "merges need a manager")

    register_plugin(NoMerges(), "no-merges")
    before = len(audit(crm))
    with pytest.raises(Vetoed):
        crm.customers.merge(keep.id, dup.id, by=crm.system)
    assert crm.customers.get(dup.id, by=crm.system).merged_into_id is None
    assert crm.customers.get(dup.id, by=crm.system).phone == "+491715550100"
    assert len(crm.assets.of_customer(dup.id, by=crm.system)) == 1
    assert len(audit(crm)) == before


# --- right of access -------------------------------------------------------------------


def test_the_export_holds_everything_about_the_person_as_json(any_crm, clock):
    crm = any_crm
    keep, dup, _ = two_files_for_max(crm, clock)
    crm.customers.merge(keep.id, dup.id, by=crm.system)
    data = json.loads(json.dumps(crm.customers.export(keep.id, by=crm.system)))  # serialisable as it is
    assert data["customer"]["email"] == "max@example.org"
    assert data["customer"]["phone"] == "+491715550100"
    assert data["customer"]["birthday"] == "1978-02-14"
    assert sorted(a["serial_number"] for a in data["asset"]) == ["WALP42", "WM-1"]
    assert [i["tag"] for i in data["interest"]] == ["skiing"]
    assert {(c["channel"], c["purpose"]) for c in data["consent"]} == {("email", "marketing"), ("sms", "service")}
    assert len(data["interaction"]) == 2
    assert [t["title"] for t in data["task"]] == ["call back about the washer"]
    assert [p["name"] for p in data["contact_person"]] == ["Erika Mustermann"]
    assert data["customer"]["created_at"].endswith("+00:00")


def test_the_export_includes_what_the_merged_duplicate_still_holds(crm, clock):
    keep, dup, _ = two_files_for_max(crm, clock)
    crm.customers.update(keep.id, name="Max Mustermann-Berg", by=crm.system)
    crm.customers.merge(keep.id, dup.id, by=crm.system)
    [tomb] = crm.customers.export(keep.id, by=crm.system)["merged_records"]
    assert tomb["id"] == dup.id
    assert tomb["name"] == "Max Mustermann"  # held on the tombstone: part of the right of access
    assert tomb["merged_into_id"] == keep.id


def test_the_export_includes_the_audit_trail_of_both_files(crm, clock):
    keep, dup, _ = two_files_for_max(crm, clock)
    crm.customers.merge(keep.id, dup.id, by=crm.system)
    trail = crm.customers.export(keep.id, by=crm.system)["audit"]
    operations = {r["operation"] for r in trail}
    assert {"customers.add", "assets.record", "interests.note", "consents.grant", "interactions.record",
            "customers.add_contact", "tasks.create", "customers.merge"} <= operations
    assert {r["customer_id"] for r in trail} == {keep.id, dup.id}
    assert any(r["personal_changes"] and r["personal_changes"].get("email") for r in trail)


def test_a_plugin_adds_its_own_section_to_the_export(crm, register_plugin):
    c = crm.customers.add("Max Mustermann", by=crm.system)

    class Loyalty:
        @hookimpl
        def dealercrm_export_customer(self, customer_id):
            return {"loyalty": {"points": 120, "customer": customer_id}}

    register_plugin(Loyalty(), "loyalty")
    assert crm.customers.export(c.id, by=crm.system)["loyalty"] == {"points": 120, "customer": c.id}


# --- right to erasure ------------------------------------------------------------------


def test_erasure_anonymises_every_table_but_keeps_the_business_records(any_crm, clock):
    crm = any_crm
    keep, dup, _ = two_files_for_max(crm, clock)
    crm.customers.merge(keep.id, dup.id, by=crm.system)
    clock.advance(days=1)
    crm.customers.erase(keep.id, by=crm.system)
    for cid in (keep.id, dup.id):
        c = crm.customers.get(cid, by=crm.system)
        assert c.name == f"erased customer #{cid}"
        assert (c.email, c.phone, c.birthday, c.street, c.postcode, c.city) == (None,) * 6
        assert c.erased_at == clock.now() and c.erased_at.utcoffset() == timedelta(0)
    assert [(p.name, p.email, p.phone) for p in rows(crm, ContactPerson)] == [(ERASED, None, None)]
    assert rows(crm, Interest) == []
    talks = rows(crm, Interaction)
    assert [t.summary for t in talks] == [ERASED, ERASED]
    assert all(t.at is not None and t.channel for t in talks)  # dates and channels stay
    tasks = rows(crm, Task)
    assert [(t.title, t.note) for t in tasks] == [(ERASED, None)]
    assert tasks[0].due_at is not None
    # business records and proof stay
    assert sorted(a.serial_number for a in rows(crm, Asset)) == ["WALP42", "WM-1"]
    assert [a.warranty_until for a in rows(crm, Asset)] == [date(2026, 1, 9), date(2026, 2, 13)]
    consents = rows(crm, Consent)
    assert len(consents) == 2 and all(c.source and c.at for c in consents)
    assert crm.customers.get(keep.id, by=crm.system).created_at is not None


def test_erasure_blanks_the_personal_half_of_the_audit_but_keeps_the_rest(any_crm, clock):
    crm = any_crm
    keep, dup, _ = two_files_for_max(crm, clock)
    crm.customers.merge(keep.id, dup.id, by=crm.system)
    other = crm.customers.add("Erika Musterfrau", email="erika@example.org", by=crm.system)
    crm.customers.erase(keep.id, by=crm.system)
    mine = [r for r in audit(crm) if r.customer_id in (keep.id, dup.id)]
    assert mine and all(r.personal_changes is None for r in mine)
    added = next(r for r in mine if r.operation == "customers.add" and r.entity_id == dup.id)
    assert added.changes["kind"] == [None, "person"]  # the plain half stays
    assert added.changes["external_id"] == [None, "ERP-7"]
    # another customer's audit is untouched
    theirs = [r for r in audit(crm, customer_id=other.id) if r.personal_changes]
    assert theirs[0].personal_changes["email"] == [None, "erika@example.org"]
    # and nothing personal is left anywhere in the export
    text = json.dumps(crm.customers.export(keep.id, by=crm.system))
    for secret in ("max@example.org", "+491715550100", "1978-02-14", "Bergstraße", "skiing", "washes badly",
                   "Erika Mustermann", "prefers mornings", "call back about the washer"):
        assert secret not in text, secret


def test_erasure_is_audited_and_announced(crm, clock, register_plugin):
    events = Events()
    register_plugin(events, "events")
    keep, dup, sabine = two_files_for_max(crm, clock)
    crm.customers.erase(dup.id, by=sabine.id)
    [row] = [r for r in audit(crm) if r.action == "erase"]
    assert (row.operation, row.actor_id, row.entity_id, row.customer_id) == (
        "customers.erase", sabine.id, dup.id, dup.id)
    counts = row.changes["rows"]
    assert {k: counts[k] for k in ("contact_person", "interest", "interaction", "task")} == {
        "contact_person": 1, "interest": 1, "interaction": 1, "task": 1}
    assert counts["audit_record"] > 0  # personal halves blanked
    assert row.changes["records"] == [dup.id]
    assert row.personal_changes is None
    assert [e.customer_id for e in events.seen if isinstance(e, CustomerErased)] == [dup.id]
    # Max's other file is not touched
    assert crm.customers.get(keep.id, by=crm.system).email == "max@example.org"


def test_erasing_twice_is_refused(crm):
    c = crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)
    crm.customers.erase(c.id, by=crm.system)
    with pytest.raises(ValidationError, match="was already erased at"):
        crm.customers.erase(c.id, by=crm.system)


def test_an_erased_customer_cannot_take_part_in_a_merge(crm):
    a = crm.customers.add("Max Mustermann", by=crm.system)
    b = crm.customers.add("Max M.", by=crm.system)
    crm.customers.erase(b.id, by=crm.system)
    with pytest.raises(ValidationError, match="was erased"):
        crm.customers.merge(a.id, b.id, by=crm.system)


def test_a_plugin_that_fails_to_erase_aborts_the_whole_erasure(crm, register_plugin):
    c = crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)
    crm.interactions.record(c.id, "phone", "inbound", "hello", by=crm.system)

    class Broken:
        @hookimpl
        def dealercrm_erase_customer(self, customer_id):
            raise RuntimeError("mailing list server is down")

    register_plugin(Broken(), "mailing-list")
    with pytest.raises(PluginError) as info:
        crm.customers.erase(c.id, by=crm.system)
    assert (info.value.plugin, info.value.hook) == ("mailing-list", "dealercrm_erase_customer")
    assert crm.customers.get(c.id, by=crm.system).email == "max@example.org"
    assert [t.summary for t in rows(crm, Interaction)] == ["hello"]
    with crm.read(crm.system) as uow:
        assert uow.session.scalar(select(func.count()).select_from(AuditRecord)
                                  .where(AuditRecord.action == "erase")) == 0


def test_a_plugin_erases_what_it_holds_inside_the_same_erasure(crm, register_plugin):
    c = crm.customers.add("Max Mustermann", by=crm.system)
    seen = []

    class Newsletter:
        @hookimpl
        def dealercrm_erase_customer(self, customer_id, uow):
            seen.append((customer_id, uow.operation))

    register_plugin(Newsletter(), "newsletter")
    crm.customers.erase(c.id, by=crm.system)
    assert seen == [(c.id, "customers.erase")]
    assert crm.customers.get(c.id, by=crm.system).erased_at is not None


def test_erasure_drops_the_kept_http_answers_that_concern_the_customer_and_no_others(any_crm, clock):
    from dealercrm.db.api_models import IdempotencyRecord

    crm = any_crm
    keep, dup, _ = two_files_for_max(crm, clock)
    crm.customers.merge(keep.id, dup.id, by=crm.system)  # Max's duplicate now has the phone, Max's file both
    other = crm.customers.add("Erika Musterfrau", email="erika@example.org", by=crm.system)
    answers = {  # what the HTTP API kept for Idempotency-Key repeats, by path
        "his record": ("/customers", {"id": keep.id, "name": "Max Mustermann", "email": "max@example.org"}),
        "his file": (f"/customers/{dup.id}/interests", {"id": 1, "tag": "skiing"}),
        "his task": ("/tasks", {"id": 9, "customer_id": dup.id, "title": "call Max back"}),
        "a case in a list": ("/reports/x", {"rows": [{"case_id": 4, "customer_id": keep.id}]}),
        "his phone refused": ("/customers", {"type": "urn:dealercrm:problem:validation-error",
                                             "detail": "invalid phone '+491715550100': already used"}),
        "her record": ("/customers", {"id": other.id, "name": "Erika Musterfrau", "email": "erika@example.org"}),
        "her case": ("/cases", {"id": keep.id, "customer_id": other.id, "summary": "noisy"}),
        "her file": (f"/customers/{other.id}/interests", {"id": keep.id, "tag": "cooking"}),
    }
    home = crm.parties.by_name("Our Dealership", by=crm.system).id
    with crm.uow(crm.system, "test") as uow:
        for key, (path, body) in answers.items():
            uow.connection.execute(IdempotencyRecord.__table__.insert().values(
                key=key, party_id=home, method="POST", path=path, request_hash="h", status=201,
                headers={"content-type": "application/json"}, body=json.dumps(body), created_at=uow.now))
        uow.commit()
    crm.customers.erase(keep.id, by=crm.system)
    kept = {r.key: r for r in rows(crm, IdempotencyRecord)}
    dropped = {key for key, r in kept.items() if r.body is None}
    assert dropped == {"his record", "his file", "his task", "a case in a list", "his phone refused"}
    assert all((kept[k].status, kept[k].headers) == (410, None) for k in dropped)
    assert all(json.loads(kept[k].body) == answers[k][1] for k in set(answers) - dropped)
    [erasure] = [r for r in audit(crm) if r.action == "erase"]
    assert erasure.changes["rows"]["idempotency_record"] == 5
