"""Who may post to ``/inbound/<channel>``: every channel's senders authenticate, or nothing is stored.

A provider (or a relay in front of it) cannot hold an API key, so each inbound channel
has its own way to prove a request comes from it, configured in ``[inbound.<channel>]``::

    [inbound.email]                          # e.g. an SMTP-to-HTTP relay (docs/http.md)
    auth = "secret"                          # "secret" (default), "hmac-sha256" or "dealercrm"
    secret = "…"                             # DEALERCRM_INBOUND_EMAIL_SECRET wins; a list allows rotation
    header = "X-Dealercrm-Inbound-Secret"    # where the secret or the signature is sent
    prefix = "sha256="                       # hmac-sha256: what precedes the hex digest
    tolerance_seconds = 300                  # dealercrm: how far the signed timestamp may be from now

- ``secret``: the header carries the shared secret itself (with ``header =
  "Authorization"``, as ``Bearer <secret>``). It is checked from the headers alone,
  before the body is read.
- ``hmac-sha256``: the header carries ``prefix`` + the hex HMAC-SHA256 of the raw body
  under the secret — the scheme of Meta's ``X-Hub-Signature-256`` (WhatsApp Cloud API)
  and of many relays.
- ``dealercrm``: ``X-Dealercrm-Timestamp`` and ``X-Dealercrm-Signature`` as the webhook
  channel signs (``dealercrm.signing``): the timestamp is signed too, so a recorded
  request cannot be replayed after ``tolerance_seconds``.

The environment variable ``DEALERCRM_INBOUND_<CHANNEL>_SECRET`` (upper case, ``-`` as
``_``) wins over ``secret`` and is enough on its own (``auth = "secret"``). A channel
without a table uses the channel's own check if it has one (``authenticate_inbound``:
the webhook channel verifies its ``inbound_secret``); otherwise, and for a table without
a secret, the channel accepts nothing: closed by default. Every comparison is
constant-time; a refused request is answered 401 and nothing of it is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..errors import ValidationError
from ..services.inbound import SETTINGS_KEYS
from ..signing import SIGNATURE, TIMESTAMP, signature_problem

log = logging.getLogger("dealercrm.http.inbound")
CHANNEL_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
SCHEMES = ("secret", "hmac-sha256", "dealercrm")
DEFAULT_HEADER = {"secret": "X-Dealercrm-Inbound-Secret", "hmac-sha256": "X-Hub-Signature-256",
                  "dealercrm": SIGNATURE}
KEYS = {"auth", "secret", "header", "prefix", "tolerance_seconds"}
NOT_CHANNELS = set(SETTINGS_KEYS)  # other keys of [inbound]: what a message does (services/inbound.py)


def env_name(channel: str) -> str:
    return f"DEALERCRM_INBOUND_{channel.upper().replace('-', '_')}_SECRET"


def _digest(value: str | bytes) -> bytes:
    """Compared as digests: equal length whatever was sent, so the comparison leaks no length."""
    return hashlib.sha256(value.encode("utf-8") if isinstance(value, str) else value).digest()


@attrs.frozen(repr=False)
class InboundAuth:
    """One channel's configured sender authentication (its secrets never in a repr or log)."""

    channel: str
    scheme: str
    secrets: tuple[str, ...]
    header: str
    prefix: str = ""
    tolerance: float = 300.0

    def __repr__(self) -> str:
        return f"InboundAuth({self.channel!r}, {self.scheme!r}, {len(self.secrets)} secret(s), header={self.header!r})"

    @property
    def needs_body(self) -> bool:
        return self.scheme != "secret"

    def problem(self, headers: Mapping[str, str], body: bytes | None, now: float | None = None) -> str | None:
        """Why the request is not authentic, or None when it is (``body`` only for the signing schemes)."""
        if not self.secrets:
            return f"no secret configured for inbound channel {self.channel!r}: it accepts nothing"
        lower = {str(k).lower(): v for k, v in headers.items()}
        if self.scheme == "dealercrm":
            verdicts = [signature_problem(s, body or b"", lower.get(TIMESTAMP.lower()), lower.get(SIGNATURE.lower()),
                                          self.tolerance, now) for s in self.secrets]
            return None if None in verdicts else verdicts[0]
        presented = lower.get(self.header.lower())
        if presented is None:
            return f"no {self.header} header"
        presented = presented.strip()
        if self.scheme == "secret":
            if self.header.lower() == "authorization":
                scheme, _, presented = presented.partition(" ")
                if scheme.lower() != "bearer":
                    return "Authorization is not 'Bearer <secret>'"
                presented = presented.strip()
            matches = [hmac.compare_digest(_digest(presented), _digest(s)) for s in self.secrets]
            return None if any(matches) else f"wrong secret in {self.header}"
        # hmac-sha256 of the raw body
        expected = [self.prefix.lower() + hmac.new(s.encode("utf-8"), body or b"", hashlib.sha256).hexdigest()
                    for s in self.secrets]
        matches = [hmac.compare_digest(_digest(presented.lower()), _digest(e)) for e in expected]
        return None if any(matches) else f"{self.header} does not sign the body"


class ChannelAuth:
    """A channel's own check (``authenticate_inbound``), used when ``[inbound.<channel>]`` is absent."""

    needs_body = True

    def __init__(self, check: Callable[[bytes, Mapping[str, str]], str | None]):
        self.check = check

    def problem(self, headers: Mapping[str, str], body: bytes | None, now: float | None = None) -> str | None:
        return self.check(body or b"", dict(headers))


class Refuse:
    """A channel that takes inbound messages but has no way to authenticate them: closed."""

    needs_body = False

    def __init__(self, channel: str):
        self.channel = channel

    def problem(self, headers: Mapping[str, str], body: bytes | None, now: float | None = None) -> str | None:
        return (f"inbound channel {self.channel!r} has no sender authentication configured "
                f"([inbound.{self.channel}] secret or {env_name(self.channel)}): it accepts nothing")


class InboundAuthenticators:
    """Each inbound channel's authentication, read from the settings once (a mistake fails at start-up)."""

    def __init__(self, inbound: Mapping[str, Any], environ: Mapping[str, str] | None = None,
                 source: str = "settings"):
        self.env = os.environ if environ is None else environ
        self.source = source
        self.configured: dict[str, InboundAuth] = {}
        for name, table in inbound.items():
            if name in NOT_CHANNELS:
                continue
            if not isinstance(table, Mapping):
                raise ValidationError("settings key", f"inbound.{name}",
                                      f"must be a table [inbound.{name}] with auth and secret ({source})")
            self.configured[name] = parse(name, table, self.env, source)
        for key in self.env:  # a secret in the environment alone configures auth = "secret": checked now
            if key.startswith("DEALERCRM_INBOUND_") and key.endswith("_SECRET") and self.env[key]:
                parse(key[len("DEALERCRM_INBOUND_"):-len("_SECRET")].lower(), {}, self.env, source)
        for auth in self.configured.values():
            if not auth.secrets:
                log.warning("inbound channel %r: no secret configured ([inbound.%s] secret or %s); it accepts "
                            "nothing", auth.channel, auth.channel, env_name(auth.channel))

    def for_channel(self, name: str, channel: Any):
        """How ``name``'s senders authenticate; None if ``channel`` takes no inbound messages."""
        if not callable(getattr(channel, "parse_inbound", None)):
            return None
        if name not in self.configured and self.env.get(env_name(name)):  # a channel registered since
            self.configured[name] = parse(name, {}, self.env, self.source)
        if name in self.configured:
            return self.configured[name]
        own = getattr(channel, "authenticate_inbound", None)
        return ChannelAuth(own) if callable(own) else Refuse(name)


def parse(name: str, table: Mapping[str, Any], env: Mapping[str, str], source: str = "settings") -> InboundAuth:
    where = f"[inbound.{name}] of {source}"
    unknown = set(table) - KEYS
    if unknown:
        raise ValidationError("settings key", sorted(unknown)[0], f"unknown in {where}; known: {sorted(KEYS)}")
    scheme = table.get("auth", "secret")
    if scheme not in SCHEMES:
        raise ValidationError("auth", scheme, f"must be one of {', '.join(SCHEMES)} in {where}")
    raw = env.get(env_name(name)) or table.get("secret")
    values = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, (list, tuple)) else []
    if raw is not None and (not values or not all(isinstance(v, str) for v in values)):
        raise ValidationError("secret", "(hidden)", f"must be a string or a list of strings in {where}")
    secrets = tuple(v for v in values if v)
    if any(len(s) < 16 for s in secrets):
        raise ValidationError("secret", "(hidden)", f"is shorter than 16 characters in {where}: use a long random "
                              "value, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
    header = table.get("header", DEFAULT_HEADER[scheme])
    prefix = table.get("prefix", "sha256=" if scheme == "hmac-sha256" else "")
    if not isinstance(header, str) or not re.fullmatch(r"[A-Za-z0-9-]{1,64}", header):
        raise ValidationError("header", header, f"must be an HTTP header name in {where}")
    if not isinstance(prefix, str):
        raise ValidationError("prefix", prefix, f"must be a string in {where}")
    tolerance = table.get("tolerance_seconds", 300)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance > 0:
        raise ValidationError("tolerance_seconds", tolerance, f"must be a positive number in {where}")
    return InboundAuth(name, scheme, secrets, header, prefix, float(tolerance))

