"""A rule's message that may not go is never dropped: a third party's spring-newsletter rule
writes to everyone, and where consent is missing or the contact budget is spent the
message is kept as suppressed with its reason, the customer's timeline says so, and the run
counts it as suppressed, not as acted."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dealercrm import hookimpl
from dealercrm.db.models import Customer
from dealercrm.db.outbox_models import OutboxMessage
from dealercrm.db.rule_models import RuleFiring
from dealercrm.rules import Candidate


class SpringNewsletter:
    name = "spring_newsletter"
    description = "the spring newsletter, by e-mail, to every customer once"
    defaults = {"channels": ["email"]}

    def scan(self, ctx):
        for (customer_id,) in ctx.connection.execute(
                select(Customer.id).where(ctx.not_fired(Customer.id, "spring-2026")).order_by(Customer.id)):
            yield Candidate(customer_id, "spring-2026", customer_id=customer_id)

    def act(self, candidate, ctx):
        ctx.message(subject="Spring at Autohaus Berg", body="Tyres, roof boxes, coffee.", purpose="marketing",
                    channels=tuple(ctx.settings["channels"]))


class Newsletters:
    @hookimpl
    def dealercrm_register_rules(self, crm):
        return [SpringNewsletter()]


@pytest.fixture
def shop(crm, register_plugin):
    """Anna reads newsletters; Ben never agreed to any; Carl agreed but had four mails this year."""
    register_plugin(Newsletters(), "newsletters")
    people = {}
    for name in ("Anna", "Ben", "Carl"):
        people[name] = crm.customers.add(name, email=f"{name.lower()}@example.org", by=crm.system).id
    for name in ("Anna", "Carl"):
        crm.consents.grant(people[name], "email", "marketing", source="newsletter form", by=crm.system)
    for n in range(4):
        crm.outbox.send("email", "marketing", f"offer {n}", customer_id=people["Carl"], by=crm.system)
    return people


def newsletter(crm, customer_id) -> list[tuple[str, str | None]]:
    with crm.read(crm.system) as uow:
        return [(m.status, m.reason) for m in uow.session.scalars(select(OutboxMessage).where(
            OutboxMessage.origin == "rule:spring_newsletter", OutboxMessage.customer_id == customer_id))]


def outcome_of(crm, customer_id) -> str:
    with crm.read(crm.system) as uow:
        return uow.session.scalar(select(RuleFiring.outcome).where(RuleFiring.rule == "spring_newsletter",
                                                                    RuleFiring.customer_id == customer_id))


def latest_line(crm, customer_id) -> str:
    return crm.interactions.timeline(customer_id, by=crm.system)[0].summary


def test_the_newsletter_goes_where_allowed_and_is_kept_suppressed_with_its_reason_elsewhere(crm, shop):
    [run] = crm.rules.run("spring_newsletter")
    assert (run.fired, run.suppressed, run.failed) == (1, 2, [])

    assert newsletter(crm, shop["Anna"]) == [("pending", None)] and outcome_of(crm, shop["Anna"]) == "message"

    assert newsletter(crm, shop["Ben"]) == [("suppressed", "no marketing consent for email")]
    assert outcome_of(crm, shop["Ben"]) == "suppressed"
    assert latest_line(crm, shop["Ben"]) == ("marketing email message not sent: no marketing consent for email "
                                             "(rule:spring_newsletter)")

    spent = "contact budget spent: 4 of 4 marketing contacts in 365 days"
    assert newsletter(crm, shop["Carl"]) == [("suppressed", spent)]
    assert outcome_of(crm, shop["Carl"]) == "suppressed"
    assert latest_line(crm, shop["Carl"]) == f"marketing email message not sent: {spent} (rule:spring_newsletter)"


def test_each_channel_tried_gives_its_reason_and_the_first_one_keeps_the_message(crm, shop):
    crm.settings.plugins["spring_newsletter"] = {"channels": ["email", "phone"]}
    crm.rules.run("spring_newsletter")
    assert newsletter(crm, shop["Ben"]) == [(
        "suppressed", "email: no marketing consent for email; phone: no phone on file for customer "
                      f"{shop['Ben']}")]


def test_a_dry_run_says_what_would_be_suppressed_and_writes_nothing(crm, shop):
    [run] = crm.rules.run("spring_newsletter", dry_run=True)
    assert (run.fired, run.suppressed) == (1, 2)
    ben = next(p for p in run.planned if p["subject"] == shop["Ben"])
    assert ben["would"] == [f"marketing message to customer {shop['Ben']} suppressed: no marketing consent for email"]
    assert newsletter(crm, shop["Ben"]) == []


def test_with_none_of_its_channels_loaded_the_situation_is_still_on_record(crm, shop):
    crm.settings.plugins["spring_newsletter"] = {"channels": ["fax"]}
    [run] = crm.rules.run("spring_newsletter")
    assert (run.fired, run.suppressed) == (0, 3)
    assert newsletter(crm, shop["Anna"]) == []  # no channel to keep it on
    assert latest_line(crm, shop["Anna"]) == ("rule spring_newsletter: not acted: no marketing message "
                                              "'Spring at Autohaus Berg': none of the channels fax is loaded")
