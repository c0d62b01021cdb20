"""The customer's one timeline: what passed with them, and where their cases went.

Interactions (calls, messages, replies, what rules did) are rows of their own. A case's
hand-offs are not written twice: they are read from the case's history (``case_event``),
so a transition commits exactly what it did before (its case, history and audit row) and
the timeline can never tell another story than the case. A hand-off is the opening of a
case, a change of who holds it (another party, or the customer's turn), and its end;
its line is worded in ``[dealercrm] language`` (German or English).

The owning dealer reads the timeline (``dealercrm.access``); the hand-offs it shows are
of the cases that dealer may see.
"""

from __future__ import annotations

from datetime import datetime

import attrs
from sqlalchemy import and_, select

from ..access import case_scope
from ..db.case_models import Case, CaseEvent
from ..db.models import Interaction, Party
from .case_events import owner_kind

#: how many history rows of one customer's cases are read for the timeline, newest first
MAX_CASE_EVENTS = 5000
_E, _BEFORE = CaseEvent.__table__.alias("e"), CaseEvent.__table__.alias("before")
_HANDOFF_KINDS = ("opened", "transition", "timeout")


@attrs.frozen
class TimelineEntry:
    """One line of the timeline. ``kind`` is ``"interaction"`` (``id`` is the interaction's)
    or ``"hand_off"`` (``id`` is the case history row's; ``state``, ``owner_kind``,
    ``owner_party_id`` and ``due_at`` say where the case went and until when)."""

    kind: str
    id: int
    customer_id: int
    at: datetime
    channel: str
    direction: str
    summary: str
    personal: bool = False
    actor_id: int | None = None
    case_id: int | None = None
    task_id: int | None = None
    state: str | None = None
    owner_kind: str | None = None
    owner_party_id: int | None = None
    due_at: datetime | None = None
    #: interactions: the company's contact person it was with (their buyer), if named
    contact_person_id: int | None = None


def of_interaction(row: Interaction) -> TimelineEntry:
    return TimelineEntry("interaction", row.id, row.customer_id, row.at, row.channel, row.direction, row.summary,
                         row.personal, row.actor_id, row.case_id, row.task_id,
                         contact_person_id=row.contact_person_id)


def timeline(uow, customer_id: int, limit: int, offset: int = 0) -> list[TimelineEntry]:
    """The customer's timeline, newest first: interactions and hand-offs merged."""
    wanted = limit + offset
    interactions = [of_interaction(row) for row in uow.session.scalars(
        select(Interaction).where(Interaction.customer_id == customer_id)
        .order_by(Interaction.at.desc(), Interaction.id.desc()).limit(wanted))]
    entries = interactions + hand_offs(uow, customer_id)[:wanted]
    entries.sort(key=lambda e: (e.at, e.kind == "interaction", e.id), reverse=True)
    return entries[offset:offset + limit]


def hand_offs(uow, customer_id: int) -> list[TimelineEntry]:
    """The hand-offs of the customer's cases ``uow``'s actor may see, newest first."""
    query = (select(_E.c.id, _E.c.case_id, _E.c.kind, _E.c.trigger, _E.c.to_state, _E.c.actor_id,
                    _E.c.owner_party_id, _E.c.due_at, _E.c.at, Case.workflow, Party.name.label("party"),
                    _BEFORE.c.to_state.label("before_state"), _BEFORE.c.owner_party_id.label("before_party_id"))
             .join(Case, Case.id == _E.c.case_id)
             .outerjoin(_BEFORE, and_(_BEFORE.c.case_id == _E.c.case_id, _BEFORE.c.version == _E.c.version - 1))
             .outerjoin(Party, Party.id == _E.c.owner_party_id)
             .where(Case.customer_id == customer_id, case_scope(uow.principal), _E.c.kind.in_(_HANDOFF_KINDS))
             .order_by(_E.c.at.desc(), _E.c.id.desc()).limit(MAX_CASE_EVENTS))
    out = []
    language = uow.crm.settings.language
    for row in uow.connection.execute(query):
        compiled = uow.crm.workflows.get(row.workflow)
        flow = compiled.workflow if compiled is not None else None
        if flow is None or not flow.has_state(row.to_state):
            continue  # a workflow no longer loaded: its history stays in the case, not read here
        state = flow.state(row.to_state)
        kind = owner_kind(state)
        if row.kind != "opened" and not state.final:
            before = owner_kind(flow.state(row.before_state)) if flow.has_state(row.before_state or "") else None
            if (row.before_party_id, before) == (row.owner_party_id, kind):
                continue  # the same holder moved on: no hand-off
        out.append(TimelineEntry("hand_off", row.id, customer_id, row.at, "system", "internal",
                                 describe(row, state.final, kind, language), False, row.actor_id, row.case_id,
                                 state=row.to_state, owner_kind=kind,
                                 owner_party_id=None if state.final else row.owner_party_id,
                                 due_at=row.due_at))
    return out


#: the hand-off lines in ``[dealercrm] language``; states and triggers keep the workflow's names
WORDS = {
    "en": {"customer": "the customer's turn", "with": "with {party} ({kind})", "opened": "case {case} opened: {who}, {state}",
           "ended": "case {case} ended: {trigger} -> {state}", "moved": "case {case}: {trigger}{late} -> {who}, {state}",
           "late": " (deadline passed)"},
    "de": {"customer": "der Kunde ist am Zug", "with": "bei {party} ({kind})", "opened": "Fall {case} eröffnet: {who}, {state}",
           "ended": "Fall {case} beendet: {trigger} -> {state}", "moved": "Fall {case}: {trigger}{late} -> {who}, {state}",
           "late": " (Frist verstrichen)"},
}


def describe(row, final: bool, kind: str | None, language: str = "en") -> str:
    """One line, in the words of the case's history: the trigger, where it went, to whom."""
    words = WORDS.get(language, WORDS["en"])
    who = words["customer"] if kind == "customer" else words["with"].format(party=row.party or "?", kind=kind)
    if row.kind == "opened":
        return words["opened"].format(case=row.case_id, who=who, state=row.to_state)
    if final:
        return words["ended"].format(case=row.case_id, trigger=row.trigger, state=row.to_state)
    late = words["late"] if row.kind == "timeout" else ""
    return words["moved"].format(case=row.case_id, trigger=row.trigger, late=late, who=who, state=row.to_state)
