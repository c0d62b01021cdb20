"""Firing rules: one shared ``transitions`` Machine per workflow, never one per case.

Thousands of open cases share a single compiled machine; a case is just a state name
held by the persistence layer. ``fire`` decides on a throw-away token, so a database
row is never attached to (or silently reset by) the machine, and a refusal leaves
nothing half-changed. The order of checks gives the most useful error first: does the
trigger exist, can it fire here, may this actor fire it, is the data there, do the
guards agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import attrs
from transitions import Machine

from dealercrm.errors import NotPermitted, StateConflict, TransitionNotAllowed
from dealercrm.workflow.calendar import Calendars
from dealercrm.workflow.check import assert_sound
from dealercrm.workflow.model import STANDARD, GuardContext, Transition, Workflow, may_fire
from dealercrm.workflow.promise import CalendarOf, Game, Promise, promise


@attrs.frozen
class FireResult:
    transition: Transition
    source: str
    dest: str


class _Token:
    """The only object the machine ever touches: a slot holding a state name."""

    __slots__ = ("state",)

    def __init__(self, state: str):
        self.state = state


def _empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return hasattr(value, "__len__") and len(value) == 0  # type: ignore[arg-type]


def _actor(party_kind: str, role: str | None) -> str:
    return f"{party_kind}:{role}" if role and party_kind != "system" else party_kind


class CompiledWorkflow:
    """A sound workflow, checked once and indexed for microsecond decisions."""

    def __init__(self, wf: Workflow):
        self.workflow = assert_sound(wf)
        self.name = wf.name
        self._by_key = {(t.trigger, t.source): t for t in wf.transitions}
        self._triggers = {t.trigger for t in wf.transitions}
        self._from: dict[str, tuple[Transition, ...]] = {s.name: wf.transitions_from(s.name) for s in wf.states}
        self._timeouts = {t.source: t.trigger for t in wf.transitions if t.timeout}
        # each service level as the cases on it run the workflow, and the promise's search on it
        self._levels = {name: wf.at_level(name) for name in wf.level_names}
        self._games = {name: Game.of(flow) for name, flow in self._levels.items()}
        self.machine = Machine(
            model=None,
            states=[s.name for s in wf.states],
            transitions=[{"trigger": t.trigger, "source": t.source, "dest": t.dest} for t in wf.transitions],
            initial=wf.initial,
            auto_transitions=False,
            send_event=True,
            name=wf.name,
        )

    def at_level(self, level: str | None) -> Workflow:
        """The workflow with ``level``'s deadlines. A level the workflow no longer has (the
        settings dropped it since the case was opened) runs on the standard deadlines."""
        return self._levels.get(level or STANDARD, self._levels[STANDARD])

    def level_for(self, priority: str | None, category: str | None, contracts) -> tuple[str, str]:
        return self.workflow.level_for(priority, category, contracts)

    def promise(self, level: str | None, state: str, leaves_at: datetime, calendar_of: CalendarOf) -> Promise | None:
        """``dealercrm.workflow.promise.promise`` on ``level``, with the search's tables kept."""
        name = level if level in self._levels else STANDARD
        return promise(self._levels[name], state, leaves_at, calendar_of, self._games[name])

    def allowed_triggers(self, state: str, party_kind: str, role: str | None = None) -> list[str]:
        """What this actor may try from here (guards are only judged when firing)."""
        self.workflow.state(state)
        return sorted(t.trigger for t in self._from[state] if may_fire(t, party_kind, role))

    def timeout_trigger(self, state: str) -> str | None:
        """What the deadline processor fires, as the system, once ``due_at`` passed."""
        self.workflow.state(state)
        return self._timeouts.get(state)

    def fire(
        self,
        state: str,
        trigger: str,
        *,
        party_kind: str,
        role: str | None = None,
        data: Mapping[str, object] | None = None,
        now: datetime,
        due_at: datetime | None = None,
        facts: Mapping[str, object] | None = None,
        subject: str | None = None,
    ) -> FireResult:
        """Decides the transition without side effects; the caller persists it.
        ``subject`` ("case 17") prefixes every message."""
        data, facts = data or {}, facts or {}
        at, actor = (f"{subject}: " if subject else ""), _actor(party_kind, role)
        t = self._by_key.get((trigger, state))
        if t is None:
            mine = self.allowed_triggers(state, party_kind, role)
            if trigger not in self._triggers:
                raise TransitionNotAllowed(f"{at}unknown trigger {trigger!r} for workflow {self.name!r}", mine)
            raise TransitionNotAllowed(f"{at}trigger {trigger!r} cannot fire from state {state!r} (as {actor})", mine)
        if not may_fire(t, party_kind, role):
            who, mine = ", ".join(sorted(t.allowed)), self.allowed_triggers(state, party_kind, role)
            raise NotPermitted(f"{at}{actor} may not fire {trigger!r} from state {state!r}; it may be fired by: "
                               f"{who}; {actor} may fire: {', '.join(mine) or 'none'}")
        for key in t.required:
            if _empty(data.get(key)):
                err = StateConflict(key, data.get(key), f"trigger {trigger!r} from state {state!r} requires it")
                err.args = (f"{at}{err}",)  # the subject leads, as in every other refusal
                raise err
        if t.guards:
            ctx = GuardContext(state=state, trigger=trigger, data=data, now=now, due_at=due_at, facts=facts)
            for guard in t.guards:
                why = guard.check(ctx.limited_to(guard.satisfied_by) if guard.satisfied_by else ctx)
                if why is not None:
                    mine = self.allowed_triggers(state, party_kind, role)
                    supply = f" (supply {', '.join(guard.satisfied_by)} to satisfy it)" if guard.satisfied_by else ""
                    raise TransitionNotAllowed(f"{at}{trigger!r} from state {state!r} refused by guard "
                                               f"{guard.name!r}: {why}{supply}", mine, guard=guard.name,
                                               reason=why)
        token = _Token(state)
        self.machine.events[trigger].trigger(token)
        return FireResult(t, state, token.state)

    def due_at(self, state: str, entered_at: datetime, calendars: Calendars) -> datetime | None:
        """When the owner of ``state`` must have acted; None only for final states."""
        st = self.workflow.state(state)
        if st.deadline is None:
            return None
        return calendars.deadline(st.owner, st.deadline, entered_at)
