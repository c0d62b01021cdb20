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
        those plugins declare, and ``[contact] manual_channels``."""
        known = {ch.consent_channel for ch in self.crm.channels.values() if ch.consent_channel}
        known.update(self.crm.settings.contact.manual_channels)
        for names in self.crm.plugins.checked_call("dealercrm_register_consent_channels"):
            for name in names or ():
                if not isinstance(name, str) or not name.strip():
                    raise ValidationError("consent channel", name, "a plugin declared it: must be a name, e.g. 'sms'")
                known.add(name)
        return tuple(sorted(known))

    def known_channel(self, channel: str) -> str:
        """``channel`` if consent can be given on it (``channels()``), else ``ValidationError`` listing those that can."""
        known = self.channels()
        if channel not in known:
            raise ValidationError("channel", channel, f"must be one of {', '.join(known) or 'none'}: the consent "
                                  "channels of the loaded channel plugins, and [contact] manual_channels")
        return channel

    def grant(self, customer_id: int, channel: str, purpose: str, *, source: str, by: int,
              at: datetime | None = None) -> Consent:
        """Record that the customer consents to ``purpose`` on ``channel``, and how (``source``).

        Consent is append-only: the latest answer per channel and purpose counts, the history
        stays. ``at`` back-dates a consent given earlier (on paper); the owning dealer's.
        """
        return self._append(customer_id, channel, purpose, True, source, at, by)

    def revoke(self, customer_id: int, channel: str, purpose: str, *, source: str, by: int,
               at: datetime | None = None) -> Consent:
        """Record that the customer withdrew consent to ``purpose`` on ``channel`` (append-only, like ``grant``)."""
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
        """May we contact this customer on ``channel`` for ``purpose`` at time ``at`` (default: now)?"""
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
        """The whole consent history (append-only), oldest first."""
        with self.read(by) as uow:
            owned_customer(uow, customer_id, "read the consents of")
            return list(uow.session.scalars(
                select(Consent).where(Consent.customer_id == customer_id).order_by(Consent.at, Consent.id)))
