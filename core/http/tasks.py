"""``/tasks``: the follow-ups of the caller's party."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query, Response

from .auth import Caller
from .common import Limit, Offset, Router, page, problems
from .schemas import MAX_ID, Id, Page, TaskDone, TaskIn, TaskOut

router = Router(prefix="/tasks", tags=["tasks"], responses=problems(400, 401, 404, 422))
TaskId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("", response_model=Page[TaskOut])
def list_tasks(me: Caller, limit: Limit = 50, offset: Offset = 0,
               status: Annotated[Literal["open", "done", "cancelled", "all"], Query()] = "open",
               customer_id: Annotated[Id | None, Query()] = None, case_id: Annotated[Id | None, Query()] = None):
    """Tasks assigned to the caller's party or its people, the most urgent first."""
    rows = me.tasks.list(status=None if status == "all" else status, customer_id=customer_id, case_id=case_id,
                         limit=limit + 1, offset=offset)
    return page(rows, limit, offset)


@router.post("", status_code=201, response_model=TaskOut)
def create_task(me: Caller, body: TaskIn, response: Response):
    """A task for the caller's own party, or one of its people (``assigned_actor_id``)."""
    task = me.tasks.create(body.title, body.due_at, customer_id=body.customer_id, case_id=body.case_id,
                           assigned_actor_id=body.assigned_actor_id, note=body.note,
                           contact_person_id=body.contact_person_id)
    response.headers["Location"] = f"/tasks/{task.id}"
    return task


@router.get("/{task_id}", response_model=TaskOut)
def show_task(me: Caller, task_id: TaskId):
    return me.tasks.get(task_id)


@router.post("/{task_id}/complete", response_model=TaskOut)
def complete_task(me: Caller, task_id: TaskId, body: TaskDone | None = None):
    """Mark an open task done, optionally with a note; a task already done is a 422."""
    return me.tasks.complete(task_id, note=body.note if body else None)
