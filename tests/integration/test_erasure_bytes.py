"""Erasure, checked in the bytes: after ``crm.customers.erase`` nothing the person said,
wrote or was sent is left anywhere in the database.

Max is filed, talks to the dealer, has a washing-machine case that goes round the
manufacturer and back, gets messages on every channel — sent, refused with his address
echoed back (``RCPT TO … 550``, a gateway repeating the text), held back for want of
consent — answers by e-mail and webhook, answers the survey, and is handled in tasks,
over HTTP too. Every text planted on the way carries a unique marker. Then he is erased.

On SQLite the file is checkpointed and vacuumed and its bytes (and any ``-wal``) must
hold none of the markers; on PostgreSQL no text or JSON column of any table may. The
business records and the anonymised audit trail stay.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
import warnings
from datetime import timedelta
from pathlib import Path

import pytest
from case_world import build_world
from http_servers import Answer, RecordingServer
from smtp_server import SmtpServer
from whatsapp_cloud import customer_wrote
from sqlalchemy import func, select, text

from dealercrm import connect
from dealercrm.db.case_models import Case, CaseEvent
from dealercrm.db.models import Asset, AuditRecord
from dealercrm.db.outbox_models import InboundMessage, OutboxMessage
from dealercrm.db.rule_models import SurveyResponse
from dealercrm.http import create_app
from dealercrm.plugins.channel_webhook import sign_headers
from dealercrm.services.api_keys import ApiKeyService
from dealercrm.services.privacy import ERASED
from dealercrm.settings import ContactSettings, Settings

with warnings.catch_warnings():  # starlette would like httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

WEBHOOK_SECRET = "whsec-erasure-5e1f"
SMS_TOKEN, WA_TOKEN, PHONE_ID = "sms-tok-erase-81", "EAAGwa-erase-17", "109876543210"


@pytest.fixture(autouse=True)
def no_secrets_from_the_environment(monkeypatch):
    for name in ("DEALERCRM_WEBHOOK_SECRET", "DEALERCRM_SMS_TOKEN", "DEALERCRM_WHATSAPP_TOKEN", "DEALERCRM_SMTP_HOST",
                 "DEALERCRM_SMTP_PORT", "DEALERCRM_SMTP_USER", "DEALERCRM_SMTP_PASSWORD", "DEALERCRM_SMTP_FROM"):
        monkeypatch.delenv(name, raising=False)


def gateway_reply(server: RecordingServer):
    """An SMS gateway, the WhatsApp Cloud API and a webhook receiver in one: a text with
    FAIL is refused and one with BUSY put off — each echoing the address and the text, as
    real gateways do."""

    def reply(request) -> Answer:
        payload = request.json if isinstance(request.json, dict) else {}
        said = payload.get("text") or payload.get("body") or ""
        said = said.get("body", "") if isinstance(said, dict) else str(said)
        to = payload.get("to", "")
        if "FAIL" in said:
            return Answer(400, {"error": {"message": f"cannot deliver to {to}: {said}"}})
        if "BUSY" in said:
            return Answer(503, {"error": {"message": f"queue full for {to}: {said}"}})
        n = len(server.received)
        return Answer(200, {"id": f"gw-{n}", "messages": [{"id": f"wamid.{n}"}]})

    return reply


@pytest.fixture
def servers():
    smtp = SmtpServer().start()
    http = RecordingServer(id_prefix="gw")
    http.reply = gateway_reply(http)
    yield smtp, http
    http.stop()
    smtp.stop()


@pytest.fixture
def app(db_url, clock, servers):
    smtp, http = servers
    plugins = {
        "channel_email": smtp.settings,
        "channel_sms": {"url": http.url + "/api/sms", "token": SMS_TOKEN, "sender": "Schmidt", "timeout": 2},
        "channel_whatsapp": {"base_url": http.url, "version": "v21.0", "phone_number_id": PHONE_ID,
                             "token": WA_TOKEN, "timeout": 2},
        "channel_webhook": {"url": http.url + "/hook", "secret": WEBHOOK_SECRET, "timeout": 2},
    }
    # no marketing budget: a marketing webhook (a channel without consent) is held back too
    crm = connect(db_url, clock=clock, settings=Settings(plugins=plugins, contact=ContactSettings(budget=0)))
    crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
    yield crm
    crm.close()


class Markers:
    """Unique strings to plant, by label: ``mk("summary")`` makes one and remembers it."""

    def __init__(self):
        self.run = uuid.uuid4().hex[:10]
        self.planted: dict[str, str] = {}

    def __call__(self, label: str) -> str:
        self.planted[label] = f"Q{label}{self.run}"
        return self.planted[label]

    def add(self, label: str, value: str) -> str:
        self.planted[label] = value
        return value


def text_columns(conn) -> list[tuple[str, str]]:
    """(table, column) of every text, varchar and JSON column in the schema."""
    if conn.dialect.name == "postgresql":
        return [tuple(r) for r in conn.execute(text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() "
            "AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb') "
            "ORDER BY table_name, column_name"))]
    found = []
    for (table,) in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")):
        for row in conn.execute(text(f'PRAGMA table_info("{table}")')):
            if any(t in (row.type or "").upper() for t in ("CHAR", "TEXT", "JSON", "CLOB")) or not row.type:
                found.append((table, row.name))
    return found


def where_found(crm, markers: dict[str, str]) -> dict[str, list[str]]:
    """For each marker, the ``table.column`` whose values (cast to text) contain it."""
    out: dict[str, list[str]] = {label: [] for label in markers}
    labels = list(markers)
    hits = ", ".join(f"SUM(CASE WHEN CAST(\"{{column}}\" AS TEXT) LIKE :m{n} THEN 1 ELSE 0 END)"
                     for n in range(len(labels)))
    params = {f"m{n}": f"%{markers[label]}%" for n, label in enumerate(labels)}  # markers hold no % or _
    with crm.engine.connect() as conn:
        for table, column in text_columns(conn):
            row = conn.execute(text(f'SELECT {hits.format(column=column)} FROM "{table}"'), params).one()
            for label, n in zip(labels, row):
                if n:
                    out[label].append(f"{table}.{column}")
    return out


def file_bytes(db_url: str, vacuum: bool) -> bytes:
    """The SQLite file after a checkpoint (and VACUUM), with whatever its -wal still holds."""
    path = Path(db_url.removeprefix("sqlite:///"))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0  # not busy
        if vacuum:
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    data = path.read_bytes()
    for suffix in ("-wal", "-journal"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            data += extra.read_bytes()
    return data


def raw_mail(sender: str, subject: str, body: str) -> bytes:
    return (f"From: Max <{sender}>\r\nTo: service@autohaus.example\r\nSubject: {subject}\r\n"
            f"Message-ID: <reply-{uuid.uuid4().hex}@mail.example.org>\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


def signed(payload: dict) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, sign_headers(WEBHOOK_SECRET, body)


def live_a_customer_life(crm, clock, servers, mk: Markers, theirs: Markers) -> dict:
    """Everything that can happen to Max, each text carrying a marker; and a little of the
    same to Erika and a stranger (``theirs``), which his erasure must not touch."""
    smtp, http = servers
    w = build_world(crm, log=False)
    service, warranty = w.service, w.warranty_desk
    erika = w.open_case(theirs("summary"))
    crm.cases.record_fact(erika.id, "customer_words", theirs("fact"), by=service.id)
    crm.tasks.create(theirs("casetask"), clock.now() + timedelta(hours=4), case_id=erika.id,
                     assigned_actor_id=service.id, by=service.id)
    crm.outbox.send("email", "service", theirs("mail"), customer_id=w.customer.id, by=service.id)
    crm.outbox.send("sms", "service", theirs("smsbyhand"), recipient="+49 171 5550199", by=crm.system)
    crm.inbound.receive("webhook", *signed({"from": "stranger@example.net", "text": theirs("triage")}))
    email = mk.add("email", f"max.{mk.run}@example.org")
    digits = "171" + "".join(random.choice("0123456789") for _ in range(7))
    phone = "+49" + digits
    mk.add("phone", digits)  # in whatever spelling: the digits give it away

    # He wrote before he was a customer: a message from an unknown sender waits in triage;
    # so did his wife, who is a contact person on his file later.
    crm.inbound.receive("webhook", *signed({"from": email, "text": mk("triage")}))
    contact_mail = mk.add("contactmail", f"erika.{mk.run}@x.org")
    crm.inbound.receive("webhook", *signed({"from": contact_mail, "text": mk("contacttriage")}))

    max_ = crm.customers.add(mk("name"), email=email, phone=phone, street=mk("street"), city=mk("city"),
                             owner_party_id=w.dealer.id, by=service.id)
    crm.customers.update(max_.id, postcode="80331", street=mk("street2"), by=service.id)
    contact = crm.customers.add_contact(max_.id, mk("contact"), "spouse", email=contact_mail, by=crm.system)
    crm.interactions.record(max_.id, "phone", "inbound", mk("talk"), by=service.id)
    crm.interests.note(max_.id, "skiing", note=mk("interest"), by=service.id)
    crm.tasks.create(mk("task"), clock.now() + timedelta(days=1), customer_id=max_.id, assigned_actor_id=service.id,
                     note=mk("tasknote"), by=service.id)
    # The relationship with his wife: a visit and a task naming her, a message from her own address;
    # the salesman who alone knew her leaves, and his hand-over task names her.
    leaver = crm.parties.add_actor(w.dealer.id, "Lars Abgang", "sales", by=crm.system)
    crm.customers.reassign(max_.id, leaver.id, by=crm.system)
    crm.interactions.record(max_.id, "visit", "outbound", mk("contacttalk"), contact_person_id=contact.id,
                            by=leaver.id)
    crm.tasks.create(mk("contacttask"), clock.now() + timedelta(days=1), customer_id=max_.id,
                     contact_person_id=contact.id, note=mk("contacttasknote"), by=service.id)
    got = crm.inbound.receive("webhook", *signed({"from": contact_mail, "text": mk("contactin")}))
    assert (got.status, got.customer_id) == ("attached", max_.id)
    crm.interactions.record(max_.id, "phone", "outbound", mk("leavertalk"), contact_person_id=contact.id,
                            by=leaver.id)
    handed = crm.parties.deactivate(leaver.id, handover_to=w.manager.id, by=w.manager.id)
    assert [a.customer_id for a in handed.accounts] == [max_.id]
    assert [i.contact_id for i in handed.accounts[0].introduce] == [contact.id]

    # The washing machine case, round the manufacturer and back to the dealer, closed.
    asset = crm.assets.record(max_.id, w.product_id, serial_number="BR7-ERASE", dealer_party_id=w.dealer.id, by=crm.system)
    case = crm.cases.open(max_.id, mk("summary"), asset_id=asset.id, by=service.id)
    crm.cases.fire(case.id, "start_diagnosis", by=service.id, note=mk("eventnote"))
    crm.cases.fire(case.id, "ask_customer", by=service.id, data={"question": mk("question")})
    crm.cases.fire(case.id, "customer_replied", by=service.id, note=mk("replynote"))
    crm.cases.record_fact(case.id, "customer_words", mk("fact"), by=service.id, note=mk("factnote"))
    crm.cases.record_fact(case.id, "customer_agreed_late_slot", True, by=service.id)
    crm.cases.fire(case.id, "forward_to_manufacturer", by=service.id)
    crm.cases.fire(case.id, "approve_visit", by=warranty.id, data={"technician_party_id": w.technician.id})
    crm.cases.fire(case.id, "take_over", by=service.id, data={"reason": mk("takeover"), "refund_eur": 499})
    # a task for the case's owner, linked to the customer only through the case
    case_task = crm.tasks.create(mk("casetask"), clock.now() + timedelta(hours=4), case_id=case.id,
                                 assigned_actor_id=service.id, by=service.id)
    crm.tasks.complete(case_task.id, note=mk("casetaskdone"), by=service.id)

    # Messages on every channel: sent, refused with an echo, put off, held back.
    smtp.refuse(mk.add("oldmail", f"old.{mk.run}@example.org"))
    send = crm.outbox.send
    send("email", "service", mk("mailsent"), subject=mk("mailsubject"), customer_id=max_.id, by=service.id)
    send("email", "service", mk("mailrefused"), customer_id=max_.id, recipient=mk.planted["oldmail"], by=service.id)
    send("email", "marketing", mk("mailheld"), customer_id=max_.id, by=service.id)
    send("sms", "service", mk("smssent"), customer_id=max_.id, by=service.id)
    send("sms", "service", "FAIL " + mk("smsfail"), customer_id=max_.id, by=service.id)
    send("sms", "service", "BUSY " + mk("smsbusy"), customer_id=max_.id, by=service.id)
    send("sms", "marketing", mk("smsheld"), customer_id=max_.id, by=service.id)
    send("whatsapp", "service", mk("waheld"), customer_id=max_.id, by=service.id)  # no WhatsApp consent yet
    crm.consents.grant(max_.id, "whatsapp", "service", source="signed form", by=service.id)
    customer_wrote(crm, phone.lstrip("+"), mk("wain"))  # he wrote on WhatsApp: text may go back for 24 hours
    send("whatsapp", "service", mk("wasent"), customer_id=max_.id, by=service.id)
    send("whatsapp", "service", "FAIL " + mk("wafail"), customer_id=max_.id, by=service.id)
    send("webhook", "service", mk("hooksent"), customer_id=max_.id, by=crm.system)
    send("webhook", "service", "FAIL " + mk("hookfail"), customer_id=max_.id, by=crm.system)
    send("webhook", "marketing", mk("hookheld"), customer_id=max_.id, by=crm.system)  # budget spent
    send("phone", "service", mk("callme"), subject=mk("callsubject"), customer_id=max_.id, by=service.id)
    send("phone", "marketing", mk("callheld"), customer_id=max_.id, by=service.id)
    # to his address, without his customer id (e.g. typed by hand)
    send("sms", "service", mk("smsbyhand"), recipient=phone, by=crm.system)
    report = crm.outbox.dispatch()
    assert report.sent >= 6 and report.failed >= 4 and report.retried >= 1, report.summary()
    assert any(mk.planted["oldmail"] in (r.reason or "") and "550" in r.reason for r in messages(crm))
    assert any(mk.planted["smsfail"] in (r.reason or "") and phone in r.reason for r in messages(crm))

    # He answers: by e-mail (naming the case) and by webhook, from his phone.
    got = crm.inbound.receive("email", raw_mail(email, mk("insubject"), f"{mk('inmail')} – Fall {case.id}"))
    assert (got.status, got.case_id) == ("attached", case.id)
    got = crm.inbound.receive("webhook", *signed({"from": phone, "text": mk("inhook"), "case_id": case.id}))
    assert (got.status, got.customer_id) == ("attached", max_.id)

    crm.cases.fire(case.id, "close_by_agreement", by=service.id, note=mk("closenote"))
    crm.surveys.record(case.id, csat=2, nps=3, comment=mk("survey"), by=service.id)

    # Over HTTP, with Idempotency-Key: a task on his case and its completion, a visit noted;
    # and a task on Erika's case.
    keys = crm.api_keys
    key = keys.create(w.dealer.id, actor_id=service.id, by=crm.system).key
    with TestClient(create_app(crm), raise_server_exceptions=True) as api:
        auth = {"Authorization": f"Bearer {key}"}
        made = api.post("/tasks", headers={**auth, "Idempotency-Key": "t-1"}, json={
            "title": mk("httptask"), "note": mk("httpnote"), "case_id": case.id,
            "due_at": (clock.now() + timedelta(days=2)).isoformat()})
        assert made.status_code == 201, made.text
        done = api.post(f"/tasks/{made.json()['id']}/complete", headers={**auth, "Idempotency-Key": "t-2"},
                        json={"note": mk("httpdone")})
        assert done.status_code == 200, done.text
        talk = api.post(f"/customers/{max_.id}/interactions", headers={**auth, "Idempotency-Key": "c-1"},
                        json={"channel": "visit", "direction": "inbound", "summary": mk("httptalk")})
        assert talk.status_code == 201, talk.text
        hers = api.post("/tasks", headers={**auth, "Idempotency-Key": "t-3"}, json={
            "title": theirs("httptask"), "case_id": erika.id, "due_at": (clock.now() + timedelta(days=2)).isoformat()})
        assert hers.status_code == 201, hers.text
    return {"customer": max_, "case": case, "asset": asset, "world": w}


def messages(crm) -> list[OutboxMessage]:
    with crm.read(crm.system) as uow:
        return list(uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def count(crm, model, *where) -> int:
    with crm.read(crm.system) as uow:
        return uow.session.scalar(select(func.count()).select_from(model).where(*where))


def test_erasure_leaves_no_byte_of_what_was_planted_but_keeps_the_business_records(app, db_url, clock, servers):
    crm, mk, theirs = app, Markers(), Markers()
    lived = live_a_customer_life(crm, clock, servers, mk, theirs)
    max_, case = lived["customer"], lived["case"]

    before, others = where_found(crm, mk.planted), where_found(crm, theirs.planted)
    assert [label for label, places in (before | others).items() if not places] == [], "planted but never stored"
    audit_rows = count(crm, AuditRecord)
    history = [(e.kind, e.trigger, e.to_state, e.at) for e in crm.cases.history(case.id, by=crm.system)]
    statuses = sorted(m.status for m in messages(crm) if m.customer_id == max_.id)

    clock.advance(days=30)
    crm.customers.erase(max_.id, by=lived["world"].manager.id)  # the file as a whole: a manager's

    left = {label: places for label, places in where_found(crm, mk.planted).items() if places}
    assert left == {}, f"personal values left after erasure: {left}"
    # and nothing of anybody else's went with them
    assert where_found(crm, theirs.planted) == others

    # what the law allows stays: the case and its history, the asset, the message ledger,
    # the scores, and the audit trail (anonymised)
    kept = crm.cases.get(case.id, by=crm.system)
    assert (kept.state, kept.customer_id, kept.summary) == ("closed", max_.id, ERASED)
    assert kept.closed_at is not None and kept.opened_at is not None and kept.version == len(history)
    assert kept.facts == {"customer_words": ERASED, "customer_agreed_late_slot": True}
    assert kept.warranty_decision == "warranty: technician visit approved"
    assert [(e.kind, e.trigger, e.to_state, e.at) for e in crm.cases.history(case.id, by=crm.system)] == history
    take_over = next(e for e in crm.cases.history(case.id, by=crm.system) if e.trigger == "take_over")
    assert take_over.data == {"reason": ERASED, "refund_eur": 499}
    assert crm.assets.get(lived["asset"].id, by=crm.system).serial_number == "BR7-ERASE"
    assert count(crm, Asset, Asset.customer_id == max_.id) == 1
    after = sorted(m.status for m in messages(crm) if m.customer_id == max_.id)
    assert after == sorted("cancelled" if s == "pending" else s for s in statuses)
    assert {"sent", "failed", "suppressed", "cancelled"} <= set(after)
    with crm.read(crm.system) as uow:
        assert uow.session.scalars(select(SurveyResponse.csat).where(SurveyResponse.case_id == case.id)).all() == [2]
        assert uow.session.scalar(select(func.count()).select_from(InboundMessage).where(
            InboundMessage.customer_id == max_.id, InboundMessage.raw == ERASED)) == 4  # e-mail, webhooks, WhatsApp
        trail = list(uow.session.scalars(select(AuditRecord).where(AuditRecord.entity == "service_case",
                                                                  AuditRecord.entity_id == case.id)
                                          .order_by(AuditRecord.id)))
    # nothing of the trail was removed: the erasure only added its own rows
    assert count(crm, AuditRecord, AuditRecord.operation != "customers.erase") == audit_rows
    assert [r.changes["state"][1] for r in trail if r.changes and "state" in r.changes][-1] == "closed"
    assert all(r.personal_changes is None for r in trail)
    assert count(crm, CaseEvent, CaseEvent.case_id == case.id) == len(history)
    assert count(crm, Case, Case.customer_id == max_.id) == 1
    # the relationships stay as business records: who of ours touched his contact person, when
    m = crm.customers.relationships(max_.id, by=lived["world"].manager.id)
    assert [c.name for c in m.contacts] == [ERASED] and any(t.contact_id == m.contacts[0].contact_id
                                                            for t in m.threads)

    if db_url.startswith("sqlite"):
        crm.engine.dispose()
        # secure_delete zeroes what was freed: nothing is left even before a VACUUM
        for vacuum in (False, True):
            data = file_bytes(db_url, vacuum)
            assert b"BR7-ERASE" in data  # the search reads the right file
            found = {label: data.count(marker.encode()) for label, marker in mk.planted.items()}
            assert {label: n for label, n in found.items() if n} == {}, f"left in the file's bytes ({vacuum=})"


def test_blanking_facts_and_data_keeps_their_shape_numbers_yes_no_and_timestamps_but_no_text():
    from dealercrm.services.privacy import blank_values

    data = {"reason": "the drum is loose, Max says", "refund_eur": 499.5, "customer_agreed_late_slot": True,
            "visit_at": "2026-03-02T09:00:00+01:00", "birthday": "1978-02-14", "nested": [{"said": "x"}, 7, None]}
    assert blank_values(data) == {
        "reason": ERASED, "refund_eur": 499.5, "customer_agreed_late_slot": True,
        "visit_at": "2026-03-02T09:00:00+01:00", "birthday": ERASED, "nested": [{"said": ERASED}, 7, None]}
