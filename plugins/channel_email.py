"""The e-mail channel: SMTP out (smtplib), RFC 5322 in.

Configuration: the ``[plugins.channel_email]`` table of dealercrm.toml; the five
settings marked with a variable are overridden by the environment::

    [plugins.channel_email]
    host = "mail.example.org"   # DEALERCRM_SMTP_HOST      (default "localhost")
    port = 587                  # DEALERCRM_SMTP_PORT      (default 465 with ssl, 587 with starttls, else 25)
    starttls = true             # upgrade with STARTTLS, never falling back to plain text (default false)
    ssl = false                 # implicit TLS from the first byte, "SMTPS" (default false)
    ca_file = "/etc/ssl/mail-ca.pem"  # trust this CA instead of the system's (optional)
    username = "crm@example.org"      # DEALERCRM_SMTP_USER      (AUTH only when set)
    password = "…"                    # DEALERCRM_SMTP_PASSWORD  (better from the environment)
    timeout = 30                # seconds per SMTP operation
    from_address = "service@autohaus.example"  # DEALERCRM_SMTP_FROM, also "Name <address>"
    from_name = "Autohaus Beispiel"            # display name (default: [dealercrm] home_dealer)
    reply_to = "werkstatt@autohaus.example"    # optional Reply-To
    message_id_domain = "autohaus.example"     # right of the @ in Message-IDs (default: from_address's)
    helo_name = "crm.autohaus.example"         # EHLO name (default: message_id_domain)
    language = "de"             # "de" or "en" (default: [dealercrm] language); data["language"] wins
    html = true                 # also send an HTML alternative (the text part is always there)
    templates_dir = "/etc/dealercrm/mail"      # your own templates, same names as the built-in ones

The password never appears in a log line, a repr or an error message.

Sending: one SMTP connection is kept for all messages of a dispatch run (the
dispatcher calls ``close()`` at its end); a connection the server dropped while idle is
replaced once, transparently. Every message carries ``Message-ID: <key@domain>`` made
from its idempotency key, and ``X-Dealercrm-Idempotency-Key``, so a resend after a
crash is the same message to the receiver. Refused connections, timeouts, disconnects
and 4xx answers mean "retry later"; a 5xx answer to MAIL, RCPT or DATA fails the
message (a person gets a task). The provider id is the server's queue id when its
answer names one ("queued as …"), else the Message-ID.

Templates (Jinja2, HTML autoescaped): ``message.<lang>.txt|html`` wraps the outbox
message's subject and body; ``data["template"]`` (e.g. ``case_handed_over``) chooses a
richer one when it exists.

Marketing e-mail to a customer carries ``List-Unsubscribe: <…/unsubscribe/<token>>`` and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058; the token is signed per
customer and channel, ``dealercrm.unsubscribe``), and the link in its footer
(``unsubscribe_url`` in the templates' context); service mail carries neither. It needs
``[unsubscribe] base_url`` and ``secret`` (``DEALERCRM_UNSUBSCRIBE_SECRET``); without them
marketing mail goes out without the header and a warning is logged once. Mail providers
honour one-click only on DKIM-signed mail whose signature covers both headers: sign at
your mail server. Receiving: ``parse_inbound`` reads an RFC 5322 message; a
reply to one of our messages (In-Reply-To/References) finds the case it was about; an
automatic answer (``Auto-Submitted`` other than ``no``, ``X-Autoreply``, ``Precedence:
auto_reply``) is marked ``data["auto_submitted"]``, so it opens no case and opts out of
nothing.
"""

from __future__ import annotations

import binascii
import email
import email.message
import email.policy
import hashlib
import logging
import os
import re
import smtplib
import ssl
from collections.abc import Mapping
from email.utils import format_datetime, formataddr, parseaddr
from html.parser import HTMLParser
from typing import Any

import attrs
import jinja2
from sqlalchemy import select

from dealercrm import ValidationError, hookimpl
from dealercrm.settings import secret_field
from dealercrm.channels import DeliveryResult, OutgoingMessage, ParsedInbound
from dealercrm.db.outbox_models import OutboxMessage

log = logging.getLogger("dealercrm.plugins.channel_email")

ENV = {"host": "DEALERCRM_SMTP_HOST", "port": "DEALERCRM_SMTP_PORT", "username": "DEALERCRM_SMTP_USER",
       "password": "DEALERCRM_SMTP_PASSWORD", "from_address": "DEALERCRM_SMTP_FROM"}
LANGUAGES = ("de", "en")
SAFE_KEY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_+=-]|\.(?!\.))*")
QUEUE_ID = re.compile(rb"queued as ([A-Za-z0-9._-]+)", re.IGNORECASE)


def _hide(value: str | None) -> str:
    return "'***'" if value else "None"


@attrs.frozen
class EmailTable:
    """``[plugins.channel_email]`` as the installation writes it (the module docstring says what
    each key does). Unset keys follow other settings when the channel is built
    (``EmailSettings.load``): the port the TLS mode, ``from_name`` the home dealer,
    ``language`` the installation's, ``message_id_domain`` and ``helo_name`` the sender's domain.
    No table and none of the ``DEALERCRM_SMTP_*`` variables: the channel is not offered."""

    host: str = "localhost"
    port: int | None = None
    starttls: bool = False
    ssl: bool = False
    ca_file: str | None = None
    username: str | None = None
    password: str | None = secret_field(None)
    timeout: float = 30.0
    from_address: str = "dealercrm@localhost"
    from_name: str | None = None
    reply_to: str | None = None
    message_id_domain: str | None = None
    helo_name: str | None = None
    language: str | None = None
    html: bool = True
    templates_dir: str | None = None


@attrs.frozen
class EmailSettings:
    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    ssl: bool = False
    ca_file: str | None = None
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=_hide)
    timeout: float = 30.0
    from_address: str = "dealercrm@localhost"
    from_name: str = ""
    reply_to: str | None = None
    message_id_domain: str = "localhost"
    helo_name: str = "localhost"
    language: str = "de"
    html: bool = True
    templates_dir: str | None = None

    @classmethod
    def load(cls, table: Mapping[str, Any], env: Mapping[str, str] = os.environ, *,
             home_dealer: str = "", language: str = "de") -> EmailSettings:
        """The plugin's settings table with the environment's overrides applied, checked."""
        values = dict(table)
        known = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValidationError("setting", f"plugins.channel_email.{unknown[0]}", f"unknown; known: {sorted(known)}")
        values.update({key: env[var] for key, var in ENV.items() if env.get(var)})
        if values.get("ssl") and values.get("starttls"):
            raise ValidationError("setting", "plugins.channel_email.ssl",
                                  "ssl (implicit TLS) and starttls exclude each other; choose one")
        name, address = parseaddr(str(values.get("from_address", "dealercrm@localhost")))
        if "@" not in address:
            raise ValidationError("setting", "plugins.channel_email.from_address",
                                  f"{values.get('from_address')!r} is not an e-mail address")
        values["from_address"] = address
        if name:  # "Name <address>" names the sender too
            values["from_name"] = name
        values.setdefault("from_name", home_dealer)
        values.setdefault("port", 465 if values.get("ssl") else 587 if values.get("starttls") else 25)
        try:
            values["port"], values["timeout"] = int(values["port"]), float(values.get("timeout", 30))
        except (TypeError, ValueError):
            raise ValidationError("setting", "plugins.channel_email.port/timeout",
                                  f"port {values['port']!r} / timeout {values.get('timeout')!r} must be numbers") from None
        values.setdefault("message_id_domain", _ascii_domain(address.rpartition("@")[2]))
        values.setdefault("helo_name", values["message_id_domain"])
        values.setdefault("language", language)
        return cls(**values)


def _ascii_domain(domain: str) -> str:
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def message_id(key: str, domain: str) -> str:
    """``<key@domain>``, the same on every (re)send of the outbox message with this key."""
    if len(key) > 200 or not SAFE_KEY.fullmatch(key) or key.endswith("."):
        key = "k-" + hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"<{key}@{domain}>"


# -- templates --------------------------------------------------------------------------------
_FOOTER = {
    "de": "Sie erhalten diese Nachricht, weil Sie uns Ihre Einwilligung gegeben haben. "
          "Antworten Sie mit „Abmelden“, wenn Sie keine weiteren Angebote wünschen.",
    "en": "You receive this message because you agreed to hear from us. "
          "Reply with \"unsubscribe\" if you do not want any further offers.",
}
_ONE_CLICK = {"de": "Mit einem Klick abmelden", "en": "Unsubscribe with one click"}
_CASE = {
    "de": ("Ihre Fallnummer", "Bitte lassen Sie beim Antworten den Betreff unverändert, dann landet Ihre "
                              "Nachricht direkt bei Ihrem Fall."),
    "en": ("Your case number", "Please keep the subject when you reply, so your message goes straight to "
                               "your case."),
}
TEMPLATES = {
    "base.html": (
        '<!DOCTYPE html>\n<html lang="{{ language }}"><head><meta charset="utf-8"><title>{{ subject }}</title>'
        '</head>\n<body style="font-family:Arial,sans-serif;line-height:1.5;color:#222">\n'
        '{% block content %}{% for para in body.split("\\n\\n") %}<p>{% for line in para.split("\\n") %}'
        '{{ line }}{% if not loop.last %}<br>{% endif %}{% endfor %}</p>\n{% endfor %}{% endblock %}'
        '<p style="color:#666;border-top:1px solid #ddd;padding-top:8px">{{ sender_name }}'
        '{% block footer %}{% endblock %}</p>\n</body></html>\n'),
}
for _lang in LANGUAGES:
    _label, _hint = _CASE[_lang]
    TEMPLATES |= {
        f"message.{_lang}.txt": (
            "{% block content %}{{ body }}{% endblock %}\n\n-- \n{{ sender_name }}\n"
            f'{{% if purpose == "marketing" %}}{_FOOTER[_lang]}\n'
            f'{{% if unsubscribe_url %}}{_ONE_CLICK[_lang]}: {{{{ unsubscribe_url }}}}\n{{% endif %}}{{% endif %}}'),
        f"message.{_lang}.html": (
            '{% extends "base.html" %}{% block footer %}{% if purpose == "marketing" %}<br>'
            f'{_FOOTER[_lang]}{{% if unsubscribe_url %}}<br><a href="{{{{ unsubscribe_url }}}}">{_ONE_CLICK[_lang]}</a>'
            '{% endif %}{% endif %}{% endblock %}'),
        f"case_handed_over.{_lang}.txt": (
            f'{{% extends "message.{_lang}.txt" %}}{{% block content %}}{{{{ super() }}}}\n\n'
            f"{_label}: {{{{ data.case_id }}}}\n{_hint}{{% endblock %}}"),
        f"case_handed_over.{_lang}.html": (
            f'{{% extends "message.{_lang}.html" %}}{{% block content %}}'
            f'<p style="font-size:1.2em"><strong>{_label}: {{{{ data.case_id }}}}</strong></p>\n'
            f"{{{{ super() }}}}<p>{_hint}</p>\n{{% endblock %}}"),
    }
DEFAULT_SUBJECT = {"de": "Nachricht von {sender}", "en": "Message from {sender}"}


class Templates:
    """The built-in templates, behind an installation's own ``templates_dir`` if set."""

    def __init__(self, templates_dir: str | None = None):
        loaders: list[jinja2.BaseLoader] = [jinja2.DictLoader(TEMPLATES)]
        if templates_dir:
            loaders.insert(0, jinja2.FileSystemLoader(templates_dir))
        self.env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), keep_trailing_newline=True,
                                      autoescape=jinja2.select_autoescape(["html"], default_for_string=False))
        self._chosen: dict[tuple[str, str, str], jinja2.Template] = {}

    def render(self, name: str | None, language: str, kind: str, context: Mapping[str, Any]) -> str:
        key = (name or "message", language, kind)
        template = self._chosen.get(key)
        if template is None:
            try:
                template = self.env.get_template(f"{key[0]}.{language}.{kind}")
            except jinja2.TemplateNotFound:  # no richer template for this: the plain one
                template = self.env.get_template(f"message.{language}.{kind}")
            self._chosen[key] = template
        return template.render(context)


# -- the channel --------------------------------------------------------------------------------
class _IdleDropped(Exception):
    """A kept connection was closed by the server before this message began."""


class EmailChannel:
    name = "email"
    purposes = frozenset({"service", "marketing"})
    consent_channel = "email"
    address_field = "email"
    consent_required_for = frozenset()

    def __init__(self, crm, settings: EmailSettings):
        self.crm, self.settings = crm, settings
        self.templates = Templates(settings.templates_dir)
        self._from = "From: " + formataddr((settings.from_name, settings.from_address), charset="utf-8")
        self._fixed_headers = [f"Reply-To: {_one_line(settings.reply_to)}"] if settings.reply_to else []
        self._smtp: smtplib.SMTP | None = None
        self._tls: ssl.SSLContext | None = None
        self._stage = ""
        self._links = crm.inbound.links  # [unsubscribe]: checked now, so a mistake names itself at start
        self._warned = False

    def __repr__(self) -> str:
        return f"<EmailChannel {self.settings!r}>"

    # -- composing ------------------------------------------------------------------------------
    def language(self, message: OutgoingMessage) -> str:
        wanted = str(message.data.get("language") or self.settings.language or "de")[:2].lower()
        return wanted if wanted in LANGUAGES else "en"

    def compose(self, message: OutgoingMessage) -> tuple[bytes, str, bool]:
        """The message as bytes for DATA, its Message-ID, and whether it needs SMTPUTF8.

        Written out directly (7bit: RFC 2047 headers, quoted-printable parts): the email
        package's modern API costs ~3.7 ms a message here, ten times the SMTP exchange.
        The boundary comes from the key, so a resend is the same bytes but for the Date.
        """
        language, domain = self.language(message), self.settings.message_id_domain
        local, _, host = message.recipient.rpartition("@")
        recipient, utf8 = f"{local}@{_ascii_domain(host)}", not local.isascii()
        subject = _one_line(message.subject) or DEFAULT_SUBJECT[language].format(
            sender=self.settings.from_name or domain)
        unsubscribe = self.unsubscribe_headers(message)
        context = {"subject": subject, "body": message.body, "data": message.data, "purpose": message.purpose,
                   "language": language, "sender_name": self.settings.from_name, "case_id": message.case_id,
                   "unsubscribe_url": self._links.url(message.customer_id, "email") if unsubscribe else None}
        template = message.data.get("template")
        mid = message_id(message.idempotency_key, domain)
        key = message.idempotency_key
        head = [self._from, f"To: {_one_line(recipient)}", f"Subject: {_encode_header(subject)}",
                f"Date: {format_datetime(self.crm.clock.now())}", f"Message-ID: {mid}",
                f"X-Dealercrm-Idempotency-Key: {_encode_header(key)}",
                *self._fixed_headers, *(["Auto-Submitted: auto-generated"] if template else []),
                *(f"{name}: {value}" for name, value in unsubscribe.items()), "MIME-Version: 1.0"]
        # a notification the system made asks for no out-of-office answers (Auto-Submitted, RFC 3834)
        text = _part("plain", self.templates.render(template, language, "txt", context))
        if self.settings.html:
            boundary = "=_" + hashlib.sha1(key.encode()).hexdigest()[:24]  # "=_" never occurs in QP
            html = _part("html", self.templates.render(template, language, "html", context))
            head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n')
            body = f"--{boundary}\r\n{text}\r\n--{boundary}\r\n{html}\r\n--{boundary}--\r\n"
        else:
            body = text
        return ("\r\n".join(head) + "\r\n" + body).encode(), mid, utf8

    def unsubscribe_headers(self, message: OutgoingMessage) -> dict[str, str]:
        """``List-Unsubscribe`` and ``List-Unsubscribe-Post`` (RFC 8058 one-click) on marketing mail to a
        customer; none on service mail, which the customer cannot and need not unsubscribe from."""
        if message.purpose != "marketing" or message.customer_id is None:
            return {}
        if not self._links.configured:
            if not self._warned:
                self._warned = True
                log.warning("marketing e-mail goes out without List-Unsubscribe: set [unsubscribe] base_url and "
                            "secret (or DEALERCRM_UNSUBSCRIBE_SECRET) to offer the one-click link")
            return {}
        return self._links.headers(message.customer_id, "email")

    # -- sending --------------------------------------------------------------------------------
    def send(self, message: OutgoingMessage) -> DeliveryResult:
        if "@" not in message.recipient:
            return DeliveryResult.failed(f"no e-mail address: {message.recipient!r}")
        content, mid, utf8 = self.compose(message)
        local, _, host = message.recipient.rpartition("@")
        recipient = f"{local}@{_ascii_domain(host)}"
        for _ in range(2):
            reused = self._smtp is not None
            try:
                return self._transmit(self._open(), recipient, content, mid, utf8, reused)
            except _IdleDropped:
                self._drop()  # once more, on a fresh connection
            except smtplib.SMTPNotSupportedError as exc:
                self._drop()
                if self._stage.startswith("MAIL"):
                    return DeliveryResult.failed(f"{recipient} needs SMTPUTF8, which the server does not offer")
                return DeliveryResult.retry(self._describe(exc))  # e.g. no STARTTLS offered: never in plain text
            except (OSError, smtplib.SMTPException) as exc:  # refused, timeout, disconnect, TLS, 4xx/5xx greeting, AUTH
                self._drop()
                return DeliveryResult.retry(self._describe(exc))
        return DeliveryResult.retry("the server closed every connection before MAIL FROM")

    def _transmit(self, smtp: smtplib.SMTP, recipient: str, content: bytes, mid: str, utf8: bool,
                  reused: bool) -> DeliveryResult:
        self._stage = "MAIL FROM"
        try:
            code, reply = smtp.mail(self.settings.from_address, ["SMTPUTF8", "BODY=8BITMIME"] if utf8 else [])
        except smtplib.SMTPServerDisconnected:
            if reused:
                raise _IdleDropped from None
            raise
        if code == 421 and reused:
            raise _IdleDropped
        if code != 250:
            return self._refused(smtp, code, reply)
        self._stage = f"RCPT TO {recipient}"
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            return self._refused(smtp, code, reply)
        self._stage = "DATA"
        try:
            code, reply = smtp.data(content)
        except smtplib.SMTPDataError as exc:  # DATA itself was not answered with 354
            code, reply = exc.smtp_code, exc.smtp_error
        if code != 250:
            return self._refused(smtp, code, reply)
        if utf8:
            smtp.command_encoding = "ascii"
        found = QUEUE_ID.search(reply or b"")
        return DeliveryResult.delivered(found.group(1).decode() if found else mid)

    def _refused(self, smtp: smtplib.SMTP, code: int, reply: bytes) -> DeliveryResult:
        why = self._scrub(f"{self._stage}: {code} {reply.decode('utf-8', 'replace')}")
        if code == 421:  # the server is closing the connection
            self._drop()
        else:
            try:
                smtp.rset()
            except (OSError, smtplib.SMTPException):
                self._drop()
        return DeliveryResult.failed(why) if 500 <= code < 600 else DeliveryResult.retry(why)

    def _open(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        s = self.settings
        self._stage = "connect"
        if (s.ssl or s.starttls) and self._tls is None:
            self._tls = ssl.create_default_context(cafile=s.ca_file)
        if s.ssl:
            smtp = smtplib.SMTP_SSL(s.host, s.port, local_hostname=s.helo_name, timeout=s.timeout, context=self._tls)
        else:
            smtp = smtplib.SMTP(s.host, s.port, local_hostname=s.helo_name, timeout=s.timeout)
        try:
            self._stage = "EHLO"
            smtp.ehlo_or_helo_if_needed()
            if s.starttls:
                self._stage = "STARTTLS"
                smtp.starttls(context=self._tls)
                smtp.ehlo()
            if s.username:
                self._stage = f"AUTH as {s.username}"
                smtp.login(s.username, s.password or "")
        except BaseException:
            smtp.close()
            raise
        log.debug("connected to %s:%s (tls=%s, user=%s)", s.host, s.port, s.ssl or s.starttls, s.username)
        self._smtp = smtp
        return smtp

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    def close(self) -> None:
        """End the run's connection politely (the dispatcher calls this when it is done)."""
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._drop()

    def _describe(self, exc: BaseException) -> str:
        s = self.settings
        return self._scrub(f"smtp {s.host}:{s.port}, {self._stage}: {type(exc).__name__}: {exc}")

    def _scrub(self, text: str) -> str:
        password = self.settings.password
        return text.replace(password, "***") if password else text

    # -- receiving ------------------------------------------------------------------------------
    def parse_inbound(self, raw: str | bytes, headers: Mapping[str, str]) -> ParsedInbound:
        msg = (email.message_from_bytes(raw, policy=email.policy.default) if isinstance(raw, bytes)
               else email.message_from_string(raw, policy=email.policy.default))
        if msg["From"] is None:
            first = (raw if isinstance(raw, str) else raw.decode("utf-8", "replace")).strip().split("\n", 1)[0]
            raise ValueError(f"not an RFC 5322 message: no From header (begins {first[:60]!r})")
        addresses = getattr(msg["From"], "addresses", ())
        sender = addresses[0].addr_spec if addresses else parseaddr(str(msg["From"]))[1]
        if "@" not in sender:
            raise ValueError(f"not an RFC 5322 message: From {str(msg['From'])[:80]!r} holds no address")
        data: dict[str, Any] = {"message_id": _header(msg, "Message-ID"), "in_reply_to": _header(msg, "In-Reply-To")}
        automatic = _automatic(msg)
        if automatic:  # an out-of-office answer: on the timeline, but it opens nothing and opts out of nothing
            data["auto_submitted"] = automatic
        replied = self._our_message(f"{data['in_reply_to'] or ''} {_header(msg, 'References') or ''}")
        if replied is not None:
            data.update(reply_to_message=replied.id, **({"case_id": replied.case_id} if replied.case_id else {}))
        return ParsedInbound(sender=sender, subject=_header(msg, "Subject"), text=_text_of(msg), data=data)

    def _our_message(self, ids: str):
        """The outbox message a reply answers, found by our Message-ID in its headers."""
        keys = [k for k, d in re.findall(r"<([^<>@\s]+)@([^<>\s]+)>", ids) if d == self.settings.message_id_domain]
        if not keys:
            return None
        with self.crm.read(self.crm.system) as uow:
            return uow.connection.execute(select(OutboxMessage.id, OutboxMessage.case_id)
                                          .where(OutboxMessage.idempotency_key.in_(keys))).first()


def _automatic(msg: email.message.Message) -> str | None:
    """Why a message was sent by a program, not a person (RFC 3834 ``Auto-Submitted``, and what
    mail programs use instead), or None."""
    auto = (_header(msg, "Auto-Submitted") or "").lower()
    if auto and auto != "no":
        return auto
    if _header(msg, "X-Autoreply") or _header(msg, "X-Autorespond"):
        return "auto-replied"
    precedence = (_header(msg, "Precedence") or "").lower()
    return precedence if precedence in ("auto_reply", "bulk", "junk", "list") else None


def _one_line(value: str | None) -> str:
    """A header value can never carry a line break (no header injection from a subject)."""
    return " ".join(value.split()) if value else ""


def _encode_header(value: str) -> str:
    """RFC 2047 encoded words (base64, at most 75 characters each, folded) where needed."""
    value = _one_line(value)
    if value.isascii() and len(value) < 900:
        return value
    words, chunk, size = [], [], 0
    for char in value:
        width = len(char.encode())
        if size + width > 45:  # 45 bytes are 60 base64 characters: a word stays within 75
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(char)
        size += width
    words.append("".join(chunk))
    return "\r\n ".join(f"=?utf-8?b?{binascii.b2a_base64(w.encode(), newline=False).decode()}?=" for w in words)


def _part(subtype: str, content: str) -> str:
    """One text part: its headers, a blank line, the content quoted-printable with CRLF."""
    lines = content.replace("\r\n", "\n").replace("\r", "\n").encode()
    encoded = binascii.b2a_qp(lines, istext=True).decode("ascii").replace("\n", "\r\n")
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n'
            f"\r\n{encoded}")


def _header(msg: email.message.Message, name: str) -> str | None:
    value = msg[name]
    return str(value).strip() if value is not None else None


def _text_of(msg: email.message.Message) -> str:
    """The plain-text part, or the HTML part as text; lines quoted from earlier mails left out."""
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):  # an unknown or lying charset: keep what can be read
        content = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
    if part.get_content_subtype() == "html":
        stripper = _HtmlText()
        stripper.feed(content)
        content = stripper.text()
    return "\n".join(line for line in content.splitlines() if not line.lstrip().startswith(">")).strip()


class _HtmlText(HTMLParser):
    BREAKS = {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "blockquote"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in ("script", "style")
        if tag in self.BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        self.hidden -= tag in ("script", "style") and self.hidden > 0
        if tag in self.BREAKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).splitlines())
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def configured(table: Mapping[str, Any], env: Mapping[str, str] = os.environ) -> bool:
    """Did the installation ask for e-mail at all: a ``[plugins.channel_email]`` table or one of the
    ``DEALERCRM_SMTP_*`` variables? Without either there is nowhere to send to (an SMTP server on
    localhost:25 is a guess, and a wrong one keeps messages retrying for hours)."""
    return bool(table) or any(env.get(var) for var in ENV.values())


@hookimpl(trylast=True)
def dealercrm_register_settings():
    return {"channel_email": EmailTable}


@hookimpl(trylast=True)
def dealercrm_register_consent_channels():
    """E-mail consent can be recorded before the channel is configured."""
    return ["email"]


@hookimpl(trylast=True)
def dealercrm_register_channels(crm):
    table = crm.settings.plugin("channel_email")
    if not configured(table):
        log.info("email channel not offered: nothing configured in [plugins.channel_email] or %s",
                 ", ".join(ENV.values()))
        return []
    settings = EmailSettings.load(table, os.environ, home_dealer=crm.settings.home_dealer,
                                  language=crm.settings.language)
    return [EmailChannel(crm, settings)]
