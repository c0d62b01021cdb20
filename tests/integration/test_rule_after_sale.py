"""Story 003: after the sale. The builder sold a hundred flats and would forget the
buyers until the key handover; the rule remembers them — a check-in call after the
handover, a personal invitation to the topping-out, a gesture on the birthday and on
the anniversary of the purchase. Each once, by a person, on the record."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from dealercrm import ValidationError, connect
from dealercrm.clock import UTC
from dealercrm.db.models import Task
from dealercrm.db.outbox_models import ContactLedger, OutboxMessage
from dealercrm.db.rule_models import RuleFiring
from dealercrm.settings import Settings

RULE = "rule_after_sale"
RICHTFEST = {"name": "Richtfest Wohnpark Süd", "date": date(2026, 3, 20), "sku_prefix": "WPS-", "place": "Baufeld 3"}


def after_sale(crm_factory, **settings):
    crm = crm_factory(settings=Settings(plugins={RULE: settings}))
    crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
    return crm


@pytest.fixture
def builder(crm):
    """Bauträger Sommer and Petra, who sold to its customers and looks after them."""
    party = crm.parties.add("dealer", "Bauträger Sommer", by=crm.system)
    petra = crm.parties.add_actor(party.id, "Petra Sommer", "sales", by=crm.system)
    return party, petra


def customer(crm, builder, name="Max Mustermann", **fields):
    party, petra = builder
    return crm.customers.add(name, owner_party_id=party.id, account_owner_id=petra.id, **fields, by=crm.system)


def rule_tasks(crm, customer_id=None):
    with crm.read(crm.system) as uow:
        query = select(Task).where(Task.origin_ref == f"rule:{RULE}").order_by(Task.id)
        if customer_id is not None:
            query = query.where(Task.customer_id == customer_id)
        return list(uow.session.scalars(query))


def situations(crm):
    with crm.read(crm.system) as uow:
        return [s for (s,) in uow.session.execute(
            select(RuleFiring.situation).where(RuleFiring.rule == RULE).order_by(RuleFiring.id))]


def fired(crm) -> int:
    return crm.rules.run(RULE)[0].fired


# -- the check-in call -------------------------------------------------------------------
def test_two_weeks_after_the_handover_the_salesperson_calls_to_ask_whether_all_is_well(crm, builder, clock):
    party, petra = builder
    max_ = customer(crm, builder, email="max@example.org")
    washer = crm.products.add("WM-7", "Waschmaschine 7 kg", category="appliance", by=crm.system)
    asset = crm.assets.record(max_.id, washer.id, handed_over_on=clock.now().date(), by=crm.system)
    clock.advance(days=13)
    assert fired(crm) == 0  # not yet
    clock.advance(days=1)
    assert fired(crm) == 1
    assert fired(crm) == 0  # once, however often the tick runs
    [task] = rule_tasks(crm)
    assert task.title == "Nachfragen, ob alles passt: Waschmaschine 7 kg, übergeben am 02.03.2026"
    assert (task.assigned_actor_id, task.assigned_party_id, task.customer_id) == (petra.id, party.id, max_.id)
    assert situations(crm) == [f"checkin:asset:{asset.id}"]
    assert f"rule {RULE}: task" in crm.interactions.timeline(max_.id, by=crm.system)[0].summary


def test_the_check_in_is_a_gesture_not_marketing_so_a_spent_budget_does_not_stop_it(crm, builder, clock):
    max_ = customer(crm, builder, email="max@example.org")
    crm.consents.grant(max_.id, "email", "marketing", source="form", by=crm.system)
    for n in range(4):
        crm.outbox.send("email", "marketing", f"offer {n}", customer_id=max_.id, by=crm.system)
    washer = crm.products.add("WM-7", "Waschmaschine 7 kg", by=crm.system)
    crm.assets.record(max_.id, washer.id, handed_over_on=clock.now().date(), by=crm.system)
    clock.advance(days=14)
    assert fired(crm) == 1 and len(rule_tasks(crm)) == 1
    with crm.read(crm.system) as uow:
        purposes = [p for (p,) in uow.session.execute(select(ContactLedger.purpose).order_by(ContactLedger.id))]
    assert purposes == ["marketing"] * 4 + ["service"]


def test_a_handover_long_ago_gets_no_belated_check_in_call(crm, builder, clock):
    max_ = customer(crm, builder)
    washer = crm.products.add("WM-7", "Waschmaschine 7 kg", by=crm.system)
    crm.assets.record(max_.id, washer.id, handed_over_on=date(2025, 6, 1), by=crm.system)  # on file before the rule came
    crm.assets.record(max_.id, washer.id, by=crm.system)  # no handover date: nothing to count from
    assert fired(crm) == 0 and rule_tasks(crm) == []


# -- the topping-out ceremony for a hundred flat buyers ---------------------------------------
def import_flat_buyers(crm, tmp_path, n=100):
    """A hundred buyers arrive at once, from the builder's sales list; each bought one flat."""
    crm.parties.add("dealer", "Bauträger Sommer", by=crm.system)
    sheet = tmp_path / "kaeufer.csv"
    sheet.write_text("external_id,name,email,owner_party\n" + "".join(
        f"K-{i:03},Käufer {i},kaeufer{i}@example.org,Bauträger Sommer\n" for i in range(n)), encoding="utf-8")
    assert crm.imports.run(sheet, by=crm.system).imported == n
    buyers = sorted(c.id for c in crm.customers.list(limit=n + 10, by=crm.system) if (c.external_id or "").startswith("K-"))
    types = [crm.products.add(f"WPS-{rooms}ZI", f"{rooms}-Zimmer-Wohnung Wohnpark Süd", category="flat", by=crm.system)
             for rooms in (2, 3, 4)]
    for i, customer_id in enumerate(buyers):
        crm.assets.record(customer_id, types[i % 3].id, serial_number=f"Whg {i + 1:03}", purchased_on=date(2026, 2, 1), by=crm.system)
    return buyers, types


def test_every_one_of_a_hundred_flat_buyers_imported_at_once_gets_a_personal_invitation(crm_factory, tmp_path,
                                                                                         clock):
    clock.set(datetime(2026, 2, 2, 8, tzinfo=UTC))
    crm = after_sale(crm_factory, occasions=[RICHTFEST], parts=["occasions"])
    buyers, flats = import_flat_buyers(crm, tmp_path)
    crm.assets.record(buyers[0], flats[1].id, serial_number="Whg 101", by=crm.system)  # one buyer bought two: invited once
    elsewhere = crm.customers.add("Nachbar", email="nachbar@example.org", by=crm.system)
    other = crm.products.add("WPN-2ZI", "2-Zimmer-Wohnung Wohnpark Nord", category="flat", by=crm.system)
    crm.assets.record(elsewhere.id, other.id, by=crm.system)  # another project: not invited
    for customer_id in buyers[:10]:
        crm.consents.grant(customer_id, "email", "marketing", source="purchase contract", by=crm.system)

    clock.set(datetime(2026, 2, 19, 8, tzinfo=UTC))  # 29 days before: too early to invite
    assert fired(crm) == 0
    clock.set(datetime(2026, 3, 2, 8, tzinfo=UTC))
    outcome = crm.rules.run(RULE, batch_size=40)[0]
    assert (outcome.fired, outcome.failed) == (100, [])
    assert fired(crm) == 0
    assert situations(crm) == ["occasion:Richtfest Wohnpark Süd:2026-03-20"] * 100

    with crm.read(crm.system) as uow:
        written = list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.origin == f"rule:{RULE}")))
    mails = [m for m in written if m.status == "pending"]
    assert sorted(m.customer_id for m in mails) == buyers[:10]  # a written invitation where they allow one
    kept = [m for m in written if m.status == "suppressed"]  # the others' e-mails are on record, not sent
    assert sorted(m.customer_id for m in kept) == buyers[10:]
    assert {m.reason for m in kept} == {"no marketing consent for email"}
    assert mails[0].subject == "Persönliche Einladung: Richtfest Wohnpark Süd am 20.03.2026"
    assert "Käufer 0" in mails[0].body and "Baufeld 3" in mails[0].body and "Bauträger Sommer" in mails[0].body
    tasks = rule_tasks(crm)
    assert sorted(t.customer_id for t in tasks) == buyers[10:]  # the others are invited in person
    assert tasks[0].title == "Käufer 10 persönlich einladen: Richtfest Wohnpark Süd am 20.03.2026"
    assert rule_tasks(crm, elsewhere.id) == []
    timeline = crm.interactions.timeline(buyers[0], by=crm.system)[0].summary
    assert timeline.startswith(f"rule {RULE}: email marketing message 'Persönliche Einladung")

    clock.set(datetime(2026, 3, 20, 8, tzinfo=UTC))  # on the day itself it is too late to invite
    late = crm.customers.add("Spätkäufer", email="spaet@example.org", by=crm.system)
    crm.assets.record(late.id, flats[0].id, by=crm.system)
    assert fired(crm) == 0


def test_an_occasion_without_a_date_or_without_assets_is_refused_by_name(crm_factory):
    crm = after_sale(crm_factory, occasions=[{"name": "Richtfest", "date": "12.06.2026", "sku_prefix": "WPS-"}])
    with pytest.raises(ValidationError, match=r"occasions\[0\]\.date.*is not a date like 2026-06-12"):
        crm.rules.run(RULE)
    crm = after_sale(crm_factory, occasions=[{"name": "Richtfest", "date": "2026-06-12"}])
    with pytest.raises(ValidationError, match="needs sku_prefix, category or skus"):
        crm.rules.run(RULE)


# -- birthday and anniversary ----------------------------------------------------------------
def test_a_birthday_gesture_appears_five_days_ahead_once_a_year(crm, builder, clock):
    clock.set(datetime(2026, 3, 10, 7, tzinfo=UTC))
    anna = customer(crm, builder, "Anna", birthday=date(1980, 3, 15))
    ben = customer(crm, builder, "Ben", birthday=date(1975, 3, 16))  # six days ahead: not yet
    customer(crm, builder, "Carl")  # no birthday on file
    assert fired(crm) == 1
    [task] = rule_tasks(crm)
    assert task.customer_id == anna.id
    assert task.title.startswith("Geburtstag von Anna am 15.03.2026: eine persönliche Geste")
    assert task.due_at == datetime(2026, 3, 14, 9, tzinfo=UTC)  # the day before: a card must arrive
    assert fired(crm) == 0
    clock.advance(days=1)
    assert fired(crm) == 1 and rule_tasks(crm)[-1].customer_id == ben.id
    clock.advance(days=365)
    assert fired(crm) == 2  # next year again
    assert situations(crm) == ["birthday:2026", "birthday:2026", "birthday:2027", "birthday:2027"]


def test_a_leap_day_birthday_is_remembered_in_other_years_and_across_new_year(crm, builder, clock):
    clock.set(datetime(2026, 2, 24, 7, tzinfo=UTC))
    leap = customer(crm, builder, "Lea", birthday=date(2000, 2, 29))
    assert fired(crm) == 1 and rule_tasks(crm)[0].title.startswith("Geburtstag von Lea am 28.02.2026")
    clock.set(datetime(2026, 12, 29, 7, tzinfo=UTC))
    ny = customer(crm, builder, "Neo", birthday=date(1990, 1, 2))
    assert fired(crm) == 1
    assert [(t.customer_id, t.title[:30]) for t in rule_tasks(crm)] == [
        (leap.id, "Geburtstag von Lea am 28.02.20"), (ny.id, "Geburtstag von Neo am 02.01.20")]
    assert situations(crm)[-1] == "birthday:2027"


def test_the_anniversary_of_a_purchase_brings_a_personal_word_with_the_years(crm, builder, clock):
    max_ = customer(crm, builder, email="max@example.org")
    kitchen = crm.products.add("KU-1", "Einbauküche Nordic", category="kitchen", by=crm.system)
    old = crm.assets.record(max_.id, kitchen.id, purchased_on=date(2023, 3, 4), by=crm.system)
    crm.assets.record(max_.id, kitchen.id, purchased_on=date(2026, 3, 3), by=crm.system)  # bought this week: no anniversary
    assert fired(crm) == 1
    [task] = rule_tasks(crm)
    assert task.title == "3 Jahre Einbauküche Nordic (Max Mustermann, seit 04.03.2023): ein persönliches Wort"
    assert situations(crm) == [f"anniversary:{old.id}:3"]
    assert fired(crm) == 0


def test_a_dry_run_shows_every_gesture_and_changes_nothing(crm, builder, clock):
    max_ = customer(crm, builder, birthday=date(1980, 3, 5))
    kitchen = crm.products.add("KU-1", "Einbauküche Nordic", category="kitchen", by=crm.system)
    crm.assets.record(max_.id, kitchen.id, purchased_on=date(2024, 3, 2), handed_over_on=date(2026, 2, 16), by=crm.system)
    planned = crm.rules.run(RULE, dry_run=True)[0].planned
    assert sorted(p["situation"].split(":")[0] for p in planned) == ["anniversary", "birthday", "checkin"]
    assert all(p["would"][0].startswith(f"task for customer {max_.id}") for p in planned)
    assert situations(crm) == [] and rule_tasks(crm) == []
    assert crm.interactions.timeline(max_.id, by=crm.system) == []


def test_parts_can_be_switched_off_in_the_settings(crm_factory, clock):
    crm = after_sale(crm_factory, parts=["checkin"])
    max_ = crm.customers.add("Max", birthday=date(1980, 3, 5), by=crm.system)
    assert fired(crm) == 0 and rule_tasks(crm, max_.id) == []
    with pytest.raises(ValidationError, match="parts\\[0\\] 'birthdays': must be one of .*did you mean 'birthday'"):
        after_sale(crm_factory, parts=["birthdays"])  # refused when the application starts


def test_the_date_queries_work_on_sqlite_and_postgresql(db_url, clock):
    crm = connect(db_url, clock=clock, settings=Settings())
    try:
        crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
        max_ = crm.customers.add("Max", birthday=date(1980, 3, 5), by=crm.system)
        kitchen = crm.products.add("KU-1", "Einbauküche Nordic", category="kitchen", by=crm.system)
        asset = crm.assets.record(max_.id, kitchen.id, purchased_on=date(2016, 3, 2),
                                  handed_over_on=date(2026, 2, 16), by=crm.system)
        assert fired(crm) == 3 and fired(crm) == 0
        assert sorted(situations(crm)) == [f"anniversary:{asset.id}:10", "birthday:2026",
                                           f"checkin:asset:{asset.id}"]
        clock.set(datetime(2027, 3, 1, 7, tzinfo=UTC))
        assert fired(crm) == 2
        assert situations(crm)[3:] == ["birthday:2027", f"anniversary:{asset.id}:11"]
    finally:
        crm.close()
