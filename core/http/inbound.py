"""``/inbound/{channel}``: e-mail relays, SMS/WhatsApp providers and host systems, stored before understood.

No API key: a provider cannot send one. Instead every channel authenticates its
senders — a shared secret or a signature of the body, as ``[inbound.<channel>]``
configures (``inbound_auth``; closed when nothing is configured). The request guard
checks that before the body is read (a shared secret) or before anything is stored (a
signature): a refused post is a 401 and leaves no trace but a log line. An
authenticated message the channel cannot understand is still stored, with the reason,
and answered 400. The answer says nothing about customers or cases, so the endpoint
cannot be used to find out who is a customer.

``GET /inbound/{channel}`` answers a provider's verification handshake (Meta's
``hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`` for WhatsApp) when the
channel offers ``verify_subscription``: the challenge as plain text, or 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from ..access import NotAuthenticated
from ..errors import NotFound, NotPermitted
from .common import Problem, problems
from .idempotency import INBOUND_AUTHENTICATED
from .problem import problem

router = APIRouter(prefix="/inbound", tags=["inbound"], responses=problems(401, 404, 408, 413, 422))
ChannelName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object"}},
    "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
    "text/plain": {"schema": {"type": "string"}}}}}


@router.post("/{channel}", status_code=202, openapi_extra=BODY,
             responses={202: {"description": "stored and handled", "content": {"application/json": {"example": {
                 "id": 17, "status": "accepted"}}}},
                        400: {"model": Problem, "description": "stored, but malformed"},
                        401: {"model": Problem, "description": "the sender is not authenticated (no or a wrong "
                                                               "secret or signature): nothing was stored"}})
async def receive_inbound(channel: ChannelName, request: Request):
    """Post the provider's request as it is: the raw body and headers go to the channel. The sender
    authenticates as the channel is configured: a shared secret in a header (`X-Dealercrm-Inbound-Secret`
    by default), or a signature of the body (see docs/http.md)."""
    crm = request.app.state.crm
    chosen = crm.channels.get(channel)
    if not callable(getattr(chosen, "parse_inbound", None)):
        raise NotFound("inbound channel", channel)
    if request.scope.get("state", {}).get(INBOUND_AUTHENTICATED) != channel:  # closed without the guard, too
        raise NotAuthenticated(f"inbound channel {channel!r}: the sender is not authenticated")
    raw = await request.body()
    stored = await run_in_threadpool(crm.inbound.receive, channel, raw, dict(request.headers))
    if stored.status == "malformed":
        return problem(request, 400, "malformed-message", "Malformed message",
                       f"stored as inbound message {stored.id}, not understood: {stored.parse_error}",
                       inbound_id=stored.id)
    return {"id": stored.id, "status": "accepted"}


#: the handshake is a GET: none of the POST's problems (401, 408, 413) apply to it
handshake = APIRouter(prefix="/inbound", tags=["inbound"])
_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


@handshake.get("/{channel}", response_class=PlainTextResponse, responses={
    200: {"description": "the provider's challenge, echoed: the endpoint is verified"},
    403: {"description": "the verify token does not match (or none is configured)", "content": _PROBLEM},
    404: {"description": "no such channel, or it has no verification handshake", "content": _PROBLEM}})
def verify_inbound(channel: ChannelName, request: Request):
    """A provider's verification handshake before it posts (WhatsApp Cloud API: `hub.mode=subscribe`,
    `hub.verify_token` = `[plugins.channel_whatsapp] verify_token`, `hub.challenge` echoed)."""
    chosen = request.app.state.crm.channels.get(channel)
    verify = getattr(chosen, "verify_subscription", None)
    if not callable(verify):
        raise NotFound("inbound channel with a verification handshake", channel)
    answer = verify(dict(request.query_params))
    if answer is None:
        raise NotPermitted(f"inbound channel {channel!r}: the verification handshake was refused (the verify token "
                           "does not match the configured one)")
    return PlainTextResponse(answer)
