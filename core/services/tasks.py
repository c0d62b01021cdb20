"""Follow-ups for a person: a call to make, a gesture to deliver, a case to chase."""

from __future__ import annotations

import builtins  # a service's own `list` method shadows the type in its class
from datetime import datetime, time, timedelta

from sqlalchemy import and_, or_, select

from .. import validation
from ..db.models import TASK_ORIGINS, TASK_STATUSES, Actor, Party, Task
from ..errors import NotFound, StateConflict, ValidationError
from ..events import TaskCompleted, TaskCreated
from ..access import named_contact, own_party, task_scope, visible_case, visible_customer, visible_task
from .base import Service, live_customer, viewer_zone
from .interactions import contact_of

#: what ``TaskService.list(due=...)`` understands
DUE_CHOICES = ("today", "overdue")


class TaskService(Service):
    def create(self, title: str, due_at: datetime, *, customer_id: int | None = None,
               assigned_party_id: int | None = None, assigned_actor_id: int | None = None,
               origin: str = "human", origin_ref: str | None = None, note: str | None = None,
               case_id: int | None = None, contact_person_id: int | None = None, by: int) -> Task:
        """A task for the actor's own party or one of its people — never for another party
        (the system gives tasks to anyone, and must name whom). Without an assignee a
        party's task goes to the actor's party. Raises ``TaskCreated``.

        Args:
            title: What to do (required).
            due_at: When it is due (an aware datetime).
            customer_id: The customer it is about (one the actor may see, not merged away).
            assigned_party_id: The party that owns it (a person of a party: its own only).
            assigned_actor_id: The person who owns it (a person of a party: one of its own people).
            origin: ``"human"``, ``"rule"`` or ``"case"``: where it came from.
            origin_ref: What made it, e.g. ``"rule:rule_after_sale"``.
            note: More about it.
            case_id: The case it is about (one the actor may see).
            contact_person_id: The customer's contact person it is about (call their buyer);
                only the dealer keeping the file names one.
            by: The acting actor's id.

        Returns:
            The open task.

        Raises:
            NotFound: No such customer, case, actor or party (or not visible); or ``by`` is no actor.
            NotPermitted: The actor names another party, or ``by`` is deactivated.
            ValidationError: An empty title, an unknown origin, a naive ``due_at``, a person of
                another party, no assignee at all (the system must name one), a merged customer, a
                contact person without its customer.
            Vetoed: A plugin refused the change.

        Examples:
            >>> from datetime import timedelta
            >>> task = crm.tasks.create("call back about the drum", crm.clock.now() + timedelta(days=1),
            ...                         customer_id=anna, by=lea)
            >>> (task.status, task.assigned_party_id == dealer)
            ('open', True)
        """
        if contact_person_id is not None and customer_id is None:
            raise ValidationError("contact_person_id", contact_person_id, "needs the customer_id it belongs to")
        with self.uow(by, "tasks.create") as uow:
            p = uow.principal
            if contact_person_id is not None and customer_id is not None:
                named_contact(uow, customer_id, contact_person_id, "name contact persons in tasks about")
            elif customer_id is not None:
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
                               note=note, case_id=case_id, contact_person_id=contact_person_id)
            uow.commit()
            return task

    def complete(self, task_id: int, *, by: int, note: str | None = None) -> Task:
        """Mark an open task done, with an optional ``note``. Raises ``TaskCompleted``.

        A task already done is refused rather than done twice: two people closing it at
        once learn that one of them was first.

        Args:
            task_id: The task (of the actor's party or one of its people).
            by: The acting actor's id.
            note: What was done, added to the task's note.

        Returns:
            The task, done.

        Raises:
            NotFound: No such task, or not the actor's party's; or ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.
            ValidationError: The task is not open.
            Vetoed: A plugin refused the change.

        Examples:
            >>> from datetime import timedelta
            >>> task = crm.tasks.create("call back", crm.clock.now() + timedelta(days=1), by=lea)
            >>> crm.tasks.complete(task.id, note="fixed by phone", by=lea).status
            'done'
        """
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
        """Put an open task off until ``until`` (its new due time, later than now): "not today".

        Args:
            task_id: The task (of the actor's party or one of its people).
            until: The new due time (an aware datetime in the future).
            by: The acting actor's id.

        Returns:
            The task, due at ``until``.

        Raises:
            NotFound: No such task, or not the actor's party's; or ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.
            ValidationError: The task is not open, ``until`` is naive or not in the future.

        Examples:
            >>> from datetime import timedelta
            >>> task = crm.tasks.create("call back", crm.clock.now() + timedelta(days=1), by=lea)
            >>> later = crm.clock.now() + timedelta(days=3)
            >>> crm.tasks.snooze(task.id, later, by=lea).due_at == later
            True
        """
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
        """A task of the actor's party or of one of its people.

        Args:
            task_id: The task.
            by: The acting actor's id.

        Returns:
            The task.

        Raises:
            NotFound: No such task, or another party's (the same answer); or ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> from datetime import timedelta
            >>> task = crm.tasks.create("call back", crm.clock.now() + timedelta(days=1), by=lea)
            >>> crm.tasks.get(task.id, by=lea).title
            'call back'
        """
        with self.read(by) as uow:
            return visible_task(uow, task_id)

    def list(self, *, by: int, status: str | None = "open", assigned_actor_id: int | None = None,
             assigned_party_id: int | None = None, customer_id: int | None = None, case_id: int | None = None,
             mine: bool = False, due: str | None = None, due_before: datetime | None = None,
             limit: int = 100, offset: int = 0) -> list[Task]:
        """Tasks of the actor's party (or one of its people), by due time.

        ``mine``: the acting person's own — assigned to them, or to their party with nobody
        named (the party's shared desk, which anyone of it may take), as the portal's "my
        day" shows them. ``due="today"``: due before the end of today where the actor works
        (its party's zone), overdue ones included — the day's work; ``due="overdue"``: due
        now or earlier. ``due_before``: due before that moment (aware). ``assigned_actor_id``
        must be one of the actor's party's people: another party's do not exist for it
        (``NotFound``, the same answer as for an id never used).

        Args:
            by: The acting actor's id.
            status: Only tasks of this status (``"open"``, ``"done"``, ``"cancelled"``); None: any.
            assigned_actor_id: Only this person's.
            assigned_party_id: Only this party's.
            customer_id: Only those about this customer.
            case_id: Only those about this case.
            mine: Only the acting person's own (and their party's unassigned ones).
            due: ``"today"`` or ``"overdue"``, in the actor's party's time zone.
            due_before: Only tasks due before this aware moment.
            limit: At most this many.
            offset: Skip this many first (paging).

        Returns:
            The tasks, soonest due first.

        Raises:
            NotFound: ``by`` is no actor, or ``assigned_actor_id`` is no person of the actor's party.
            ValidationError: An unknown status or due, a naive ``due_before``.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> from datetime import timedelta
            >>> task = crm.tasks.create("call back", crm.clock.now() + timedelta(days=1), by=lea)
            >>> _ = crm.tasks.complete(task.id, by=lea)
            >>> [t.title for t in crm.tasks.list(status="done", by=lea)]
            ['call back']
        """
        if status is not None:
            validation.choice("status", status, TASK_STATUSES)
        if due is not None:
            validation.choice("due", due, DUE_CHOICES)
        if due_before is not None:
            due_before = validation.aware("due_before", due_before)
        with self.read(by) as uow:
            p = uow.principal
            query = (select(Task).where(task_scope(p)).order_by(Task.due_at, Task.id).limit(limit).offset(offset))
            if mine:
                if p.is_system:
                    raise ValidationError("mine", "system actor", "has no tasks of its own: act as a person "
                                          "(--as ACTOR, or that person's API key)")
                query = query.where(or_(Task.assigned_actor_id == p.actor_id,
                                        and_(Task.assigned_actor_id.is_(None), Task.assigned_party_id == p.party_id)))
            if assigned_actor_id is not None and not p.is_system:
                colleague = uow.session.get(Actor, assigned_actor_id)
                if colleague is None or colleague.party_id != p.party_id:
                    raise NotFound("actor", assigned_actor_id)  # another party's people do not exist for it
            if due == "today":
                query = query.where(Task.due_at < end_of_today(uow.now, viewer_zone(uow)))
            elif due == "overdue":
                query = query.where(Task.due_at <= uow.now)
            if due_before is not None:
                query = query.where(Task.due_at < due_before)
            for column, value in ((Task.status, status), (Task.assigned_actor_id, assigned_actor_id),
                                  (Task.assigned_party_id, assigned_party_id), (Task.customer_id, customer_id),
                                  (Task.case_id, case_id)):
                if value is not None:
                    query = query.where(column == value)
            return list(uow.session.scalars(query))

    def open(self, *, by: int, assigned_actor_id: int | None = None, assigned_party_id: int | None = None,
             customer_id: int | None = None, limit: int = 100) -> builtins.list[Task]:
        """Open tasks, by due time: ``list(status="open", ...)``.

        Args:
            by: The acting actor's id.
            assigned_actor_id: Only this person's.
            assigned_party_id: Only this party's.
            customer_id: Only those about this customer.
            limit: At most this many.

        Returns:
            The open tasks, soonest due first.

        Raises:
            NotFound: ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> from datetime import timedelta
            >>> _ = crm.tasks.create("call back", crm.clock.now() + timedelta(days=1), customer_id=anna, by=lea)
            >>> [t.title for t in crm.tasks.open(customer_id=anna, by=lea)]
            ['call back']
        """
        return self.list(by=by, assigned_actor_id=assigned_actor_id, assigned_party_id=assigned_party_id,
                         customer_id=customer_id, limit=limit)


def create_task(uow, title: str, due_at: datetime, *, customer_id: int | None = None,
                assigned_party_id: int | None = None, assigned_actor_id: int | None = None,
                origin: str = "human", origin_ref: str | None = None, note: str | None = None,
                case_id: int | None = None, contact_person_id: int | None = None) -> Task:
    """The task write, usable inside any unit of work (cases, rules, dead letters)."""
    title = validation.required("task title", title)
    validation.choice("origin", origin, TASK_ORIGINS)
    due_at = validation.aware("due_at", due_at)
    if customer_id is not None:
        live_customer(uow, customer_id)
    if contact_person_id is not None:
        if customer_id is None:
            raise ValidationError("contact_person_id", contact_person_id, "needs the customer_id it belongs to")
        contact_of(uow, customer_id, contact_person_id)
    if assigned_actor_id is not None:
        actor = uow.get(Actor, assigned_actor_id, "actor")
        assigned_party_id = assigned_party_id or actor.party_id
    if assigned_party_id is not None:
        uow.get(Party, assigned_party_id, "party")
    if assigned_party_id is None and assigned_actor_id is None:
        raise ValidationError("task", title, "needs an assigned party or actor: a task nobody owns is a dead end")
    task = Task(customer_id=customer_id, title=title, note=note, due_at=due_at,
                assigned_party_id=assigned_party_id, assigned_actor_id=assigned_actor_id, status="open",
                origin=origin, origin_ref=origin_ref, case_id=case_id, contact_person_id=contact_person_id,
                created_at=uow.now)
    uow.session.add(task)
    uow.flush()
    uow.raise_event(TaskCreated, task_id=task.id, customer_id=customer_id, origin=origin)
    return task


def end_of_today(now: datetime, zone) -> datetime:
    """Midnight at the end of ``now``'s day in ``zone`` (a DST day has 23 or 25 hours)."""
    local = now.astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
