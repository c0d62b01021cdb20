"""What goes over the wire: request and response bodies, with their limits.

Inputs are bounded (ids fit a 32-bit column, texts have a length and no NUL, times
carry a timezone) so malformed input is a 422 problem before it reaches the core.
Withheld customer fields are absent from the answer, never null.

The OpenAPI document says exactly what is accepted: what the core checks itself, in
Python, is declared too (``JsonSchema``) — a text that must not be blank, a fact's key,
"at least one of" — with patterns read the way Python's ``re`` reads them (``\\s`` is
what ``str.strip()`` strips). What no pattern can spell is named by a ``format`` and
described: an e-mail address email-validator accepts, a phone number phonenumbers reads,
a region with a holiday calendar, an IANA time zone.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar, Union

from typing_extensions import TypeAliasType

from pydantic import (AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field,
                      StringConstraints)

from ..validation import PRIORITIES

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


class JsonSchema:
    """Type metadata adding to the OpenAPI schema what the core itself checks (``extra``), or
    replacing it (``replace=True``): the document then says it, while the check stays where it is."""

    def __init__(self, replace: bool = False, **extra: Any):
        self.replace, self.extra = replace, extra

    def __get_pydantic_json_schema__(self, core_schema, handler):
        schema = {} if self.replace else handler(core_schema)
        schema.update(self.extra)
        return schema


#: no NUL anywhere (PostgreSQL cannot store it); and, for a text that is required, something
#: besides white space (the core strips texts, and a blank one is no value)
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"
#: what the core takes as "none given": null, or a text of nothing but white space
BLANK = {"type": "string", "pattern": r"^\s*$"}
#: email-validator refuses addresses at these special-use domains (and their subdomains)
SPECIAL_USE_DOMAINS = ("arpa", "invalid", "local", "localhost", "onion", "test")


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" for c in word)


def text(max_length: int, min_length: int = 0):
    return Annotated[str, StringConstraints(max_length=max_length, min_length=min_length), AfterValidator(_no_nul),
                     JsonSchema(pattern=NOT_BLANK if min_length else NO_NUL)]


def email_text(max_length: int = 200):
    """An e-mail address as email-validator accepts it (no DNS look-up; a special-use domain such
    as .test or .invalid is refused), or blank: none."""
    special = "|".join(_any_case(d) for d in SPECIAL_USE_DOMAINS)
    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(_no_nul), JsonSchema(
        replace=True, anyOf=[{"type": "string", "format": "email", "maxLength": max_length,
                              "not": {"pattern": rf"(^|[.@])({special})\.?$"}}, {**BLANK, "maxLength": max_length}],
        description="an e-mail address (checked by email-validator, without a DNS look-up; addresses at special-use "
                    "domains such as .test or .invalid are refused); blank: none")]


def phone_text(max_length: int = 40):
    """A phone number the phonenumbers library reads as valid (E.164, or national in the dealer's
    region), or blank: none."""
    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(_no_nul), JsonSchema(
        replace=True, anyOf=[{"type": "string", "format": "phone", "maxLength": max_length},
                             {**BLANK, "maxLength": max_length}],
        description="a phone number that is valid for its country (checked by phonenumbers): +49 171 5550100, or "
                    "0171 5550100 in the dealer's region; stored in E.164. Blank: none")]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def kept_unless_given(description: str | None = None) -> Any:
    """A PATCH field that may be left out but not cleared: its type is not nullable, and the
    document shows no default (left out, it stays as it is)."""
    return Field(None, description=description, json_schema_extra=_no_default)


Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _json(name: str, *types: type, shape: re.Pattern[str] | None = None) -> BeforeValidator:
    """A body value must have the JSON type its schema names: pydantic would also take "5" or true for
    an integer, 0 for false, a number of seconds for a date — values the document calls invalid."""

    def check(value: Any) -> Any:
        if ((isinstance(value, bool) and bool not in types) or not isinstance(value, types)
                or (shape is not None and isinstance(value, str) and not shape.match(value))):
            raise ValueError(f"must be {name}")
        return value

    return BeforeValidator(check)


def integer(**bounds: Any) -> Any:
    """A body's JSON integer (3.0 is one too), with its bounds in the document."""
    return Annotated[int, Field(**bounds), _json("a whole number", int, float)]


def number(**bounds: Any) -> Any:
    return Annotated[float, Field(**bounds), _json("a number", int, float)]


#: the types of body values: a JSON integer, number, boolean; a date, a date and time, as text
Int = integer()
Number = number()
Bool = Annotated[bool, _json("true or false", bool)]
Day = Annotated[date, _json("a date, YYYY-MM-DD", str, shape=re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
Moment = Annotated[AwareDatetime, _json("a date and time with its UTC offset", str)]
BodyId = integer(ge=1, le=MAX_ID)
Name = text(200, 1)
Short = text(200)
Long = text(4000)
#: any JSON, its texts (keys too) without NUL: what a transition's data or a fact's value may be
NulFreeText = Annotated[str, JsonSchema(pattern=NO_NUL)]
Json = TypeAliasType("Json", Union[NulFreeText, int, float, bool, None, list["Json"],  # noqa: UP007
                                   Annotated[dict[str, "Json"], JsonSchema(propertyNames={"pattern": NO_NUL})]])
JsonData = Annotated[dict[str, Json], JsonSchema(propertyNames={"pattern": NO_NUL}), AfterValidator(_no_nul)]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(Out, Generic[T]):
    items: list[T]
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page, or null on the last page")


# -- customers ------------------------------------------------------------------------


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: text(64, 1) = Field(description="a consent channel: each channel plugin's (email, sms, …) and the "
                                           "[contact] manual_channels (phone, post); another is a 422")
    purpose: Literal["service", "marketing"]
    granted: Bool
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
    product_id: BodyId
    serial_number: text(100) | None = None
    purchased_on: Day | None = None
    handed_over_on: Day | None = Field(None, description="not before purchased_on; starts the warranty (else "
                                        "the purchase does)")
    warranty_until: Day | None = Field(None, description="default: the start plus the product's warranty months")
    price: number(ge=0, le=1e9) | None = None
    service_contract: text(64) | None = Field(None, description="a service contract for this unit, one a service "
                                              "level names (e.g. premium)")


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
    service_contract: str | None = None


class AssetPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service_contract: text(64) | None = Field(description="the unit's service contract, one a service level names; "
                                              "null ends it. The open cases of the unit get the level it calls for")


class InteractionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: text(64, 1) = Field(description="a consent channel (email, phone, post, …), visit or webhook")
    direction: Literal["inbound", "outbound", "internal"]
    summary: text(4000, 1)
    personal: Bool = True
    contact_person_id: Id | None = Field(None, description="the customer's contact person it was with (their buyer, "
                                         "their technician; GET /customers/{id}/contacts); null: the customer as a "
                                         "whole")


class InteractionOut(Out):
    """A line of the customer's timeline: an interaction, or a hand-off of one of their cases
    (read from the case's history; ``id`` is then the history row's)."""

    kind: Literal["interaction", "hand_off"] = "interaction"
    id: int
    channel: str
    direction: str
    summary: str
    personal: bool
    actor_id: int | None = None
    at: datetime
    case_id: int | None = None
    contact_person_id: int | None = None
    state: str | None = Field(None, description="hand-offs: the state the case went to")
    owner_kind: str | None = Field(None, description="hand-offs: who holds it now: dealer, manufacturer, technician, "
                                   "customer (their turn), or null once it ended")
    owner_party_id: int | None = Field(None, description="hand-offs: the party holding it now")
    due_at: datetime | None = Field(None, description="hand-offs: until when")


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    function: text(100, 1) = Field("buyer", description="their part, e.g. buyer, fleet manager, spouse")
    email: email_text() | None = None
    phone: phone_text() | None = None


class ContactPatch(BaseModel):
    """Only the fields sent change; null (or blank) clears e-mail or phone. Name and function
    cannot be cleared: they are not nullable."""

    model_config = ConfigDict(extra="forbid")
    name: Name = kept_unless_given()
    function: text(100, 1) = kept_unless_given()
    email: email_text() | None = None
    phone: phone_text() | None = None


class ContactOut(Out):
    id: int
    name: str
    function: str
    email: str | None = None
    phone: str | None = None


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    duplicate_id: BodyId = Field(description="the customer merged into this one: its records move here, it stays as "
                             "a tombstone pointing at this one")


class MergeLink(BaseModel):
    """The request that merges a suspect pair: the newer file into the older."""

    method: Literal["POST"]
    href: str = Field(description="/customers/{keep_id}/merge")
    body: MergeIn


class SuspectOut(BaseModel):
    """Two customers of one dealer who may be one person (``GET /customers/duplicates``)."""

    owner_party_id: int
    keep_id: int = Field(description="the older file, kept by the merge offered")
    keep_name: str
    duplicate_id: int = Field(description="the newer file, merged into the older one by the merge offered")
    duplicate_name: str
    score: int = Field(ge=0, le=100, description="how likely: 60 % the names' likeness, 15 for the same phone, "
                       "15 for the same birthday, 10 for the same postcode")
    name_score: int = Field(ge=0, le=100, description="how alike the names are")
    reasons: list[str] = Field(description="why, e.g. 'same phone +49405550100', 'names 97% alike'")
    merge: MergeLink


class CustomerExport(BaseModel):
    """Everything held about the customer (right of access): one section per table, the audit trail,
    the records of duplicates merged into it, and what plugins hold."""

    model_config = ConfigDict(extra="allow")
    customer: dict[str, Any]
    merged_records: list[dict[str, Any]]
    audit: list[dict[str, Any]]


# -- the product catalogue -------------------------------------------------------------


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: text(100, 1)
    name: Name
    category: text(64, 1) = "general"
    warranty_months: integer(ge=0, le=1200) = 24
    manufacturer_party_id: BodyId | None = Field(None, description="the maker: a case about one of its products is "
                                             "forwarded to it for a warranty decision")


class ProductOut(Out):
    id: int
    sku: str
    name: str
    category: str
    warranty_months: int
    manufacturer_party_id: int | None = None
    created_at: datetime


class PartyOut(Out):
    id: int
    kind: str
    name: str
    region: str = Field(description="public holidays: a country code, optionally with a subdivision (DE-BY)")
    time_zone: str = Field("Europe/Berlin", description="the party's deadlines count in this IANA zone")
    hours: dict[str, str] | None = Field(None, description='opening hours per weekday, {"mon-fri": "08:00-17:00"}; '
                                         "null: Monday to Friday 08:00-17:00")
    closed: list[date] | None = Field(None, description="days closed besides public holidays")


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: a weekday, or a range of them in week order ("mon-fri"), in any case
DAYS = "|".join(_any_case(first) + (f"-{_any_case(last)}" if last != first else "")
                for i, first in enumerate(WEEKDAYS) for last in WEEKDAYS[i:])
HOUR = r"([01][0-9]|2[0-3]):[0-5][0-9]"


class CalendarIn(BaseModel):
    """A party's working time; what is left out stays as it is."""

    model_config = ConfigDict(extra="forbid")
    # a custom format alone: a length bound would invite values of that length which are no region
    region: Annotated[text(12, 2), JsonSchema(replace=True, type="string", format="region", description=(
        "public holidays: a country code with a holiday calendar (the holidays library), optionally with a "
        "subdivision: DE, AT, DE-BY, US-NY; any case"))] | None = None
    time_zone: Annotated[text(64, 1), JsonSchema(replace=True, type="string", format="time-zone", description=(
        "an IANA time zone, e.g. Europe/Berlin, America/New_York"))] | None = None
    hours: Annotated[dict[Annotated[text(7, 3), JsonSchema(pattern=rf"^({DAYS})$")],
                          Annotated[text(11, 11), JsonSchema(pattern=rf"^{HOUR}-{HOUR}$")]],
                     JsonSchema(minProperties=1, additionalProperties=False)] | None = Field(
        None, description='{"mon-fri": "08:00-17:00", "sat": "09:00-12:00"}: weekdays or ranges of them in week '
                          "order, each opening before it closes; a weekday left out is closed")
    closed: list[Day] | None = Field(None, max_length=400)


class ActorOut(Out):
    id: int
    name: str
    role: str
    party_id: int | None = None


class EmployeeOut(ActorOut):
    """A person of the caller's own party (or an API key's actor)."""

    active: bool = Field(description="false once the person has left: they may no longer act")
    email: str | None = None


class HandoverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    handover_to: Id | None = Field(None, description="the successor: an active person of the same party; they become "
                                   "account owner where the leaver was and get the leaver's open tasks and the "
                                   "hand-over tasks. Null: the hand-over tasks ask the party to name one")


class IntroductionOut(Out):
    contact_id: int
    name: str
    function: str
    last_touch_at: datetime
    channel: str


class HandedOverOut(Out):
    customer_id: int
    name: str
    account_owner: bool = Field(description="the leaver was the account owner")
    only_relationship: bool = Field(description="nobody else of ours had a personal touch in the last 12 months")
    introduce: list[IntroductionOut] = Field(description="contact persons only the leaver knew")
    task_id: int
    new_account_owner_id: int | None = None


class HandoverOut(Out):
    """What deactivating a person handed over: one task per account that hung on them."""

    actor_id: int
    name: str
    party_id: int
    successor_id: int | None = None
    accounts: list[HandedOverOut]
    tasks_reassigned: list[int]


class OwnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_owner_id: BodyId = Field(description="an active person of the owning dealer (GET /parties/{id}/actors)")
    owner_party_id: BodyId | None = Field(None, description="move the customer to another dealer: refused (403) unless "
                                      "the caller is dealercrm's system actor")


# -- messages to a customer -------------------------------------------------------------


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: text(64, 1) = Field(description="a channel that reaches customers, e.g. email or sms; an unknown one "
                                 "is a 422 naming the available ones")
    purpose: Literal["service", "marketing"]
    subject: Short | None = None
    body: text(20000, 1)
    case_id: BodyId | None = Field(None, description="the customer's case the message is about")


class MessageOut(Out):
    """A message in the outbox: ``pending`` until sent, or ``suppressed`` with the ``reason`` (no consent,
    contact budget spent, no address on file) — kept, never silently dropped."""

    id: int
    customer_id: int | None = None
    case_id: int | None = None
    channel: str
    purpose: str
    recipient: str
    subject: str | None = None
    body: str
    origin: str = Field(description="who or what queued it: human, rule:<name>, or the plugin's name")
    status: str = Field(description="pending, sending, sent, failed, dead or suppressed")
    reason: str | None = Field(None, description="why it was suppressed")
    attempts: int
    created_at: datetime
    sent_at: datetime | None = None


# -- cases ----------------------------------------------------------------------------


Priority = Literal[PRIORITIES]  # type: ignore[valid-type]


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: BodyId
    summary: text(2000, 1)
    asset_id: BodyId | None = None
    priority: Priority = Field("normal", description="how urgent the case is; service levels may depend on it "
                               "(and on the product's category and a service contract)")
    workflow: text(64, 1) | None = Field(None, description="the workflow the case follows; default: the "
                                         "[cases] default_workflow setting, or the one registered workflow")


class CaseOut(Out):
    id: int
    workflow: str
    customer_id: int
    asset_id: int | None = None
    summary: str
    priority: str
    service_level: str = Field(description="the service level the case runs on, whose deadlines it gets "
                               "(standard: the workflow's own); decided from its priority, the product's category "
                               "and the service contracts of its asset and customer")
    resolved_by: datetime | None = Field(None, description="resolved by this time at the latest if only the dealer "
                                         "and the system act, the manufacturer, technician and customer silent (the "
                                         "promise, computed from where the case stands); null for a case that "
                                         "ended without being resolved (withdrawn)")
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
    facts: dict[str, Any] | None = Field(None, description="what was recorded for guards to consult, e.g. "
                                         "customer_agreed_late_slot (POST /cases/{id}/facts)")
    warranty_status: Literal["in", "out", "unknown"] | None = Field(
        None, description="the asset's warranty on the day the case opened; null: the case is about no asset")
    warranty_until: date | None = Field(None, description="the warranty end that status was judged against")
    return_shipped_on: date | None = Field(None, description="the dealer shipped the replaced unit back "
                                           "(POST /cases/{id}/return)")
    return_received_on: date | None = Field(None, description="the manufacturer received it")
    credit_amount: Decimal | None = Field(None, description="the manufacturer's credit to the dealer "
                                          "(POST /cases/{id}/credit), exact, as text")
    credit_currency: str | None = None
    credited_on: date | None = None


class CasePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    priority: Priority = Field(description="how urgent the case is: the service level is decided again and "
                               "applies going forward")
    note: Long | None = Field(None, description="why, e.g. 'the customer has no heating'")


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


class ReturnIn(BaseModel):
    """One or more steps of the replaced unit's return (at least one); each is recorded by its party."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": [step], "properties": {step: {"type": "string"}}}
        for step in ("rma_number", "shipped_on", "received_on")]})
    rma_number: text(64, 1) | None = Field(None, description="the return authorisation: the case's manufacturer")
    shipped_on: Day | None = Field(None, description="the old unit was shipped back: the case's dealer")
    received_on: Day | None = Field(None, description="the old unit arrived: the case's manufacturer")
    note: Long | None = Field(None, description="e.g. the parcel's tracking number")


#: an amount of money as text: above 0, below 10**10, at most two decimal places
AMOUNT = r"^([1-9][0-9]{0,9}(\.[0-9]{1,2})?|0\.(0[1-9]|[1-9][0-9]?))$"


class CreditIn(BaseModel):
    """The manufacturer's credit to the dealer for the case: the case's manufacturer."""

    model_config = ConfigDict(extra="forbid")
    amount: integer(ge=1, lt=10**10) | Annotated[str, StringConstraints(pattern=AMOUNT)] = Field(
        description='exact: text like "449.90" (at most two decimal places), or a whole number; above 0, below '
                    "10,000,000,000")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] = Field(
        description="ISO 4217, e.g. EUR")
    on: Day | None = Field(None, description="the day of the credit; default today where the manufacturer works")
    note: Long | None = None


class FactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: Annotated[text(64, 1), JsonSchema(pattern=r"^\w*[^\W_]\w*$")] = Field(
        description="one word (letters, digits, underscores) naming the fact, e.g. customer_agreed_late_slot "
                    "(consulted before a technician's visit past the service deadline)")
    value: Annotated[Json, AfterValidator(_no_nul)]
    note: Long | None = Field(None, description="how it came about, e.g. 'agreed on the phone, 3 March'")


class SurveyIn(BaseModel):
    """What the customer answered; at least one of the scores."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": [score], "properties": {score: {"type": "integer"}}} for score in ("csat", "nps")]})
    csat: integer(ge=1, le=5) | None = None
    nps: integer(ge=0, le=10) | None = None
    comment: Long | None = None
    channel: text(64, 1) = Field("phone", description="how it was answered: a consent channel or visit")


class SurveyOut(Out):
    id: int
    case_id: int
    customer_id: int
    csat: int | None = None
    nps: int | None = None
    comment: str | None = None
    channel: str
    at: datetime


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


class OurPersonOut(Out):
    actor_id: int
    name: str
    role: str
    active: bool
    account_owner: bool


class TheirPersonOut(Out):
    """A contact person on the map: name and function only."""

    contact_id: int
    name: str
    function: str


class ThreadOut(Out):
    actor_id: int
    contact_id: int | None = Field(description="null: touches with the company naming no contact person")
    last_touch_at: datetime
    touches_12_months: int
    touches_in_window: int
    channel: str = Field(description="the channel of the last personal touch")
    levels: list[str]


class LevelStateOut(Out):
    level: str
    state: Literal["kept", "lapsed", "never met", "nobody of ours", "nobody of theirs", "neither"]
    ours: list[int] = Field(description="our active people of this level (actor ids)")
    theirs: list[int] = Field(description="their contact persons of this level")
    last_touch_at: datetime | None = None
    met: list[tuple[int, int | None]] = Field(description="the pairs (actor id, contact id or null: the company) "
                                              "whose personal touches count for this level")


class RelationshipsOut(Out):
    """Who of ours knows whom of theirs, from the personal touches on the timeline."""

    customer_id: int
    kind: str
    account_owner_id: int | None = None
    window_days: int
    single_threaded: Literal["ours", "theirs", "both"] | None = Field(
        description="within the window the personal touches involve one of our people (ours), one of their "
                    "functions (theirs), or both; null: more on both sides, or no touch")
    people: list[OurPersonOut]
    contacts: list[TheirPersonOut]
    threads: list[ThreadOut]
    levels: list[LevelStateOut]
    our_people_in_window: list[int]
    their_functions_in_window: list[str]


class CustomerViewSections(BaseModel):
    """The 360° view; a section that is null is withheld from the caller (data minimisation).
    (``customer``, made from the field declarations, is added in ``customer_schemas``.)"""

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
    relationships: RelationshipsOut | None = None


# -- tasks, reports, inbound, health -------------------------------------------------


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: text(500, 1)
    due_at: Moment
    customer_id: BodyId | None = None
    case_id: BodyId | None = None
    assigned_actor_id: BodyId | None = None
    note: Long | None = None
    contact_person_id: Id | None = Field(None, description="the customer's contact person the task is about; "
                                         "needs customer_id")


class TaskDone(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Long | None = None


class TaskSnooze(BaseModel):
    model_config = ConfigDict(extra="forbid")
    until: AwareDatetime = Field(description="the task's new due time, in the future, with its offset")


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
    contact_person_id: int | None = None
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


# -- workflows, imports -----------------------------------------------------------------


class WorkflowSummary(Out):
    name: str
    description: str


class DeadlineOut(BaseModel):
    seconds: int = Field(description="how long the state's owner has")
    business_time: bool = Field(description="counted in the owner's working hours (its region's calendar), "
                                "not on the wall clock")
    text: str = Field(description="the same in words, e.g. 'due within 4h working time'")


class StateOut(BaseModel):
    name: str
    description: str
    owner: str | None = Field(description="the kind of party that holds the case here (dealer, manufacturer, "
                              "technician, customer); null in a final state")
    final: bool
    deadline: DeadlineOut | None = Field(description="null in a final state; when it passes, the state's timeout "
                                         "transition fires")
    waits_on_customer: bool
    pauses_clock: bool = Field(description="entering it freezes what was left of the previous owner's time, and "
                               "returning gives it back")
    also_allowed: list[str] = Field(description="party kinds that may act here besides the owner")


class GuardOut(BaseModel):
    name: str
    description: str


class WorkflowTransitionOut(BaseModel):
    trigger: str
    sources: list[str] = Field(description="the states it fires from")
    dest: str
    allowed: list[str] = Field(description="who may fire it: a party kind ('dealer'), a kind and role "
                               "('dealer:manager': only that role), or 'system' (dealercrm itself: deadlines, "
                               "a customer's reply)")
    caller_may_fire: bool = Field(description="whether the caller's key is among `allowed`")
    required: list[str] = Field(description="keys of `data` that must be non-empty when firing")
    names_party: str | None = Field(description="the key of `data` naming the party that takes the case over "
                                    "(e.g. technician_party_id); needed if the case has none of that kind yet")
    timeout: bool = Field(description="fired by dealercrm when the state's deadline passes")
    guards: list[GuardOut] = Field(description="conditions judged when firing")
    description: str


class LevelOut(BaseModel):
    name: str
    description: str
    priorities: list[str] = Field(description="the case's priority must be one of these (empty: any)")
    categories: list[str] = Field(description="the product's category must be one of these, ignoring case "
                                  "(empty: any)")
    contracts: list[str] = Field(description="the asset or the customer must have one of these service contracts "
                                 "(empty: any)")
    deadlines: dict[str, DeadlineOut] = Field(description="per state, the deadline on this level; the states not "
                                              "named keep the workflow's own")
    resolved_within: str = Field(description="the promise from the declared deadlines: resolved within this much "
                                 "at the latest if only the dealer and the system act")


class WorkflowOut(BaseModel):
    name: str
    description: str
    initial: str
    states: list[StateOut]
    transitions: list[WorkflowTransitionOut]
    levels: list[LevelOut] = Field(description="service levels, the first that applies to a case wins; level "
                                   "'standard' (first here) is the states' own deadlines")


class RejectedRow(BaseModel):
    line: int = Field(description="line of the CSV document, the header being line 1")
    field: str = Field(description="the column the row was refused for; 'row' for the line as a whole")
    reason: str


class _ImportRead(BaseModel):
    rows: int = Field(description="data rows read")
    rejected: list[RejectedRow]
    read_as: str | None = Field(None, description="how the document was read, e.g. 'Windows-1252, "
                                "semicolon-separated'")
    warnings: list[str] = Field(default_factory=list, description="what to check, e.g. a document that was not "
                                "UTF-8 and was read as Windows-1252")
    ignored_columns: list[str] = Field(default_factory=list, description="columns left out as asked "
                                       "(`ignore_column`)")


class ImportOut(_ImportRead):
    imported: int
    already_present: int = Field(description="skipped: a customer with this external_id is already filed")
    assets_imported: int = Field(0, description="units filed from the asset columns (sku, serial_number, "
                                 "purchased_on, handed_over_on, warranty_until, price)")
    assets_already_present: int = Field(0, description="units the customer already had: skipped")


class AssetImportOut(_ImportRead):
    imported: int = Field(description="units filed")
    already_present: int = Field(description="skipped: the customer already has this unit (same product and "
                                 "serial number, or without one the same dates)")


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    schema_revision: str | None = None


CustomerViewSections.model_rebuild()
