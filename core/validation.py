"""Normalising what people type, or saying exactly what is wrong with it.

E-mail addresses are checked by email-validator (syntax only: no DNS on the hot path
of an import), phone numbers by phonenumbers and stored as E.164 so the same number
typed two ways is recognised as a duplicate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from .clock import UTC
from .errors import ValidationError


def email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationError("email", value, str(exc).rstrip(".")) from None


def phone(value: str | None, region: str = "DE") -> str | None:
    if value is None or not value.strip():
        return None
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError("phone", value, str(exc).split(") ", 1)[-1]) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("phone", value, f"is not a valid phone number (region {region})")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


#: how urgent a case is, from the customer's point of view; service levels may depend on it
PRIORITIES = ("low", "normal", "high", "urgent")


def choice(field: str, value: str, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValidationError(field, value, f"must be one of {', '.join(allowed)}")
    return value


def required(field: str, value: str | None) -> str:
    if value is None or not str(value).strip():
        raise ValidationError(field, value, "is required")
    return text(field, value)


def text(field: str, value: str | None) -> str | None:
    """Free text, stripped; blank becomes None. NUL is refused on every backend
    (PostgreSQL cannot store it, SQLite would keep it silently)."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    if "\x00" in value:
        raise ValidationError(field, value, "contains a NUL character")
    return value


def aware(field: str, value: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is refused rather than guessed, and one that
    has no UTC time (0001-01-01T00:00+05:00 would be in year 0) is out of range."""
    if not isinstance(value, datetime):
        raise ValidationError(field, value, "must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(field, value.isoformat(), "has no timezone; pass an aware datetime")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValidationError(field, value.isoformat(), "is out of range: in UTC it falls outside the years "
                              "1 to 9999") from None


def finite(field: str, value: Any) -> Any:
    """``value`` (JSON-like: nested lists and dicts) without NaN or infinities: JSON has no
    such numbers, they would be stored as something else or read back as null."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(field, value, "must be a finite number (not NaN or infinite)")
    if isinstance(value, dict):
        for key, item in value.items():
            finite(f"{field}.{key}", item)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            finite(f"{field}.{i}", item)
    return value


def ascii_int(text: str | None) -> int | None:
    """The whole number ``text`` spells in ASCII digits, else None: ``"²".isdigit()`` is True
    but ``int("²")`` raises, and ``int("١")`` reads Arabic-Indic digits."""
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else None


#: the earliest birthday taken as plausible
EARLIEST_BIRTHDAY = date(1900, 1, 1)


def birthday(field: str, value: str | date | None, today: date | None) -> date | None:
    """A date of birth: not before 1900 and not after ``today``."""
    day = iso_date(field, value)
    if day is not None and not EARLIEST_BIRTHDAY <= day <= (today or date.max):
        raise ValidationError(field, day.isoformat(), f"is not a plausible date of birth: it must lie between "
                              f"{EARLIEST_BIRTHDAY.isoformat()} and today"
                              + (f" ({today.isoformat()})" if today else ""))
    return day


def iso_date(field: str, value: str | date | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(field, value, "is not a date in the form YYYY-MM-DD") from None


def time_zone(field: str, value: str | None) -> str | None:
    """An IANA time zone name ("Europe/Berlin", "America/New_York"); blank is None."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = text(field, value)
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        raise ValidationError(field, value, "is no IANA time zone; e.g. Europe/Berlin, America/New_York") from None
    return name


def language(field: str, value: str | None) -> str | None:
    """A language as a two-letter ISO 639-1 code ("de", "en"); "DE" is "de"; blank is None."""
    code = text(field, value)
    if code is None:
        return None
    if not (len(code) == 2 and code.isascii() and code.isalpha()):
        raise ValidationError(field, value, "must be a two-letter language code (ISO 639-1), e.g. de or en")
    return code.lower()
