"""Sending over HTTP for the webhook, SMS and WhatsApp channels: one error mapping.

What an HTTP API answers becomes a ``DeliveryResult`` the same way for all three:

==============================================  =========================================
connection refused/reset, DNS, proxy, timeout   retry  ("sms: connection failed: ConnectError …")
HTTP 408, 429, 5xx                              retry  ("sms: HTTP 503: <short reason>")
other HTTP 4xx, 3xx, an unusable URL            failed ("sms: HTTP 400: <short reason>")
HTTP 2xx                                        delivered, with the provider's id if the answer has one
==============================================  =========================================

Secrets (tokens, signing secrets) are kept in ``Secret`` (its repr is ``Secret('***')``),
travel only in headers, and are cut out of every error text before it reaches the
outbox, the timeline, a task or a log line — gateways like to echo a request back.
Errors name the gateway by scheme, host and port only, never its full URL (a path can
be a credential, as in chat webhooks). httpx itself logs request URLs at INFO: put
tokens in the ``token`` setting, never into a URL.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dealercrm.channels import DeliveryResult, OutgoingMessage
from dealercrm.egress import TargetRefused

if TYPE_CHECKING:  # httpx is imported on first send: connect() and the CLI stay quick
    import httpx

RETRY_STATUS = frozenset({408, 425, 429})
SHORT = 200
PLAIN_TOKEN = re.compile(r"[\x21-\x7e]+")  # printable ASCII without spaces: safe in a header


class Secret:
    """A string that does not show itself in reprs, f-strings or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None):
        self._value = value or ""

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


def secret_setting(settings: Mapping[str, Any], key: str, env_var: str,
                   environ: Mapping[str, str] | None = None) -> Secret:
    """The environment variable wins over the settings file (keep secrets out of files)."""
    environ = os.environ if environ is None else environ
    return Secret(str(environ.get(env_var) or settings.get(key) or ""))


def anything_configured(settings: Mapping[str, Any], env_var: str, environ: Mapping[str, str] | None = None) -> bool:
    """Did the installation ask for this channel at all (its table, or its secret's variable)?"""
    return bool(settings) or bool((os.environ if environ is None else environ).get(env_var))


def number(settings: Mapping[str, Any], key: str, default: float, plugin: str) -> float:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"[plugins.{plugin}] {key} must be a positive number, not {value!r}")
    return float(value)


def dotted(payload: Any, path: str) -> str | None:
    """``dotted({"messages": [{"id": "x"}]}, "messages.0.id") == "x"``; None where it leads nowhere."""
    for part in path.split(".") if path else ():
        if isinstance(payload, Mapping):
            payload = payload.get(part)
        elif isinstance(payload, list) and part.isdigit() and int(part) < len(payload):
            payload = payload[int(part)]
        else:
            return None
    return None if payload is None or isinstance(payload, (dict, list)) else str(payload)


def origin(url: str) -> str:
    """``https://sms.example.com:8443`` of a URL: enough to recognise it, no path or query."""
    import httpx

    try:
        parsed = httpx.URL(url)
        return f"{parsed.scheme}://{parsed.host}{f':{parsed.port}' if parsed.port else ''}"
    except Exception:
        return "(unusable URL)"


#: a Retry-After beyond this is taken as this: a provider's typo must not park a message for a year
MAX_RETRY_AFTER = timedelta(days=1)


def retry_after(value: str | None, now: datetime | None = None) -> timedelta | None:
    """A ``Retry-After`` header (delay-seconds or an HTTP-date, RFC 9110 §10.2.3) as a
    delay; None when absent or unreadable, so the dispatcher's own backoff applies."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²".isdigit() is True too
        delay = timedelta(seconds=int(value[:9]))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        delay = when - (now or datetime.now(timezone.utc))
    return min(max(delay, timedelta(0)), MAX_RETRY_AFTER)


class Gateway:
    """An httpx client made on first use and closed by the dispatcher after each round."""

    def __init__(self, channel: str, *, timeout: float = 10.0, secrets: Iterable[str] = (),
                 transport: Callable[[], Any] | None = None):
        #: ``transport``: makes the httpx transport (``dealercrm.egress.pinned_transport`` for targets a
        #: party chose); None: httpx's own, with the environment's proxies
        self.channel, self.timeout, self.transport = channel, timeout, transport
        # as sent, and as a gateway may echo it: JSON-escaped or URL-encoded
        variants = {v for s in secrets if s for v in (s, json.dumps(s)[1:-1], quote(s, safe=""))}
        self._secrets = sorted(variants, key=len, reverse=True)  # longest first: no half-redacted overlaps
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Gateway {self.channel} timeout={self.timeout}s>"

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def client(self) -> httpx.Client:
        import httpx

        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=httpx.Timeout(self.timeout), follow_redirects=False,
                                            headers={"User-Agent": "dealercrm"},
                                            transport=self.transport() if self.transport else None)
            return self._client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def post(self, url: str, *, headers: Mapping[str, str], provider_id: Callable[[Any], str | None],
             transient: Callable[[Any], bool] = lambda payload: False, **body: Any) -> DeliveryResult:
        """POST and judge the answer; ``transient(json)`` may declare a 4xx worth retrying."""
        import httpx

        where = origin(url)
        try:
            response = self.client().post(url, headers=dict(headers), **body)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError) as exc:
            return DeliveryResult.failed(self._say(f"cannot send to {where}: {type(exc).__name__}: {exc}"))
        except TargetRefused as exc:  # an internal address (dealercrm.egress): not sent, and not tried again
            return DeliveryResult.failed(self._say(f"not sent to {where}: {exc}"))
        except httpx.TimeoutException as exc:
            return DeliveryResult.retry(self._say(f"timed out after {self.timeout:g}s at {where} "
                                                  f"({type(exc).__name__})"))
        except httpx.HTTPError as exc:  # connect/read/write/protocol/proxy errors: the far side may come back
            return DeliveryResult.retry(self._say(f"connection failed to {where}: {type(exc).__name__}: {exc}"))
        except Exception as exc:  # anything else: keep the message for a later round, say what happened
            return DeliveryResult.retry(self._say(f"could not send to {where}: {type(exc).__name__}: {exc}"))
        return self.judge(response, provider_id, transient)

    def judge(self, response: httpx.Response, provider_id: Callable[[Any], str | None],
              transient: Callable[[Any], bool]) -> DeliveryResult:
        status, payload = response.status_code, _json(response)
        if 200 <= status < 300:
            return DeliveryResult.delivered(provider_id(payload))
        text = f"HTTP {status}: {_shorten(self.redact(_reason(response, payload)))}"  # redact, then cut
        if status in RETRY_STATUS or status >= 500 or (400 <= status < 500 and transient(payload)):
            after = response.headers.get("Retry-After")
            return DeliveryResult.retry(self._say(text + (f" (Retry-After: {after[:30]})" if after else "")),
                                        after=retry_after(after))
        if 300 <= status < 400:
            text += f" to {origin(response.headers.get('Location', ''))}: redirects are not followed, fix the URL"
        return DeliveryResult.failed(self._say(text))

    def _say(self, text: str) -> str:
        return f"{self.channel}: {self.redact(text)}"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _reason(response: httpx.Response, payload: Any) -> str:
    """The provider's own words if it gave any (``error.message``, ``message``, …), on one line."""
    found = None
    if isinstance(payload, Mapping):
        error = payload.get("error")
        candidates = [error.get("message") if isinstance(error, Mapping) else error,
                      payload.get("message"), payload.get("detail"), payload.get("title")]
        found = next((c for c in candidates if isinstance(c, str) and c.strip()), None)
    if found is None:
        found = response.text if payload is None else json.dumps(payload, ensure_ascii=False)
    return re.sub(r"\s+", " ", found or "").strip() or response.reason_phrase


def _shorten(text: str) -> str:
    return text if len(text) <= SHORT else text[:SHORT - 1] + "…"


class HttpChannel:
    """What the three HTTP channels share: a gateway, a configuration problem, close()."""

    name: str
    purposes = frozenset({"service", "marketing"})
    consent_channel: str | None = None
    address_field: str | None = None
    consent_required_for: frozenset[str] = frozenset()
    problem: str | None = None  # set when unconfigured or misconfigured: every send then fails with it
    gateway: Gateway

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        if self.problem:
            return DeliveryResult.failed(f"{self.name}: {self.problem}")
        return self.deliver(message)

    def deliver(self, message: OutgoingMessage) -> DeliveryResult:
        raise NotImplementedError

    def close(self) -> None:
        gateway = getattr(self, "gateway", None)
        if gateway is not None:
            gateway.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {self.problem or 'configured'}>"
