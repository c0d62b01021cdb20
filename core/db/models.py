"""The customer file as tables.

Personal fields are listed per table in ``__personal__``: erasure blanks exactly those,
the audit log keeps their before/after values apart so erasure can scrub them, and the
right-of-access export can say which of the held data is personal.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from .types import JSONType, UTCDateTime

PARTY_KINDS = ("dealer", "manufacturer", "technician")
PURPOSES = ("service", "marketing")
DIRECTIONS = ("inbound", "outbound", "internal")
TASK_STATUSES = ("open", "done", "cancelled")
TASK_ORIGINS = ("human", "rule", "case")


def ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class Party(SQLModel, table=True):
    __personal__: ClassVar[frozenset[str]] = frozenset()
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True)
    name: str = Field(unique=True)
    #: public holidays: a country code, optionally with a subdivision ("DE-BY", "US-NY")
    region: str = "DE"
    #: the party's own time: deadlines count in it, times are shown to its people in it
    time_zone: str = "Europe/Berlin"
    #: opening hours per weekday, {"mon": "08:00-17:00", …}; None: Monday to Friday 08:00-17:00
    hours: dict | None = Field(default=None, sa_type=JSONType)
    #: days closed besides public holidays (company holidays), ISO dates
    closed: list | None = Field(default=None, sa_type=JSONType)
    created_at: datetime = ts()


class Actor(SQLModel, table=True):
    """A person, or the system, acting for a party; every change names one."""

    __personal__: ClassVar[frozenset[str]] = frozenset()
    id: int | None = Field(default=None, primary_key=True)
    party_id: int | None = Field(default=None, foreign_key="party.id", index=True)
    name: str
    role: str
    email: str | None = None
    is_system: bool = False
    active: bool = True
    created_at: datetime = ts()


class Customer(SQLModel, table=True):
    #: an e-mail and an external id are unique among one dealer's customers, not across dealers;
    #: a phone is unique nowhere (a family's landline, a company's switchboard)
    __table_args__ = (Index("uq_customer_owner_email", "owner_party_id", "email", unique=True),
                      Index("uq_customer_owner_external_id", "owner_party_id", "external_id", unique=True),
                      # the blocks ``customers.duplicates`` compares names in, found for one customer
                      Index("ix_customer_owner_postcode", "owner_party_id", "postcode"),
                      Index("ix_customer_owner_birthday", "owner_party_id", "birthday"))
    __personal__: ClassVar[frozenset[str]] = frozenset(
        {"name", "email", "phone", "birthday", "street", "city", "postcode", "custom"}
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str = "person"
    name: str
    email: str | None = Field(default=None, index=True)
    phone: str | None = Field(default=None, index=True)
    birthday: date | None = None
    street: str | None = None
    postcode: str | None = None
    city: str | None = None
    #: the zone and language of the customer's notices (None: the dealer's zone, the configured language)
    time_zone: str | None = None
    language: str | None = None
    external_id: str | None = Field(default=None, index=True)
    owner_party_id: int = Field(foreign_key="party.id", index=True)
    account_owner_id: int | None = Field(default=None, foreign_key="actor.id", index=True)
    created_at: datetime = ts()
    updated_at: datetime = ts()
    last_touch_at: datetime | None = ts(default=None, index=True)
    merged_into_id: int | None = Field(default=None, foreign_key="customer.id")
    erased_at: datetime | None = ts(default=None)
    #: the customer's service contract ("premium"): service levels may depend on it
    service_contract: str | None = None
    #: values of fields that plugins declare (``dealercrm.fields``), by field name
    custom: dict | None = Field(default=None, sa_type=JSONType)


class ContactPerson(SQLModel, table=True):
    __tablename__ = "contact_person"
    __personal__: ClassVar[frozenset[str]] = frozenset({"name", "email", "phone"})
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    name: str
    function: str = "buyer"
    email: str | None = None
    phone: str | None = None
    created_at: datetime = ts()


class Product(SQLModel, table=True):
    __personal__: ClassVar[frozenset[str]] = frozenset()
    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(unique=True)
    name: str
    category: str = "general"
    manufacturer_party_id: int | None = Field(default=None, foreign_key="party.id")
    warranty_months: int = 24
    created_at: datetime = ts()


class Asset(SQLModel, table=True):
    """A product a customer owns; the warranty end is derived unless overridden."""

    __personal__: ClassVar[frozenset[str]] = frozenset()
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    serial_number: str | None = Field(default=None, index=True)
    manufacturer_party_id: int | None = Field(default=None, foreign_key="party.id")
    dealer_party_id: int | None = Field(default=None, foreign_key="party.id")
    purchased_on: date | None = None
    handed_over_on: date | None = None
    warranty_until: date | None = None
    warranty_overridden: bool = False
    replaces_asset_id: int | None = Field(default=None, foreign_key="asset.id")
    price: float | None = None  # what the customer paid: "loyal" can mean revenue
    created_at: datetime = ts()
    #: a service contract for this unit ("premium"): service levels may depend on it
    service_contract: str | None = None


class Interest(SQLModel, table=True):
    __personal__: ClassVar[frozenset[str]] = frozenset({"tag", "note"})
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    tag: str = Field(index=True)
    note: str | None = None
    noted_by_id: int | None = Field(default=None, foreign_key="actor.id")
    noted_at: datetime = ts()
    interaction_id: int | None = Field(default=None, foreign_key="interaction.id")


class Consent(SQLModel, table=True):
    """Append-only: the answer at time T is the latest record at or before T.

    ``source`` is free text people type ("e-mail from max@…", "signed by Max Mustermann"):
    personal, blanked on erasure. Channel, purpose, answer, time and actor stay, the proof
    of what was allowed when."""

    __table_args__ = (Index("ix_consent_lookup", "customer_id", "channel", "purpose", "at"),)
    __personal__: ClassVar[frozenset[str]] = frozenset({"source"})
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    channel: str
    purpose: str
    granted: bool
    at: datetime = ts()
    source: str
    actor_id: int | None = Field(default=None, foreign_key="actor.id")


class Interaction(SQLModel, table=True):
    """The one timeline; ``personal`` marks a relationship touch, not a mass mailing."""

    __table_args__ = (Index("ix_interaction_customer_at", "customer_id", "at"),)
    __personal__: ClassVar[frozenset[str]] = frozenset({"summary"})
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    channel: str
    direction: str
    summary: str
    personal: bool = True
    actor_id: int | None = Field(default=None, foreign_key="actor.id")
    at: datetime = ts()
    case_id: int | None = Field(default=None, index=True)
    task_id: int | None = Field(default=None, foreign_key="task.id")
    #: the company's contact person it was with (None: the customer as a whole, or not said)
    contact_person_id: int | None = Field(default=None, foreign_key="contact_person.id", index=True)


class Task(SQLModel, table=True):
    __table_args__ = (Index("ix_task_open_due", "status", "due_at"),)
    __personal__: ClassVar[frozenset[str]] = frozenset({"title", "note"})
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    title: str
    note: str | None = None
    due_at: datetime = ts()
    assigned_party_id: int | None = Field(default=None, foreign_key="party.id")
    assigned_actor_id: int | None = Field(default=None, foreign_key="actor.id", index=True)
    status: str = "open"
    origin: str = "human"
    origin_ref: str | None = None
    case_id: int | None = Field(default=None, index=True)
    #: the customer's contact person the task is about (a call to their buyer, an introduction)
    contact_person_id: int | None = Field(default=None, foreign_key="contact_person.id", index=True)
    created_at: datetime = ts()
    completed_at: datetime | None = ts(default=None)


class AuditRecord(SQLModel, table=True):
    """Append-only; the database refuses updates except blanking ``personal_changes``."""

    __tablename__ = "audit_record"
    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)
    __personal__: ClassVar[frozenset[str]] = frozenset({"personal_changes"})
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = ts()
    actor_id: int | None = Field(default=None, foreign_key="actor.id")
    operation: str
    action: str
    entity: str
    entity_id: int | None = None
    changes: dict | None = Field(default=None, sa_type=JSONType)
    personal_changes: dict | None = Field(default=None, sa_type=JSONType)
    customer_id: int | None = Field(default=None, index=True)


from . import case_models  # noqa: E402,F401  (service cases live in the same metadata)
from . import outbox_models  # noqa: E402,F401  (outbox, inbound, contact ledger)
from . import rule_models  # noqa: E402,F401  (rule firings, survey responses)
from . import api_models  # noqa: E402,F401  (API keys, subscriptions, idempotency records)
from . import sign_in_models  # noqa: E402,F401  (passwords, sign-in links, sessions, case links)
