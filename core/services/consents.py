"""Consent per channel and purpose, as an append-only history.

Nothing is ever overwritten: a grant or revocation is a new record with its time and
source, so the answer for any moment in the past can still be given and proven.

Which consent channels exist is not a list kept here: every loaded channel declares its
own (``consent_channel``: "email", a third party's "pigeon"), a channel plugin that offers
its channel only once configured declares it with ``dealercrm_register_consent_channels``
(so SMS consent can be recorded before the gateway is set up), and ``[contact]
manual_channels`` names those people use by hand without any plugin (by default "phone"
and "post": a call, a letter). Any other is refused naming the known ones. What was
recorded stays in the history even if its plugin is later blocked.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from .. import validation
from ..errors import ValidationError
from ..db.models import PURPOSES, Consent
from ..events import ConsentGranted, ConsentRevoked
from ..access import owned_customer
from .base import Service, kept_customer


class ConsentService(Service):
    def channels(self) -> tuple[str, ...]:
        """The consent channels known here, sorted: each loaded channel's ``consent_channel``,
        those plugins declare, and ``[contact] manual_channels``.

        Asked each time, so a plugin registered on the running application counts at once.

        Returns:
            The channel names, e.g. ``("email", "phone", "post", "sms", "whatsapp")``.

        Raises:
            ValidationError: A plugin declared a consent channel that is no name.
            PluginError: A plugin's ``dealercrm_register_consent_channels`` failed.

        Examples:
            >>> {"phone", "post"} <= set(crm.consents.channels())
            True
        """
        known = {ch.consent_channel for ch in self.crm.channels.values() if ch.consent_channel}
        known.update(self.crm.settings.contact.manual_channels)
        for names in self.crm.plugins.checked_call("dealercrm_register_consent_channels"):
            for name in names or ():
                if not isinstance(name, str) or not name.strip():
                    raise ValidationError("consent channel", name, "a plugin declared it: must be a name, e.g. 'sms'")
                known.add(name)
        return tuple(sorted(known))

    def known_channel(self, channel: str) -> str:
        """``channel``, if consent can be given on it (``channels()``): checked before anything is recorded.

        Args:
            channel: The consent channel's name.

        Returns:
            ``channel`` itself.

        Raises:
            ValidationError: It is no consent channel here; the message lists those that are.

        Examples:
            >>> crm.consents.known_channel("phone")
            'phone'
            >>> crm.consents.known_channel("pigeon")  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            dealercrm.errors.ValidationError: invalid channel 'pigeon': must be one of ...
        """
        known = self.channels()
        if channel not in known:
            raise ValidationError("channel", channel, f"must be one of {', '.join(known) or 'none'}: the consent "
                                  "channels of the loaded channel plugins, and [contact] manual_channels")
        return channel

    def grant(self, customer_id: int, channel: str, purpose: str, *, source: str, by: int,
              at: datetime | None = None) -> Consent:
        """Record that the customer consents to ``purpose`` on ``channel``, and how (``source``).

        Consent is append-only: the latest answer per channel and purpose counts, the history
        stays, so what was allowed at any past moment can be proven. The owning dealer's.
        Raises ``ConsentGranted``.

        Args:
            customer_id: The customer (a live one, not merged away).
            channel: A consent channel (``channels()``), e.g. ``"email"``, ``"phone"``.
            purpose: ``"service"`` or ``"marketing"``.
            source: How it was given, e.g. ``"signed form 2024-05-02"`` (required: the proof).
            by: The acting actor's id: a person of the owning dealer, or the system.
            at: When it was given (an aware datetime), to back-date a consent given on paper;
                default now.

        Returns:
            The stored consent record.

        Raises:
            NotFound: No such customer or one the actor may not see; or ``by`` is no actor.
            NotPermitted: The actor does not keep the file, or ``by`` is deactivated.
            ValidationError: An unknown channel or purpose, no source, a naive ``at``, a merged customer.
            Vetoed: A plugin refused the change.

        Examples:
            >>> consent = crm.consents.grant(anna, "phone", "marketing", source="signed form", by=lea)
            >>> (consent.granted, consent.source)
            (True, 'signed form')
        """
        return self._append(customer_id, channel, purpose, True, source, at, by)

    def revoke(self, customer_id: int, channel: str, purpose: str, *, source: str, by: int,
               at: datetime | None = None) -> Consent:
        """Record that the customer withdrew consent to ``purpose`` on ``channel``.

        Append-only like ``grant``: the withdrawal is a new record, the consent before it
        stays on the history. The owning dealer's. Raises ``ConsentRevoked``.

        Args:
            customer_id: The customer (a live one, not merged away).
            channel: A consent channel (``channels()``).
            purpose: ``"service"`` or ``"marketing"``.
            source: How it was withdrawn, e.g. ``"phone call"`` (required).
            by: The acting actor's id: a person of the owning dealer, or the system.
            at: When it was withdrawn (an aware datetime); default now.

        Returns:
            The stored record (``granted`` False).

        Raises:
            NotFound: No such customer or one the actor may not see; or ``by`` is no actor.
            NotPermitted: The actor does not keep the file, or ``by`` is deactivated.
            ValidationError: An unknown channel or purpose, no source, a naive ``at``, a merged customer.
            Vetoed: A plugin refused the change.

        Examples:
            >>> _ = crm.consents.grant(anna, "phone", "marketing", source="signed form", by=lea)
            >>> crm.consents.revoke(anna, "phone", "marketing", source="phone call", by=lea).granted
            False
        """
        return self._append(customer_id, channel, purpose, False, source, at, by)

    def _append(self, customer_id, channel, purpose, granted, source, at, by) -> Consent:
        self.known_channel(channel)
        validation.choice("purpose", purpose, PURPOSES)
        source = validation.required("consent source", source)
        at = validation.aware("at", at) if at is not None else None
        with self.uow(by, "consents.grant" if granted else "consents.revoke") as uow:
            kept_customer(uow, customer_id, "record consent for")
            record = Consent(customer_id=customer_id, channel=channel, purpose=purpose, granted=granted,
                             at=at or uow.now, source=source, actor_id=uow.actor_id)
            uow.session.add(record)
            uow.raise_event(ConsentGranted if granted else ConsentRevoked,
                            customer_id=customer_id, channel=channel, purpose=purpose)
            uow.commit()
            return record

    def may_contact(self, customer_id: int, channel: str, purpose: str, at: datetime | None = None, *,
                    by: int) -> bool:
        """May we contact this customer on ``channel`` for ``purpose`` at time ``at``?

        The latest answer recorded up to ``at`` counts; with none, the answer is no. The
        owning dealer's to ask: the consents are part of the file.

        Args:
            customer_id: The customer.
            channel: A consent channel (``channels()``).
            purpose: ``"service"`` or ``"marketing"``.
            at: The moment asked about (an aware datetime); default now.
            by: The acting actor's id: a person of the owning dealer, or the system.

        Returns:
            True if consent was given and not withdrawn by then.

        Raises:
            NotFound: No such customer or one the actor may not see; or ``by`` is no actor.
            NotPermitted: The actor does not keep the file, or ``by`` is deactivated.
            ValidationError: An unknown channel or purpose, a naive ``at``.

        Examples:
            >>> crm.consents.may_contact(anna, "phone", "marketing", by=lea)
            False
            >>> _ = crm.consents.grant(anna, "phone", "marketing", source="signed form", by=lea)
            >>> crm.consents.may_contact(anna, "phone", "marketing", by=lea)
            True
        """
        self.known_channel(channel)
        validation.choice("purpose", purpose, PURPOSES)
        when = validation.aware("at", at) if at is not None else self.crm.clock.now()
        with self.read(by) as uow:
            owned_customer(uow, customer_id, "read the consents of")
            latest = uow.session.scalar(
                select(Consent.granted)
                .where(Consent.customer_id == customer_id, Consent.channel == channel,
                       Consent.purpose == purpose, Consent.at <= when)
                .order_by(Consent.at.desc(), Consent.id.desc()).limit(1))
            return bool(latest)

    def history(self, customer_id: int, *, by: int) -> list[Consent]:
        """The customer's whole consent history (append-only), oldest first: the proof.

        Args:
            customer_id: The customer.
            by: The acting actor's id: a person of the owning dealer, or the system.

        Returns:
            Every grant and withdrawal, with its time, source and actor.

        Raises:
            NotFound: No such customer or one the actor may not see; or ``by`` is no actor.
            NotPermitted: The actor does not keep the file, or ``by`` is deactivated.

        Examples:
            >>> _ = crm.consents.grant(anna, "phone", "marketing", source="signed form", by=lea)
            >>> _ = crm.consents.revoke(anna, "phone", "marketing", source="phone call", by=lea)
            >>> [(c.granted, c.source) for c in crm.consents.history(anna, by=lea)]
            [(True, 'signed form'), (False, 'phone call')]
        """
        with self.read(by) as uow:
            owned_customer(uow, customer_id, "read the consents of")
            return list(uow.session.scalars(
                select(Consent).where(Consent.customer_id == customer_id).order_by(Consent.at, Consent.id)))
