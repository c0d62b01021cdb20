"""The SMS channel: any HTTP SMS gateway, described in the settings.

Configuration (``[plugins.channel_sms]`` in dealercrm.toml)::

    [plugins.channel_sms]
    url = "https://sms.example.com/api/send"   # required
    token = "…"                  # DEALERCRM_SMS_TOKEN wins over the file
    auth_header = "Authorization"  # header carrying the token ("" for none)
    auth_scheme = "Bearer"       # "Bearer <token>"; "Basic" base64-encodes "user:password"; "" sends the bare token
    sender = "AutohausMeyer"     # what {sender} becomes
    format = "json"              # or "form" (application/x-www-form-urlencoded)
    response_id = "id"           # where the gateway's message id is in its JSON answer ("messages.0.id")
    timeout = 10

    [plugins.channel_sms.payload]  # the request body; this is the default
    to = "{recipient}"
    text = "{body}"
    sender = "{sender}"

With the defaults the gateway receives::

    POST <url>
    Authorization: Bearer <token>
    Idempotency-Key: dcrm-…        (the same on a resend; for gateways that deduplicate)
    Content-Type: application/json

    {"to": "+491715550100", "text": "<message body>", "sender": "AutohausMeyer"}

Placeholders: ``{recipient}`` (E.164 with +), ``{recipient_digits}`` (without +),
``{body}``, ``{subject}``, ``{sender}``, ``{idempotency_key}``, ``{message_id}``,
``{purpose}``, ``{customer_id}``, ``{case_id}``. A value that is exactly one
placeholder keeps its JSON type (``"{case_id}"`` → 17 or null); the payload may nest
tables and lists. Twilio, for example: ``url = ".../Accounts/<sid>/Messages.json"``,
``auth_scheme = "Basic"``, ``token = "<sid>:<auth token>"``, ``format = "form"``,
payload ``{To = "{recipient}", From = "{sender}", Body = "{body}"}``,
``response_id = "sid"``.

SMS carries service and marketing messages; consent is asked for channel ``sms``
(service messages about the customer's own case may rely on the contract).

Receiving: the gateway posts each incoming SMS to ``/inbound/sms`` (authenticated as
``[inbound.sms]`` configures: a shared secret in a header, or an HMAC of the body — see
docs/http.md). Where the sender and the text are in its request is configured too; these
are the defaults::

    [plugins.channel_sms.inbound]
    format = "auto"          # "json", "form" (application/x-www-form-urlencoded) or "auto": by Content-Type
    from = "from"            # dotted path of the sender's number ("data.payload.from.phone_number")
    text = "text"            # dotted path of the text
    id = "id"                # dotted path of the gateway's message id (kept with the message; optional)
    international = false    # true: a number without "+" is international (Vonage's "msisdn": 4917…)

Twilio, for example: ``format = "form"``, ``from = "From"``, ``text = "Body"``,
``id = "MessageSid"``; Vonage: ``from = "msisdn"``, ``text = "text"``, ``id = "messageId"``,
``international = true``; Telnyx: ``from = "data.payload.from.phone_number"``,
``text = "data.payload.text"``, ``id = "data.payload.id"``. A request without a sender or
text is kept as malformed with the reason. The customer is found by the number; an SMS
naming its case ("Fall 17") goes to that case, and "STOP" revokes marketing by SMS
(see README, "Replies").

Not configured at all (no ``[plugins.channel_sms]`` table, no ``DEALERCRM_SMS_TOKEN``):
the channel is not offered — ``dealercrm channels list`` does not list it, hand-off
notifications pick another channel, e-mail works as before. Configured but incomplete
or wrong (no url, no token unless ``auth_header = ""``, an unknown placeholder): the
channel is offered, a warning is logged once, and every message fails with the reason
("not configured: set …", "misconfigured: …"), which gives a person a task.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import string
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl

import attrs

from dealercrm import hookimpl
from dealercrm.settings import secret_field
from dealercrm.settings_schema import KEY
from dealercrm.channels import DeliveryResult, OutgoingMessage, ParsedInbound
from dealercrm.plugins.http_gateway import (PLAIN_TOKEN, Gateway, HttpChannel, Secret, anything_configured, dotted,
                                           number, secret_setting)

log = logging.getLogger("dealercrm.plugins.channel_sms")
PLUGIN, ENV_TOKEN = "channel_sms", "DEALERCRM_SMS_TOKEN"
DEFAULT_PAYLOAD = {"to": "{recipient}", "text": "{body}", "sender": "{sender}"}
PLACEHOLDERS = frozenset({"recipient", "recipient_digits", "body", "subject", "sender", "idempotency_key",
                          "message_id", "purpose", "customer_id", "case_id"})
DEFAULT_INBOUND = {"format": "auto", "from": "from", "text": "text", "id": "id", "international": False}


@attrs.frozen
class SmsInboundTable:
    """``[plugins.channel_sms.inbound]``: where the gateway puts the sender and the text."""

    format: Literal["auto", "json", "form"] = DEFAULT_INBOUND["format"]
    from_: str = attrs.field(default=DEFAULT_INBOUND["from"], metadata={KEY: "from"})
    text: str = DEFAULT_INBOUND["text"]
    id: str = DEFAULT_INBOUND["id"]
    international: bool = DEFAULT_INBOUND["international"]


@attrs.frozen
class SmsTable:
    """``[plugins.channel_sms]`` (the module docstring says what each key does). No table and no
    ``DEALERCRM_SMS_TOKEN``: the channel is not offered."""

    url: str = ""
    token: str = secret_field("")
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    sender: str = ""
    format: Literal["json", "form"] = "json"
    response_id: str = "id"
    timeout: float = 10
    payload: dict[str, Any] = attrs.Factory(lambda: dict(DEFAULT_PAYLOAD))
    inbound: SmsInboundTable = attrs.Factory(SmsInboundTable)


def placeholders(template: Any) -> set[str]:
    """Every field a payload template uses (raises ValueError for a broken format string)."""
    if isinstance(template, str):
        return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    if isinstance(template, Mapping):
        return set().union(*(placeholders(v) for v in template.values()))
    if isinstance(template, list):
        return set().union(*(placeholders(v) for v in template))
    return set()


def render(template: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(template, str):
        exact = re.fullmatch(r"\{(\w+)\}", template)
        if exact:
            return values[exact.group(1)]
        return template.format_map({k: "" if v is None else v for k, v in values.items()})
    if isinstance(template, Mapping):
        return {k: render(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, values) for v in template]
    return template


class SmsChannel(HttpChannel):
    name = "sms"
    consent_channel = "sms"
    address_field = "phone"

    def __init__(self, settings: Mapping[str, Any], environ: Mapping[str, str] | None = None):
        self.token = secret_setting(settings, "token", ENV_TOKEN, environ)
        self.url = str(settings.get("url") or "")
        self.auth_header = str(settings.get("auth_header", "Authorization"))
        self.auth_scheme = str(settings.get("auth_scheme", "Bearer"))
        self.sender = str(settings.get("sender", ""))
        self.format = str(settings.get("format", "json"))
        self.response_id = str(settings.get("response_id", "id"))
        self.payload = settings.get("payload", DEFAULT_PAYLOAD)
        raw = self.token.reveal()
        if self.auth_scheme.lower() == "basic":
            raw = base64.b64encode(raw.encode("utf-8")).decode("ascii")
        self._auth = Secret(f"{self.auth_scheme} {raw}".strip())
        self.gateway = Gateway(self.name, secrets=[self.token.reveal(), raw])
        self.problem = self._check(settings)
        given = settings.get("inbound", {})
        self.inbound = {**DEFAULT_INBOUND, **given} if isinstance(given, Mapping) else given
        self.inbound_problem = self._check_inbound()

    def _check_inbound(self) -> str | None:
        """What is wrong with ``[plugins.channel_sms.inbound]``: inbound SMS fail with it, sending does not."""
        where = f"[plugins.{PLUGIN}.inbound]"
        if not isinstance(self.inbound, Mapping):
            return f"{where} must be a table"
        unknown = sorted(set(self.inbound) - set(DEFAULT_INBOUND))
        if unknown:
            return f"{where} has unknown key {unknown[0]!r}; known: {', '.join(sorted(DEFAULT_INBOUND))}"
        if self.inbound["format"] not in ("auto", "json", "form"):
            return f"{where} format must be 'auto', 'json' or 'form', not {self.inbound['format']!r}"
        for key in ("from", "text", "id"):
            if not isinstance(self.inbound[key], str) or (key != "id" and not self.inbound[key]):
                return f"{where} {key} must be the dotted path of a field, e.g. \"{DEFAULT_INBOUND[key]}\""
        if not isinstance(self.inbound["international"], bool):
            return f"{where} international must be true or false"
        return None

    def _check(self, settings: Mapping[str, Any]) -> str | None:
        where = f"[plugins.{PLUGIN}]"
        if not self.url or (self.auth_header and not self.token):
            return f"not configured: set {where} url and token (or {ENV_TOKEN})"
        try:
            self.gateway.timeout = number(settings, "timeout", 10, PLUGIN)
        except ValueError as exc:
            return f"misconfigured: {exc}"
        if self.token and not PLAIN_TOKEN.fullmatch(self.token.reveal()):
            return f"misconfigured: the token ({ENV_TOKEN} or {where} token) contains spaces or control characters"
        if self.format not in ("json", "form"):
            return f"misconfigured: {where} format must be 'json' or 'form', not {self.format!r}"
        if not isinstance(self.payload, Mapping) or not self.payload:
            return f"misconfigured: {where} payload must be a table of fields"
        if self.format == "form" and any(isinstance(v, (Mapping, list)) for v in self.payload.values()):
            return f"misconfigured: {where} payload must be flat for format = 'form'"
        try:
            unknown = placeholders(self.payload) - PLACEHOLDERS
        except ValueError as exc:
            return f"misconfigured: {where} payload is not a valid template: {exc}"
        if unknown:
            return (f"misconfigured: {where} payload uses {{{sorted(unknown)[0]}}}; "
                    f"known placeholders: {', '.join(sorted(PLACEHOLDERS))}")
        return None

    def deliver(self, message: OutgoingMessage) -> DeliveryResult:
        recipient = (message.recipient or "").replace(" ", "")
        if not recipient:
            return DeliveryResult.failed(f"sms: message {message.id} has no phone number")
        values = dict(recipient=recipient, recipient_digits=recipient.lstrip("+"), body=message.body,
                      subject=message.subject, sender=self.sender, idempotency_key=message.idempotency_key,
                      message_id=message.id, purpose=message.purpose, customer_id=message.customer_id,
                      case_id=message.case_id)
        body = render(self.payload, values)
        headers = {"Idempotency-Key": message.idempotency_key, "Accept": "application/json"}
        if self.auth_header:
            headers[self.auth_header] = self._auth.reveal()
        sent = {"json": body} if self.format == "json" else {"data": {k: "" if v is None else str(v)
                                                                       for k, v in body.items()}}
        return self.gateway.post(self.url, headers=headers, provider_id=lambda answer: dotted(answer, self.response_id),
                                 **sent)


    def parse_inbound(self, raw: str | bytes, headers: Mapping[str, str]) -> ParsedInbound:
        """An incoming SMS as the gateway posts it, read where ``[plugins.channel_sms.inbound]`` says."""
        if self.inbound_problem:
            raise ValueError(f"misconfigured: {self.inbound_problem}")
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        kind = self.inbound["format"]
        if kind == "auto":
            content_type = next((v for k, v in (headers or {}).items() if str(k).lower() == "content-type"), "")
            kind = "form" if "x-www-form-urlencoded" in content_type.lower() else "json"
        if kind == "form":
            payload: Any = dict(parse_qsl(text, keep_blank_values=True))
        else:
            try:
                payload = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"not JSON (format = 'json' in [plugins.{PLUGIN}.inbound]): {exc}") from None
        sender, body = dotted(payload, self.inbound["from"]), dotted(payload, self.inbound["text"])
        if not sender or not sender.strip():
            raise ValueError(f"no sender at {self.inbound['from']!r} ([plugins.{PLUGIN}.inbound] from)")
        if body is None:
            raise ValueError(f"no text at {self.inbound['text']!r} ([plugins.{PLUGIN}.inbound] text)")
        sender = re.sub(r"[\s()/-]", "", sender)
        if self.inbound["international"] and not sender.startswith("+") and sender.isdigit():
            sender = "+" + sender.lstrip("0")
        gateway_id = dotted(payload, self.inbound["id"]) if self.inbound["id"] else None
        return ParsedInbound(sender=sender, text=body, data={"gateway_id": gateway_id} if gateway_id else {})


@hookimpl(trylast=True)
def dealercrm_register_consent_channels():
    """SMS consent can be recorded before the channel is configured."""
    return ["sms"]


@hookimpl(trylast=True)
def dealercrm_register_channels(crm):
    settings = crm.settings.plugin(PLUGIN)
    if not anything_configured(settings, ENV_TOKEN):
        log.info("sms channel not offered: nothing configured in [plugins.%s] or %s", PLUGIN, ENV_TOKEN)
        return []
    channel = SmsChannel(settings)
    for problem in filter(None, (channel.problem, channel.inbound_problem)):
        log.warning("%s: %s", channel.name, problem)
    return [channel]


@hookimpl(trylast=True)
def dealercrm_register_settings():
    return {PLUGIN: SmsTable}
