"""The one timeline of everything that passed between the company and a customer.

A personal interaction (a call, a visit, a personal letter — not a mass mailing) also
moves ``customer.last_touch_at`` in the same transaction, so "who has nobody spoken to
for a year" is an indexed lookup, not a scan of the whole timeline.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from .. import validation
from ..db.models import DIRECTIONS, Customer, Interaction, Task
from ..errors import StateConflict
from ..events import InteractionRecorded
from ..access import owned_customer
from .base import Service, live_customer

#: what a timeline entry can have passed through besides a consent channel
OTHER_CHANNELS = ("visit", "webhook", "system", "web")


def timeline_channels(crm) -> tuple[str, ...]:
    """The consent channels known here (``crm.consents.channels()``: each channel plugin's,
    and ``[contact] manual_channels``), a visit, a host system's webhook, dealercrm itself."""
    return (*crm.consents.channels(), *OTHER_CHANNELS)


class InteractionService(Service):
    def record(self, customer_id: int, channel: str, direction: str, summary: str, *,
               by: int, personal: bool = True, at: datetime | None = None, case_id: int | None = None,
               task_id: int | None = None) -> Interaction:
        validation.choice("channel", channel, timeline_channels(self.crm))
        validation.choice("direction", direction, DIRECTIONS)
        summary = validation.required("summary", summary)
        with self.uow(by, "interactions.record") as uow:
            owned_customer(uow, customer_id, "record interactions with")
            interaction = record_interaction(uow, customer_id, channel, direction, summary, personal=personal,
                                             at=validation.aware("at", at) if at is not None else None,
                                             case_id=case_id, task_id=task_id)
            uow.commit()
            return interaction

    def timeline(self, customer_id: int, limit: int = 100, offset: int = 0, *, by: int) -> list[Interaction]:
        """Everything that passed with the customer, newest first: the owning dealer's."""
        with self.read(by) as uow:
            owned_customer(uow, customer_id, "read the timeline of")
            return list(uow.session.scalars(
                select(Interaction).where(Interaction.customer_id == customer_id)
                .order_by(Interaction.at.desc(), Interaction.id.desc()).limit(limit).offset(offset)))


def record_interaction(uow, customer_id: int, channel: str, direction: str, summary: str, *,
                       personal: bool = True, at: datetime | None = None, case_id: int | None = None,
                       task_id: int | None = None) -> Interaction:
    """The timeline write, usable inside any other unit of work (cases, channels, rules)."""
    live_customer(uow, customer_id)
    if task_id is not None:
        task = uow.get(Task, task_id, "task")
        if task.customer_id not in (None, customer_id):
            raise StateConflict("task_id", task_id, f"belongs to customer {task.customer_id}")
    when = at or uow.now
    interaction = Interaction(customer_id=customer_id, channel=channel, direction=direction, summary=summary,
                              personal=personal, actor_id=uow.actor_id, at=when, case_id=case_id, task_id=task_id)
    uow.session.add(interaction)
    if personal:
        uow.session.execute(update(Customer).where(
            Customer.id == customer_id,
            (Customer.last_touch_at.is_(None)) | (Customer.last_touch_at < when)).values(last_touch_at=when))
    uow.flush()
    uow.raise_event(InteractionRecorded, interaction_id=interaction.id, customer_id=customer_id,
                    channel=channel, direction=direction, personal=personal)
    return interaction
