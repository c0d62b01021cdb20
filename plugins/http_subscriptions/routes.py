"""``/subscriptions``: host systems told of events by signed POSTs, through the outbox.

Contributed to the HTTP API by ``dealercrm_register_routes``; imported only then, since
FastAPI is an optional dependency. Each route calls ``SubscriptionService`` as the
authenticated caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from dealercrm.http.auth import Caller
from dealercrm.http.common import problems
from dealercrm.http.idempotency import NOT_KEPT
from dealercrm.http.schemas import MAX_ID, JsonSchema, Out, text

from .service import EVENT_KINDS, SubscriptionService

TAG = {"name": "subscriptions", "description": "signed event deliveries to host systems"}
EventKind = Literal[EVENT_KINDS]  # type: ignore[valid-type]
SubscriptionId = Annotated[int, Path(ge=1, le=MAX_ID)]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Annotated[text(2000, 1), JsonSchema(replace=True, type="string", format="public-https-url", description=(
        "where events are POSTed: an absolute https URL without credentials, of a public address — not this "
        "machine, not a private or link-local network (checked when registered), at most 2,000 characters. Plain "
        "http only to this machine, or anywhere with [plugins.http_subscriptions] allow_http"))]
    kinds: Annotated[list[EventKind], Field(min_length=1, max_length=len(EVENT_KINDS))]


class SubscriptionOut(Out):
    id: int
    url: str
    kinds: list[str]
    created_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str | None = Field(description="signs every delivery to this subscription (X-Dealercrm-Signature); "
                               "shown only now: a repeat with the same Idempotency-Key has null (the secret is "
                               "kept nowhere else)")


router = APIRouter(prefix="/subscriptions", tags=[TAG["name"]], responses=problems(400, 401, 403, 404, 422))


def service(me) -> SubscriptionService:
    return SubscriptionService(me.crm)


@router.get("", response_model=list[SubscriptionOut])
def list_subscriptions(me: Caller):
    return service(me).list(by=me.actor_id)


@router.post("", status_code=201, response_model=SubscriptionCreated)
def subscribe(me: Caller, body: SubscriptionIn, request: Request, response: Response):
    """Register a URL for event kinds. Each delivery is a POST to that URL signed with this
    subscription's ``secret`` — returned only in this answer — in ``X-Dealercrm-Signature``
    (HMAC-SHA256 of ``"<X-Dealercrm-Timestamp>.<raw body>"``). Only events about cases and customers
    the caller's party may see are sent. A repeat with the same ``Idempotency-Key`` answers the same
    subscription with ``secret: null``: the secret is kept nowhere but in the subscription (lost it?
    delete the subscription and make a new one)."""
    request.scope.setdefault("state", {})[NOT_KEPT] = ("secret",)
    subscription, secret = service(me).create(body.url, body.kinds, by=me.actor_id)
    response.headers["Location"] = f"/subscriptions/{subscription.id}"
    return {**subscription.model_dump(), "secret": secret}


@router.get("/{subscription_id}", response_model=SubscriptionOut)
def show_subscription(me: Caller, subscription_id: SubscriptionId):
    return service(me).get(subscription_id, by=me.actor_id)


@router.delete("/{subscription_id}", status_code=204)
def unsubscribe(me: Caller, subscription_id: SubscriptionId):
    service(me).delete(subscription_id, by=me.actor_id)
    return Response(status_code=204)
