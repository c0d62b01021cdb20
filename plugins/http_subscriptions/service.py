"""Event subscriptions: a party asks to be told of events by a signed POST to its URL.

The registration (``SubscriptionService``: create, list, get, delete). Delivery is the
plugin's own (``dealercrm.plugins.http_subscriptions``): inside each event's transaction it
queues one outbox message per matching subscription on its ``subscription`` channel, so a delivery
exists exactly when its event was committed and is sent with the outbox's guarantees
(at least once, retried with backoff, a person told when it finally fails). Each is
signed with its subscription's own secret, looked up when it is sent: the secret never
enters the outbox.

A party is told only of events about cases (and customers) it may see, by the same
rules as everything else (``dealercrm.access``). The secret is made by dealercrm and
shown once, when the subscription is created. Deleting a subscription cancels the
deliveries still waiting for it.
"""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import urlsplit

from sqlalchemy import func, insert, select, update

from dealercrm.db.api_models import Subscription
from dealercrm.db.models import AuditRecord
from dealercrm.db.outbox_models import OutboxMessage
from dealercrm import egress
from dealercrm.errors import NotFound, NotPermitted, StateConflict, ValidationError
from dealercrm.services.base import Service

EVENT_KINDS = ("case_handed_over", "case_escalated", "case_closed", "message_received")
MAX_PER_PARTY = 20
PLUGIN = "http_subscriptions"  # its settings table: [plugins.http_subscriptions]
DELIVERY_CHANNEL = "subscription"  # the plugin's channel
SUB, AUDIT, OUT = Subscription.__table__, AuditRecord.__table__, OutboxMessage.__table__


def delivery_key(subscription_id: int, delivery_id: str) -> str:
    """The outbox idempotency key of one delivery: its prefix finds a subscription's deliveries."""
    return f"sub{subscription_id}-{delivery_id}"


def check_url(url: str, allow_http: bool = False) -> str:
    """An absolute http(s) URL without credentials; plain http only to this machine
    (or anywhere with ``[plugins.http_subscriptions] allow_http = true``)."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises on a port that is no number)
    except ValueError as exc:
        raise ValidationError("url", url, f"is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValidationError("url", url, "must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise ValidationError("url", url, "must not carry credentials; the delivery is signed instead")
    if len(url) > 2000 or any(ch.isspace() or ch == "\x00" for ch in url):
        raise ValidationError("url", url[:100], "is too long or contains whitespace")
    if parts.scheme == "http" and not allow_http and not _loopback(host):
        raise ValidationError("url", url, "must use https (plain http only to localhost)")
    return url


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _party(p) -> int:
    if p.party_id is None:
        raise NotPermitted(f"{p} acts for no party: subscriptions belong to a party")
    return p.party_id


class SubscriptionService(Service):
    """The subscriptions of the actor's party: ``SubscriptionService(crm).create(url, kinds, by=…)``
    (the HTTP routes ``/subscriptions`` call it with the caller as ``by``)."""

    def create(self, url: str, kinds: list[str] | tuple[str, ...], *, by: int) -> tuple[Subscription, str]:
        """Register ``url`` for ``kinds``; returns the subscription and its secret (shown once)."""
        settings = self.crm.settings.plugin(PLUGIN)
        url = check_url(url, bool(settings.get("allow_http")))
        try:
            egress.check_url(url, egress.allow_internal(settings))  # no internal targets (SSRF)
        except ValueError as exc:
            raise ValidationError("url", url, f"cannot be checked: {exc}") from None
        kinds = sorted(set(kinds or ()))
        unknown = [k for k in kinds if k not in EVENT_KINDS]
        if not kinds or unknown:
            raise ValidationError("kinds", unknown[0] if unknown else kinds,
                                  f"name one or more of {', '.join(EVENT_KINDS)}")
        if DELIVERY_CHANNEL not in self.crm.channels:
            raise ValidationError("url", url, f"cannot be delivered to: the {DELIVERY_CHANNEL!r} channel is not "
                                  "loaded (the http_subscriptions plugin is blocked or failed to load)")
        secret = f"whsec_{secrets.token_urlsafe(32)}"
        with self.uow(by, "subscriptions.create") as uow:
            party = _party(uow.principal)
            count = uow.connection.execute(select(func.count()).select_from(SUB).where(
                SUB.c.party_id == party, SUB.c.deleted_at.is_(None))).scalar_one()
            if count >= MAX_PER_PARTY:
                raise StateConflict("subscription", url, f"party {party} has {count}; at most {MAX_PER_PARTY}")
            values = dict(party_id=party, url=url, kinds=kinds, secret=secret, created_by_id=uow.actor_id,
                          created_at=uow.now)
            new_id = uow.connection.execute(insert(SUB).values(values).returning(SUB.c.id)).scalar_one()
            self._audit(uow, new_id, "insert", {k: [None, v] for k, v in values.items()
                                                if k not in ("secret", "created_at")})
            uow.commit()
        return Subscription(id=new_id, **values), secret

    def list(self, *, by: int) -> list[Subscription]:
        with self.read(by) as uow:
            return list(uow.session.scalars(select(Subscription).where(
                Subscription.party_id == _party(uow.principal), Subscription.deleted_at.is_(None)).order_by(Subscription.id)))

    def get(self, subscription_id: int, *, by: int) -> Subscription:
        with self.read(by) as uow:
            return self._of_party(uow, subscription_id)

    @staticmethod
    def _of_party(uow, subscription_id: int) -> Subscription:
        found = uow.session.scalar(select(Subscription).where(
            Subscription.id == subscription_id, Subscription.party_id == _party(uow.principal),
            Subscription.deleted_at.is_(None)))
        if found is None:
            raise NotFound("subscription", subscription_id)
        return found

    def delete(self, subscription_id: int, *, by: int) -> None:
        with self.uow(by, "subscriptions.delete") as uow:
            self._of_party(uow, subscription_id)
            uow.connection.execute(update(SUB).where(SUB.c.id == subscription_id).values(deleted_at=uow.now))
            # the party asked to hear no more: what still waits (e.g. backing off from a dead URL) is not
            # sent, nor what a dispatcher holds (one that crashed would otherwise send it when its lease ends)
            cancelled = uow.connection.execute(update(OUT).where(
                OUT.c.channel == DELIVERY_CHANNEL, OUT.c.status.in_(("pending", "sending")),
                OUT.c.idempotency_key.like(delivery_key(subscription_id, "%"))).values(
                status="cancelled", reason=f"subscription {subscription_id} was deleted")).rowcount
            self._audit(uow, subscription_id, "delete", {"deleted_at": [None, uow.now.isoformat()],
                                                         "cancelled_deliveries": cancelled})
            uow.commit()

    @staticmethod
    def _audit(uow, subscription_id: int, action: str, changes: dict) -> None:
        uow.connection.execute(insert(AUDIT).values(
            at=uow.now, actor_id=uow.actor_id, operation=uow.operation, action=action, entity="api_subscription",
            entity_id=subscription_id, changes=changes, personal_changes=None, customer_id=None))
