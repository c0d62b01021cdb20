"""SMS and WhatsApp against a real HTTP server on 127.0.0.1 that plays the gateway (for
WhatsApp, the Cloud API's messages endpoint) and records what it received.

WhatsApp text goes only inside the 24-hour window after the customer last wrote
(``customer_wrote``); outside it, templates (test_whatsapp_templates.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
from http_servers import Answer, RecordingServer, running
from whatsapp_cloud import customer_wrote
from sqlalchemy import select

from dealercrm import ValidationError
from dealercrm.db.models import Task
from dealercrm.settings import OutboxSettings, Settings

SMS_TOKEN, WA_TOKEN, PHONE_ID = "sms-tok-4711abc", "EAAGwa-tok-0815xyz", "109876543210"


@pytest.fixture(autouse=True)
def no_secrets_from_the_environment(monkeypatch):
    for name in ("DEALERCRM_WEBHOOK_SECRET", "DEALERCRM_SMS_TOKEN", "DEALERCRM_WHATSAPP_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def gateway():
    with running(id_prefix="sms") as server:
        yield server


def wamid(request) -> Answer:
    to = request.json["to"]
    return Answer(200, {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                        "messages": [{"id": f"wamid.HBgM{len(to)}{request.key[-6:]}"}]})


def make_crm(crm_factory, server: RecordingServer, sms: dict | None = None, whatsapp: dict | None = None, **outbox):
    plugins = {
        "channel_sms": {"url": server.url + "/api/sms", "token": SMS_TOKEN, "sender": "AutohausMeyer", "timeout": 2,
                        **(sms or {})},
        "channel_whatsapp": {"base_url": server.url, "version": "v21.0", "phone_number_id": PHONE_ID,
                             "token": WA_TOKEN, "timeout": 2, **(whatsapp or {})},
    }
    crm = crm_factory(settings=Settings(plugins=plugins, outbox=OutboxSettings(**outbox)))
    crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
    return crm


@pytest.fixture
def crm(crm_factory, gateway):
    return make_crm(crm_factory, gateway)


@pytest.fixture
def max_(crm):
    return crm.customers.add("Max Mustermann", phone="+49 171 5550100",
                             owner_party_id=crm.parties.list(kind="dealer", by=crm.system)[0].id, by=crm.system)


def task_for(crm, message_id):
    with crm.read(crm.system) as uow:
        return uow.session.scalars(select(Task).where(Task.origin_ref == f"outbox:{message_id}")).one()


# -- SMS ----------------------------------------------------------------------------------


def test_the_sms_gateway_receives_the_documented_request_with_the_token(crm, gateway, max_):
    msg = crm.outbox.send("sms", "service", "Ihre Waschmaschine ist fertig.", customer_id=max_.id, by=crm.system)
    assert crm.outbox.dispatch().sent == 1
    [got] = gateway.received
    assert (got.method, got.path) == ("POST", "/api/sms")
    assert got.json == {"to": "+491715550100", "text": "Ihre Waschmaschine ist fertig.", "sender": "AutohausMeyer"}
    assert got.headers["authorization"] == f"Bearer {SMS_TOKEN}"
    assert got.headers["idempotency-key"] == msg.idempotency_key
    assert got.headers["content-type"] == "application/json"
    row = crm.outbox.get(msg.id, by=crm.system)
    assert (row.status, row.provider_id, row.recipient) == ("sent", "sms-1", "+491715550100")


def test_a_gateway_with_basic_auth_and_form_fields_gets_them_as_configured(crm_factory, gateway):
    crm = make_crm(crm_factory, gateway, sms={
        "auth_scheme": "Basic", "token": "AC123:secret-part", "format": "form", "response_id": "sid",
        "payload": {"To": "{recipient}", "From": "{sender}", "Body": "{body}"}})
    max_ = crm.customers.add("Max Mustermann", phone="+49 171 5550100", by=crm.system)
    gateway.answers.append(Answer(201, {"sid": "SM0042", "status": "queued"}))
    msg = crm.outbox.send("sms", "service", "Termin morgen 9 Uhr", customer_id=max_.id, by=crm.system)
    assert crm.outbox.dispatch().sent == 1
    [got] = gateway.received
    assert got.form == {"To": "+491715550100", "From": "AutohausMeyer", "Body": "Termin morgen 9 Uhr"}
    assert got.headers["authorization"] == "Basic QUMxMjM6c2VjcmV0LXBhcnQ="  # base64 of "AC123:secret-part"
    assert crm.outbox.get(msg.id, by=crm.system).provider_id == "SM0042"


def test_a_gateway_with_its_own_header_and_nested_payload_gets_them_with_json_types_kept(crm_factory, gateway):
    crm = make_crm(crm_factory, gateway, sms={
        "auth_header": "X-Api-Key", "auth_scheme": "", "response_id": "result.messages.0.ref",
        "payload": {"message": {"recipients": ["{recipient_digits}"], "content": "{subject}: {body}",
                                "case": "{case_id}", "reference": "{idempotency_key}"}}})
    max_ = crm.customers.add("Max Mustermann", phone="+49 171 5550100", by=crm.system)
    gateway.answers.append(Answer(200, {"result": {"messages": [{"ref": "gw-77"}]}}))
    msg = crm.outbox.send("sms", "service", "fertig {bitte} abholen", subject="Fall 3", customer_id=max_.id, by=crm.system)
    assert crm.outbox.dispatch().sent == 1
    [got] = gateway.received
    assert got.json == {"message": {"recipients": ["491715550100"], "content": "Fall 3: fertig {bitte} abholen",
                                    "case": None, "reference": msg.idempotency_key}}
    assert got.headers["x-api-key"] == SMS_TOKEN and "authorization" not in got.headers
    assert crm.outbox.get(msg.id, by=crm.system).provider_id == "gw-77"


# -- WhatsApp -------------------------------------------------------------------------------


def test_whatsapp_sends_exactly_the_cloud_api_request_to_the_messages_endpoint(crm, gateway, max_):
    crm.consents.grant(max_.id, "whatsapp", "service", source="signed form", by=crm.system)
    customer_wrote(crm)  # inside the customer-service window: text
    gateway.reply = wamid
    msg = crm.outbox.send("whatsapp", "service", "Ihr Fall ist jetzt beim Hersteller.", customer_id=max_.id, by=crm.system)
    assert crm.outbox.dispatch().sent == 1
    [got] = gateway.received
    assert (got.method, got.path) == ("POST", f"/v21.0/{PHONE_ID}/messages")
    assert got.json == {"messaging_product": "whatsapp", "to": "491715550100", "type": "text",
                        "text": {"body": "Ihr Fall ist jetzt beim Hersteller."}}
    assert got.headers["authorization"] == f"Bearer {WA_TOKEN}"
    assert got.headers["content-type"] == "application/json"
    assert crm.outbox.get(msg.id, by=crm.system).provider_id == f"wamid.HBgM12{msg.idempotency_key[-6:]}"


def test_whatsapp_without_whatsapp_consent_is_suppressed_while_sms_relies_on_the_contract(crm, gateway, max_):
    crm.consents.grant(max_.id, "sms", "marketing", source="form", by=crm.system)  # consent elsewhere does not count
    on_whatsapp = crm.outbox.send("whatsapp", "service", "Ihr Fall ist jetzt beim Hersteller.", customer_id=max_.id, by=crm.system)
    by_sms = crm.outbox.send("sms", "service", "Ihr Fall ist jetzt beim Hersteller.", customer_id=max_.id, by=crm.system)
    assert (on_whatsapp.status, on_whatsapp.reason) == ("suppressed", "no service consent for whatsapp")
    assert by_sms.status == "pending"
    assert crm.outbox.dispatch().sent == 1
    assert [r.path for r in gateway.received] == ["/api/sms"]  # nothing reached the WhatsApp endpoint
    assert any("whatsapp message not sent: no service consent for whatsapp" in i.summary
               for i in crm.interactions.timeline(max_.id, by=crm.system))


def test_a_whatsapp_message_queued_before_consent_was_revoked_is_not_sent(crm, gateway, max_, clock):
    crm.consents.grant(max_.id, "whatsapp", "service", source="signed form", by=crm.system)
    msg = crm.outbox.send("whatsapp", "service", "Ihr Techniker kommt morgen.", customer_id=max_.id, by=crm.system)
    clock.advance(minutes=2)
    crm.consents.revoke(max_.id, "whatsapp", "service", source="reply STOP", by=crm.system)
    assert crm.outbox.dispatch().suppressed == 1 and gateway.received == []
    assert "revoked" in crm.outbox.get(msg.id, by=crm.system).reason


def test_a_phone_only_customer_hears_of_a_hand_off_by_sms(crm, gateway, max_):
    lea = crm.parties.add_actor(max_.owner_party_id, "Lea Berger", "service", by=crm.system)
    case = crm.cases.open(max_.id, "washes badly", by=lea.id)
    crm.cases.fire(case.id, "start_diagnosis", by=lea.id)
    crm.cases.fire(case.id, "solve_by_advice", by=lea.id, note="cotton programme")
    assert crm.outbox.dispatch().sent == 1
    [got] = gateway.received
    assert got.json["to"] == "+491715550100" and f"Fall {case.id}" in got.json["text"]


# -- errors, for both -------------------------------------------------------------------------


def graph_error(code: int, message: str, status: int = 400) -> Answer:
    return Answer(status, {"error": {"message": message, "type": "OAuthException", "code": code,
                                     "fbtrace_id": "AbC"}})


@pytest.mark.parametrize("channel, answer, outcome, reason", [
    ("sms", Answer(500, {"message": "internal error"}), "pending", "sms: HTTP 500: internal error"),
    ("sms", Answer(503), "pending", "sms: HTTP 503: Service Unavailable"),
    ("sms", Answer(429, {"message": "slow down"}, {"Retry-After": "30"}), "pending",
     "sms: HTTP 429: slow down (Retry-After: 30)"),
    ("sms", Answer(408), "pending", "sms: HTTP 408"),
    ("sms", Answer(400, {"error": "invalid number"}), "failed", "sms: HTTP 400: invalid number"),
    ("sms", Answer(302, None, {"Location": "https://elsewhere.example/x?k=1"}), "failed",
     "HTTP 302: Found to https://elsewhere.example: redirects are not followed"),
    ("whatsapp", graph_error(130429, "(#130429) Rate limit hit"), "pending",
     "whatsapp: HTTP 400: (#130429) Rate limit hit"),
    ("whatsapp", graph_error(131056, "(#131056) pair rate limit hit", 429), "pending", "(#131056)"),
    ("whatsapp", graph_error(131047, "(#131047) Re-engagement message"), "failed",
     "whatsapp: HTTP 400: (#131047) Re-engagement message"),
    ("whatsapp", graph_error(190, "Error validating access token", 401), "failed",
     "whatsapp: HTTP 401: Error validating access token"),
])
def test_gateway_answers_are_retried_or_failed_by_what_they_mean(crm, gateway, max_, channel, answer, outcome,
                                                                   reason):
    crm.consents.grant(max_.id, "whatsapp", "service", source="form", by=crm.system)
    customer_wrote(crm)
    gateway.answers.append(answer)
    msg = crm.outbox.send(channel, "service", "hello", customer_id=max_.id, by=crm.system)
    crm.outbox.dispatch()
    row = crm.outbox.get(msg.id, by=crm.system)
    assert row.status == outcome and reason in row.reason, row.reason
    assert len(gateway.received) == 1
    if outcome == "failed":
        assert task_for(crm, msg.id).customer_id == max_.id  # a person reaches the customer another way
    else:
        assert row.next_attempt_at > crm.clock.now()


def test_a_gateway_that_is_down_is_retried_and_the_message_arrives_once_it_is_back(crm, gateway, max_, clock):
    crm.consents.grant(max_.id, "whatsapp", "service", source="form", by=crm.system)
    customer_wrote(crm)
    sent = [crm.outbox.send(ch, "service", "hello", customer_id=max_.id, by=crm.system) for ch in ("sms", "whatsapp")]
    gateway.stop()
    assert crm.outbox.dispatch().retried == 2
    assert all("connection failed to http://127.0.0.1" in crm.outbox.get(m.id, by=crm.system).reason for m in sent)
    gateway.start()
    gateway.reply = lambda r: wamid(r) if r.path.endswith("/messages") else gateway.default_reply(r)
    clock.advance(hours=2)
    assert crm.outbox.dispatch().sent == 2
    assert sorted(gateway.delivered_keys().values()) == [1, 1]


def test_tokens_never_show_in_errors_reprs_tasks_or_logs(crm, gateway, max_, caplog):
    caplog.set_level(logging.DEBUG)
    crm.consents.grant(max_.id, "whatsapp", "service", source="form", by=crm.system)
    customer_wrote(crm)
    def echo(request):  # gateways like to echo the request; WhatsApp's echo straddles the 200-character cut
        pad = "." * 170 if request.path.endswith("/messages") else ""
        return Answer(401, {"error": {"message": f"{pad}token rejected: {request.headers['authorization']}"}})

    gateway.reply = echo
    sent = [crm.outbox.send(ch, "service", "hello", customer_id=max_.id, by=crm.system) for ch in ("sms", "whatsapp")]
    assert crm.outbox.dispatch().failed == 2
    texts = [crm.outbox.get(m.id, by=crm.system).reason for m in sent] + [task_for(crm, m.id).note for m in sent]
    texts += [i.summary for i in crm.interactions.timeline(max_.id, by=crm.system)] + [caplog.text]
    texts += [repr(crm.channels["sms"]), repr(vars(crm.channels["sms"])), repr(crm.channels["whatsapp"]),
              repr(vars(crm.channels["whatsapp"]))]
    assert "token rejected: Bearer ***" in texts[0]
    for text in texts:
        assert SMS_TOKEN[:6] not in text and WA_TOKEN[:6] not in text


# -- configuration ---------------------------------------------------------------------------


def test_without_configuration_sms_and_whatsapp_are_not_offered_and_nothing_else_changes(crm_factory):
    plain = crm_factory()
    assert "sms" not in plain.channels and "whatsapp" not in plain.channels and "phone" in plain.channels


@pytest.mark.parametrize("sms, whatsapp, channel, problem", [
    ({"token": ""}, {}, "sms", "sms: not configured: set [plugins.channel_sms] url and token (or DEALERCRM_SMS_TOKEN)"),
    ({"payload": {"to": "{phone}", "text": "{body}"}}, {}, "sms",
     "sms: misconfigured: [plugins.channel_sms] payload uses {phone}; known placeholders: body, case_id"),
    ({"timeout": -1}, {}, "sms", "timeout must be a positive number"),
    ({}, {"phone_number_id": ""}, "whatsapp", "whatsapp: not configured: set [plugins.channel_whatsapp] "
                                              "phone_number_id and token (or DEALERCRM_WHATSAPP_TOKEN)"),
    ({}, {"version": "21"}, "whatsapp", "version must look like 'v21.0'"),
    ({}, {"token": "two words"}, "whatsapp", "token (DEALERCRM_WHATSAPP_TOKEN or [plugins.channel_whatsapp] token) "
                                             "contains spaces"),
])
def test_a_misconfigured_channel_is_offered_but_fails_each_message_naming_the_setting(
        crm_factory, gateway, caplog, sms, whatsapp, channel, problem):
    crm = make_crm(crm_factory, gateway, sms=sms, whatsapp=whatsapp)
    max_ = crm.customers.add("Max Mustermann", phone="+49 171 5550100", by=crm.system)
    crm.consents.grant(max_.id, "whatsapp", "service", source="form", by=crm.system)
    msg = crm.outbox.send(channel, "service", "hello", customer_id=max_.id, by=crm.system)
    assert problem in caplog.text  # said once, when the channel was loaded
    assert crm.outbox.dispatch().failed == 1 and gateway.received == []
    assert problem in crm.outbox.get(msg.id, by=crm.system).reason and task_for(crm, msg.id)


@pytest.mark.parametrize("sms, whatsapp, refused", [
    ({"format": "xml"}, {}, "[plugins.channel_sms] format 'xml': must be one of \"json\", \"form\""),
    ({"timeout": "soon"}, {}, "[plugins.channel_sms] timeout 'soon': must be a number (default 10), not a text"),
    ({"inbound": {"form": "From"}}, {}, "[plugins.channel_sms.inbound] key 'form': is no setting of "
                                        "[plugins.channel_sms.inbound]; did you mean 'format'?"),
    ({}, {"window_hours": "24h"}, "[plugins.channel_whatsapp] window_hours '24h': must be a number"),
])
def test_a_setting_of_the_wrong_type_or_name_stops_the_application_at_start(crm_factory, gateway, sms, whatsapp,
                                                                             refused):
    with pytest.raises(ValidationError) as info:
        make_crm(crm_factory, gateway, sms=sms, whatsapp=whatsapp)
    assert refused in str(info.value)


def test_tokens_from_the_environment_win_over_the_settings_file(crm_factory, gateway, monkeypatch):
    monkeypatch.setenv("DEALERCRM_SMS_TOKEN", "env-sms-token")
    monkeypatch.setenv("DEALERCRM_WHATSAPP_TOKEN", "env-wa-token")
    crm = make_crm(crm_factory, gateway)
    max_ = crm.customers.add("Max Mustermann", phone="+49 171 5550100", by=crm.system)
    crm.consents.grant(max_.id, "whatsapp", "service", source="form", by=crm.system)
    customer_wrote(crm)
    gateway.reply = lambda r: wamid(r) if r.path.endswith("/messages") else gateway.default_reply(r)
    for channel in ("sms", "whatsapp"):
        crm.outbox.send(channel, "service", "hello", customer_id=max_.id, by=crm.system)
    assert crm.outbox.dispatch().sent == 2
    assert [r.headers["authorization"] for r in gateway.received] == ["Bearer env-sms-token", "Bearer env-wa-token"]


def test_a_providers_retry_after_is_waited_for_not_just_our_own_backoff(crm, gateway, max_, clock):
    gateway.answers.append(Answer(429, {"message": "slow down"}, {"Retry-After": "3600"}))
    msg = crm.outbox.send("sms", "service", "hello", customer_id=max_.id, by=crm.system)
    crm.outbox.dispatch()
    assert crm.outbox.get(msg.id, by=crm.system).next_attempt_at >= clock.now() + timedelta(hours=1)
    clock.advance(minutes=30)
    assert crm.outbox.dispatch().sent == 0 and len(gateway.received) == 1  # not asked again too early
    clock.advance(minutes=31)
    assert crm.outbox.dispatch().sent == 1 and crm.outbox.get(msg.id, by=crm.system).status == "sent"


@pytest.mark.parametrize("header, seconds", [
    ("30", 30), (" 120 ", 120), ("Sat, 28 Nov 2026 10:00:30 GMT", 30), ("Sat, 28 Nov 2026 09:00:00 GMT", 0),
    ("99999999", 24 * 3600), ("soon", None), ("²", None), ("", None), (None, None)])
def test_retry_after_is_read_as_seconds_or_an_http_date(header, seconds):
    from dealercrm.plugins.http_gateway import retry_after

    delay = retry_after(header, now=datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc))
    assert delay == (None if seconds is None else timedelta(seconds=seconds))
