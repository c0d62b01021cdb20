"""Drawings of a workflow for people: who owns each state, by when, and who may move it.

Rendered from the same data the checker proves and the machine fires, so the picture
in the docs or the CLI can never drift from the running flow. The mermaid text is
written directly: it is a few lines, and transitions' GraphMachine would need a model
object attached to the shared machine just to draw it.
"""

from __future__ import annotations

from datetime import timedelta

from dealercrm.workflow.model import DeadlinePolicy, State, Transition, Workflow


def describe_duration(value: timedelta) -> str:
    hours, rest = divmod(int(value.total_seconds()), 3600)
    if hours and hours % 24 == 0 and not rest:
        return f"{hours // 24}d"
    return f"{hours}h" + (f"{rest // 60}m" if rest else "") if hours else f"{rest // 60}m"


def describe_deadline(policy: DeadlinePolicy | None) -> str:
    if policy is None:
        return "no deadline"
    clock = "working time" if policy.business else "wall clock"
    return f"due within {describe_duration(policy.duration)} {clock}"


def describe_state(state: State) -> str:
    if state.final:
        return "final"
    waits = ", waits on customer" if state.waits_on_customer else ""
    return f"owner {state.owner}, {describe_deadline(state.deadline)}{waits}"


def _who(t: Transition) -> str:
    return ", ".join(a.replace(":", "(") + ")" if ":" in a else a for a in sorted(t.allowed))


def to_mermaid(wf: Workflow) -> str:
    """stateDiagram-v2 text: paste into any mermaid renderer (GitHub renders it inline)."""
    lines = ["stateDiagram-v2", f"    [*] --> {wf.initial}"]
    for s in wf.states:
        if s.final:
            lines.append(f"    {s.name} --> [*]")
        else:
            lines.append(f"    note right of {s.name} : {describe_state(s)}")
    for t in wf.transitions:
        timeout = " (timeout)" if t.timeout else ""
        lines.append(f"    {t.source} --> {t.dest} : {t.trigger}{timeout} by {_who(t)}")
    return "\n".join(lines) + "\n"


def to_text(wf: Workflow) -> str:
    """A listing for the terminal: every state with its owner and deadline, then its
    transitions with who may fire them and which data they need."""
    width = max((len(t.trigger) + 10 * t.timeout for t in wf.transitions), default=0)
    dest_width = max((len(t.dest) for t in wf.transitions), default=0)
    lines = [f"workflow {wf.name} (initial: {wf.initial})"]
    if wf.description:
        lines.append(f"  {wf.description}")
    for s in wf.states:
        lines += ["", f"{s.name}  [{describe_state(s)}]"]
        if s.description:
            lines.append(f"    {s.description}")
        for t in wf.transitions_from(s.name):
            name = t.trigger + (" (timeout)" if t.timeout else "")
            needs = f"  needs {', '.join(t.required)}" if t.required else ""
            guards = f"  if {', '.join(g.name for g in t.guards)}" if t.guards else ""
            lines.append(f"    {name:<{width}}  -> {t.dest:<{dest_width}}  by {_who(t)}{needs}{guards}")
    if wf.levels:
        lines += ["", "service levels (the first that applies wins; otherwise the deadlines above):"]
        for level in wf.levels:
            deadlines = ", ".join(f"{state} {describe_duration(policy.duration)}" if policy else f"{state} none"
                                  for state, policy in ((n, level.policy(wf.state(n)) if wf.has_state(n) else None)
                                                        for n in level.deadlines))
            lines.append(f"  {level.name}  [{level.conditions or 'no condition'}]  {deadlines}")
    return "\n".join(lines) + "\n"
