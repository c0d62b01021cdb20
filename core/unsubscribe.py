"""One-click unsubscribe links (RFC 8058): a signed token per customer and channel.

A marketing e-mail carries::

    List-Unsubscribe: <https://crm.autohaus.example/unsubscribe/17.email.Xq3…>
    List-Unsubscribe-Post: List-Unsubscribe=One-Click

and the mail provider (or the customer's click on the confirmation page) POSTs to that
URL: the customer's marketing consent on that channel is revoked. The token is the
only authentication — a mail provider has no API key — so it is unguessable: it names
the customer and the channel and carries an HMAC-SHA256 of both under the server's
secret (``[unsubscribe] secret`` or ``DEALERCRM_UNSUBSCRIBE_SECRET``)::

    <customer id>.<channel>.<base64url of HMAC-SHA256(secret, "dealercrm-unsubscribe\\0<id>\\0<channel>")>

A token cannot be forged or altered (another customer id or channel breaks the HMAC),
and it does nothing but revoke marketing on its own channel for its own customer —
whoever holds a forwarded link can unsubscribe that customer, no more. Tokens do not
expire (an old newsletter's link must still work); ``secret = ["new…", "old…"]`` signs
with the first and accepts all while you rotate.

Configuration (README, docs/http.md)::

    [unsubscribe]
    base_url = "https://crm.autohaus.example"   # where /unsubscribe/<token> is served
    secret = "…"                                # DEALERCRM_UNSUBSCRIBE_SECRET wins
    mailto = "abmelden@autohaus.example"        # optional: also offered as mailto:, reaching /inbound/email
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from urllib.parse import quote

from .errors import ValidationError
from .settings import UnsubscribeSettings

ENV_SECRET = "DEALERCRM_UNSUBSCRIBE_SECRET"
PATH = "/unsubscribe/"
TOKEN = re.compile(r"([1-9][0-9]{0,17})\.([a-z][a-z0-9_-]{0,63})\.([A-Za-z0-9_-]{43})")
#: the RFC 8058 header that makes a List-Unsubscribe URL one-click
ONE_CLICK = "List-Unsubscribe=One-Click"


def _signature(secret: str, customer_id: int, channel: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), f"dealercrm-unsubscribe\0{customer_id}\0{channel}".encode("utf-8"),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


class UnsubscribeLinks:
    """Makes and reads the tokens; ``configured`` is False without a base URL or a secret."""

    def __init__(self, base_url: str = "", secrets: tuple[str, ...] = (), mailto: str = ""):
        self.base_url, self._secrets, self.mailto = base_url.rstrip("/"), tuple(secrets), mailto

    def __repr__(self) -> str:  # never the secrets
        return f"UnsubscribeLinks({self.base_url!r}, {len(self._secrets)} secret(s))"

    @classmethod
    def from_settings(cls, settings: UnsubscribeSettings, environ: Mapping[str, str] | None = None,
                      source: str = "settings") -> UnsubscribeLinks:
        env = os.environ if environ is None else environ
        where = f"[unsubscribe] of {source}"
        raw = env.get(ENV_SECRET) or settings.secret
        values = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, (list, tuple)) else None
        if values is None or not all(isinstance(v, str) for v in values):
            raise ValidationError("secret", "(hidden)", f"must be a string or a list of strings in {where}")
        secrets = tuple(v for v in values if v)
        if any(len(s) < 16 for s in secrets):
            raise ValidationError("secret", "(hidden)", f"is shorter than 16 characters in {where} (or {ENV_SECRET}): "
                                  "use a long random value, e.g. python3 -c 'import secrets; "
                                  "print(secrets.token_urlsafe(32))'")
        base_url = str(settings.base_url or "")
        if base_url and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", base_url):
            raise ValidationError("base_url", base_url, f"must be an http(s) URL without query in {where}, "
                                  "e.g. https://crm.autohaus.example")
        mailto = str(settings.mailto or "")
        if mailto and not re.fullmatch(r"[^@\s<>,]+@[^@\s<>,]+", mailto):
            raise ValidationError("mailto", mailto, f"must be an e-mail address in {where}")
        return cls(base_url, secrets, mailto)

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self._secrets)

    def token(self, customer_id: int, channel: str) -> str:
        if not self._secrets:
            raise ValidationError("[unsubscribe] secret", "(none)", f"is not set (nor {ENV_SECRET})")
        return f"{int(customer_id)}.{channel}.{_signature(self._secrets[0], int(customer_id), channel)}"

    def url(self, customer_id: int, channel: str) -> str | None:
        """The one-click link, or None when no base URL and secret are configured."""
        return f"{self.base_url}{PATH}{self.token(customer_id, channel)}" if self.configured else None

    def read(self, token: str) -> tuple[int, str] | None:
        """(customer id, channel) of a genuine token; None for anything else (constant-time)."""
        found = TOKEN.fullmatch(token or "")
        if found is None or not self._secrets:
            return None
        customer_id, channel, presented = int(found.group(1)), found.group(2), found.group(3)
        genuine = [hmac.compare_digest(presented, _signature(s, customer_id, channel)) for s in self._secrets]
        return (customer_id, channel) if any(genuine) else None

    def headers(self, customer_id: int, channel: str = "email") -> dict[str, str]:
        """``List-Unsubscribe`` and ``List-Unsubscribe-Post`` for a marketing message (RFC 2369, 8058);
        empty when not configured."""
        url = self.url(customer_id, channel)
        if url is None:
            return {}
        targets = [f"<{url}>"]
        if self.mailto:
            targets.append(f"<mailto:{self.mailto}?subject={quote('unsubscribe')}>")
        return {"List-Unsubscribe": ", ".join(targets), "List-Unsubscribe-Post": ONE_CLICK}


def token_in_path(path: str) -> str | None:
    """The token of ``/unsubscribe/<token>``, or None for any other path."""
    return path[len(PATH):] if path.startswith(PATH) else None
