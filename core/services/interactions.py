"""The one timeline of everything that passed between the company and a customer.

A personal interaction (a call, a visit, a personal letter — not a mass mailing) also
moves ``customer.last_touch_at`` in the same transaction, so "who has nobody spoken to
for a year" is an indexed lookup, not a scan of the whole timeline.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from .. import validation
from ..db.case_models import Case
from ..db.models import DIRECTIONS, ContactPerson, Customer, Interaction, Task
from ..errors import NotFound, StateConflict, ValidationError
from ..events import InteractionRecorded
from ..access import named_contact, owned_customer
from .base import Service, live_customer
from .timeline import TimelineEntry, timeline

#: what a timeline entry can have passed through besides a consent channel
OTHER_CHANNELS = ("visit", "webhook", "system", "web")


def timeline_channels(crm) -> tuple[str, ...]:
    """The consent channels known here (``crm.consents.channels()``: each channel plugin's,
    and ``[contact] manual_channels``), a visit, a host system's webhook, dealercrm itself."""
    return (*crm.consents.channels(), *OTHER_CHANNELS)


class InteractionService(Service):
    def record(self, customer_id: int, channel: str, direction: str, summary: str, *,
               by: int, personal: bool = True, at: datetime | None = None, case_id: int | None = None,
               task_id: int | None = None, contact_person_id: int | None = None) -> Interaction:
        """Put a contact on the customer's timeline: a call, a visit, a letter.

        A personal contact touches the customer (``last_touch_at``) in the same transaction,
        which rules such as ``rule_loyal_quiet`` read. The owning dealer's. Raises
        ``InteractionRecorded``.

        Args:
            customer_id: The customer (a live one, not merged away).
            channel: A consent channel (``crm.consents.channels()``), or ``"visit"``,
                ``"webhook"``, ``"system"``, ``"web"``.
            direction: ``"inbound"``, ``"outbound"`` or ``"internal"``.
            summary: What was said or done (required).
            by: The acting actor's id: a person of the owning dealer, or the system.
            personal: The summary is personal data (blanked on erasure) and the contact a
                personal one that touches the customer; False for a mass mailing's line.
            at: When it happened (an aware datetime); default now.
            case_id: The case it was about (one of this customer's).
            task_id: The task it was done for (one of this customer's, or of none).
            contact_person_id: The company's contact person it was with (their buyer, their
                technician): the relationship map shows who of ours knows whom of theirs
                from it; None: the customer as a whole.

        Returns:
            The stored interaction.

        Raises:
            NotFound: No such customer or one the actor may not see, no such case of
                this customer, no such
                task, no such contact person of this customer; or ``by`` is no actor.
            NotPermitted: The actor does not keep the file, or ``by`` is deactivated.
            ValidationError: An unknown channel or direction, an empty summary, a naive ``at``,
                another customer's task, a merged customer.
            Vetoed: A plugin refused the change.

        Examples:
            >>> talk = crm.interactions.record(anna, "phone", "outbound", "asked about the drum noise", by=lea)
            >>> crm.customers.get(anna, by=lea).last_touch_at == talk.at
            True
        """
        validation.choice("channel", channel, timeline_channels(self.crm))
        validation.choice("direction", direction, DIRECTIONS)
        summary = validation.required("summary", summary)
        with self.uow(by, "interactions.record") as uow:
            if contact_person_id is not None:
                named_contact(uow, customer_id, contact_person_id, "record interactions with")
            else:
                owned_customer(uow, customer_id, "record interactions with")
            interaction = record_interaction(uow, customer_id, channel, direction, summary, personal=personal,
                                             at=validation.aware("at", at) if at is not None else None,
                                             case_id=case_id, task_id=task_id, contact_person_id=contact_person_id)
            uow.commit()
            return interaction

    def timeline(self, customer_id: int, limit: int = 100, offset: int = 0, *, by: int) -> list[TimelineEntry]:
        """Everything that passed with the customer, newest first, and where their cases went
        (the hand-offs, from the cases' history: ``dealercrm.services.timeline``): the owning
        dealer's.

        Args:
            customer_id: The customer.
            limit: At most this many.
            offset: Skip this many first (paging).
            by: The acting actor's id: a person of the owning dealer, or the system.

        Returns:
            ``TimelineEntry`` lines, newest first: ``kind`` "interaction" (people's, rules',
            messages') or "hand_off" (the state a case went to, who holds it, until when).

        Raises:
            NotFound: No such customer or one the actor may not see; or ``by`` is no actor.
            NotPermitted: The actor does not keep the file, or ``by`` is deactivated.

        Examples:
            >>> _ = crm.interactions.record(anna, "visit", "inbound", "came in with the receipt", by=lea)
            >>> [t.summary for t in crm.interactions.timeline(anna, by=lea)]
            ['came in with the receipt']
        """
        with self.read(by) as uow:
            owned_customer(uow, customer_id, "read the timeline of")
            return timeline(uow, customer_id, limit, offset)


def record_interaction(uow, customer_id: int, channel: str, direction: str, summary: str, *,
                       personal: bool = True, at: datetime | None = None, case_id: int | None = None,
                       task_id: int | None = None, contact_person_id: int | None = None) -> Interaction:
    """The timeline write, usable inside any other unit of work (cases, channels, rules)."""
    live_customer(uow, customer_id)
    if task_id is not None:
        task = uow.get(Task, task_id, "task")
        if task.customer_id not in (None, customer_id):
            raise StateConflict("task_id", task_id, f"belongs to customer {task.customer_id}")
    if case_id is not None:
        # a line on Anna's timeline must not point into another customer's case; whether a
        # case of another customer (perhaps another dealer's) exists is not told
        case = uow.session.get(Case, case_id)
        if case is None or case.customer_id != customer_id:
            raise NotFound("case of this customer", case_id)
    if contact_person_id is not None:
        contact_of(uow, customer_id, contact_person_id)
    when = at or uow.now
    interaction = Interaction(customer_id=customer_id, channel=channel, direction=direction, summary=summary,
                              personal=personal, actor_id=uow.actor_id, at=when, case_id=case_id, task_id=task_id,
                              contact_person_id=contact_person_id)
    uow.session.add(interaction)
    if personal:
        uow.session.execute(update(Customer).where(
            Customer.id == customer_id,
            (Customer.last_touch_at.is_(None)) | (Customer.last_touch_at < when)).values(last_touch_at=when))
    uow.flush()
    uow.raise_event(InteractionRecorded, interaction_id=interaction.id, customer_id=customer_id,
                    channel=channel, direction=direction, personal=personal)
    return interaction


def contact_of(uow, customer_id: int, contact_person_id: int) -> ContactPerson:
    """The contact person, who must be one of the customer's own: a record naming another
    file's contact person would put that person on this customer's relationship map."""
    contact = uow.get(ContactPerson, contact_person_id, "contact person")
    if contact.customer_id != customer_id:
        raise ValidationError("contact_person_id", contact_person_id, f"is no contact person of customer {customer_id}")
    return contact
