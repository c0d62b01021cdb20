"""A workflow is data: frozen states and transitions that can be checked before use.

Declaring the flow as plain values (rather than as methods on a case class) lets the
checker prove the no-dead-end properties, the renderer draw it, and plugins extend it,
all from the same single declaration. Nothing here is ever mutated: ``extend`` returns a
new workflow, so a plugin cannot change a flow behind the checker's back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

import attrs

from dealercrm.errors import NotFound

#: The parties that can own a case; "system" is an actor kind, never an owner.
PARTY_KINDS = frozenset({"dealer", "manufacturer", "technician", "customer"})
SYSTEM = "system"


@attrs.frozen
class DeadlinePolicy:
    """How long the owner has. ``business=True`` counts only working time in the
    owner's calendar, so a Friday-evening hand-over does not burn the weekend."""

    duration: timedelta
    business: bool = True


@attrs.frozen
class State:
    """``also_allowed`` names parties that may act here besides the owner (the dealer
    may withdraw or take over a case anywhere); without it property 6 refuses them."""

    name: str
    owner: str | None = None
    deadline: DeadlinePolicy | None = None
    final: bool = False
    waits_on_customer: bool = False
    description: str = ""
    also_allowed: frozenset[str] = attrs.field(default=frozenset(), converter=frozenset)


@attrs.frozen
class GuardContext:
    """Everything a guard may look at; ``facts`` come from the persistence layer so
    guards stay pure (e.g. ``{"customer_agreed_late_slot": True}``)."""

    state: str
    trigger: str
    data: Mapping[str, object]
    now: datetime
    due_at: datetime | None
    facts: Mapping[str, object] = attrs.field(factory=dict)

    def limited_to(self, keys: tuple[str, ...]) -> GuardContext:
        """What a guard that declared ``satisfied_by=keys`` may look at: those keys of the
        data and the clock, nothing recorded on the case that the dealer cannot supply."""
        return attrs.evolve(self, data={k: self.data[k] for k in keys if k in self.data}, facts={})


@attrs.frozen
class Guard:
    """``check`` returns None when the transition may fire, else the reason in words
    the dealer can read out to the customer.

    ``satisfied_by`` declares what would satisfy the guard: keys of the data the firing
    party supplies (a serial number, a reason). The checker cannot look inside ``check``,
    so without this declaration it must assume the guard may refuse for ever, and a
    dealer transition it guards does not count towards "the dealer can always make it
    right" (property 5). With it, the dealer can always pass by supplying that data; to
    keep the declaration honest, the guard then sees only those keys of the data and
    none of the case's facts (``GuardContext.limited_to``)."""

    name: str
    check: Callable[[GuardContext], str | None]
    description: str = ""
    satisfied_by: tuple[str, ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen
class Transition:
    """``allowed`` holds "system", a party kind ("dealer") or kind:role
    ("dealer:manager"); ``required`` names data keys that must be non-empty."""

    trigger: str
    source: str
    dest: str
    allowed: frozenset[str] = attrs.field(converter=frozenset)
    required: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    guards: tuple[Guard, ...] = attrs.field(default=(), converter=tuple)
    timeout: bool = False
    description: str = ""


def may_fire(transition: Transition, party_kind: str, role: str | None = None) -> bool:
    """Role-specific entries narrow a party: "dealer:manager" admits no other dealer role."""
    allowed = transition.allowed
    return party_kind in allowed or (role is not None and f"{party_kind}:{role}" in allowed)


@attrs.frozen
class Workflow:
    name: str
    initial: str
    states: tuple[State, ...] = attrs.field(converter=tuple)
    transitions: tuple[Transition, ...] = attrs.field(converter=tuple)
    description: str = ""
    # First declaration wins; duplicates are the checker's business, not a crash here.
    _by_name: Mapping[str, State] = attrs.field(init=False, eq=False, hash=False, repr=False)

    def __attrs_post_init__(self) -> None:
        index: dict[str, State] = {}
        for st in self.states:
            index.setdefault(st.name, st)
        object.__setattr__(self, "_by_name", index)

    def state(self, name: str) -> State:
        try:
            return self._by_name[name]
        except KeyError:
            raise NotFound("state", name) from None

    def has_state(self, name: str) -> bool:
        return name in self._by_name

    @property
    def final_states(self) -> tuple[State, ...]:
        return tuple(s for s in self.states if s.final)

    def transitions_from(self, state: str) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if t.source == state)

    def timeout_from(self, state: str) -> Transition | None:
        return next((t for t in self.transitions_from(state) if t.timeout), None)

    def extend(
        self,
        states: Iterable[State] = (),
        transitions: Iterable[Transition] = (),
        guards: Mapping[str, Iterable[Guard]] | None = None,
        replace_states: Iterable[State] = (),
    ) -> Workflow:
        """How plugins change a flow: the result is new and must be checked again.
        Unknown names raise instead of being ignored, so a typo cannot silently
        leave a guard unattached."""
        replaced = {s.name: s for s in replace_states}
        for name in replaced:
            self.state(name)
        new_states = tuple(replaced.get(s.name, s) for s in self.states) + tuple(states)
        new_transitions = self.transitions + tuple(transitions)
        guards = dict(guards or {})
        for trigger in guards.keys() - {t.trigger for t in new_transitions}:
            raise NotFound("trigger", trigger)
        new_transitions = tuple(
            attrs.evolve(t, guards=t.guards + tuple(guards[t.trigger])) if t.trigger in guards else t
            for t in new_transitions
        )
        return attrs.evolve(self, states=new_states, transitions=new_transitions)
