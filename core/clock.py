"""The one source of time.

Everything that stamps a record or decides whether a deadline passed asks the
application's clock, never ``datetime.now()``: tests, demos and the deadline processor
move time by swapping or advancing it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol

UTC = timezone.utc


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware UTC datetime."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to: ``advance(days=3)`` or ``set(dt)``."""

    def __init__(self, start: datetime | None = None):
        self._now = as_utc(start) if start else datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now

    def set(self, when: datetime) -> datetime:
        self._now = as_utc(when)
        return self._now


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are refused rather than guessed: a wrong zone shifts deadlines."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no timezone; pass an aware one")
    return value.astimezone(UTC)
