"""The promise: by when a case is resolved at the latest, if only the dealer and the system act.

"A technician in three weeks at the earliest, take it or leave it" is what a customer hears
when nobody can say more. The workflow's data can say more: every state has an owner and a
deadline, a silent owner's state ends by its timeout, and the dealer can always make it right.
So the latest time to resolution is computable, *assuming the worst of everyone the dealer
cannot command*: the manufacturer, the technician and the customer stay silent, each of their
states runs to its deadline and ends by its timeout transition. The dealer (and the system,
whose only move of its own is the timeout) chooses the best way out of each of its states,
but is assumed to take its full deadline in each. Reaching a final state that ``resolves``
(closed, refunded — not withdrawn) ends the game.

That is a shortest path over states in which a state costs its full deadline, counted in
its owner's business calendar (or on the wall clock, as its ``DeadlinePolicy`` says). With
calendars, a duration depends on when it starts (a Friday-afternoon hand-over costs the
weekend), so the bound is computed for a concrete start — the case's current state and its
due time, the case's parties' calendars — by Dijkstra over arrival times. Adding working
time is monotone (who starts earlier never finishes later), so the earliest arrival is
found exactly, and a dealer who acts before its deadline, following the way found, never
makes the case later than the bound. The way is part of the answer (``Promise.steps``): the
promise holds as long as the dealer takes it; a detour (forwarding to the manufacturer when
the way found did not) is allowed, but the bound computed after it may be later.

``bound`` gives the calendar-free figure ``dealercrm workflow check`` prints per level: the
sum of the declared deadlines along the best way, working time and wall-clock time apart.

Two simplifications, both on the safe side: a state the case returns to from waiting on the
customer gets back only the time that was left (``case_rules.place``), the promise counts its
full deadline; and a state entered again gets a fresh full deadline, as it does at run time.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs

from dealercrm.workflow.calendar import WALL_CLOCK, Calendar
from dealercrm.workflow.guarded import always_passable, dealer_may
from dealercrm.workflow.model import State, Transition, Workflow
from dealercrm.workflow.render import describe_duration

#: the owner whose states the dealer plays; in every other party's state the owner is silent
ACTING = "dealer"
#: the share of a standard working week (5 days of 9 hours) in a week of 168 hours: how ``bound``
#: weighs working time against wall-clock time when it chooses between ways that mix both
WORKING_SHARE = 45 / 168


def moves(wf: Workflow, state: str) -> tuple[Transition, ...]:
    """The ways out of ``state`` when only the dealer and the system act: in a state the dealer
    owns, every transition the dealer can surely take (``always_passable``) and the timeout; in
    any other party's state, only the timeout (its owner is silent)."""
    s = wf.state(state)
    if s.final:
        return ()
    out = wf.transitions_from(state)
    if s.owner == ACTING:
        return tuple(t for t in out if wf.has_state(t.dest) and always_passable(t) and (t.timeout or dealer_may(t)))
    return tuple(t for t in out if t.timeout and wf.has_state(t.dest))


@attrs.frozen
class Game:
    """What the search needs of a workflow (as one level has it), worked out once: the moves
    out of each state, and for each state the least wall-clock time from entering it to a
    resolving final state (``least``: every deadline counted as if it ran day and night, which
    no working-time deadline beats). ``least`` lets the search skip states that cannot beat the
    best way found so far (A*): a 14-day confirmation is not looked at when the dealer can
    refund tomorrow."""

    workflow: Workflow
    moves: dict[str, tuple[Transition, ...]]
    least: dict[str, timedelta]

    @classmethod
    def of(cls, wf: Workflow) -> Game:
        table = {s.name: moves(wf, s.name) for s in wf.states}
        incoming: dict[str, list[str]] = {}
        for source, out in table.items():
            for t in out:
                incoming.setdefault(t.dest, []).append(source)
        least = {s.name: timedelta(0) for s in wf.states if s.final and s.resolves}
        heap = [(timedelta(0), name) for name in sorted(least)]
        while heap:
            cost, name = heapq.heappop(heap)
            if cost > least[name]:
                continue
            for source in incoming.get(name, ()):
                deadline = wf.state(source).deadline
                through = cost + (deadline.duration if deadline else timedelta(0))
                if source not in least or through < least[source]:
                    least[source] = through
                    heapq.heappush(heap, (through, source))
        return cls(wf, table, least)


def resolvable(wf: Workflow) -> set[str]:
    """States from which the dealer and the system alone reach a resolving final state."""
    return set(Game.of(wf).least)


@attrs.frozen
class Step:
    """One state on the way to resolution: who holds it, when it is left, by which move."""

    state: str
    owner: str | None
    leaves_at: datetime
    trigger: str


@attrs.frozen
class Promise:
    """``resolved_by``: the latest time the case reaches ``final`` (a resolving final state)
    if the dealer takes ``steps`` (each at its deadline at the latest), everyone else silent."""

    resolved_by: datetime
    final: str
    steps: tuple[Step, ...]

    @property
    def way(self) -> str:
        """"reported -escalate-> dealer_diagnosis -escalate-> dealer_decision -refund-> refunded"."""
        return " ".join(f"{s.state} -{s.trigger}->" for s in self.steps) + f" {self.final}"


CalendarOf = Callable[[str | None], Calendar]


def promise(wf: Workflow, state: str, leaves_at: datetime, calendar_of: CalendarOf,
            game: Game | None = None) -> Promise | None:
    """The promise for a case in ``state`` that leaves it at ``leaves_at`` at the latest (its
    due time), on ``wf`` as the case's level has it (``Workflow.at_level``). ``calendar_of``
    gives the business calendar of the case's party of an owner kind ("manufacturer"; for
    "customer" the dealer's, as deadlines are counted). None if no resolving final state can
    be reached that way (a sound workflow leaves no such state; see ``check_workflow``).
    ``game``: ``Game.of(wf)``, if the caller keeps it."""
    game = game if game is not None and game.workflow is wf else Game.of(wf)
    start = wf.state(state)
    if start.final:
        return Promise(leaves_at, start.name, ()) if start.resolves else None
    order = itertools.count()
    arrival: dict[str, datetime] = {}
    via: dict[str, tuple[str, str]] = {}
    departs: dict[str, datetime] = {start.name: leaves_at}
    settled = {start.name}
    heap: list[tuple[datetime, int, str]] = []

    def relax(source: str, at: datetime) -> None:
        for t in game.moves[source]:
            least = game.least.get(t.dest)
            if least is None or t.dest in settled:  # no resolution from there, or already done
                continue
            if t.dest not in arrival or at < arrival[t.dest]:
                arrival[t.dest], via[t.dest] = at, (source, t.trigger)
                heapq.heappush(heap, (at + least, next(order), t.dest))

    relax(start.name, leaves_at)
    while heap:
        _, _, name = heapq.heappop(heap)
        if name in settled:
            continue
        settled.add(name)
        s, at = wf.state(name), arrival[name]
        if s.final:
            return Promise(at, name, _steps(wf, via, departs, name))  # only resolving ones are queued
        departs[name] = leave(s, at, calendar_of)
        relax(name, departs[name])
    return None


def leave(s: State, arrives: datetime, calendar_of: CalendarOf) -> datetime:
    """When a case that entered ``s`` at ``arrives`` leaves it at the latest: its full deadline."""
    policy = s.deadline
    if policy is None:  # a sound workflow gives every open state a deadline; without one, no end
        raise ValueError(f"state {s.name!r} has no deadline: no promise can be made")
    calendar = calendar_of(s.owner) if policy.business else WALL_CLOCK
    return calendar.add(arrives, policy.duration)


def _steps(wf: Workflow, via: dict[str, tuple[str, str]], departs: dict[str, datetime], final: str) -> tuple[Step, ...]:
    steps, name = [], final
    while name in via:
        source, trigger = via[name]
        steps.append(Step(source, wf.state(source).owner, departs[source], trigger))
        name = source
    return tuple(reversed(steps))


@attrs.frozen
class Bound:
    """The promise without a calendar: the declared deadlines along the best way, summed —
    ``working`` time (counted in the owners' working hours) and ``wall`` clock time apart."""

    working: timedelta
    wall: timedelta
    states: tuple[str, ...]  # the way, from the initial state to the resolving final one
    triggers: tuple[str, ...]

    @property
    def way(self) -> str:
        return " ".join(f"{s} -{t}->" for s, t in zip(self.states, self.triggers)) + f" {self.states[-1]}"

    def describe(self, day: timedelta = timedelta(hours=9)) -> str:
        """"22h working time (2 working days of 9h + 4h)", and "+ 14d on the wall clock" if any."""
        parts = []
        if self.working:
            days, rest = divmod(self.working, day)
            of_days = (f" ({days} working day{'s' * (days != 1)} of {_hm(day)}{' + ' + _hm(rest) if rest else ''})"
                       if days else "")
            parts.append(f"{_hm(self.working)} working time{of_days}")
        if self.wall or not parts:
            parts.append(f"{describe_duration(self.wall)} on the wall clock")
        return " + ".join(parts)


def _hm(value: timedelta) -> str:
    hours, minutes = divmod(int(value.total_seconds() // 60), 60)
    return f"{hours}h" + (f"{minutes:02d}m" if minutes else "") if hours else f"{minutes}m"


def bound(wf: Workflow, state: str | None = None) -> Bound | None:
    """The best way's summed deadlines from ``state`` (default: the initial state) to a
    resolving final state; ways that mix working and wall-clock time are compared as if a
    working hour were ``1 / WORKING_SHARE`` wall-clock hours (a standard working week). None
    if no resolving final state can be reached."""
    start = state or wf.initial
    order = itertools.count()
    zero = timedelta(0)
    best: dict[str, tuple[timedelta, timedelta]] = {start: (zero, zero)}
    via: dict[str, tuple[str, str]] = {}
    heap = [(0.0, next(order), start)]
    settled: set[str] = set()
    while heap:
        _, _, name = heapq.heappop(heap)
        if name in settled:
            continue
        settled.add(name)
        s = wf.state(name)
        working, wall = best[name]
        if s.final:
            if s.resolves:
                states, triggers = [name], []
                while states[-1] in via:
                    source, trigger = via[states[-1]]
                    states.append(source)
                    triggers.append(trigger)
                return Bound(working, wall, tuple(reversed(states)), tuple(reversed(triggers)))
            continue
        if s.deadline is None:
            continue
        cost = s.deadline.duration
        after = (working + cost, wall) if s.deadline.business else (working, wall + cost)
        for t in moves(wf, name):
            if t.dest in settled:
                continue
            if t.dest not in best or _weight(after) < _weight(best[t.dest]):
                best[t.dest], via[t.dest] = after, (name, t.trigger)
                heapq.heappush(heap, (_weight(after), next(order), t.dest))
    return None


def _weight(cost: tuple[timedelta, timedelta]) -> float:
    working, wall = cost
    return working.total_seconds() + wall.total_seconds() * WORKING_SHARE
