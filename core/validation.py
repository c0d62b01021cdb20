"""Normalising what people type, or saying exactly what is wrong with it.

E-mail addresses are checked by email-validator (syntax only: no DNS on the hot path
of an import), phone numbers by phonenumbers and stored as E.164 so the same number
typed two ways is recognised as a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

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
    """An aware datetime in UTC; a naive one is refused rather than guessed."""
    if not isinstance(value, datetime):
        raise ValidationError(field, value, "must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(field, value.isoformat(), "has no timezone; pass an aware datetime")
    return value.astimezone(UTC)


def iso_date(field: str, value: str | date | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(field, value, "is not a date in the form YYYY-MM-DD") from None
