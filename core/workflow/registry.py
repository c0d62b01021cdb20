"""Loading workflows from plugins, extending them, and refusing unsound ones.

The result is one ``CompiledWorkflow`` (one shared state machine) per workflow name,
built at ``connect()`` after every plugin had its say: a flow that could strand a
customer never gets to run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import PluginError
from .machine import CompiledWorkflow
from .model import Workflow

if TYPE_CHECKING:
    from ..plugin_manager import PluginManager


def load_workflows(pm: PluginManager) -> dict[str, CompiledWorkflow]:
    """Every workflow, extended by the plugins and compiled; unsound ones raise."""
    return {name: CompiledWorkflow(wf) for name, wf in declared_workflows(pm).items()}


def declared_workflows(pm: PluginManager) -> dict[str, Workflow]:
    """Every workflow as declared and extended by the plugins, not yet checked."""
    declared: dict[str, Workflow] = {}
    declared_by: dict[str, str] = {}
    for impl in reversed(pm.hook.dealercrm_register_workflows.get_hookimpls()):
        for wf in pm.checked_call_one(impl, "dealercrm_register_workflows") or ():
            if not isinstance(wf, Workflow):
                raise PluginError(impl.plugin_name, "dealercrm_register_workflows", f"returned {wf!r}, not a Workflow")
            if wf.name in declared:
                first, second = declared_by[wf.name], impl.plugin_name
                # blame the newcomer, not the built-in that happens to be called last
                culprit = first if pm.origins.get(second, "").startswith("built-in") else second
                raise PluginError(culprit, "dealercrm_register_workflows",
                                  f"workflow {wf.name!r} is declared by both {first!r} and {second!r}; "
                                  "extend it with dealercrm_extend_workflow or block one of them")
            declared[wf.name], declared_by[wf.name] = wf, impl.plugin_name
    for name, wf in list(declared.items()):
        for impl in reversed(pm.hook.dealercrm_extend_workflow.get_hookimpls()):
            extended = pm.checked_call_one(impl, "dealercrm_extend_workflow", workflow=wf)
            if extended is not None:
                if not isinstance(extended, Workflow) or extended.name != name:
                    raise PluginError(impl.plugin_name, "dealercrm_extend_workflow",
                                      f"must return the workflow {name!r} extended, got {extended!r}")
                wf = extended
        declared[name] = wf
    return declared
