"""Interests with provenance: who heard "skiing", when, in which conversation."""

from __future__ import annotations

from sqlalchemy import select

from .. import validation
from ..db.models import Interaction, Interest
from ..errors import StateConflict, ValidationError
from ..events import InterestNoted
from ..access import owned_customer
from .base import Service, kept_customer


def normalize_tag(tag: str) -> str:
    tag = validation.required("interest", tag).lower()
    if len(tag) > 64:
        raise ValidationError("interest", tag, "is longer than 64 characters")
    return " ".join(tag.split())


class InterestService(Service):
    def note(self, customer_id: int, tag: str, *, by: int, note: str | None = None,
             interaction_id: int | None = None) -> Interest:
        """Note that the customer is interested in ``tag`` (normalised: ``"Skiing "`` is ``skiing``).

        The owning dealer's, with who heard it and when. Raises ``InterestNoted`` in the
        transaction, which event-driven rules (``rule_interest_offer``) act on there: their
        offer commits with the interest, or neither does.

        Args:
            customer_id: The customer (a live one, not merged away).
            tag: What they are interested in: up to 64 characters, lower-cased, spaces collapsed.
            by: The acting actor's id: a person of the owning dealer, or the system.
            note: What was said.
            interaction_id: The conversation it came up in (one of this customer's).

        Returns:
            The stored interest.

        Raises:
            NotFound: No such customer or one the actor may not see, no such interaction; or
                ``by`` is no actor.
            NotPermitted: The actor does not keep the file, or ``by`` is deactivated.
            ValidationError: An empty or too long tag, another customer's interaction, a merged customer.
            Vetoed: A plugin refused the change.

        Examples:
            >>> crm.interests.note(anna, " Skiing ", note="asked about ski racks", by=lea).tag
            'skiing'
        """
        tag = normalize_tag(tag)
        with self.uow(by, "interests.note") as uow:
            kept_customer(uow, customer_id, "note interests of")
            if interaction_id is not None:
                talk = uow.get(Interaction, interaction_id, "interaction")
                if talk.customer_id != customer_id:
                    raise StateConflict("interaction_id", interaction_id, f"belongs to customer {talk.customer_id}")
            interest = Interest(customer_id=customer_id, tag=tag, note=note, noted_by_id=uow.actor_id,
                                noted_at=uow.now, interaction_id=interaction_id)
            uow.session.add(interest)
            uow.flush()
            uow.raise_event(InterestNoted, interest_id=interest.id, customer_id=customer_id, tag=tag)
            uow.commit()
            return interest

    def of_customer(self, customer_id: int, *, by: int) -> list[Interest]:
        """The customer's interests, oldest first: the owning dealer's to read.

        Args:
            customer_id: The customer.
            by: The acting actor's id: a person of the owning dealer, or the system.

        Returns:
            The interests, with who noted them when.

        Raises:
            NotFound: No such customer or one the actor may not see; or ``by`` is no actor.
            NotPermitted: The actor does not keep the file, or ``by`` is deactivated.

        Examples:
            >>> _ = crm.interests.note(anna, "skiing", by=lea)
            >>> [i.tag for i in crm.interests.of_customer(anna, by=lea)]
            ['skiing']
        """
        with self.read(by) as uow:
            owned_customer(uow, customer_id, "read the interests of")
            return list(uow.session.scalars(
                select(Interest).where(Interest.customer_id == customer_id).order_by(Interest.noted_at, Interest.id)))
