"""Queueing outbound contact: consent-checked, budgeted, in the caller's transaction.

``enqueue`` is called inside a business operation's unit of work (a case hand-off, a
rule firing), so the message exists exactly when its cause was committed. A contact
that may not happen is still written — as ``suppressed`` with its reason and a line on
the customer's timeline — never silently dropped.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert, select

from .. import validation
from ..access import owned_customer, visible_case
from ..db.models import PURPOSES, AuditRecord
from ..db.outbox_models import ContactLedger, OutboxMessage
from ..db.prepared import Prepared
from ..errors import NotFound, NotPermitted, StateConflict, ValidationError
from ..events import ContactSuppressed, MessageQueued
from .base import Service
from .addressing import check_channels
from .contact_policy import decide
from .interactions import record_interaction


OUT, AUDIT = OutboxMessage.__table__, AuditRecord.__table__
# prepared once (``dealercrm.db.prepared``): enqueue runs inside every case hand-off
_INSERT_RETURNING_ID = Prepared(insert(OUT).returning(OUT.c.id))
_INSERT_AUDIT = Prepared(insert(AUDIT))
_INSERT_LEDGER = Prepared(insert(ContactLedger.__table__))


def load_channels(crm, only: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Channels by name, and the plugin that provided each (for error messages).

    A plugin that raises, or a channel whose address or consent channel cannot be used
    (``addressing.check_channels``), is recorded in ``crm.plugin_failures`` and the others
    still count; with ``only`` (one plugin being registered on a running application) its
    failure is raised instead, so the plugin is refused.
    """
    channels, owners = crm.plugins.collect_named("dealercrm_register_channels", "channel", "send", only=only,
                                                 failures=None if only else crm.plugin_failures, crm=crm)
    for name, failure in check_channels(crm, channels, owners).items():
        if only:
            raise failure
        crm.plugin_failures.append(failure)
        del channels[name], owners[name]
    return channels, owners


def record_contact(uow, customer_id: int, purpose: str, channel: str, kind: str, ref_id: int | None) -> None:
    """Spend one contact of the person's budget (messages and rule-made tasks alike)."""
    _INSERT_LEDGER.run(uow.connection, dict(
        customer_id=customer_id, purpose=purpose, channel=channel, kind=kind, ref_id=ref_id, at=uow.now))


class OutboxService(Service):
    def channel(self, name: str):
        try:
            return self.crm.channels[name]
        except KeyError:
            raise NotFound("channel", f"{name} (available: {', '.join(sorted(self.crm.channels)) or 'none'})") from None

    def enqueue(self, uow, *, channel: str, purpose: str, body: str, customer_id: int | None = None,
                subject: str | None = None, recipient: str | None = None, origin: str = "human",
                case_id: int | None = None, data: dict | None = None, key: str | None = None,
                decision=None) -> OutboxMessage:
        """Queue one message inside ``uow``; returns the row (status pending or suppressed).

        ``decision`` is a ``contact_policy.decide`` answer the caller already has for this
        customer, channel and purpose at ``uow.now`` (it is not asked twice).
        """
        validation.choice("purpose", purpose, PURPOSES)
        body = validation.required("message body", body)
        ch = self.channel(channel)
        if customer_id is None:
            if not recipient:
                raise ValidationError("recipient", recipient, f"a message on {channel!r} without a customer needs one")
            allowed, reason = True, "allowed"
        else:
            decision = decision or decide(self.crm, uow.connection, customer_id, ch, purpose, uow.now)
            allowed, reason, recipient = decision.allowed, decision.reason, recipient or decision.recipient
        values = dict(
            idempotency_key=key or f"dcrm-{uuid.uuid4().hex}", customer_id=customer_id, channel=channel,
            purpose=purpose, recipient=recipient or "", subject=subject, body=body, data=data or {}, origin=origin,
            case_id=case_id, status="pending" if allowed else "suppressed", reason=None if allowed else reason,
            attempts=0, next_attempt_at=uow.now, created_at=uow.now)
        # Core, not the ORM: this runs inside every case hand-off, on the hot path
        message_id = _INSERT_RETURNING_ID.scalar(uow.connection, values)
        message = OutboxMessage.model_construct(id=message_id, **values)
        personal = {k: [None, values[k]] for k in OutboxMessage.__personal__ if values[k]}
        _INSERT_AUDIT.run(uow.connection, dict(
            at=uow.now, actor_id=uow.actor_id, operation=uow.operation or "outbox.enqueue", action="insert",
            entity="outbox_message", entity_id=message_id, customer_id=customer_id, personal_changes=personal or None,
            changes={k: [None, v] for k, v in values.items()
                     if k not in OutboxMessage.__personal__ and v is not None and k not in ("next_attempt_at", "created_at")}))
        if allowed:
            if customer_id is not None:
                record_contact(uow, customer_id, purpose, channel, "message", message.id)
            uow.raise_event(MessageQueued, message_id=message.id, customer_id=customer_id, channel=channel,
                            purpose=purpose, case_id=case_id)
        else:
            record_interaction(uow, customer_id, "system", "internal",
                               f"{purpose} {channel} message not sent: {reason} ({origin})",
                               personal=False, case_id=case_id)
            uow.raise_event(ContactSuppressed, message_id=message.id, customer_id=customer_id, channel=channel,
                            purpose=purpose, reason=reason)
        return message

    def send(self, channel: str, purpose: str, body: str, *, customer_id: int | None = None,
             subject: str | None = None, recipient: str | None = None, case_id: int | None = None,
             data: dict | None = None, key: str | None = None, by: int) -> OutboxMessage:
        """Queue a message as its own business operation (the dispatcher sends it).

        Writing to a customer is keeping the customer relationship: the owning dealer (and
        the system) does it, a manufacturer or technician serving one of the customer's
        cases does not — the dealer stays the customer's single point of contact. Consent
        and the contact budget decide as for every other message: one that may not go is
        kept as ``suppressed`` with its reason, never an error.
        """
        with self.uow(by, "outbox.send") as uow:
            p = uow.principal
            if customer_id is not None:
                owned_customer(uow, customer_id, "send messages to")
                if case_id is not None and visible_case(uow, case_id).customer_id != customer_id:
                    raise StateConflict("case_id", case_id, f"is not a case of customer {customer_id}")
            elif not p.is_system:
                raise NotPermitted(f"{p} may not send messages to no customer: only dealercrm's system actor "
                                   "writes to addresses of its own choosing")
            available = self.customer_channels()
            if not p.is_system and channel not in available:
                raise ValidationError("channel", channel, f"does not reach customers here; available: "
                                      f"{', '.join(available) or 'none'}")
            message = self.enqueue(uow, channel=channel, purpose=purpose, body=body, customer_id=customer_id,
                                   subject=subject, recipient=recipient, origin="human", case_id=case_id,
                                   data=data, key=key)
            uow.commit()
            return message

    def dispatch(self, *, max_batches: int | None = None):
        from .dispatcher import dispatch
        return dispatch(self.crm, max_batches=max_batches)

    def customer_channels(self) -> list[str]:
        """Channels that reach a customer (a host system's webhook does not)."""
        return sorted(name for name, ch in self.crm.channels.items() if ch.consent_channel)

    def get(self, message_id: int, *, by: int, customer_id: int | None = None) -> OutboxMessage:
        """A message, if the actor keeps the customer it went to (the system: any)."""
        with self.read(by) as uow:
            message = uow.session.get(OutboxMessage, message_id)
            if message is not None and message.customer_id is not None:
                owned_customer(uow, message.customer_id, "read the messages to")
            elif message is not None and not uow.principal.is_system:
                message = None
            if message is None or customer_id not in (None, message.customer_id):
                raise NotFound("outbox message", message_id)
            return message

    def of_customer(self, customer_id: int, *, by: int, limit: int = 50, offset: int = 0) -> list[OutboxMessage]:
        """Every message queued for the customer, by whom or whatever rule, newest first."""
        with self.read(by) as uow:
            owned_customer(uow, customer_id, "read the messages to")
            return list(uow.session.scalars(
                select(OutboxMessage).where(OutboxMessage.customer_id == customer_id)
                .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit).offset(offset)))
