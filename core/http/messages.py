"""``/customers/{id}/messages``: the owning dealer writes to its customer through the outbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Response

from .auth import Caller
from .common import Limit, Offset, Router, page, problems
from .schemas import MAX_ID, MessageIn, MessageOut, Page

router = Router(prefix="/customers/{customer_id}/messages", tags=["messages"],
                   responses=problems(400, 401, 403, 404, 422))
CustomerId = Annotated[int, Path(ge=1, le=MAX_ID)]
MessageId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post("", status_code=201, response_model=MessageOut)
def send_message(me: Caller, customer_id: CustomerId, body: MessageIn, response: Response):
    """Queue a message; the dispatcher sends it. Consent and the contact budget are judged now (and
    again when sending): a message that may not go is still created, as ``suppressed`` with its
    ``reason``, so the answer is 201 either way — read ``status``."""
    message = me.outbox.send(body.channel, body.purpose, body.body, customer_id=customer_id, subject=body.subject,
                             case_id=body.case_id)
    response.headers["Location"] = f"/customers/{customer_id}/messages/{message.id}"
    return message


@router.get("", response_model=Page[MessageOut])
def list_messages(me: Caller, customer_id: CustomerId, limit: Limit = 50, offset: Offset = 0):
    """Every message queued for the customer — by people, rules and case notices — newest first."""
    return page(me.outbox.of_customer(customer_id, limit=limit + 1, offset=offset), limit, offset)


@router.get("/{message_id}", response_model=MessageOut)
def show_message(me: Caller, customer_id: CustomerId, message_id: MessageId):
    """One message, e.g. to see whether it was sent (``status``, ``sent_at``)."""
    return me.outbox.get(message_id, customer_id=customer_id)
