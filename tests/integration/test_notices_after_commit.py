"""The customer hears of every hand-off exactly once — queued after the hand-off committed.

A transition's transaction holds the case, its history row and its audit row. The
customer's notice ("your case is now with the manufacturer, due by …") is queued
afterwards from the committed history row by the dispatcher (or the tick), in a
transaction that also marks the row as noticed. So a process killed right after the
commit, or killed while queueing, leaves the dispatcher exactly one notice to queue per
hand-off; two producers at once never queue one twice; consent is decided when the
notice is queued (and again when it is sent); and a plugin whose notices fail holds up
only its own event.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter

import attrs
import pytest
from case_world import build_world, copy_world, plugin, with_mail
from sqlalchemy import func, select

from dealercrm import CaseHandedOver, PluginError, connect, hookimpl
from dealercrm.audit import jsonable
from dealercrm.db.case_models import CaseEvent
from dealercrm.db.outbox_models import OutboxMessage


@pytest.fixture
def world(tmp_path, clock):
    world = copy_world(tmp_path, clock)
    yield world
    world.crm.close()


def notices(crm) -> Counter:
    """Hand-off notices in the outbox, per case."""
    with crm.read(crm.system) as uow:
        return Counter(uow.connection.execute(select(OutboxMessage.case_id).where(
            OutboxMessage.origin == "case_notifications")).scalars())


def hand_offs(crm) -> list[int]:
    """The cases whose hand-off to the manufacturer was committed."""
    with crm.read(crm.system) as uow:
        return sorted(uow.connection.execute(select(CaseEvent.case_id).where(
            CaseEvent.trigger == "forward_to_manufacturer")).scalars())


def unnoticed(crm) -> int:
    with crm.read(crm.system) as uow:
        return uow.connection.execute(select(func.count()).where(CaseEvent.noticed_at.is_(None))).scalar_one()


def test_a_hand_off_commits_no_notice_and_the_dispatcher_queues_it_once(world):
    case = world.open_case()
    world.to_manufacturer(case.id)
    assert notices(world.crm) == Counter() and unnoticed(world.crm) == 3  # opened, diagnosis, hand-off
    report = world.crm.outbox.dispatch()
    assert report.noticed == 3 and notices(world.crm) == Counter({case.id: 1})
    [told] = [m for m in world.crm.outbox.of_customer(world.customer.id, by=world.crm.system)]
    assert told.subject == f"Ihr Fall {case.id}: jetzt beim Hersteller Brioche Hausgeräte, Antwort bis 04.03.2026"
    assert world.crm.outbox.dispatch().noticed == 0 and notices(world.crm) == Counter({case.id: 1})
    assert unnoticed(world.crm) == 0


def test_consent_is_decided_when_the_notice_is_queued(world):
    case = world.open_case()
    world.to_manufacturer(case.id)
    world.crm.consents.revoke(world.customer.id, "email", "service", source="phone call", by=world.crm.system)
    world.crm.outbox.queue_notices()
    [told] = world.crm.outbox.of_customer(world.customer.id, by=world.crm.system)
    assert (told.status, told.reason) == ("suppressed", "service messages on email were revoked")


# -- a process killed ------------------------------------------------------------------------

CHILD = textwrap.dedent('''
    import json, sys, time
    from datetime import datetime

    import dealercrm
    from dealercrm.settings import Settings

    args = json.loads(sys.argv[1])

    class Stall:
        """Queues nothing and never returns: the process is killed while queueing."""

        @dealercrm.hookimpl(trylast=True)
        def dealercrm_queue_notices(self, events, uow):
            print("queueing", flush=True)
            time.sleep(600)

    crm = dealercrm.connect(args["url"], clock=dealercrm.ManualClock(datetime.fromisoformat(args["now"])),
                            settings=Settings(plugins=args["plugins"]), plugins=[Stall()] if args["stall"] else [])
    for i, case_id in enumerate(args["cases"]):
        crm.cases.fire(case_id, "start_diagnosis", by=args["service"])
        crm.cases.fire(case_id, "forward_to_manufacturer", by=args["service"])
        print(f"committed {case_id}", flush=True)
        if i == 1:
            report = crm.outbox.queue_notices()  # some notices are queued before the kill
            print(f"noticed {report.noticed}", flush=True)
    time.sleep(600)
''')


def run_until(tmp_path, world, *, stall: bool, wait_for: str, cases: list[int]) -> list[str]:
    """Run the child on the world's database, read its lines until ``wait_for``, SIGKILL it."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    args = dict(url=str(world.crm.engine.url), now=world.crm.clock.now().isoformat(), cases=cases,
                service=world.service.id, stall=stall, plugins=world.crm.settings.plugins)  # the shop's e-mail
    child = subprocess.Popen([sys.executable, str(script), json.dumps(args)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in child.stdout:
            lines.append(line.strip())
            if line.startswith(wait_for):
                break
        else:
            pytest.fail(f"the child ended early: {lines} {child.stderr.read()}")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    return lines


def test_a_process_killed_after_committing_hand_offs_leaves_each_notice_to_the_dispatcher_once(world, tmp_path):
    cases = [world.open_case(f"case {i}").id for i in range(8)]
    world.crm.outbox.queue_notices()  # the openings: nothing left over from before
    lines = run_until(tmp_path, world, stall=False, wait_for="committed " + str(cases[4]), cases=cases)
    assert "noticed 4" in lines  # two cases' events (diagnosis, hand-off) were noticed before the kill
    committed = hand_offs(world.crm)
    assert len(committed) >= 5 and notices(world.crm) == Counter(cases[:2])
    world.crm.outbox.dispatch()
    assert notices(world.crm) == Counter(committed)  # each committed hand-off told exactly once
    world.crm.outbox.dispatch()
    assert notices(world.crm) == Counter(committed) and unnoticed(world.crm) == 0


def test_a_process_killed_while_queueing_notices_leaves_them_to_the_dispatcher_once(world, tmp_path):
    cases = [world.open_case(f"case {i}").id for i in range(3)]
    run_until(tmp_path, world, stall=True, wait_for="queueing", cases=cases)
    assert hand_offs(world.crm) == cases[:2] and notices(world.crm) == Counter()  # its queueing never committed
    world.crm.outbox.dispatch()
    assert notices(world.crm) == Counter(cases[:2])


# -- two producers at once ---------------------------------------------------------------------


def _slow(events, uow):
    time.sleep(0.05)  # long enough for the other producer to try the same events meanwhile


def test_two_producers_at_once_never_queue_a_notice_twice(db_url, clock):
    crm = connect(db_url, clock=clock, settings=with_mail(),
                  plugins={"slow": plugin("slow", dealercrm_queue_notices=hookimpl(trylast=True)(_slow))})
    crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
    world = build_world(crm)
    cases = [world.open_case(f"case {i}").id for i in range(12)]
    for case_id in cases:
        world.to_manufacturer(case_id)
    other = connect(db_url, clock=clock, settings=with_mail(), migrate=False,
                    plugins={"slow": plugin("slow", dealercrm_queue_notices=hookimpl(trylast=True)(_slow))})
    start, reports = threading.Barrier(2), []

    def produce(app):
        start.wait()
        reports.append(app.outbox.queue_notices(batch_size=5))

    try:
        threads = [threading.Thread(target=produce, args=(app,)) for app in (crm, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert sum(r.noticed for r in reports) == 12 * 3  # every event once: opened, diagnosis, hand-off
        assert notices(crm) == Counter(cases)
    finally:
        other.close()
        crm.close()


# -- a failing plugin holds up only its own event ------------------------------------------------


def test_an_event_whose_notices_fail_waits_for_the_next_run_and_the_others_go_ahead(world):
    first, second = world.open_case("first"), world.open_case("second")

    def refuse(events, uow):
        if any(isinstance(e, CaseHandedOver) and e.case_id == first.id for e in events):
            raise RuntimeError("the letterhead service is down")

    world.crm.register(plugin("letterhead", dealercrm_queue_notices=refuse), "letterhead")
    world.to_manufacturer(first.id)
    world.to_manufacturer(second.id)
    report = world.crm.outbox.queue_notices()
    assert notices(world.crm) == Counter({second.id: 1}) and unnoticed(world.crm) == 1
    assert [why for _, why in report.failed] == ["plugin 'letterhead' failed in dealercrm_queue_notices: "
                                                 "RuntimeError: the letterhead service is down"]
    failure = world.crm.plugin_failures[-1]
    assert (failure.plugin, failure.hook) == ("letterhead", "dealercrm_queue_notices")
    assert world.crm.outbox.queue_notices().noticed == 0  # still failing: still waiting
    world.crm.unregister("letterhead")
    assert world.crm.outbox.queue_notices().noticed == 1
    assert notices(world.crm) == Counter({first.id: 1, second.id: 1})


# -- the events offered after commit are those the operation raised ----------------------------------


def test_the_events_offered_after_commit_are_the_ones_the_operations_raised(world, clock):
    offered = []
    world.crm.register(plugin("recorder", dealercrm_queue_notices=lambda events, uow: offered.extend(events)),
                       "recorder")
    w = world
    case = w.open_case()
    w.fire(case.id, "start_diagnosis", w.service)
    for _ in range(2):  # reopened twice: the count is told right each time
        w.fire(case.id, "solve_by_advice", w.service, note="use the 60 degree programme")
        w.fire(case.id, "still_broken", w.service, note="still grey")
    w.fire(case.id, "ask_customer", w.service, question="does it smell of burning?")
    w.fire(case.id, "customer_replied", w.service)  # back from the pause: not a reopen
    w.crm.cases.record_fact(case.id, "customer_agreed_late_slot", True, by=w.service.id)
    w.fire(case.id, "forward_to_manufacturer", w.service)
    clock.advance(days=7)
    w.crm.cases.tick()  # escalated to the dealer, and the notices queued
    w.fire(case.id, "withdraw", w.service, reason="the customer bought a new one")
    w.crm.outbox.queue_notices()
    raised = [e for e in w.log.events if type(e).__name__.startswith("Case")]

    def comparable(event):
        fields = attrs.asdict(event, recurse=False)
        if "data" in fields:
            fields["data"] = {k: jsonable(v) for k, v in fields["data"].items()}  # stored as JSON
        return type(event).__name__, fields

    assert [comparable(e) for e in offered] == [comparable(e) for e in raised]
    assert [e.reopen_count for e in offered if type(e).__name__ == "CaseReopened"] == [1, 2]


def test_a_broken_plugin_is_told_once_per_run_not_for_the_whole_backlog(world):
    def broken(events, uow):
        raise RuntimeError("misconfigured")

    world.crm.register(plugin("broken", dealercrm_queue_notices=broken), "broken")
    for _ in range(3):
        world.to_manufacturer(world.open_case().id)
    report = world.crm.outbox.queue_notices(batch_size=2)
    assert (report.noticed, len(report.failed)) == (0, 2) and unnoticed(world.crm) == 9  # one batch tried
    world.crm.unregister("broken")
    assert world.crm.outbox.queue_notices(batch_size=2).noticed == 9
