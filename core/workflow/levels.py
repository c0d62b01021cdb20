"""Service levels from the settings: the installation's own deadlines on top of the workflow's.

A workflow declares its levels as data (``ServiceLevel``); an installation changes them, or
adds its own, in ``[cases.service_levels.<workflow>.<level>]``::

    [cases.service_levels.service_case.premium]      # a declared level: what is given replaces
    contracts = ["premium", "premium_plus"]            # its conditions; deadlines are merged
    deadlines = { manufacturer_review = "9h" }         # state by state over the declared ones

    [cases.service_levels.service_case.fleet]          # a new level: tried before the declared
    contracts = ["fleet"]                              # ones, in the order of the file
    deadlines = { reported = "1h", dealer_diagnosis = "4h" }

    [cases.service_levels.service_case.standard]       # the workflow's own deadlines
    deadlines = { reported = "2h" }

A duration is "30m", "4h", "1h30m" or "2d"; in a state counted in working time a "d" is a
working day of 9 hours (the default calendar's 08:00-17:00, as the built-in workflow counts
its days), in a wall-clock state 24 hours. The keys and their types are declared once, in
``dealercrm.settings.ServiceLevelTable`` (a typo is refused when the settings are read,
with the closest key); what they mean for the workflow is checked here (workflows and
states that exist, durations: errors name the setting) and then proven with the workflow
(``check_workflow``), so a level from the settings that breaks a property stops start-up
like a plugin's would.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import attrs

from dealercrm.errors import ValidationError
from dealercrm.workflow.model import STANDARD, DeadlinePolicy, ServiceLevel, Workflow

#: a working day, as a "d" in a working-time deadline of the settings counts it
WORKING_DAY = timedelta(hours=9)
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([dhm])\s*")
_DURATION = re.compile(f"(?:{_PART.pattern})+")


def parse_duration(where: str, value: Any, business: bool) -> timedelta:
    """"4h", "30m", "1h30m", "2d" (a working day of 9 hours when ``business``, else 24 hours)."""
    text = value.strip().lower() if isinstance(value, str) else None
    if not text or not _DURATION.fullmatch(text):
        raise ValidationError(where, value, 'give a duration like "4h", "30m", "1h30m" or "2d"')
    day = WORKING_DAY if business else timedelta(days=1)
    unit = {"d": day, "h": timedelta(hours=1), "m": timedelta(minutes=1)}
    return sum((float(n) * unit[u] for n, u in _PART.findall(text)), timedelta(0))


def _names(where: str, value: Any) -> frozenset[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise ValidationError(where, value, 'must be a list of names, e.g. ["premium"]')
    return frozenset(n.strip() for n in names)


def apply_settings(workflows: Mapping[str, Workflow], table: Mapping[str, Any],
                   source: str = "the settings") -> dict[str, Workflow]:
    """``workflows`` with ``[cases.service_levels]`` applied; refuses what cannot be meant."""
    out = dict(workflows)
    if not isinstance(table, Mapping):
        raise ValidationError("[cases.service_levels]", table, f"must be a table per workflow ({source})")
    for name, levels in table.items():
        where = f"[cases.service_levels.{name}]"
        if name not in out:
            raise ValidationError(where, name, f"names no registered workflow ({source}); registered: "
                                  f"{', '.join(sorted(out)) or 'none'}")
        if not isinstance(levels, Mapping):
            raise ValidationError(where, levels, f"must be a table per level ({source})")
        out[name] = with_levels(out[name], levels, where, source)
    return out


def with_levels(wf: Workflow, levels: Mapping[str, Any], where: str, source: str) -> Workflow:
    declared = {lv.name: lv for lv in wf.levels}
    added: list[ServiceLevel] = []
    for name, given in levels.items():
        at = f"{where[:-1]}.{name}]"
        if not isinstance(given, Mapping):
            raise ValidationError(at, given, f"must be a table ({source})")
        deadlines = _deadlines(wf, given.get("deadlines", {}), at)
        if name == STANDARD:
            if set(given) - {"deadlines", "description"}:
                raise ValidationError(at, sorted(set(given) - {"deadlines", "description"})[0],
                                      "the workflow's own deadlines apply to every case no other level takes; "
                                      "they can have no conditions")
            wf = attrs.evolve(wf, states=tuple(attrs.evolve(s, deadline=deadlines[s.name]) if s.name in deadlines
                                               else s for s in wf.states))
            continue
        conditions = {key: _names(f"{at} {key}", given[key]) for key in ("priorities", "categories", "contracts")
                      if key in given}
        description = given.get("description")
        if name in declared:
            old = declared[name]
            declared[name] = attrs.evolve(old, deadlines={**old.deadlines, **deadlines}, **conditions,
                                          description=old.description if description is None else description)
        else:
            added.append(ServiceLevel(name, deadlines, description=description or "", **conditions))
    return attrs.evolve(wf, levels=(*added, *declared.values()))


def _deadlines(wf: Workflow, given: Any, at: str) -> dict[str, DeadlinePolicy]:
    if not isinstance(given, Mapping):
        raise ValidationError(f"{at} deadlines", given, 'must be a table of state = duration, e.g. '
                              '{ manufacturer_review = "9h" }')
    out = {}
    for state, value in given.items():
        where = f"{at} deadlines.{state}"
        if not wf.has_state(state):
            raise ValidationError(where, value, f"workflow {wf.name!r} has no state {state!r}; states: "
                                  f"{', '.join(s.name for s in wf.states if not s.final)}")
        s = wf.state(state)
        if s.final or s.deadline is None:
            raise ValidationError(where, value, f"{state!r} is a final state: it has no deadline")
        out[state] = DeadlinePolicy(parse_duration(where, value, s.deadline.business), s.deadline.business)
    return out
