"""What goes over the wire: request and response bodies, with their limits.

Inputs are bounded (ids fit a 32-bit column, texts have a length and no NUL, times
carry a timezone) so malformed input is a 422 problem before it reaches the core.
Withheld customer fields are absent from the answer, never null.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from ..services.subscriptions import EVENT_KINDS

MAX_ID = 2**31 - 1
T = TypeVar("T")


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("contains a NUL character")
    if isinstance(value, dict):
        for k, v in value.items():
            _no_nul(k), _no_nul(v)
    elif isinstance(value, list):
        for v in value:
            _no_nul(v)
    return value


def text(max_length: int, min_length: int = 0):
    return Annotated[str, StringConstraints(max_length=max_length, min_length=min_length), AfterValidator(_no_nul)]


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Name = text(200, 1)
Short = text(200)
Long = text(4000)
JsonData = Annotated[dict[str, JsonValue], AfterValidator(_no_nul)]
EventKind = Literal[EVENT_KINDS]  # type: ignore[valid-type]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(Out, Generic[T]):
    items: list[T]
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page, or null on the last page")


# -- customers ------------------------------------------------------------------------


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    kind: Literal["person", "company"] = "person"
    email: Short | None = None
    phone: text(40) | None = None
    birthday: date | None = None
    street: Short | None = None
    postcode: text(20) | None = None
    city: Short | None = None
    external_id: text(100) | None = None


class CustomerPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    kind: Literal["person", "company"] | None = None
    email: Short | None = None
    phone: text(40) | None = None
    birthday: date | None = None
    street: Short | None = None
    postcode: text(20) | None = None
    city: Short | None = None


class CustomerOut(Out):
    """A customer as the caller may see them: withheld fields are absent."""

    id: int
    name: str | None = None
    kind: str | None = None
    email: str | None = None
    phone: str | None = None
    birthday: date | None = None
    street: str | None = None
    postcode: str | None = None
    city: str | None = None
    external_id: str | None = None
    owner_party_id: int | None = None
    account_owner_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_touch_at: datetime | None = None
    merged_into_id: int | None = None
    erased_at: datetime | None = None


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["email", "sms", "whatsapp", "phone", "post"]
    purpose: Literal["service", "marketing"]
    granted: bool
    source: Name = Field(description="where the answer came from, e.g. 'signed form 2026-03-02'")


class ConsentOut(Out):
    id: int
    channel: str
    purpose: str
    granted: bool
    at: datetime
    source: str
    actor_id: int | None = None


class InterestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tag: text(64, 1)
    note: Long | None = None


class InterestOut(Out):
    id: int
    tag: str
    note: str | None = None
    noted_by_id: int | None = None
    noted_at: datetime
    interaction_id: int | None = None


class AssetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: Id
    serial_number: text(100) | None = None
    purchased_on: date | None = None
    handed_over_on: date | None = None
    warranty_until: date | None = None
    price: Annotated[float, Field(ge=0, le=1e9)] | None = None


class AssetOut(Out):
    id: int
    product_id: int
    product_sku: str
    product_name: str
    serial_number: str | None = None
    manufacturer_party_id: int | None = None
    dealer_party_id: int | None = None
    purchased_on: date | None = None
    handed_over_on: date | None = None
    warranty_until: date | None = None
    replaces_asset_id: int | None = None


class InteractionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["email", "sms", "whatsapp", "phone", "post", "visit", "webhook"]
    direction: Literal["inbound", "outbound", "internal"]
    summary: text(4000, 1)
    personal: bool = True


class InteractionOut(Out):
    id: int
    channel: str
    direction: str
    summary: str
    personal: bool
    actor_id: int | None = None
    at: datetime
    case_id: int | None = None


class ContactOut(Out):
    id: int
    name: str
    function: str
    email: str | None = None
    phone: str | None = None


class PartyOut(Out):
    id: int
    kind: str
    name: str


class ActorOut(Out):
    id: int
    name: str
    role: str
    party_id: int | None = None


# -- cases ----------------------------------------------------------------------------


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: Id
    summary: text(2000, 1)
    asset_id: Id | None = None
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    workflow: text(64, 1) = "service_case"


class CaseOut(Out):
    id: int
    workflow: str
    customer_id: int
    asset_id: int | None = None
    summary: str
    priority: str
    state: str
    owner_kind: str | None = None
    owner_party_id: int | None = None
    dealer_party_id: int
    manufacturer_party_id: int | None = None
    technician_party_id: int | None = None
    due_at: datetime | None = None
    version: int
    opened_at: datetime
    closed_at: datetime | None = None
    reopen_count: int
    replacement_asset_id: int | None = None
    warranty_decision: str | None = None
    rma_number: str | None = None


class FireIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trigger: text(64, 1)
    data: JsonData = Field(default_factory=dict, description="what the transition needs, e.g. "
                           "{'technician_party_id': 3} or {'visit_at': '2026-03-04T10:00:00+01:00'}")
    note: Long | None = None


class FiredOut(Out):
    case_id: int
    trigger: str
    source: str
    dest: str
    version: int
    owner_kind: str | None = None
    owner_party_id: int | None = None
    due_at: datetime | None = None


class AllowedOut(BaseModel):
    case_id: int
    state: str
    version: int
    triggers: list[str]


class CaseEventOut(Out):
    id: int
    kind: str
    trigger: str | None = None
    from_state: str | None = None
    to_state: str
    actor_id: int | None = None
    party_id: int | None = None
    owner_party_id: int | None = None
    due_at: datetime | None = None
    at: datetime
    note: str | None = None
    data: dict[str, Any] | None = None
    version: int


class CustomerView(BaseModel):
    """The 360° view; a section that is null is withheld from the caller (data minimisation)."""

    customer: CustomerOut
    visibility: Literal["full", "case"]
    assets: list[AssetOut]
    cases: list[CaseOut]
    owner_party: PartyOut | None = None
    account_owner: ActorOut | None = None
    contacts: list[ContactOut] | None = None
    interests: list[InterestOut] | None = None
    consents: list[ConsentOut] | None = None
    timeline: list[InteractionOut] | None = None
    open_tasks: list[TaskOut] | None = None


# -- tasks, reports, inbound, subscriptions, health -------------------------------------


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: text(500, 1)
    due_at: AwareDatetime
    customer_id: Id | None = None
    case_id: Id | None = None
    assigned_actor_id: Id | None = None
    note: Long | None = None


class TaskDone(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Long | None = None


class TaskOut(Out):
    id: int
    customer_id: int | None = None
    title: str
    note: str | None = None
    due_at: datetime
    assigned_party_id: int | None = None
    assigned_actor_id: int | None = None
    status: str
    origin: str
    case_id: int | None = None
    created_at: datetime
    completed_at: datetime | None = None


class ReportOut(BaseModel):
    section: str
    rows: list[dict[str, Any]]


class InboundOut(Out):
    id: int
    channel: str
    status: str
    customer_id: int | None = None
    case_id: int | None = None
    fired_trigger: str | None = None
    parse_error: str | None = None


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: text(2000, 1)
    kinds: Annotated[list[EventKind], Field(min_length=1, max_length=len(EVENT_KINDS))]


class SubscriptionOut(Out):
    id: int
    url: str
    kinds: list[str]
    created_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="signs every delivery (HMAC-SHA256 of the body text); shown only now")


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    schema_revision: str | None = None


CustomerView.model_rebuild()
