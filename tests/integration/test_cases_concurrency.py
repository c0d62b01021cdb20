"""Real threads, real databases: one case, one decision.

The manufacturer rejects while the dealer, tired of waiting, takes the case over —
at the same moment, both having read version 3. Exactly one of them wins; the other
is told the case moved on. Two deadline processors started together escalate every
overdue case once between them. Shown on a SQLite file (WAL) and on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from case_world import build_world, timeouts_of

from dealercrm import Conflict, DealerCrmError, TransitionNotAllowed, connect
from dealercrm.db.case_models import CaseEvent
from dealercrm.db.models import AuditRecord
from dealercrm.settings import Settings


@pytest.fixture
def apps(db_url, clock):
    """Three applications on one database, as three processes of a deployment would have."""
    made = [connect(db_url, clock=clock, settings=Settings()) for _ in range(3)]
    yield made
    for app in made:
        app.close()


def race(*calls):
    """Run the calls in threads released together; return each one's result or exception."""
    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i, call):
        barrier.wait()
        try:
            results[i] = call()
        except Exception as exc:  # noqa: BLE001 - the test inspects what came back
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results


def test_a_rejection_and_a_take_over_racing_on_one_version_have_exactly_one_winner(apps):
    home, dealer_app, maker_app = apps
    w = build_world(home, log=False)
    rounds = 6
    cases = []
    for i in range(rounds):
        case = w.open_case(f"race {i}")
        w.to_manufacturer(case.id)
        cases.append(case.id)
    fired_before = w.count(AuditRecord, AuditRecord.entity == "service_case", AuditRecord.operation.like("cases.fire:%"))
    outcomes = Counter()
    for case_id in cases:
        assert home.cases.get(case_id, by=home.system).version == 3
        reject = lambda c=case_id: maker_app.cases.fire(c, "reject", by=w.warranty_desk.id,  # noqa: E731
                                                         data={"reason": "not covered"}, expected_version=3)
        take = lambda c=case_id: dealer_app.cases.fire(c, "take_over", by=w.service.id,  # noqa: E731
                                                        data={"reason": "customer waiting"}, expected_version=3)
        results = race(reject, take)
        winners = [r for r in results if not isinstance(r, Exception)]
        losers = [r for r in results if isinstance(r, Exception)]
        assert len(winners) == 1 and len(losers) == 1, results
        assert isinstance(losers[0], Conflict), losers[0]
        assert f"case {case_id}" in str(losers[0]) and "version 3" in str(losers[0])
        outcomes[winners[0].trigger] += 1
        case = home.cases.get(case_id, by=home.system)
        assert (case.state, case.version) == ("dealer_decision", 4)
        history = home.cases.history(case_id, by=home.system)
        assert [h.version for h in history] == [1, 2, 3, 4] and history[-1].trigger == winners[0].trigger
    assert sum(outcomes.values()) == rounds
    fired_rows = w.count(AuditRecord, AuditRecord.entity == "service_case", AuditRecord.operation.like("cases.fire:%"))
    assert fired_rows - fired_before == rounds  # one transition audit row per winner, none per loser


def test_the_same_trigger_fired_twice_at_once_moves_the_case_once(apps):
    home, first, second = apps
    w = build_world(home, log=False)
    case = w.open_case()
    results = race(lambda: first.cases.fire(case.id, "start_diagnosis", by=w.service.id),
                   lambda: second.cases.fire(case.id, "start_diagnosis", by=w.owner.id))
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1, results
    [loser] = [r for r in results if isinstance(r, Exception)]
    assert isinstance(loser, (Conflict, TransitionNotAllowed)) and f"case {case.id}" in str(loser)
    assert home.cases.get(case.id, by=home.system).version == 2
    assert w.count(CaseEvent, CaseEvent.case_id == case.id) == 2


def test_two_ticks_started_together_escalate_each_of_fifty_cases_exactly_once(apps, clock):
    home, first, second = apps
    w = build_world(home, log=False)
    cases = [w.open_case(f"case {i}").id for i in range(50)]
    for case_id in cases[:10]:
        w.to_manufacturer(case_id)
    clock.advance(days=7)
    reports = race(lambda: first.cases.tick(batch_size=5), lambda: second.cases.tick(batch_size=5))
    for report in reports:
        assert not isinstance(report, Exception), report
        assert report.failed == [], report.failed
    assert sum(r.fired for r in reports) == 50
    per_case = Counter(t.case_id for t in timeouts_of(home))
    assert per_case == Counter({c: 1 for c in cases})
    assert home.cases.tick().fired == 0


def test_a_user_firing_while_tick_runs_never_loses_either_change(apps, clock):
    home, ticker, desk = apps
    w = build_world(home, log=False)
    cases = [w.open_case(f"case {i}").id for i in range(20)]
    clock.advance(days=1)

    def dealer_works():
        done = []
        for case_id in cases:
            try:
                desk.cases.fire(case_id, "withdraw", by=w.service.id, data={"reason": "solved on the phone"})
                done.append(case_id)
            except DealerCrmError:
                pass  # the tick moved it first: withdraw from its new state
                desk.cases.fire(case_id, "withdraw", by=w.service.id, data={"reason": "solved on the phone"})
                done.append(case_id)
        return done

    report, withdrawn = race(lambda: ticker.cases.tick(batch_size=3), dealer_works)
    assert not isinstance(report, Exception) and not isinstance(withdrawn, Exception), (report, withdrawn)
    assert sorted(withdrawn) == cases
    for case_id in cases:
        case = home.cases.get(case_id, by=home.system)
        history = home.cases.history(case_id, by=home.system)
        assert case.state == "withdrawn" and case.version == len(history)
        assert [h.version for h in history] == list(range(1, len(history) + 1))
    assert report.fired + len(report.failed) <= 20
    assert home.cases.tick().fired == 0
