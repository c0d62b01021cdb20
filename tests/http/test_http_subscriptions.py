"""Event subscriptions: the dealer's own software learns of every hand-off without polling,
through the outbox, signed with its own subscription's secret — and a party is told only
of what it may see."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from api_world import WEBHOOK_SECRET, assigned, forwarded
from http_servers import running
from sqlalchemy import select

from dealercrm.channels import OutgoingMessage
from dealercrm.db.api_models import Subscription
from dealercrm.db.models import AuditRecord
from dealercrm.db.outbox_models import OutboxMessage
from dealercrm.plugins.channel_webhook import verify_signature


@contextmanager
def receiver():
    """A host system on 127.0.0.1 that records what it is sent and answers 200."""
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", got
    finally:
        server.shutdown()
        server.server_close()


def subscribe(api, who, url, *kinds):
    answer = api.post("/subscriptions", headers=api.as_(who), json={"url": url, "kinds": list(kinds)})
    assert answer.status_code == 201, answer.text
    return answer.json()


def deliveries(world) -> list[OutboxMessage]:
    with world.crm.read(world.crm.system) as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.origin == "http_subscriptions")
                                        .order_by(OutboxMessage.id)))


def test_a_hand_off_reaches_the_dealers_system_signed_with_its_own_secret_through_the_outbox(api, world):
    with receiver() as (url, got):
        sub = subscribe(api, "service", f"{url}/dms/events", "case_handed_over", "case_closed")
        case_id = forwarded(world)
        assert deliveries(world) == []  # the hand-off commits the case, its history and its audit, nothing else
        world.crm.outbox.queue_notices()  # then, from the committed history (dispatch() does it first)
        [queued] = deliveries(world)
        assert (queued.customer_id, queued.recipient, queued.channel) == (None, f"{url}/dms/events", "subscription")
        assert queued.data == {"subscription_id": sub["id"], "kind": "case_handed_over"}
        assert world.crm.outbox.dispatch().sent == 1
    [post] = got
    assert post["path"] == "/dms/events"
    stamp, signature = post["headers"]["x-dealercrm-timestamp"], post["headers"]["x-dealercrm-signature"]
    assert verify_signature(sub["secret"], post["body"], stamp, signature)
    assert not verify_signature(WEBHOOK_SECRET, post["body"], stamp, signature)  # not the channel's secret
    assert post["headers"]["idempotency-key"] == queued.idempotency_key
    outer = json.loads(post["body"])
    assert outer["data"] == {"subscription_id": sub["id"], "kind": "case_handed_over"} and outer["customer_id"] is None
    event = json.loads(outer["body"])
    assert event["kind"] == "case_handed_over" and event["case_id"] == case_id
    assert (event["state"], event["to_party_id"]) == ("manufacturer_review", world.manufacturer.id)
    assert "Erika" not in outer["body"] and "erika@" not in outer["body"]  # ids only, no personal data


def test_each_party_verifies_its_deliveries_with_its_own_secret_and_no_other(api, world):
    with running() as dms, running() as brioche, running() as technik:
        mine = subscribe(api, "service", f"{dms.url}/hook", "case_handed_over")
        maker = subscribe(api, "warranty", f"{brioche.url}/hook", "case_handed_over")
        fitter = subscribe(api, "fitter", f"{technik.url}/hook", "case_handed_over")
        # each receiver checks the documented signature with its own code and secret, and refuses a bad one
        dms.secret, brioche.secret, technik.secret = mine["secret"], maker["secret"], fitter["secret"]
        assigned(world)  # dealer -> manufacturer -> technician: two hand-offs
        report = world.crm.outbox.dispatch()
    assert report.sent == 5  # (the customer's e-mail notifications wait for an SMTP server: not ours to count)
    assert [r.signature_ok for r in dms.received] == [True, True]
    assert [r.signature_ok for r in brioche.received] == [True, True]
    assert [r.signature_ok for r in technik.received] == [True]  # told once it may see the case
    own = {dms: mine["secret"], brioche: maker["secret"], technik: fitter["secret"]}
    for server, secret in own.items():
        for request in server.received:
            stamp, signature = request.headers["x-dealercrm-timestamp"], request.headers["x-dealercrm-signature"]
            assert [verify_signature(s, request.body, stamp, signature) for s in own.values()] == [
                s == secret for s in own.values()]


def test_the_secret_never_enters_the_outbox_and_is_read_when_sending(api, world):
    with running() as dms:
        sub = subscribe(api, "service", f"{dms.url}/hook", "case_handed_over")
        forwarded(world)
        with world.crm.read(world.crm.system) as uow:  # every column of every queued message and audit row, as text
            stored = repr([tuple(row) for table in (OutboxMessage.__table__, AuditRecord.__table__)
                           for row in uow.connection.execute(select(table))])
        assert sub["secret"] not in stored and str(sub["id"]) in stored
        with world.crm.uow(world.crm.system, "test") as uow:  # the secret changes after queueing: the new one signs
            uow.connection.execute(Subscription.__table__.update().values(secret="whsec_rotated"))
            uow.commit()
        dms.secret = "whsec_rotated"
        assert world.crm.outbox.dispatch().sent == 1
    assert [r.signature_ok for r in dms.received] == [True]


def message_for(data) -> OutgoingMessage:
    return OutgoingMessage(id=1, idempotency_key="k", channel="subscription", purpose="service",
                           recipient="http://127.0.0.1:9/hook", subject=None, body="{}", data=data, customer_id=None,
                           case_id=None, attempt=1)


@pytest.mark.parametrize("data", [{}, {"subscription_id": 424242}, {"subscription_id": "1"}])
def test_a_message_naming_no_subscription_is_not_sent_unsigned_or_anywhere(world, data):
    result = world.crm.channels["subscription"].send(message_for(data))
    assert result.status == "failed" and "names no subscription" in result.error


def test_a_misconfigured_timeout_fails_deliveries_with_the_reason(tmp_path, clock):
    from case_world import copy_world

    from dealercrm.settings import Settings

    world = copy_world(tmp_path, clock, settings=Settings(plugins={"http_subscriptions": {"timeout": 0}}))
    try:
        result = world.crm.channels["subscription"].send(message_for({"subscription_id": 1}))
        assert result.status == "failed" and "timeout must be a positive number, not 0" in result.error
    finally:
        world.crm.close()


def test_a_timeout_that_is_no_number_stops_the_application_at_start(tmp_path, clock):
    from case_world import copy_world

    from dealercrm import ValidationError
    from dealercrm.settings import Settings

    with pytest.raises(ValidationError, match=r"\[plugins.http_subscriptions\] timeout 'soon': must be a number"):
        copy_world(tmp_path, clock, settings=Settings(plugins={"http_subscriptions": {"timeout": "soon"}}))


def test_deliveries_need_no_webhook_channel_configured(tmp_path, clock):
    from api_world import Api, issue_keys
    from case_world import copy_world

    from dealercrm.http import create_app

    from dealercrm.settings import Settings

    # no [plugins.channel_webhook], no DEALERCRM_WEBHOOK_SECRET (the receiver is on 127.0.0.1: allowed here)
    world = copy_world(tmp_path, clock, settings=Settings(plugins={"http_subscriptions": {
        "allow_internal_targets": True}}))
    try:
        assert "webhook" not in world.crm.channels
        with running() as dms, Api(create_app(world.crm)) as api:
            api.keys = issue_keys(world)
            sub = subscribe(api, "service", f"{dms.url}/hook", "case_handed_over")
            dms.secret = sub["secret"]
            forwarded(world)
            assert world.crm.outbox.dispatch().sent == 1
        assert [r.signature_ok for r in dms.received] == [True]
    finally:
        world.crm.close()


def test_deleting_a_subscription_cancels_its_waiting_deliveries(api, world):
    mine = subscribe(api, "service", "https://dms.schmidt.example/hook", "case_handed_over")
    maker = subscribe(api, "warranty", "https://brioche.example/hook", "case_handed_over")
    forwarded(world)
    world.crm.outbox.queue_notices()
    assert api.delete(f"/subscriptions/{mine['id']}", headers=api.as_("service")).status_code == 204
    status = {m.data["subscription_id"]: (m.status, m.reason) for m in deliveries(world)}
    assert status == {mine["id"]: ("cancelled", f"subscription {mine['id']} was deleted"),
                      maker["id"]: ("pending", None)}


def test_each_party_is_told_only_of_cases_it_may_see(api, world):
    mine = subscribe(api, "service", "https://dms.schmidt.example/hook", "case_handed_over")
    maker = subscribe(api, "warranty", "https://brioche.example/hook", "case_handed_over")
    subscribe(api, "other_dealer", "https://meyer.example/hook", "case_handed_over")
    subscribe(api, "other_maker", "https://frost.example/hook", "case_handed_over")
    subscribe(api, "fitter", "https://technik.example/hook", "case_handed_over")
    forwarded(world)
    world.crm.outbox.queue_notices()
    told = [(m.data["subscription_id"], json.loads(m.body)["state"]) for m in deliveries(world)]
    assert sorted(told) == [(mine["id"], "manufacturer_review"), (maker["id"], "manufacturer_review")]


def test_a_subscription_gets_only_the_kinds_it_asked_for(api, world):
    sub = subscribe(api, "service", "https://dms.schmidt.example/hook", "case_closed")
    case = world.open_case()
    world.fire(case.id, "start_diagnosis", world.service)
    world.crm.outbox.queue_notices()
    assert deliveries(world) == []
    world.fire(case.id, "withdraw", world.service, reason="the customer keeps it")
    world.crm.outbox.queue_notices()
    [closed] = deliveries(world)
    assert json.loads(closed.body)["kind"] == "case_closed" and closed.data["subscription_id"] == sub["id"]


def test_an_escalation_is_told_as_case_escalated(api, world):
    subscribe(api, "service", "https://dms.schmidt.example/hook", "case_escalated")
    world.open_case()
    world.crm.clock.advance(hours=5)
    world.crm.cases.tick()
    [escalated] = deliveries(world)
    event = json.loads(escalated.body)
    assert event["kind"] == "case_escalated" and event["missed_by_party_id"] == world.dealer.id


def test_a_customers_reply_is_told_to_the_owning_dealer_only(api, world):
    from dealercrm.plugins.channel_webhook import sign_headers

    subscribe(api, "service", "https://dms.schmidt.example/hook", "message_received")
    subscribe(api, "other_dealer", "https://meyer.example/hook", "message_received")
    body = json.dumps({"from": "erika@example.org", "text": "Hello, any news?"}).encode()
    answer = api.post("/inbound/webhook", content=body,
                      headers={"content-type": "application/json", **sign_headers(WEBHOOK_SECRET, body)})
    assert answer.status_code == 202
    [told] = deliveries(world)
    event = json.loads(told.body)
    assert (event["kind"], event["customer_id"], event["status"]) == ("message_received", world.customer.id,
                                                                      "attached")


def test_deleted_subscriptions_are_not_told(api, world):
    sub = subscribe(api, "service", "https://dms.schmidt.example/hook", "case_handed_over")
    assert api.delete(f"/subscriptions/{sub['id']}", headers=api.as_("service")).status_code == 204
    assert api.get(f"/subscriptions/{sub['id']}", headers=api.as_("service")).status_code == 404
    forwarded(world)
    assert deliveries(world) == []


def test_the_secret_is_shown_once_and_subscriptions_belong_to_their_party(api, world):
    sub = subscribe(api, "service", "https://dms.schmidt.example/hook", "case_closed")
    listed = api.get("/subscriptions", headers=api.as_("service")).json()
    assert listed == [{k: v for k, v in sub.items() if k != "secret"}]
    assert api.get(f"/subscriptions/{sub['id']}", headers=api.as_("other_dealer")).status_code == 404
    assert api.delete(f"/subscriptions/{sub['id']}", headers=api.as_("other_dealer")).status_code == 404
    assert api.get("/subscriptions", headers=api.as_("other_dealer")).json() == []


@pytest.mark.parametrize("body,field", [
    ({"url": "http://dms.schmidt.example/hook", "kinds": ["case_closed"]}, "url"),  # plain http off this machine
    ({"url": "ftp://dms.schmidt.example/hook", "kinds": ["case_closed"]}, "url"),
    ({"url": "https://user:pw@dms.schmidt.example/hook", "kinds": ["case_closed"]}, "url"),
    ({"url": "https://dms.schmidt.example/hook", "kinds": ["case_opened"]}, "kinds.0"),
    ({"url": "https://dms.schmidt.example/hook", "kinds": []}, "kinds"),
])
def test_unusable_subscriptions_are_422_naming_the_field(api, body, field):
    answer = api.post("/subscriptions", headers=api.as_("service"), json=body)
    assert answer.status_code == 422 and answer.json()["field"] == field


def test_with_the_plugin_blocked_the_api_offers_no_subscriptions(tmp_path, clock):
    """The routes are the plugin's (dealercrm_register_routes): blocked, they are not there at all."""
    from api_world import Api, issue_keys
    from case_world import copy_world

    from dealercrm.http import create_app

    world = copy_world(tmp_path, clock, block=["http_subscriptions"])
    try:
        app = create_app(world.crm)
        api = Api(app)
        api.keys = issue_keys(world)
        answer = api.post("/subscriptions", headers=api.as_("service"),
                          json={"url": "https://dms.schmidt.example/hook", "kinds": ["case_closed"]})
        assert answer.status_code == 404
        assert not [path for path in app.openapi()["paths"] if path.startswith("/subscriptions")]
        assert "subscriptions" not in [tag["name"] for tag in app.openapi()["tags"]]
    finally:
        world.crm.close()


def test_subscribing_is_refused_when_the_delivering_channel_did_not_load(api, world):
    del world.crm.channels["subscription"]  # as when the channel raised while loading
    answer = api.post("/subscriptions", headers=api.as_("service"),
                      json={"url": "https://dms.schmidt.example/hook", "kinds": ["case_closed"]})
    assert answer.status_code == 422 and answer.json()["field"] == "url"
    assert "'subscription' channel is not loaded" in answer.json()["detail"]


def test_a_delivery_a_crashed_dispatcher_held_is_not_sent_after_the_subscription_was_deleted(api, world):
    from datetime import timedelta

    from sqlalchemy import update

    with running() as dms:
        sub = subscribe(api, "service", f"{dms.url}/hook", "case_handed_over")
        forwarded(world)
        world.crm.outbox.queue_notices()
        out = OutboxMessage.__table__
        with world.crm.uow(world.crm.system, "a dispatcher claims, then dies") as uow:
            uow.connection.execute(update(out).where(out.c.channel == "subscription").values(
                status="sending", locked_until=world.crm.clock.now() + timedelta(minutes=1)))
            uow.commit()
        assert api.delete(f"/subscriptions/{sub['id']}", headers=api.as_("service")).status_code == 204
        world.crm.clock.advance(minutes=10)  # the dead dispatcher's lease is long over
        assert world.crm.outbox.dispatch().sent == 0
    assert dms.received == []
    [delivery] = deliveries(world)
    assert (delivery.status, delivery.reason) == ("cancelled", f"subscription {sub['id']} was deleted")


def test_a_delivery_in_hand_when_its_subscription_is_deleted_is_dropped_without_a_task(api, world):
    """The race the cancellation cannot close: claimed before the deletion, sent after it."""
    import random

    from dealercrm.db.models import Task
    from dealercrm.services.dispatcher import DispatchReport, claim, record, send_one

    with running() as dms:
        sub = subscribe(api, "service", f"{dms.url}/hook", "case_handed_over")
        forwarded(world)
        world.crm.outbox.queue_notices()
        ready, _ = claim(world.crm, 10)
        assert api.delete(f"/subscriptions/{sub['id']}", headers=api.as_("service")).status_code == 204
        tasks_before = world.count(Task)
        report = DispatchReport()
        record(world.crm, report, [(row, send_one(world.crm, row)) for row in ready], random.Random(1))
    assert dms.received == [] and (report.sent, report.failed, report.dead) == (0, 0, 0)
    assert world.count(Task) == tasks_before  # nobody is asked to reach a party that unsubscribed
    [delivery] = deliveries(world)
    assert delivery.status == "cancelled"
