"""The six no-dead-end properties, checked before a workflow may run.

A customer stuck in a case nobody owns, nobody must answer, or only a silent
manufacturer could end is exactly the run-around dealercrm exists to prevent, so an
unsound flow is refused when it is loaded (and again after every plugin extended it),
never discovered by a customer. Every finding is collected, not just the first.

Choices worth knowing:
- The customer never fires triggers; in a customer-owned state the dealer (the single
  point of contact) or the system (an inbound reply) acting for the customer count as
  the owner, for property 3 and property 6 alike.
- A timeout transition does not count as "the owner can act" (property 3): waiting for
  the clock is not a decision.
- Guards cannot be analysed statically. Reachability (properties 1 and 2) assumes
  each guard can pass; the promises to the customer do not (``guarded``): a timeout
  carries no guard and requires no data (property 4), and property 5 counts only
  guard-free dealer and system transitions, or dealer transitions whose guards declare
  the data that satisfies them.
- "The dealer can always make it right" (property 5) also means: right, not merely ended.
  A final state may declare that it does not resolve the customer's matter
  (``State(resolves=False)``: the customer withdrew); and with the manufacturer, the
  technician and the customer silent — their states ending by their timeout — the dealer
  and the system must still bring the case to a resolving final state from every state.
  That is what makes the promise (``dealercrm.workflow.promise``) computable everywhere.
- Service levels change deadlines only, so the proof holds on every level once each
  level's deadlines are checked: every state a level names must exist and be open, and its
  deadline there must be positive (property 4, naming the level and the state). A level
  must name a condition (a priority, a product category, a contract), or it would apply
  to every case.
- Declaration errors (duplicate state, duplicate trigger+source, a level declared twice)
  carry property 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta

import attrs

from dealercrm.errors import WorkflowUnsound
from dealercrm.validation import PRIORITIES
from dealercrm.workflow.guarded import always_passable, blocking_guards, dealer_or_system, guard_names
from dealercrm.workflow.model import PARTY_KINDS, STANDARD, SYSTEM, DeadlinePolicy, State, Transition, Workflow
from dealercrm.workflow.promise import resolvable


@attrs.frozen
class Violation:
    workflow: str
    subject: str
    property: int
    message: str

    def __str__(self) -> str:
        return self.message


def acts_for(kind: str, owner: str | None) -> bool:
    """Whether an actor of ``kind`` acts as (or for) the owner of a state."""
    return kind == owner or (owner == "customer" and kind in ("dealer", SYSTEM))


def _can_finish(wf: Workflow, edges: Iterable[Transition]) -> set[str]:
    """States from which some final state is reachable over ``edges`` (backward BFS)."""
    incoming: dict[str, list[str]] = {}
    for t in edges:
        incoming.setdefault(t.dest, []).append(t.source)
    done = {s.name for s in wf.final_states}
    todo = list(done)
    while todo:
        for src in incoming.get(todo.pop(), ()):
            if src not in done:
                done.add(src)
                todo.append(src)
    return done


def _reachable(wf: Workflow, edges: Iterable[Transition]) -> set[str]:
    out: dict[str, list[str]] = {}
    for t in edges:
        out.setdefault(t.source, []).append(t.dest)
    seen, todo = {wf.initial}, [wf.initial]
    while todo:
        for dest in out.get(todo.pop(), ()):
            if dest not in seen:
                seen.add(dest)
                todo.append(dest)
    return seen


def check_workflow(wf: Workflow) -> list[Violation]:
    found: list[Violation] = []

    def report(prop: int, subject: str, detail: str) -> None:
        label = "declaration" if prop == 0 else f"property {prop}"
        found.append(Violation(wf.name, subject, prop, f"workflow {wf.name!r}: {subject} {detail} [{label}]"))

    def of_state(s: State) -> str:
        return f"state {s.name!r} (owner {s.owner})"

    def of_transition(t: Transition) -> str:
        return f"transition {t.trigger!r} ({t.source} -> {t.dest})"

    names = [s.name for s in wf.states]
    for name in sorted({n for n in names if names.count(n) > 1}):
        report(0, f"state {name!r}", "is declared more than once")
    keys = [(t.trigger, t.source) for t in wf.transitions]
    for trigger, source in sorted({k for k in keys if keys.count(k) > 1}):
        report(0, f"trigger {trigger!r}", f"is declared more than once from state {source!r}")

    # Property 1: declared ends, reachable states.
    if not wf.has_state(wf.initial):
        report(1, f"initial state {wf.initial!r}", "is not declared")
    valid = []
    for t in wf.transitions:
        missing = [n for n in (t.source, t.dest) if not wf.has_state(n)]
        for n in missing:
            report(1, of_transition(t), f"names undeclared state {n!r}")
        if not missing:
            valid.append(t)
    reachable = _reachable(wf, valid) if wf.has_state(wf.initial) else set()
    for s in wf.states:
        if wf.has_state(wf.initial) and s.name not in reachable:
            report(1, of_state(s), f"is unreachable from the initial state {wf.initial!r}")

    any_finish, dealer_finish = _can_finish(wf, valid), _can_finish(wf, filter(always_passable, valid))
    # the promise's game, the others silent (dealercrm.workflow.promise); it rests on property 4's
    # timeouts, so a state without one is reported as that, not again as no promise
    timed_out = all(s.final or wf.timeout_from(s.name) is not None for s in wf.states)
    promised = resolvable(wf) if timed_out else {s.name for s in wf.states}
    # as if every guard could pass: tells a guard in the way apart from no way at all
    dealer_finish_if_guards_pass = _can_finish(wf, filter(dealer_or_system, valid))
    for s in wf.states:
        out = wf.transitions_from(s.name)
        if s.final:
            if out:
                triggers = ", ".join(t.trigger for t in out)
                report(4, of_state(s), f"is final but has outgoing transitions ({triggers})")
            if s.deadline is not None:
                report(4, of_state(s), "is final but has a deadline")
            continue
        # Property 2: someone can end it.
        if s.name not in any_finish:
            report(2, of_state(s), "cannot reach any final state: the case would never end")
        # Property 3: exactly one owner who can act.
        if s.owner is None:
            report(3, of_state(s), "has no owner: nobody would be responsible for the case")
        elif s.owner not in PARTY_KINDS:
            report(3, of_state(s), f"has owner {s.owner!r}, which is not one of {', '.join(sorted(PARTY_KINDS))}")
        elif not any(
            not t.timeout and any(acts_for(a.split(":")[0], s.owner) for a in t.allowed) for t in out
        ):
            report(3, of_state(s), f"offers its owner no transition: the {s.owner} could not move the case")
        # Property 4: a deadline and a timeout.
        timeouts = [t for t in out if t.timeout]
        if s.deadline is None:
            report(4, of_state(s), "has no deadline: nobody would have to act by any date")
        elif s.deadline.duration <= timedelta(0):
            report(4, of_state(s), f"has a non-positive deadline {s.deadline.duration}")
        if not timeouts:
            report(4, of_state(s), f"has no timeout transition: a silent {s.owner} would keep the case waiting forever")
        elif len(timeouts) > 1:
            triggers = ", ".join(t.trigger for t in timeouts)
            report(4, of_state(s), f"has several timeout transitions ({triggers}): the deadline needs exactly one")
        # Property 5: the dealer can always make it right.
        if s.name in any_finish and s.name not in dealer_finish:
            if s.name in dealer_finish_if_guards_pass:
                report(5, of_state(s), "cannot reach a final state by dealer or system transitions alone: every "
                       f"way there passes a guard that may refuse for ever ({blocking_guards(s.name, valid)}); "
                       "declare the data that satisfies each (Guard(..., satisfied_by=(...))) or leave the dealer "
                       "a way without one")
            else:
                report(5, of_state(s), "cannot reach a final state by dealer or system transitions alone: "
                       "another party's refusal or silence could trap the customer")
        elif s.name in dealer_finish and s.name not in promised:
            report(5, of_state(s), "cannot reach a final state that resolves the customer's matter (not "
                   f"{', '.join(repr(f.name) for f in wf.final_states if not f.resolves) or 'one that does not'}) "
                   "with the manufacturer, technician and customer silent, their states ending by their timeout, "
                   "and only the dealer and the system acting: no promise could be made to the customer")

    for t in valid:
        if t.timeout and SYSTEM not in t.allowed:
            report(4, of_transition(t), "is a timeout the system may not fire")
        if t.timeout and t.guards:
            owner, plural = wf.state(t.source).owner, "s" * (len(t.guards) > 1)
            report(4, of_transition(t), f"is the timeout of state {t.source!r} and carries guard{plural} "
                   f"{guard_names(t)}: the system's escalation is unconditional, or a silent {owner} could keep "
                   "the case for ever")
        if t.timeout and t.required:
            report(4, of_transition(t), f"is the timeout of state {t.source!r} and requires "
                   f"{', '.join(t.required)}: the system supplies no data when the deadline passes")
        _check_actors(wf.state(t.source), t, lambda detail: report(6, of_transition(t), detail))
    _check_levels(wf, report, of_state)
    return found


def _check_levels(wf: Workflow, report: Callable[[int, str, str], None], of_state: Callable[[State], str]) -> None:
    """Each service level: declared once, with a condition, and its deadlines sound (property 4)."""
    seen: set[str] = set()
    for level in wf.levels:
        where = f"level {level.name!r}"
        if level.name == STANDARD:
            report(0, where, "is the name of the workflow's own deadlines; change those (the states' "
                   "DeadlinePolicy, or [cases.service_levels] standard) or name the level otherwise")
        elif level.name in seen:
            report(0, where, "is declared more than once")
        seen.add(level.name)
        if not (level.priorities or level.categories or level.contracts):
            report(0, where, "names no priority, product category or contract: it would apply to every case; "
                   "change the workflow's own deadlines instead")
        for priority in sorted(level.priorities - set(PRIORITIES)):
            report(0, where, f"names priority {priority!r}, which no case can have (one of {', '.join(PRIORITIES)})")
        for name, value in level.deadlines.items():
            if not wf.has_state(name):
                report(0, where, f"sets a deadline for state {name!r}, which the workflow does not declare")
                continue
            s = wf.state(name)
            subject = f"{where}: {of_state(s)}"
            if not (value is None or isinstance(value, (DeadlinePolicy, timedelta))):
                report(0, subject, f"has deadline {value!r}: give a DeadlinePolicy or a timedelta")
            elif s.final:
                report(4, subject, "is final and can have no deadline on any level")
            elif level.policy(s) is None:
                report(4, subject, "has no deadline on this level: nobody would have to act by any date")
            elif level.policy(s).duration <= timedelta(0):
                report(4, subject, f"has a non-positive deadline {level.policy(s).duration} on this level")


def _check_actors(source: State, t: Transition, report: Callable[[str], None]) -> None:
    """Property 6: only the owner, its proxy, the system and declared extras may act."""
    for entry in sorted(t.allowed):
        kind = entry.split(":")[0]
        if kind == SYSTEM or source.final:
            continue
        if kind not in PARTY_KINDS:
            report(f"allows {entry!r}, which is not a party kind or 'system'")
        elif not (acts_for(kind, source.owner) or {entry, kind} & source.also_allowed):
            report(f"lets the {entry} act on state {source.name!r} owned by the {source.owner}, "
                   f"which it neither owns nor is allowed on (declare also_allowed)")


def assert_sound(wf: Workflow) -> Workflow:
    """Returns the workflow so loading reads ``flow = assert_sound(base.extend(...))``."""
    violations = check_workflow(wf)
    if violations:
        raise WorkflowUnsound(wf.name, violations)
    return wf
