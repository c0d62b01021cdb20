"""Service cases and tasks as one actor may see and move them (rules in ``dealercrm.access``).

Visibility is checked here; who may fire what stays with the case service and the
workflow, called with the actor as ``by``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, true

from ..access import case_scope
from ..db.case_models import Case, CaseEvent
from ..db.models import Actor, Task
from ..errors import NotFound, ValidationError
from .cases import Fired

CASE_SORTS = {"due": (Case.due_at.is_(None), Case.due_at, Case.id), "id": (Case.id,), "-id": (Case.id.desc(),)}


class ScopedCases:
    def __init__(self, scope):
        self.scope, self.crm, self.p = scope, scope.crm, scope.principal

    def list(self, *, open_only: bool = True, state: str | None = None, customer_id: int | None = None,
             held: bool = False, overdue: bool = False, workflow: str | None = None, sort: str = "due",
             limit: int = 50, offset: int = 0) -> list[Case]:
        """Visible cases; ``held``: only those the actor's party holds now; ``overdue``: past due."""
        if sort not in CASE_SORTS:
            raise ValidationError("sort", sort, f"must be one of {', '.join(CASE_SORTS)}")
        with self.crm.read() as uow:
            query = select(Case).where(case_scope(self.p)).order_by(*CASE_SORTS[sort]).limit(limit).offset(offset)
            if open_only:
                query = query.where(Case.closed_at.is_(None))
            if held:
                query = query.where(Case.owner_party_id == self.p.party_id)
            if overdue:
                query = query.where(Case.due_at <= uow.now)
            for column, value in ((Case.state, state), (Case.customer_id, customer_id), (Case.workflow, workflow)):
                if value is not None:
                    query = query.where(column == value)
            return list(uow.session.scalars(query))

    def get(self, case_id: int) -> Case:
        with self.crm.read() as uow:
            case = uow.session.scalar(select(Case).where(Case.id == case_id, case_scope(self.p)))
            if case is None:
                raise NotFound("case", case_id)
            return case

    def history(self, case_id: int) -> list[CaseEvent]:
        with self.crm.read() as uow:
            self.scope.visible_case(uow.connection, case_id)
            return list(uow.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)
                                            .order_by(CaseEvent.id)))

    def allowed_triggers(self, case_id: int) -> list[str]:
        with self.crm.read() as uow:
            self.scope.visible_case(uow.connection, case_id)
        return self.crm.cases.allowed_triggers(case_id, self.p.actor_id)

    def open(self, customer_id: int, summary: str, *, asset_id: int | None = None, priority: str = "normal",
             workflow: str = "service_case") -> Case:
        with self.crm.read() as uow:
            self.scope.visible_customer(uow, customer_id)
        return self.crm.cases.open(customer_id, summary, asset_id=asset_id, priority=priority, workflow=workflow,
                                   by=self.p.actor_id)

    def fire(self, case_id: int, trigger: str, *, data: dict[str, Any] | None = None, note: str | None = None,
             expected_version: int | None = None) -> Fired:
        with self.crm.read() as uow:
            self.scope.visible_case(uow.connection, case_id)
        return self.crm.cases.fire(case_id, trigger, by=self.p.actor_id, data=data, note=note,
                                   expected_version=expected_version)

    def record_fact(self, case_id: int, key: str, value: Any, *, note: str | None = None,
                    expected_version: int | None = None) -> Case:
        """Write down what a guard will consult (e.g. ``customer_agreed_late_slot``); returns the
        case at its new version. The case service refuses actors who are no party of the case;
        here a case the actor cannot see is not found, as everywhere."""
        with self.crm.read() as uow:
            self.scope.visible_case(uow.connection, case_id)
        self.crm.cases.record_fact(case_id, key, value, by=self.p.actor_id, note=note,
                                   expected_version=expected_version)
        return self.get(case_id)


def task_scope(p):
    if p.kind == "system":
        return true()
    return or_(Task.assigned_party_id == p.party_id,
               Task.assigned_actor_id.in_(select(Actor.id).where(Actor.party_id == p.party_id)))


class ScopedTasks:
    """Tasks assigned to the actor's party (or one of its people)."""

    def __init__(self, scope):
        self.scope, self.crm, self.p = scope, scope.crm, scope.principal

    def list(self, *, status: str | None = "open", customer_id: int | None = None, case_id: int | None = None,
             limit: int = 50, offset: int = 0) -> list[Task]:
        with self.crm.read() as uow:
            query = select(Task).where(task_scope(self.p)).order_by(Task.due_at, Task.id).limit(limit).offset(offset)
            for column, value in ((Task.status, status), (Task.customer_id, customer_id), (Task.case_id, case_id)):
                if value is not None:
                    query = query.where(column == value)
            return list(uow.session.scalars(query))

    def get(self, task_id: int) -> Task:
        with self.crm.read() as uow:
            task = uow.session.scalar(select(Task).where(Task.id == task_id, task_scope(self.p)))
            if task is None:
                raise NotFound("task", task_id)
            return task

    def create(self, title: str, due_at: datetime, *, customer_id: int | None = None, case_id: int | None = None,
               assigned_actor_id: int | None = None, note: str | None = None) -> Task:
        """A task for the actor's own party (or one of its people) — never for another party."""
        with self.crm.read() as uow:
            if customer_id is not None:
                self.scope.visible_customer(uow, customer_id)
            if case_id is not None:
                self.scope.visible_case(uow.connection, case_id)
            if assigned_actor_id is not None:
                actor = uow.session.get(Actor, assigned_actor_id)
                if actor is None or (self.p.kind != "system" and actor.party_id != self.p.party_id):
                    raise ValidationError("assigned_actor_id", assigned_actor_id,
                                          f"is not one of the people of party {self.p.party_id}")
        if assigned_actor_id is not None:  # the task service takes the party from the person
            party, person = None, assigned_actor_id
        elif self.p.party_id is not None:
            party, person = self.p.party_id, None
        else:  # the system actor, which acts for no party, keeps the task itself
            party, person = None, self.p.actor_id
        return self.crm.tasks.create(title, due_at, customer_id=customer_id, case_id=case_id, note=note,
                                     assigned_party_id=party, assigned_actor_id=person, by=self.p.actor_id)

    def complete(self, task_id: int, note: str | None = None) -> Task:
        self.get(task_id)
        return self.crm.tasks.complete(task_id, note=note, by=self.p.actor_id)
