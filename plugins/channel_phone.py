"""The phone channel: a call to make, as a task for a person.

The personal gesture the seeds ask for — an unprompted check-in call — and the
fallback where no written channel is allowed. "Sending" creates a task for the
customer's account owner (or owning party); a resend after a crash finds the task it
already made (by the message's idempotency key) instead of making a second one.
"""

from __future__ import annotations

from datetime import timedelta

import attrs
from sqlalchemy import select

from dealercrm import hookimpl
from dealercrm.channels import DeliveryResult, OutgoingMessage
from dealercrm.db.models import Customer, Task
from dealercrm.services.tasks import create_task


@attrs.frozen
class PhoneSettings:
    """``[plugins.channel_phone]``: when the call task is due after the message was "sent"."""

    due_in_hours: float = 24


class PhoneChannel:
    name = "phone"
    purposes = frozenset({"service", "marketing"})
    consent_channel = "phone"
    address_field = "phone"
    consent_required_for = frozenset()

    def __init__(self, crm, due_in_hours: float = 24):
        self.crm = crm
        self.due_in = timedelta(hours=due_in_hours)

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        ref = f"outbox:{message.idempotency_key}"
        with self.crm.uow(self.crm.system, "channel.phone") as uow:
            existing = uow.connection.execute(select(Task.id).where(Task.origin_ref == ref)).scalar()
            if existing is not None:
                return DeliveryResult.delivered(f"task:{existing}")
            owner_party, owner = uow.connection.execute(
                select(Customer.owner_party_id, Customer.account_owner_id)
                .where(Customer.id == message.customer_id)).one()
            task = create_task(uow, f"call {message.recipient}: {message.subject or message.body[:80]}",
                               uow.now + self.due_in, customer_id=message.customer_id, assigned_party_id=owner_party,
                               assigned_actor_id=owner, origin="rule", origin_ref=ref, note=message.body,
                               case_id=message.case_id)
            uow.commit()
            return DeliveryResult.delivered(f"task:{task.id}")


@hookimpl(trylast=True)
def dealercrm_register_channels(crm):
    settings = crm.settings.plugin("channel_phone")
    return [PhoneChannel(crm, due_in_hours=float(settings.get("due_in_hours", 24)))]


@hookimpl(trylast=True)
def dealercrm_register_settings():
    return {"channel_phone": PhoneSettings}
