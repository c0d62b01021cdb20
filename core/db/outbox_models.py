"""Outbound messages (the transactional outbox), inbound messages, and the contact ledger.

An outbox row is written in the same transaction as the business change that caused
it, so a message exists exactly when its cause was committed. The dispatcher leases
rows (``locked_until``) before sending: a dispatcher that dies mid-send leaves a lease
that expires, and the row is sent again with the same ``idempotency_key`` — at least
once, deduplicable by the receiver. The ledger counts every contact a person received
for the contact budget, messages and human tasks alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from .types import JSONType, UTCDateTime

OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "dead", "suppressed", "cancelled")


def ts(**kw):
    return Field(sa_type=UTCDateTime, **kw)


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
    # data: a rule's evidence (the interest, the occasion) travels with the message
    __personal__: ClassVar[frozenset[str]] = frozenset({"recipient", "subject", "body", "data"})
    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    channel: str
    purpose: str
    recipient: str
    subject: str | None = None
    body: str
    data: dict | None = Field(default=None, sa_type=JSONType)
    origin: str = "human"
    case_id: int | None = Field(default=None, index=True)
    status: str = "pending"
    reason: str | None = None
    attempts: int = 0
    next_attempt_at: datetime = ts()
    locked_until: datetime | None = ts(default=None)
    provider_id: str | None = None
    created_at: datetime = ts()
    sent_at: datetime | None = ts(default=None)


class InboundMessage(SQLModel, table=True):
    """Everything received, stored before it is interpreted: nothing is ever dropped."""

    __tablename__ = "inbound_message"
    __personal__: ClassVar[frozenset[str]] = frozenset({"sender", "subject", "raw"})
    id: int | None = Field(default=None, primary_key=True)
    channel: str
    received_at: datetime = ts()
    sender: str | None = None
    subject: str | None = None
    raw: str
    status: str = "received"  # received | attached | triage | malformed
    parse_error: str | None = None
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    case_id: int | None = Field(default=None, index=True)
    interaction_id: int | None = Field(default=None, foreign_key="interaction.id")
    fired_trigger: str | None = None


class ContactLedger(SQLModel, table=True):
    """One row per contact a person received or was due (message or rule-made task)."""

    __tablename__ = "contact_ledger"
    __table_args__ = (Index("ix_ledger_budget", "customer_id", "purpose", "at"),)
    __personal__: ClassVar[frozenset[str]] = frozenset()
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    purpose: str
    channel: str
    kind: str  # message | task
    ref_id: int | None = None
    at: datetime = ts()
