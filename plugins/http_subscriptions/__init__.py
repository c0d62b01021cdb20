"""Telling host systems of events they subscribed to, through the outbox.

Built in and registered like any plugin (block ``http_subscriptions`` to switch it
off: its routes, its channel and its deliveries go with it). It brings everything it
needs: the registration (``service.SubscriptionService``), the HTTP routes
``/subscriptions`` (``routes``, through ``dealercrm_register_routes``) and the delivering
channel below; the core keeps only the table (``dealercrm.db.api_models.Subscription``).
For every case hand-off, escalation and closing — queued after its commit, from the
committed history, exactly once (``dealercrm_queue_notices``) — and inside the
transaction of every received message, each live subscription that asked for that kind
— and whose party may see the case or customer (``dealercrm.access``) — gets one outbox
message on this plugin's ``subscription`` channel: no customer, the subscription's URL
as recipient and its id in ``data``. The message exists exactly once per committed event
and is delivered with the outbox's guarantees (at least once, backoff, a person told of a
final failure).

The channel signs each request with the subscription's *own* secret, read from the
subscription when the message is sent — never copied into the outbox — and sends it to
the subscription's registered URL only. So each party verifies what it gets with its own
secret, and no other party's secret (nor the webhook channel's) can forge it. Settings::

    [plugins.http_subscriptions]
    timeout = 10        # seconds per request
    allow_http = false  # plain http:// URLs beyond localhost (see service.check_url)
    allow_internal_targets = false  # loopback, private, link-local … targets, for local development
                                    # only (dealercrm.egress: refused at registration and at every send)

What arrives is the webhook channel's request (``channel_webhook.post_signed``): a JSON
object with ``id, idempotency_key, channel, purpose, subject, body, data, customer_id,
case_id, attempt``, the headers ``X-Dealercrm-Timestamp``, ``X-Dealercrm-Signature``
(HMAC-SHA256 of ``f"{timestamp}.{raw body}"``) and ``Idempotency-Key``. Its ``body``
field is the event as a JSON text — ids, states and times only, no personal data (fetch
the rest through the API, where the party's access rules apply)::

    {"id": "evt_…", "kind": "case_handed_over", "at": "2026-03-02T09:00:00+00:00",
     "case_id": 17, "customer_id": 4, "state": "manufacturer_review", "to_party_id": 3, …}

and ``data`` is ``{"subscription_id": 5, "kind": "…"}``. Receiving it::

    from dealercrm.plugins.channel_webhook import verify_signature

    if not verify_signature(MY_SUBSCRIPTION_SECRET, request.body, request.headers["X-Dealercrm-Timestamp"],
                            request.headers["X-Dealercrm-Signature"]):
        return 401
    event = json.loads(json.loads(request.body)["body"])   # deduplicate on event["id"]

Deleting a subscription cancels its deliveries still waiting or held by a dispatcher;
none is sent after the deletion (one whose request was already on the wire may arrive).
"""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from sqlalchemy import bindparam, exists, select

from dealercrm import CaseClosed, CaseEscalated, CaseHandedOver, MessageReceived, egress, hookimpl
from dealercrm.access import Principal, case_scope
from dealercrm.audit import jsonable
from dealercrm.channels import DeliveryResult, FailureOwner, OutgoingMessage
from dealercrm.db.api_models import Subscription
from dealercrm.db.case_models import Case, CaseEvent
from dealercrm.db.models import Customer, Party
from dealercrm.plugins.channel_webhook import post_signed
from dealercrm.plugins.http_gateway import Gateway, HttpChannel, number, origin

from .service import DELIVERY_CHANNEL, EVENT_KINDS, PLUGIN, SubscriptionService, check_url, delivery_key

log = logging.getLogger("dealercrm.plugins.http_subscriptions")
KINDS = {cls.name: cls for cls in (CaseHandedOver, CaseEscalated, CaseClosed, MessageReceived)}


def payload(event, delivery_id: str) -> dict[str, Any]:
    fields = {k: jsonable(v) for k, v in attrs.asdict(event, recurse=False).items()}
    return {"id": delivery_id, "kind": event.name, **fields}


def may_see(conn, party_id: int, kind: str, event, home_dealer) -> bool:
    """Whether the subscriber's party may see what ``event`` is about — a case event as of
    that event: a manufacturer or technician hears of it once the case had come to it."""
    viewer = Principal(0, "subscription", party_id, kind, "subscriber")
    case_id = getattr(event, "case_id", None)
    if case_id is not None:
        query = select(Case.id).where(Case.id == case_id, case_scope(viewer))
        version = getattr(event, "version", None)
        if kind in ("manufacturer", "technician") and version is not None:  # queued after commit: maybe later
            query = query.where(exists().where(CaseEvent.case_id == case_id, CaseEvent.owner_party_id == party_id,
                                               CaseEvent.version <= version))
        return conn.execute(query).first() is not None
    customer_id = getattr(event, "customer_id", None)
    if customer_id is not None:
        owner = conn.execute(select(Customer.owner_party_id).where(Customer.id == customer_id)).scalar()
        return kind == "dealer" and owner == party_id
    return kind == "dealer" and party_id == home_dealer()  # an unknown sender: triage is the home dealer's


# built once: this runs for every batch of notices and every received message (no secrets:
# they are read when sending)
_ACTIVE_SUBSCRIPTIONS = (
    select(Subscription.id, Subscription.party_id, Subscription.url, Subscription.kinds, Party.kind)
    .join(Party, Party.id == Subscription.party_id).where(Subscription.deleted_at.is_(None)).order_by(Subscription.id))
_SENDING_TO = select(Subscription.url, Subscription.secret, Subscription.deleted_at).where(
    Subscription.id == bindparam("subscription_id"))


@attrs.frozen
class SubscriptionSettings:
    """``[plugins.http_subscriptions]`` (see the module docstring)."""

    timeout: float = 10
    allow_http: bool = False
    allow_internal_targets: bool = False


class SubscriptionChannel(HttpChannel):
    """Sends a delivery to its subscription's URL, signed with that subscription's own secret."""

    name = DELIVERY_CHANNEL
    purposes = frozenset({"service"})

    def __init__(self, crm, settings: Mapping[str, Any], wall_clock: Callable[[], float] = time.time):
        self.crm, self.wall_clock = crm, wall_clock
        self.gateway = Gateway(self.name)  # the secrets never travel, only their signatures
        try:
            self.gateway.timeout = number(settings, "timeout", 10, PLUGIN)
            # a party chose the URL: connect only to the public address its name was checked to have
            self.gateway.transport = functools.partial(egress.pinned_transport, egress.allow_internal(settings))
        except ValueError as exc:
            self.problem = f"misconfigured: {exc}"

    def deliver(self, message: OutgoingMessage) -> DeliveryResult:
        subscription_id = (message.data or {}).get("subscription_id")
        found = None
        if isinstance(subscription_id, int) and not isinstance(subscription_id, bool):
            with self.crm.read(self.crm.system) as uow:
                found = uow.connection.execute(_SENDING_TO, {"subscription_id": subscription_id}).first()
        if found is None:
            return DeliveryResult.failed(f"{self.name}: message {message.id} names no subscription "
                                         f"({subscription_id!r}): nobody to sign it for")
        if found.deleted_at is not None:  # deleted while this delivery was in hand: the party hears no more
            return DeliveryResult.failed(f"{self.name}: subscription {subscription_id} was deleted at "
                                         f"{found.deleted_at.isoformat()}; not sent")
        return post_signed(self.gateway, found.url, message, found.secret, int(self.wall_clock()))

    def failure_owner(self, conn, message) -> FailureOwner | None:
        """A delivery that finally failed is its subscriber's business, not the home dealer's."""
        subscription_id = (message.get("data") or {}).get("subscription_id")
        if not isinstance(subscription_id, int) or isinstance(subscription_id, bool):
            return None
        found = conn.execute(select(Subscription.party_id, Subscription.url).where(
            Subscription.id == subscription_id)).first()
        return FailureOwner(found.party_id, f"subscription {subscription_id} to {origin(found.url)}") if found else None


@hookimpl(trylast=True)
def dealercrm_register_channels(crm):
    channel = SubscriptionChannel(crm, crm.settings.plugin(PLUGIN))
    if channel.problem:
        log.warning("%s: %s", channel.name, channel.problem)
    return [channel]


@hookimpl(trylast=True)
def dealercrm_register_routes():
    from .routes import TAG, router  # FastAPI is imported only where the HTTP API is built

    return [router, TAG]


@hookimpl(trylast=True)
def dealercrm_check_event(event, uow):
    if type(event) is MessageReceived:  # case events are told after their commit (below)
        dealercrm_queue_notices([event], uow)


@hookimpl(trylast=True)
def dealercrm_queue_notices(events, uow):
    events = [event for event in events if type(event) in KINDS.values()]
    if not events:
        return
    conn = uow.connection
    active = conn.execute(_ACTIVE_SUBSCRIPTIONS).mappings().all()
    crm = uow.crm
    home: list[int] = []

    def home_dealer() -> int:
        if not home:
            home.append(crm.parties.home_dealer(uow))
        return home[0]

    for event in events:
        wanted = [row for row in active if event.name in (row["kinds"] or ())]
        if not wanted:
            continue
        if DELIVERY_CHANNEL not in crm.channels:
            log.error("%d subscription(s) to %s not told: the %r channel failed to load", len(wanted), event.name,
                      DELIVERY_CHANNEL)
            continue
        for row in wanted:
            if not may_see(conn, row["party_id"], row["kind"], event, home_dealer):
                continue
            delivery = f"evt_{uuid.uuid4().hex}"
            body = json.dumps(payload(event, delivery), ensure_ascii=False, separators=(",", ":"))
            crm.outbox.enqueue(uow, channel=DELIVERY_CHANNEL, purpose="service", customer_id=None,
                               recipient=row["url"], subject=f"dealercrm {event.name}", body=body, origin=PLUGIN,
                               case_id=getattr(event, "case_id", None), key=delivery_key(row["id"], delivery),
                               data={"subscription_id": row["id"], "kind": event.name})


__all__ = ["DELIVERY_CHANNEL", "EVENT_KINDS", "SubscriptionChannel", "SubscriptionService", "check_url",
           "delivery_key", "may_see", "payload"]


@hookimpl(trylast=True)
def dealercrm_register_settings():
    return {PLUGIN: SubscriptionSettings}
