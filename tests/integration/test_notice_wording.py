"""What the customer reads: what changed on their case, what is asked of them, and until when.

Erika's washing machine washes badly. The manufacturer stays silent, the case comes back to
the dealer, who swaps the machine and asks her to confirm the new one works. Each notice's
subject says that — never the same words twice in a row, as "Ihr Fall 1: jetzt bei
Elektro Schmidt" once said both when the dealer took the case back and when it asked her to
confirm — and every time in it is hers: in her zone, with the zone's name, in her language.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from case_world import copy_world
from sqlalchemy import select

from dealercrm.db.outbox_models import OutboxMessage
from dealercrm.plugins import case_notifications
from dealercrm.workflows.service_case import SERVICE_CASE


@pytest.fixture
def world(tmp_path, clock):
    world = copy_world(tmp_path, clock)
    yield world
    world.crm.close()


def told(world, case_id: int) -> list[OutboxMessage]:
    """The hand-off notices of a case, in the order they were queued."""
    world.crm.outbox.queue_notices()
    with world.crm.read(world.crm.system) as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(
            OutboxMessage.case_id == case_id, OutboxMessage.origin == "case_notifications").order_by(OutboxMessage.id)))


def silent_manufacturer_then_a_new_machine(world, clock) -> int:
    """The washing-machine story: forwarded, the manufacturer silent, the dealer swaps the machine."""
    case = world.open_case()  # Monday 2 March 2026, 10:00 in Berlin
    world.to_manufacturer(case.id)
    clock.advance(days=3)
    world.crm.cases.tick()  # the manufacturer's two working days ran out: back to the dealer
    clock.advance(hours=1)
    world.fire(case.id, "offer_replacement", world.service)  # the dealer keeps the case: nobody is told twice
    clock.advance(days=1)
    world.fire(case.id, "deliver_replacement", world.service, new_serial="BR7-0002")
    return case.id


def test_the_washing_machine_story_in_german_says_what_changed_and_what_is_asked(world, clock):
    case_id = silent_manufacturer_then_a_new_machine(world, clock)
    notices = told(world, case_id)
    assert [n.subject for n in notices] == [
        f"Ihr Fall {case_id}: jetzt beim Hersteller Brioche Hausgeräte, Antwort bis 04.03.2026",
        f"Ihr Fall {case_id}: zurück bei Ihrem Händler, Entscheidung bis 06.03.2026",
        f"Ihr Fall {case_id}: bitte bestätigen Sie, dass das neue Gerät funktioniert",
    ]
    forwarded, back, confirm = (n.body for n in notices)
    assert "antwortet bis spätestens 04.03.2026, 10:00 Uhr MEZ" in forwarded  # 09:00 UTC, Berlin's winter time
    assert f"Ihr Fall {case_id}: Ihr Händler Elektro Schmidt hat Ihr Anliegen wieder übernommen" in back
    assert "Bitte bestätigen Sie bis 20.03.2026, 11:00 Uhr MEZ, dass es funktioniert" in confirm
    assert "UTC" not in "".join(n.body for n in notices)


def test_an_english_customer_in_new_york_reads_english_and_new_york_time(world, clock):
    world.crm.customers.update(world.customer.id, language="en", time_zone="America/New_York", by=world.service.id)
    case_id = silent_manufacturer_then_a_new_machine(world, clock)
    notices = told(world, case_id)
    assert [n.subject for n in notices] == [
        f"Your case {case_id}: now with the manufacturer Brioche Hausgeräte, answer due by 4 Mar 2026",
        f"Your case {case_id}: back with your dealer, decision by 6 Mar 2026",
        f"Your case {case_id}: please confirm the new unit works",
    ]
    assert "will answer by 4 Mar 2026, 04:00 EST at the latest" in notices[0].body
    assert "Please confirm by 20 Mar 2026, 06:00 EDT that it works" in notices[2].body  # New York went to summer time


def test_a_repair_asks_to_confirm_the_repair_and_a_still_broken_machine_reopens_at_the_dealer(world, clock):
    world.crm.customers.update(world.customer.id, language="en", by=world.service.id)
    case = world.open_case()
    world.to_technician(case.id)
    world.fire(case.id, "schedule_visit", world.fitter, visit_at=clock.now() + timedelta(days=1))
    world.fire(case.id, "report_fixed", world.fitter)
    world.fire(case.id, "still_broken", None, note="Erika: the laundry is grey again")
    world.fire(case.id, "ask_customer", world.service, question="Which programme did you use?")
    subjects = [n.subject.split(": ", 1)[1] for n in told(world, case.id)]
    assert subjects == ["now with the manufacturer Brioche Hausgeräte, answer due by 4 Mar 2026",
                        "a technician books a visit with you by 4 Mar 2026",
                        "please confirm the repair",
                        "reopened, your dealer looks again by 3 Mar 2026",
                        "a question for you, please answer by 9 Mar 2026"]
    assert "The question: Which programme did you use?" in told(world, case.id)[-1].body


def hand_off_walks(workflow, length: int):
    """Every sequence of ``length`` hand-offs the workflow allows: (state, trigger, holder kind)."""
    def holder(name):
        state = workflow.state(name)
        return None if state.final or state.deadline is None else state.owner

    def next_hand_offs(state):
        """The hand-offs reachable from ``state`` through moves that keep the case with its holder."""
        kind, seen, todo, found = holder(state), {state}, [state], set()
        while todo:
            for t in workflow.transitions_from(todo.pop()):
                if workflow.state(t.dest).final:
                    continue
                if holder(t.dest) != kind:
                    found.add((t.dest, t.trigger, holder(t.dest)))
                elif t.dest not in seen:
                    seen.add(t.dest)
                    todo.append(t.dest)
        return sorted(found)

    walks = [[(workflow.initial, None, holder(workflow.initial))]]
    for _ in range(length):
        walks = [w + [step] for w in walks for step in next_hand_offs(w[-1][0])]
    return walks


@pytest.mark.parametrize("language", ["de", "en"])
def test_no_two_notices_in_a_row_read_alike_whatever_way_the_case_goes(language):
    """The customer's subjects, on every path of the service case, with the same day and names
    throughout (the hardest case): one hand-off never reads like the one before."""
    texts = case_notifications.TEXTS[language]
    fields = dict(case_id=1, party="Elektro Schmidt", day="04.03.2026", due="04.03.2026, 10:00")
    for walk in hand_off_walks(SERVICE_CASE, 4):
        subjects = [case_notifications.words_for(state, trigger, kind, texts)[0].format(**fields)
                    for state, trigger, kind in walk[1:]]
        assert all(a != b for a, b in zip(subjects, subjects[1:])), walk


def test_words_that_repeat_themselves_are_told_as_an_update(world, clock, monkeypatch):
    """A host that words its notices tersely (a language of its own) still never sends the same
    subject twice in a row: the second one says it is an update."""
    terse = {key: ("Case {case_id}: news", "Something changed.") for key in case_notifications.TEXTS["en"]
             if isinstance(case_notifications.TEXTS["en"][key], tuple)}
    terse.update({k: v for k, v in case_notifications.TEXTS["en"].items() if not isinstance(v, tuple)})
    monkeypatch.setitem(case_notifications.TEXTS, "xx", terse)
    world.crm.customers.update(world.customer.id, language="xx", by=world.service.id)
    case = world.open_case()
    world.to_manufacturer(case.id)
    world.fire(case.id, "take_over", world.service, reason="the hotline is closed")
    world.crm.outbox.queue_notices()
    world.fire(case.id, "retry_manufacturer", world.service)
    subjects = [n.subject for n in told(world, case.id)]
    assert subjects == [f"Case {case.id}: news", f"Case {case.id}: news (update 4)", f"Case {case.id}: news"]


def test_a_customers_zone_and_language_are_checked_where_they_are_given(world, tmp_path):
    """Given by hand or in the customer list, a zone must be one (IANA) and a language a code."""
    from dealercrm import ValidationError
    crm = world.crm
    with pytest.raises(ValidationError, match="IANA"):
        crm.customers.update(world.customer.id, time_zone="Mars/Olympus_Mons", by=world.service.id)
    with pytest.raises(ValidationError, match="two-letter"):
        crm.customers.update(world.customer.id, language="Deutsch", by=world.service.id)
    report = crm.imports.run_text("external_id,name,time_zone,language\nK-7,Joe Miller,America/New_York,EN\n",
                                  by=world.service.id)
    assert report.imported == 1
    [joe] = crm.customers.list(external_id="K-7", by=world.service.id)
    assert (joe.time_zone, joe.language) == ("America/New_York", "en")
