"""Loyal customers going quiet (seed 001): the regulars nobody calls any more get a check-in.

"Loyal" is purchases, tenure and revenue; "quiet" is no *personal* touch (mailings do
not count) for longer than the threshold; the check-in is a task for the account owner,
once per quiet period, within consent and the contact budget. The situation's date is
computed in SQL, differently on SQLite and PostgreSQL, so these run on both.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from dealercrm import ValidationError, connect
from dealercrm.db.models import Interaction, Task
from dealercrm.db.outbox_models import ContactLedger
from dealercrm.db.rule_models import RuleFiring
from dealercrm.settings import Settings

RULE = "rule_loyal_quiet"


@pytest.fixture
def shop(any_crm):
    crm = any_crm
    dealer = crm.parties.by_name(crm.settings.home_dealer, by=crm.system)
    seller = crm.parties.add_actor(dealer.id, "Sabine Krüger", "sales", by=crm.system)
    car = crm.products.add("CAR-1", "Kombi", warranty_months=36, by=crm.system)
    return crm, seller, car


def regular(crm, seller, car, name="Herr Berger", years=(2012, 2016, 2021), price=32_000.0, **kw):
    """A customer with one car bought in each of ``years``."""
    c = crm.customers.add(name, account_owner_id=seller.id, **kw, by=crm.system)
    for year in years:
        crm.assets.record(c.id, car.id, purchased_on=date(year, 4, 15), price=price, by=crm.system)
    return c


def run(crm, **kw):
    return crm.rules.run(RULE, **kw)[0]


def tasks(crm, customer_id=None):
    with crm.read(crm.system) as uow:
        query = select(Task).where(Task.origin_ref == f"rule:{RULE}").order_by(Task.id)
        if customer_id is not None:
            query = query.where(Task.customer_id == customer_id)
        return list(uow.session.scalars(query))


def situations(crm):
    with crm.read(crm.system) as uow:
        return sorted(uow.session.scalars(select(RuleFiring.situation).where(RuleFiring.rule == RULE)))


def with_settings(db_url, clock, **settings):
    """A second application on the same database with other settings for the rule."""
    return connect(db_url, clock=clock, settings=Settings(plugins={RULE: settings}))


def test_a_long_time_customer_with_three_cars_whom_nobody_called_for_a_year_is_flagged_once(shop, clock):
    crm, seller, car = shop
    berger = regular(crm, seller, car)
    crm.interactions.record(berger.id, "phone", "outbound", "Winterreifen besprochen", by=crm.system)
    called = clock.now().date()
    clock.advance(days=365)

    outcome = run(crm)
    assert outcome.fired == 1 and outcome.failed == []
    [task] = tasks(crm, berger.id)
    assert task.assigned_actor_id == seller.id and task.due_at == clock.now() + timedelta(days=7)
    assert "Herr Berger" in task.title and "3 Käufe seit 15.04.2012" in task.note
    assert f"{called:%d.%m.%Y} (vor 365 Tagen)" in task.note and "Mailings zählen nicht" in task.note
    assert situations(crm) == [f"quiet-since:{called.isoformat()}"]
    assert f"rule {RULE}: task" in crm.interactions.timeline(berger.id, by=crm.system)[0].summary

    assert run(crm).fired == 0 and len(tasks(crm)) == 1  # the next tick: same situation, nothing new
    clock.advance(days=30)
    assert run(crm).fired == 0 and run(crm, dry_run=True).planned == []  # left out by the scan itself


def test_a_scan_larger_than_a_batch_is_streamed_while_the_batches_commit(shop, clock):
    crm, seller, car = shop
    regulars = [regular(crm, seller, car, f"Stammkunde {n}").id for n in range(7)]
    clock.advance(days=200)
    outcome = crm.rules.run(RULE, batch_size=2)[0]  # the scan's cursor stays open across 4 commits
    assert (outcome.fired, outcome.failed) == (7, [])
    assert sorted(t.customer_id for t in tasks(crm)) == regulars and run(crm).fired == 0


def test_a_mass_mailing_does_not_count_as_a_touch(shop, clock):
    crm, seller, car = shop
    berger = regular(crm, seller, car)
    crm.interactions.record(berger.id, "visit", "inbound", "Inspektion, kurz geplaudert", by=crm.system)
    visited = clock.now().date()
    clock.advance(days=200)
    crm.interactions.record(berger.id, "email", "outbound", "Frühjahrs-Newsletter", personal=False, by=crm.system)
    crm.interactions.record(berger.id, "post", "outbound", "Einladung Hausmesse (Serienbrief)", personal=False, by=crm.system)

    assert crm.customers.get(berger.id, by=crm.system).last_touch_at.date() == visited
    assert run(crm).fired == 1
    assert situations(crm) == [f"quiet-since:{visited.isoformat()}"]


def test_a_check_in_resets_and_a_new_quiet_period_fires_again(shop, clock):
    crm, seller, car = shop
    berger = regular(crm, seller, car)
    crm.interactions.record(berger.id, "phone", "outbound", "Übergabe-Nachfass", by=crm.system)
    first = clock.now().date()
    clock.advance(days=181)
    assert run(crm).fired == 1
    [task] = tasks(crm, berger.id)

    crm.interactions.record(berger.id, "phone", "outbound", "Check-in: alles gut mit dem Kombi", task_id=task.id,
                            by=seller.id)
    crm.tasks.complete(task.id, note="angerufen", by=crm.system)
    checked_in = clock.now().date()
    clock.advance(days=90)
    assert run(crm).fired == 0  # spoken to 90 days ago: not quiet

    clock.advance(days=91)
    assert run(crm).fired == 1 and len(tasks(crm, berger.id)) == 2
    assert situations(crm) == sorted([f"quiet-since:{first.isoformat()}", f"quiet-since:{checked_in.isoformat()}"])


def test_a_customer_nobody_ever_spoke_to_is_quiet_since_he_was_added(shop, clock):
    crm, seller, car = shop
    berger = regular(crm, seller, car)  # imported today with his purchase history
    assert run(crm).fired == 0  # not flagged the day the record was made
    clock.advance(days=181)
    assert run(crm).fired == 1 and situations(crm) == ["quiet-since:never"]
    [task] = tasks(crm, berger.id)
    assert task.title.endswith("noch nie persönlich gesprochen")
    assert "Letzter persönlicher Kontakt: keiner erfasst (seit 181 Tagen in der Kundendatei)" in task.note


def test_only_loyal_customers_are_flagged_with_the_default_settings(shop, clock):
    crm, seller, car = shop
    loyal = regular(crm, seller, car, "Stammkunde")
    regular(crm, seller, car, "Neukunde mit drei Autos", years=(2025,) * 3)  # 3 purchases, but new
    regular(crm, seller, car, "Einmalkunde von früher", years=(2010,))  # long ago, but once
    regular(crm, seller, car, "Großkunde", years=(2024,), price=250_000.0)  # revenue only
    clock.advance(days=200)
    outcome = run(crm, dry_run=True)
    assert [p["subject"] for p in outcome.planned] == [loyal.id]
    assert outcome.planned[0]["evidence"] == {
        "last_touch": None, "quiet_days": 200, "purchases": 3, "first_purchase": "2012-04-15",
        "customer_since": "2012-04-15", "revenue": 96000.0}


def test_loyalty_is_configurable_by_purchases_tenure_and_revenue_with_all_or_any(shop, clock, db_url):
    crm, seller, car = shop
    loyal = regular(crm, seller, car, "Stammkunde")
    new = regular(crm, seller, car, "Neukunde mit drei Autos", years=(2025,) * 3)
    old = regular(crm, seller, car, "Einmalkunde von früher", years=(2010,))
    big = regular(crm, seller, car, "Großkunde", years=(2024,), price=250_000.0)
    clock.advance(days=200)

    def flagged(**settings):
        app = with_settings(db_url, clock, **settings)
        try:
            return {p["subject"] for p in app.rules.run(RULE, dry_run=True)[0].planned}
        finally:
            app.close()

    assert flagged(loyal_when="any") == {loyal.id, new.id, old.id}
    assert flagged(loyal_when="any", min_revenue=200_000) == {loyal.id, new.id, old.id, big.id}
    assert flagged(min_purchases=0, min_years=0, min_revenue=90_000) == {loyal.id, new.id, big.id}
    assert flagged(min_purchases=1, min_years=10) == {loyal.id, old.id}
    assert flagged(quiet_days=300) == set()  # quiet for 200 days is not enough then


def test_a_free_replacement_is_not_a_purchase_but_a_paid_trade_in_is(shop, clock):
    crm, seller, car = shop
    swapped = regular(crm, seller, car, "Getauscht", years=(2012, 2016))
    first = crm.assets.of_customer(swapped.id, by=crm.system)[0]
    crm.assets.record(swapped.id, car.id, purchased_on=first.purchased_on, replaces_asset_id=first.id, by=crm.system)  # warranty
    traded = regular(crm, seller, car, "Inzahlungnahme", years=(2012, 2016))
    crm.assets.record(traded.id, car.id, purchased_on=date(2021, 4, 15), price=38_000.0,
                      replaces_asset_id=crm.assets.of_customer(traded.id, by=crm.system)[1].id, by=crm.system)
    clock.advance(days=200)
    assert [(p["subject"], p["evidence"]["purchases"]) for p in run(crm, dry_run=True).planned] == [(traded.id, 3)]


def test_the_check_in_spends_the_contact_budget_and_is_suppressed_with_the_reason_when_it_is_spent(shop, clock):
    crm, seller, car = shop
    spent = regular(crm, seller, car, "Viel beworben", email="viel@example.org")
    fresh = regular(crm, seller, car, "Wenig beworben")
    clock.advance(days=200)
    crm.consents.grant(spent.id, "email", "marketing", source="Kaufvertrag", by=crm.system)
    for n in range(4):  # four marketing mails this year (never sent personally: they are not touches)
        crm.outbox.send("email", "marketing", f"Angebot {n}", customer_id=spent.id, by=crm.system)

    outcome = run(crm)
    assert outcome.fired == 1 and outcome.suppressed == 1
    assert tasks(crm, spent.id) == [] and len(tasks(crm, fresh.id)) == 1
    assert "not acted: contact budget spent: 4 of 4" in crm.interactions.timeline(spent.id, by=crm.system)[0].summary
    with crm.read(crm.system) as uow:  # the check-in itself is the fresh customer's first marketing contact
        ledger = uow.session.execute(select(ContactLedger.customer_id, ContactLedger.purpose, ContactLedger.channel)
                                     .where(ContactLedger.channel == "task")).all()
    assert ledger == [(fresh.id, "marketing", "task")]


def test_as_a_service_check_in_it_leaves_the_budget_alone(shop, clock, db_url):
    crm, seller, car = shop
    berger = regular(crm, seller, car)
    clock.advance(days=200)
    app = with_settings(db_url, clock, purpose="service")
    try:
        assert app.rules.run(RULE)[0].fired == 1
        with app.read(app.system) as uow:
            assert uow.session.scalar(select(ContactLedger.purpose).where(ContactLedger.customer_id == berger.id)) \
                == "service"
    finally:
        app.close()


def test_the_note_says_whether_a_marketing_call_is_allowed(shop, clock):
    crm, seller, car = shop
    agreed = regular(crm, seller, car, "Ruft gern an", phone="+49 171 5550101")
    crm.consents.grant(agreed.id, "phone", "marketing", source="Kaufvertrag", by=crm.system)
    silent = regular(crm, seller, car, "Keine Werbeanrufe", phone="+49 171 5550102")
    clock.advance(days=200)
    run(crm)
    assert "Telefon: Anruf möglich" in tasks(crm, agreed.id)[0].note
    assert "Telefon: kein Anruf (no marketing consent for phone)" in tasks(crm, silent.id)[0].note


def test_erased_and_merged_customers_are_not_flagged_and_merged_purchases_count_for_the_kept_one(shop, clock):
    crm, seller, car = shop
    gone = regular(crm, seller, car, "Gelöscht")
    crm.customers.erase(gone.id, by=crm.system)
    kept = regular(crm, seller, car, "Doppelt A", years=(2012,))
    twin = regular(crm, seller, car, "Doppelt B", years=(2016, 2021))
    crm.customers.merge(kept.id, twin.id, by=crm.system)
    clock.advance(days=200)
    planned = run(crm, dry_run=True).planned
    assert [(p["subject"], p["evidence"]["purchases"]) for p in planned] == [(kept.id, 3)]


def test_dry_run_shows_what_would_happen_and_changes_nothing(shop, clock):
    crm, seller, car = shop
    berger = regular(crm, seller, car)
    clock.advance(days=200)

    def counts():
        with crm.read(crm.system) as uow:
            return [uow.session.scalar(select(func.count()).select_from(t)) for t in
                    (Task, RuleFiring, ContactLedger, Interaction)]

    before = counts()
    [plan] = run(crm, dry_run=True).planned
    assert plan["subject"] == berger.id and plan["situation"] == "quiet-since:never"
    assert plan["would"] == [f"task for customer {berger.id}: Kontakt pflegen: Herr Berger, Stammkunde seit "
                             "15.04.2012, noch nie persönlich gesprochen"]
    assert counts() == before


def test_bad_settings_are_refused_naming_the_setting(shop, clock, db_url):
    crm, *_ = shop
    for settings, named in (({"loyal_when": "most"}, "loyal_when 'most': must be one of \"all\", \"any\""),
                            ({"purpose": "sales"}, "purpose 'sales'"), ({"quiet_dayz": 3}, "did you mean 'quiet_days'"),
                            ({"quiet_days": -1}, "quiet_days -1: must be a whole number >= 0"),
                            ({"min_revenue": -5}, r"min_revenue -5.0: must be a number >= 0"),
                            ({"min_purchases": 0, "min_years": 0}, "at least one loyalty criterion must be above 0"),
                            ({"company_levels": 0}, "company_levels 0: must be a number of levels from 1"),
                            ({"company_levels": 9}, "company_levels 9: must be a number of levels from 1 to 6"),
                            ({"company_levels": ["sales", "golf"]},
                             r"company_levels \['sales', 'golf'\]: must name levels of \[relationships\] levels: "
                             "sales, service, operations, accounting, marketing, management")):
        with pytest.raises(ValidationError, match=named):  # refused when the application starts, not at a run
            with_settings(db_url, clock, **settings)
