"""What Meta's WhatsApp Cloud API posts to a webhook, written from its documentation, not from the plugin.

``notification(...)`` is one "messages" webhook (one entry, one change, the sender's
contact and messages); ``status_notification(...)`` a delivery status; ``meta_signature``
the ``X-Hub-Signature-256`` header Meta computes with the app secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

PHONE_NUMBER_ID = "109876543210"
APP_SECRET = "meta-app-secret-2b7e151628aed2a6"


def text_message(wa_id: str, body: str, at: datetime, wamid: str = "wamid.IN1", context: str | None = None) -> dict:
    message: dict[str, Any] = {"from": wa_id, "id": wamid, "timestamp": str(int(at.timestamp())), "type": "text",
                               "text": {"body": body}}
    if context:
        message["context"] = {"from": "4930123456", "id": context}
    return message


def notification(*messages: dict, wa_id: str | None = None, name: str = "Max") -> bytes:
    wa_id = wa_id or messages[0]["from"]
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "4930123456", "phone_number_id": PHONE_NUMBER_ID},
             "contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": list(messages)}
    return json.dumps({"object": "whatsapp_business_account",
                       "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}]}
                      ).encode()


def status_notification(wa_id: str, wamid: str, status: str, at: datetime) -> bytes:
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "4930123456", "phone_number_id": PHONE_NUMBER_ID},
             "statuses": [{"id": wamid, "status": status, "timestamp": str(int(at.timestamp())),
                           "recipient_id": wa_id}]}
    return json.dumps({"object": "whatsapp_business_account",
                       "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}]}
                      ).encode()


def meta_signature(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
            "Content-Type": "application/json"}


def customer_wrote(crm, wa_id: str = "491715550100", body: str = "Hallo, kurze Frage", at: datetime | None = None):
    """The customer writes to the business on WhatsApp: the 24-hour window opens."""
    at = at or crm.clock.now()
    return crm.inbound.receive("whatsapp", notification(text_message(wa_id, body, at, wamid=f"wamid.IN{at:%H%M%S}")))
