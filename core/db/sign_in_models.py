"""How people and customers get in without an API key: passwords, one-time sign-in links,
browser sessions, the customer's link to their case, and the server's own secret.

Nothing here stores what it would let in: a password only as its argon2 hash, a sign-in
link and a session only as the SHA-256 of their random token (a 256-bit secret needs no
slow hash), a customer's link not at all — it is signed with the server's secret and
names its ``case_link`` row, which says whether it was revoked. These tables are written
with Core statements and audited without their hashes (``services/sign_in.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlmodel import Field, SQLModel

from .types import UTCDateTime


def ts(**kw):
    return Field(sa_type=UTCDateTime, **kw)


class ActorPassword(SQLModel, table=True):
    """A person's password, set by a manager of their party (or the operator)."""

    __tablename__ = "actor_password"
    __personal__: ClassVar[frozenset[str]] = frozenset()
    actor_id: int = Field(primary_key=True, foreign_key="actor.id")
    password_hash: str  # argon2id, with its parameters and salt
    set_at: datetime = ts()
    set_by_id: int | None = Field(default=None, foreign_key="actor.id")


class SignInLink(SQLModel, table=True):
    """A one-time link that signs a person in: used once, or not after ``expires_at``."""

    __tablename__ = "sign_in_link"
    __personal__: ClassVar[frozenset[str]] = frozenset()
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    actor_id: int = Field(foreign_key="actor.id", index=True)
    created_at: datetime = ts()
    expires_at: datetime = ts()
    used_at: datetime | None = ts(default=None)


class ActorSession(SQLModel, table=True):
    """A signed-in browser: ends at sign-out, at ``expires_at``, after ``idle`` without use,
    or the moment its actor is deactivated."""

    __tablename__ = "actor_session"
    __personal__: ClassVar[frozenset[str]] = frozenset()
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    actor_id: int = Field(foreign_key="actor.id", index=True)
    method: str  # password | link
    created_at: datetime = ts()
    expires_at: datetime = ts()
    last_seen_at: datetime = ts()
    ended_at: datetime | None = ts(default=None)


class CaseLink(SQLModel, table=True):
    """The customer's way to their case without an account: every signed link names one row,
    and a revoked row refuses all the links made for it."""

    __tablename__ = "case_link"
    __personal__: ClassVar[frozenset[str]] = frozenset()
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="service_case.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    created_at: datetime = ts()
    revoked_at: datetime | None = ts(default=None)
    revoked_reason: str | None = None


class ServerSecret(SQLModel, table=True):
    """The secret links are signed with, when the installation configured none
    (``DEALERCRM_SECRET_KEY``, ``[dealercrm] secret_key``): made once, shared by every
    process on the database."""

    __tablename__ = "server_secret"
    __personal__: ClassVar[frozenset[str]] = frozenset()
    name: str = Field(primary_key=True)
    value: str
    created_at: datetime = ts()
