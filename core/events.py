"""Domain events: small frozen records of what happened, named in the past tense.

A unit of work collects them while it runs. Before commit they go to
``dealercrm_check_event`` (inside the transaction, may veto); after commit to
``dealercrm_handle_event`` (the change is durable, a failing plugin cannot undo it).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import attrs


@attrs.frozen(kw_only=True)
class Event:
    name: ClassVar[str] = "event"
    at: datetime
    actor_id: int | None = None


@attrs.frozen(kw_only=True)
class CustomerRegistered(Event):
    name: ClassVar[str] = "customer_registered"
    customer_id: int


@attrs.frozen(kw_only=True)
class CustomerChanged(Event):
    name: ClassVar[str] = "customer_changed"
    customer_id: int
    fields: tuple[str, ...]


@attrs.frozen(kw_only=True)
class AccountOwnerChanged(Event):
    name: ClassVar[str] = "account_owner_changed"
    customer_id: int
    owner_party_id: int
    account_owner_id: int | None
    previous_party_id: int
    previous_owner_id: int | None


@attrs.frozen(kw_only=True)
class ActorDeactivated(Event):
    """One of a party's people was deactivated (they left): ``customer_ids`` are the accounts
    handed over — those they owned or held the only relationship with — each with a hand-over
    task (``task_ids``, in the same order); ``handover_to_id`` the successor, if one was named."""

    name: ClassVar[str] = "actor_deactivated"
    party_id: int
    deactivated_id: int
    handover_to_id: int | None = None
    customer_ids: tuple[int, ...] = ()
    task_ids: tuple[int, ...] = ()


@attrs.frozen(kw_only=True)
class CustomersMerged(Event):
    name: ClassVar[str] = "customers_merged"
    kept_id: int
    merged_id: int
    moved: tuple[tuple[str, int], ...]  # (table, rows moved)


@attrs.frozen(kw_only=True)
class CustomerErased(Event):
    name: ClassVar[str] = "customer_erased"
    customer_id: int


@attrs.frozen(kw_only=True)
class CustomersImported(Event):
    name: ClassVar[str] = "customers_imported"
    source: str
    imported: int
    customer_ids: tuple[int, ...] = ()


@attrs.frozen(kw_only=True)
class AssetRecorded(Event):
    name: ClassVar[str] = "asset_recorded"
    asset_id: int
    customer_id: int
    product_id: int


@attrs.frozen(kw_only=True)
class InterestNoted(Event):
    name: ClassVar[str] = "interest_noted"
    interest_id: int
    customer_id: int
    tag: str


@attrs.frozen(kw_only=True)
class ConsentGranted(Event):
    name: ClassVar[str] = "consent_granted"
    customer_id: int
    channel: str
    purpose: str


@attrs.frozen(kw_only=True)
class ConsentRevoked(Event):
    name: ClassVar[str] = "consent_revoked"
    customer_id: int
    channel: str
    purpose: str


@attrs.frozen(kw_only=True)
class InteractionRecorded(Event):
    name: ClassVar[str] = "interaction_recorded"
    interaction_id: int
    customer_id: int
    channel: str
    direction: str
    personal: bool


@attrs.frozen(kw_only=True)
class TaskCreated(Event):
    name: ClassVar[str] = "task_created"
    task_id: int
    customer_id: int | None
    origin: str


@attrs.frozen(kw_only=True)
class TaskCompleted(Event):
    name: ClassVar[str] = "task_completed"
    task_id: int
    customer_id: int | None


@attrs.frozen(kw_only=True)
class CaseOpened(Event):
    name: ClassVar[str] = "case_opened"
    case_id: int
    customer_id: int
    workflow: str
    state: str
    owner_party_id: int | None
    due_at: datetime | None
    #: the service level it runs on (``dealercrm.workflow.model.ServiceLevel``)
    service_level: str = "standard"


@attrs.frozen(kw_only=True)
class CaseTransitioned(Event):
    """Every fired trigger; the more specific events below follow it where they apply."""

    name: ClassVar[str] = "case_transitioned"
    case_id: int
    customer_id: int
    trigger: str
    source: str
    dest: str
    owner_kind: str | None
    owner_party_id: int | None
    due_at: datetime | None
    version: int
    data: dict = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class CaseHandedOver(Event):
    """The case is now with another party: the customer is told who has it and until when."""

    name: ClassVar[str] = "case_handed_over"
    case_id: int
    customer_id: int
    state: str
    from_party_id: int | None
    to_party_id: int | None
    to_kind: str | None
    due_at: datetime | None
    #: the case's version after the transition (as ``CaseTransitioned.version``): orders a case's events
    version: int | None = None


@attrs.frozen(kw_only=True)
class CaseEscalated(Event):
    """A deadline passed and the system fired the timeout transition."""

    name: ClassVar[str] = "case_escalated"
    case_id: int
    customer_id: int
    source: str
    dest: str
    missed_by_party_id: int | None
    due_at_missed: datetime | None
    version: int | None = None


@attrs.frozen(kw_only=True)
class CaseReopened(Event):
    name: ClassVar[str] = "case_reopened"
    case_id: int
    customer_id: int
    reopen_count: int
    version: int | None = None


@attrs.frozen(kw_only=True)
class CaseClosed(Event):
    name: ClassVar[str] = "case_closed"
    case_id: int
    customer_id: int
    final_state: str
    version: int | None = None


@attrs.frozen(kw_only=True)
class CaseFactRecorded(Event):
    name: ClassVar[str] = "case_fact_recorded"
    case_id: int
    key: str
    value: object = attrs.field(hash=False)


@attrs.frozen(kw_only=True)
class CaseReturnRecorded(Event):
    """A step of the replaced unit's return or of the dealer's credit was recorded on a case
    (``crm.cases.record_return`` / ``record_credit``): ``values`` holds what changed, as JSON
    values (dates "2026-03-10", the amount "49.90")."""

    name: ClassVar[str] = "case_return_recorded"
    case_id: int
    customer_id: int
    values: dict = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class CaseLevelChanged(Event):
    """A case's priority changed, or a contract of its asset or customer did, and with it
    perhaps the service level it runs on (``crm.cases.set_priority``; ``dealercrm.services.
    case_levels``): ``level`` and ``previous_level``, ``because`` in words, ``due_at`` the
    current state's deadline from now on."""

    name: ClassVar[str] = "case_level_changed"
    case_id: int
    customer_id: int
    level: str
    previous_level: str
    priority: str
    because: str
    due_at: datetime | None
    version: int | None = None


@attrs.frozen(kw_only=True)
class MessageQueued(Event):
    name: ClassVar[str] = "message_queued"
    message_id: int
    customer_id: int | None
    channel: str
    purpose: str
    case_id: int | None = None


@attrs.frozen(kw_only=True)
class ContactSuppressed(Event):
    """A contact that consent, the budget or a missing address did not allow; recorded, not dropped."""

    name: ClassVar[str] = "contact_suppressed"
    message_id: int
    customer_id: int | None
    channel: str
    purpose: str
    reason: str


@attrs.frozen(kw_only=True)
class MessageDelivered(Event):
    name: ClassVar[str] = "message_delivered"
    message_id: int
    customer_id: int | None
    channel: str
    provider_id: str | None


@attrs.frozen(kw_only=True)
class MessageFailed(Event):
    """Delivery gave up (permanently failed, or dead after the last attempt): a person follows up."""

    name: ClassVar[str] = "message_failed"
    message_id: int
    customer_id: int | None
    channel: str
    error: str
    task_id: int | None


@attrs.frozen(kw_only=True)
class MessageReceived(Event):
    name: ClassVar[str] = "message_received"
    inbound_id: int
    channel: str
    customer_id: int | None
    case_id: int | None
    status: str


@attrs.frozen(kw_only=True)
class SurveyAnswered(Event):
    """A customer answered the satisfaction survey after a case (CSAT 1-5, NPS 0-10); ``revised``:
    the case's one answer was changed by a later one, the scores are the answer as it now stands."""

    name: ClassVar[str] = "survey_answered"
    response_id: int
    case_id: int
    customer_id: int
    csat: int | None
    nps: int | None
    channel: str
    revised: bool = False


def all_event_classes() -> list[type[Event]]:
    """Every concrete event class, including those later modules define."""
    found, todo = [], [Event]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return found
