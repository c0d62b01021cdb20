"""What a transition means for a case's owner, deadline and pause: pure decisions.

Kept apart from the persistence so the deadline logic reads in one place: the new
owner is the case's party of the destination state's kind (the dealer speaks for the
customer); the due time comes from the destination's deadline policy in the owner's
business calendar; entering a state that waits on the customer's answer freezes what
was left of the previous owner's time, and returning to that state gives it back
(``is_pause``: a confirmation state, whose silence closes the case, is no pause). The
data of a transition may name the manufacturer or technician that takes the case over,
never another dealer, and only an existing party of that kind.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache

import attrs

from ..errors import NotPermitted, StateConflict, ValidationError
from ..workflow.calendar import WALL_CLOCK, BusinessCalendar, parse_closed, parse_hours, remaining, resume
from ..workflow.model import State, Workflow

PARTY_COLUMNS = {"dealer": "dealer_party_id", "manufacturer": "manufacturer_party_id",
                 "technician": "technician_party_id"}


@lru_cache(maxsize=256)
def calendar_for(region: str | None, time_zone: str = "Europe/Berlin", hours: tuple = (),
                 closed: frozenset = frozenset()) -> BusinessCalendar:
    """A party's working calendar: holidays of its region ("DE", or with a subdivision
    "DE-BY"), its time zone, opening hours (``parse_hours``) and closing days."""
    country, _, subdiv = (region or "DE").partition("-")
    return BusinessCalendar(region=country, subdiv=subdiv or None, tz=time_zone or "Europe/Berlin", hours=hours,
                            closed=closed)


@attrs.frozen
class PartyInfo:
    kind: str
    region: str | None
    time_zone: str = "Europe/Berlin"
    hours: tuple = ()  # parsed: (weekday, opens, closes)
    closed: frozenset = frozenset()

    @classmethod
    def of(cls, kind: str, region: str | None, time_zone: str | None, hours: dict | None,
           closed: list | None) -> PartyInfo:
        return cls(kind, region, time_zone or "Europe/Berlin", parse_hours(hours) if hours else (),
                   parse_closed(closed))

    @property
    def calendar(self) -> BusinessCalendar:
        return calendar_for(self.region, self.time_zone, self.hours, self.closed)


@attrs.frozen
class Placement:
    owner_kind: str | None
    owner_party_id: int | None
    due_at: datetime | None
    paused_from: str | None
    paused_remaining_s: float | None
    parties: dict  # party columns to update (technician/manufacturer named in the data)
    resumed: bool = False  # back from waiting on the customer, with the time that was left


PartyLookup = Callable[[int | None], PartyInfo | None]

#: Parties the data of a transition may name for the destination's owner. Never the
#: dealer: the case belongs to the customer's dealer, and nobody hands it to another one.
NAMEABLE = ("manufacturer", "technician")
#: who may name another party of a kind the case already has: the dealer (the customer's
#: single point of contact) always, the manufacturer its technicians (it dispatches them)
REASSIGNED_BY = {"manufacturer": ("dealer",), "technician": ("dealer", "manufacturer")}


def owner_party(case: dict, kind: str | None, data: dict, subject: str, dest: str,
                lookup: PartyLookup, actor_kind: str | None = None) -> tuple[int | None, dict]:
    """The party that owns ``dest``; a technician or manufacturer may be named in the data,
    and must then be an existing party of that kind. A party the case already has is
    replaced only by a party kind in ``REASSIGNED_BY`` (``actor_kind`` None: the system):
    a technician naming another manufacturer would hand the case, and the customer's data,
    to a party of its choosing and take it from the one that decided the warranty."""
    if data.get("dealer_party_id") not in (None, case.get("dealer_party_id")):
        raise ValidationError("dealer_party_id", data["dealer_party_id"],
                              f"{subject}: the case stays with the customer's dealer, "
                              f"party {case.get('dealer_party_id')}; it cannot be named in the data")
    if kind is None:
        return None, {}
    if kind == "customer":
        return case["dealer_party_id"], {}
    column = PARTY_COLUMNS[kind]
    named = data.get(column) if kind in NAMEABLE else None
    if named is not None:
        try:
            party = int(named)
        except (TypeError, ValueError):
            raise ValidationError(column, named, f"{subject}: must be the id of a {kind} party") from None
        info = lookup(party)
        if info is None or info.kind != kind:
            what = f"is a {info.kind}" if info else "does not exist"
            raise StateConflict(column, named, f"{subject}: entering {dest!r} needs a {kind} party; "
                                  f"party {party} {what}")
        if actor_kind is not None and actor_kind not in REASSIGNED_BY[kind] and case.get(column) not in (None, party):
            raise NotPermitted(f"{subject}: the case's {kind} is party {case[column]}; another {kind} is named "
                               f"only by the case's {' or '.join(REASSIGNED_BY[kind])}, not by a {actor_kind}")
        return party, {column: party}
    if case.get(column) is None:
        raise StateConflict(column, None, f"{subject}: entering {dest!r} needs a {kind}; pass {column} in the data")
    return case[column], {}


def is_pause(wf: Workflow, state: State) -> bool:
    """Whether ``state`` waits for the customer's answer with the asker's time frozen.

    A customer-owned state whose silence closes the case (fourteen quiet days count as
    confirmed) is no pause even though it waits on the customer: the work is done, no time
    is left to give back, and sending the case back from there is a reopen."""
    if not state.waits_on_customer:
        return False
    timeout = wf.timeout_from(state.name)
    return timeout is None or not (wf.has_state(timeout.dest) and wf.state(timeout.dest).final)


def place(case: dict, source: State, dest: State, now: datetime, data: dict, subject: str,
          lookup: PartyLookup, pauses: Callable[[State], bool] = lambda s: s.waits_on_customer,
          actor_kind: str | None = None) -> Placement:
    party, parties = owner_party(case, dest.owner, data, subject, dest.name, lookup, actor_kind)
    paused_from, paused_left = case.get("paused_from"), case.get("paused_remaining_s")
    if dest.final or dest.deadline is None:
        return Placement(None, None, None, None, None, parties)
    policy = dest.deadline
    calendar = calendar_of(lookup, party) if policy.business else WALL_CLOCK
    if pauses(dest) and not pauses(source):
        prev_calendar = calendar_of(lookup, case.get("owner_party_id"))
        left = remaining(case["due_at"], now, prev_calendar) if case.get("due_at") else timedelta(0)
        return Placement(dest.owner, party, calendar.add(now, policy.duration), source.name,
                         left.total_seconds(), parties)
    if pauses(source) and dest.name == paused_from and paused_left is not None:
        return Placement(dest.owner, party, resume(timedelta(seconds=paused_left), now, calendar), None, None, parties,
                         resumed=True)
    keep_pause = pauses(dest)
    return Placement(dest.owner, party, calendar.add(now, policy.duration),
                     paused_from if keep_pause else None, paused_left if keep_pause else None, parties)


def calendar_of(lookup: PartyLookup, party_id: int | None) -> BusinessCalendar:
    """The business calendar of a party (the default one for none or an unknown party)."""
    info = lookup(party_id)
    return info.calendar if info else calendar_for(None)
