"""The webhook channel: signed JSON POSTs to a host system (ERP, DMS, shop), and back.

Configuration (``[plugins.channel_webhook]`` in dealercrm.toml)::

    [plugins.channel_webhook]
    url = "https://erp.example.com/dealercrm"  # default target (see below)
    secret = "…"              # signing secret; DEALERCRM_WEBHOOK_SECRET wins over the file
    inbound_secret = "…"      # verifies inbound webhooks; DEALERCRM_WEBHOOK_INBOUND_SECRET; default: secret
    timeout = 10              # seconds per request
    tolerance_seconds = 300   # inbound: how far a signed timestamp may be from now

A message whose ``recipient`` is an http(s) URL goes there (messages to host systems
have no customer and the URL as recipient); any other message goes to ``url``.

Not configured at all (no table, no ``DEALERCRM_WEBHOOK_SECRET``): the channel is not
offered and nothing else changes. Configured without a secret: offered, a warning is
logged, and each message fails with "not configured: set DEALERCRM_WEBHOOK_SECRET …"
(a task for a person) — nothing goes out unsigned.

The request: ``POST``, ``Content-Type: application/json``, the body a JSON object with
``id, idempotency_key, channel, purpose, subject, body, data, customer_id, case_id,
attempt`` and these headers::

    X-Dealercrm-Timestamp: 1772442000                  (Unix seconds, the sender's wall clock)
    X-Dealercrm-Signature: sha256=<hex of HMAC-SHA256(secret, f"{timestamp}.{raw body}")>
    Idempotency-Key: dcrm-…                            (the same on every resend of the message)

Receiving it (the host's side)::

    from dealercrm.plugins.channel_webhook import verify_signature

    if not verify_signature(SECRET, request.body, request.headers["X-Dealercrm-Timestamp"],
                            request.headers["X-Dealercrm-Signature"]):
        return 401
    if seen(request.headers["Idempotency-Key"]):
        return 200                                     # a resend after a crash: already handled
    handle(json.loads(request.body)); return 200       # optionally {"id": "…"}: kept as provider id

Verify the raw bytes as received, before parsing. 2xx means delivered; 5xx, 408 or 429
mean "try again later" (backoff); any other 4xx fails the message permanently and a
person gets a task. Delivery is at least once: a dispatcher that dies between sending
and recording sends again with the same ``Idempotency-Key``.

Inbound: a host posts a JSON object ``{"from": "<e-mail or phone>", "text": "…",
"subject": "…"?, "case_id": 17?}`` to its own endpoint and hands the raw body and
headers to ``crm.inbound.receive("webhook", body, headers)``. With a secret configured
(``inbound_secret``, else ``secret``) it must be signed the same way (``sign_headers``
makes the headers); a missing or wrong signature, a stale timestamp, non-JSON or a
missing field raise, so the message is stored as malformed with the reason. Posted to
dealercrm's own ``/inbound/webhook``, the signature is checked first
(``authenticate_inbound``): an unsigned or wrongly signed request is a 401 and nothing is
stored; without any secret the endpoint accepts nothing. Whoever can
verify what dealercrm sends can also sign: if the outbound ``secret`` is known to
receivers that must not speak for customers, set a separate ``inbound_secret``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from dealercrm import hookimpl
from dealercrm.settings import secret_field
from dealercrm.channels import DeliveryResult, OutgoingMessage, ParsedInbound
# the signature scheme lives in the core (inbound authentication uses it too); kept importable from here
from dealercrm.signing import (SIGNATURE, TIMESTAMP, UNIX_SECONDS, sign, sign_headers,  # noqa: F401
                               signature_problem, verify_signature)
from dealercrm.plugins.http_gateway import Gateway, HttpChannel, anything_configured, number, secret_setting

log = logging.getLogger("dealercrm.plugins.channel_webhook")
PLUGIN, ENV_SECRET, ENV_INBOUND = "channel_webhook", "DEALERCRM_WEBHOOK_SECRET", "DEALERCRM_WEBHOOK_INBOUND_SECRET"
IDEMPOTENCY = "Idempotency-Key"


class WebhookSignatureError(ValueError):
    """An inbound webhook that is unsigned, wrongly signed or too old."""


class WebhookPayloadError(ValueError):
    """An inbound webhook body that is not the documented JSON object."""


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


@attrs.frozen
class WebhookTable:
    """``[plugins.channel_webhook]`` (the module docstring says what each key does). No table and
    no ``DEALERCRM_WEBHOOK_SECRET``: the channel is not offered."""

    url: str = ""
    secret: str = secret_field("")
    inbound_secret: str = secret_field("")
    timeout: float = 10
    tolerance_seconds: float = 300


class WebhookChannel(HttpChannel):
    name = "webhook"

    def __init__(self, settings: Mapping[str, Any], environ: Mapping[str, str] | None = None,
                 wall_clock: Callable[[], float] = time.time):
        self.secret = secret_setting(settings, "secret", ENV_SECRET, environ)
        # Whoever can verify what we send can also sign: give receivers that may not speak for
        # customers (another party's system) a different secret from the one inbound trusts.
        self.inbound_secret = secret_setting(settings, "inbound_secret", ENV_INBOUND, environ) or self.secret
        self.url = str(settings.get("url") or "")
        self.wall_clock = wall_clock
        self.gateway = Gateway(self.name, secrets=[self.secret.reveal(), self.inbound_secret.reveal()])
        try:
            self.gateway.timeout = number(settings, "timeout", 10, PLUGIN)
            self.tolerance = number(settings, "tolerance_seconds", 300, PLUGIN)
        except ValueError as exc:
            self.problem, self.tolerance = f"misconfigured: {exc}", 300.0
        if not self.secret:
            self.problem = f"not configured: set {ENV_SECRET} or [plugins.{PLUGIN}] secret"

    def deliver(self, message: OutgoingMessage) -> DeliveryResult:
        url = message.recipient if re.match(r"https?://", message.recipient or "", re.IGNORECASE) else self.url
        if not url:
            return DeliveryResult.failed(f"webhook: message {message.id} has no http(s) recipient and "
                                         f"[plugins.{PLUGIN}] url is not set")
        return post_signed(self.gateway, url, message, self.secret.reveal(), int(self.wall_clock()))

    def authenticate_inbound(self, raw: str | bytes, headers: Mapping[str, str]) -> str | None:
        """Why an inbound request is not signed with ``inbound_secret``, or None when it is.

        The HTTP endpoint ``/inbound/webhook`` asks this before it stores anything (unless
        ``[inbound.webhook]`` configures another way); without a secret nothing is accepted.
        """
        lower = {str(k).lower(): v for k, v in (headers or {}).items()}
        return signature_problem(self.inbound_secret.reveal(), _bytes(raw), lower.get(TIMESTAMP.lower()),
                                 lower.get(SIGNATURE.lower()), self.tolerance, self.wall_clock())

    def parse_inbound(self, raw: str | bytes, headers: Mapping[str, str]) -> ParsedInbound:
        body = _bytes(raw)
        if self.inbound_secret:
            problem = self.authenticate_inbound(body, headers)
            if problem:
                raise WebhookSignatureError(problem)
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise WebhookPayloadError(f"not JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise WebhookPayloadError(f"expected a JSON object with 'from' and 'text', got {type(payload).__name__}")
        sender, text, subject = payload.get("from"), payload.get("text"), payload.get("subject")
        if not isinstance(sender, str) or not sender.strip():
            raise WebhookPayloadError("'from' is missing or empty: the sender's e-mail address or phone number")
        if not isinstance(text, str):
            raise WebhookPayloadError("'text' is missing or not a string")
        if subject is not None and not isinstance(subject, str):
            raise WebhookPayloadError("'subject' must be a string")
        data = {k: v for k, v in payload.items() if k not in ("from", "text", "subject")}
        case_id = data.get("case_id")
        if case_id is not None:
            if isinstance(case_id, bool) or not (isinstance(case_id, int) or str(case_id).strip().isdigit()):
                raise WebhookPayloadError(f"'case_id' must be a case number, not {str(case_id)[:20]!r}")
            data["case_id"] = int(case_id)
        return ParsedInbound(sender=sender.strip(), text=text, subject=subject, data=data)


def post_signed(gateway: Gateway, url: str, message: OutgoingMessage, secret: str, timestamp: int) -> DeliveryResult:
    """The documented request: ``message`` as the JSON object, signed with ``secret`` at ``timestamp``.

    Shared with ``http_subscriptions``, which signs each delivery with its subscription's
    own secret: receivers verify both the same way (``verify_signature``).
    """
    body = json.dumps({"id": message.id, "idempotency_key": message.idempotency_key, "channel": message.channel,
                       "purpose": message.purpose, "subject": message.subject, "body": message.body,
                       "data": dict(message.data or {}), "customer_id": message.customer_id,
                       "case_id": message.case_id, "attempt": message.attempt},
                      ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", IDEMPOTENCY: message.idempotency_key,
               **sign_headers(secret, body, timestamp)}
    return gateway.post(url, content=body, headers=headers, provider_id=_id_of)


def _id_of(answer: Any) -> str | None:
    value = answer.get("id") if isinstance(answer, dict) else None
    return None if value is None or isinstance(value, (dict, list)) else str(value)


@hookimpl(trylast=True)
def dealercrm_register_channels(crm):
    settings = crm.settings.plugin(PLUGIN)
    if not (anything_configured(settings, ENV_SECRET) or anything_configured(settings, ENV_INBOUND)):
        log.info("webhook channel not offered: nothing configured in [plugins.%s] or %s", PLUGIN, ENV_SECRET)
        return []
    channel = WebhookChannel(settings)
    if channel.problem:
        log.warning("%s: %s", channel.name, channel.problem)
    return [channel]


@hookimpl(trylast=True)
def dealercrm_register_settings():
    return {PLUGIN: WebhookTable}
