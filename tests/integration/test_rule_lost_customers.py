"""Lost customers noticed early (seed 001): a rhythm of one's own that has stretched.

The interval is each customer's own — the mean gap between their purchase and
service-visit days — and the flag comes with the evidence. Day arithmetic is
``julianday`` on SQLite and date subtraction on PostgreSQL, so these run on both.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from dealercrm import ValidationError, connect
from dealercrm.db.models import Interaction, Task
from dealercrm.db.outbox_models import ContactLedger
from dealercrm.db.rule_models import RuleFiring
from dealercrm.settings import Settings

RULE = "rule_lost_customers"
UTC = timezone.utc


@pytest.fixture
def shop(any_crm):
    crm = any_crm
    dealer = crm.parties.by_name(crm.settings.home_dealer, by=crm.system)
    seller = crm.parties.add_actor(dealer.id, "Sabine Krüger", "sales", by=crm.system)
    car = crm.products.add("CAR-1", "Kombi", warranty_months=36, by=crm.system)
    return crm, seller, car


def customer(crm, seller, car, name, *purchases, **kw):
    c = crm.customers.add(name, account_owner_id=seller.id, **kw, by=crm.system)
    for day in purchases:
        crm.assets.record(c.id, car.id, purchased_on=day, price=30_000.0, by=crm.system)
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
    return connect(db_url, clock=clock, settings=Settings(plugins={RULE: settings}))


def flagged(db_url, clock, **settings):
    app = with_settings(db_url, clock, **settings)
    try:
        return {p["subject"] for p in app.rules.run(RULE, dry_run=True)[0].planned}
    finally:
        app.close()


def test_a_customer_who_bought_every_two_years_but_not_for_four_is_flagged_with_the_evidence(shop, clock):
    crm, seller, car = shop  # the clock stands at 2026-03-02
    koch = customer(crm, seller, car, "Frau Koch", date(2016, 3, 1), date(2018, 3, 1), date(2020, 3, 1),
                    date(2022, 3, 1))
    outcome = run(crm)
    assert outcome.fired == 1 and outcome.failed == []
    with crm.read(crm.system) as uow:
        firing = uow.session.scalars(select(RuleFiring).where(RuleFiring.rule == RULE)).one()
    assert firing.situation == "lost-since:2022-03-01" and firing.subject_id == koch.id
    assert firing.detail == {"usual_interval_days": 730, "days_since_last": 1462, "ratio": 2.0, "factor": 1.5,
                             "events": 4, "first": "2016-03-01", "last": "2022-03-01", "task_id": tasks(crm)[0].id}
    [task] = tasks(crm, koch.id)
    assert task.assigned_actor_id == seller.id and task.due_at == clock.now() + timedelta(days=7)
    assert task.title == ("Kunde droht verloren zu gehen: Frau Koch, seit 1462 Tagen kein Kauf/Besuch "
                          "(sonst alle 730 Tage)")
    assert "im Schnitt alle 730 Tage (4 Käufe/Besuche zwischen 01.03.2016 und 01.03.2022)" in task.note
    assert "1462 Tage vergangen (2,0-mal so lang)" in task.note
    assert "Käufe: 01.03.2016, 01.03.2018, 01.03.2020, 01.03.2022" in task.note
    assert f"rule {RULE}: task" in crm.interactions.timeline(koch.id, by=crm.system)[0].summary

    assert run(crm).fired == 0 and run(crm, dry_run=True).planned == []  # once per silence
    clock.advance(days=100)
    assert run(crm).fired == 0 and len(tasks(crm)) == 1


def test_a_new_customer_is_not_flagged_nor_one_still_within_his_rhythm(shop, clock):
    crm, seller, car = shop  # 2026-03-02
    customer(crm, seller, car, "Neu", date(2023, 3, 1))  # one purchase: no rhythm of his own yet
    customer(crm, seller, car, "Zwei am selben Tag", date(2020, 5, 4), date(2020, 5, 4))  # one buying day
    customer(crm, seller, car, "Im Takt", date(2021, 3, 1), date(2023, 3, 1), date(2025, 3, 1))  # 1 year of 2
    customer(crm, seller, car, "Alle drei Jahre", date(2020, 3, 1), date(2023, 3, 1))  # 3 years of 3
    drifting = customer(crm, seller, car, "Alle zwei Jahre", date(2020, 3, 1), date(2022, 3, 1))  # 4 years of 2
    assert [p["subject"] for p in run(crm, dry_run=True).planned] == [drifting.id]


def test_the_factor_and_the_minimum_of_events_are_configurable(shop, clock, db_url):
    crm, seller, car = shop
    koch = customer(crm, seller, car, "Frau Koch", date(2016, 3, 1), date(2018, 3, 1), date(2020, 3, 1),
                    date(2022, 3, 1))  # 2.0x her interval
    pair = customer(crm, seller, car, "Zweimal", date(2019, 3, 1), date(2021, 3, 1))  # 2.5x its one interval
    assert flagged(db_url, clock) == {koch.id, pair.id}
    assert flagged(db_url, clock, factor=2.2) == {pair.id}
    assert flagged(db_url, clock, min_events=3) == {koch.id}
    assert flagged(db_url, clock, min_days_since=1500) == {pair.id}  # Koch's 1462 days are not enough then


def test_service_visits_count_in_the_rhythm_and_show_the_drift_earlier(shop, clock, db_url):
    crm, seller, car = shop
    start = clock.now()
    weber = customer(crm, seller, car, "Herr Weber", date(2019, 3, 1), date(2023, 3, 1))  # a car every 4 years
    for year in (2020, 2021, 2022):  # and every spring at the workshop
        clock.set(datetime(year, 3, 1, 10, tzinfo=UTC))
        crm.cases.open(weber.id, "Inspektion, Bremsen quietschen", by=crm.system)
    clock.set(start)

    assert flagged(db_url, clock, include_service=False) == set()  # 3 years after a 4-year interval: fine
    outcome = run(crm)  # but the yearly visits stopped 3 years ago
    assert outcome.fired == 1
    [task] = tasks(crm, weber.id)
    assert "alle 365 Tage (5 Käufe/Besuche zwischen 01.03.2019 und 01.03.2023)" in task.note
    assert "Käufe: 01.03.2019, 01.03.2023" in task.note
    assert "Servicefälle: 01.03.2020, 01.03.2021, 01.03.2022" in task.note


def opened_on(crm, clock, customer_id, day, summary, asset_id=None):
    """A service case the customer opened on ``day`` (10:00 UTC); the clock goes back after."""
    now = clock.now()
    clock.set(datetime(day.year, day.month, day.day, 10, tzinfo=UTC))
    case = crm.cases.open(customer_id, summary, asset_id=asset_id, by=crm.system)
    clock.set(now)
    return case


def test_a_buyer_with_a_warranty_case_two_days_after_the_purchase_is_not_lost(shop, clock, db_url):
    crm, seller, car = shop  # 2026-03-02
    buyer = customer(crm, seller, car, "Herr Neumann", date(2025, 6, 1))
    [kombi] = crm.assets.of_customer(buyer.id, by=crm.system)
    case = opened_on(crm, clock, buyer.id, date(2025, 6, 3), "Klimaanlage kühlt nicht", kombi.id)
    assert case.warranty_status == "in"
    assert flagged(db_url, clock) == set()
    # each of the two reasons holds on its own: two days are no history, and a complaint in
    # warranty is no visit of his own rhythm
    assert flagged(db_url, clock, include_service=True) == set()
    assert flagged(db_url, clock, min_history_days=0) == set()
    app = with_settings(db_url, clock, include_service=True, min_history_days=0)  # the rule as it was
    try:
        [plan] = app.rules.run(RULE, dry_run=True)[0].planned
        assert (plan["subject"], plan["evidence"]["usual_interval_days"]) == (buyer.id, 2)  # "every 2 days"
    finally:
        app.close()


def test_purchases_a_few_days_apart_are_no_rhythm_until_they_span_the_minimum_history(shop, clock, db_url):
    crm, seller, car = shop  # 2026-03-02
    pair = customer(crm, seller, car, "Zwei Autos im Januar", date(2024, 1, 10), date(2024, 1, 20))
    years = customer(crm, seller, car, "Alle zwei Jahre", date(2020, 3, 1), date(2022, 3, 1))
    assert flagged(db_url, clock) == {years.id}
    assert flagged(db_url, clock, min_history_days=10) == {pair.id, years.id}
    assert flagged(db_url, clock, min_history_days=731) == set()  # two years and a day: neither


def test_a_visit_out_of_warranty_counts_in_the_rhythm_but_a_complaint_in_warranty_does_not(shop, clock, db_url):
    crm, seller, car = shop  # 2026-03-02; the car has 36 months of warranty
    weber = customer(crm, seller, car, "Herr Weber", date(2016, 3, 1))
    [kombi] = crm.assets.of_customer(weber.id, by=crm.system)
    opened_on(crm, clock, weber.id, date(2017, 3, 1), "Getriebe ruckelt", kombi.id)  # in warranty until 2019-03-01
    opened_on(crm, clock, weber.id, date(2019, 9, 1), "Inspektion", kombi.id)  # out of warranty: his own visit
    everything = with_settings(db_url, clock, include_service=True)
    try:
        [plan] = everything.rules.run(RULE, dry_run=True)[0].planned
        assert plan["evidence"]["events"] == 3  # counting the complaint too
    finally:
        everything.close()
    assert flagged(db_url, clock, include_service=False) == set()  # one purchase alone: no rhythm
    outcome = run(crm)
    assert outcome.fired == 1
    [task] = tasks(crm, weber.id)
    assert "alle 1279 Tage (2 Käufe/Besuche zwischen 01.03.2016 und 01.09.2019)" in task.note
    assert "Servicefälle: 01.09.2019\n" in task.note  # the complaint is not listed as a visit


def test_a_new_purchase_starts_a_new_rhythm_and_a_later_silence_fires_again(shop, clock):
    crm, seller, car = shop
    koch = customer(crm, seller, car, "Frau Koch", date(2016, 3, 1), date(2018, 3, 1), date(2020, 3, 1),
                    date(2022, 3, 1))
    assert run(crm).fired == 1
    crm.assets.record(koch.id, car.id, purchased_on=clock.now().date(), price=41_000.0, by=crm.system)  # she came back
    assert run(crm).fired == 0
    clock.advance(days=3 * 365)  # her interval is now 2.5 years (5 days in 10 years): 3 years are fine
    assert run(crm).fired == 0
    clock.advance(days=365)  # 4 years >= 1.5 x 2.5
    assert run(crm).fired == 1
    assert situations(crm) == ["lost-since:2022-03-01", "lost-since:2026-03-02"]
    assert len(tasks(crm, koch.id)) == 2


def test_the_task_spends_the_contact_budget_and_is_suppressed_with_the_reason_when_it_is_spent(shop, clock, db_url):
    crm, seller, car = shop
    spent = customer(crm, seller, car, "Viel beworben", date(2018, 3, 1), date(2020, 3, 1), email="v@example.org")
    crm.consents.grant(spent.id, "email", "marketing", source="Kaufvertrag", by=crm.system)
    for n in range(4):
        crm.outbox.send("email", "marketing", f"Angebot {n}", customer_id=spent.id, by=crm.system)
    outcome = run(crm)
    assert outcome.suppressed == 1 and tasks(crm) == []
    assert "not acted: contact budget spent: 4 of 4" in crm.interactions.timeline(spent.id, by=crm.system)[0].summary

    other = customer(crm, seller, car, "Servicefall", date(2018, 3, 1), date(2020, 3, 1))
    app = with_settings(db_url, clock, purpose="service")
    try:
        assert app.rules.run(RULE)[0].fired == 1
        with app.read(app.system) as uow:
            assert uow.session.execute(select(ContactLedger.customer_id, ContactLedger.purpose)
                                       .where(ContactLedger.channel == "task")).all() == [(other.id, "service")]
    finally:
        app.close()


def test_erased_and_merged_customers_are_not_flagged(shop, clock):
    crm, seller, car = shop
    gone = customer(crm, seller, car, "Gelöscht", date(2016, 3, 1), date(2018, 3, 1))
    crm.customers.erase(gone.id, by=crm.system)
    kept = customer(crm, seller, car, "Doppelt A", date(2016, 3, 1))
    twin = customer(crm, seller, car, "Doppelt B", date(2018, 3, 1))
    crm.customers.merge(kept.id, twin.id, by=crm.system)
    planned = run(crm, dry_run=True).planned
    assert [(p["subject"], p["evidence"]["events"]) for p in planned] == [(kept.id, 2)]


def test_dry_run_shows_the_evidence_and_changes_nothing(shop, clock):
    crm, seller, car = shop
    koch = customer(crm, seller, car, "Frau Koch", date(2018, 3, 1), date(2020, 3, 1), date(2022, 3, 1))

    def counts():
        with crm.read(crm.system) as uow:
            return [uow.session.scalar(select(func.count()).select_from(t)) for t in
                    (Task, RuleFiring, ContactLedger, Interaction)]

    before = counts()
    [plan] = run(crm, dry_run=True).planned
    assert plan["subject"] == koch.id and plan["situation"] == "lost-since:2022-03-01"
    assert plan["evidence"]["usual_interval_days"] == 730 and plan["evidence"]["days_since_last"] == 1462
    assert plan["would"][0].startswith(f"task for customer {koch.id}: Kunde droht verloren zu gehen: Frau Koch")
    assert counts() == before


def test_bad_settings_are_refused_naming_the_setting(shop, clock, db_url):
    for settings, named in (({"purpose": "sales"}, "purpose 'sales'"),
                            ({"min_history_days": "a year"}, "min_history_days 'a year': must be a whole number"),
                            ({"include_service": "sometimes"}, "include_service 'sometimes': must be true or false "
                                                               "or one of \"except_warranty\"")):
        with pytest.raises(ValidationError, match=named):  # the wrong type or choice: refused at start
            with_settings(db_url, clock, **settings)
    for settings, named in (({"factor": 1}, "factor"), ({"min_events": 1}, "min_events"),
                            ({"min_history_days": -1}, "min_history_days")):
        app = with_settings(db_url, clock, **settings)
        try:
            with pytest.raises(ValidationError, match=named):
                app.rules.run(RULE)
        finally:
            app.close()
