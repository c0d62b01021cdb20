"""Receiving: every inbound message is stored first, then understood.

The raw message is committed before anything else happens, so a parser bug or a
malformed payload loses nothing (it stays with its parse error). A known sender's
message becomes an interaction on their timeline; one that names an open case of
theirs ("case 17", "Fall 17") attaches to it and may fire a configured trigger (the
customer's "still broken" reply reopens the case at the dealer). An unknown sender's
message waits for a person in triage, as a task.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select, update

from .. import validation
from ..access import require_system
from ..db.case_models import Case
from ..db.models import Customer
from ..db.outbox_models import InboundMessage
from ..errors import DealerCrmError
from ..events import MessageReceived
from .base import Service
from .interactions import record_interaction
from .tasks import create_task

CASE_REFERENCE = re.compile(r"\b(?:case|fall|vorgang)\s*(?:no\.?|nr\.?)?\s*#?\s*(\d+)\b", re.IGNORECASE)
DEFAULT_TRIGGERS = (
    {"contains": "still broken", "trigger": "still_broken"},
    {"contains": "immer noch kaputt", "trigger": "still_broken"},
    {"contains": "geht immer noch nicht", "trigger": "still_broken"},
)
IN = InboundMessage.__table__


class InboundService(Service):
    def receive(self, channel: str, raw: str | bytes, headers: Mapping[str, str] | None = None) -> InboundMessage:
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        with self.crm.uow(self.crm.system, "inbound.store") as uow:  # durable before interpretation
            stored = InboundMessage(channel=channel, raw=text, received_at=uow.now)
            uow.session.add(stored)
            uow.commit()
        parser = getattr(self.crm.channels.get(channel), "parse_inbound", None)
        if parser is None:
            return self._mark(stored.id, status="malformed", parse_error=f"no channel {channel!r} that parses inbound")
        try:
            parsed = parser(raw, dict(headers or {}))
        except Exception as exc:  # malformed payloads are kept with the reason
            return self._mark(stored.id, status="malformed", parse_error=f"{type(exc).__name__}: {exc}")
        return self._interpret(stored.id, channel, parsed)

    def _mark(self, inbound_id: int, **values: Any) -> InboundMessage:
        with self.crm.uow(self.crm.system, "inbound.mark") as uow:
            uow.connection.execute(update(IN).where(IN.c.id == inbound_id).values(**values))
            uow.commit()
        return self.get(inbound_id, by=self.crm.system)

    def _interpret(self, inbound_id: int, channel: str, parsed) -> InboundMessage:
        with self.crm.uow(self.crm.system, "inbound.receive") as uow:
            customer_id = self._sender(uow, parsed.sender)
            case_id = self._case(uow, customer_id, parsed)
            values: dict[str, Any] = dict(sender=parsed.sender, subject=parsed.subject, customer_id=customer_id,
                                          case_id=case_id)
            if customer_id is None:
                home = self.crm.parties.home_dealer(uow)
                create_task(uow, f"triage: message from unknown sender {parsed.sender or '(none)'}", uow.now,
                            assigned_party_id=home, origin="rule", origin_ref=f"inbound:{inbound_id}",
                            note=(parsed.subject or "") + "\n" + parsed.text[:1000])
                values["status"] = "triage"
            else:
                summary = f"{parsed.subject + ': ' if parsed.subject else ''}{parsed.text.strip()[:300]}"
                talk = record_interaction(uow, customer_id, _timeline_channel(self.crm, channel), "inbound",
                                          summary or "(empty message)", case_id=case_id)
                values.update(status="attached", interaction_id=talk.id)
                if case_id is not None:
                    values["fired_trigger"] = self._fire(uow, case_id, parsed.text + " " + (parsed.subject or ""))
            uow.connection.execute(update(IN).where(IN.c.id == inbound_id).values(**values))
            uow.raise_event(MessageReceived, inbound_id=inbound_id, channel=channel, customer_id=customer_id,
                            case_id=case_id, status=values["status"])
            uow.commit()
        return self.get(inbound_id, by=self.crm.system)

    def _sender(self, uow, sender: str | None) -> int | None:
        if not sender:
            return None
        candidates = []
        for normalise in (validation.email, lambda v: validation.phone(v, self.crm.settings.default_region)):
            try:
                candidates.append(normalise(sender))
            except DealerCrmError:
                pass
        if not candidates:
            return None
        found = uow.connection.execute(select(Customer.id, Customer.merged_into_id).where(
            or_(Customer.email.in_(candidates), Customer.phone.in_(candidates)))).first()
        return None if found is None else (found.merged_into_id or found.id)

    def _case(self, uow, customer_id: int | None, parsed) -> int | None:
        """An open case of this customer the message names; someone else's case is not attached."""
        if customer_id is None:
            return None
        named = parsed.data.get("case_id") if parsed.data else None
        if named is None:
            match = CASE_REFERENCE.search(f"{parsed.subject or ''} {parsed.text}")
            named = match.group(1) if match else None
        if named is None or not str(named).isdigit():
            return None
        row = uow.connection.execute(select(Case.id).where(Case.id == int(named), Case.customer_id == customer_id)).first()
        return None if row is None else row.id

    def _fire(self, uow, case_id: int, text: str) -> str | None:
        rules = self.crm.settings.inbound.get("triggers", DEFAULT_TRIGGERS)
        lowered = text.lower()
        trigger = next((r["trigger"] for r in rules if r["contains"].lower() in lowered), None)
        if trigger is None:
            return None
        mark, savepoint = len(uow.events), uow.connection.begin_nested()
        try:
            self.crm.cases.fire_in(uow, case_id, trigger, note="the customer replied")
            uow.check_events()
            savepoint.commit()
            return trigger
        except DealerCrmError as exc:  # e.g. the case is not awaiting confirmation: keep the message, note why
            savepoint.rollback()
            uow.forget_events(mark)
            return f"{trigger} not fired: {exc}"

    def get(self, inbound_id: int, *, by: int) -> InboundMessage:
        """A stored inbound message: the operator's (the system's) to read."""
        with self.read(by) as uow:
            require_system(uow.principal, "read inbound messages")
            return uow.get(InboundMessage, inbound_id, "inbound message")

    def triage(self, limit: int = 100, *, by: int) -> list[InboundMessage]:
        with self.read(by) as uow:
            require_system(uow.principal, "read inbound messages")
            return list(uow.session.scalars(select(InboundMessage).where(
                InboundMessage.status.in_(("triage", "malformed"))).order_by(InboundMessage.id).limit(limit)))


def _timeline_channel(crm, channel: str) -> str:
    from .interactions import timeline_channels

    return channel if channel in timeline_channels(crm) else "webhook"
