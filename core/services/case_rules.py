"""What a transition means for a case's owner, deadline and pause: pure decisions.

Kept apart from the persistence so the deadline logic reads in one place: the new
owner is the case's party of the destination state's kind (the dealer speaks for the
customer); the due time comes from the destination's deadline policy in the owner's
business calendar; entering a state that waits on the customer freezes what was
left of the previous owner's time, and returning to that state gives it back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

import attrs

from ..errors import ValidationError
from ..workflow.calendar import WALL_CLOCK, BusinessCalendar, remaining, resume
from ..workflow.model import State

PARTY_COLUMNS = {"dealer": "dealer_party_id", "manufacturer": "manufacturer_party_id",
                 "technician": "technician_party_id"}


@lru_cache(maxsize=256)
def calendar_for(region: str | None) -> BusinessCalendar:
    return BusinessCalendar(region=region or "DE")


@attrs.frozen
class Placement:
    owner_kind: str | None
    owner_party_id: int | None
    due_at: datetime | None
    paused_from: str | None
    paused_remaining_s: float | None
    parties: dict  # party columns to update (technician/manufacturer named in the data)


def owner_party(case: dict, kind: str | None, data: dict, subject: str, dest: str) -> tuple[int | None, dict]:
    """The party that owns ``dest``; a technician or manufacturer may be named in the data."""
    if kind is None:
        return None, {}
    if kind == "customer":
        return case["dealer_party_id"], {}
    column = PARTY_COLUMNS[kind]
    named = data.get(column)
    if named is not None:
        return int(named), {column: int(named)}
    if case.get(column) is None:
        raise ValidationError(column, None, f"{subject}: entering {dest!r} needs a {kind}; pass {column} in the data")
    return case[column], {}


def place(case: dict, source: State, dest: State, now: datetime, data: dict, subject: str,
          regions: dict[int, str]) -> Placement:
    party, parties = owner_party(case, dest.owner, data, subject, dest.name)
    paused_from, paused_left = case.get("paused_from"), case.get("paused_remaining_s")
    if dest.final or dest.deadline is None:
        return Placement(None, None, None, None, None, parties)
    policy = dest.deadline
    calendar = calendar_for(regions.get(party)) if policy.business else WALL_CLOCK
    if dest.waits_on_customer and not source.waits_on_customer:
        prev_calendar = calendar_for(regions.get(case.get("owner_party_id")))
        left = remaining(case["due_at"], now, prev_calendar) if case.get("due_at") else timedelta(0)
        return Placement(dest.owner, party, calendar.add(now, policy.duration), source.name,
                         left.total_seconds(), parties)
    if source.waits_on_customer and dest.name == paused_from and paused_left is not None:
        return Placement(dest.owner, party, resume(timedelta(seconds=paused_left), now, calendar), None, None, parties)
    keep_pause = dest.waits_on_customer
    return Placement(dest.owner, party, calendar.add(now, policy.duration),
                     paused_from if keep_pause else None, paused_left if keep_pause else None, parties)
