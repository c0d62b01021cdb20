"""Issue #14, finding 2: anyone could post to ``/inbound/email`` as a customer.

A forged "still broken" reopened a case, forged "CSAT 1 NPS 0" replies became survey
answers and low-score tasks, and unknown senders filled triage with up to 1 MiB each.
Now every inbound channel authenticates its sender ([inbound.<channel>]): a post
without the secret or signature is a 401 and leaves nothing in the database — no
inbound row, no audit row, no task, no interaction, no survey answer, no case change.
Each test also shows the same request *with* the right credentials doing what the
forgery would have done, so a check that refused everything would fail here too.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from sqlalchemy import func, select

from dealercrm import ValidationError
from dealercrm.db.case_models import CaseEvent
from dealercrm.db.models import AuditRecord, Interaction, Task
from dealercrm.db.outbox_models import InboundMessage
from dealercrm.db.rule_models import SurveyResponse
from dealercrm.http import create_app
from dealercrm.settings import Settings
from dealercrm.signing import sign_headers

EMAIL_SECRET = "relay-secret-5f0c2a9e81d7"
WEBHOOK_SECRET = "whsec-inbound-9d41c7a0b2"
RELAY = {"email": {"secret": EMAIL_SECRET}}


def mail(case_id: int, text: str, sender: str = "erika@example.org") -> bytes:
    return (f"From: Erika Musterfrau <{sender}>\r\nTo: service@elektro-schmidt.example\r\n"
            f"Subject: Re: Fall {case_id}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n").encode()


def traces(world) -> dict[str, int]:
    """Every kind of row an inbound post can leave behind."""
    with world.crm.read(world.crm.system) as uow:
        return {model.__name__: uow.session.scalar(select(func.count()).select_from(model))
                for model in (InboundMessage, AuditRecord, Task, Interaction, SurveyResponse, CaseEvent)}


def awaiting_confirmation(world) -> int:
    case = world.open_case()
    world.fire(case.id, "start_diagnosis", world.service)
    world.fire(case.id, "solve_by_advice", world.service, note="detergent drawer was blocked")
    return case.id


def closed(world) -> int:
    case_id = awaiting_confirmation(world)
    world.fire(case_id, "confirm", world.service, note="washes perfectly again")
    return case_id


@pytest.mark.parametrize("headers", [
    {},                                                                    # no secret at all
    {"X-Dealercrm-Inbound-Secret": "relay-secret-5f0c2a9e81d8"},           # one character off
    {"X-Dealercrm-Inbound-Secret": ""},
    {"Authorization": f"Bearer {EMAIL_SECRET}"},                           # the right secret, wrong header
    {"X-Dealercrm-Inbound-Secret": EMAIL_SECRET[:-1]},                     # a prefix of it
], ids=["none", "wrong", "empty", "other-header", "prefix"])
def test_a_forged_still_broken_reply_is_401_and_the_case_stays_as_it_is(inbound_api, headers):
    api, world = inbound_api(inbound=RELAY)
    case_id = awaiting_confirmation(world)
    before, snapshot = traces(world), world.snapshot(case_id)
    answer = api.post("/inbound/email", content=mail(case_id, "still broken"), headers=headers)
    assert answer.status_code == 401 and answer.json()["type"] == "urn:dealercrm:problem:unauthenticated"
    assert "erika" not in answer.text.lower() and EMAIL_SECRET not in answer.text
    assert traces(world) == before and world.snapshot(case_id) == snapshot
    assert world.crm.cases.get(case_id, by=world.crm.system).state == "awaiting_confirmation"

    # the relay, with the secret: the reply is taken and reopens the case, as the customer meant it
    genuine = api.post("/inbound/email", content=mail(case_id, "still broken"),
                       headers={"X-Dealercrm-Inbound-Secret": EMAIL_SECRET})
    assert genuine.status_code == 202
    assert world.crm.cases.get(case_id, by=world.crm.system).state == "dealer_diagnosis"
    assert world.crm.inbound.get(genuine.json()["id"], by=world.crm.system).fired_trigger == "still_broken"


def test_forged_survey_answers_make_no_answers_and_no_tasks(inbound_api):
    api, world = inbound_api(inbound=RELAY)
    case_id = closed(world)
    before = traces(world)
    for _ in range(5):
        assert api.post("/inbound/email", content=mail(case_id, "CSAT 1 NPS 0")).status_code == 401
    assert traces(world) == before and world.crm.surveys.of_case(case_id, by=world.crm.system) == []

    assert api.post("/inbound/email", content=mail(case_id, "CSAT 1 NPS 0"),
                    headers={"X-Dealercrm-Inbound-Secret": EMAIL_SECRET}).status_code == 202
    assert [(a.csat, a.nps) for a in world.crm.surveys.of_case(case_id, by=world.crm.system)] == [(1, 0)]


def test_an_unknown_senders_forged_megabyte_is_not_stored_and_makes_no_triage_task(inbound_api):
    api, world = inbound_api(inbound=RELAY)
    before = traces(world)
    big = mail(0, "x" * ((1 << 20) - 400), sender="stranger@example.net")
    assert api.post("/inbound/email", content=big).status_code == 401
    assert traces(world) == before


def test_a_channel_without_a_secret_accepts_nothing(inbound_api):
    api, world = inbound_api()  # nothing configured for e-mail: closed by default
    case_id = awaiting_confirmation(world)
    before = traces(world)
    for headers in ({}, {"X-Dealercrm-Inbound-Secret": EMAIL_SECRET}, {"X-Dealercrm-Inbound-Secret": ""}):
        assert api.post("/inbound/email", content=mail(case_id, "still broken"), headers=headers).status_code == 401
    assert traces(world) == before
    assert api.post("/inbound/telex", content=b"hi").status_code == 404  # no such channel: not a 401


def test_a_table_without_a_secret_accepts_nothing_either(inbound_api):
    api, world = inbound_api(inbound={"email": {"auth": "secret"}})
    before = traces(world)
    assert api.post("/inbound/email", content=mail(1, "hi"), headers={"X-Dealercrm-Inbound-Secret": ""}).status_code \
        == 401
    assert traces(world) == before


def test_the_secret_may_come_from_the_environment_and_wins(inbound_api, monkeypatch):
    from_env = "environment-secret-7c1e0b"
    monkeypatch.setenv("DEALERCRM_INBOUND_EMAIL_SECRET", from_env)
    api, world = inbound_api(inbound=RELAY)
    before = traces(world)
    assert api.post("/inbound/email", content=mail(1, "hi"),
                    headers={"X-Dealercrm-Inbound-Secret": EMAIL_SECRET}).status_code == 401
    assert traces(world) == before
    assert api.post("/inbound/email", content=mail(1, "hi"),
                    headers={"X-Dealercrm-Inbound-Secret": from_env}).status_code == 202


def test_old_and_new_secret_both_work_while_rotating(inbound_api):
    api, _ = inbound_api(inbound={"email": {"secret": [EMAIL_SECRET, "the-next-secret-31f9a"]}})
    for secret in (EMAIL_SECRET, "the-next-secret-31f9a"):
        assert api.post("/inbound/email", content=mail(1, "hi"),
                        headers={"X-Dealercrm-Inbound-Secret": secret}).status_code == 202


def test_the_secret_may_travel_as_a_bearer_token(inbound_api):
    api, _ = inbound_api(inbound={"email": {"secret": EMAIL_SECRET, "header": "Authorization"}})
    assert api.post("/inbound/email", content=mail(1, "hi"), headers={"Authorization": EMAIL_SECRET}).status_code \
        == 401
    assert api.post("/inbound/email", content=mail(1, "hi"),
                    headers={"Authorization": f"Bearer {EMAIL_SECRET}"}).status_code == 202


# -- signatures of the body -------------------------------------------------------------------
def hub_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_an_hmac_signed_relay_is_accepted_and_a_tampered_body_is_not(inbound_api):
    api, world = inbound_api(inbound={"email": {"auth": "hmac-sha256", "secret": EMAIL_SECRET}})
    case_id = awaiting_confirmation(world)
    body = mail(case_id, "thanks, all fine")
    forged = mail(case_id, "still broken")
    before = traces(world)
    for headers, content in (({"X-Hub-Signature-256": hub_signature(EMAIL_SECRET, body)}, forged),  # tampered
                             ({"X-Hub-Signature-256": hub_signature("someone-elses-secret", forged)}, forged),
                             ({"X-Hub-Signature-256": hub_signature(EMAIL_SECRET, forged)[7:]}, forged),  # no prefix
                             ({"X-Dealercrm-Inbound-Secret": EMAIL_SECRET}, forged),  # a secret is no signature
                             ({}, forged)):
        assert api.post("/inbound/email", content=content, headers=headers).status_code == 401
    assert traces(world) == before and world.crm.cases.get(case_id, by=world.crm.system).state == "awaiting_confirmation"
    signed = api.post("/inbound/email", content=forged, headers={"X-Hub-Signature-256": hub_signature(EMAIL_SECRET,
                                                                                                      forged)})
    assert signed.status_code == 202 and world.crm.cases.get(case_id, by=world.crm.system).state == "dealer_diagnosis"


def test_a_timestamped_signature_cannot_be_replayed_later(inbound_api):
    api, world = inbound_api(inbound={"email": {"auth": "dealercrm", "secret": EMAIL_SECRET,
                                                "tolerance_seconds": 60}})
    body = mail(1, "hello")
    import time

    stale = sign_headers(EMAIL_SECRET, body, int(time.time()) - 3600)
    before = traces(world)
    assert api.post("/inbound/email", content=body, headers=stale).status_code == 401
    assert traces(world) == before
    assert api.post("/inbound/email", content=body, headers=sign_headers(EMAIL_SECRET, body)).status_code == 202


def test_the_webhook_channel_checks_its_own_signature_before_storing(inbound_api):
    api, world = inbound_api(webhook={"secret": "outbound-secret-0a9f", "inbound_secret": WEBHOOK_SECRET})
    body = json.dumps({"from": "erika@example.org", "text": "still broken"}).encode()
    before = traces(world)
    for headers in ({}, sign_headers("outbound-secret-0a9f", body), sign_headers(WEBHOOK_SECRET, body + b" ")):
        assert api.post("/inbound/webhook", content=body, headers=headers).status_code == 401
    assert traces(world) == before
    assert api.post("/inbound/webhook", content=body, headers=sign_headers(WEBHOOK_SECRET, body)).status_code == 202


# -- configuration mistakes stop the server at start-up --------------------------------------
@pytest.mark.parametrize("table,complaint", [
    ({"secret": "short"}, "shorter than 16"),
    ({"secret": EMAIL_SECRET, "auth": "basic"}, "must be one of"),
    ({"secret": EMAIL_SECRET, "sekret": "x"}, "unknown"),
    ({"secret": 12345678901234567}, "string"),
    ({"secret": EMAIL_SECRET, "header": "X Bad"}, "header"),
])
def test_a_wrong_inbound_table_is_refused_when_the_api_is_made(tmp_path, table, complaint):
    from dealercrm import connect

    crm = connect(f"sqlite:///{tmp_path}/x.db", settings=Settings(inbound={"email": table}))
    try:
        with pytest.raises(ValidationError, match=complaint):
            create_app(crm)
    finally:
        crm.close()


def test_a_secret_is_never_in_a_repr():
    from dealercrm.http.inbound_auth import parse

    assert EMAIL_SECRET not in repr(parse("email", {"secret": EMAIL_SECRET}, {}))


def test_without_the_request_guard_the_inbound_route_refuses_on_its_own(tmp_path, clock):
    """Defence in depth: a host mounting the routes without the guard gets a closed endpoint, not an open one."""
    from case_world import copy_world
    from fastapi.testclient import TestClient

    world = copy_world(tmp_path, clock, settings=Settings(inbound=RELAY))
    try:
        app = create_app(world.crm)
        app.user_middleware = [m for m in app.user_middleware if m.cls.__name__ != "RequestGuard"]
        with TestClient(app) as client:
            answer = client.post("/inbound/email", content=mail(1, "still broken"),
                                 headers={"X-Dealercrm-Inbound-Secret": EMAIL_SECRET})
        assert answer.status_code == 401
        assert world.count(InboundMessage) == 0
    finally:
        world.crm.close()
