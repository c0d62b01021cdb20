"""Follow-ups for a person: a call to make, a gesture to deliver, a case to chase."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from .. import validation
from ..db.models import TASK_ORIGINS, Actor, Party, Task
from ..errors import ValidationError
from ..events import TaskCompleted, TaskCreated
from .base import Service, live_customer


class TaskService(Service):
    def create(self, title: str, due_at: datetime, *, customer_id: int | None = None,
               assigned_party_id: int | None = None, assigned_actor_id: int | None = None,
               origin: str = "human", origin_ref: str | None = None, note: str | None = None,
               case_id: int | None = None, by: int | None = None) -> Task:
        with self.uow(by, "tasks.create") as uow:
            task = create_task(uow, title, due_at, customer_id=customer_id, assigned_party_id=assigned_party_id,
                               assigned_actor_id=assigned_actor_id, origin=origin, origin_ref=origin_ref,
                               note=note, case_id=case_id)
            uow.commit()
            return task

    def complete(self, task_id: int, *, note: str | None = None, by: int | None = None) -> Task:
        with self.uow(by, "tasks.complete") as uow:
            task = uow.get(Task, task_id, "task")
            if task.status != "open":
                raise ValidationError("task", task_id, f"is {task.status}, only open tasks can be completed")
            task.status, task.completed_at = "done", uow.now
            if note:
                task.note = f"{task.note}\n{note}" if task.note else note
            uow.raise_event(TaskCompleted, task_id=task.id, customer_id=task.customer_id)
            uow.commit()
            return task

    def open(self, *, assigned_actor_id: int | None = None, assigned_party_id: int | None = None,
             customer_id: int | None = None, limit: int = 100) -> list[Task]:
        with self.read() as uow:
            query = select(Task).where(Task.status == "open").order_by(Task.due_at, Task.id).limit(limit)
            for column, value in ((Task.assigned_actor_id, assigned_actor_id),
                                  (Task.assigned_party_id, assigned_party_id), (Task.customer_id, customer_id)):
                if value is not None:
                    query = query.where(column == value)
            return list(uow.session.scalars(query))


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
