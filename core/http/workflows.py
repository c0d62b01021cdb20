"""``/workflows``: the loaded workflows as data, for a client to build its screens and forms from.

Every party reads them (they hold no customer data). The definition is the running one,
plugins' extensions included, so a form generated from it asks for what firing checks.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query
from fastapi.responses import PlainTextResponse

from ..workflow.render import to_mermaid, to_text
from .auth import Caller
from .common import Router, problems
from .schemas import WorkflowOut, WorkflowSummary

router = Router(prefix="/workflows", tags=["workflows"], responses=problems(400, 401, 422))
WorkflowName = Annotated[str, Path(min_length=1, max_length=64)]
TEXT = {"content": {"text/plain": {"schema": {"type": "string"}}},
        "description": "the definition; as text/plain for format=mermaid or text"}


@router.get("", response_model=list[WorkflowSummary])
def list_workflows(me: Caller):
    """Every workflow a case can follow (``workflow`` when opening a case), by name."""
    return me.workflow_definitions.list()


@router.get("/{name}", response_model=WorkflowOut, responses={**problems(404), 200: TEXT})
def show_workflow(me: Caller, name: WorkflowName,
                  format: Annotated[Literal["json", "mermaid", "text"], Query(
                      description="mermaid: a stateDiagram-v2 to draw; text: the listing of `dealercrm workflow "
                      "show`")] = "json"):
    """States with their owner and deadline, transitions with who may fire them and which data they need
    (``caller_may_fire`` answers for the caller's own key)."""
    if format == "json":
        return me.workflow_definitions.definition(name)
    wf = me.workflow_definitions.get(name)
    return PlainTextResponse(to_mermaid(wf) if format == "mermaid" else to_text(wf))
