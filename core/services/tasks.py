"""Follow-ups for a person: a call to make, a gesture to deliver, a case to chase."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from .. import validation
from ..db.models import TASK_ORIGINS, Actor, Party, Task
from ..errors import StateConflict, ValidationError
from ..events import TaskCompleted, TaskCreated
from ..access import own_party, task_scope, visible_case, visible_customer, visible_task
from .base import Service, live_customer


class TaskService(Service):
    def create(self, title: str, due_at: datetime, *, customer_id: int | None = None,
               assigned_party_id: int | None = None, assigned_actor_id: int | None = None,
               origin: str = "human", origin_ref: str | None = None, note: str | None = None,
               case_id: int | None = None, by: int) -> Task:
        """A task for the actor's own party or one of its people — never for another party
        (the system gives tasks to anyone, and must name whom). Without an assignee a
        party's task goes to the actor's party."""
        with self.uow(by, "tasks.create") as uow:
            p = uow.principal
            if customer_id is not None:
                visible_customer(uow, customer_id)
            if case_id is not None:
                visible_case(uow, case_id)
            if not p.is_system:
                if assigned_actor_id is not None:
                    actor = uow.session.get(Actor, assigned_actor_id)
                    if actor is None or actor.party_id != p.party_id:
                        raise StateConflict("assigned_actor_id", assigned_actor_id,
                                              f"is not one of the people of party {p.party_id}")
                own_party(p, assigned_party_id, "give tasks")
                if assigned_actor_id is None:
                    assigned_party_id = p.party_id
            task = create_task(uow, title, due_at, customer_id=customer_id, assigned_party_id=assigned_party_id,
                               assigned_actor_id=assigned_actor_id, origin=origin, origin_ref=origin_ref,
                               note=note, case_id=case_id)
            uow.commit()
            return task

    def complete(self, task_id: int, *, by: int, note: str | None = None) -> Task:
        with self.uow(by, "tasks.complete") as uow:
            task = visible_task(uow, task_id)
            if task.status != "open":
                raise StateConflict("task", task_id, f"is {task.status}, only open tasks can be completed")
            task.status, task.completed_at = "done", uow.now
            if note:
                task.note = f"{task.note}\n{note}" if task.note else note
            uow.raise_event(TaskCompleted, task_id=task.id, customer_id=task.customer_id)
            uow.commit()
            return task

    def snooze(self, task_id: int, until: datetime, *, by: int) -> Task:
        """Put an open task off until ``until`` (its new due time, later than now): "not today"."""
        until = validation.aware("until", until)
        with self.uow(by, "tasks.snooze") as uow:
            task = visible_task(uow, task_id)
            if task.status != "open":
                raise StateConflict("task", task_id, f"is {task.status}, only open tasks can be snoozed")
            if until <= uow.now:
                raise ValidationError("until", until.isoformat(), "must lie in the future")
            task.due_at = until
            uow.commit()
            return task

    def get(self, task_id: int, *, by: int) -> Task:
        with self.read(by) as uow:
            return visible_task(uow, task_id)

    def list(self, *, by: int, status: str | None = "open", assigned_actor_id: int | None = None,
             assigned_party_id: int | None = None, customer_id: int | None = None, case_id: int | None = None,
             limit: int = 100, offset: int = 0) -> list[Task]:
        """Tasks of the actor's party (or one of its people), by due time."""
        with self.read(by) as uow:
            query = (select(Task).where(task_scope(uow.principal)).order_by(Task.due_at, Task.id)
                     .limit(limit).offset(offset))
            for column, value in ((Task.status, status), (Task.assigned_actor_id, assigned_actor_id),
                                  (Task.assigned_party_id, assigned_party_id), (Task.customer_id, customer_id),
                                  (Task.case_id, case_id)):
                if value is not None:
                    query = query.where(column == value)
            return list(uow.session.scalars(query))

    def open(self, *, by: int, assigned_actor_id: int | None = None, assigned_party_id: int | None = None,
             customer_id: int | None = None, limit: int = 100) -> list[Task]:
        """Open tasks: ``list(status="open", ...)``."""
        return self.list(by=by, assigned_actor_id=assigned_actor_id, assigned_party_id=assigned_party_id,
                         customer_id=customer_id, limit=limit)


def create_task(uow, title: str, due_at: datetime, *, customer_id: int | None = None,
                assigned_party_id: int | None = None, assigned_actor_id: int | None = None,
                origin: str = "human", origin_ref: str | None = None, note: str | None = None,
                case_id: int | None = None) -> Task:
    """The task write, usable inside any unit of work (cases, rules, dead letters)."""
    title = validation.required("task title", title)
    validation.choice("origin", origin, TASK_ORIGINS)
    due_at = validation.aware("due_at", due_at)
    if customer_id is not None:
        live_customer(uow, customer_id)
    if assigned_actor_id is not None:
        actor = uow.get(Actor, assigned_actor_id, "actor")
        assigned_party_id = assigned_party_id or actor.party_id
    if assigned_party_id is not None:
        uow.get(Party, assigned_party_id, "party")
    if assigned_party_id is None and assigned_actor_id is None:
        raise ValidationError("task", title, "needs an assigned party or actor: a task nobody owns is a dead end")
    task = Task(customer_id=customer_id, title=title, note=note, due_at=due_at,
                assigned_party_id=assigned_party_id, assigned_actor_id=assigned_actor_id, status="open",
                origin=origin, origin_ref=origin_ref, case_id=case_id, created_at=uow.now)
    uow.session.add(task)
    uow.flush()
    uow.raise_event(TaskCreated, task_id=task.id, customer_id=customer_id, origin=origin)
    return task
