"""What a channel plugin provides, and what the dispatcher hands it.

A channel is any object with the attributes and ``send`` below, returned from
``dealercrm_register_channels``. ``send`` must not raise for delivery problems: it
answers with a ``DeliveryResult`` — delivered (with the provider's id), retry later
(temporary: connection refused, 4xx SMTP, HTTP 5xx/429) or failed permanently
(invalid address, HTTP 4xx). An exception is treated as "retry later" and reported
naming the plugin. The message's ``idempotency_key`` must reach the provider (as
Message-ID, idempotency header, …) so a resend after a crash can be recognised.

Receiving is optional: ``parse_inbound(raw, headers) -> ParsedInbound`` reads what a
provider posted. A channel whose provider signs its requests may also offer
``authenticate_inbound(raw, headers) -> str | None`` (why the request is not authentic,
None when it is): the HTTP endpoint ``/inbound/<channel>`` asks it before storing
anything, unless ``[inbound.<channel>]`` configures the sender's authentication itself
(``dealercrm.http.inbound_auth``). A channel with neither accepts nothing over HTTP.

A message to no customer that finally fails becomes a task for the home dealer, unless its
channel says whose business it is: ``failure_owner(connection, message) -> FailureOwner |
None`` (``message``: the outbox row as a mapping — ``id``, ``recipient``, ``data``, …). A
channel that carries parties' own deliveries (event subscriptions) names the party, so its
failures go to that party alone, one open task per ``about``, naming only that and the error.

A provider that posts notifications which are not messages (WhatsApp's delivery
statuses) gets them answered without triage: ``parse_inbound`` raises
``InboundIgnored(reason)``, and the stored request is marked ``ignored``. A channel
whose provider verifies the endpoint with a GET first (Meta's ``hub.challenge``) offers
``verify_subscription(params) -> str | None``: the text to answer, or None to refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Literal, Protocol, runtime_checkable

import attrs


@attrs.frozen
class OutgoingMessage:
    id: int
    idempotency_key: str
    channel: str
    purpose: str
    recipient: str
    subject: str | None
    body: str
    data: Mapping[str, Any]
    customer_id: int | None
    case_id: int | None
    attempt: int


@attrs.frozen
class DeliveryResult:
    status: Literal["delivered", "retry", "failed"]
    provider_id: str | None = None
    error: str | None = None
    #: for a retry: the earliest the provider wants to hear from us again (a 429's
    #: Retry-After); the dispatcher waits at least this long, or its own backoff if longer
    retry_after: timedelta | None = None

    @classmethod
    def delivered(cls, provider_id: str | None = None) -> DeliveryResult:
        return cls("delivered", provider_id=provider_id)

    @classmethod
    def retry(cls, error: str, after: timedelta | None = None) -> DeliveryResult:
        return cls("retry", error=error, retry_after=after)

    @classmethod
    def failed(cls, error: str) -> DeliveryResult:
        return cls("failed", error=error)


@attrs.frozen
class FailureOwner:
    """Who is told that messages of a channel fail, and about what (e.g. "subscription 5 to
    https://dms.example"): the task's title, and its key — while one is open, further
    failures about the same thing make no new task."""

    party_id: int
    about: str


@attrs.frozen
class ParsedInbound:
    """What a channel understood of something it received."""

    sender: str | None
    text: str
    subject: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)


class InboundIgnored(Exception):
    """Raised by ``parse_inbound`` for a notification that carries no message (a delivery
    status): stored and marked ``ignored`` with the reason, not sent to triage."""

    def __init__(self, reason: str, sender: str | None = None):
        super().__init__(reason)
        self.reason = reason
        #: whom it concerns, if anyone (kept so that erasing that person finds it)
        self.sender = sender


@runtime_checkable
class Channel(Protocol):
    #: unique name, e.g. "email"
    name: str
    #: purposes it may carry: {"service", "marketing"}
    purposes: frozenset[str]
    #: the consent channel it needs consent for: any name ("email", "sms", a carrier pigeon's
    #: "pigeon"), which ``crm.consents`` then accepts; None for channels that do not reach a
    #: customer (a host system's webhook)
    consent_channel: str | None
    #: how to address a customer (``dealercrm.services.addressing``): a field of the customer
    #: file ("email", "phone", "street", a plugin's own field), "contact.<field>" or
    #: "contact[<function>].<field>" (a contact person), a callable ``(customer_id, connection)
    #: -> str | None``, or None when no address is needed
    address_field: str | Callable[[int, Any], str | None] | None
    #: purposes that need explicit consent on this channel even where the contract would do
    consent_required_for: frozenset[str]

    def send(self, message: OutgoingMessage) -> DeliveryResult: ...


def describe(channel: Channel) -> dict[str, Any]:
    return {"name": channel.name, "purposes": sorted(channel.purposes), "consent_channel": channel.consent_channel,
            "address_field": _spec(channel.address_field), "consent_required_for": sorted(channel.consent_required_for),
            "inbound": callable(getattr(channel, "parse_inbound", None))}


def _spec(address_field: Any) -> str | None:
    """An ``address_field`` as text: a resolver by its name."""
    if callable(address_field):
        return f"{getattr(address_field, '__qualname__', type(address_field).__name__)}()"
    return address_field
