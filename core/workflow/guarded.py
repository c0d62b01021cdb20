"""What the proof may assume of a guard: nothing, unless the guard says what satisfies it.

A guard is a callable; the checker cannot know whether it will ever pass. Properties 1
and 2 ("reachable", "someone can end it") may still assume it can, but the two promises
made to the customer may not rest on a guess:

- a timeout carries no guard at all (property 4): the system's escalation when a
  deadline passes is unconditional, or a silent party keeps the case for ever;
- "the dealer can always make it right" (property 5) counts a guarded transition only
  when the dealer may fire it and every guard on it declares the data that satisfies it
  (``Guard.satisfied_by``), data the dealer can always supply. Every other guard is taken
  to refuse for ever, and the states it would trap are refused naming it.
"""

from __future__ import annotations

from collections.abc import Iterable

from dealercrm.workflow.model import SYSTEM, Transition


def dealer_may(t: Transition) -> bool:
    return any(a.split(":")[0] == "dealer" for a in t.allowed)


def dealer_or_system(t: Transition) -> bool:
    return SYSTEM in t.allowed or dealer_may(t)


def always_passable(t: Transition) -> bool:
    """Whether the dealer or the system can take ``t`` whatever anybody else does."""
    if not dealer_or_system(t):
        return False
    return not t.guards or (dealer_may(t) and all(g.satisfied_by for g in t.guards))


def guard_names(t: Transition) -> str:
    return ", ".join(repr(g.name) for g in t.guards)


def blocking_guards(source: str, edges: Iterable[Transition]) -> str:
    """The guards that stand between ``source`` and every way out the dealer has: those on
    dealer or system transitions out of each state the dealer can surely bring the case
    to from ``source`` (itself included)."""
    edges = [t for t in edges if dealer_or_system(t)]
    out: dict[str, list[str]] = {}
    for t in edges:
        if always_passable(t):
            out.setdefault(t.source, []).append(t.dest)
    seen, todo = {source}, [source]
    while todo:
        for dest in out.get(todo.pop(), ()):
            if dest not in seen:
                seen.add(dest)
                todo.append(dest)
    named = sorted({f"{g.name!r} on {t.trigger!r} ({t.source} -> {t.dest})"
                    for t in edges if t.source in seen and not always_passable(t) for g in t.guards
                    if not (dealer_may(t) and g.satisfied_by)})
    return ", ".join(named)
