"""May we contact this person, on this channel, for this purpose, now?

One decision used when a message is queued *and* again when it is sent, so a
revocation between the two stops it. Marketing-type contacts also spend the person's
contact budget (across all channels, human tasks made by rules included); service
messages about their own case do not. Where a channel finds the address — a field of the
customer file, a contact person, its own resolver — is ``addressing``'s answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs
from sqlalchemy import bindparam, func, select

from ..db.batches import padded
from ..db.models import Consent, Customer
from ..db.outbox_models import ContactLedger
from .addressing import AddressFailed, usable_address


@attrs.frozen
class Decision:
    allowed: bool
    reason: str
    recipient: str | None = None


def _latest_answer(channel):
    """The latest consent answer for ``channel`` (a bind parameter, or a fixed name) at ``:at``."""
    return (select(Consent.granted)
            .where(Consent.customer_id == bindparam("c"), Consent.channel == channel,
                   Consent.purpose == bindparam("p"), Consent.at <= bindparam("at"))
            .order_by(Consent.at.desc(), Consent.id.desc()).limit(1))


# Built once: these run for every notice (SQLAlchemy caches their compiled form).
_CONTACTS = (select(func.count()).select_from(ContactLedger)
             .where(ContactLedger.customer_id == bindparam("c"), ContactLedger.purpose == bindparam("p"),
                    ContactLedger.at > bindparam("since"), ContactLedger.at <= bindparam("at")))
_PERSON = (Customer.email, Customer.phone, Customer.erased_at, Customer.merged_into_id)
#: per tuple of consent channels and further address columns: the person and the latest
#: answer on each channel, in one query
_PERSON_AND_ANSWERS: dict[tuple[tuple[str, ...], tuple[str, ...]], Any] = {}


def _address_columns(addresses) -> tuple:
    """The customer columns the channels address by, beyond those ``_PERSON`` reads."""
    names = sorted({name for address in addresses for name in address.columns} - {c.key for c in _PERSON})
    return tuple(Customer.__table__.c[name] for name in names)


def contacts_in_window(conn, customer_id: int, purpose: str, at: datetime, days: int) -> int:
    return conn.execute(_CONTACTS, {"c": customer_id, "p": purpose, "since": at - timedelta(days=days),
                                    "at": at}).scalar()


def decide(crm, conn, customer_id: int, channel, purpose: str, at: datetime, *, count_budget: bool = True) -> Decision:
    return decide_each(crm, conn, customer_id, [channel], purpose, at, count_budget=count_budget)[0]


def decide_each(crm, conn, customer_id: int, channels: list, purpose: str, at: datetime, *,
                count_budget: bool = True) -> list[Decision]:
    """``decide`` for several channels of one customer (a notification picking the first
    allowed one): one query for the person and the latest answer on every channel."""
    names = tuple(sorted({ch.consent_channel for ch in channels if ch.consent_channel}))
    addresses = [usable_address(crm, ch) for ch in channels]
    columns = _address_columns(addresses)
    query = _PERSON_AND_ANSWERS.get((names, tuple(c.key for c in columns)))
    if query is None:
        answers = [_latest_answer(name).scalar_subquery().label(f"consent_{i}") for i, name in enumerate(names)]
        query = _PERSON_AND_ANSWERS[(names, tuple(c.key for c in columns))] = (
            select(*_PERSON, *columns, *answers).where(Customer.id == bindparam("c")))
    row = conn.execute(query, {"c": customer_id, "p": purpose, "at": at}).mappings().first()
    states = {name: row[f"consent_{i}"] for i, name in enumerate(names)} if row is not None else {}
    return [Decision(False, f"channel {ch.name!r} does not carry {purpose} messages") if purpose not in ch.purposes
            else _judge(crm, conn, customer_id, row, ch, address, purpose, states.get(ch.consent_channel), at,
                        count_budget)
            for ch, address in zip(channels, addresses)]


def decide_many(crm, conn, wanted: list[tuple[int, Any, str]], at: datetime, *,
                count_budget: bool = False) -> list[Decision]:
    """``decide`` for a batch of (customer id, channel, purpose): two queries for the whole
    batch instead of two per message (the dispatcher's claim, a batch of notices)."""
    ids = padded(sorted({customer_id for customer_id, _, _ in wanted}) or [0])  # a few IN-list lengths
    addresses = {id(channel): usable_address(crm, channel) for _, channel, _ in wanted}
    people = {row.id: row._asdict() for row in conn.execute(
        select(Customer.id, *_PERSON, *_address_columns(addresses.values())).where(Customer.id.in_(ids)))}
    states: dict[tuple[int, str, str], bool] = {}
    for row in conn.execute(select(Consent.customer_id, Consent.channel, Consent.purpose, Consent.granted)
                            .where(Consent.customer_id.in_(ids), Consent.at <= at)
                            .order_by(Consent.at, Consent.id)):
        states[(row.customer_id, row.channel, row.purpose)] = row.granted  # the latest wins
    return [Decision(False, f"channel {channel.name!r} does not carry {purpose} messages")
            if purpose not in channel.purposes else
            _judge(crm, conn, customer_id, people.get(customer_id), channel, addresses[id(channel)], purpose,
                   states.get((customer_id, channel.consent_channel, purpose)), at, count_budget)
            for customer_id, channel, purpose in wanted]


def _judge(crm, conn, customer_id, customer, channel, address, purpose, state, at, count_budget) -> Decision:
    settings = crm.settings.contact
    if customer is None:
        return Decision(False, f"customer {customer_id} not found")
    if customer["erased_at"] is not None or customer["merged_into_id"] is not None:
        return Decision(False, f"customer {customer_id} was {'erased' if customer['erased_at'] else 'merged'}")
    try:
        recipient = address.read(customer, conn, customer_id)
    except AddressFailed as exc:
        return Decision(False, str(exc))
    if address.label and not recipient:
        return Decision(False, f"no {address.label} on file for customer {customer_id}")
    if channel.consent_channel:
        basis = settings.legal_basis.get(purpose, "consent")
        if purpose in channel.consent_required_for:
            basis = "consent"
        if basis == "consent" and state is not True:
            return Decision(False, f"no {purpose} consent for {channel.consent_channel}"
                                   f"{' (revoked)' if state is False else ''}")
        if basis == "contract" and state is False:
            return Decision(False, f"{purpose} messages on {channel.consent_channel} were revoked")
    if purpose == "marketing" and count_budget:
        used = contacts_in_window(conn, customer_id, purpose, at, settings.window_days)
        if used >= settings.budget:
            return Decision(False, f"contact budget spent: {used} of {settings.budget} marketing contacts "
                                   f"in {settings.window_days} days")
    return Decision(True, "allowed", recipient)
