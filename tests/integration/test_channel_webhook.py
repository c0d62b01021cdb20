"""The webhook channel against a real HTTP receiver on 127.0.0.1: signed, at least once,
never lost — and webhooks coming in, attached to the customer's case or kept for a person."""

from __future__ import annotations

import json
from collections import Counter
from itertools import cycle

import httpx
import pytest
from http_servers import Answer, RecordingServer, running
from sqlalchemy import select

from dealercrm.db.models import Task
from dealercrm.plugins.channel_webhook import sign_headers, verify_signature
from dealercrm.services.dispatcher import claim, send_one
from dealercrm.settings import OutboxSettings, Settings

SECRET = "whsec-7f3a9c1e5b"


@pytest.fixture(autouse=True)
def no_secrets_from_the_environment(monkeypatch):
    for name in ("DEALERCRM_WEBHOOK_SECRET", "DEALERCRM_SMS_TOKEN", "DEALERCRM_WHATSAPP_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def receiver():
    with running(secret=SECRET) as server:
        yield server


def webhook_crm(crm_factory, receiver: RecordingServer | None = None, path: str = "/dealercrm", **config):
    outbox = config.pop("outbox", {})
    plugin = {"secret": SECRET, "timeout": 2, **config}
    if receiver is not None:
        plugin.setdefault("url", receiver.url + path)
    crm = crm_factory(settings=Settings(plugins={"channel_webhook": plugin}, outbox=OutboxSettings(**outbox)))
    crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
    return crm


@pytest.fixture
def crm(crm_factory, receiver):
    return webhook_crm(crm_factory, receiver)


@pytest.fixture
def max_(crm):
    return crm.customers.add("Max Mustermann", email="max@example.org", phone="+49 171 5550100",
                             owner_party_id=crm.parties.list(kind="dealer", by=crm.system)[0].id, by=crm.system)


def rows(crm):
    from dealercrm.db.outbox_models import OutboxMessage

    with crm.read(crm.system) as uow:
        return list(uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


# -- sending --------------------------------------------------------------------------


def test_a_webhook_arrives_signed_and_the_receiver_verifies_the_signature(crm, receiver, max_):
    msg = crm.outbox.send("webhook", "service", "Your washer is ready", subject="Washer", customer_id=max_.id,
                          data={"order": "A-17"}, by=crm.system)
    assert crm.outbox.dispatch().sent == 1

    [got] = receiver.received
    assert (got.method, got.path, got.status, got.signature_ok) == ("POST", "/dealercrm", 200, True)
    assert got.headers["content-type"].startswith("application/json")
    assert got.headers["idempotency-key"] == msg.idempotency_key
    assert got.json == {"id": msg.id, "idempotency_key": msg.idempotency_key, "channel": "webhook",
                        "purpose": "service", "subject": "Washer", "body": "Your washer is ready",
                        "data": {"order": "A-17"}, "customer_id": max_.id, "case_id": None, "attempt": 1}
    stamp, signature = got.headers["x-dealercrm-timestamp"], got.headers["x-dealercrm-signature"]
    assert signature.startswith("sha256=") and verify_signature(SECRET, got.body, stamp, signature)
    assert crm.outbox.get(msg.id, by=crm.system).status == "sent" and crm.outbox.get(msg.id, by=crm.system).provider_id == "rcv-1"

    # What a receiver must refuse: a changed body, an old or future timestamp, another secret.
    assert not verify_signature(SECRET, got.body.replace(b"ready", b"gone!"), stamp, signature)
    assert not verify_signature(SECRET, got.body, stamp, signature, now=int(stamp) + 301)
    assert not verify_signature(SECRET, got.body, stamp, signature, now=int(stamp) - 301)
    assert verify_signature(SECRET, got.body, stamp, signature, now=int(stamp) + 299)
    assert not verify_signature("another-secret", got.body, stamp, signature)
    assert not verify_signature(SECRET, got.body, str(int(stamp) + 1), signature)
    assert not verify_signature(SECRET, got.body, "yesterday", signature)
    # ... and the server, checking on its own, answers a tampered replay with 401.
    tampered = httpx.post(receiver.url + "/dealercrm", content=got.body.replace(b"ready", b"gone!"),
                          headers={"Content-Type": "application/json", "X-Dealercrm-Timestamp": stamp,
                                   "X-Dealercrm-Signature": signature})
    assert tampered.status_code == 401 and receiver.received[-1].signature_ok is False


def test_a_message_to_a_host_system_goes_to_the_url_given_as_its_recipient(crm_factory, receiver):
    crm = webhook_crm(crm_factory)  # no default url: the recipient names the system
    msg = crm.outbox.send("webhook", "service", "case 17 closed", recipient=receiver.url + "/erp/events", by=crm.system)
    assert crm.outbox.dispatch().sent == 1
    [got] = receiver.delivered()
    assert got.path == "/erp/events" and got.signature_ok and got.json["customer_id"] is None
    assert got.json["idempotency_key"] == msg.idempotency_key


def test_a_resend_after_a_dispatcher_died_carries_the_same_idempotency_key(crm, receiver, max_, clock):
    msg = crm.outbox.send("webhook", "service", "Your washer is ready", customer_id=max_.id, by=crm.system)
    [row], _ = claim(crm, 10)
    assert send_one(crm, row).status == "delivered"  # sent ... and the process died before recording it
    assert crm.outbox.dispatch().batches == 0  # the lease holds: nobody sends it meanwhile
    clock.advance(seconds=crm.settings.outbox.lease_seconds + 1)
    assert crm.outbox.dispatch().sent == 1

    first, second = receiver.received
    assert first.key == second.key == msg.idempotency_key  # the receiver can drop the copy
    assert (first.json["id"], first.json["attempt"]) == (msg.id, 1)
    assert (second.json["id"], second.json["attempt"]) == (msg.id, 2)
    assert first.signature_ok and second.signature_ok
    assert receiver.delivered_keys() == Counter({msg.idempotency_key: 2})
    assert crm.outbox.get(msg.id, by=crm.system).status == "sent"


def test_while_the_receiver_is_down_messages_back_off_and_all_arrive_once_it_is_back(crm, receiver, max_, clock):
    sent = [crm.outbox.send("webhook", "service", f"update {n}", customer_id=max_.id, by=crm.system) for n in range(5)]
    receiver.stop()
    report = crm.outbox.dispatch()
    assert (report.sent, report.retried) == (0, 5) and receiver.received == []
    backoff = crm.settings.outbox.backoff_seconds
    for row in rows(crm):
        assert row.status == "pending" and "webhook: connection failed to http://127.0.0.1" in row.reason
        assert backoff * 0.5 <= (row.next_attempt_at - clock.now()).total_seconds() <= backoff
    assert crm.outbox.dispatch().batches == 0  # nothing is due before its backoff ran out

    receiver.start()
    clock.set(max(row.next_attempt_at for row in rows(crm)))
    assert crm.outbox.dispatch().sent == 5
    assert receiver.delivered_keys() == Counter({m.idempotency_key: 1 for m in sent})  # none lost, none twice
    assert [r.status for r in rows(crm)] == ["sent"] * 5
    assert any("retrying: webhook: connection failed" in i.summary for i in crm.interactions.timeline(max_.id, by=crm.system))


def test_a_flapping_receiver_gets_every_message_exactly_once(crm_factory, receiver, clock):
    crm = webhook_crm(crm_factory, receiver, outbox={"max_attempts": 10})
    answers = cycle([Answer(500, {"error": "upstream down"}), Answer(200), Answer(429, {}, {"Retry-After": "1"}),
                     Answer(200)])
    receiver.reply = lambda request: next(answers)
    sent = [crm.outbox.send("webhook", "service", f"event {n}", recipient=receiver.url + "/events", by=crm.system)
            for n in range(6)]
    for _ in range(10):
        if not crm.outbox.dispatch().retried:
            break
        clock.set(max(r.next_attempt_at for r in rows(crm)))
    assert [r.status for r in rows(crm)] == ["sent"] * 6
    assert receiver.delivered_keys() == Counter({m.idempotency_key: 1 for m in sent})
    assert {r.status for r in receiver.received} == {200, 429, 500}
    assert all(r.reason is None for r in rows(crm))  # the last error is cleared once delivered


def test_a_rejected_webhook_fails_at_once_and_becomes_a_task_for_a_person(crm, receiver, max_, clock):
    receiver.answers.append(Answer(400, {"error": {"message": "unknown event type"}}))
    msg = crm.outbox.send("webhook", "service", "hello", customer_id=max_.id, by=crm.system)
    assert crm.outbox.dispatch().failed == 1
    row = crm.outbox.get(msg.id, by=crm.system)
    assert (row.status, row.reason) == ("failed", "failed permanently: webhook: HTTP 400: unknown event type")
    clock.advance(days=1)
    assert crm.outbox.dispatch().batches == 0 and len(receiver.received) == 1  # not retried
    with crm.read(crm.system) as uow:
        task = uow.session.scalars(select(Task).where(Task.origin_ref == f"outbox:{msg.id}")).one()
    assert task.customer_id == max_.id and "HTTP 400" in task.note


def test_a_receiver_slower_than_the_timeout_is_tried_again_later(crm_factory):
    with running(secret=SECRET, delay=0.6) as slow:
        crm = webhook_crm(crm_factory, slow, timeout=0.2)
        msg = crm.outbox.send("webhook", "service", "hello", recipient=slow.url + "/slow", by=crm.system)
        assert crm.outbox.dispatch().retried == 1
    row = crm.outbox.get(msg.id, by=crm.system)
    assert row.status == "pending" and "webhook: timed out after 0.2s at http://127.0.0.1" in row.reason


def test_without_configuration_the_webhook_channel_is_not_offered_and_without_a_secret_it_fails_saying_so(
        crm_factory, receiver):
    plain = crm_factory()
    assert "webhook" not in plain.channels and "phone" in plain.channels  # nothing else is disturbed
    crm = webhook_crm(crm_factory, receiver, secret="")
    msg = crm.outbox.send("webhook", "service", "hello", recipient=receiver.url + "/x", by=crm.system)
    assert crm.outbox.dispatch().failed == 1 and receiver.received == []  # nothing goes out unsigned
    assert "not configured: set DEALERCRM_WEBHOOK_SECRET or [plugins.channel_webhook] secret" in crm.outbox.get(
        msg.id, by=crm.system).reason


def test_the_secret_from_the_environment_wins_over_the_settings_file(crm_factory, monkeypatch):
    monkeypatch.setenv("DEALERCRM_WEBHOOK_SECRET", "from-the-environment")
    with running(secret="from-the-environment") as server:
        crm = webhook_crm(crm_factory, server, secret="from-the-file")
        crm.outbox.send("webhook", "service", "hello", recipient=server.url + "/x", by=crm.system)
        assert crm.outbox.dispatch().sent == 1 and server.received[0].signature_ok
    assert "from-the" not in repr(crm.channels["webhook"]) and "from-the" not in repr(vars(crm.channels["webhook"]))


# -- receiving --------------------------------------------------------------------------


@pytest.fixture
def awaiting(crm, max_):
    """Max's washer case, solved by advice and waiting for his confirmation."""
    lea = crm.parties.add_actor(max_.owner_party_id, "Lea Berger", "service", by=crm.system)
    case = crm.cases.open(max_.id, "washes badly", by=lea.id)
    crm.cases.fire(case.id, "start_diagnosis", by=lea.id)
    crm.cases.fire(case.id, "solve_by_advice", by=lea.id, note="use the cotton programme")
    assert crm.cases.get(case.id, by=crm.system).state == "awaiting_confirmation"
    return case


def signed(payload) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, sign_headers(SECRET, body)


def test_an_inbound_webhook_from_a_known_customer_attaches_to_their_case_and_still_broken_reopens_it(
        crm, max_, awaiting):
    # The host's endpoint receives the customer's reply over HTTP and hands it on unchanged.
    with running() as endpoint:
        endpoint.reply = lambda request: Answer(200, {"id": crm.inbound.receive("webhook", request.body,
                                                                                 request.headers).id})
        body, headers = signed({"from": "max@example.org", "text": "thanks, I will try", "case_id": awaiting.id})
        first = crm.inbound.get(httpx.post(endpoint.url + "/inbound", content=body, headers=headers).json()["id"], by=crm.system)
        body, headers = signed({"from": "+49 171 5550100", "subject": "washer",
                                "text": "It is still broken, the drum does not turn", "case_id": awaiting.id})
        second = crm.inbound.get(httpx.post(endpoint.url + "/inbound", content=body, headers=headers).json()["id"], by=crm.system)

    assert (first.status, first.customer_id, first.case_id, first.fired_trigger) == (
        "attached", max_.id, awaiting.id, None)
    assert (second.status, second.customer_id, second.case_id, second.fired_trigger) == (
        "attached", max_.id, awaiting.id, "still_broken")
    assert crm.cases.get(awaiting.id, by=crm.system).state == "dealer_diagnosis"  # back at the dealer, not in a queue
    assert any("still broken" in i.summary and i.case_id == awaiting.id for i in crm.interactions.timeline(max_.id, by=crm.system))


def test_an_inbound_webhook_naming_a_case_in_the_text_attaches_to_it(crm, max_, awaiting):
    body, headers = signed({"from": "max@example.org", "text": f"Re case {awaiting.id}: works now"})
    got = crm.inbound.receive("webhook", body, headers)
    assert (got.status, got.case_id, got.fired_trigger) == ("attached", awaiting.id, None)


def test_an_inbound_webhook_from_an_unknown_sender_waits_in_triage(crm):
    body, headers = signed({"from": "stranger@example.net", "text": "do you repair dryers?"})
    got = crm.inbound.receive("webhook", body, headers)
    assert (got.status, got.sender, got.customer_id) == ("triage", "stranger@example.net", None)
    assert [m.id for m in crm.inbound.triage(by=crm.system)] == [got.id]
    with crm.read(crm.system) as uow:
        task = uow.session.scalars(select(Task).where(Task.origin_ref == f"inbound:{got.id}")).one()
    assert "unknown sender stranger@example.net" in task.title


@pytest.mark.parametrize("body, headers, error", [
    (b"{not json", "signed", "WebhookPayloadError: not JSON"),
    (b'["from", "text"]', "signed", "WebhookPayloadError: expected a JSON object"),
    (b'{"text": "hi"}', "signed", "WebhookPayloadError: 'from' is missing"),
    (b'{"from": "max@example.org"}', "signed", "WebhookPayloadError: 'text' is missing"),
    (b'{"from": "max@example.org", "text": "x", "case_id": "seven"}', "signed", "'case_id' must be a case number"),
    (b'{"from": "max@example.org", "text": "hi"}', "wrong secret", "WebhookSignatureError: signature does not match"),
    (b'{"from": "max@example.org", "text": "hi"}', "unsigned", "WebhookSignatureError: unsigned"),
    (b'{"from": "max@example.org", "text": "hi"}', "an hour old", "WebhookSignatureError: X-Dealercrm-Timestamp is"),
])
def test_a_malformed_or_wrongly_signed_inbound_webhook_is_stored_with_the_reason(crm, max_, body, headers, error):
    import time

    made = {"signed": sign_headers(SECRET, body), "wrong secret": sign_headers("guess", body), "unsigned": {},
            "an hour old": sign_headers(SECRET, body, int(time.time()) - 3600)}[headers]
    got = crm.inbound.receive("webhook", body, made)
    assert got.status == "malformed" and error in got.parse_error, got.parse_error
    assert got.raw == body.decode() and got.customer_id is None  # kept as received, attached to nobody
    assert got.id in [m.id for m in crm.inbound.triage(by=crm.system)]


def test_with_a_separate_inbound_secret_the_outbound_secret_cannot_sign_inbound_messages(crm_factory):
    crm = webhook_crm(crm_factory, inbound_secret="inbound-only-91c2")
    crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)
    body = json.dumps({"from": "max@example.org", "text": "hello"}).encode()
    forged = crm.inbound.receive("webhook", body, sign_headers(SECRET, body))  # a receiver of our webhooks
    assert forged.status == "malformed" and "signature does not match" in forged.parse_error
    real = crm.inbound.receive("webhook", body, sign_headers("inbound-only-91c2", body))
    assert real.status == "attached"
