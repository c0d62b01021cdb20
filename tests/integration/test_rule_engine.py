"""Rules fire once per situation, act within consent and budget, and say who did it."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import dealercrm
from dealercrm import hookimpl
from dealercrm.db.models import Customer, Task
from dealercrm.db.rule_models import RuleFiring
from dealercrm.rules import Candidate


class QuietCall:
    """Everybody nobody spoke to for 30 days gets a call; the situation is the last touch."""

    name, description = "quiet_call", "call who went quiet"
    defaults = {"days": 30}

    def scan(self, ctx):
        limit = ctx.now - timedelta(days=ctx.settings["days"])
        query = select(Customer.id, Customer.last_touch_at).where(
            (Customer.last_touch_at < limit) | Customer.last_touch_at.is_(None))
        for customer_id, last in ctx.connection.execute(query):
            situation = f"quiet-since:{last.date() if last else 'never'}"
            yield Candidate(customer_id, situation, customer_id=customer_id, evidence={"last_touch": str(last)})

    def act(self, candidate, ctx):
        ctx.task("check-in call: we have not spoken for a while")


class WelcomeOnRegistration:
    name, description, defaults = "welcome", "a welcome mail or call for every new customer", {}
    events = (dealercrm.CustomerRegistered,)

    def on_event(self, event, ctx):
        if isinstance(event, dealercrm.CustomerRegistered):
            return [Candidate(event.customer_id, "welcome", customer_id=event.customer_id)]

    def act(self, candidate, ctx):
        if not ctx.message(subject="Welcome", body="Welcome to Autohaus Berg", purpose="service",
                           channels=("phone",)):
            ctx.task("welcome call", purpose="service")


@pytest.fixture
def rules(crm):
    class Plugin:
        @hookimpl
        def dealercrm_register_rules(self, crm):
            return [QuietCall(), WelcomeOnRegistration()]

    crm.register(Plugin(), "test_rules")
    return crm.rules


def firings(crm, rule):
    with crm.read(crm.system) as uow:
        return uow.session.scalar(select(func.count()).select_from(RuleFiring).where(RuleFiring.rule == rule))


def tasks(crm, customer_id=None):
    with crm.read(crm.system) as uow:
        query = select(Task).where(Task.origin_ref == "rule:quiet_call")
        if customer_id:
            query = query.where(Task.customer_id == customer_id)
        return list(uow.session.scalars(query))


def test_a_scheduled_rule_fires_once_per_situation_however_often_it_runs(crm, rules, clock):
    anna = crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    crm.interactions.record(anna.id, "phone", "outbound", "handover call", by=crm.system)
    clock.advance(days=31)
    assert rules.run("quiet_call")[0].fired == 1
    assert rules.run("quiet_call")[0].fired == 0 and len(tasks(crm, anna.id)) == 1
    crm.interactions.record(anna.id, "phone", "outbound", "talked about winter tyres", by=crm.system)
    clock.advance(days=31)  # quiet again after a new touch: a new situation
    assert rules.run("quiet_call")[0].fired == 1 and len(tasks(crm, anna.id)) == 2
    assert "rule quiet_call: task" in crm.interactions.timeline(anna.id, by=crm.system)[0].summary


def test_two_concurrent_runs_never_duplicate(crm_factory, tmp_path, clock):
    url = f"sqlite:///{tmp_path}/shared.db"

    class Plugin:
        @hookimpl
        def dealercrm_register_rules(self, crm):
            return [QuietCall()]

    first = crm_factory(url, plugins=[Plugin()])
    first.parties.add("dealer", "Autohaus Berg", by=first.system)
    for n in range(40):
        first.customers.add(f"C{n}", email=f"c{n}@example.org", by=first.system)
    clock.advance(days=400)
    apps = [first, crm_factory(url, plugins=[Plugin()])]
    threads = [threading.Thread(target=app.rules.run, args=("quiet_call",), kwargs={"batch_size": 7}) for app in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert firings(first, "quiet_call") == 40 and len(tasks(first)) == 40


def test_dry_run_shows_what_would_happen_and_changes_nothing(crm, rules, clock):
    anna = crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    clock.advance(days=40)
    planned = rules.run("quiet_call", dry_run=True)[0].planned
    assert planned[0]["subject"] == anna.id and "task for customer" in planned[0]["would"][0]
    assert firings(crm, "quiet_call") == 0 and tasks(crm) == []


def test_rule_tasks_spend_the_contact_budget_and_are_suppressed_with_the_reason_when_it_is_spent(crm, rules, clock):
    anna = crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    for n in range(4):
        crm.interactions.record(anna.id, "phone", "outbound", f"touch {n}", by=crm.system)
        clock.advance(days=31)
        rules.run("quiet_call")
    crm.interactions.record(anna.id, "phone", "outbound", "touch 5", by=crm.system)
    clock.advance(days=31)
    outcome = rules.run("quiet_call")[0]
    assert outcome.suppressed == 1 and len(tasks(crm, anna.id)) == 4
    assert "contact budget spent: 4 of 4" in crm.interactions.timeline(anna.id, by=crm.system)[0].summary


def test_an_event_driven_rule_acts_inside_the_events_transaction(crm, rules):
    max_ = crm.customers.add("Max", email="max@example.org", phone="+49 171 5550100", by=crm.system)
    crm.outbox.dispatch()
    welcome = [t for t in crm.tasks.open(customer_id=max_.id, by=crm.system) if "Welcome" in t.title or "welcome" in t.title]
    assert len(welcome) == 1  # phone service message (contract basis) became a call task
    assert firings(crm, "welcome") == 1


def test_a_rule_that_raises_rolls_back_only_its_own_firing_and_is_named(crm, clock):
    class Broken(QuietCall):
        name = "broken"

        def act(self, candidate, ctx):
            raise KeyError("missing setting")

    class Plugin:
        @hookimpl
        def dealercrm_register_rules(self, crm):
            return [Broken()]

    crm.register(Plugin(), "broken_rules")
    crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    clock.advance(days=40)
    crm.customers.add("Ben", email="ben@example.org", by=crm.system)
    outcome = crm.rules.run("broken")[0]
    assert len(outcome.failed) == 2 and outcome.fired == 0
    assert "plugin 'broken' failed in act: KeyError" in outcome.failed[0][1]
    assert firings(crm, "broken") == 0  # a failed firing is not marked done: the next tick tries again


def test_rules_list_knows_when_each_rule_last_fired(crm, rules, clock):
    crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    clock.advance(days=40)
    rules.run()
    when, count = rules.last_fired()["quiet_call"]
    assert when == clock.now() and count == 1


def test_after_a_merge_the_kept_customer_is_not_told_again_what_the_duplicate_was_told(crm, rules, clock):
    anna = crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    twin = crm.customers.add("Anna B.", email="anna.b@example.org", by=crm.system)
    clock.advance(days=40)
    assert rules.run("quiet_call")[0].fired == 2
    crm.customers.merge(anna.id, twin.id, by=crm.system)
    assert rules.run("quiet_call")[0].fired == 0  # both had "quiet since never": one situation, handled
    with crm.read(crm.system) as uow:
        subjects = list(uow.session.scalars(select(RuleFiring.subject_id).where(RuleFiring.rule == "quiet_call")))
    assert sorted(subjects) == [anna.id, twin.id]  # the clashing firing stays with the tombstone


def test_an_event_driven_rule_is_asked_only_about_the_events_it_names(crm):
    seen: dict[str, list[str]] = {"picky": [], "curious": []}

    class Watcher:
        description, defaults = "records what it is asked about", {}

        def __init__(self, name, events=None):
            self.name = name
            if events is not None:
                self.events = events

        def on_event(self, event, ctx):
            seen[self.name].append(event.name)

        def act(self, candidate, ctx):
            raise AssertionError("no candidates, nothing to act on")

    class Plugin:
        @hookimpl
        def dealercrm_register_rules(self, crm):
            return [Watcher("picky", (dealercrm.InterestNoted,)), Watcher("curious")]

    crm.register(Plugin(), "watchers")
    anna = crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    crm.interests.note(anna.id, "skiing", by=crm.system)
    assert seen["picky"] == ["interest_noted"]
    assert "customer_registered" in seen["curious"] and "interest_noted" in seen["curious"]
