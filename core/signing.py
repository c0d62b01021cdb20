"""HMAC-SHA256 request signatures with a timestamp: what dealercrm signs and verifies.

The scheme (``X-Dealercrm-Timestamp`` / ``X-Dealercrm-Signature``) is that of the
webhook channel and of event subscriptions outbound, and one of the ways an inbound
sender may authenticate (``[inbound.<channel>] auth = "dealercrm"``)::

    X-Dealercrm-Timestamp: 1772442000                  (Unix seconds, the sender's wall clock)
    X-Dealercrm-Signature: sha256=<hex of HMAC-SHA256(secret, f"{timestamp}.{raw body}")>

A timestamp more than the tolerance away from now is refused, so a recorded request
cannot be replayed later. Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

TIMESTAMP, SIGNATURE = "X-Dealercrm-Timestamp", "X-Dealercrm-Signature"
UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def sign(secret: str | bytes, body: str | bytes, timestamp: str) -> str:
    """``sha256=<hex>``: HMAC-SHA256 with ``secret`` over ``f"{timestamp}.{body}"``."""
    digest = hmac.new(_bytes(secret), _bytes(timestamp) + b"." + _bytes(body), hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def sign_headers(secret: str | bytes, body: str | bytes, timestamp: int | None = None) -> dict[str, str]:
    """The two signature headers for ``body``, e.g. for a host posting inbound webhooks."""
    stamp = str(int(time.time()) if timestamp is None else int(timestamp))
    return {TIMESTAMP: stamp, SIGNATURE: sign(secret, body, stamp)}


def signature_problem(secret: str | bytes, body: str | bytes, timestamp: str | None, signature: str | None,
                      tolerance_s: float = 300, now: float | None = None) -> str | None:
    """Why a signature is not acceptable, or None when it is (see ``verify_signature``)."""
    if not secret:
        return "no secret to verify with"
    if not timestamp or not signature:
        return f"unsigned: the {TIMESTAMP} and {SIGNATURE} headers are required"
    if not isinstance(timestamp, str) or not UNIX_SECONDS.fullmatch(timestamp.strip()):
        return f"{TIMESTAMP} {str(timestamp)[:20]!r} is not Unix seconds"
    age = (time.time() if now is None else now) - int(timestamp)
    if abs(age) > tolerance_s:
        return f"{TIMESTAMP} is {abs(age):.0f}s {'old' if age > 0 else 'in the future'} (tolerance {tolerance_s:g}s)"
    expected = sign(secret, body, timestamp.strip()).encode("ascii")
    if not hmac.compare_digest(expected, _bytes(signature.strip())):
        return "signature does not match the body and timestamp"
    return None


def verify_signature(secret: str | bytes, body: bytes, timestamp: str, signature: str, tolerance_s: float = 300,
                     now: float | None = None) -> bool:
    """True when ``signature`` (``sha256=<hex>``) signs ``body`` at ``timestamp`` with ``secret``.

    For receivers: pass the raw body bytes and the ``X-Dealercrm-Timestamp`` and
    ``X-Dealercrm-Signature`` headers. Constant-time comparison; a timestamp more than
    ``tolerance_s`` seconds from ``now`` (default: the wall clock) is rejected, so a
    recorded request cannot be replayed later.
    """
    return signature_problem(secret, body, timestamp, signature, tolerance_s, now) is None
