"""``/inbound/{channel}``: webhooks from SMS, WhatsApp and host systems, stored before understood.

No API key is needed: a provider cannot send one. The channel checks the sender's own
signature (``parse_inbound``); a message it cannot accept is still stored, with the
reason, and answered 400. The answer says nothing about customers or cases, so the
endpoint cannot be used to find out who is a customer.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool

from ..errors import NotFound
from .common import Problem, problems
from .problem import problem

router = APIRouter(prefix="/inbound", tags=["inbound"], responses=problems(404, 413, 422))
ChannelName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object"}},
    "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
    "text/plain": {"schema": {"type": "string"}}}}}


@router.post("/{channel}", status_code=202, openapi_extra=BODY,
             responses={202: {"description": "stored and handled", "content": {"application/json": {"example": {
                 "id": 17, "status": "accepted"}}}},
                        400: {"model": Problem, "description": "stored, but malformed or wrongly signed"}})
async def receive_inbound(channel: ChannelName, request: Request):
    """Post the provider's request as it is: the raw body and headers go to the channel."""
    crm = request.app.state.crm
    chosen = crm.channels.get(channel)
    if not callable(getattr(chosen, "parse_inbound", None)):
        raise NotFound("inbound channel", channel)
    raw = await request.body()
    stored = await run_in_threadpool(crm.inbound.receive, channel, raw, dict(request.headers))
    if stored.status == "malformed":
        return problem(request, 400, "malformed-message", "Malformed message",
                       f"stored as inbound message {stored.id}, not understood: {stored.parse_error}",
                       inbound_id=stored.id)
    return {"id": stored.id, "status": "accepted"}
