"""Loading workflows from plugins, extending them, and refusing unsound ones.

The result is one ``CompiledWorkflow`` (one shared state machine) per workflow name,
built at ``connect()`` after every plugin had its say: a flow that could strand a
customer never gets to run. Each plugin is called on its own (through pluggy, with every
wrapper), so a declaration is traced to its plugin and extensions chain one plugin after
the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import PluginError
from .levels import apply_settings
from .machine import CompiledWorkflow
from .model import Workflow

if TYPE_CHECKING:
    from ..plugin_manager import PluginManager

DECLARE, EXTEND = "dealercrm_register_workflows", "dealercrm_extend_workflow"


def load_workflows(pm: PluginManager, without: str | None = None,
                   levels: Mapping[str, Any] | None = None) -> dict[str, CompiledWorkflow]:
    """Every workflow, extended by the plugins and compiled; unsound ones raise.

    ``without`` leaves one plugin out, to see what unregistering it would leave.
    ``levels``: ``[cases.service_levels]`` of the settings, applied after every plugin's
    extension and proven with the rest.
    """
    return {name: CompiledWorkflow(wf) for name, wf in declared_workflows(pm, without, levels).items()}


def declared_workflows(pm: PluginManager, without: str | None = None,
                       levels: Mapping[str, Any] | None = None) -> dict[str, Workflow]:
    """Every workflow as declared and extended by the plugins (and the settings' service
    levels), not yet checked."""
    declared: dict[str, Workflow] = {}
    declared_by: dict[str, str] = {}
    for plugin, results in pm.call_each(DECLARE, without=without):
        for wf in (wf for returned in results for wf in returned or ()):
            if not isinstance(wf, Workflow):
                raise PluginError(plugin, DECLARE, f"returned {wf!r}, not a Workflow")
            if wf.name in declared:
                first, second = declared_by[wf.name], plugin
                # blame the newcomer, not the built-in that happens to be called last
                culprit = first if pm.origins.get(second, "").startswith("built-in") else second
                raise PluginError(culprit, DECLARE,
                                  f"workflow {wf.name!r} is declared by both {first!r} and {second!r}; "
                                  "extend it with dealercrm_extend_workflow or block one of them")
            declared[wf.name], declared_by[wf.name] = wf, plugin
    extenders = pm.each(EXTEND, without)
    for name, wf in list(declared.items()):
        for plugin, caller in extenders:  # a chain: each plugin gets what the previous returned
            for extended in pm.call_one(EXTEND, plugin, caller, workflow=wf):
                if not isinstance(extended, Workflow) or extended.name != name:
                    raise PluginError(plugin, EXTEND, f"must return the workflow {name!r} extended, got {extended!r}")
                wf = extended
        declared[name] = wf
    return apply_settings(declared, levels) if levels else declared
