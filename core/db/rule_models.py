"""What rules did: one row per rule, subject and situation, never two.

The unique key is the idempotency of rules: "customer 42 has gone quiet since
2025-01-10" fires once, whether the scan runs every minute, crashes and restarts, or
runs in two processes at once (SuiteCRM's "last contacted > 60 days" made a new call
every minute). A new situation — quiet again after a new touch — is a new row.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from .types import JSONType, UTCDateTime


class RuleFiring(SQLModel, table=True):
    __tablename__ = "rule_firing"
    __table_args__ = (UniqueConstraint("rule", "subject_kind", "subject_id", "situation", name="uq_rule_firing"),)
    __personal__: ClassVar[frozenset[str]] = frozenset()
    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(index=True)
    subject_kind: str = "customer"
    subject_id: int
    situation: str
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    outcome: str  # task | message | fired | suppressed | noted
    detail: dict | None = Field(default=None, sa_type=JSONType)


class SurveyResponse(SQLModel, table=True):
    """A customer's answer after a case: CSAT 1-5 and NPS 0-10. One per case: a later
    answer revises it (``dealercrm.services.surveys``), it never counts twice."""

    __tablename__ = "survey_response"
    __personal__: ClassVar[frozenset[str]] = frozenset({"comment"})
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="service_case.id", index=True, unique=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    csat: int | None = None
    nps: int | None = None
    comment: str | None = None
    channel: str = "email"
    at: datetime = Field(sa_type=UTCDateTime)
