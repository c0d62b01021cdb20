"""Working time: deadlines that respect each party's opening hours and public holidays.

"Two working days" handed to a manufacturer on Friday afternoon before Easter must not
expire on Easter Monday, and a technician in another federal state has other holidays.
So deadlines count working time in the *owner's* calendar, while waiting on the
customer runs on the wall clock and can be paused (``remaining``/``resume``).
All results are aware UTC datetimes, like everything the clock hands out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from types import MappingProxyType
from typing import Protocol
from zoneinfo import ZoneInfo

import attrs

from dealercrm.clock import as_utc
from dealercrm.errors import ValidationError
from dealercrm.workflow.model import DeadlinePolicy

_ZERO = timedelta(0)
_MAX_DAYS = 3660  # a calendar with no working day in ten years is a configuration error


class Calendar(Protocol):
    def add(self, start: datetime, duration: timedelta) -> datetime: ...

    def working_time_between(self, a: datetime, b: datetime) -> timedelta: ...


@attrs.frozen
class WallClock:
    """Time that runs day and night: fourteen days of customer silence are fourteen days."""

    def add(self, start: datetime, duration: timedelta) -> datetime:
        return as_utc(start) + duration

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        return as_utc(b) - as_utc(a)


WALL_CLOCK = WallClock()


@attrs.frozen
class BusinessCalendar:
    """A party's working time: its time zone, opening hours (the same every working day, or
    per weekday in ``hours``), public holidays of its region and subdivision, and days it
    is closed besides (``closed``: company holidays, a stocktaking day)."""

    region: str = "DE"
    subdiv: str | None = None
    workdays: tuple[int, ...] = attrs.field(default=(0, 1, 2, 3, 4), converter=tuple)
    opens: time = time(8)
    closes: time = time(17)
    tz: str = "Europe/Berlin"
    #: (weekday, opens, closes) per working weekday; when given, it decides the workdays
    hours: tuple[tuple[int, time, time], ...] = attrs.field(default=(), converter=tuple)
    closed: frozenset[date] = attrs.field(default=frozenset(), converter=frozenset)
    _holidays: object = attrs.field(init=False, eq=False, hash=False, repr=False)
    _zone: ZoneInfo = attrs.field(init=False, eq=False, hash=False, repr=False)
    _windows: dict = attrs.field(init=False, eq=False, hash=False, repr=False)

    def __attrs_post_init__(self) -> None:
        # Refuse bad settings at construction: a wrong calendar silently shifts every deadline.
        if self.hours:
            object.__setattr__(self, "workdays", tuple(sorted(day for day, _, _ in self.hours)))
        if not self.workdays or not set(self.workdays) <= set(range(7)):
            raise ValidationError("workdays", self.workdays, "needs at least one weekday 0 (Monday) .. 6")
        windows = {day: (self.opens, self.closes) for day in self.workdays}
        windows.update({day: (opens, closes) for day, opens, closes in self.hours})
        for day, (opens, closes) in windows.items():
            if not opens < closes:
                raise ValidationError("closes", closes, f"must be later than opens {opens} (weekday {day})")
        object.__setattr__(self, "_windows", windows)
        try:
            object.__setattr__(self, "_zone", ZoneInfo(self.tz))
            import holidays  # loaded on first use: the package is large

            object.__setattr__(self, "_holidays", holidays.country_holidays(self.region, subdiv=self.subdiv))
        except (NotImplementedError, LookupError, ValueError) as err:
            raise ValidationError("calendar", (self.region, self.subdiv, self.tz), str(err)) from None

    @property
    def day_length(self) -> timedelta:
        """One full working day; use it to say "n working days" in a DeadlinePolicy."""
        return datetime.combine(date.min, self.closes) - datetime.combine(date.min, self.opens)

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self._windows and day not in self._holidays and day not in self.closed

    def _window(self, day: date) -> tuple[datetime, datetime]:
        # Built per day in local time, then converted: opening hours survive DST changes.
        opens, closes = self._windows[day.weekday()]
        return (as_utc(datetime.combine(day, opens, self._zone)), as_utc(datetime.combine(day, closes, self._zone)))

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """``start`` plus ``duration`` of working time; a deadline that uses up a day
        exactly ends at closing time, not at the next opening."""
        if duration < _ZERO:
            raise ValidationError("duration", duration, "must not be negative")
        cursor, left = as_utc(start), duration
        if not left:
            return cursor
        day = cursor.astimezone(self._zone).date()
        for _ in range(_MAX_DAYS):
            if self.is_working_day(day):
                opens, closes = self._window(day)
                cursor = max(cursor, opens)
                if cursor <= closes:
                    if left <= closes - cursor:
                        return cursor + left
                    left -= closes - cursor
            day += timedelta(days=1)
        raise ValidationError("duration", duration, f"finds no working time within {_MAX_DAYS} days")

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        a, b = as_utc(a), as_utc(b)
        if b < a:
            return -self.working_time_between(b, a)
        total, day, last = _ZERO, a.astimezone(self._zone).date(), b.astimezone(self._zone).date()
        while day <= last:
            if self.is_working_day(day):
                opens, closes = self._window(day)
                total += max(_ZERO, min(b, closes) - max(a, opens))
            day += timedelta(days=1)
        return total


@attrs.frozen
class Calendars:
    """Which calendar each party works by; parties not listed use ``default``."""

    default: BusinessCalendar = attrs.Factory(BusinessCalendar)
    by_party: Mapping[str, BusinessCalendar] = attrs.field(
        factory=dict, converter=lambda m: MappingProxyType(dict(m)), hash=False
    )

    def for_party(self, party: str | None) -> BusinessCalendar:
        return self.by_party.get(party, self.default) if party else self.default

    def for_policy(self, party: str | None, policy: DeadlinePolicy) -> Calendar:
        return self.for_party(party) if policy.business else WALL_CLOCK

    def deadline(self, party: str | None, policy: DeadlinePolicy, start: datetime) -> datetime:
        return self.for_policy(party, policy).add(start, policy.duration)


def remaining(due_at: datetime, paused_at: datetime, calendar: Calendar) -> timedelta:
    """Time left when the clock is frozen (the case now waits on the customer);
    an already overdue case keeps nothing, so it is due again right after resuming."""
    return max(_ZERO, calendar.working_time_between(paused_at, due_at))


def resume(left: timedelta, now: datetime, calendar: Calendar) -> datetime:
    """The new due date when the customer answered: the owner gets back what was left."""
    return calendar.add(now, left)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_hours(hours: Mapping[str, str] | None) -> tuple[tuple[int, time, time], ...]:
    """``{"mon": "08:00-17:00", "sat": "09:00-12:00"}`` → (weekday, opens, closes) per working day;
    a weekday left out is closed. ``"mon-fri"`` names a range of days."""
    out: dict[int, tuple[time, time]] = {}
    for days, window in (hours or {}).items():
        first, _, last = str(days).strip().lower().partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise ValidationError("hours", days, f"name weekdays as {', '.join(WEEKDAYS)} or a range like mon-fri")
        span = range(WEEKDAYS.index(first), WEEKDAYS.index(last or first) + 1)
        opens, sep, closes = str(window).partition("-")
        try:
            window_times = time.fromisoformat(opens.strip()), time.fromisoformat(closes.strip())
        except ValueError:
            raise ValidationError("hours", f"{days}={window}", "give opening hours as HH:MM-HH:MM") from None
        if not sep or not window_times[0] < window_times[1]:
            raise ValidationError("hours", f"{days}={window}", "must open before it closes, as HH:MM-HH:MM")
        for day in span:
            out[day] = window_times
    if hours is not None and not out:
        raise ValidationError("hours", hours, "need at least one working day")
    return tuple((day, *out[day]) for day in sorted(out))


def format_hours(hours: tuple[tuple[int, time, time], ...]) -> dict[str, str]:
    return {WEEKDAYS[day]: f"{opens:%H:%M}-{closes:%H:%M}" for day, opens, closes in hours}


def parse_closed(days: list | tuple | None) -> frozenset[date]:
    try:
        return frozenset(d if isinstance(d, date) else date.fromisoformat(str(d)) for d in (days or ()))
    except ValueError as err:
        raise ValidationError("closed", days, f"give ISO dates (YYYY-MM-DD): {err}") from None


def zone_name(zone: ZoneInfo, moment: datetime) -> str:
    """The zone as a person reads it at ``moment``: "CET", "CEST", "EST" (or its key)."""
    return moment.astimezone(zone).tzname() or zone.key
