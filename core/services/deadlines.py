"""The deadline processor: every overdue open case escalates, exactly once.

``dealercrm tick`` selects overdue cases in batches and fires each one's timeout
transition as the system, each batch one transaction, each case in a savepoint so a
plugin refusing one case does not hold up the others. A case fired in this tick is
not picked again (its ``state_entered_at`` is not before the tick started); a case
fired by a concurrent tick no longer matches (PostgreSQL skips rows another tick has
locked; SQLite admits one writer at a time). A crash loses at most the batch in
flight, which the next tick fires: nothing twice, nothing forgotten. A refused case is
tried again on the next tick, and its dealer gets one task naming it meanwhile
(``refused_timeouts``): an overdue case never waits in silence.

A batch is decided case by case and written set-based: one executemany each for the
version-checked UPDATEs, the history rows and the audit rows. Once the overdue cases
are escalated, the tick queues the notices the escalations call for (``notices``), after
their commit, exactly once.
"""

from __future__ import annotations

import attrs
from sqlalchemy import select

from ..db.case_models import Case
from ..errors import DealerCrmError
from .notices import produce
from .refused_timeouts import alert_dealer

CASE = Case.__table__


@attrs.define
class TickReport:
    fired: int = 0
    batches: int = 0
    failed: list[tuple[int, str]] = attrs.field(factory=list)
    #: (case id, task id): the dealers told of a refused escalation in this tick
    alerted: list[tuple[int, int]] = attrs.field(factory=list)
    #: case events whose notices were queued after the escalations (``notices.produce``)
    noticed: int = 0

    def summary(self) -> str:
        alerted = f", {len(self.alerted)} dealers alerted" if self.alerted else ""
        return (f"{self.fired} overdue cases escalated in {self.batches} batches, {len(self.failed)} failed{alerted}; "
                f"{self.noticed} case events noticed")


def overdue(now, started, batch_size: int, exclude: set[int], postgres: bool):
    query = (select(CASE).where(CASE.c.closed_at.is_(None), CASE.c.due_at <= now, CASE.c.state_entered_at < started)
             .order_by(CASE.c.due_at, CASE.c.id).limit(batch_size))
    if exclude:
        query = query.where(CASE.c.id.not_in(exclude))
    return query.with_for_update(skip_locked=True) if postgres else query


def tick(service, batch_size: int = 200, on_progress=None) -> TickReport:
    report, failed_ids = TickReport(), set[int]()
    started = service.crm.clock.now()
    postgres = service.crm.engine.dialect.name == "postgresql"
    careful = False  # a savepoint per case: only to redo a batch in which a case was refused
    while True:
        with service.crm.uow(service.crm.system, "cases.tick") as uow:
            conn = uow.connection
            rows = conn.execute(overdue(uow.now, started, batch_size, failed_ids, postgres)).mappings().all()
            if not rows:
                break
            if not careful and not _escalate_all(service, uow, rows):
                careful = True  # leaving without commit rolls the batch back; redo it case by case
                continue
            fired = _escalate_each(service, uow, conn, rows, failed_ids, report) if careful else len(rows)
            uow.commit()
        careful = False
        report.fired += fired
        report.batches += 1
        if on_progress:
            on_progress(len(rows))
    report.noticed = produce(service.crm, batch_size=batch_size).noticed
    return report


def _note(case: dict) -> str:
    return f"deadline {case['due_at']:%Y-%m-%d %H:%M} UTC passed"


def _escalate_all(service, uow, rows) -> bool:
    """The common case, without a savepoint per case: every escalation decided, then written
    together; False as soon as one case is refused, and the caller rolls the whole batch back."""
    try:
        decided = []
        for row in rows:
            case = dict(row)
            trigger = service.workflow(case["workflow"]).timeout_trigger(case["state"])
            decided.append(service.decide(uow, case["id"], trigger, case=case, timeout=True, note=_note(case)))
        service.write(uow, decided)
        uow.check_events()
    except DealerCrmError:
        return False
    return True


def _escalate_each(service, uow, conn, rows, failed_ids: set[int], report: TickReport) -> int:
    """Each case in its own savepoint: a refused case is reported and the others go on."""
    fired = 0
    for row in rows:
        case = dict(row)
        mark, savepoint = len(uow.events), conn.begin_nested()
        try:
            # inside the try: a case whose workflow or state a removed plugin took
            # away is reported, and must not stop every other escalation behind it
            trigger = service.workflow(case["workflow"]).timeout_trigger(case["state"])
            service.fire_in(uow, case["id"], trigger, case=case, timeout=True, note=_note(case))
            uow.check_events()
            savepoint.commit()
            fired += 1
        except DealerCrmError as exc:
            savepoint.rollback()
            uow.forget_events(mark)
            uow.session.expunge_all()  # rows a plugin added before the refusal went with the savepoint
            failed_ids.add(case["id"])
            report.failed.append((case["id"], str(exc)))
            task_id = alert_dealer(uow, case, str(exc))
            if task_id is not None:
                report.alerted.append((case["id"], task_id))
    return fired
