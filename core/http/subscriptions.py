"""``/subscriptions``: host systems told of events by signed POSTs, through the outbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from .auth import Caller
from .common import problems
from .idempotency import NOT_KEPT
from .schemas import MAX_ID, SubscriptionCreated, SubscriptionIn, SubscriptionOut

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"], responses=problems(400, 401, 403, 404, 422))
SubscriptionId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("", response_model=list[SubscriptionOut])
def list_subscriptions(me: Caller):
    return me.subscriptions.list()


@router.post("", status_code=201, response_model=SubscriptionCreated)
def subscribe(me: Caller, body: SubscriptionIn, request: Request, response: Response):
    """Register a URL for event kinds. Each delivery is a POST to that URL signed with this
    subscription's ``secret`` — returned only in this answer — in ``X-Dealercrm-Signature``
    (HMAC-SHA256 of ``"<X-Dealercrm-Timestamp>.<raw body>"``). Only events about cases and customers
    the caller's party may see are sent. A repeat with the same ``Idempotency-Key`` answers the same
    subscription with ``secret: null``: the secret is kept nowhere but in the subscription (lost it?
    delete the subscription and make a new one)."""
    request.scope.setdefault("state", {})[NOT_KEPT] = ("secret",)
    subscription, secret = me.subscriptions.create(body.url, body.kinds)
    response.headers["Location"] = f"/subscriptions/{subscription.id}"
    return {**subscription.model_dump(), "secret": secret}


@router.get("/{subscription_id}", response_model=SubscriptionOut)
def show_subscription(me: Caller, subscription_id: SubscriptionId):
    return me.subscriptions.get(subscription_id)


@router.delete("/{subscription_id}", status_code=204)
def unsubscribe(me: Caller, subscription_id: SubscriptionId):
    me.subscriptions.delete(subscription_id)
    return Response(status_code=204)
