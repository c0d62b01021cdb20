"""Service cases and their append-only history.

A case's state, owner, due time and version change only through the case service's
``fire`` (a version-checked Core UPDATE); assigning ``case.state`` on a loaded object
is refused at once, so no code path can bypass the permission check.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar

from sqlalchemy import Index, event, text
from sqlmodel import Field, SQLModel

from ..errors import NotPermitted
from .types import JSONType, Money, UTCDateTime


def ts(**kw):
    return Field(sa_type=UTCDateTime, **kw)


class Case(SQLModel, table=True):
    __tablename__ = "service_case"
    __table_args__ = (Index("ix_case_open_due", "closed_at", "due_at"),)
    # facts: what plugins and callers write there may be anything the customer said or agreed
    __personal__: ClassVar[frozenset[str]] = frozenset({"summary", "facts"})
    id: int | None = Field(default=None, primary_key=True)
    workflow: str  # the registered workflow it follows (``CaseService.default_workflow``)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    asset_id: int | None = Field(default=None, foreign_key="asset.id")
    summary: str
    priority: str = "normal"
    #: the service level the case runs on (``dealercrm.workflow.model.ServiceLevel``): decided
    #: when it opened, again when its priority or a contract changes; "standard": none applied
    service_level: str = "standard"
    state: str
    owner_kind: str | None = None
    owner_party_id: int | None = Field(default=None, foreign_key="party.id", index=True)
    owner_actor_id: int | None = Field(default=None, foreign_key="actor.id")
    dealer_party_id: int = Field(foreign_key="party.id", index=True)
    manufacturer_party_id: int | None = Field(default=None, foreign_key="party.id", index=True)
    technician_party_id: int | None = Field(default=None, foreign_key="party.id", index=True)
    due_at: datetime | None = ts(default=None)
    state_entered_at: datetime = ts()
    paused_remaining_s: float | None = None
    paused_from: str | None = None
    version: int = 1
    opened_at: datetime = ts()
    closed_at: datetime | None = ts(default=None)
    reopen_count: int = 0
    replacement_asset_id: int | None = Field(default=None, foreign_key="asset.id")
    warranty_decision: str | None = None
    rma_number: str | None = None
    facts: dict | None = Field(default=None, sa_type=JSONType)
    # The asset's warranty as it stood on the day the case opened (``dealercrm.services.warranty``):
    # "in", "out" or "unknown" (an asset without dates); None for a case about no asset.
    warranty_status: str | None = None
    warranty_until: date | None = None
    # The replaced unit's way back and the manufacturer's credit to the dealer
    # (``crm.cases.record_return`` / ``record_credit``, ``dealercrm.services.case_returns``).
    return_shipped_on: date | None = None
    return_received_on: date | None = None
    credit_amount: Decimal | None = Field(default=None, sa_type=Money)
    credit_currency: str | None = None
    credited_on: date | None = None


#: case events whose notices are not queued yet: the dispatcher's work list, kept small
UNNOTICED = "noticed_at IS NULL"


class CaseEvent(SQLModel, table=True):
    """Every transition, escalation, recorded fact and step of a return of a case, never changed — but for
    ``noticed_at``, set once, in the transaction that queued the notices the event calls for
    (``dealercrm.services.notices``), and the erasure's blanking of ``note`` and ``data``."""

    __tablename__ = "case_event"
    __table_args__ = (Index("ix_case_event_case", "case_id", "id"),
                      Index("ix_case_event_unnoticed", "id", sqlite_where=text(UNNOTICED),
                            postgresql_where=text(UNNOTICED)))
    __personal__: ClassVar[frozenset[str]] = frozenset({"note", "data"})
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="service_case.id")
    kind: str  # opened | transition | timeout | fact | return | credit
    trigger: str | None = None
    from_state: str | None = None
    to_state: str
    actor_id: int | None = Field(default=None, foreign_key="actor.id")
    party_id: int | None = Field(default=None, foreign_key="party.id")
    owner_party_id: int | None = Field(default=None, foreign_key="party.id")
    due_at: datetime | None = ts(default=None)
    at: datetime = ts()
    note: str | None = None
    data: dict | None = Field(default=None, sa_type=JSONType)
    version: int
    #: when the notices this event calls for were queued; None: not yet (``notices``)
    noticed_at: datetime | None = ts(default=None)


#: What only the case service may change: the state and everything that follows from it, the
#: service level and the priority it depends on, the parties that may act on the case, the facts
#: its guards consult, the warranty as judged at opening, and the return and credit (each step
#: recorded by its own party).
GUARDED = ("state", "service_level", "priority", "owner_kind", "owner_party_id", "owner_actor_id", "due_at",
           "version", "state_entered_at", "closed_at", "reopen_count", "paused_from", "paused_remaining_s",
           "dealer_party_id", "manufacturer_party_id", "technician_party_id", "facts", "warranty_status",
           "warranty_until", "return_shipped_on", "return_received_on", "credit_amount", "credit_currency", "credited_on")


def _refuse_direct_assignment(target: Case, value, oldvalue, initiator):
    # A loaded case refuses any change, also from None (a closed case has no owner and no
    # due date, and must not be given one behind the workflow's back).
    if _is_loaded(target) and value != oldvalue:
        field = initiator.key
        how = ("change the priority through crm.cases.set_priority(case_id, priority, by=actor): the service level "
               "follows from it" if field in ("priority", "service_level") else
               "fire a trigger through crm.cases.fire(case_id, trigger, by=actor)")
        raise NotPermitted(f"case {target.id}: {field} cannot be assigned ({oldvalue!r} -> {value!r}); {how}")
    return value


def _is_loaded(target: Case) -> bool:
    from sqlalchemy import inspect
    return inspect(target).has_identity


for _column in GUARDED:
    event.listen(getattr(Case, _column), "set", _refuse_direct_assignment, retval=True)
