"""The outbox: every outbound contact allowed by consent, within budget, on the timeline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from dealercrm import hookimpl
from dealercrm.channels import DeliveryResult
from dealercrm.db.models import Interaction, Task
from dealercrm.db.outbox_models import OutboxMessage


class Postbox:
    """A channel that keeps what it was given and answers what it is told to."""

    name = "postbox"
    purposes = frozenset({"service", "marketing"})
    consent_channel = "email"
    address_field = "email"
    consent_required_for = frozenset()

    def __init__(self):
        self.received, self.answers = [], []

    def send(self, message):
        self.received.append(message)
        return self.answers.pop(0) if self.answers else DeliveryResult.delivered(f"pb-{message.id}")


@pytest.fixture
def postbox(crm):
    box = Postbox()

    class Plugin:
        @hookimpl
        def dealercrm_register_channels(self, crm):
            return [box]

    crm.register(Plugin(), "postbox")
    return box


@pytest.fixture
def max_(crm):
    return crm.customers.add("Max Mustermann", email="max@example.org", phone="+49 171 5550100", by=crm.system)


def timeline(crm, customer_id):
    return [i.summary for i in crm.interactions.timeline(customer_id, by=crm.system)]


def statuses(crm):
    with crm.read(crm.system) as uow:
        return [(m.status, m.reason) for m in uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def test_marketing_without_consent_is_recorded_as_suppressed_not_dropped(crm, postbox, max_):
    msg = crm.outbox.send("postbox", "marketing", "Roof boxes for skiers", customer_id=max_.id, by=crm.system)
    assert msg.status == "suppressed" and "no marketing consent for email" in msg.reason
    assert crm.outbox.dispatch().sent == 0 and postbox.received == []
    assert any("not sent: no marketing consent" in s for s in timeline(crm, max_.id))


def test_service_messages_rely_on_the_contract_until_the_customer_revokes_them(crm, postbox, max_):
    assert crm.outbox.send("postbox", "service", "Your washer is ready", customer_id=max_.id, by=crm.system).status == "pending"
    crm.consents.revoke(max_.id, "email", "service", source="phone call", by=crm.system)
    assert crm.outbox.send("postbox", "service", "Again", customer_id=max_.id, by=crm.system).status == "suppressed"


def test_a_revocation_stops_a_message_already_queued(crm, postbox, max_, clock):
    crm.consents.grant(max_.id, "email", "marketing", source="form", by=crm.system)
    queued = crm.outbox.send("postbox", "marketing", "Spring offer", customer_id=max_.id, by=crm.system)
    assert queued.status == "pending"
    clock.advance(minutes=5)
    crm.consents.revoke(max_.id, "email", "marketing", source="unsubscribe link", by=crm.system)
    report = crm.outbox.dispatch()
    assert report.suppressed == 1 and postbox.received == []
    assert statuses(crm)[-1][0] == "suppressed" and "revoked" in statuses(crm)[-1][1]


def test_the_contact_budget_caps_marketing_but_never_service(crm, postbox, max_, clock):
    crm.consents.grant(max_.id, "email", "marketing", source="form", by=crm.system)
    sent = [crm.outbox.send("postbox", "marketing", f"mailing {n}", customer_id=max_.id, by=crm.system).status for n in range(6)]
    assert sent == ["pending"] * 4 + ["suppressed"] * 2
    assert "contact budget spent: 4 of 4" in statuses(crm)[-1][1]
    assert all(crm.outbox.send("postbox", "service", f"case news {n}", customer_id=max_.id, by=crm.system).status == "pending"
               for n in range(6))
    clock.advance(days=366)  # a rolling window: a year later there is room again
    assert crm.outbox.send("postbox", "marketing", "next year", customer_id=max_.id, by=crm.system).status == "pending"


def test_every_send_lands_on_the_timeline_with_the_idempotency_key_reaching_the_channel(crm, postbox, max_):
    msg = crm.outbox.send("postbox", "service", "Your washer is ready", subject="Washer", customer_id=max_.id, by=crm.system)
    assert crm.outbox.dispatch().sent == 1
    assert postbox.received[0].idempotency_key == msg.idempotency_key
    assert crm.outbox.get(msg.id, by=crm.system).status == "sent" and crm.outbox.get(msg.id, by=crm.system).provider_id == f"pb-{msg.id}"
    assert "sent: Washer" in timeline(crm, max_.id)


def test_temporary_failures_back_off_and_the_last_one_becomes_a_task_for_a_person(crm, postbox, max_, clock):
    postbox.answers = [DeliveryResult.retry("421 try later")] * 10
    msg = crm.outbox.send("postbox", "service", "Your washer is ready", customer_id=max_.id, by=crm.system)
    waits = []
    for attempt in range(crm.settings.outbox.max_attempts):
        report = crm.outbox.dispatch()
        row = crm.outbox.get(msg.id, by=crm.system)
        if row.status == "pending":
            waits.append(row.next_attempt_at - clock.now())
            assert crm.outbox.dispatch().batches == 0  # not due yet: nothing is sent early
            clock.set(row.next_attempt_at)
    assert crm.outbox.get(msg.id, by=crm.system).status == "dead" and report.dead == 1
    assert len(postbox.received) == crm.settings.outbox.max_attempts
    assert all(b > a * 0.9 for a, b in zip(waits, waits[1:]))  # growing, with jitter
    with crm.read(crm.system) as uow:
        task = uow.session.scalars(select(Task).where(Task.origin_ref == f"outbox:{msg.id}")).one()
    assert "could not be delivered" in task.title and task.customer_id == max_.id
    assert any("gave up after 6 attempts" in s for s in timeline(crm, max_.id))


def test_a_permanent_failure_is_not_retried_and_goes_to_a_person(crm, postbox, max_):
    postbox.answers = [DeliveryResult.failed("550 no such user")]
    msg = crm.outbox.send("postbox", "service", "hello", customer_id=max_.id, by=crm.system)
    assert crm.outbox.dispatch().failed == 1
    assert crm.outbox.get(msg.id, by=crm.system).status == "failed" and len(postbox.received) == 1
    assert crm.tasks.open(customer_id=max_.id, by=crm.system)[0].origin_ref == f"outbox:{msg.id}"


def test_a_channel_that_raises_is_retried_and_named(crm, postbox, max_):
    def boom(message):
        raise ConnectionResetError("gateway hung up")

    postbox.send = boom
    msg = crm.outbox.send("postbox", "service", "hello", customer_id=max_.id, by=crm.system)
    assert crm.outbox.dispatch().retried == 1
    row = crm.outbox.get(msg.id, by=crm.system)
    assert row.status == "pending" and "postbox" in row.reason and "gateway hung up" in row.reason


def test_a_dispatcher_that_died_mid_send_leaves_a_lease_that_expires_and_the_same_key_is_sent_again(
        crm, postbox, max_, clock):
    from dealercrm.services.dispatcher import claim

    msg = crm.outbox.send("postbox", "service", "hello", customer_id=max_.id, by=crm.system)
    ready, _ = claim(crm, 10)  # claimed and "sent", then the process died before recording
    assert [r["id"] for r in ready] == [msg.id]
    assert crm.outbox.dispatch().batches == 0  # leased: nobody else sends it meanwhile
    clock.advance(seconds=crm.settings.outbox.lease_seconds + 1)
    assert crm.outbox.dispatch().sent == 1
    assert postbox.received[-1].idempotency_key == msg.idempotency_key and postbox.received[-1].attempt == 2


def test_the_phone_channel_makes_a_call_task_once_even_when_sent_twice(crm, max_, clock):
    crm.consents.grant(max_.id, "phone", "marketing", source="handover", by=crm.system)
    msg = crm.outbox.send("phone", "marketing", "ask how the new car drives", customer_id=max_.id, by=crm.system)
    phone = crm.channels["phone"]
    from dealercrm.services.dispatcher import claim, send_one

    ready, _ = claim(crm, 10)
    first, second = send_one(crm, ready[0]), send_one(crm, ready[0])
    assert first.status == "delivered" and first.provider_id == second.provider_id
    tasks = crm.tasks.open(customer_id=max_.id, by=crm.system)
    assert len(tasks) == 1 and "call +491715550100" in tasks[0].title
    assert phone.name == "phone"


def test_a_case_hand_off_tells_the_customer_who_has_it_and_until_when(crm, postbox, max_):
    crm.settings.plugins["case_notifications"] = {"channels": ["postbox"], "language": "en"}
    dealer = crm.parties.list(kind="dealer", by=crm.system)[0]
    maker = crm.parties.add("manufacturer", "Brioche Hausgeräte", by=crm.system)
    lea = crm.parties.add_actor(dealer.id, "Lea", "service", by=crm.system)
    washer = crm.products.add("WM-8", "WashPro", manufacturer_party_id=maker.id, by=crm.system)
    asset = crm.assets.record(max_.id, washer.id, serial_number="S1", by=crm.system)
    case = crm.cases.open(max_.id, "washes badly", asset_id=asset.id, by=lea.id)
    crm.cases.fire(case.id, "start_diagnosis", by=lea.id)
    crm.cases.fire(case.id, "forward_to_manufacturer", by=lea.id)
    crm.outbox.dispatch()
    told = postbox.received[-1]
    assert told.subject == f"Your case {case.id}: now with the manufacturer Brioche Hausgeräte, answer due by 4 Mar 2026"
    assert "The manufacturer Brioche Hausgeräte" in told.body and "by 4 Mar 2026, 10:00 CET" in told.body
    assert told.case_id == case.id
