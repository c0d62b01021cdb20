"""The WhatsApp channel: the WhatsApp Cloud API, both ways — only with consent.

Configuration (``[plugins.channel_whatsapp]`` in dealercrm.toml)::

    [plugins.channel_whatsapp]
    phone_number_id = "123456789012345"      # required: the sending number's id in Meta's Business Manager
    token = "…"                              # required; DEALERCRM_WHATSAPP_TOKEN wins over the file
    base_url = "https://graph.facebook.com"  # default
    version = "v21.0"                        # Graph API version, pinned; default v21.0
    timeout = 10
    app_secret = "…"          # DEALERCRM_WHATSAPP_APP_SECRET: checks X-Hub-Signature-256 of inbound webhooks
    verify_token = "…"        # DEALERCRM_WHATSAPP_VERIFY_TOKEN: answers Meta's GET verification handshake
    window_hours = 24         # the customer-service window (at most 24; less leaves a safety margin)

    [plugins.channel_whatsapp.templates.case_handed_over]   # one table per message kind (data["template"])
    name = "case_update"                     # the approved template's name in WhatsApp Manager
    language = "de"                          # its language code ("de", "en_US")
    parameters = ["{case_id}", "{subject}"]  # the body's {{1}}, {{2}}, … in order

    [plugins.channel_whatsapp.templates.default]            # for kinds without their own (optional)
    name = "generic_notice"
    language = "de"
    parameters = ["{body}"]

**The 24-hour window.** The Cloud API takes free-form text only within 24 hours of the
customer's last message to the business. The channel knows when that was: the latest
WhatsApp message stored from this customer (``crm.inbound``), at the time the Cloud API
says it was sent when that is earlier than its arrival (a webhook Meta retried). When a
message is sent — not when it was queued — inside the window it goes as text::

    POST {base_url}/{version}/{phone_number_id}/messages
    Authorization: Bearer <token>
    Content-Type: application/json

    {"messaging_product": "whatsapp", "to": "491715550100", "type": "text", "text": {"body": "<message body>"}}

outside it as the approved template configured for the message's kind
(``data["template"]``: ``case_handed_over``, ``survey``, ``interest_offer``,
``invitation``; else ``default``)::

    {"messaging_product": "whatsapp", "to": "491715550100", "type": "template",
     "template": {"name": "case_update", "language": {"code": "de"},
                  "components": [{"type": "body", "parameters": [{"type": "text", "text": "17"}, …]}]}}

Parameters are format strings over the message: ``{subject}``, ``{body}``, ``{case_id}``,
``{customer_id}``, ``{purpose}``, ``{message_id}``, ``{recipient}`` and every key of its
data (``{state}`` of a hand-off); line breaks and runs of spaces become one space, as the
Cloud API requires. Outside the window with no template for the kind (nor ``default``),
the message fails naming the setting to add, and a person gets a task — nothing is sent
that Meta would refuse (131047, "Re-engagement message").

``to`` is the customer's number in E.164 without the plus; the provider id kept on the
outbox message is the ``wamid`` from ``messages[0].id`` of the answer.

**Receiving.** Meta posts every message to ``/inbound/whatsapp``, signed with the app
secret (``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>``): the channel checks it
before anything is stored (``authenticate_inbound``; ``[inbound.whatsapp]`` may configure
it instead). Subscribe the webhook in Meta's App Dashboard with the callback URL
``https://<your host>/inbound/whatsapp`` and the ``verify_token``: Meta's GET
(``hub.mode=subscribe``, ``hub.verify_token``, ``hub.challenge``) is answered with the
challenge. A message becomes text on the customer's timeline (buttons and list replies
by their title, media as "(image)" with its caption); a reply to one of our messages
(its ``context``) goes to that message's case. Delivery statuses (sent, delivered, read)
are stored and marked ``ignored``. A notification with messages from several senders
is kept as malformed, for a person (the Cloud API sends one sender per notification).

Consent: WhatsApp is used ONLY with recorded consent for channel ``whatsapp`` — for
service messages too (``consent_required_for``), not on the contract alone; without it
the message is recorded as suppressed and nothing is sent.

Errors: besides the usual mapping (connection problems, 5xx, 429 → retry; other 4xx →
failed), Graph errors that mean "not now" are retried even when they come as HTTP 400:
rate limits (codes 4, 17, 341, 80007, 130429, 131048, 131056) and temporary
unavailability (1, 2, 131016). The Cloud API has no idempotency key: a dispatcher killed
between sending and recording can deliver a message twice.

Not configured at all (no table, no ``DEALERCRM_WHATSAPP_TOKEN``): the channel is not
offered and other channels are unaffected. Configured but incomplete or wrong (no
phone_number_id or token, a version not like ``v21.0``, a template without name or
language, an unusable parameter): offered, a warning logged once, and every message
fails with the reason, which gives a person a task.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import string
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import attrs
from sqlalchemy import select

from dealercrm import hookimpl
from dealercrm.settings import secret_field
from dealercrm.channels import DeliveryResult, InboundIgnored, OutgoingMessage, ParsedInbound
from dealercrm.db.outbox_models import InboundMessage, OutboxMessage
from dealercrm.plugins.http_gateway import (PLAIN_TOKEN, Gateway, HttpChannel, anything_configured, dotted, number,
                                           secret_setting)

log = logging.getLogger("dealercrm.plugins.channel_whatsapp")
PLUGIN, ENV_TOKEN = "channel_whatsapp", "DEALERCRM_WHATSAPP_TOKEN"
ENV_APP_SECRET, ENV_VERIFY_TOKEN = "DEALERCRM_WHATSAPP_APP_SECRET", "DEALERCRM_WHATSAPP_VERIFY_TOKEN"
DEFAULT_BASE_URL, DEFAULT_VERSION = "https://graph.facebook.com", "v21.0"
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 341, 80007, 130429, 131016, 131048, 131056})
MAX_TEXT = 4096  # the Cloud API's limit for a text body
SIGNATURE_HEADER = "X-Hub-Signature-256"
#: what a template parameter may name besides the keys of the message's data
MESSAGE_FIELDS = ("subject", "body", "case_id", "customer_id", "purpose", "message_id", "recipient")
TEMPLATE_KEYS = {"name", "language", "parameters"}
RECENT = 5  # inbound messages looked at for the window (a retried webhook may arrive after a newer one)


def transient(answer: Any) -> bool:
    """A Graph error whose code means rate-limited or temporarily unavailable."""
    error = answer.get("error") if isinstance(answer, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    try:
        return int(code) in TRANSIENT_CODES
    except (TypeError, ValueError):
        return False


@attrs.frozen
class Template:
    """An approved message template, as configured for one message kind."""

    kind: str
    name: str
    language: str
    parameters: tuple[str, ...] = ()

    def payload(self, message: OutgoingMessage) -> dict[str, Any]:
        """The ``template`` object; raises KeyError naming a parameter this message has no value for."""
        values = {**{str(k): v for k, v in (message.data or {}).items()},
                  **{f: getattr(message, "id" if f == "message_id" else f) for f in MESSAGE_FIELDS}}
        texts = []
        for parameter in self.parameters:
            text = parameter.format_map(_Strict(values))
            texts.append(" ".join(text.split()) or "-")  # no line breaks, tabs or runs of spaces; never empty
        body = {"name": self.name, "language": {"code": self.language}}
        if texts:
            body["components"] = [{"type": "body", "parameters": [{"type": "text", "text": t} for t in texts]}]
        return body


class _Strict(dict):
    def __missing__(self, key):
        raise KeyError(key)

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if value is None:
            raise KeyError(key)
        return value


def templates_from(settings: Mapping[str, Any]) -> dict[str, Template]:
    """``[plugins.channel_whatsapp.templates.<kind>]`` tables, checked (ValueError names the mistake)."""
    tables = settings.get("templates", {})
    where = f"[plugins.{PLUGIN}.templates"
    if not isinstance(tables, Mapping):
        raise ValueError(f"{where}] must be tables per message kind, e.g. {where}.case_handed_over]")
    found = {}
    for kind, table in tables.items():
        here = f"{where}.{kind}]"
        if not isinstance(table, Mapping):
            raise ValueError(f"{here} must be a table with name, language and parameters")
        unknown = sorted(set(table) - TEMPLATE_KEYS)
        if unknown:
            raise ValueError(f"{here} has unknown key {unknown[0]!r}; known: {', '.join(sorted(TEMPLATE_KEYS))}")
        name, language, parameters = table.get("name"), table.get("language"), table.get("parameters", [])
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,512}", name):
            raise ValueError(f"{here} name must be the approved template's name (lower case, digits, _), "
                             f"not {name!r}")
        if not isinstance(language, str) or not re.fullmatch(r"[a-z]{2,3}(?:_[A-Za-z]{2,4})?", language):
            raise ValueError(f"{here} language must be a code like 'de' or 'en_US', not {language!r}")
        if not isinstance(parameters, (list, tuple)) or not all(isinstance(p, str) for p in parameters):
            raise ValueError(f"{here} parameters must be a list of strings such as \"{{case_id}}\"")
        for parameter in parameters:
            try:
                fields = [f for _, f, spec, conv in string.Formatter().parse(parameter) if f is not None]
            except ValueError as exc:
                raise ValueError(f"{here} parameter {parameter!r} is not a valid template: {exc}") from None
            bad = next((f for f in fields if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", f)), None)
            if bad is not None:
                raise ValueError(f"{here} parameter {parameter!r}: {{{bad}}} must name a field of the message "
                                 f"({', '.join(MESSAGE_FIELDS)}) or of its data")
        found[str(kind)] = Template(str(kind), name, language, tuple(parameters))
    return found


@attrs.frozen
class TemplateTable:
    """``[plugins.channel_whatsapp.templates.<kind>]``: an approved template for one message kind."""

    name: str = ""
    language: str = ""
    parameters: list[str] = attrs.Factory(list)


@attrs.frozen
class WhatsAppTable:
    """``[plugins.channel_whatsapp]`` (the module docstring says what each key does). No table and
    no ``DEALERCRM_WHATSAPP_TOKEN``: the channel is not offered."""

    phone_number_id: str = ""
    token: str = secret_field("")
    base_url: str = DEFAULT_BASE_URL
    version: str = DEFAULT_VERSION
    timeout: float = 10
    app_secret: str = secret_field("")
    verify_token: str = secret_field("")
    window_hours: float = 24
    templates: dict[str, TemplateTable] = attrs.Factory(dict)


class WhatsAppChannel(HttpChannel):
    name = "whatsapp"
    consent_channel = "whatsapp"
    address_field = "phone"
    consent_required_for = frozenset({"service", "marketing"})

    def __init__(self, settings: Mapping[str, Any], environ: Mapping[str, str] | None = None, crm=None):
        self.crm = crm
        self.token = secret_setting(settings, "token", ENV_TOKEN, environ)
        self.app_secret = secret_setting(settings, "app_secret", ENV_APP_SECRET, environ)
        self.verify_token = secret_setting(settings, "verify_token", ENV_VERIFY_TOKEN, environ)
        self.phone_number_id = str(settings.get("phone_number_id") or "").strip()
        self.base_url = str(settings.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        self.version = str(settings.get("version") or DEFAULT_VERSION).strip("/")
        self.endpoint = f"{self.base_url}/{self.version}/{quote(self.phone_number_id, safe='')}/messages"
        self.gateway = Gateway(self.name, secrets=[self.token.reveal(), self.app_secret.reveal()])
        self.templates: dict[str, Template] = {}
        self.window = timedelta(hours=24)
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
            hours = number(settings, "window_hours", 24, PLUGIN)
            if hours > 24:
                raise ValueError(f"{where} window_hours is at most 24 (the Cloud API's window), not {hours:g}")
            self.window = timedelta(hours=hours)
            self.templates = templates_from(settings)
        except ValueError as exc:
            return f"misconfigured: {exc}"
        return None

    # -- sending ------------------------------------------------------------------------------
    def deliver(self, message: OutgoingMessage) -> DeliveryResult:
        to = re.sub(r"\D", "", message.recipient or "")
        if not to:
            return DeliveryResult.failed(f"whatsapp: message {message.id} has no phone number")
        last = self.last_heard(message.customer_id)
        now = self._now()
        if last is not None and now < last + self.window:
            if len(message.body) > MAX_TEXT:
                return DeliveryResult.failed(f"whatsapp: text of {len(message.body)} characters is longer than the "
                                             f"Cloud API's {MAX_TEXT}")
            body = {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": message.body}}
        else:
            kind = str((message.data or {}).get("template") or "default")
            template = self.templates.get(kind) or self.templates.get("default")
            heard = f"the customer last wrote at {last:%Y-%m-%d %H:%M} UTC" if last else "the customer never wrote"
            if template is None:
                return DeliveryResult.failed(
                    f"whatsapp: outside the {self.window.total_seconds() / 3600:g}-hour customer-service window "
                    f"({heard}), text is refused by the Cloud API, and no approved template is configured for "
                    f"{kind!r}: add [plugins.{PLUGIN}.templates.{kind}] (or .default) with name, language and "
                    "parameters")
            try:
                body = {"messaging_product": "whatsapp", "to": to, "type": "template",
                        "template": template.payload(message)}
            except KeyError as exc:
                return DeliveryResult.failed(f"whatsapp: template {template.name!r} ([plugins.{PLUGIN}.templates."
                                             f"{template.kind}]) uses {{{exc.args[0]}}}, which message {message.id} "
                                             "has no value for")
        headers = {"Authorization": f"Bearer {self.token.reveal()}", "Idempotency-Key": message.idempotency_key}
        return self.gateway.post(self.endpoint, json=body, headers=headers, transient=transient,
                                 provider_id=lambda answer: dotted(answer, "messages.0.id"))

    def _now(self) -> datetime:
        return self.crm.clock.now() if self.crm is not None else datetime.now(timezone.utc)

    def last_heard(self, customer_id: int | None) -> datetime | None:
        """When the customer last wrote to us on WhatsApp: the window opens then (None: never, or unknown)."""
        if customer_id is None or self.crm is None:
            return None
        with self.crm.read(self.crm.system) as uow:
            rows = uow.connection.execute(
                select(InboundMessage.received_at, InboundMessage.raw)
                .where(InboundMessage.channel == self.name, InboundMessage.customer_id == customer_id,
                       InboundMessage.status == "attached")
                .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc()).limit(RECENT)).all()
        heard = None
        for received_at, raw in rows:
            sent = _latest_timestamp(raw)
            at = min(received_at, sent) if sent is not None else received_at
            heard = at if heard is None else max(heard, at)
        return heard

    # -- receiving ----------------------------------------------------------------------------
    def authenticate_inbound(self, raw: str | bytes, headers: Mapping[str, str]) -> str | None:
        """Why a webhook is not Meta's (``X-Hub-Signature-256`` under the app secret), or None when it is."""
        if not self.app_secret:
            return (f"no app secret configured ([plugins.{PLUGIN}] app_secret or {ENV_APP_SECRET}): "
                    "the WhatsApp webhook accepts nothing")
        lower = {str(k).lower(): v for k, v in (headers or {}).items()}
        presented = (lower.get(SIGNATURE_HEADER.lower()) or "").strip().lower()
        if not presented:
            return f"no {SIGNATURE_HEADER} header"
        body = raw.encode("utf-8") if isinstance(raw, str) else raw
        expected = "sha256=" + hmac.new(self.app_secret.reveal().encode("utf-8"), body, hashlib.sha256).hexdigest()
        same = hmac.compare_digest(hashlib.sha256(presented.encode()).digest(),
                                   hashlib.sha256(expected.encode()).digest())
        return None if same else f"{SIGNATURE_HEADER} does not sign the body with the app secret"

    def verify_subscription(self, params: Mapping[str, str]) -> str | None:
        """Meta's GET handshake: the challenge, if ``hub.verify_token`` is ours; None refuses."""
        token, challenge = params.get("hub.verify_token") or "", params.get("hub.challenge") or ""
        if params.get("hub.mode") != "subscribe" or not self.verify_token:
            return None
        if not hmac.compare_digest(hashlib.sha256(token.encode()).digest(),
                                   hashlib.sha256(self.verify_token.reveal().encode()).digest()):
            return None
        return challenge if re.fullmatch(r"[A-Za-z0-9._-]{1,128}", challenge) else None

    def parse_inbound(self, raw: str | bytes, headers: Mapping[str, str]) -> ParsedInbound:
        body = raw.encode("utf-8") if isinstance(raw, str) else raw
        if self.app_secret:
            problem = self.authenticate_inbound(body, headers)
            if problem:
                raise ValueError(problem)
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
            raise ValueError("not a WhatsApp Cloud API notification (object 'whatsapp_business_account')")
        messages, statuses = [], []
        for entry in _list(payload.get("entry")):
            for change in _list(entry.get("changes") if isinstance(entry, dict) else None):
                value = change.get("value") if isinstance(change, dict) else None
                if isinstance(value, dict):
                    messages += [m for m in _list(value.get("messages")) if isinstance(m, dict)]
                    statuses += [s for s in _list(value.get("statuses")) if isinstance(s, dict)]
        if not messages:
            if statuses:
                whom = next((str(s.get("recipient_id")) for s in statuses if s.get("recipient_id")), None)
                raise InboundIgnored("delivery status: " + ", ".join(sorted({str(s.get("status")) for s in statuses})),
                                     sender=f"+{whom}" if whom and whom.isdigit() else whom)
            raise InboundIgnored("a notification without messages")
        senders = {str(m.get("from") or "") for m in messages}
        if len(senders) != 1:
            raise ValueError(f"{len(messages)} messages from {len(senders)} senders in one notification: "
                             "kept for a person to read")
        sender = senders.pop()
        if not re.fullmatch(r"\d{6,15}", sender):
            raise ValueError(f"'from' is not a WhatsApp number (digits with the country code): {sender[:20]!r}")
        data: dict[str, Any] = {"message_ids": [str(m.get("id")) for m in messages if m.get("id")]}
        replied = [ref for m in messages for ref in (dotted(m, "context.id"), dotted(m, "reaction.message_id")) if ref]
        case_id = self._case_of(replied)
        if case_id is not None:
            data["case_id"] = case_id
        return ParsedInbound(sender=f"+{sender}", text="\n".join(_text_of(m) for m in messages), data=data)

    def _case_of(self, wamids: list[str]) -> int | None:
        """The case of the message of ours a reply answers (its wamid is the outbox's provider id)."""
        if not wamids or self.crm is None:
            return None
        with self.crm.read(self.crm.system) as uow:
            return uow.connection.execute(
                select(OutboxMessage.case_id).where(OutboxMessage.channel == self.name,
                                                    OutboxMessage.provider_id.in_(wamids),
                                                    OutboxMessage.case_id.is_not(None)).limit(1)).scalar()


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _text_of(message: Mapping[str, Any]) -> str:
    """What the customer sent, as text: a text's body, a button's or list row's title, media by kind."""
    kind = str(message.get("type") or "unknown")
    if kind == "text":
        return dotted(message, "text.body") or ""
    if kind == "button":
        return dotted(message, "button.text") or dotted(message, "button.payload") or "(button)"
    if kind == "interactive":
        return (dotted(message, "interactive.button_reply.title") or dotted(message, "interactive.list_reply.title")
                or "(interactive reply)")
    if kind == "reaction":
        return f"(reaction {dotted(message, 'reaction.emoji') or ''})".replace(" )", ")")
    if kind == "location":
        place = " ".join(filter(None, (dotted(message, "location.name"), dotted(message, "location.address"))))
        return f"(location{': ' + place if place else ''})"
    caption = dotted(message, f"{kind}.caption") or dotted(message, f"{kind}.filename")
    return f"({kind})" + (f" {caption}" if caption else "")


def _latest_timestamp(raw: str | None) -> datetime | None:
    """The latest ``timestamp`` (Unix seconds) of the messages in a stored notification."""
    try:
        payload = json.loads(raw or "")
    except ValueError:
        return None
    stamps = []
    for entry in _list(payload.get("entry") if isinstance(payload, dict) else None):
        for change in _list(entry.get("changes") if isinstance(entry, dict) else None):
            value = change.get("value") if isinstance(change, dict) else None
            for m in _list(value.get("messages") if isinstance(value, dict) else None):
                stamp = str(m.get("timestamp") or "") if isinstance(m, dict) else ""
                if stamp.isascii() and stamp.isdigit() and len(stamp) <= 12:
                    stamps.append(datetime.fromtimestamp(int(stamp), timezone.utc))
    return max(stamps, default=None)


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
    channel = WhatsAppChannel(settings, crm=crm)
    if channel.problem:
        log.warning("%s: %s", channel.name, channel.problem)
    return [channel]


@hookimpl(trylast=True)
def dealercrm_register_settings():
    return {PLUGIN: WhatsAppTable}
