"""Queueing outbound contact: consent-checked, budgeted, in the caller's transaction.

``enqueue`` is called inside a business operation's unit of work (a rule firing, a
message sent by hand), so the message exists exactly when its cause was committed; the
notices of case events are queued after the event's commit, exactly once, by
``dealercrm.services.notices`` (``enqueue_many``: one statement per table for a whole
batch). A contact that may not happen is still written — as ``suppressed`` with its
reason and a line on the customer's timeline — never silently dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from .. import validation
from ..access import owned_customer, visible_case
from ..db.batches import power_chunks
from ..db.models import PURPOSES, AuditRecord
from ..db.outbox_models import ContactLedger, OutboxMessage
from ..errors import NotFound, NotPermitted, StateConflict, ValidationError
from ..events import ContactSuppressed, MessageQueued
from .base import Service
from .addressing import check_channels
from .contact_policy import decide
from .interactions import record_interaction

if TYPE_CHECKING:
    from ..channels import Channel
    from ..uow import UnitOfWork
    from .contact_policy import Decision
    from .dispatcher import DispatchReport
    from .notices import NoticeReport


OUT, AUDIT = OutboxMessage.__table__, AuditRecord.__table__
# built once (SQLAlchemy caches their compiled form)
_INSERT_RETURNING_ID = insert(OUT).returning(OUT.c.id)
#: several rows: one multi-row INSERT (not one per row, as ``sort_by_parameter_order`` would
#: make it on SQLite); each id is matched to its row by the unique idempotency key
_INSERT_MANY_RETURNING_ID = insert(OUT).returning(OUT.c.idempotency_key, OUT.c.id)
_INSERT_AUDIT = insert(AUDIT)
_INSERT_LEDGER = insert(ContactLedger.__table__)
#: the keyword arguments of ``enqueue``, which ``enqueue_many`` takes as one dict per message
MESSAGE_KEYS = frozenset({"channel", "purpose", "body", "customer_id", "subject", "recipient", "origin", "case_id",
                          "data", "key", "decision"})


def _one_or_many(rows: list[dict]) -> dict | list[dict]:
    """A single parameter set is executed as one statement, several as one executemany."""
    return rows[0] if len(rows) == 1 else rows


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
    uow.connection.execute(_INSERT_LEDGER, dict(
        customer_id=customer_id, purpose=purpose, channel=channel, kind=kind, ref_id=ref_id, at=uow.now))


class OutboxService(Service):
    def channel(self, name: str) -> Channel:
        """The loaded channel ``name``: what the plugins provide, by name.

        Args:
            name: The channel's name, e.g. ``"phone"``.

        Returns:
            The channel object (``dealercrm.channels.Channel``).

        Raises:
            NotFound: No channel of that name is loaded; the message names those that are.

        Examples:
            >>> crm.outbox.channel("phone").consent_channel
            'phone'
        """
        try:
            return self.crm.channels[name]
        except KeyError:
            raise NotFound("channel", f"{name} (available: {', '.join(sorted(self.crm.channels)) or 'none'})") from None

    def enqueue(self, uow: UnitOfWork, *, channel: str, purpose: str, body: str, customer_id: int | None = None,
                subject: str | None = None, recipient: str | None = None, origin: str = "human",
                case_id: int | None = None, data: dict | None = None, key: str | None = None,
                decision: Decision | None = None) -> OutboxMessage:
        """Queue one message inside ``uow``, so it exists exactly when its cause commits.

        For a plugin's operation or a rule: consent, the address on file and the contact
        budget decide as for every message, and one that may not go is written all the same
        as ``suppressed`` with its reason and a line on the customer's timeline. Access is
        the caller's to decide (``send`` is the checked operation). Raises ``MessageQueued``
        or ``ContactSuppressed``.

        Args:
            uow: The open unit of work of the cause.
            channel: The loaded channel's name.
            purpose: ``"service"`` or ``"marketing"``.
            body: The text (required).
            customer_id: The customer it goes to; None for a message to ``recipient`` only.
            subject: The subject, where the channel has one.
            recipient: The address, overriding the one on file (required without a customer).
            origin: Who queued it: ``"human"``, ``"rule:<name>"`` ...
            case_id: The case it is about.
            data: What the channel needs besides (a template's values).
            key: An idempotency key (default: a new one).
            decision: A ``contact_policy.decide`` answer the caller already has for this
                customer, channel and purpose at ``uow.now`` (it is not asked twice).

        Returns:
            The stored message (status ``pending`` or ``suppressed``).

        Raises:
            NotFound: No channel of that name is loaded.
            ValidationError: An unknown purpose, an empty body, no recipient for a message to no customer.

        Examples:
            >>> _ = crm.customers.update(anna, phone="0171 2345678", by=lea)
            >>> with crm.uow(lea, "my_plugin.remind") as uow:
            ...     message = crm.outbox.enqueue(uow, channel="phone", purpose="service",
            ...                                  body="Bring the receipt.", customer_id=anna)
            ...     uow.commit()
            >>> (message.status, message.recipient)
            ('pending', '+491712345678')
        """
        return self.enqueue_many(uow, [dict(
            channel=channel, purpose=purpose, body=body, customer_id=customer_id, subject=subject,
            recipient=recipient, origin=origin, case_id=case_id, data=data, key=key, decision=decision)])[0]

    def enqueue_many(self, uow: UnitOfWork, messages: list[dict[str, Any]]) -> list[OutboxMessage]:
        """``enqueue`` for several messages: each a dict of ``enqueue``'s keyword arguments.

        Written set-based: multi-row INSERTs for the messages (in chunks of powers of two, so
        a batch of 165 takes four), one executemany for their audit rows and one for the
        contact ledger. Pass each message's ``decision`` where the caller decided consent for
        the batch already.

        Args:
            uow: The open unit of work of the cause.
            messages: One dict per message, with ``enqueue``'s keyword arguments.

        Returns:
            The stored messages, in the order given.

        Raises:
            TypeError: A message has a key ``enqueue`` does not take.
            NotFound: A channel that is not loaded.
            ValidationError: An unknown purpose, an empty body, no recipient for a message to no customer.

        Examples:
            >>> _ = crm.customers.update(anna, phone="0171 2345678", by=lea)
            >>> with crm.uow(lea, "my_plugin.remind") as uow:
            ...     queued = crm.outbox.enqueue_many(uow, [
            ...         dict(channel="phone", purpose="service", body="Bring the receipt.", customer_id=anna),
            ...         dict(channel="phone", purpose="marketing", body="Ski racks -20%", customer_id=anna)])
            ...     uow.commit()
            >>> [(m.status, m.reason) for m in queued]
            [('pending', None), ('suppressed', 'no marketing consent for phone')]
        """
        rows, allowed = [], []
        for m in messages:
            unknown = set(m) - MESSAGE_KEYS
            if unknown:
                raise TypeError(f"enqueue_many: unknown message keys {sorted(unknown)}")
            channel, purpose, customer_id = m["channel"], m["purpose"], m.get("customer_id")
            validation.choice("purpose", purpose, PURPOSES)
            body = validation.required("message body", m["body"])
            ch = self.channel(channel)
            recipient = m.get("recipient")
            if customer_id is None:
                if not recipient:
                    raise ValidationError("recipient", recipient, f"a message on {channel!r} without a customer needs one")
                ok, reason = True, "allowed"
            else:
                decision = m.get("decision") or decide(self.crm, uow.connection, customer_id, ch, purpose, uow.now)
                ok, reason, recipient = decision.allowed, decision.reason, recipient or decision.recipient
            rows.append(dict(
                idempotency_key=m.get("key") or f"dcrm-{uuid.uuid4().hex}", customer_id=customer_id, channel=channel,
                purpose=purpose, recipient=recipient or "", subject=m.get("subject"), body=body,
                data=m.get("data") or {}, origin=m.get("origin", "human"), case_id=m.get("case_id"),
                status="pending" if ok else "suppressed", reason=None if ok else reason, attempts=0,
                next_attempt_at=uow.now, created_at=uow.now))
            allowed.append(ok)
        if not rows:
            return []
        conn = uow.connection
        # Core, not the ORM: a batch of notices is written in one statement per table
        ids = []
        for chunk in power_chunks(rows):  # a few statement texts, whatever the batch size (``db.batches``)
            if len(chunk) == 1:
                ids.append(conn.execute(_INSERT_RETURNING_ID, chunk[0]).scalar_one())
            else:
                by_key: dict[str, int] = {key: id_ for key, id_ in conn.execute(_INSERT_MANY_RETURNING_ID, chunk)}
                ids.extend(by_key[values["idempotency_key"]] for values in chunk)
        queued = [OutboxMessage.model_construct(id=message_id, **values) for message_id, values in zip(ids, rows)]
        operation = uow.operation or "outbox.enqueue"
        conn.execute(_INSERT_AUDIT, _one_or_many([dict(
            at=uow.now, actor_id=uow.actor_id, operation=operation, action="insert", entity="outbox_message",
            entity_id=message_id, customer_id=values["customer_id"],
            personal_changes={k: [None, values[k]] for k in OutboxMessage.__personal__ if values[k]} or None,
            changes={k: [None, v] for k, v in values.items() if k not in OutboxMessage.__personal__ and v is not None
                     and k not in ("next_attempt_at", "created_at")}) for message_id, values in zip(ids, rows)]))
        spent = [dict(customer_id=values["customer_id"], purpose=values["purpose"], channel=values["channel"],
                      kind="message", ref_id=message_id, at=uow.now)
                 for message_id, values, ok in zip(ids, rows, allowed) if ok and values["customer_id"] is not None]
        if spent:
            conn.execute(_INSERT_LEDGER, _one_or_many(spent))
        for message, ok in zip(queued, allowed):
            if ok:
                uow.raise_event(MessageQueued, message_id=message.id, customer_id=message.customer_id,
                                channel=message.channel, purpose=message.purpose, case_id=message.case_id)
            else:
                record_interaction(uow, message.customer_id, "system", "internal",
                                   f"{message.purpose} {message.channel} message not sent: {message.reason} "
                                   f"({message.origin})", personal=False, case_id=message.case_id)
                uow.raise_event(ContactSuppressed, message_id=message.id, customer_id=message.customer_id,
                                channel=message.channel, purpose=message.purpose, reason=message.reason)
        return queued

    def send(self, channel: str, purpose: str, body: str, *, customer_id: int | None = None,
             subject: str | None = None, recipient: str | None = None, case_id: int | None = None,
             data: dict | None = None, key: str | None = None, by: int) -> OutboxMessage:
        """Queue a message as its own business operation (the dispatcher sends it).

        Writing to a customer is keeping the customer relationship: the owning dealer (and
        the system) does it, a manufacturer or technician serving one of the customer's
        cases does not — the dealer stays the customer's single point of contact. Consent
        and the contact budget decide as for every other message: one that may not go is
        kept as ``suppressed`` with its reason, never an error.

        Args:
            channel: A channel that reaches customers (``customer_channels()``; the system any loaded one).
            purpose: ``"service"`` or ``"marketing"``.
            body: The text (required).
            customer_id: The customer; None only for the system, writing to ``recipient``.
            subject: The subject, where the channel has one.
            recipient: The address, overriding the one on file.
            case_id: The case it is about (one of this customer's).
            data: What the channel needs besides.
            key: An idempotency key (default: a new one).
            by: The acting actor's id: a person of the owning dealer, or the system.

        Returns:
            The stored message (status ``pending`` or ``suppressed``).

        Raises:
            NotFound: No such customer or one the actor may not see, no such case, no such
                channel; or ``by`` is no actor.
            NotPermitted: The actor does not keep the customer's file, or is not the system but
                names no customer; or ``by`` is deactivated.
            ValidationError: A channel that reaches no customer, another customer's case, an
                unknown purpose, an empty body, no recipient.
            Vetoed: A plugin refused the change.

        Examples:
            >>> _ = crm.customers.update(anna, phone="0171 2345678", by=lea)
            >>> message = crm.outbox.send("phone", "service", "Your washer is ready.", customer_id=anna, by=lea)
            >>> (message.status, message.recipient)
            ('pending', '+491712345678')
            >>> crm.outbox.send("phone", "marketing", "Ski racks -20%", customer_id=anna, by=lea).reason
            'no marketing consent for phone'
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

    def dispatch(self, *, max_batches: int | None = None,
                 on_progress: Callable[[int], None] | None = None) -> DispatchReport:
        """Queue the notices of committed case events, then send what is due: ``dealercrm dispatch``.

        As the system, in batches: each due message is leased, consent is asked again (a
        revocation since queueing stops it), the channel sends it, and the result is recorded
        — sent, retried later with backoff, or dead-lettered after the last attempt. Run it
        from a scheduler or a worker's loop.

        Raises nothing of its own: a channel that fails or raises is a retry in the report
        (naming the plugin in the log), never a lost message.

        Args:
            max_batches: Stop after this many batches (None: until nothing is due).
            on_progress: Called with each batch's number of messages (a progress bar).

        Returns:
            What happened (``DispatchReport``): ``sent``, ``retried``, ``failed``, ``dead``,
            ``suppressed``, ``batches``, ``noticed``.

        Examples:
            >>> _ = crm.customers.update(anna, phone="0171 2345678", by=lea)
            >>> message = crm.outbox.send("phone", "service", "Your washer is ready.", customer_id=anna, by=lea)
            >>> crm.outbox.dispatch().sent
            1
            >>> crm.outbox.get(message.id, by=lea).status
            'sent'
        """
        from .dispatcher import dispatch
        return dispatch(self.crm, max_batches=max_batches, on_progress=on_progress)

    def queue_notices(self, *, batch_size: int | None = None, max_batches: int | None = None) -> NoticeReport:
        """Queue the notices every committed case event calls for, exactly once (``notices``);
        ``dispatch`` and ``crm.cases.tick`` do this first.

        A case's notices are queued after its transition committed, from the history row, so
        the hot path stays one transaction and a notice is neither lost nor sent twice.
        Raises nothing of its own: an event whose notices fail is reported in ``failed`` and
        offered again at the next run.

        Args:
            batch_size: Case events per transaction (default ``notices.BATCH_SIZE``).
            max_batches: Stop after this many batches (None: until every event is noticed).

        Returns:
            What happened (``NoticeReport``): ``noticed``, ``batches``, ``failed``.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> crm.outbox.queue_notices().noticed
            1
            >>> crm.outbox.queue_notices().noticed  # exactly once
            0
        """
        from .notices import BATCH_SIZE, produce
        return produce(self.crm, batch_size=batch_size or BATCH_SIZE, max_batches=max_batches)

    def customer_channels(self) -> list[str]:
        """Channels that reach a customer: those with a consent channel (a host system's
        webhook has none). What ``send`` offers a person. Raises nothing.

        Returns:
            Their names, sorted.

        Examples:
            >>> "phone" in crm.outbox.customer_channels()
            True
        """
        return sorted(name for name, ch in self.crm.channels.items() if ch.consent_channel)

    def get(self, message_id: int, *, by: int, customer_id: int | None = None) -> OutboxMessage:
        """A message, if the actor keeps the customer it went to (the system: any).

        Args:
            message_id: The message.
            by: The acting actor's id.
            customer_id: The customer it must have gone to (an HTTP path names both).

        Returns:
            The message, with its status, attempts and reason.

        Raises:
            NotFound: No such message, one to another customer than ``customer_id``, or one to
                no customer for an actor that is not the system; or ``by`` is no actor.
            NotPermitted: The actor does not keep the customer's file, or ``by`` is deactivated.

        Examples:
            >>> _ = crm.customers.update(anna, phone="0171 2345678", by=lea)
            >>> message = crm.outbox.send("phone", "service", "Ready.", customer_id=anna, by=lea)
            >>> crm.outbox.get(message.id, customer_id=anna, by=lea).body
            'Ready.'
        """
        with self.read(by) as uow:
            # the path's customer first, then the message among hers: another dealer's message
            # reads as one never sent, naming neither its customer nor that it exists
            if customer_id is not None:
                owned_customer(uow, customer_id, "read the messages to")
            message = uow.session.get(OutboxMessage, message_id)
            if message is not None and customer_id is None:
                if message.customer_id is not None:
                    try:
                        owned_customer(uow, message.customer_id, "read the messages to")
                    except NotFound:
                        message = None
                elif not uow.principal.is_system:
                    message = None
            if message is None or customer_id not in (None, message.customer_id):
                raise NotFound("outbox message", message_id)
            return message

    def of_customer(self, customer_id: int, *, by: int, limit: int = 50, offset: int = 0) -> list[OutboxMessage]:
        """Every message queued for the customer, by whom or whatever rule, newest first:
        sent, pending and suppressed alike (what was not sent, and why, is part of the file).

        Args:
            customer_id: The customer.
            by: The acting actor's id: a person of the owning dealer, or the system.
            limit: At most this many.
            offset: Skip this many first (paging).

        Returns:
            The messages.

        Raises:
            NotFound: No such customer or one the actor may not see; or ``by`` is no actor.
            NotPermitted: The actor does not keep the file, or ``by`` is deactivated.

        Examples:
            >>> _ = crm.outbox.send("phone", "marketing", "Ski racks -20%", customer_id=anna, by=lea)
            >>> [(m.body, m.status) for m in crm.outbox.of_customer(anna, by=lea)]
            [('Ski racks -20%', 'suppressed')]
        """
        with self.read(by) as uow:
            owned_customer(uow, customer_id, "read the messages to")
            return list(uow.session.scalars(
                select(OutboxMessage).where(OutboxMessage.customer_id == customer_id)
                .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit).offset(offset)))
