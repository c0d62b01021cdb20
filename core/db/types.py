"""Column types that keep every timestamp aware and in UTC, and money exact, on every backend.

SQLite has no timezone type and hands back naive datetimes; storing naive UTC and
re-attaching the zone on the way out keeps comparisons exact on both SQLite and
PostgreSQL (where the column is ``timestamptz``). SQLite has no decimal type either:
``Money`` is ``numeric(12, 2)`` on PostgreSQL and comes back as ``Decimal`` on both.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, DateTime, Numeric
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from ..clock import UTC, as_utc


class UTCDateTime(TypeDecorator):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite text from a hand-written query
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


CENT = Decimal("0.01")


class Money(TypeDecorator):
    """An amount of money with two decimal places (up to 10 digits before the point).

    PostgreSQL keeps it as ``numeric(12, 2)``. SQLite has no decimal type and would store
    a ``Decimal`` as a float anyway (SQLAlchemy warns about that): here the value travels
    as a float on purpose and is quantised back to cents on the way out, which is exact
    for every amount of at most twelve digits (a float holds fifteen).
    """

    impl = Numeric(12, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Numeric(12, 2, asdecimal=False))
        return dialect.type_descriptor(Numeric(12, 2))

    def process_bind_param(self, value: Decimal | None, dialect):
        if value is None:
            return None
        return float(value) if dialect.name == "sqlite" else Decimal(value).quantize(CENT)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return Decimal(str(value)).quantize(CENT)
