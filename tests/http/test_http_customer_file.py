"""The customer file, tasks, reports and inbound webhooks over HTTP, and the shape of every problem."""

from __future__ import annotations

import json

import pytest
from api_world import WEBHOOK_SECRET, forwarded

from dealercrm.db.migrate import head_revision
from dealercrm.plugins.channel_webhook import sign_headers

PROBLEM = {"type", "title", "status", "detail", "instance"}


def test_the_dealer_keeps_the_whole_file_over_http(api, world):
    me = api.as_("service")
    created = api.post("/customers", headers=me, json={"name": "Max Mustermann", "email": "Max@Example.org",
                                                       "phone": "040 5550100", "city": "Hamburg"})
    assert created.status_code == 201 and created.headers["location"] == f"/customers/{created.json()['id']}"
    max_ = created.json()
    assert (max_["email"], max_["phone"], max_["owner_party_id"]) == ("max@example.org", "+49405550100",
                                                                      world.dealer.id)
    cid = max_["id"]
    assert api.patch(f"/customers/{cid}", headers=me, json={"street": "Elbchaussee 1"}).json()["street"] == \
        "Elbchaussee 1"
    assert api.post(f"/customers/{cid}/consents", headers=me, json={
        "channel": "email", "purpose": "marketing", "granted": True, "source": "signed at handover"}).status_code == 201
    assert api.post(f"/customers/{cid}/interests", headers=me, json={"tag": "Skiing"}).json()["tag"] == "skiing"
    asset = api.post(f"/customers/{cid}/assets", headers=me, json={
        "product_id": world.product_id, "serial_number": "BR7-0002", "handed_over_on": "2026-03-01"}).json()
    assert asset["product_sku"] == "BR-WM-7" and asset["warranty_until"] == "2028-03-01"
    talk = api.post(f"/customers/{cid}/interactions", headers=me, json={
        "channel": "phone", "direction": "outbound", "summary": "check-in call: all fine"})
    assert talk.status_code == 201
    view = api.get(f"/customers/{cid}", headers=me).json()
    assert view["visibility"] == "full" and view["owner_party"]["name"] == "Elektro Schmidt"
    assert [i["tag"] for i in view["interests"]] == ["skiing"]
    assert [(c["channel"], c["purpose"], c["granted"]) for c in view["consents"]] == [("email", "marketing", True)]
    assert [a["serial_number"] for a in view["assets"]] == ["BR7-0002"]
    assert [t["summary"] for t in view["timeline"]] == ["check-in call: all fine"]
    timeline = api.get(f"/customers/{cid}/timeline?limit=1", headers=me).json()
    assert len(timeline["items"]) == 1 and timeline["next_offset"] is None
    found = api.get("/customers?q=muster", headers=me).json()["items"]
    assert {c["name"] for c in found} == {"Erika Musterfrau", "Max Mustermann"}


def test_a_manufacturer_or_technician_cannot_register_customers(api):
    for who in ("warranty", "fitter"):
        assert api.post("/customers", headers=api.as_(who), json={"name": "Someone"}).status_code == 403


def test_tasks_are_the_callers_partys_own(api, world):
    created = api.post("/tasks", headers=api.as_("service"), json={
        "title": "call Erika about the visit", "due_at": "2026-03-03T10:00:00+01:00", "customer_id": world.customer.id,
        "assigned_actor_id": world.manager.id})
    assert created.status_code == 201 and created.json()["assigned_actor_id"] == world.manager.id
    task_id = created.json()["id"]
    assert [t["id"] for t in api.get("/tasks", headers=api.as_("manager")).json()["items"]] == [task_id]
    for who in ("other_dealer", "warranty"):
        assert api.get(f"/tasks/{task_id}", headers=api.as_(who)).status_code == 404
        assert api.post(f"/tasks/{task_id}/complete", headers=api.as_(who)).status_code == 404
    done = api.post(f"/tasks/{task_id}/complete", headers=api.as_("manager"), json={"note": "she is happy"})
    assert done.json()["status"] == "done"
    assert api.post(f"/tasks/{task_id}/complete", headers=api.as_("manager")).status_code == 409
    assert api.get("/tasks?status=done", headers=api.as_("service")).json()["items"][0]["id"] == task_id


def test_a_task_cannot_be_given_to_another_partys_person_or_about_an_invisible_customer(api, world):
    someone_else = api.post("/tasks", headers=api.as_("service"), json={
        "title": "x", "due_at": "2026-03-03T10:00:00Z", "assigned_actor_id": world.warranty_desk.id})
    assert someone_else.status_code == 409 and someone_else.json()["field"] == "assigned_actor_id"
    invisible = api.post("/tasks", headers=api.as_("other_dealer"), json={
        "title": "x", "due_at": "2026-03-03T10:00:00Z", "customer_id": world.customer.id})
    assert invisible.status_code == 404
    naive = api.post("/tasks", headers=api.as_("service"), json={"title": "x", "due_at": "2026-03-03T10:00:00"})
    assert naive.status_code == 422 and naive.json()["field"] == "due_at"


def test_reports_show_a_party_its_own_figures(api, world):
    forwarded(world)
    rows = api.get("/reports/cases", headers=api.as_("warranty")).json()["rows"]
    assert [r["party"] for r in rows] == ["Brioche Hausgeräte"]
    rows = api.get("/reports/cases", headers=api.as_("service")).json()["rows"]
    assert [r["party"] for r in rows] == ["Elektro Schmidt"]
    contacts = api.get("/reports/contacts", headers=api.as_("service")).json()["rows"]
    assert sum(r["customers"] for r in contacts) == 1  # Erika, not the other dealers' customers
    assert api.get("/reports/loyal_at_risk", headers=api.as_("warranty")).status_code == 403
    assert api.get("/reports/nonsense", headers=api.as_("service")).status_code == 404  # no such report


def test_an_inbound_webhook_is_stored_and_attached_without_telling_the_caller_who_is_a_customer(api, world):
    body = json.dumps({"from": "erika@example.org", "text": "the machine still smells"}).encode()
    known = api.post("/inbound/webhook", content=body,
                     headers={"content-type": "application/json", **sign_headers(WEBHOOK_SECRET, body)})
    other = json.dumps({"from": "stranger@example.org", "text": "hello"}).encode()
    unknown = api.post("/inbound/webhook", content=other,
                       headers={"content-type": "application/json", **sign_headers(WEBHOOK_SECRET, other)})
    assert known.status_code == unknown.status_code == 202
    assert set(known.json()) == set(unknown.json()) == {"id", "status"}
    assert world.crm.inbound.get(known.json()["id"], by=world.crm.system).status == "attached"
    assert world.crm.inbound.get(unknown.json()["id"], by=world.crm.system).status == "triage"


def test_an_unsigned_inbound_webhook_is_401_and_stores_nothing(api, world):
    from dealercrm.db.outbox_models import InboundMessage

    answer = api.post("/inbound/webhook", content=b'{"from": "erika@example.org", "text": "hi"}')
    assert answer.status_code == 401 and answer.json()["type"] == "urn:dealercrm:problem:unauthenticated"
    assert world.count(InboundMessage) == 0


def test_a_signed_but_malformed_inbound_webhook_is_kept_and_answered_400(api, world):
    body = b'{"from": "erika@example.org"}'
    answer = api.post("/inbound/webhook", content=body, headers=sign_headers(WEBHOOK_SECRET, body))
    assert answer.status_code == 400 and answer.json()["type"] == "urn:dealercrm:problem:malformed-message"
    assert world.crm.inbound.get(answer.json()["inbound_id"], by=world.crm.system).status == "malformed"


def test_an_unknown_inbound_channel_is_404_and_stores_nothing(api, world):
    from dealercrm.db.outbox_models import InboundMessage

    assert api.post("/inbound/telex", content=b"hi").status_code == 404
    assert world.count(InboundMessage) == 0


# -- problem details ------------------------------------------------------------------


@pytest.mark.parametrize("method,path,body,status,kind", [
    ("GET", "/cases/999", None, 404, "not-found"),
    ("GET", "/nowhere", None, 404, "not-found"),
    ("DELETE", "/cases", None, 405, "method-not-allowed"),
    ("POST", "/cases", {"customer_id": "one"}, 422, "validation-error"),
    ("POST", "/customers", {"name": "X", "email": "not-an-address"}, 422, "validation-error"),
    ("POST", "/customers", {"name": "Nul\u0000"}, 422, "validation-error"),
    ("GET", "/customers/3000000000", None, 404, "not-found"),  # beyond any id: names nothing
])
def test_errors_are_problem_details(api, method, path, body, status, kind):
    answer = api.request(method, path, headers=api.as_("service"), json=body)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert PROBLEM <= set(problem) and problem["status"] == status
    assert problem["type"] == f"urn:dealercrm:problem:{kind}" and problem["instance"] == path.split("?")[0]
    if status == 422:
        assert problem["field"] and problem["reason"]


def test_a_validation_problem_names_the_field_the_core_refused(api):
    problem = api.post("/customers", headers=api.as_("service"), json={"name": "X", "email": "nope"}).json()
    assert (problem["field"], problem["status"]) == ("email", 422) and "nope" in problem["detail"]


def test_a_body_over_the_limit_is_413(api):
    answer = api.post("/customers", headers=api.as_("service"), content=b"x" * ((1 << 20) + 1))
    assert answer.status_code == 413 and answer.headers["content-type"] == "application/problem+json"


def test_health_needs_no_key_and_me_names_the_actor(api, world):
    assert api.get("/health").json() == {"status": "ok", "database": "ok", "schema_revision": head_revision()}
    assert api.get("/me", headers=api.as_("warranty")).json() == {
        "actor_id": world.warranty_desk.id, "name": "Claire Dubois", "party_id": world.manufacturer.id,
        "kind": "manufacturer", "role": "warranty"}


def test_a_load_balancer_polling_health_does_not_make_the_server_parse_its_migrations_each_time(api, monkeypatch):
    # /health needs no key: each poll used to read and parse every migration script (some 8 ms of
    # CPU), so anyone could keep a server busy with it. The head revision is the installed code's.
    from alembic.script import ScriptDirectory

    read = []
    original = ScriptDirectory.from_config.__func__
    monkeypatch.setattr(ScriptDirectory, "from_config", classmethod(lambda cls, cfg: read.append(1) or original(cls, cfg)))
    for _ in range(5):
        assert api.get("/health").json()["status"] == "ok"
    assert len(read) <= 1


def test_health_is_degraded_when_the_schema_is_not_the_one_this_version_expects(api, world):
    from sqlalchemy import text

    with world.crm.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'an_older_one'"))
    answer = api.get("/health")
    assert answer.status_code == 503
    assert answer.json() == {"status": "degraded", "database": f"schema an_older_one, expected {head_revision()}",
                             "schema_revision": "an_older_one"}


def test_health_is_degraded_when_the_database_does_not_answer(api, world):
    from pathlib import Path

    world.crm.engine.dispose()  # no connection kept open: the next one is opened afresh
    database = Path(world.crm.engine.url.database)
    moved = database.with_name(database.name + ".away")
    database.rename(moved)
    database.mkdir()  # a folder where the file was: SQLite cannot open it
    try:
        answer = api.get("/health")
    finally:
        database.rmdir()
        moved.rename(database)
    assert answer.status_code == 503
    assert answer.json()["status"] == "degraded" and answer.json()["database"].startswith("unreachable: ")


def test_a_plugins_veto_is_409_and_a_failing_plugin_is_500_without_its_internals(api, world):
    from case_world import plugin

    from dealercrm import CaseTransitioned, Vetoed

    def veto(event, uow):
        if isinstance(event, CaseTransitioned) and event.trigger == "withdraw":
            raise Vetoed("policy", "withdrawals need the manager")
        if isinstance(event, CaseTransitioned) and event.trigger == "start_diagnosis":
            raise RuntimeError("secret connection string postgres://x:y@db")

    world.crm.register(plugin("policy", dealercrm_check_event=veto))
    case_id = world.open_case().id
    vetoed = api.post(f"/cases/{case_id}/transitions", headers=api.as_("service"),
                      json={"trigger": "withdraw", "data": {"reason": "x"}})
    assert vetoed.status_code == 409 and vetoed.json()["type"] == "urn:dealercrm:problem:vetoed"
    assert "withdrawals need the manager" in vetoed.json()["detail"]
    failed = api.post(f"/cases/{case_id}/transitions", headers=api.as_("service"), json={"trigger": "start_diagnosis"})
    assert failed.status_code == 500 and failed.json()["type"] == "urn:dealercrm:problem:plugin-error"
    assert "policy" in failed.json()["detail"] and "secret" not in failed.text
    assert world.crm.cases.get(case_id, by=world.crm.system).state == "reported"
