"""``/tasks``: the follow-ups of the caller's party."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query, Response
from pydantic import AwareDatetime

from .auth import Caller
from .common import Limit, Offset, Router, page, problems
from .schemas import MAX_ID, Id, Page, TaskDone, TaskIn, TaskOut, TaskSnooze

router = Router(prefix="/tasks", tags=["tasks"], responses=problems(400, 401, 404, 422))
TaskId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("", response_model=Page[TaskOut])
def list_tasks(me: Caller, limit: Limit = 50, offset: Offset = 0,
               status: Annotated[Literal["open", "done", "cancelled", "all"], Query()] = "open",
               assigned_to: Annotated[Id | Literal["me"] | None, Query(
                   description="`me`: the caller's own tasks — assigned to the caller, or to the caller's party "
                               "with nobody named; an actor id: that person's (one of the caller's party's "
                               "people, else a 422)")] = None,
               due_before: Annotated[AwareDatetime | None, Query(
                   description="only tasks due before this moment, with its offset, e.g. "
                               "2026-03-09T17:00:00+01:00")] = None,
               due: Annotated[Literal["today", "overdue"] | None, Query(
                   description="`today`: due before the end of today in the caller's party's time zone, "
                               "overdue ones included; `overdue`: due now or earlier")] = None,
               customer_id: Annotated[Id | None, Query()] = None, case_id: Annotated[Id | None, Query()] = None):
    """Tasks assigned to the caller's party or its people, the most urgent first."""
    rows = me.tasks.list(status=None if status == "all" else status, customer_id=customer_id, case_id=case_id,
                         mine=assigned_to == "me", assigned_actor_id=None if assigned_to == "me" else assigned_to,
                         due=due, due_before=due_before, limit=limit + 1, offset=offset)
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


@router.post("/{task_id}/snooze", response_model=TaskOut)
def snooze_task(me: Caller, task_id: TaskId, body: TaskSnooze):
    """Put an open task off: ``until`` becomes its due time and must lie in the future (else a 422)."""
    return me.tasks.snooze(task_id, body.until)
