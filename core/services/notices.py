"""Notices after commit, exactly once: what committed case events call for, queued afterwards.

A case transition commits the case, its history row (``case_event``) and its audit row,
and nothing else: no consent read, no outbox row, no scan of subscriptions in the
transaction every hand-off waits on. The messages it calls for — the customer told who
has the case now and until when, a subscriber's delivery — are queued here, from the
committed history row, by the dispatcher (``crm.outbox.dispatch()``, ``dealercrm
dispatch`` / ``worker``) and the deadline processor (``crm.cases.tick()``).

Exactly once: a history row is *unnoticed* (``noticed_at`` is NULL) until the
transaction that queued its notices marks it, in that same transaction. A process killed
after the transition's commit leaves the row unnoticed, and the next run queues its
notices; one killed while queueing leaves nothing (its transaction never committed) and
the next run starts over; a run that committed leaves nothing to do. Two producers never
take the same rows: SQLite admits one writer at a time (``BEGIN IMMEDIATE``), PostgreSQL
skips rows another producer has locked (``FOR UPDATE SKIP LOCKED``), and the marking
refuses a row already noticed.

The plugins see the domain events the case operation raised, derived again from the
history rows (``case_events.transition_events``, the function ``fire`` raises them with):
``dealercrm_queue_notices(events, uow)``, once per batch. If that raises, the batch is
rolled back and offered again event by event, each in a savepoint: an event whose notices
fail stays unnoticed (named in ``crm.plugin_failures``) and comes back next run, the others
go ahead. A batch in which every event fails ends the run (a broken plugin, not a broken
event: one batch of failures per run is told, not the whole backlog).
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
from sqlalchemy import and_, bindparam, select, update

from ..db.batches import padded
from ..db.case_models import Case, CaseEvent
from ..errors import Conflict, DealerCrmError, PluginError
from ..events import CaseFactRecorded, CaseOpened, Event
from .case_events import Holder, owner_kind, reopens, transition_events

log = logging.getLogger("dealercrm.notices")
HOOK = "dealercrm_queue_notices"
BATCH_SIZE = 200
EVENT, CASE = CaseEvent.__table__, Case.__table__
_E, _BEFORE = EVENT.alias("e"), EVENT.alias("before")

#: unnoticed history rows with what deriving their events needs: the case's customer and
#: workflow, and who held the case before (the row of the previous version)
_UNNOTICED = (
    select(_E.c.id, _E.c.case_id, _E.c.kind, _E.c.trigger, _E.c.from_state, _E.c.to_state, _E.c.actor_id,
           _E.c.owner_party_id, _E.c.due_at, _E.c.at, _E.c.data, _E.c.version, CASE.c.customer_id, CASE.c.workflow,
           _BEFORE.c.owner_party_id.label("before_party_id"), _BEFORE.c.due_at.label("before_due_at"))
    .join(CASE, CASE.c.id == _E.c.case_id)
    .outerjoin(_BEFORE, and_(_BEFORE.c.case_id == _E.c.case_id, _BEFORE.c.version == _E.c.version - 1))
    .where(_E.c.noticed_at.is_(None))
    .order_by(_E.c.id))
_MARK = (update(EVENT).where(EVENT.c.id.in_(bindparam("ids", expanding=True)), EVENT.c.noticed_at.is_(None))
         .values(noticed_at=bindparam("now")))


@attrs.define
class NoticeReport:
    noticed: int = 0  # case events whose notices were queued (or that called for none)
    batches: int = 0
    #: (case event id, why): left unnoticed, offered again at the next run
    failed: list[tuple[int, str]] = attrs.field(factory=list)

    def summary(self) -> str:
        failed = f", {len(self.failed)} left for the next run" if self.failed else ""
        return f"{self.noticed} case events noticed in {self.batches} batches{failed}"


def unnoticed(batch_size: int, exclude: set[int], postgres: bool):
    query = _UNNOTICED.limit(batch_size)
    if exclude:
        query = query.where(_E.c.id.not_in(exclude))
    return query.with_for_update(of=_E, skip_locked=True) if postgres else query


def produce(crm, *, batch_size: int = BATCH_SIZE, max_batches: int | None = None) -> NoticeReport:
    """Queue the notices of every unnoticed case event, ``batch_size`` events per transaction."""
    report, failed = NoticeReport(), set[int]()
    postgres = crm.engine.dialect.name == "postgresql"
    careful = False  # a savepoint per event: only to redo a batch in which one failed
    while max_batches is None or report.batches < max_batches:
        with crm.uow(crm.system, "notices.queue") as uow:
            rows = uow.connection.execute(unnoticed(batch_size, failed, postgres)).all()
            if not rows:
                break
            derived = [(row, derive(crm, uow.connection, row)) for row in rows]
            if careful:
                done = _offer_each(crm, uow, derived, failed, report)
            else:
                try:
                    _offer(crm, uow, [event for _, events in derived for event in events])
                except DealerCrmError:
                    careful = True  # leaving without commit rolls the batch back; redo it event by event
                    continue
                done = [row.id for row in rows]
            _mark(uow, done)
            uow.commit()
        careful = False
        report.noticed += len(done)
        report.batches += 1
        if not done:  # every event of a batch failed: a plugin is broken, not an event; try next run
            break
    return report


def _offer(crm, uow, events: list[Event]) -> None:
    if events:
        crm.plugins.checked_call(HOOK, events=events, uow=uow)
        uow.check_events()  # inside the savepoint, when there is one: a veto stays with its event


def _offer_each(crm, uow, derived, failed: set[int], report: NoticeReport) -> list[int]:
    done = []
    for row, events in derived:
        mark, savepoint = len(uow.events), uow.connection.begin_nested()
        try:
            _offer(crm, uow, events)
            savepoint.commit()
            done.append(row.id)
        except DealerCrmError as exc:
            savepoint.rollback()
            uow.forget_events(mark)
            uow.session.expunge_all()  # rows a plugin added before failing went with the savepoint
            failed.add(row.id)
            report.failed.append((row.id, str(exc)))
            crm.plugin_failures.append(exc if isinstance(exc, PluginError) else PluginError("dealercrm", HOOK, exc))
    return done


def _mark(uow, ids: list[int]) -> None:
    if not ids:
        return
    marked = uow.connection.execute(_MARK, {"ids": padded(ids), "now": uow.now}).rowcount
    if marked != len(ids):  # another producer got there first: none of this batch may count
        raise Conflict(f"case events {ids[0]}..{ids[-1]}: {len(ids) - marked} already noticed by another run")


# -- the events, derived again from the committed history -----------------------------------------


def derive(crm, conn, row: Any) -> list[Event]:
    """The domain events the operation that wrote history row ``row`` raised for it."""
    base: dict[str, Any] = dict(case_id=row.case_id, at=row.at, actor_id=row.actor_id)
    if row.kind == "opened":
        return [CaseOpened(**base, customer_id=row.customer_id, workflow=row.workflow, state=row.to_state,
                           owner_party_id=row.owner_party_id, due_at=row.due_at,
                           service_level=(row.data or {}).get("service_level") or "standard")]
    if row.kind == "fact":
        facts: list[Event] = [CaseFactRecorded(**base, key=key, value=value) for key, value in (row.data or {}).items()]
        return facts[:1]
    if row.kind not in ("transition", "timeout"):
        return []
    wf = crm.workflows.get(row.workflow)
    if wf is None or not (wf.workflow.has_state(row.from_state) and wf.workflow.has_state(row.to_state)):
        log.warning("case event %s of case %s: %s/%s -> %s is not in the workflows loaded now; no notices",
                    row.id, row.case_id, row.workflow, row.from_state, row.to_state)
        return []
    source, dest = wf.workflow.state(row.from_state), wf.workflow.state(row.to_state)
    pauses = crm.cases.pauses(wf)
    timeout = row.kind == "timeout"
    reopened = reopens(source, dest, timeout=timeout, paused_source=pauses(source), resumed=False)
    return transition_events(
        **base, customer_id=row.customer_id, trigger=row.trigger, source=source.name, dest=dest,
        before=Holder(owner_kind(source), row.before_party_id, row.before_due_at),
        after=Holder(owner_kind(dest), row.owner_party_id, row.due_at), version=row.version,
        data=dict(row.data or {}), timeout=timeout, reopened=reopened,
        reopen_count=_reopens_until(crm, conn, wf, row) if reopened else 0)


def _reopens_until(crm, conn, wf, row) -> int:
    """How often the case was reopened up to and including ``row`` (rare: only asked for a reopen)."""
    pauses, flow = crm.cases.pauses(wf), wf.workflow
    earlier = conn.execute(select(EVENT.c.from_state, EVENT.c.to_state).where(
        EVENT.c.case_id == row.case_id, EVENT.c.id <= row.id, EVENT.c.kind == "transition"))
    return sum(1 for source, dest in earlier if flow.has_state(source) and flow.has_state(dest) and reopens(
        flow.state(source), flow.state(dest), timeout=False, paused_source=pauses(flow.state(source)), resumed=False))
