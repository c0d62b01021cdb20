"""Consent per channel and purpose, as an append-only history.

Nothing is ever overwritten: a grant or revocation is a new record with its time and
source, so the answer for any moment in the past can still be given and proven.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from .. import validation
from ..db.models import CHANNELS, PURPOSES, Consent, Customer
from ..events import ConsentGranted, ConsentRevoked
from ..access import owned_customer
from .base import Service, kept_customer


class ConsentService(Service):
    def grant(self, customer_id: int, channel: str, purpose: str, *, source: str, by: int,
              at: datetime | None = None) -> Consent:
        return self._append(customer_id, channel, purpose, True, source, at, by)

    def revoke(self, customer_id: int, channel: str, purpose: str, *, source: str, by: int,
               at: datetime | None = None) -> Consent:
        return self._append(customer_id, channel, purpose, False, source, at, by)

    def _append(self, customer_id, channel, purpose, granted, source, at, by) -> Consent:
        validation.choice("channel", channel, CHANNELS)
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
        validation.choice("channel", channel, CHANNELS)
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
