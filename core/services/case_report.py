"""Who held a case, for how long, and who let deadlines pass.

Computed from the append-only case history: each history row starts a holding period
for the owner it names, which ends at the next row (or now, for an open case). A
timeout row is a deadline missed by the owner of the period it ends. States the
customer owns are counted as the customer's time, not the dealer's, even though the
dealer speaks for the customer there.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime, timedelta

import attrs
from sqlalchemy import select

from ..db.case_models import Case, CaseEvent
from ..db.models import Party
from . import case_returns, warranty
from .case_rules import is_pause

CUSTOMER = "customer"


@attrs.frozen
class Period:
    holder: str  # "party:<id>" or "customer"
    party_id: int | None
    state: str
    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start


@attrs.frozen
class CaseTimeline:
    case: Case
    events: list[CaseEvent]
    periods: list[Period]
    held: dict[str, timedelta]
    waited: timedelta  # what the customer waited, end to end
    waited_on_customer: timedelta
    warranty: str = "no asset"  # as judged when the case opened ("in warranty (until 2028-02-24)")
    returned: str | None = None  # the RMA, the old unit's return and the dealer's credit, if any


@attrs.frozen
class PartyRow:
    party_id: int
    name: str
    kind: str
    cases_held: int
    median_held: timedelta | None
    deadlines_missed: int


#: history rows that move the case; facts, return steps and credits do not change hands
MOVES = ("opened", "transition", "timeout")


def periods_of(events: list, end: datetime, owner_of_state) -> list[Period]:
    moves = [e for e in events if e.kind in MOVES]
    out = []
    for this, nxt in zip(moves, [*moves[1:], None]):
        if nxt is None and this.owner_party_id is None:  # a final state: nobody holds it
            continue
        kind = owner_of_state(this.to_state)
        holder = CUSTOMER if kind == CUSTOMER else f"party:{this.owner_party_id}"
        out.append(Period(holder, None if kind == CUSTOMER else this.owner_party_id, this.to_state, this.at,
                          nxt.at if nxt else end))
    return out


def resolved_by(events: list, wf) -> int | None:
    """The party that resolved the case: the one holding it when its own move (not the clock's)
    took the case to the customer's confirmation or to a final state — the technician who
    reported it fixed, the dealer who delivered the replacement, repaired, refunded or closed it
    by agreement. A reopened case is resolved by whoever resolved it last; None while nobody has.
    A manufacturer that rejects, or lets its deadline pass, resolves nothing: the case went back
    to the dealer, who resolved it."""
    holder = resolver = None
    for e in events:
        if e.kind not in MOVES:
            continue
        dest = wf.state(e.to_state) if wf.has_state(e.to_state) else None
        if (e.kind == "transition" and holder is not None and dest is not None
                and (dest.final or (dest.owner == CUSTOMER and not is_pause(wf, dest)))):
            resolver = holder
        holder = e.owner_party_id if dest is not None and dest.owner not in (None, CUSTOMER) else None
    return resolver


def timeline(crm, case_id: int, *, by: int) -> CaseTimeline:
    """The case's history as periods each party held it, read as actor ``by`` may see it."""
    case, events = crm.cases.get(case_id, by=by), crm.cases.history(case_id, by=by)
    wf = crm.cases.workflow(case.workflow).workflow
    end = case.closed_at or crm.clock.now()
    periods = periods_of(events, end, lambda s: wf.state(s).owner)
    held: dict[str, timedelta] = defaultdict(timedelta)
    for p in periods:
        held[p.holder] += p.length
    waited = end - case.opened_at
    return CaseTimeline(case, events, periods, dict(held), waited, held.get(CUSTOMER, timedelta(0)),
                        warranty.describe(case.warranty_status, case.warranty_until), case_returns.describe(case))


def party_report(crm) -> list[PartyRow]:
    """Cases held, median time held and deadlines missed, per party (one pass over history)."""
    with crm.read(crm.system) as uow:
        parties = {p.id: p for p in uow.session.scalars(select(Party))}
        cases, closed = {}, {}
        for case_id, workflow, closed_at in uow.connection.execute(select(Case.id, Case.workflow, Case.closed_at)):
            cases[case_id], closed[case_id] = workflow, closed_at
        rows = uow.connection.execute(select(CaseEvent.case_id, CaseEvent.kind, CaseEvent.to_state,
                                             CaseEvent.owner_party_id, CaseEvent.at)
                                      .order_by(CaseEvent.case_id, CaseEvent.id)).all()
    now = crm.clock.now()
    lengths: dict[int, list[float]] = defaultdict(list)
    held_cases: dict[int, set[int]] = defaultdict(set)
    missed: dict[int, int] = defaultdict(int)
    by_case: dict[int, list] = defaultdict(list)
    for row in rows:
        by_case[row.case_id].append(row)
    for case_id, events in by_case.items():
        wf = crm.cases.workflow(cases[case_id]).workflow
        for p in periods_of(events, closed[case_id] or now, lambda s: wf.state(s).owner):
            if p.party_id is not None:
                lengths[p.party_id].append(p.length.total_seconds())
                held_cases[p.party_id].add(case_id)
        owner = None
        for e in events:
            if e.kind == "timeout" and owner is not None:
                missed[owner] += 1
            if e.kind in MOVES:
                owner = None if wf.state(e.to_state).owner == CUSTOMER else e.owner_party_id
    out = []
    for pid, party in sorted(parties.items()):
        if pid not in held_cases and pid not in missed:
            continue
        median = timedelta(seconds=statistics.median(lengths[pid])) if lengths[pid] else None
        out.append(PartyRow(pid, party.name, party.kind, len(held_cases[pid]), median, missed[pid]))
    return out
