"""What the HTTP API keeps: API keys, event subscriptions and idempotency records.

An API key is stored only as the SHA-256 of the whole key, with a short public prefix
to find it by; the key itself is shown once when it is made. Each key acts for one
party with one role, through one actor, so every change made over HTTP names a
person-like actor as every other change does.

A subscription's ``secret`` is kept as given: dealercrm needs it to sign each
delivery (a hash could not sign). Subscriptions and keys are written with Core
statements and audited without their secrets.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from .types import JSONType, UTCDateTime


def ts(**kw):
    return Field(sa_type=UTCDateTime, **kw)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    __personal__: ClassVar[frozenset[str]] = frozenset()
    id: int | None = Field(default=None, primary_key=True)
    prefix: str = Field(unique=True)  # public, e.g. "dcrm_3f9a1c2b": finds the row
    key_hash: str  # hex SHA-256 of the whole key
    party_id: int = Field(foreign_key="party.id", index=True)
    role: str
    actor_id: int = Field(foreign_key="actor.id")
    label: str | None = None
    created_at: datetime = ts()
    revoked_at: datetime | None = ts(default=None)
    last_used_at: datetime | None = ts(default=None)


class Subscription(SQLModel, table=True):
    """A party's wish to be told of events (``kinds``) by a signed POST to ``url``."""

    __tablename__ = "api_subscription"
    __personal__: ClassVar[frozenset[str]] = frozenset()
    id: int | None = Field(default=None, primary_key=True)
    party_id: int = Field(foreign_key="party.id", index=True)
    url: str
    kinds: list = Field(sa_type=JSONType)
    secret: str
    created_by_id: int | None = Field(default=None, foreign_key="actor.id")
    created_at: datetime = ts()
    deleted_at: datetime | None = ts(default=None)


class IdempotencyRecord(SQLModel, table=True):
    """One POST with an ``Idempotency-Key``: the request's hash and, once done, its answer.

    ``status`` is None while the first request is still running; a repeat then gets 409.
    Status 410 without a body: the answer concerned a customer since erased
    (``services/privacy.py`` drops it); a repeat is told so and still runs nothing.
    """

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("party_id", "key", name="uq_idempotency_party_key"),
                      Index("ix_idempotency_created", "created_at"))
    __personal__: ClassVar[frozenset[str]] = frozenset({"body"})
    id: int | None = Field(default=None, primary_key=True)
    key: str
    party_id: int = Field(foreign_key="party.id")
    method: str
    path: str
    request_hash: str
    status: int | None = None
    body: str | None = None
    headers: dict | None = Field(default=None, sa_type=JSONType)
    created_at: datetime = ts()
    completed_at: datetime | None = ts(default=None)
