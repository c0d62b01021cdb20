"""What a case transition means as domain events: one pure function, two callers.

``crm.cases.fire`` raises these events inside the transition's transaction (for
``dealercrm_check_event``, rules and, after commit, ``dealercrm_handle_event``). The
notices producer (``dealercrm.services.notices``) derives the very same events again
from the committed ``case_event`` rows, after the commit, for ``dealercrm_queue_notices``.
Both go through ``transition_events``, so the two can never tell different stories.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ..events import CaseClosed, CaseEscalated, CaseHandedOver, CaseReopened, CaseTransitioned, Event
from ..workflow.model import State


@attrs.frozen
class Holder:
    """Who held a case and until when: before or after a transition."""

    owner_kind: str | None
    owner_party_id: int | None
    due_at: datetime | None


def owner_kind(state: State) -> str | None:
    """The kind of party that holds a case in ``state`` (as ``case_rules.place`` decides)."""
    return None if state.final or state.deadline is None else state.owner


def transition_events(*, case_id: int, customer_id: int, at: datetime, actor_id: int | None, trigger: str,
                      source: str, dest: State, before: Holder, after: Holder, version: int, data: dict[str, Any],
                      timeout: bool, reopened: bool, reopen_count: int) -> list[Event]:
    """``CaseTransitioned`` and what follows from it: escalated, reopened, closed or handed over.

    ``reopen_count`` is the case's count after this transition (used when ``reopened``).
    """
    base: dict[str, Any] = dict(case_id=case_id, customer_id=customer_id, at=at, actor_id=actor_id)
    events: list[Event] = [CaseTransitioned(
        **base, trigger=trigger, source=source, dest=dest.name, owner_kind=after.owner_kind,
        owner_party_id=after.owner_party_id, due_at=after.due_at, version=version, data=data)]
    if timeout:
        # In a customer-owned state the dealer only holds the case for the customer: the
        # customer's silence is no deadline missed by the dealer (as in the party report).
        missed_by = None if before.owner_kind == "customer" else before.owner_party_id
        events.append(CaseEscalated(**base, source=source, dest=dest.name, missed_by_party_id=missed_by,
                                    due_at_missed=before.due_at, version=version))
    if reopened:
        events.append(CaseReopened(**base, reopen_count=reopen_count, version=version))
    if dest.final:
        events.append(CaseClosed(**base, final_state=dest.name, version=version))
    elif (after.owner_party_id, after.owner_kind) != (before.owner_party_id, before.owner_kind):
        events.append(CaseHandedOver(**base, state=dest.name, from_party_id=before.owner_party_id,
                                     to_party_id=after.owner_party_id, to_kind=after.owner_kind, due_at=after.due_at,
                                     version=version))
    return events


def reopens(source: State, dest: State, *, timeout: bool, paused_source: bool, resumed: bool) -> bool:
    """The customer (or the dealer for him) sends finished work back: not a reply to a
    question (that resumes the paused state), not the clock running out."""
    return source.owner == "customer" and not paused_source and not timeout and not dest.final and not resumed
