"""Messages to a customer over HTTP: the owning dealer writes, the outbox decides and sends.

Consent and the contact budget are judged as for every message: one that may not go is
kept as ``suppressed`` with its reason — the answer says which, it is no error. Only
the owning dealer writes to its customer; a manufacturer or technician serving the
customer's case does not (the dealer is the customer's single point of contact).
"""

from __future__ import annotations

import pytest
from api_world import assigned
from sqlalchemy import select

from dealercrm.db.outbox_models import OutboxMessage


def send(api, who, customer_id, **body):
    body = {"channel": "email", "purpose": "service", "subject": "Ihre Waschmaschine",
            "body": "Der Techniker kommt am Dienstag.", **body}
    return api.post(f"/customers/{customer_id}/messages", headers=api.as_(who), json=body)


def test_the_dealer_queues_a_service_message_and_sees_it_pending(api, world):
    case_id = world.open_case().id
    sent = send(api, "service", world.customer.id, case_id=case_id)
    assert sent.status_code == 201, sent.text
    message = sent.json()
    assert sent.headers["location"] == f"/customers/{world.customer.id}/messages/{message['id']}"
    assert (message["status"], message["reason"], message["recipient"], message["case_id"], message["origin"]) == (
        "pending", None, "erika@example.org", case_id, "human")
    shown = api.get(sent.headers["location"], headers=api.as_("service"))
    assert shown.status_code == 200 and shown.json() == message
    [row] = [m for m in _messages(world) if m.id == message["id"]]
    assert (row.channel, row.purpose, row.subject, row.body) == (
        "email", "service", "Ihre Waschmaschine", "Der Techniker kommt am Dienstag.")


def test_a_marketing_message_without_consent_is_kept_as_suppressed_with_the_reason(api, world):
    suppressed = send(api, "service", world.customer.id, purpose="marketing", body="Neue Trockner im Angebot")
    assert suppressed.status_code == 201
    assert (suppressed.json()["status"], suppressed.json()["reason"]) == (
        "suppressed", "no marketing consent for email")
    world.crm.consents.grant(world.customer.id, "email", "marketing", source="signed form", by=world.crm.system)
    allowed = send(api, "service", world.customer.id, purpose="marketing", body="Neue Trockner im Angebot")
    assert allowed.json()["status"] == "pending"
    timeline = api.get(f"/customers/{world.customer.id}/timeline", headers=api.as_("service")).json()["items"]
    assert any("marketing email message not sent: no marketing consent" in i["summary"] for i in timeline)


def test_the_contact_budget_suppresses_marketing_once_spent(api, world):
    world.crm.consents.grant(world.customer.id, "email", "marketing", source="signed form", by=world.crm.system)
    budget = world.crm.settings.contact.budget
    statuses = [send(api, "service", world.customer.id, purpose="marketing", body=f"Angebot {n}").json()
                for n in range(budget + 1)]
    assert [m["status"] for m in statuses] == ["pending"] * budget + ["suppressed"]
    assert statuses[-1]["reason"].startswith("contact budget spent")


def test_messages_are_listed_newest_first_in_pages(api, world, clock):
    for n in range(3):
        assert send(api, "service", world.customer.id, body=f"Nachricht {n}").status_code == 201
        clock.advance(minutes=5)
    me = api.as_("service")
    first = api.get(f"/customers/{world.customer.id}/messages?limit=2", headers=me).json()
    rest = api.get(f"/customers/{world.customer.id}/messages?limit=2&offset=2", headers=me).json()
    assert [m["body"] for m in first["items"] + rest["items"]] == ["Nachricht 2", "Nachricht 1", "Nachricht 0"]
    assert (first["next_offset"], rest["next_offset"]) == (2, None)


def test_an_unknown_channel_is_a_problem_naming_the_field_and_the_channels_that_reach_customers(api, world):
    answer = send(api, "service", world.customer.id, channel="pigeon")
    assert answer.status_code == 422 and answer.json()["field"] == "channel", answer.text
    detail = answer.json()["detail"]
    available = sorted(n for n, ch in world.crm.channels.items() if ch.consent_channel)
    assert "email" in available and f"available: {', '.join(available)}" in detail
    assert "subscription" in world.crm.channels and "subscription" not in available  # reaches host systems only
    refused = send(api, "service", world.customer.id, channel="subscription")
    assert refused.status_code == 422 and refused.json()["field"] == "channel"
    assert _messages(world) == []


@pytest.mark.parametrize("body,field", [({"purpose": "spam"}, "purpose"), ({"body": ""}, "body"),
                                        ({"case_id": 0}, "case_id"), ({"cc": "x@example.org"}, "cc")])
def test_bad_message_input_is_a_problem_naming_the_field(api, world, body, field):
    answer = send(api, "service", world.customer.id, **body)
    assert answer.status_code == 422 and answer.json()["field"] == field, answer.text
    assert _messages(world) == []


def test_a_message_names_only_a_case_of_its_own_customer(api, world):
    max_ = world.crm.customers.add("Max Mustermann", email="max@example.org", owner_party_id=world.dealer.id, by=world.crm.system)
    erikas = world.open_case().id
    wrong = send(api, "service", max_.id, case_id=erikas)
    assert wrong.status_code == 409 and wrong.json()["field"] == "case_id"
    theirs = world.crm.customers.add("Lisa Lustig", owner_party_id=world.other_dealer.id, by=world.crm.system)
    other_dealers = world.crm.cases.open(theirs.id, "fridge is warm", by=world.other_dealer_service.id)
    assert send(api, "service", world.customer.id, case_id=other_dealers.id).status_code == 404
    assert _messages(world) == []


def test_a_message_of_another_customer_is_not_found_under_this_one(api, world):
    max_ = world.crm.customers.add("Max Mustermann", email="max@example.org", owner_party_id=world.dealer.id, by=world.crm.system)
    his = send(api, "service", max_.id).json()
    me = api.as_("service")
    assert api.get(f"/customers/{world.customer.id}/messages/{his['id']}", headers=me).status_code == 404
    assert api.get(f"/customers/{max_.id}/messages/424242", headers=api.as_("service")).status_code == 404


@pytest.mark.parametrize("who,status", [("other_dealer", 404), ("other_maker", 404), ("warranty", 403),
                                        ("fitter", 403)])
def test_only_the_owning_dealer_writes_to_the_customer_or_reads_the_messages(api, world, who, status):
    assigned(world)  # the manufacturer and the technician both serve the customer's case
    mine = send(api, "service", world.customer.id).json()
    queued = len(_messages(world))
    path = f"/customers/{world.customer.id}/messages"
    for refused in (send(api, who, world.customer.id), api.get(path, headers=api.as_(who)),
                    api.get(f"{path}/{mine['id']}", headers=api.as_(who))):
        assert refused.status_code == status, refused.text
        assert "erika@" not in refused.text and "Dienstag" not in refused.text
    assert len(_messages(world)) == queued


def _messages(world) -> list[OutboxMessage]:
    with world.crm.read(world.crm.system) as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.origin == "human")
                                        .order_by(OutboxMessage.id)))
