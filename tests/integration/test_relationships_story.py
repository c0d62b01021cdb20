"""The story of issue 17: a kitchen manufacturer's key account hangs on one thread.

Nordholz Küchen builds kitchens and sells them straight to kitchen studios; in dealercrm
it is the party that keeps those customers' files (a party of kind ``dealer``: it sells
to them). Its key account, Küchenstudio Lindner GmbH, has bought twelve kitchens and has
four contact persons: Bauer the buyer, Petra Koch the technician, Kai Lindner the
managing director and Heike Frank in accounting. Only Sabine Krüger, the salesman, ever
calls anyone there — always Bauer, every fortnight.

* After 90 days of that, the single-thread rule asks Sabine, once, for a second thread,
  naming what is missing: our service lead Jonas Weber has never met their technician.
* The relationship map (``dealercrm customers relationships``) shows the one thread and
  the gaps.
* Sabine leaves. Her manager deactivates her from the command line, handing over to Tom
  Richter: a hand-over task for Tom says whom to introduce him to (Bauer, whom only
  Sabine knew), Tom is the account owner, and the map shows him.

The rule runs on the test's clock; the command line on the real one. So the story is set
in the 100 days before today, and both see the same picture.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

import dealercrm
from dealercrm.cli import common, main
from dealercrm.db.models import Task
from dealercrm.db.rule_models import RuleFiring
from dealercrm.settings import Settings

RULE = "rule_single_threaded"
ENV_KEYS = ("DEALERCRM_DATABASE_URL", "DEALERCRM_SETTINGS", "DEALERCRM_BLOCK_PLUGINS", "DEALERCRM_DEFAULT_REGION")


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch, capsys):
    """``dealercrm --db <the story's database> ARGS`` -> (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)  # no dealercrm.toml from the developer's directory
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(common.console, "_width", 250)  # wide enough that nothing is cut
    monkeypatch.setattr(common.err, "_width", 250)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(["--db", db_url, *args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def story_clock():
    """Day 0 of the story is 100 days before now (on the hour): day 100 is today."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return dealercrm.ManualClock(now - timedelta(days=100))


@pytest.fixture
def nordholz(db_url, story_clock):
    crm = dealercrm.connect(db_url, clock=story_clock, settings=Settings(language="en"))
    party = crm.parties.add("dealer", "Nordholz Küchen", by=crm.system)
    add = crm.parties.add_actor
    people = dict(sabine=add(party.id, "Sabine Krüger", "sales", by=crm.system),
                  jonas=add(party.id, "Jonas Weber", "service lead", by=crm.system),
                  mia=add(party.id, "Mia Brandt", "clerk", by=crm.system),
                  olaf=add(party.id, "Olaf Nordholz", "manager", by=crm.system),
                  tom=add(party.id, "Tom Richter", "sales", by=crm.system))
    kitchen = crm.products.add("NH-LINEA", "Kitchen Linea", category="kitchen", by=crm.system)
    lindner = crm.customers.add("Küchenstudio Lindner GmbH", kind="company", email="info@lindner-kuechen.example",
                                owner_party_id=party.id, account_owner_id=people["sabine"].id, by=crm.system)
    for n in range(12):
        crm.assets.record(lindner.id, kitchen.id, purchased_on=date(2021 + n // 3, 1 + 3 * (n % 3), 10),
                          price=18_500.0, by=crm.system)
    contact = crm.customers.add_contact
    theirs = dict(bauer=contact(lindner.id, "Bernd Bauer", "buyer", email="bauer@lindner-kuechen.example",
                                by=crm.system),
                  koch=contact(lindner.id, "Petra Koch", "technician", by=crm.system),
                  kai=contact(lindner.id, "Kai Lindner", "management", by=crm.system),
                  frank=contact(lindner.id, "Heike Frank", "accounting", by=crm.system))
    yield crm, people, lindner, theirs
    crm.close()


def rule_tasks(crm) -> list[Task]:
    with crm.read(crm.system) as uow:
        return list(uow.session.scalars(select(Task).where(Task.origin_ref == f"rule:{RULE}").order_by(Task.id)))


def test_only_the_salesman_calls_the_buyer_the_rule_asks_once_the_map_shows_the_gap_and_a_hand_over_follows(
        nordholz, story_clock, cli):
    crm, people, lindner, theirs = nordholz
    sabine, jonas, olaf, tom = people["sabine"], people["jonas"], people["olaf"], people["tom"]
    bauer, koch = theirs["bauer"], theirs["koch"]

    day_0 = story_clock.now()

    def day(n: int) -> None:
        story_clock.set(day_0 + timedelta(days=n))

    # Every fortnight Sabine calls Bauer; the spring mailing goes to accounting, which is no touch at all.
    for n in range(0, 90, 14):
        day(n)
        crm.interactions.record(lindner.id, "phone", "outbound", f"Bauer: order for the next fortnight (day {n})",
                                contact_person_id=bauer.id, by=sabine.id)
        if n == 28:
            crm.interactions.record(lindner.id, "email", "outbound", "Spring catalogue", personal=False,
                                    contact_person_id=theirs["frank"].id, by=people["mia"].id)

    # Day 89: one thread for 89 days is not yet a whole window.
    day(89)
    assert crm.rules.run(RULE)[0].fired == 0 and rule_tasks(crm) == []

    # Day 90: the rule asks Sabine for a second thread, naming what is missing.
    day(90)
    outcome = crm.rules.run(RULE)[0]
    assert (outcome.fired, outcome.failed) == (1, [])
    [ask] = rule_tasks(crm)
    assert ask.assigned_actor_id == sabine.id and ask.customer_id == lindner.id
    assert "Second thread for Küchenstudio Lindner GmbH" in ask.title and "only Sabine Krüger (sales)" in ask.title
    assert "our service lead Jonas Weber has never met their technician Petra Koch" in ask.note
    assert "management: our manager Olaf Nordholz has never met their management Kai Lindner" in ask.note
    assert ask.contact_person_id == koch.id  # the task names whom to meet
    assert "12 purchases" in ask.note and "222,000.00" in ask.note

    # Once: the next ticks, and more of the same calls, change nothing.
    assert crm.rules.run(RULE)[0].fired == 0
    day(99)
    crm.interactions.record(lindner.id, "visit", "outbound", "Bauer: showroom visit", contact_person_id=bauer.id,
                            by=sabine.id)
    assert crm.rules.run(RULE)[0].fired == 0 and len(rule_tasks(crm)) == 1
    with crm.read(crm.system) as uow:
        assert list(uow.session.scalars(select(RuleFiring.situation).where(RuleFiring.rule == RULE))) == [
            f"ours={sabine.id};theirs=buyer;since=never"]

    # The map: one pair, the gaps per level.
    m = crm.customers.relationships(lindner.id, by=olaf.id)
    [thread] = m.threads
    assert (thread.actor_id, thread.contact_id, thread.touches_12_months, thread.channel) == (
        sabine.id, bauer.id, 8, "visit")
    assert m.single_threaded == "both" and m.their_functions_in_window == ("buyer",)
    states = {level.level: level.state for level in m.levels}
    assert states["sales"] == "kept" and states["service"] == "never met" and states["management"] == "never met"
    assert states["accounting"] == "nobody of ours"  # Heike Frank has no counterpart: nobody of ours in accounting

    code, out, err = cli("--as", str(olaf.id), "customers", "relationships", str(lindner.id))
    assert code == 0, err
    print(out, file=open("/tmp/map_out.txt", "w"))
    assert "Sabine Krüger (sales), account owner" in out and "Bernd Bauer (buyer)" in out and "8× · visit" in out
    assert "single-threaded: one of ours, one of theirs" in out
    assert "our Jonas Weber has never met their Petra Koch (technician)" in out
    assert "our Olaf Nordholz has never met their Kai Lindner (management)" in out

    # Sabine leaves: the manager deactivates her and hands over to Tom, in one audited operation.
    day(100)  # today, for the command line too
    code, out, err = cli("--as", str(olaf.id), "parties", "deactivate-actor", str(sabine.id),
                         "--handover-to", str(tom.id))
    assert code == 0, err
    assert f"actor {sabine.id} Sabine Krüger deactivated, handed over to actor {tom.id}: 1 account(s)" in out
    assert "account owner, only relationship" in out and "Bernd Bauer (buyer)" in out

    [handover] = [t for t in crm.tasks.list(by=olaf.id, customer_id=lindner.id) if t.origin_ref.startswith("handover")]
    assert handover.assigned_actor_id == tom.id and handover.contact_person_id == bauer.id
    assert handover.title == "Hand-over of Küchenstudio Lindner GmbH: Sabine Krüger left — Tom Richter"
    assert "Who takes over: Tom Richter (sales), now the account owner." in handover.note
    assert "Whom to introduce (only Sabine Krüger knew them): Bernd Bauer (buyer, last personal touch" in handover.note
    assert crm.tasks.get(ask.id, by=olaf.id).assigned_actor_id == tom.id  # her open tasks went to Tom too
    assert crm.customers.get(lindner.id, by=olaf.id).account_owner_id == tom.id
    with pytest.raises(dealercrm.NotPermitted):  # she may no longer act
        crm.interactions.record(lindner.id, "phone", "outbound", "one more call", by=sabine.id)

    # The map shows the new owner, and Sabine as one who left.
    m = crm.customers.relationships(lindner.id, by=tom.id)
    assert m.account_owner_id == tom.id and m.people[0].actor_id == tom.id and m.people[0].account_owner
    assert not m.person(sabine.id).active
    code, out, err = cli("--as", str(tom.id), "customers", "relationships", str(lindner.id))
    assert code == 0, err
    assert "Tom Richter (sales), account owner" in out and "Sabine Krüger (sales), left" in out
    # the hand-over is on record: who did it, whom it concerned, what moved
    with crm.read(crm.system) as uow:
        from dealercrm.db.models import AuditRecord
        [summary] = uow.session.scalars(select(AuditRecord).where(AuditRecord.operation == "parties.deactivate_actor",
                                                                 AuditRecord.action == "handover"))
    assert summary.actor_id == olaf.id and summary.entity_id == sabine.id
    assert summary.changes == {"handover_to": tom.id, "accounts": [lindner.id], "handover_tasks": [handover.id],
                               "tasks_reassigned": [ask.id]}
    # the same thread (a salesman who left): the rule does not ask again
    assert crm.rules.run(RULE)[0].fired == 0
