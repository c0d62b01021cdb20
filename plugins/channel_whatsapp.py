"""The WhatsApp channel: text messages through the WhatsApp Cloud API — only with consent.

Configuration (``[plugins.channel_whatsapp]`` in dealercrm.toml)::

    [plugins.channel_whatsapp]
    phone_number_id = "123456789012345"      # required: the sending number's id in Meta's Business Manager
    token = "…"                              # required; DEALERCRM_WHATSAPP_TOKEN wins over the file
    base_url = "https://graph.facebook.com"  # default
    version = "v21.0"                        # Graph API version, pinned; default v21.0
    timeout = 10

Each message is one request to the Cloud API's messages endpoint::

    POST {base_url}/{version}/{phone_number_id}/messages
    Authorization: Bearer <token>
    Content-Type: application/json

    {"messaging_product": "whatsapp", "to": "491715550100", "type": "text", "text": {"body": "<message body>"}}

``to`` is the customer's number in E.164 without the plus; the provider id kept on the
outbox message is the ``wamid`` from ``messages[0].id`` of the answer.

Consent: WhatsApp is used ONLY with recorded consent for channel ``whatsapp`` — for
service messages too (``consent_required_for``), not on the contract alone; without it
the message is recorded as suppressed and nothing is sent.

Errors: besides the usual mapping (connection problems, 5xx, 429 → retry; other 4xx →
failed), Graph errors that mean "not now" are retried even when they come as HTTP 400:
rate limits (codes 4, 17, 341, 80007, 130429, 131048, 131056) and temporary
unavailability (1, 2, 131016). Note that the Cloud API accepts free-form text only
inside the 24-hour window after the customer last wrote; outside it Meta answers
131047 ("Re-engagement message"), the message fails and a person gets a task. The Cloud
API has no idempotency key: a dispatcher killed between sending and recording can
deliver a text twice.

Not configured at all (no table, no ``DEALERCRM_WHATSAPP_TOKEN``): the channel is not
offered and other channels are unaffected. Configured but incomplete or wrong (no
phone_number_id or token, a version not like ``v21.0``): offered, a warning logged once,
and every message fails with the reason, which gives a person a task.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from dealercrm import hookimpl
from dealercrm.channels import DeliveryResult, OutgoingMessage
from dealercrm.plugins.http_gateway import (PLAIN_TOKEN, Gateway, HttpChannel, anything_configured, dotted, number,
                                           secret_setting)

log = logging.getLogger("dealercrm.plugins.channel_whatsapp")
PLUGIN, ENV_TOKEN = "channel_whatsapp", "DEALERCRM_WHATSAPP_TOKEN"
DEFAULT_BASE_URL, DEFAULT_VERSION = "https://graph.facebook.com", "v21.0"
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 341, 80007, 130429, 131016, 131048, 131056})
MAX_TEXT = 4096  # the Cloud API's limit for a text body


def transient(answer: Any) -> bool:
    """A Graph error whose code means rate-limited or temporarily unavailable."""
    error = answer.get("error") if isinstance(answer, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    try:
        return int(code) in TRANSIENT_CODES
    except (TypeError, ValueError):
        return False


class WhatsAppChannel(HttpChannel):
    name = "whatsapp"
    consent_channel = "whatsapp"
    address_field = "phone"
    consent_required_for = frozenset({"service", "marketing"})

    def __init__(self, settings: Mapping[str, Any], environ: Mapping[str, str] | None = None):
        self.token = secret_setting(settings, "token", ENV_TOKEN, environ)
        self.phone_number_id = str(settings.get("phone_number_id") or "").strip()
        self.base_url = str(settings.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        self.version = str(settings.get("version") or DEFAULT_VERSION).strip("/")
        self.endpoint = f"{self.base_url}/{self.version}/{quote(self.phone_number_id, safe='')}/messages"
        self.gateway = Gateway(self.name, secrets=[self.token.reveal()])
        self.problem = self._check(settings)

    def _check(self, settings: Mapping[str, Any]) -> str | None:
        where = f"[plugins.{PLUGIN}]"
        if not self.phone_number_id or not self.token:
            return f"not configured: set {where} phone_number_id and token (or {ENV_TOKEN})"
        if not PLAIN_TOKEN.fullmatch(self.token.reveal()):
            return f"misconfigured: the token ({ENV_TOKEN} or {where} token) contains spaces or control characters"
        if not re.fullmatch(r"v\d+\.\d+", self.version):
            return f"misconfigured: {where} version must look like 'v21.0', not {self.version!r}"
        try:
            self.gateway.timeout = number(settings, "timeout", 10, PLUGIN)
        except ValueError as exc:
            return f"misconfigured: {exc}"
        return None

    def deliver(self, message: OutgoingMessage) -> DeliveryResult:
        to = re.sub(r"\D", "", message.recipient or "")
        if not to:
            return DeliveryResult.failed(f"whatsapp: message {message.id} has no phone number")
        if len(message.body) > MAX_TEXT:
            return DeliveryResult.failed(f"whatsapp: text of {len(message.body)} characters is longer than the "
                                         f"Cloud API's {MAX_TEXT}")
        body = {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": message.body}}
        headers = {"Authorization": f"Bearer {self.token.reveal()}", "Idempotency-Key": message.idempotency_key}
        return self.gateway.post(self.endpoint, json=body, headers=headers, transient=transient,
                                 provider_id=lambda answer: dotted(answer, "messages.0.id"))


@hookimpl(trylast=True)
def dealercrm_register_consent_channels():
    """WhatsApp consent can be recorded before the channel is configured."""
    return ["whatsapp"]


@hookimpl(trylast=True)
def dealercrm_register_channels(crm):
    settings = crm.settings.plugin(PLUGIN)
    if not anything_configured(settings, ENV_TOKEN):
        log.info("whatsapp channel not offered: nothing configured in [plugins.%s] or %s", PLUGIN, ENV_TOKEN)
        return []
    channel = WhatsAppChannel(settings)
    if channel.problem:
        log.warning("%s: %s", channel.name, channel.problem)
    return [channel]
