"""Each field of the customer file declared once, with what it is.

A field says whether it is personal (erasure blanks it, the export marks it), which
party kinds read it on a file they do not keep (the per-party minimisation), whether
it can be changed, imported (its CSV column), filled in from a duplicate when merging,
and exported. Editing, validation, import columns, merge, export, erasure, HTTP
schemas and CLI options are all derived from these declarations, so adding a field is
one declaration, not a dozen hand-kept lists.

Plugins declare fields of their own (``dealercrm_register_fields``); those are stored in
the record's JSON column ``custom`` and take part in everything above like a built-in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from . import validation
from .errors import ValidationError

PARTY_KINDS = ("dealer", "manufacturer", "technician")
ALL_PARTIES = frozenset(PARTY_KINDS)
CUSTOMER_KINDS = ("person", "company")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

#: A cleaner turns input into the stored value or raises ``ValidationError`` naming the field.
Cleaner = Callable[[str, Any, "CleanContext"], Any]


@attrs.frozen
class CleanContext:
    """What a cleaner may need to know beyond the value: the region for phone numbers."""

    default_region: str = "DE"
    #: the application clock's date, for plausibility (a birthday in the future)
    today: date | None = None
    #: the service contracts some service level names; None: not checked
    contracts: frozenset[str] | None = None


def clean_text(name: str, value: Any, ctx: CleanContext) -> str | None:
    return validation.text(name, value)


def clean_required(name: str, value: Any, ctx: CleanContext) -> str:
    return validation.required(name, value)


def clean_email(name: str, value: Any, ctx: CleanContext) -> str | None:
    return validation.email(value)


def clean_phone(name: str, value: Any, ctx: CleanContext) -> str | None:
    return validation.phone(value, ctx.default_region)


def clean_date(name: str, value: Any, ctx: CleanContext) -> date | None:
    return validation.iso_date(name, value)


def clean_birthday(name: str, value: Any, ctx: CleanContext) -> date | None:
    return validation.birthday(name, value, ctx.today)


#: as long as the HTTP API allows (``CustomerIn.external_id``), in Python and imports too
EXTERNAL_ID_MAX = 100


def clean_external_id(name: str, value: Any, ctx: CleanContext) -> str | None:
    value = validation.text(name, value)
    if value is not None and len(value) > EXTERNAL_ID_MAX:
        raise ValidationError(name, value[:40] + "…", f"is longer than {EXTERNAL_ID_MAX} characters")
    return value


def clean_time_zone(name: str, value: Any, ctx: CleanContext) -> str | None:
    return validation.time_zone(name, value)


def clean_language(name: str, value: Any, ctx: CleanContext) -> str | None:
    return validation.language(name, value)


def clean_kind(name: str, value: Any, ctx: CleanContext) -> str:
    return validation.choice(name, value, CUSTOMER_KINDS)


def clean_contract(name: str, value: Any, ctx: CleanContext) -> str | None:
    """A service contract's name, one that a service level names: a contract no level knows
    would change nothing, and a typo ("premum") must not silently cost a customer the level."""
    contract = validation.text(name, value)
    if contract is None or ctx.contracts is None or contract in ctx.contracts:
        return contract
    known = ", ".join(sorted(ctx.contracts)) or "none (declare service levels with contracts first)"
    raise ValidationError(name, value, f"no service level names this contract; contracts: {known}")


_CURRENCY = re.compile(r"^[A-Z]{3}$")


def clean_currency(name: str, value: Any, ctx: CleanContext) -> str | None:
    """An ISO 4217 code, e.g. EUR; typed in lower case is fine."""
    code = validation.text(name, value)
    if code is None:
        return None
    if not _CURRENCY.match(code.upper()):
        raise ValidationError(name, value, "must be a three-letter ISO 4217 currency code, e.g. EUR")
    return code.upper()


def clean_money(name: str, value: Any, ctx: CleanContext) -> Decimal | None:
    """A positive amount with at most two decimal places, below ten thousand million;
    never a float (0.1 + 0.2 is no amount of money): a Decimal, an int or text like "49.90"."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or isinstance(value, float):
        raise ValidationError(name, value, 'must be exact: a Decimal, a whole number or text like "49.90"')
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError(name, value, 'is not an amount like "49.90"') from None
    if not amount.is_finite() or amount <= 0 or amount >= Decimal("1e10"):
        raise ValidationError(name, value, "must be above 0 and below 10000000000")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationError(name, value, "has more than two decimal places")
    return amount.quantize(Decimal("0.01"))


@attrs.frozen
class Field:
    """One field of a record, declared once.

    ``readers``: party kinds that see it on a file they serve a case of but do not keep
    (the owning dealer and the system see every field). ``column``: its CSV import
    column (None: not importable). ``mergeable``: filled in from a merged duplicate
    when the kept record has none. ``custom``: declared by a plugin, kept in ``custom``.
    """

    name: str
    help: str
    personal: bool = False
    readers: frozenset[str] = frozenset()
    editable: bool = True
    column: str | None = None
    mergeable: bool = False
    exported: bool = True
    type: type = str
    clean: Cleaner = clean_text
    required: bool = False
    custom: bool = False
    #: what erasure writes instead of the value (None: blank it)
    erased_value: Any = None
    #: the longest text accepted (None: no limit); refused, not cut, when longer
    max_length: int | None = 200
    #: the only values accepted, if the field is a choice
    choices: tuple[str, ...] = ()
    #: what kind of text it is, where no pattern can say it (the OpenAPI ``format``): "email"
    #: (what email-validator accepts), "phone" (what phonenumbers reads as valid)
    format: str | None = None

    def __attrs_post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValidationError("field name", self.name, "must be lower_snake_case, a letter first, at most 40")
        unknown = set(self.readers) - ALL_PARTIES
        if unknown:
            raise ValidationError("field readers", sorted(unknown), f"party kinds are {', '.join(PARTY_KINDS)}")

    def read(self, record: Any) -> Any:
        if self.custom:
            return (getattr(record, "custom", None) or {}).get(self.name)
        return getattr(record, self.name)


def field(name: str, help: str, **kw: Any) -> Field:
    """A field; ``importable=True`` makes its CSV column its name."""
    if kw.pop("importable", False):
        kw.setdefault("column", name)
    if kw.get("required") and "clean" not in kw:
        kw["clean"] = clean_required
    if "readers" in kw:
        kw["readers"] = frozenset(kw["readers"])
    return Field(name, help, **kw)


class FieldSet(Mapping[str, Field]):
    """The fields of one kind of record, built-in first, then those of plugins."""

    def __init__(self, record: str, fields: Iterable[Field], label: str = ""):
        #: ``label`` prefixes field names in messages ("contact name")
        self.record, self.label = record, label
        self._fields: dict[str, Field] = {}
        for f in fields:
            self.add(f)

    def add(self, f: Field) -> None:
        if f.name in self._fields:
            raise ValidationError(f"{self.record} field", f.name, "is declared twice")
        self._fields[f.name] = f

    def extended(self, extra: Iterable[Field]) -> FieldSet:
        out = FieldSet(self.record, self._fields.values(), self.label)
        for f in extra:
            out.add(attrs.evolve(f, custom=True))
        return out

    def __getitem__(self, name: str) -> Field:
        return self._fields[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    # -- what is derived -------------------------------------------------------------
    def where(self, **flags: Any) -> tuple[Field, ...]:
        return tuple(f for f in self._fields.values() if all(getattr(f, k) == v for k, v in flags.items()))

    @property
    def editable(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.where(editable=True))

    @property
    def personal(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.where(personal=True))

    @property
    def mergeable(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.where(mergeable=True))

    @property
    def columns(self) -> dict[str, Field]:
        """CSV column → field, for every importable field."""
        return {f.column: f for f in self._fields.values() if f.column}

    @property
    def custom(self) -> tuple[Field, ...]:
        return self.where(custom=True)

    def clean(self, values: Mapping[str, Any], ctx: CleanContext, *, only_editable: bool = True) -> dict[str, Any]:
        """Validate and normalise ``values``; raises naming the first bad field."""
        allowed = self.editable if only_editable else tuple(self)
        out: dict[str, Any] = {}
        for name, value in values.items():
            if name not in allowed:
                raise ValidationError("field", name, f"cannot be changed here; editable: {', '.join(allowed)}")
            f = self._fields[name]
            if isinstance(value, str) and f.max_length and len(value.strip()) > f.max_length:
                raise ValidationError(name, value[:40] + "…", f"is longer than {f.max_length} characters")
            shown = f"{self.label} {name}" if self.label else name
            out[name] = f.clean(shown, value, ctx)
            if f.required and out[name] in (None, ""):
                raise ValidationError(shown, value, "is required")
        return out

    def visible(self, relation: str) -> tuple[str, ...]:
        """Names of the fields an ``owner`` sees, or a party kind on a case contact's file."""
        if relation == "owner":
            return tuple(self._fields)
        return tuple(f.name for f in self._fields.values() if relation in f.readers)

    def split(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(columns of the table, values kept in ``custom``)."""
        builtin = {k: v for k, v in values.items() if not self._fields[k].custom}
        custom = {k: v for k, v in values.items() if self._fields[k].custom}
        return builtin, custom


_CASE_PARTIES = ("dealer", "technician", "manufacturer")

#: The customer file's own fields. Record keeping fields (owner, dates) come last.
CUSTOMER = FieldSet("customer", [
    field("name", "the person's or company's name", personal=True, readers=_CASE_PARTIES, importable=True,
          required=True, erased_value="[erased]"),
    field("kind", "person or company", readers=_CASE_PARTIES, importable=True, clean=clean_kind,
          choices=CUSTOMER_KINDS),
    field("email", "e-mail address", personal=True, readers=("dealer",), importable=True, mergeable=True,
          clean=clean_email, format="email"),
    field("phone", "phone number, stored in E.164 (+49…)", personal=True, readers=("dealer", "technician"),
          importable=True, mergeable=True, clean=clean_phone, max_length=40, format="phone"),
    field("birthday", "date of birth (YYYY-MM-DD, 1900 to today)", personal=True, importable=True, mergeable=True,
          type=date, clean=clean_birthday),
    field("street", "street and number", personal=True, readers=("dealer", "technician"), importable=True,
          mergeable=True),
    field("postcode", "postal code", personal=True, readers=_CASE_PARTIES, importable=True, mergeable=True,
          max_length=20),
    field("city", "city", personal=True, readers=_CASE_PARTIES, importable=True, mergeable=True),
    field("time_zone", "the customer's time zone for the times in their notices (IANA, e.g. Europe/Vienna; "
          "default: the dealer's)", importable=True, mergeable=True, clean=clean_time_zone, max_length=64),
    field("language", "the language of the customer's notices (de, en …; default: the configured one)",
          importable=True, mergeable=True, clean=clean_language, max_length=8),
    field("external_id", "the host system's own id for the customer (e.g. the DMS number, at most 100 "
          "characters)", editable=False, importable=True, clean=clean_external_id, max_length=100),
    field("owner_party_id", "the dealer that keeps the file", editable=False, type=int),
    field("account_owner_id", "the dealer's person who looks after the customer", editable=False, mergeable=True,
          type=int),
    field("created_at", "when the file was opened", editable=False, type=datetime),
    field("updated_at", "when the file last changed", editable=False, type=datetime),
    field("last_touch_at", "the last personal contact", editable=False, type=datetime),
    field("merged_into_id", "the file this duplicate was merged into", editable=False, type=int),
    field("erased_at", "when the personal data was erased", editable=False, type=datetime),
    field("service_contract", "the customer's service contract (e.g. premium): service levels of the cases "
          "may depend on it", readers=("dealer",), importable=True, mergeable=True, clean=clean_contract,
          max_length=64),
])

#: A company customer's (or a household's) contact persons.
CONTACT = FieldSet("contact_person", [
    field("name", "the contact person's name", personal=True, required=True, erased_value="[erased]"),
    field("function", "buyer, technician, management, accounting …", required=True),
    field("email", "e-mail address", personal=True, clean=clean_email, format="email"),
    field("phone", "phone number", personal=True, clean=clean_phone, format="phone"),
], label="contact")

def clean_price(name: str, value: Any, ctx: CleanContext) -> float | None:
    """What a customer paid: a number from 0 to 1,000,000,000 (text like "449.90" too)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValidationError(name, value, "is not an amount like 449.90")
    try:
        amount = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValidationError(name, value, "is not an amount like 449.90") from None
    if not 0 <= amount <= 1e9:  # NaN fails both
        raise ValidationError(name, value, "must be from 0 to 1000000000")
    return amount


#: A product a customer owns: nothing personal, read by every party of a case on it. Each
#: field is a column of the asset import and of the customer import (a unit bought with
#: the customer's row); the product is named by its SKU (``dealercrm.services.importing``).
ASSET = FieldSet("asset", [
    field("serial_number", "the unit's serial number", readers=_CASE_PARTIES, importable=True, max_length=100),
    field("purchased_on", "purchase date", readers=_CASE_PARTIES, type=date, clean=clean_date, importable=True),
    field("handed_over_on", "handover date (starts the warranty)", readers=_CASE_PARTIES, type=date,
          clean=clean_date, importable=True),
    field("warranty_until", "end of warranty, when it is not the product's warranty from the handover "
          "(e.g. an extended warranty)", readers=_CASE_PARTIES, type=date, clean=clean_date, importable=True),
    field("price", "what the customer paid", type=float, clean=clean_price, importable=True),
    field("service_contract", "a service contract for this unit (e.g. premium): service levels of its cases "
          "may depend on it", readers=_CASE_PARTIES, clean=clean_contract, max_length=64),
])

#: A service case: the summary and the facts are the customer's words, so personal.
CASE = FieldSet("case", [
    field("summary", "what the customer reported", personal=True, readers=_CASE_PARTIES, required=True,
          erased_value="[erased]", max_length=2000),
    field("priority", "how urgent the case is: " + ", ".join(validation.PRIORITIES), readers=_CASE_PARTIES,
          editable=False, choices=validation.PRIORITIES),
    field("service_level", "the service level the case runs on, whose deadlines it gets (standard: the "
          "workflow's own)", readers=_CASE_PARTIES, editable=False),
    field("facts", "what the case's steps recorded", personal=True, readers=_CASE_PARTIES, editable=False,
          type=dict),
    field("warranty_status", "in, out or unknown: the asset's warranty on the day the case opened",
          readers=_CASE_PARTIES, editable=False, choices=("in", "out", "unknown")),
    field("warranty_until", "the warranty end that status was judged against", readers=_CASE_PARTIES,
          editable=False, type=date),
    # the replaced unit's return and the credit: who records which is decided in dealercrm.access
    field("rma_number", "the manufacturer's return authorisation (RMA) for the replaced unit",
          readers=_CASE_PARTIES, max_length=64),
    field("return_shipped_on", "the day the dealer shipped the replaced unit back", readers=_CASE_PARTIES,
          type=date, clean=clean_date),
    field("return_received_on", "the day the manufacturer received it", readers=_CASE_PARTIES, type=date,
          clean=clean_date),
    field("credit_amount", "what the manufacturer credits the dealer for the case", readers=_CASE_PARTIES,
          type=Decimal, clean=clean_money),
    field("credit_currency", "the credit's currency (ISO 4217, e.g. EUR)", readers=_CASE_PARTIES,
          clean=clean_currency),
    field("credited_on", "the day of the credit", readers=_CASE_PARTIES, type=date, clean=clean_date),
])


class Record(dict):
    """One record as one actor may see it: every visible field by key or attribute.

    Withheld fields are absent, not None: ``record.email`` on a technician's view of a
    customer raises ``AttributeError`` naming the field, ``"email" in record`` is False.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{name!r} is withheld from this actor, or no field of the record") from None


@attrs.frozen
class Fields:
    """The field sets of one application: the core's, extended by its plugins."""

    customer: FieldSet
    contact: FieldSet = CONTACT
    asset: FieldSet = ASSET
    case: FieldSet = CASE
