"""Settings, anti-forgery tokens, cookies and sign-in throttling of the portal.

Sessions themselves are the core's (``crm.sign_in``): the portal keeps only the cookie.
Every form carries an anti-forgery token: for a signed-in person an HMAC of their
session's hash, otherwise of a random nonce in a cookie of its own (sign-in forms, the
customer's status page) — under a key of the portal's own purpose (``crm.keyring``). A
page on another site can neither read the token nor make one, so it cannot post a form
here in someone's name; every POST without the right one is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from datetime import timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

SESSION_COOKIE = "dcrm_session"
NONCE_COOKIE = "dcrm_nonce"
LANGUAGE_COOKIE = "dcrm_lang"
PATH = "/portal"


def _zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"{name!r} is no IANA time zone such as Europe/Berlin") from None


@attrs.frozen
class PortalSettings:
    """``[plugins.portal]``: see the module docstring of ``dealercrm.plugins.portal``."""

    public_url: str = "http://127.0.0.1:8000"
    time_zone: str = attrs.field(default="Europe/Berlin", validator=lambda _, __, v: _zone(v))
    session_hours: float = 8
    idle_minutes: float = 120
    link_minutes: float = 15
    status_link_days: float = 30
    secure_cookies: Literal["auto", "always", "never"] = "auto"  # auto: when the request came over https
    sign_in_attempts: int = 10  # per client address and per e-mail address ...
    sign_in_window_seconds: float = 300  # ... in this window

    @classmethod
    def of(cls, crm) -> PortalSettings:
        """``[plugins.portal]``, as ``connect()`` checked it (``dealercrm_register_settings``)."""
        try:
            settings = crm.settings.of("portal")
        except LookupError:  # the portal registered on a running application: checked then
            from dealercrm.settings_schema import check, raise_first
            problems: list = []
            settings = check(cls, crm.settings.plugin("portal"), "[plugins.portal]", problems)
            raise_first(problems)
        return attrs.evolve(settings, public_url=settings.public_url.rstrip("/"))

    @property
    def session(self) -> timedelta:
        return timedelta(hours=self.session_hours)

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.idle_minutes)

    @property
    def link(self) -> timedelta:
        return timedelta(minutes=self.link_minutes)

    @property
    def status_link(self) -> timedelta:
        return timedelta(days=self.status_link_days)


class Forgery:
    """Anti-forgery tokens under the portal's key."""

    def __init__(self, key: bytes):
        self._key = key

    def token(self, session: str | None, nonce: str | None) -> str:
        basis = f"s:{hashlib.sha256(session.encode()).hexdigest()}" if session else f"n:{nonce or ''}"
        return hmac.new(self._key, basis.encode(), hashlib.sha256).hexdigest()

    def valid(self, presented: str | None, session: str | None, nonce: str | None) -> bool:
        if not presented or not (session or nonce):
            return False
        return hmac.compare_digest(presented, self.token(session, nonce))

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(24)


class Throttle:
    """At most ``limit`` attempts per key in ``window`` seconds (sign-in: per client address
    and per e-mail address), in this process. Old entries are forgotten as time passes."""

    def __init__(self, limit: int, window: float, clock=time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, *keys: str) -> int:
        """0 if an attempt may be made now (and count it), else the seconds to wait."""
        now = self.clock()
        with self._lock:
            if len(self._seen) > 10_000:  # a flood of addresses: forget the idle ones
                self._seen = {k: v for k, v in self._seen.items() if v and now - v[-1] < self.window}
            waits = []
            for key in keys:
                seen = self._seen.setdefault(key, deque())
                while seen and now - seen[0] >= self.window:
                    seen.popleft()
                if len(seen) >= self.limit:
                    waits.append(int(self.window - (now - seen[0])) + 1)
            if waits:
                return max(waits)
            for key in keys:
                self._seen[key].append(now)
            return 0
