"""A workflow is data: frozen states and transitions that can be checked before use.

Declaring the flow as plain values (rather than as methods on a case class) lets the
checker prove the no-dead-end properties, the renderer draw it, and plugins extend it,
all from the same single declaration. Nothing here is ever mutated: ``extend`` returns a
new workflow, so a plugin cannot change a flow behind the checker's back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType

import attrs

from dealercrm.errors import NotFound

#: The parties that can own a case; "system" is an actor kind, never an owner.
PARTY_KINDS = frozenset({"dealer", "manufacturer", "technician", "customer"})
SYSTEM = "system"
#: The level a case runs on when no declared service level matches it: the workflow's own deadlines.
STANDARD = "standard"


@attrs.frozen
class DeadlinePolicy:
    """How long the owner has. ``business=True`` counts only working time in the
    owner's calendar, so a Friday-evening hand-over does not burn the weekend."""

    duration: timedelta
    business: bool = True


@attrs.frozen
class State:
    """``also_allowed`` names parties that may act here besides the owner (the dealer
    may withdraw or take over a case anywhere); without it property 6 refuses them.

    ``resolves`` (final states only): reaching this state settles the customer's matter —
    fixed, replaced, refunded, closed by agreement. A case that ends in a final state that
    does not resolve (the customer withdrew) ended, but nobody made it right; the promise
    (``dealercrm.workflow.promise``) counts only resolving ones."""

    name: str
    owner: str | None = None
    deadline: DeadlinePolicy | None = None
    final: bool = False
    waits_on_customer: bool = False
    description: str = ""
    also_allowed: frozenset[str] = attrs.field(default=frozenset(), converter=frozenset)
    resolves: bool = True


def _names(value: Iterable[str] | str) -> frozenset[str]:
    # a bare string is one name, not its letters
    return frozenset((value,) if isinstance(value, str) else value)


@attrs.frozen
class ServiceLevel:
    """Deadlines that depend on the case: a premium contract gives the manufacturer one
    working day instead of two, an urgent case gives the dealer an hour to look at it.

    A level names the states whose deadline it changes (``deadlines``: a ``DeadlinePolicy``,
    or a ``timedelta`` that keeps the state's kind of time, working or wall clock); every
    other state keeps the workflow's own. It applies to a case that meets each condition it
    names: its ``priorities``, the ``categories`` of the case's product (compared ignoring
    case), the ``contracts`` of the asset or the customer (one of them suffices). A case
    runs on the first level, in declaration order, that applies, else on the workflow's own
    deadlines (level ``"standard"``): declare the strictest first. Only deadlines change; who
    owns a state and who may fire what stay the workflow's, so the proof of the workflow
    holds on every level once each level's deadlines are checked (``check_workflow``)."""

    name: str
    deadlines: Mapping[str, DeadlinePolicy | timedelta | None] = attrs.field(
        factory=dict, converter=lambda m: MappingProxyType(dict(m)), hash=False)
    priorities: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    categories: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    contracts: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    description: str = ""

    def applies(self, priority: str | None, category: str | None, contracts: Iterable[str]) -> bool:
        return (not self.priorities or priority in self.priorities) and (
            not self.categories or (category or "").casefold() in {c.casefold() for c in self.categories}) and (
            not self.contracts or bool(self.contracts & set(contracts)))

    @property
    def conditions(self) -> str:
        """What the level applies to, in words: "priority urgent; contract premium, gold"."""
        named = (("priority", self.priorities), ("product category", self.categories), ("contract", self.contracts))
        parts = [f"{label} {', '.join(sorted(names))}" for label, names in named if names]
        return "; ".join(parts)

    def because(self, priority: str | None, category: str | None, contracts: Iterable[str]) -> str:
        """Why the level applies, in words: "contract 'premium', priority 'urgent'"."""
        parts = []
        if self.contracts:
            parts.append(f"contract {sorted(self.contracts & set(contracts))[0]!r}")
        if self.priorities:
            parts.append(f"priority {priority!r}")
        if self.categories:
            parts.append(f"product category {category!r}")
        return ", ".join(parts)

    def policy(self, state: State) -> DeadlinePolicy | None:
        """The deadline of ``state`` on this level."""
        if state.name not in self.deadlines:
            return state.deadline
        value = self.deadlines[state.name]
        if isinstance(value, timedelta):
            return DeadlinePolicy(value, state.deadline.business if state.deadline else True)
        return value


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
    #: service levels, the first that applies to a case wins (``ServiceLevel``)
    levels: tuple[ServiceLevel, ...] = attrs.field(default=(), converter=tuple)
    #: facts only some party kinds may record (``cases.record_fact``), e.g. the customer's
    #: agreement to a late slot, which the technician it lets off must not certify itself:
    #: ``{"customer_agreed_late_slot": ("dealer",)}``; the system may record any. A fact not
    #: named here may be recorded by every party of the case.
    fact_keepers: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
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

    @property
    def level_names(self) -> tuple[str, ...]:
        """Every level a case can run on: ``"standard"`` first, then the declared ones."""
        return (STANDARD, *(lv.name for lv in self.levels))

    def level(self, name: str) -> ServiceLevel | None:
        """The declared level ``name``; None for ``"standard"`` (the workflow's own deadlines)."""
        if name == STANDARD:
            return None
        found = next((lv for lv in self.levels if lv.name == name), None)
        if found is None:
            raise NotFound("service level", name)
        return found

    def at_level(self, name: str) -> Workflow:
        """The workflow as a case on level ``name`` runs it: the level's deadlines in place of
        the declared ones, nothing else changed (and no levels of its own)."""
        level = self.level(name)
        if level is None:
            return attrs.evolve(self, levels=())
        return attrs.evolve(self, levels=(), states=tuple(
            attrs.evolve(s, deadline=level.policy(s)) if s.name in level.deadlines else s for s in self.states))

    def level_for(self, priority: str | None, category: str | None,
                  contracts: Iterable[str]) -> tuple[str, str]:
        """(level, why) for a case of this ``priority``, product ``category`` and ``contracts``
        (of its asset and customer): the first declared level that applies, else standard."""
        contracts = [c for c in contracts if c]
        for level in self.levels:
            if level.applies(priority, category, contracts):
                return level.name, level.because(priority, category, contracts)
        return STANDARD, "no service level applies"

    def extend(
        self,
        states: Iterable[State] = (),
        transitions: Iterable[Transition] = (),
        guards: Mapping[str, Iterable[Guard]] | None = None,
        replace_states: Iterable[State] = (),
        levels: Iterable[ServiceLevel] = (),
    ) -> Workflow:
        """How plugins change a flow: the result is new and must be checked again.
        Unknown names raise instead of being ignored, so a typo cannot silently
        leave a guard unattached. ``levels``: a level of a name already declared replaces
        it in its place; a new one is added after the others."""
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
        given = {lv.name: lv for lv in levels}
        new_levels = tuple(given.pop(lv.name, lv) for lv in self.levels) + tuple(given.values())
        return attrs.evolve(self, states=new_states, transitions=new_transitions, levels=new_levels)
