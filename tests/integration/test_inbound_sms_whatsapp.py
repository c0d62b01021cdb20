"""Issue #13 item 4: inbound SMS (the gateway's shape, configured) and WhatsApp Cloud API webhooks.

Posted over HTTP as the gateway and Meta post them, to ``/inbound/sms`` and
``/inbound/whatsapp``: each lands on Max's timeline, and on his case when it names or
answers one. WhatsApp's webhooks are checked with ``X-Hub-Signature-256`` under the app
secret before anything is stored, and Meta's GET handshake is answered with the
challenge only for our verify token. Payloads are written from the providers'
documentation (``whatsapp_cloud.py``), not from the plugins.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from http_servers import Answer, running
from sqlalchemy import func, select
from whatsapp_cloud import (APP_SECRET, PHONE_NUMBER_ID, meta_signature, notification, status_notification,
                            text_message)

from dealercrm.db.models import AuditRecord, Interaction, Task
from dealercrm.db.outbox_models import InboundMessage
from dealercrm.http import create_app
from dealercrm.settings import Settings

SMS_SECRET = "sms-relay-secret-1e6b0c44"
VERIFY_TOKEN = "dealercrm-verify-3141"
MAX_WA = "491715550100"


@pytest.fixture(autouse=True)
def _no_secrets_from_the_environment(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith(("DEALERCRM_INBOUND_", "DEALERCRM_WHATSAPP_", "DEALERCRM_SMS_")):
            monkeypatch.delenv(name)


@pytest.fixture
def cloud():
    """The Cloud API's messages endpoint (and the SMS gateway), answering with wamids."""
    with running(id_prefix="sms") as server:
        server.reply = lambda r: Answer(200, {"messaging_product": "whatsapp",
                                              "messages": [{"id": f"wamid.OUT{len(server.received)}"}]})
        yield server


@pytest.fixture
def shop(crm_factory, cloud):
    """``shop(sms_inbound={...}, whatsapp={...})``: (web client, application) with Max as a customer."""
    opened = []

    def make(sms_inbound: dict | None = None, whatsapp: dict | None = None):
        plugins = {
            "channel_sms": {"url": cloud.url + "/api/sms", "token": "sms-tok-4711abc",
                            **({"inbound": sms_inbound} if sms_inbound is not None else {})},
            "channel_whatsapp": {"base_url": cloud.url, "phone_number_id": PHONE_NUMBER_ID,
                                 "token": "EAAGwa-tok-0815xyz", "timeout": 2, "app_secret": APP_SECRET,
                                 "verify_token": VERIFY_TOKEN, **(whatsapp or {})}}
        crm = crm_factory(settings=Settings(plugins=plugins, inbound={"sms": {"secret": SMS_SECRET}}))
        crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
        crm.max_ = crm.customers.add("Max Mustermann", phone="0171 5550100", by=crm.system)
        crm.lea = crm.parties.add_actor(crm.max_.owner_party_id, "Lea Berger", "service", by=crm.system)
        web = TestClient(create_app(crm))
        web.__enter__()
        opened.append(web)
        return web, crm

    yield make
    for web in opened:
        web.__exit__(None, None, None)


def traces(crm) -> dict[str, int]:
    with crm.read(crm.system) as uow:
        return {m.__name__: uow.session.scalar(select(func.count()).select_from(m))
                for m in (InboundMessage, AuditRecord, Task, Interaction)}


def timeline(crm) -> list[str]:
    return [i.summary for i in crm.interactions.timeline(crm.max_.id, by=crm.system)]


# -- SMS ------------------------------------------------------------------------------------------


def test_an_sms_in_the_default_json_shape_lands_on_his_timeline_and_on_the_case_it_names(shop):
    web, crm = shop()
    case = crm.cases.open(crm.max_.id, "Trockner heizt nicht", by=crm.lea.id)
    answer = web.post("/inbound/sms", json={"from": "+491715550100", "text": f"Fall {case.id}: bin ab 15 Uhr da",
                                            "id": "gw-77"}, headers={"X-Dealercrm-Inbound-Secret": SMS_SECRET})
    assert answer.status_code == 202
    got = crm.inbound.get(answer.json()["id"], by=crm.system)
    assert (got.status, got.customer_id, got.case_id, got.sender) == ("attached", crm.max_.id, case.id,
                                                                      "+491715550100")
    talk = crm.interactions.timeline(crm.max_.id, by=crm.system)[0]
    assert (talk.channel, talk.direction, talk.case_id, talk.summary) == ("sms", "inbound", case.id,
                                                                          f"Fall {case.id}: bin ab 15 Uhr da")


@pytest.mark.parametrize("shape, body, content_type", [
    ({"format": "form", "from": "From", "text": "Body", "id": "MessageSid"},  # Twilio
     "From=%2B491715550100&To=%2B4930123456&Body=Bin+ab+15+Uhr+da&MessageSid=SM42", "application/x-www-form-urlencoded"),
    ({"from": "msisdn", "text": "text", "id": "messageId", "international": True},  # Vonage
     json.dumps({"msisdn": MAX_WA, "to": "4930123456", "text": "Bin ab 15 Uhr da", "messageId": "0A00"}),
     "application/json"),
    ({"from": "data.payload.from.phone_number", "text": "data.payload.text", "id": "data.payload.id"},  # Telnyx
     json.dumps({"data": {"event_type": "message.received", "payload": {
         "id": "b301ed3f", "text": "Bin ab 15 Uhr da", "from": {"phone_number": "+491715550100"}}}}),
     "application/json"),
], ids=["twilio", "vonage", "telnyx"])
def test_a_gateways_own_webhook_shape_is_read_as_configured(shop, shape, body, content_type):
    web, crm = shop(sms_inbound=shape)
    answer = web.post("/inbound/sms", content=body,
                      headers={"Content-Type": content_type, "X-Dealercrm-Inbound-Secret": SMS_SECRET})
    assert answer.status_code == 202, answer.text
    got = crm.inbound.get(answer.json()["id"], by=crm.system)
    assert (got.status, got.customer_id) == ("attached", crm.max_.id)
    assert "Bin ab 15 Uhr da" in timeline(crm)


def test_without_the_configured_shape_the_sms_is_kept_as_malformed_saying_where_it_looked(shop):
    web, crm = shop()  # the default shape: "from" and "text"
    answer = web.post("/inbound/sms", content="From=%2B491715550100&Body=hallo",
                      headers={"Content-Type": "application/x-www-form-urlencoded",
                               "X-Dealercrm-Inbound-Secret": SMS_SECRET})
    assert answer.status_code == 400 and "no sender at 'from'" in answer.json()["detail"]
    assert crm.inbound.triage(by=crm.system)[0].raw == "From=%2B491715550100&Body=hallo"


def test_an_unauthenticated_sms_post_is_refused_and_stores_nothing(shop):
    web, crm = shop()
    before = traces(crm)
    answer = web.post("/inbound/sms", json={"from": "+491715550100", "text": "STOP"})
    assert answer.status_code == 401 and traces(crm) == before


# -- WhatsApp: receiving ------------------------------------------------------------------------


def post_whatsapp(web, body: bytes, secret: str = APP_SECRET):
    return web.post("/inbound/whatsapp", content=body, headers=meta_signature(body, secret))


def test_metas_handshake_is_answered_with_the_challenge_for_our_verify_token_only(shop):
    web, crm = shop()
    ok = web.get("/inbound/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                                              "hub.challenge": "1158201444"})
    assert (ok.status_code, ok.text, ok.headers["content-type"].split(";")[0]) == (200, "1158201444", "text/plain")
    for params in ({"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN + "x", "hub.challenge": "1"},
                   {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
                   {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "<script>"}):
        refused = web.get("/inbound/whatsapp", params=params)
        assert refused.status_code == 403 and "1158201444" not in refused.text


def test_without_a_verify_token_no_handshake_succeeds(shop):
    web, _ = shop(whatsapp={"verify_token": ""})
    assert web.get("/inbound/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "",
                                                "hub.challenge": "1"}).status_code == 403


def test_a_signed_whatsapp_message_lands_on_his_timeline_and_a_reply_to_our_message_on_its_case(shop, clock, cloud):
    web, crm = shop()
    hello = post_whatsapp(web, notification(text_message(MAX_WA, "Hallo, mein Trockner piept", clock.now())))
    assert hello.status_code == 202
    first = crm.inbound.get(hello.json()["id"], by=crm.system)
    assert (first.status, first.customer_id, first.sender) == ("attached", crm.max_.id, f"+{MAX_WA}")
    assert "Hallo, mein Trockner piept" in timeline(crm)

    # the dealer opens a case and answers on WhatsApp; Max replies to that very message
    crm.consents.grant(crm.max_.id, "whatsapp", "service", source="his first message", by=crm.system)
    case = crm.cases.open(crm.max_.id, "Trockner piept", by=crm.lea.id)
    crm.outbox.send("whatsapp", "service", "Wir schauen uns das an. Seit wann piept er?", customer_id=crm.max_.id,
                    case_id=case.id, by=crm.system)
    assert crm.outbox.dispatch().sent == 1
    ours = cloud.received[-1]
    wamid = f"wamid.OUT{len(cloud.received)}"
    assert ours.json["type"] == "text"
    clock.advance(minutes=5)
    reply = post_whatsapp(web, notification(text_message(MAX_WA, "Seit Montag", clock.now(), wamid="wamid.IN2",
                                                         context=wamid)))
    got = crm.inbound.get(reply.json()["id"], by=crm.system)
    assert got.case_id == case.id  # no case number in it: the reply's context found the case
    assert crm.interactions.timeline(crm.max_.id, by=crm.system)[0].case_id == case.id


@pytest.mark.parametrize("message, text", [
    ({"type": "image", "image": {"id": "m1", "mime_type": "image/jpeg", "caption": "das Typenschild"}},
     "(image) das Typenschild"),
    ({"type": "button", "button": {"payload": "ok", "text": "Termin passt"}}, "Termin passt"),
    ({"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": "r2", "title": "Vormittags"}}},
     "Vormittags"),
    ({"type": "location", "location": {"latitude": 48.1, "longitude": 11.5, "name": "Zuhause"}}, "(location: Zuhause)"),
])
def test_what_is_not_text_is_shown_by_what_it_is(shop, clock, message, text):
    web, crm = shop()
    body = notification({"from": MAX_WA, "id": "wamid.X", "timestamp": str(int(clock.now().timestamp())), **message})
    assert post_whatsapp(web, body).status_code == 202
    assert timeline(crm)[0] == text


def test_stop_on_whatsapp_revokes_marketing_on_whatsapp(shop, clock):
    web, crm = shop()
    crm.consents.grant(crm.max_.id, "whatsapp", "marketing", source="form", by=crm.system)
    assert post_whatsapp(web, notification(text_message(MAX_WA, "STOP", clock.now()))).status_code == 202
    assert not crm.consents.may_contact(crm.max_.id, "whatsapp", "marketing", by=crm.system)


@pytest.mark.parametrize("forge", ["unsigned", "other secret", "body changed"])
def test_a_forged_whatsapp_webhook_is_refused_and_stores_nothing(shop, clock, forge):
    web, crm = shop()
    body = notification(text_message(MAX_WA, "STOP", clock.now()))
    headers = meta_signature(body, "somebody-elses-app-secret" if forge == "other secret" else APP_SECRET)
    if forge == "unsigned":
        del headers["X-Hub-Signature-256"]
    sent = body.replace(b"STOP", b"stop") if forge == "body changed" else body
    before = traces(crm)
    answer = web.post("/inbound/whatsapp", content=sent, headers=headers)
    assert answer.status_code == 401 and traces(crm) == before
    assert post_whatsapp(web, body).status_code == 202  # Meta's own, for contrast


def test_without_an_app_secret_the_whatsapp_webhook_accepts_nothing(shop, clock):
    web, crm = shop(whatsapp={"app_secret": ""})
    before = traces(crm)
    body = notification(text_message(MAX_WA, "Hallo", clock.now()))
    assert web.post("/inbound/whatsapp", content=body, headers=meta_signature(body)).status_code == 401
    assert traces(crm) == before


def test_delivery_statuses_are_kept_as_ignored_not_triaged(shop, clock):
    web, crm = shop()
    before = traces(crm)
    answer = post_whatsapp(web, status_notification(MAX_WA, "wamid.OUT1", "read", clock.now()))
    assert answer.status_code == 202
    got = crm.inbound.get(answer.json()["id"], by=crm.system)
    assert (got.status, got.parse_error, got.sender) == ("ignored", "delivery status: read", f"+{MAX_WA}")
    assert crm.inbound.triage(by=crm.system) == []
    assert {k: v - before[k] for k, v in traces(crm).items()} == {"InboundMessage": 1, "AuditRecord": 1, "Task": 0,
                                                                   "Interaction": 0}


def test_a_notification_with_two_senders_is_kept_for_a_person(shop, clock):
    web, crm = shop()
    body = notification(text_message(MAX_WA, "Hallo", clock.now()), text_message("491609999999", "Hi", clock.now()))
    answer = post_whatsapp(web, body)
    assert answer.status_code == 400 and "2 senders" in answer.json()["detail"]
    assert crm.inbound.triage(by=crm.system)[0].status == "malformed"
