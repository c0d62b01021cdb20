"""Workflows as data for a client's UI: what each state means, who may fire what, with which data.

Every party reads every workflow: it holds no customer data, and a host system
generates its forms from it (a trigger's required fields, the party a transition
hands the case to). It is the loaded workflow — plugins' extensions included — so the
forms match what firing will check. Whether the caller's own key may fire a transition
is worked out here, with the workflow's own rule (``may_fire``).
"""

from __future__ import annotations

from typing import Any

from ..errors import NotFound
from ..workflow.model import State, Transition, Workflow, may_fire
from ..workflow.promise import bound
from ..workflow.render import describe_deadline
from .base import Service
from .case_rules import NAMEABLE, PARTY_COLUMNS, is_pause


class WorkflowDefinitions(Service):
    """The loaded workflows as data, for every actor."""

    def list(self, *, by: int) -> list[Workflow]:
        """Every registered workflow, by name: any actor may read them (they are the rules of the game).

        Args:
            by: The acting actor's id.

        Returns:
            The workflows' declarations, plugins' extensions included.

        Raises:
            NotFound: ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> names = [workflow.name for workflow in crm.workflow_definitions.list(by=lea)]
            >>> names == sorted(crm.workflows)
            True
        """
        with self.read(by):
            return [self.crm.workflows[name].workflow for name in sorted(self.crm.workflows)]

    def get(self, name: str, *, by: int) -> Workflow:
        """The workflow ``name``: its states, transitions, deadlines and permissions.

        Args:
            name: The workflow's name.
            by: The acting actor's id.

        Returns:
            The workflow's declaration.

        Raises:
            NotFound: No such workflow; or ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> name = crm.cases.default_workflow()
            >>> crm.workflow_definitions.get(name, by=lea).name == name
            True
        """
        with self.read(by):
            return self._get(name)

    def _get(self, name: str) -> Workflow:
        compiled = self.crm.workflows.get(name)
        if compiled is None:
            raise NotFound("workflow", name)
        return compiled.workflow

    def definition(self, name: str, *, by: int) -> dict[str, Any]:
        """The workflow as JSON-ready data, with what the caller may fire: what a host system
        builds its forms from (a trigger's required fields, the party a transition names).

        Args:
            name: The workflow's name.
            by: The acting actor's id.

        Returns:
            ``name``, ``description``, ``initial``, ``states`` (owner, deadline, final ...) and
            ``transitions`` (sources, destination, who may fire, ``caller_may_fire``,
            ``required`` data, guards), each a dict.

        Raises:
            NotFound: No such workflow; or ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> definition = crm.workflow_definitions.definition(crm.cases.default_workflow(), by=lea)
            >>> [t["trigger"] for t in definition["transitions"] if t["caller_may_fire"]][:2]
            ['start_diagnosis', 'solve_by_advice']
        """
        with self.read(by) as uow:
            p = uow.principal
        wf = self._get(name)
        return {"name": wf.name, "description": wf.description, "initial": wf.initial,
                "states": [_state(wf, s) for s in wf.states],
                "transitions": [_transition(wf, t, sources, p) for t, sources in _grouped(wf.transitions)],
                "levels": [_level(wf, name) for name in wf.level_names]}


def _transition(wf: Workflow, t: Transition, sources: list[str], p) -> dict[str, Any]:
    owner = wf.state(t.dest).owner
    return {"trigger": t.trigger, "sources": sources, "dest": t.dest, "allowed": sorted(t.allowed),
            "caller_may_fire": may_fire(t, p.kind, p.role), "required": list(t.required),
            "names_party": PARTY_COLUMNS[owner] if owner in NAMEABLE else None, "timeout": t.timeout,
            "guards": [{"name": g.name, "description": g.description} for g in t.guards],
            "description": t.description}


def _deadline(policy) -> dict[str, Any] | None:
    return policy and {"seconds": int(policy.duration.total_seconds()), "business_time": policy.business,
                       "text": describe_deadline(policy)}


def _level(wf: Workflow, name: str) -> dict[str, Any]:
    level, flow = wf.level(name), wf.at_level(name)
    found = bound(flow)
    return {"name": name, "description": level.description if level else "the workflow's own deadlines",
            "priorities": sorted(level.priorities) if level else [],
            "categories": sorted(level.categories) if level else [],
            "contracts": sorted(level.contracts) if level else [],
            "deadlines": {s: _deadline(flow.state(s).deadline) for s in (level.deadlines if level else ())},
            "resolved_within": found.describe() if found else "no promise"}


def _state(wf: Workflow, s: State) -> dict[str, Any]:
    deadline = _deadline(s.deadline)
    return {"name": s.name, "description": s.description, "owner": s.owner, "final": s.final,
            "deadline": deadline, "waits_on_customer": s.waits_on_customer, "pauses_clock": is_pause(wf, s),
            "also_allowed": sorted(s.also_allowed)}


def _grouped(transitions: tuple[Transition, ...]) -> list[tuple[Transition, list[str]]]:
    """One entry per trigger and meaning: ``withdraw`` from eleven states is one form, not eleven."""
    groups: dict[tuple, tuple[Transition, list[str]]] = {}
    for t in transitions:
        key = (t.trigger, t.dest, t.allowed, t.required, t.timeout, t.guards, t.description)
        groups.setdefault(key, (t, []))[1].append(t.source)
    return list(groups.values())
