"""Messages to a customer as one actor may send and read them (rules in ``dealercrm.access``).

Writing to a customer is keeping the customer relationship: the owning dealer (and the
system) does it, a manufacturer or technician serving one of the customer's cases does
not — the dealer stays the customer's single point of contact. A message goes through
the ordinary outbox with the actor as ``by``, so consent and the contact budget decide
as for every other message: one that may not go is kept as ``suppressed`` with its
reason, never an error.
"""

from __future__ import annotations

from sqlalchemy import select

from ..db.outbox_models import OutboxMessage
from ..errors import NotFound, ValidationError


class ScopedOutbox:
    def __init__(self, scope):
        self.scope, self.crm, self.p = scope, scope.crm, scope.principal

    def customer_channels(self) -> list[str]:
        """Channels that reach a customer (a host system's webhook does not)."""
        return sorted(name for name, ch in self.crm.channels.items() if ch.consent_channel)

    def send(self, customer_id: int, channel: str, purpose: str, body: str, *, subject: str | None = None,
             case_id: int | None = None) -> OutboxMessage:
        with self.crm.read() as uow:
            self.scope.owned_customer(uow, customer_id, "send messages to")
            if case_id is not None and self.scope.visible_case(uow.connection, case_id).customer_id != customer_id:
                raise ValidationError("case_id", case_id, f"is not a case of customer {customer_id}")
        available = self.customer_channels()
        if channel not in available:
            raise ValidationError("channel", channel, f"does not reach customers here; available: "
                                  f"{', '.join(available) or 'none'}")
        return self.crm.outbox.send(channel, purpose, body, customer_id=customer_id, subject=subject,
                                    case_id=case_id, by=self.p.actor_id)

    def of_customer(self, customer_id: int, *, limit: int = 50, offset: int = 0) -> list[OutboxMessage]:
        """Every message queued for the customer, by whom or whatever rule, newest first."""
        with self.crm.read() as uow:
            self.scope.owned_customer(uow, customer_id, "read the messages to")
            return list(uow.session.scalars(
                select(OutboxMessage).where(OutboxMessage.customer_id == customer_id)
                .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit).offset(offset)))

    def get(self, customer_id: int, message_id: int) -> OutboxMessage:
        with self.crm.read() as uow:
            self.scope.owned_customer(uow, customer_id, "read the messages to")
            message = uow.session.get(OutboxMessage, message_id)
            if message is None or message.customer_id != customer_id:
                raise NotFound("outbox message", message_id)
            return message
