"""When someone leaves: every account that hung on them gets a hand-over.

Key accounts are lost when the one person who knew them leaves, on either side (seed
001). Deactivating one of our people therefore lists, in the same unit of work, every
live customer of their party where they

* were the **account owner**, or
* held the **only relationship**: nobody else of ours had a personal touch with the
  customer in the last 12 months,

and makes one **hand-over task** per account saying who takes over and whom to introduce:
the contact persons only the leaver had personal touches with in those 12 months (their
buyer, their technician), with the last touch and its channel.

With a successor (``crm.parties.deactivate(actor_id, handover_to=…)``, ``dealercrm parties
deactivate-actor ID --handover-to ID``) the same operation reassigns: the successor becomes
account owner where the leaver was, gets the leaver's open tasks and the hand-over tasks.
Without one (``set_actor_active(id, False)``, the portal's People page) the tasks go to the
account owner where that is someone else still active, else to the party, asking it to
name who takes over; the accounts keep their owner until someone is named. A hand-over
later (``deactivate`` again, now with a successor) updates the open hand-over tasks instead
of making second ones.

Everything is one audited operation: the ORM changes (the actor, each account owner, each
task) are audited field by field, and one row of operation ``parties.deactivate_actor``
sums it up. Hand-over tasks are internal work, not a contact with the customer: they do not
count against the contact budget.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs
from sqlalchemy import and_, func, insert, or_, select

from ..access import managed_person
from ..db.models import Actor, AuditRecord, ContactPerson, Customer, Interaction, Task
from ..errors import ValidationError
from ..events import AccountOwnerChanged, ActorDeactivated
from .relationships import YEAR, _aware, personal_touches
from .tasks import create_task

#: a hand-over is due soon: the customer should not notice the gap
DUE_IN = timedelta(days=2)


@attrs.frozen
class Introduction:
    """A contact person only the leaver knew: whom the successor must be introduced to."""

    contact_id: int
    name: str
    function: str
    last_touch_at: datetime
    channel: str


@attrs.frozen
class HandedOver:
    customer_id: int
    name: str
    account_owner: bool  # the leaver was the account owner
    only_relationship: bool  # nobody else of ours had a personal touch in the last 12 months
    introduce: tuple[Introduction, ...]
    task_id: int
    new_account_owner_id: int | None


@attrs.frozen
class Handover:
    actor_id: int
    name: str
    party_id: int
    successor_id: int | None
    accounts: tuple[HandedOver, ...]
    #: the leaver's open tasks given to the successor
    tasks_reassigned: tuple[int, ...] = ()


def successor_of(uow, leaver: Actor, successor_id: int | None) -> Actor | None:
    """The successor: an active person of the leaver's party, not the leaver. One answer for an
    unknown id and another party's person, so other parties' people cannot be probed."""
    if successor_id is None:
        return None
    successor = uow.session.get(Actor, successor_id)
    if successor_id == leaver.id:
        raise ValidationError("handover_to", successor_id, "is the person leaving; name who takes over")
    if successor is None or successor.party_id != leaver.party_id or not successor.active or successor.is_system:
        raise ValidationError("handover_to", successor_id,
                              f"is not an active person of the leaver's party {leaver.party_id}")
    return successor


def hand_over(uow, actor_id: int, successor_id: int | None, doing: str) -> Handover:
    """Deactivate ``actor_id`` and hand over their accounts, inside ``uow``."""
    leaver = managed_person(uow, actor_id, doing)
    if leaver.is_system:
        raise ValidationError("actor_id", actor_id, "is dealercrm's own system actor, which is always active")
    successor = successor_of(uow, leaver, successor_id)
    leaver.active = False
    s, now, party = uow.session, uow.now, leaver.party_id
    live = and_(Customer.owner_party_id == party, Customer.erased_at.is_(None), Customer.merged_into_id.is_(None))
    year_ago = now - YEAR
    # per customer of the party, our people with a personal touch in the last 12 months
    touched = (select(Interaction.customer_id, func.count(func.distinct(Interaction.actor_id)).label("people"),
                      func.min(Interaction.actor_id).label("one_actor"))
               .join(Customer, Customer.id == Interaction.customer_id)
               .join(Actor, personal_touches(Customer.id, Customer.owner_party_id))
               .where(live, Interaction.at > year_ago).group_by(Interaction.customer_id).subquery())
    only = select(touched.c.customer_id).where(touched.c.people == 1, touched.c.one_actor == leaver.id)
    accounts = list(s.scalars(select(Customer).where(live, or_(Customer.account_owner_id == leaver.id,
                                                               Customer.id.in_(only))).order_by(Customer.id)))
    sole = set(s.scalars(only))
    introductions = _introductions(s, [c.id for c in accounts], leaver.id, party, year_ago)
    existing = {t.customer_id: t for t in s.scalars(select(Task).where(
        Task.origin_ref == f"handover:{leaver.id}", Task.status == "open"))}
    handed = []
    for customer in accounts:
        owned = customer.account_owner_id == leaver.id
        if owned and successor is not None:
            customer.account_owner_id, customer.updated_at = successor.id, now
            uow.raise_event(AccountOwnerChanged, customer_id=customer.id, owner_party_id=party,
                            account_owner_id=successor.id, previous_party_id=party, previous_owner_id=leaver.id)
        introduce = introductions.get(customer.id, ())
        title, note = _texts(leaver, successor, customer, owned, customer.id in sole, introduce, now)
        assignee = successor.id if successor else _still_there(s, customer.account_owner_id, leaver.id, party)
        task = existing.get(customer.id)
        if task is not None:  # a hand-over asked for earlier, now with a successor: the same task
            task.title, task.note = title, note
            task.assigned_actor_id, task.assigned_party_id = assignee, party
        else:
            task = create_task(uow, title, now + DUE_IN, customer_id=customer.id, assigned_party_id=party,
                               assigned_actor_id=assignee, origin="human", origin_ref=f"handover:{leaver.id}",
                               note=note, contact_person_id=introduce[0].contact_id if introduce else None)
        handed.append(HandedOver(customer.id, customer.name, owned, customer.id in sole, introduce, task.id,
                                 customer.account_owner_id))
    moved: list[int] = []
    if successor is not None:
        for task in s.scalars(select(Task).where(Task.assigned_actor_id == leaver.id, Task.status == "open")
                              .order_by(Task.id)):
            task.assigned_actor_id = successor.id
            moved.append(task.id)
    uow.flush()
    result = Handover(leaver.id, leaver.name, party, successor.id if successor else None, tuple(handed), tuple(moved))
    s.execute(insert(AuditRecord), [dict(
        at=now, actor_id=uow.actor_id, operation=uow.operation, action="handover", entity="actor",
        entity_id=leaver.id, customer_id=None, personal_changes=None,
        changes={"handover_to": result.successor_id, "accounts": [h.customer_id for h in handed],
                 "handover_tasks": [h.task_id for h in handed], "tasks_reassigned": moved})])
    uow.raise_event(ActorDeactivated, party_id=party, deactivated_id=leaver.id, handover_to_id=result.successor_id,
                    customer_ids=tuple(h.customer_id for h in handed), task_ids=tuple(h.task_id for h in handed))
    return result


def _still_there(s, owner_id: int | None, leaver_id: int, party_id: int) -> int | None:
    """Without a successor, the account owner takes the hand-over if someone else still active
    of the party; otherwise the party does (None)."""
    if owner_id is None or owner_id == leaver_id:
        return None
    return s.scalar(select(Actor.id).where(Actor.id == owner_id, Actor.party_id == party_id,
                                           Actor.active.is_(True)))


def _introductions(s, customer_ids: list[int], leaver_id: int, party_id: int, since: datetime
                   ) -> dict[int, tuple[Introduction, ...]]:
    """Per customer, the contact persons only the leaver had personal touches with since ``since``."""
    if not customer_ids:
        return {}
    pairs = s.execute(
        select(Interaction.customer_id, Interaction.contact_person_id)
        .join(Customer, Customer.id == Interaction.customer_id)
        .join(Actor, personal_touches(Customer.id, party_id))
        .where(Interaction.customer_id.in_(customer_ids), Interaction.contact_person_id.is_not(None),
               Interaction.at > since)
        .group_by(Interaction.customer_id, Interaction.contact_person_id)
        .having(func.count(func.distinct(Interaction.actor_id)) == 1, func.min(Interaction.actor_id) == leaver_id)
    ).all()
    if not pairs:
        return {}
    contacts = {c.id: c for c in s.scalars(select(ContactPerson).where(
        ContactPerson.id.in_(sorted({p.contact_person_id for p in pairs}))))}
    out: dict[int, list[Introduction]] = {}
    for customer_id, contact_id in pairs:
        last = s.execute(select(Interaction.at, Interaction.channel).where(
            Interaction.customer_id == customer_id, Interaction.contact_person_id == contact_id,
            Interaction.actor_id == leaver_id, Interaction.personal.is_(True))
            .order_by(Interaction.at.desc(), Interaction.id.desc()).limit(1)).one()
        c = contacts[contact_id]
        out.setdefault(customer_id, []).append(Introduction(c.id, c.name, c.function, _aware(last.at), last.channel))
    return {k: tuple(sorted(v, key=lambda i: i.last_touch_at, reverse=True)) for k, v in out.items()}


def _texts(leaver: Actor, successor: Actor | None, customer: Customer, owned: bool, sole: bool,
           introduce: tuple[Introduction, ...], now: datetime) -> tuple[str, str]:
    who = successor.name if successor else "who takes over?"
    title = f"Hand-over of {customer.name}: {leaver.name} left — {who}"
    why = []
    if owned:
        why.append(f"{leaver.name} was the account owner")
    if sole:
        why.append(f"nobody else of ours had a personal touch with {customer.name} in the last 12 months")
    lines = [f"{leaver.name} ({leaver.role}) was deactivated on {now:%Y-%m-%d}: " + "; ".join(why) + "."]
    if successor is not None:
        lines.append(f"Who takes over: {successor.name} ({successor.role})"
                     + (", now the account owner." if owned else "."))
    else:
        lines.append("Who takes over: not named yet — name an account owner (dealercrm customers reassign, or "
                     "parties deactivate-actor … --handover-to …).")
    if introduce:
        lines.append("Whom to introduce (only " + leaver.name + " knew them): " + "; ".join(
            f"{i.name} ({i.function}, last personal touch {i.last_touch_at:%Y-%m-%d} by {i.channel})"
            for i in introduce) + ".")
    else:
        lines.append("Whom to introduce: no contact person was named in " + leaver.name + "'s touches of the last "
                     "12 months; the timeline shows whom they spoke with.")
    return title, "\n".join(lines)
