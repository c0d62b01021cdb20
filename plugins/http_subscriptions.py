"""Telling host systems of events they subscribed to, through the outbox.

Built in and registered like any plugin (block ``http_subscriptions`` to switch it
off). Inside the transaction of every case hand-off, escalation, closing and received
message, each live subscription that asked for that kind — and whose party may see the
case or customer (``dealercrm.access``) — gets one outbox message on the ``webhook``
channel: no customer, the subscription's URL as recipient. The message exists exactly
when its event was committed and is delivered with the outbox's guarantees.

What arrives: the webhook channel's signed POST (see ``channel_webhook``). Its ``body``
field is the event as a JSON text — ids, states and times only, no personal data (fetch
the rest through the API, where the party's access rules apply)::

    {"id": "evt_…", "kind": "case_handed_over", "at": "2026-03-02T09:00:00+00:00",
     "case_id": 17, "customer_id": 4, "state": "manufacturer_review", "to_party_id": 3, …}

and its ``data`` field carries ``{"subscription_id": 5, "kind": "…", "signature":
"sha256=<hex>"}``, the HMAC-SHA256 of the ``body`` text with the subscription's own
secret, so each party can check that an event is meant for it::

    from dealercrm.plugins.http_subscriptions import verify_event

    outer = json.loads(request.body)                    # after the channel's own signature check
    if not verify_event(MY_SECRET, outer["body"], outer["data"]["signature"]): return 401
    event = json.loads(outer["body"])                   # deduplicate on event["id"]

A subscription whose party can no longer be told (the webhook channel was unconfigured
after it was created) is skipped with an error in the log; the business operation is
never refused for it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from typing import Any

import attrs
from sqlalchemy import select

from dealercrm import CaseClosed, CaseEscalated, CaseHandedOver, MessageReceived, hookimpl
from dealercrm.access import Principal, case_scope
from dealercrm.audit import jsonable
from dealercrm.db.api_models import Subscription
from dealercrm.db.case_models import Case
from dealercrm.db.models import Customer, Party

log = logging.getLogger("dealercrm.plugins.http_subscriptions")
KINDS = {cls.name: cls for cls in (CaseHandedOver, CaseEscalated, CaseClosed, MessageReceived)}


def sign_event(secret: str, body: str) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body.encode("utf-8"), hashlib.sha256).hexdigest()


def verify_event(secret: str, body: str, signature: str) -> bool:
    """True when ``signature`` is the subscription secret's HMAC of the ``body`` text."""
    return hmac.compare_digest(sign_event(secret, body).encode(), (signature or "").strip().encode())


def payload(event, delivery_id: str) -> dict[str, Any]:
    fields = {k: jsonable(v) for k, v in attrs.asdict(event, recurse=False).items()}
    return {"id": delivery_id, "kind": event.name, **fields}


def may_see(conn, party_id: int, kind: str, event, home_dealer) -> bool:
    """Whether the subscriber's party may see what ``event`` is about."""
    viewer = Principal(0, "subscription", party_id, kind, "subscriber")
    case_id = getattr(event, "case_id", None)
    if case_id is not None:
        return conn.execute(select(Case.id).where(Case.id == case_id, case_scope(viewer))).first() is not None
    customer_id = getattr(event, "customer_id", None)
    if customer_id is not None:
        owner = conn.execute(select(Customer.owner_party_id).where(Customer.id == customer_id)).scalar()
        return kind == "dealer" and owner == party_id
    return kind == "dealer" and party_id == home_dealer()  # an unknown sender: triage is the home dealer's


# built once: this runs for every case event, inside its transaction
_ACTIVE_SUBSCRIPTIONS = (select(Subscription.id, Subscription.party_id, Subscription.url, Subscription.kinds,
                                Subscription.secret, Party.kind).join(Party, Party.id == Subscription.party_id)
                         .where(Subscription.deleted_at.is_(None)).order_by(Subscription.id))


@hookimpl(trylast=True)
def dealercrm_check_event(event, uow):
    if type(event) not in KINDS.values():
        return
    conn = uow.connection
    rows = conn.execute(_ACTIVE_SUBSCRIPTIONS).all()
    wanted = [row for row in rows if event.name in (row.kinds or ())]
    if not wanted:
        return
    crm = uow.crm
    if "webhook" not in crm.channels:
        log.error("%d subscription(s) to %s not told: the webhook channel is not configured", len(wanted), event.name)
        return
    home: list[int] = []

    def home_dealer() -> int:
        if not home:
            home.append(crm.parties.home_dealer(uow))
        return home[0]

    for row in wanted:
        if not may_see(conn, row.party_id, row.kind, event, home_dealer):
            continue
        delivery = f"evt_{uuid.uuid4().hex}"
        body = json.dumps(payload(event, delivery), ensure_ascii=False, separators=(",", ":"))
        crm.outbox.enqueue(uow, channel="webhook", purpose="service", customer_id=None, recipient=row.url,
                           subject=f"dealercrm {event.name}", body=body, origin="http_subscriptions",
                           case_id=getattr(event, "case_id", None), key=f"sub{row.id}-{delivery}",
                           data={"subscription_id": row.id, "kind": event.name,
                                 "signature": sign_event(row.secret, body)})
