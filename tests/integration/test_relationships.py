"""Relationships at every level of a company customer (issue 17), one guarantee at a time.

Autohaus Berg sells vans to Spedition Kraus GmbH, a haulier with a fleet: their buyer,
their workshop technician, their dispatcher and their accounting are contact persons on
the file. Our people: Sabine (sales), Jonas (service), Mia (clerk), Petra (manager). Who
of ours knows whom of theirs is read from the personal touches on the timeline.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from dealercrm import ActorDeactivated, NotFound, NotPermitted, ValidationError, hookimpl
from dealercrm.db.models import AuditRecord, Interaction, Task
from dealercrm.db.outbox_models import ContactLedger
from dealercrm.db.rule_models import RuleFiring
from dealercrm.services import reports
from dealercrm.settings import ContactSettings, Settings

RULE = "rule_single_threaded"


class Haulier:
    """The world of these tests on one application."""

    def __init__(self, crm):
        self.crm = crm
        system = crm.system
        self.berg = crm.parties.add("dealer", "Autohaus Berg", by=system)
        self.other = crm.parties.add("dealer", "Autohaus Süd", by=system)
        add = crm.parties.add_actor
        self.sabine = add(self.berg.id, "Sabine Krüger", "sales", by=system)
        self.jonas = add(self.berg.id, "Jonas Weber", "service", by=system)
        self.mia = add(self.berg.id, "Mia Brandt", "clerk", by=system)
        self.petra = add(self.berg.id, "Petra Schmidt", "manager", by=system)
        self.tom = add(self.berg.id, "Tom Richter", "sales", by=system)
        self.uwe = add(self.other.id, "Uwe Süd", "manager", by=system)
        self.van = crm.products.add("VAN-L2", "Transporter L2", category="van", by=system)
        self.kraus = self.company("Spedition Kraus GmbH", vans=6)
        contact = crm.customers.add_contact
        self.buyer = contact(self.kraus.id, "Bernd Bauer", "buyer", email="bauer@kraus-spedition.example",
                             phone="040 5550111", by=system)
        self.workshop = contact(self.kraus.id, "Petra Koch", "technician", by=system)
        self.dispatcher = contact(self.kraus.id, "Dirk Dispo", "dispatcher", by=system)
        self.accounting = contact(self.kraus.id, "Heike Frank", "accounting", by=system)

    def company(self, name: str, vans: int = 6, owner=None, price: float = 38_000.0):
        crm = self.crm
        c = crm.customers.add(name, kind="company", owner_party_id=self.berg.id,
                              account_owner_id=(owner or self.sabine).id, by=crm.system)
        for n in range(vans):
            crm.assets.record(c.id, self.van.id, purchased_on=date(2019 + n, 5, 2), price=price, by=crm.system)
        return c

    def touch(self, who, contact=None, channel="phone", personal=True, customer=None):
        return self.crm.interactions.record((customer or self.kraus).id, channel, "outbound", "talked",
                                            personal=personal, contact_person_id=contact.id if contact else None,
                                            by=who.id)


@pytest.fixture
def world(any_crm):
    return Haulier(any_crm)


@pytest.fixture
def sqlite_world(crm):
    return Haulier(crm)


def rule_tasks(crm, customer_id=None) -> list[Task]:
    with crm.read(crm.system) as uow:
        query = select(Task).where(Task.origin_ref == f"rule:{RULE}").order_by(Task.id)
        if customer_id is not None:
            query = query.where(Task.customer_id == customer_id)
        return list(uow.session.scalars(query))


# -- 1. interactions and tasks name the contact person ---------------------------------------


def test_a_call_names_the_buyer_it_was_with_and_the_timeline_says_so(world):
    w = world
    talk = w.touch(w.sabine, w.buyer)
    assert talk.contact_person_id == w.buyer.id
    [line] = w.crm.interactions.timeline(w.kraus.id, by=w.sabine.id)
    assert line.contact_person_id == w.buyer.id and line.actor_id == w.sabine.id
    task = w.crm.tasks.create("call Bauer about the spring order", w.crm.clock.now(), customer_id=w.kraus.id,
                              contact_person_id=w.buyer.id, by=w.sabine.id)
    assert task.contact_person_id == w.buyer.id and w.crm.tasks.get(task.id, by=w.jonas.id).contact_person_id == w.buyer.id


def test_another_files_contact_person_does_not_exist_here(sqlite_world):
    w = sqlite_world
    other = w.company("Bäckerei Kraus")
    stranger = w.crm.customers.add_contact(other.id, "Otto Other", "buyer", by=w.crm.system)
    with pytest.raises(NotFound, match="contact person"):
        w.touch(w.sabine, stranger)
    with pytest.raises(NotFound, match="contact person"):
        w.crm.tasks.create("call", w.crm.clock.now(), customer_id=w.kraus.id, contact_person_id=stranger.id,
                           by=w.sabine.id)
    with pytest.raises(NotFound, match="contact person"):  # nor for the system: it cannot mix two files
        w.crm.interactions.record(w.kraus.id, "phone", "outbound", "x", contact_person_id=stranger.id, by=w.crm.system)
    with pytest.raises(ValidationError, match="needs the customer_id"):
        w.crm.tasks.create("call", w.crm.clock.now(), contact_person_id=w.buyer.id, by=w.sabine.id)
    # another dealer does not see the file, its contact persons even less
    with pytest.raises(NotFound):
        w.crm.interactions.record(w.kraus.id, "phone", "outbound", "x", contact_person_id=w.buyer.id, by=w.uwe.id)
    assert w.crm.interactions.timeline(w.kraus.id, by=w.crm.system) == []  # nothing half-written


def test_a_contact_person_who_left_is_removed_and_the_touches_stay_with_the_company(sqlite_world):
    w = sqlite_world
    w.touch(w.sabine, w.buyer)
    task = w.crm.tasks.create("call Bauer", w.crm.clock.now(), customer_id=w.kraus.id, contact_person_id=w.buyer.id,
                              by=w.sabine.id)
    w.crm.customers.remove_contact(w.kraus.id, w.buyer.id, by=w.sabine.id)
    [line] = w.crm.interactions.timeline(w.kraus.id, by=w.sabine.id)
    assert line.contact_person_id is None and w.crm.tasks.get(task.id, by=w.sabine.id).contact_person_id is None
    [thread] = w.crm.customers.relationships(w.kraus.id, by=w.sabine.id).threads
    assert (thread.actor_id, thread.contact_id) == (w.sabine.id, None)
    with w.crm.read(w.crm.system) as uow:  # audited like every change
        assert uow.session.scalar(select(func.count()).select_from(AuditRecord).where(
            AuditRecord.operation == "customers.remove_contact", AuditRecord.entity == "interaction")) == 1


def test_the_buyers_mail_from_her_own_address_lands_on_the_companys_timeline_naming_her(world):
    w = world
    mail = (b"From: Bernd Bauer <bauer@kraus-spedition.example>\r\nTo: verkauf@berg.example\r\nSubject: Angebot\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nBitte ein Angebot fuer zwei weitere Transporter.\r\n")
    got = w.crm.inbound.receive("email", mail)
    assert (got.status, got.customer_id) == ("attached", w.kraus.id)
    [line] = w.crm.interactions.timeline(w.kraus.id, by=w.sabine.id)
    assert line.contact_person_id == w.buyer.id and line.direction == "inbound"


def test_a_text_from_the_buyers_mobile_names_her_too(crm_factory):
    crm = crm_factory(settings=Settings(plugins={"channel_sms": {"url": "http://127.0.0.1:9/unused",
                                                                 "token": "sms-tok-4711abc"}}))
    w = Haulier(crm)
    sms = crm.inbound.receive("sms", '{"from": "+49 40 5550111", "text": "Rueckruf bitte"}',
                              {"Content-Type": "application/json"})
    assert (sms.status, sms.customer_id) == ("attached", w.kraus.id)
    assert crm.interactions.timeline(w.kraus.id, by=w.sabine.id)[0].contact_person_id == w.buyer.id


def test_the_customers_own_address_wins_over_a_contact_persons_and_an_erased_file_matches_nobody(sqlite_world):
    w = sqlite_world
    crm = w.crm
    family = crm.customers.add("Familie Bauer", email="bauer@kraus-spedition.example", owner_party_id=w.berg.id,
                               by=crm.system)
    got = crm.inbound.receive("email", b"From: bauer@kraus-spedition.example\r\nSubject: Hallo\r\n\r\nHallo\r\n")
    assert got.customer_id == family.id
    assert crm.interactions.timeline(family.id, by=crm.system)[0].contact_person_id is None
    crm.customers.erase(w.kraus.id, by=w.petra.id)
    crm.customers.erase(family.id, by=w.petra.id)
    got = crm.inbound.receive("email", b"From: bauer@kraus-spedition.example\r\nSubject: Hallo\r\n\r\nHallo\r\n")
    assert (got.status, got.customer_id) == ("triage", None)


# -- 2. the relationship map ------------------------------------------------------------------


def test_the_map_pairs_our_people_with_theirs_with_last_touch_count_and_channel(world):
    w, clock = world, world.crm.clock
    w.touch(w.sabine, w.buyer)                      # 400 days ago: older than 12 months
    clock.advance(days=100)
    w.touch(w.sabine, w.buyer, "visit")
    clock.advance(days=200)
    w.touch(w.sabine, w.buyer, "email")
    w.touch(w.jonas, w.workshop, "visit")
    w.touch(w.jonas)                                # the company as a whole, nobody named
    w.touch(w.mia, w.accounting, "email", personal=False)  # a mailing: no relationship
    w.crm.interactions.record(w.kraus.id, "phone", "inbound", "switchboard", contact_person_id=w.dispatcher.id,
                              by=w.crm.system)  # dealercrm's own records name nobody of ours
    clock.advance(days=100)

    m = w.crm.customers.relationships(w.kraus.id, by=w.petra.id)
    pairs = {(t.actor_id, t.contact_id): (t.touches_12_months, t.touches_in_window, t.channel) for t in m.threads}
    assert pairs == {(w.sabine.id, w.buyer.id): (2, 0, "email"), (w.jonas.id, w.workshop.id): (1, 0, "visit"),
                     (w.jonas.id, None): (1, 0, "phone")}
    assert [p.name for p in m.people][:1] == ["Sabine Krüger"] and m.people[0].account_owner
    assert {c.name for c in m.contacts} == {"Bernd Bauer", "Petra Koch", "Dirk Dispo", "Heike Frank"}
    assert not hasattr(m.contacts[0], "email")  # the map holds name and function, no addresses
    states = {level.level: level.state for level in m.levels}
    assert states["sales"] == states["service"] == "lapsed"  # met, but not in the last 90 days
    assert states["operations"] == "never met" and states["management"] == "nobody of theirs"
    assert m.single_threaded is None  # nobody at all in the window: quiet, not single-threaded
    assert w.crm.customers.view(w.kraus.id, by=w.sabine.id).relationships == m


def test_the_map_is_the_keeping_dealers_a_case_party_and_another_dealer_do_not_get_it(sqlite_world):
    w = sqlite_world
    with pytest.raises(NotFound):
        w.crm.customers.relationships(w.kraus.id, by=w.uwe.id)
    maker = w.crm.parties.add("manufacturer", "Vanwerk", by=w.crm.system)
    desk = w.crm.parties.add_actor(maker.id, "Claire", "warranty", by=w.crm.system)
    case = w.crm.cases.open(w.kraus.id, "sliding door jams", by=w.sabine.id)
    w.crm.cases.fire(case.id, "start_diagnosis", by=w.sabine.id)
    w.crm.cases.fire(case.id, "forward_to_manufacturer", data={"manufacturer_party_id": maker.id}, by=w.sabine.id)
    assert w.crm.customers.view(w.kraus.id, by=desk.id).relationships is None  # withheld, like the contacts
    with pytest.raises(NotPermitted):
        w.crm.customers.relationships(w.kraus.id, by=desk.id)


# -- 3. the single-thread rule ------------------------------------------------------------------


def test_a_key_account_on_one_thread_gets_one_task_and_a_second_thread_that_lapses_asks_again(world):
    w, crm, clock = world, world.crm, world.crm.clock
    small = w.company("Kurierdienst Klein", vans=1, price=8_000.0)  # not a key account: one used van
    person = crm.customers.add("Karl Kraus", owner_party_id=w.berg.id, account_owner_id=w.sabine.id, by=crm.system)
    for n in range(6):
        crm.assets.record(person.id, w.van.id, purchased_on=date(2019 + n, 1, 1), price=38_000.0, by=crm.system)
    for _ in range(7):
        w.touch(w.sabine, w.buyer)
        w.touch(w.sabine, customer=small)
        w.touch(w.sabine, customer=person)
        clock.advance(days=14)
    assert crm.rules.run(RULE)[0].fired == 1  # only the key account; people and small firms are not asked
    [task] = rule_tasks(crm)
    assert task.customer_id == w.kraus.id and task.assigned_actor_id == w.sabine.id
    assert crm.rules.run(RULE)[0].fired == 0

    # Jonas meets their workshop: two threads, nothing to ask
    w.touch(w.jonas, w.workshop, "visit")
    clock.advance(days=30)
    w.touch(w.sabine, w.buyer)
    assert crm.rules.run(RULE)[0].fired == 0
    # 91 days later his visit has fallen out of the window: one thread again, a new situation
    clock.advance(days=61)
    w.touch(w.sabine, w.buyer)
    outcome = crm.rules.run(RULE)[0]
    assert outcome.fired == 1 and len(rule_tasks(crm, w.kraus.id)) == 2
    with crm.read(crm.system) as uow:
        situations = sorted(uow.session.scalars(select(RuleFiring.situation).where(RuleFiring.rule == RULE)))
    since = (clock.now() - timedelta(days=91)).date().isoformat()
    assert situations == [f"ours={w.sabine.id};theirs=buyer;since={since}",
                          f"ours={w.sabine.id};theirs=buyer;since=never"]


def test_one_function_of_theirs_is_a_single_thread_too_and_a_new_salesman_is_a_new_situation(sqlite_world):
    w, crm, clock = sqlite_world, sqlite_world.crm, sqlite_world.crm.clock
    clock.advance(days=90)
    w.touch(w.sabine, w.buyer)
    w.touch(w.petra, w.buyer, "visit")  # two of ours, but always their buyer
    crm.rules.run(RULE)
    [task] = rule_tasks(crm)
    assert "only with their buyer" in task.title or "nur mit der Funktion buyer" in task.title
    w.touch(w.tom, w.buyer)
    w.touch(w.tom, w.workshop)  # now their workshop too: two functions, and three of ours
    assert crm.rules.run(RULE)[0].fired == 0
    clock.advance(days=95)
    w.touch(w.tom, w.buyer)  # Tom alone now, with the buyer
    assert crm.rules.run(RULE)[0].fired == 1
    assert crm.rules.run(RULE, dry_run=True)[0].planned == []  # left out by the scan itself


def test_the_rule_spends_the_accounts_contact_budget_and_says_why_when_it_is_spent(tmp_path, clock):
    from dealercrm import connect

    def marketing_contacts(crm, customer_id) -> int:
        with crm.read(crm.system) as uow:
            return uow.session.scalar(select(func.count()).select_from(ContactLedger).where(
                ContactLedger.customer_id == customer_id, ContactLedger.purpose == "marketing"))

    # one marketing contact per customer and year: the company is one customer, however many people it has
    crm = connect(f"sqlite:///{tmp_path}/b.db", clock=clock, settings=Settings(
        language="en", contact=ContactSettings(budget=1)))
    w = Haulier(crm)
    clock.advance(days=90)
    w.touch(w.sabine, w.buyer)
    assert crm.rules.run(RULE)[0].fired == 1 and marketing_contacts(crm, w.kraus.id) == 1
    clock.advance(days=91)
    w.touch(w.tom, w.buyer)  # a new thread: a new situation, but the account's budget is spent
    outcome = crm.rules.run(RULE)[0]
    assert (outcome.fired, outcome.suppressed) == (0, 1) and len(rule_tasks(crm)) == 1
    said = [i.summary for i in crm.interactions.timeline(w.kraus.id, by=crm.system)]
    assert any(f"rule {RULE}: not acted: contact budget spent: 1 of 1" in s for s in said)
    assert crm.rules.run(RULE)[0].suppressed == 0  # the situation was seen: not asked again
    crm.close()

    # as a service task it spends nothing
    crm = connect(f"sqlite:///{tmp_path}/b.db", clock=clock, settings=Settings(
        contact=ContactSettings(budget=1), plugins={RULE: {"purpose": "service"}}))
    clock.advance(days=91)
    crm.interactions.record(w.kraus.id, "phone", "outbound", "x", contact_person_id=w.buyer.id, by=w.petra.id)
    assert crm.rules.run(RULE)[0].fired == 1 and marketing_contacts(crm, w.kraus.id) == 1
    crm.close()


@pytest.mark.parametrize("table, said", [
    ({"min_purchases": 0, "min_revenue": 0}, "at least one value criterion must be above 0: the rule is for key "
                                             "accounts"),
    ({"window_days": -1}, "window_days -1: must be a whole number >= 0"),
    ({"valuable_when": "some"}, "valuable_when 'some': must be one of \"any\", \"all\""),
    ({"windows_days": 30}, "did you mean 'window_days'"),
])
def test_the_rules_settings_are_refused_when_the_application_starts(tmp_path, clock, table, said):
    from dealercrm import connect

    with pytest.raises(ValidationError, match=f"rule_single_threaded.*{re.escape(said)}"):
        connect(f"sqlite:///{tmp_path}/s.db", clock=clock, settings=Settings(plugins={"rule_single_threaded": table}))


def test_the_rules_window_is_the_relationships_window_unless_it_says_otherwise(sqlite_world):
    from dealercrm.plugins.rule_single_threaded import in_effect

    crm = sqlite_world.crm
    rule = crm.rules.rule("rule_single_threaded")
    assert in_effect(crm.rules.settings_for(rule), crm)["window_days"] == 90 == crm.settings.relationships.window_days
    assert in_effect({**crm.rules.settings_for(rule), "window_days": 30}, crm)["window_days"] == 30


# -- 4. the loyal-customers rule knows levels -----------------------------------------------------


def loyal(db_url, clock, **settings):
    from dealercrm import connect

    return connect(db_url, clock=clock, settings=Settings(language="en", plugins={"rule_loyal_quiet": settings}))


def test_a_letter_to_accounting_is_no_touch_for_the_buyer_when_levels_are_required(db_url, clock):
    crm = loyal(db_url, clock, company_levels=["sales"])
    w = Haulier(crm)
    w.touch(w.sabine, w.buyer)
    clock.advance(days=150)
    w.touch(w.mia, w.accounting, "post")        # a personal letter from our clerk to their accounting
    w.touch(w.sabine, w.accounting, "phone")     # and Sabine chasing an invoice with accounting: not the buyer
    clock.advance(days=40)
    outcome = crm.rules.run("rule_loyal_quiet")[0]
    assert outcome.fired == 1
    with crm.read(crm.system) as uow:
        [task] = uow.session.scalars(select(Task).where(Task.origin_ref == "rule:rule_loyal_quiet"))
        [situation] = uow.session.scalars(select(RuleFiring.situation))
    assert "no personal contact at level sales" in task.title
    assert f"sales (last {(clock.now() - timedelta(days=190)).date().isoformat()})" in task.note
    assert situation.startswith("quiet-levels:sales@")
    assert crm.rules.run("rule_loyal_quiet")[0].fired == 0
    crm.close()
    # by default any personal touch counts for the whole company, as before
    again = loyal(db_url, clock)
    assert again.rules.run("rule_loyal_quiet", dry_run=True)[0].planned == []
    again.close()


def test_a_number_of_levels_asks_for_that_many_and_a_touch_at_a_second_one_quiets_it(sqlite_world, tmp_path, clock):
    from dealercrm import connect

    crm = connect(f"sqlite:///{tmp_path}/l.db", clock=clock, settings=Settings(
        plugins={"rule_loyal_quiet": {"company_levels": 2, "quiet_days": 180}}))
    w = Haulier(crm)
    clock.advance(days=200)
    w.touch(w.sabine, w.buyer)
    w.touch(w.sabine)  # naming nobody: counts for Sabine's level, sales — still one level
    assert crm.rules.run("rule_loyal_quiet")[0].fired == 1
    w.touch(w.jonas, w.workshop, "visit")
    clock.advance(days=1)
    assert crm.rules.run("rule_loyal_quiet", dry_run=True)[0].planned == []
    crm.close()
    with pytest.raises(ValidationError, match="company_levels"):
        connect(f"sqlite:///{tmp_path}/l.db", clock=clock, settings=Settings(
            plugins={"rule_loyal_quiet": {"company_levels": ["sales", "golf"]}})).rules.run("rule_loyal_quiet")


# -- 5. when someone leaves -----------------------------------------------------------------------


def test_deactivating_without_a_successor_asks_the_party_and_naming_one_later_updates_the_same_task(world):
    w, crm = world, world.crm
    owned_by_jonas = w.company("Bus Jonas KG", owner=w.jonas)
    w.touch(w.sabine, w.buyer)
    w.touch(w.jonas, customer=owned_by_jonas)
    only_sabine = w.company("Taxi Sabine", owner=w.jonas)  # Jonas owns it, but only Sabine ever spoke to them
    w.touch(w.sabine, customer=only_sabine)

    crm.parties.set_actor_active(w.sabine.id, False, by=w.petra.id)  # the portal's way
    tasks = {t.customer_id: t for t in crm.tasks.list(by=w.petra.id) if t.origin_ref == f"handover:{w.sabine.id}"}
    assert set(tasks) == {w.kraus.id, only_sabine.id}
    assert tasks[w.kraus.id].assigned_actor_id is None and tasks[w.kraus.id].assigned_party_id == w.berg.id
    assert "who takes over?" in tasks[w.kraus.id].title and "not named yet" in tasks[w.kraus.id].note
    assert tasks[only_sabine.id].assigned_actor_id == w.jonas.id  # the account owner, still there
    assert "nobody else of ours had a personal touch" in tasks[only_sabine.id].note
    assert crm.customers.get(w.kraus.id, by=w.petra.id).account_owner_id == w.sabine.id  # until someone is named

    done = crm.parties.deactivate(w.sabine.id, handover_to=w.tom.id, by=w.petra.id)
    again = {t.customer_id: t for t in crm.tasks.list(by=w.petra.id) if t.origin_ref == f"handover:{w.sabine.id}"}
    assert {k: t.id for k, t in again.items()} == {k: t.id for k, t in tasks.items()}  # the same tasks, updated
    assert again[w.kraus.id].assigned_actor_id == w.tom.id and "Tom Richter" in again[w.kraus.id].title
    assert crm.customers.get(w.kraus.id, by=w.petra.id).account_owner_id == w.tom.id
    assert crm.customers.get(only_sabine.id, by=w.petra.id).account_owner_id == w.jonas.id  # not hers to give
    assert [(a.customer_id, a.account_owner, a.only_relationship) for a in done.accounts] == [
        (w.kraus.id, True, True), (only_sabine.id, False, True)]
    # reactivating asks nothing
    crm.parties.set_actor_active(w.sabine.id, True, by=w.petra.id)
    assert len([t for t in crm.tasks.list(by=w.petra.id) if t.origin_ref.startswith("handover")]) == 2


def test_the_successor_must_be_an_active_person_of_the_same_party_and_nothing_is_half_done(sqlite_world):
    w, crm = sqlite_world, sqlite_world.crm
    crm.parties.set_actor_active(w.mia.id, False, by=crm.system)
    for successor, said in ((w.uwe.id, "not an active person"), (w.mia.id, "not an active person"),
                            (w.sabine.id, "is the person leaving"), (999_999, "not an active person")):
        with pytest.raises(ValidationError, match=said):
            crm.parties.deactivate(w.sabine.id, handover_to=successor, by=w.petra.id)
    assert crm.parties.actor(w.sabine.id, by=w.petra.id).active  # nothing happened
    with pytest.raises(NotPermitted):
        crm.parties.deactivate(w.sabine.id, handover_to=w.tom.id, by=w.jonas.id)  # not a manager
    with pytest.raises(NotFound):  # another dealer's manager: our people are not there for them (managed_person)
        crm.parties.deactivate(w.sabine.id, handover_to=w.tom.id, by=w.uwe.id)
    with pytest.raises(ValidationError, match="system actor"):
        crm.parties.deactivate(crm.system, by=crm.system)


def test_the_hand_over_moves_her_open_tasks_and_is_one_audited_operation_with_its_event(sqlite_world):
    w, crm = sqlite_world, sqlite_world.crm
    seen = []

    class Listener:
        @hookimpl
        def dealercrm_handle_event(self, event, crm):
            if isinstance(event, ActorDeactivated):
                seen.append(event)

    crm.register(Listener(), "hand-over listener")
    w.touch(w.sabine, w.buyer)
    mine = crm.tasks.create("send the offer", crm.clock.now(), customer_id=w.kraus.id, assigned_actor_id=w.sabine.id,
                            by=w.sabine.id)
    done = crm.parties.deactivate(w.sabine.id, handover_to=w.tom.id, by=w.petra.id)
    assert done.tasks_reassigned == (mine.id,) and crm.tasks.get(mine.id, by=w.tom.id).assigned_actor_id == w.tom.id
    [event] = seen
    assert (event.actor_id, event.deactivated_id, event.handover_to_id, event.customer_ids) == (
        w.petra.id, w.sabine.id, w.tom.id, (w.kraus.id,))
    with crm.read(crm.system) as uow:
        rows = list(uow.session.scalars(select(AuditRecord).where(AuditRecord.operation == "parties.deactivate_actor")))
    entities = {(r.entity, r.action) for r in rows}
    assert {("actor", "update"), ("customer", "update"), ("task", "insert"), ("task", "update"),
            ("actor", "handover")} <= entities
    assert all(r.actor_id == w.petra.id for r in rows)


# -- 6. the report ----------------------------------------------------------------------------------


def test_the_report_lists_single_threaded_key_accounts_for_their_dealer_only(world):
    w, crm, clock = world, world.crm, world.crm.clock
    kept = w.company("Spedition Breit GmbH", vans=9)
    w.touch(w.sabine, w.buyer)
    w.touch(w.sabine, customer=kept)
    w.touch(w.jonas, customer=kept)  # two of ours ...
    south = crm.customers.add("Süd Logistik", kind="company", owner_party_id=w.other.id, by=crm.system)
    crm.interactions.record(south.id, "phone", "outbound", "hallo", by=w.uwe.id)
    clock.advance(days=91)
    w.touch(w.sabine, w.buyer)
    w.touch(w.sabine, customer=kept)
    w.touch(w.jonas, customer=kept)  # ... but naming no function: not single on their side either
    crm.interactions.record(south.id, "phone", "outbound", "hallo", by=w.uwe.id)

    rows = crm.reports.report("single_threaded", by=w.petra.id)
    assert [r["customer_id"] for r in rows] == [w.kraus.id]
    [row] = rows
    assert row["thread"] == "Sabine Krüger (sales) ↔ buyer" and row["single"] == "both"
    assert row["purchases"] == 6 and row["revenue"] == 228_000.0 and row["account_owner"] == "Sabine Krüger"
    assert "service: our Jonas Weber has never met their Petra Koch (technician)" in row["missing"]
    assert [r["name"] for r in crm.reports.report("single_threaded", by=w.uwe.id)] == ["Süd Logistik"]
    assert {r["name"] for r in reports.report(crm, "single_threaded")["single_threaded"]} == {
        "Spedition Kraus GmbH", "Süd Logistik"}


# -- merge ---------------------------------------------------------------------------------------------


def test_merging_brings_the_duplicates_contact_persons_and_their_touches_onto_the_map(sqlite_world):
    w, crm = sqlite_world, sqlite_world.crm
    dup = crm.customers.add("Spedition Kraus", kind="company", owner_party_id=w.berg.id, by=crm.system)
    fleet = crm.customers.add_contact(dup.id, "Frieda Flotte", "fleet manager", by=crm.system)
    crm.interactions.record(dup.id, "visit", "outbound", "fleet review", contact_person_id=fleet.id, by=w.jonas.id)
    task = crm.tasks.create("send the fleet offer", crm.clock.now(), customer_id=dup.id, contact_person_id=fleet.id,
                            by=w.jonas.id)
    crm.customers.merge(w.kraus.id, dup.id, by=w.petra.id)
    m = crm.customers.relationships(w.kraus.id, by=w.petra.id)
    assert "Frieda Flotte" in {c.name for c in m.contacts}
    assert [(t.actor_id, t.contact_id) for t in m.threads] == [(w.jonas.id, fleet.id)]
    moved = crm.tasks.get(task.id, by=w.petra.id)
    assert (moved.customer_id, moved.contact_person_id) == (w.kraus.id, fleet.id)
    # and the export shows the links
    exported = crm.customers.export(w.kraus.id, by=w.petra.id)
    assert any(i["contact_person_id"] == fleet.id for i in exported["interaction"])


def test_a_rule_task_for_an_account_whose_owner_left_goes_to_the_dealer_not_to_someone_gone(sqlite_world):
    w, crm, clock = sqlite_world, sqlite_world.crm, sqlite_world.crm.clock
    clock.advance(days=90)
    w.touch(w.jonas, w.buyer)
    crm.parties.set_actor_active(w.sabine.id, False, by=w.petra.id)  # the account owner left, nobody named yet
    assert crm.rules.run(RULE)[0].fired == 1
    [task] = rule_tasks(crm)
    assert (task.assigned_actor_id, task.assigned_party_id) == (None, w.berg.id)


def test_the_scan_leaves_out_what_fired_for_every_account_whatever_its_own_since(world):
    """The situation carries, per account, since when its thread has been the only one; the
    scan's anti-join must compare each account's own (a regression: it once compared one value
    for all accounts, and the dry run listed what had already fired)."""
    w, crm, clock = world, world.crm, world.crm.clock
    other = w.company("Spedition Zwei GmbH")
    theirs = crm.customers.add_contact(other.id, "Otto Einkauf", "buyer", by=crm.system)
    w.touch(w.jonas, theirs, customer=other)  # a second thread once, long ago: "since" is that day
    clock.advance(days=100)
    for _ in range(3):
        w.touch(w.sabine, w.buyer)
        w.touch(w.sabine, theirs, customer=other)
        clock.advance(days=10)
    first = crm.rules.run(RULE, dry_run=True)[0].planned
    assert sorted(p["situation"].rsplit("=", 1)[1] != "never" for p in first) == [False, True]
    assert crm.rules.run(RULE)[0].fired == 2
    assert crm.rules.run(RULE, dry_run=True)[0].planned == []
