"""Story 000: the car buyer talks about skiing at the handover — and this time someone
offers him a roof box. Interest × purchase → offer, by message where he allows one,
otherwise in person through his salesman; once, politely, and on the record."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from dealercrm import ValidationError, connect
from dealercrm.db.models import Task
from dealercrm.db.outbox_models import OutboxMessage
from dealercrm.db.rule_models import RuleFiring
from dealercrm.settings import Settings

RULE = "rule_interest_offer"


@pytest.fixture
def shop(crm):
    """Autohaus Berg with its salesman Tom, and an estate car on the price list."""
    dealer = crm.parties.add("dealer", "Autohaus Berg", by=crm.system)
    tom = crm.parties.add_actor(dealer.id, "Tom Verkauf", "sales", by=crm.system)
    kombi = crm.products.add("KOMBI-TDI", "Kombi 2.0 TDI", category="car", by=crm.system)
    return dealer, tom, kombi


def buyer(crm, shop, name="Max Mustermann", email="max@example.org"):
    dealer, tom, kombi = shop
    max_ = crm.customers.add(name, email=email, owner_party_id=dealer.id, account_owner_id=tom.id, by=crm.system)
    crm.assets.record(max_.id, kombi.id, purchased_on=date(2026, 2, 27), handed_over_on=date(2026, 3, 2), by=crm.system)
    return max_


def rule_tasks(crm, customer_id=None):
    with crm.read(crm.system) as uow:
        query = select(Task).where(Task.origin_ref == f"rule:{RULE}").order_by(Task.id)
        if customer_id is not None:
            query = query.where(Task.customer_id == customer_id)
        return list(uow.session.scalars(query))


def rule_messages(crm):
    with crm.read(crm.system) as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.origin == f"rule:{RULE}")))


def firings(crm):
    with crm.read(crm.system) as uow:
        return list(uow.session.execute(select(RuleFiring.subject_id, RuleFiring.situation, RuleFiring.outcome)
                                        .where(RuleFiring.rule == RULE).order_by(RuleFiring.id)))


def timeline(crm, customer_id):
    return [i.summary for i in crm.interactions.timeline(customer_id, by=crm.system)]


def test_the_skier_without_marketing_consent_is_offered_a_roof_box_by_his_salesman(crm, shop):
    dealer, tom, _ = shop
    max_ = buyer(crm, shop)
    handover = crm.interactions.record(max_.id, "visit", "inbound", "handover of the Kombi, talked about skiing", by=crm.system)
    crm.interests.note(max_.id, "Skiing", note="mentioned at the handover", interaction_id=handover.id, by=crm.system)

    [task] = rule_tasks(crm)  # at once, in the transaction that noted the interest
    assert task.title == "Angebot roof box or ski rack: Interesse skiing, besitzt Kombi 2.0 TDI"
    assert (task.customer_id, task.assigned_actor_id, task.assigned_party_id) == (max_.id, tom.id, dealer.id)
    assert "mentioned at the handover" in task.note
    [kept] = rule_messages(crm)  # the e-mail he did not allow is on record, not sent
    assert (kept.channel, kept.status, kept.reason) == ("email", "suppressed", "no marketing consent for email")
    assert f"rule {RULE}: task" in timeline(crm, max_.id)[0]
    assert "marketing email message not sent: no marketing consent for email" in timeline(crm, max_.id)[1]
    assert firings(crm) == [(max_.id, "skiing:roof box or ski rack", "task")]


def test_with_marketing_consent_the_offer_goes_out_as_an_email_instead(crm, shop):
    max_ = buyer(crm, shop)
    crm.consents.grant(max_.id, "email", "marketing", source="handover form", by=crm.system)
    crm.interests.note(max_.id, "skiing", by=crm.system)

    [message] = rule_messages(crm)
    assert (message.channel, message.purpose, message.status) == ("email", "marketing", "pending")
    assert message.subject == "Eine Idee für Ihr Kombi 2.0 TDI: roof box or ski rack"
    assert "Tom Verkauf" in message.body  # signed by his salesman, not by "the system"
    assert rule_tasks(crm) == []
    assert f"rule {RULE}: email marketing message 'Eine Idee für Ihr Kombi 2.0 TDI" in timeline(crm, max_.id)[0]


def test_a_car_bought_after_the_interest_was_noted_brings_the_offer_too(crm, shop):
    dealer, tom, kombi = shop
    anna = crm.customers.add("Anna Rad", email="anna@example.org", owner_party_id=dealer.id, account_owner_id=tom.id, by=crm.system)
    crm.interests.note(anna.id, "cycling", by=crm.system)
    crm.interests.note(anna.id, "family", by=crm.system)
    assert rule_tasks(crm) == []  # nothing to carry bikes on yet
    crm.assets.record(anna.id, kombi.id, handed_over_on=date(2026, 3, 2), by=crm.system)
    assert sorted(t.title.split(":")[0] for t in rule_tasks(crm)) == ["Angebot bike carrier", "Angebot child seat"]
    crm.assets.record(anna.id, kombi.id, handed_over_on=date(2026, 3, 2), by=crm.system)  # a second car: no second offer
    assert len(rule_tasks(crm)) == 2


def test_the_scan_finds_the_pairs_already_in_the_file_once_and_a_dry_run_changes_nothing(crm_factory):
    before = crm_factory(block=[RULE])  # the file as it was before the rule was installed
    before.parties.add("dealer", before.settings.home_dealer, by=before.system)
    kombi = before.products.add("KOMBI-TDI", "Kombi 2.0 TDI", category="car", by=before.system)
    herd = before.products.add("HERD-60", "Einbauherd 60 cm", category="appliance", by=before.system)
    max_ = before.customers.add("Max", email="max@example.org", by=before.system)
    before.assets.record(max_.id, kombi.id, by=before.system)
    before.interests.note(max_.id, "skiing", by=before.system)
    lea = before.customers.add("Lea", email="lea@example.org", by=before.system)
    before.assets.record(lea.id, herd.id, by=before.system)
    before.interests.note(lea.id, "cooking", by=before.system)
    before.interests.note(lea.id, "skiing", by=before.system)  # skiing, but no car: nothing to put a roof box on
    nobody = before.customers.add("Olaf", email="olaf@example.org", by=before.system)
    before.interests.note(nobody.id, "cooking", by=before.system)  # no appliance bought here

    crm = crm_factory(before.engine.url.render_as_string(hide_password=False))
    planned = crm.rules.run(RULE, dry_run=True)[0].planned
    assert sorted((p["subject"], p["situation"]) for p in planned) == [
        (max_.id, "skiing:roof box or ski rack"), (lea.id, "cooking:cooking class voucher")]
    would = planned[0]["would"]  # Max allows no marketing e-mail: a task instead, the e-mail on record
    assert "message to customer 1 suppressed: no marketing consent for email" in would[0]
    assert "task for customer" in would[1]
    assert firings(crm) == [] and rule_tasks(crm) == []

    assert crm.rules.run(RULE)[0].fired == 2
    assert crm.rules.run(RULE)[0].fired == 0  # once per situation, however often the tick runs
    assert [t.customer_id for t in rule_tasks(crm)] == [max_.id, lea.id]
    crm.interests.note(max_.id, "skiing", note="again, at the service", by=crm.system)  # heard twice: still one offer
    assert len(rule_tasks(crm)) == 2


def test_a_spent_contact_budget_stops_the_offer_and_says_why(crm, shop):
    max_ = buyer(crm, shop)
    crm.consents.grant(max_.id, "email", "marketing", source="newsletter form", by=crm.system)
    for n in range(4):
        crm.outbox.send("email", "marketing", f"spring offer {n}", customer_id=max_.id, by=crm.system)
    crm.interests.note(max_.id, "skiing", by=crm.system)
    assert rule_tasks(crm) == []  # neither a fifth mail nor a call
    assert [(m.status, m.reason) for m in rule_messages(crm)] == [
        ("suppressed", "contact budget spent: 4 of 4 marketing contacts in 365 days")]
    assert firings(crm) == [(max_.id, "skiing:roof box or ski rack", "suppressed")]
    assert "contact budget spent: 4 of 4" in timeline(crm, max_.id)[0]


def test_erasing_the_customer_erases_the_interest_the_rule_remembered(crm, shop):
    max_ = buyer(crm, shop)
    crm.interests.note(max_.id, "skiing", by=crm.system)
    crm.customers.erase(max_.id, by=crm.system)
    with crm.read(crm.system) as uow:
        firing = uow.session.scalars(select(RuleFiring).where(RuleFiring.rule == RULE)).one()
    assert (firing.customer_id, firing.situation, firing.detail) == (max_.id, f"erased:{firing.id}", None)


def test_the_offer_table_comes_from_the_settings(crm_factory):
    settings = Settings(language="en", plugins={RULE: {"offers": [
        {"interest": "fishing", "owns": ["BOAT-5", "dinghy"], "suggest": "echo sounder"}]}})
    crm = crm_factory(settings=settings)
    crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
    boat = crm.products.add("BOAT-5", "Angelboot 5 m", category="boat", by=crm.system)
    kombi = crm.products.add("KOMBI-TDI", "Kombi 2.0 TDI", category="car", by=crm.system)
    ole = crm.customers.add("Ole", email="ole@example.org", by=crm.system)
    crm.assets.record(ole.id, kombi.id, by=crm.system)
    crm.interests.note(ole.id, "skiing", by=crm.system)  # the default table is replaced, not extended
    crm.interests.note(ole.id, "Fishing", by=crm.system)
    assert rule_tasks(crm) == []
    crm.assets.record(ole.id, boat.id, by=crm.system)  # matched by its SKU
    assert [t.title for t in rule_tasks(crm)] == ["offer echo sounder: mentioned fishing, owns Angelboot 5 m"]


def test_a_broken_offer_table_is_named_clearly(crm_factory):
    crm = crm_factory(settings=Settings(plugins={RULE: {"offers": [{"interest": "skiing", "owns": "car"}]}}))
    with pytest.raises(ValidationError, match=r"offers\[0\].*needs interest, owns and suggest"):
        crm.rules.run(RULE)


def test_the_scan_finds_the_same_on_sqlite_and_postgresql(db_url, clock):
    crm = connect(db_url, clock=clock, settings=Settings(), block=[RULE])
    try:
        crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
        kombi = crm.products.add("KOMBI-TDI", "Kombi 2.0 TDI", category="Car", by=crm.system)  # categories match in any case
        ids = []
        for n in range(3):
            c = crm.customers.add(f"C{n}", email=f"c{n}@example.org", by=crm.system)
            crm.assets.record(c.id, kombi.id, by=crm.system)
            crm.interests.note(c.id, "skiing", by=crm.system)
            ids.append(c.id)
    finally:
        crm.close()
    crm = connect(db_url, clock=clock, settings=Settings())
    try:
        assert crm.rules.run(RULE)[0].fired == 3
        assert crm.rules.run(RULE)[0].fired == 0
        assert [t.customer_id for t in rule_tasks(crm)] == ids
        with crm.read(crm.system) as uow:
            assert uow.session.scalar(select(func.count()).select_from(RuleFiring)) == 3
    finally:
        crm.close()
