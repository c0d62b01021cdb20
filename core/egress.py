"""Where dealercrm may send requests on a party's behalf: no internal addresses (SSRF).

A party names the URL its event deliveries go to (``POST /subscriptions``). Unchecked,
that lets any API key make the dispatcher post to the machine itself, to the cloud's
metadata service or to the operator's internal network, and read the answer back from
the failure task. So a target must be a public address:

- when the subscription is created, a host that *is* an address (``10.1.2.3``,
  ``[::1]``, ``2130706433``, ``0x7f.1``) or is called ``localhost`` is refused with a
  422 naming the kind of address;
- when a delivery is sent, the host is resolved once, **every** address it resolves to
  is checked, and the request connects to the checked address
  (``PinnedTransport``: the URL keeps its name, so the ``Host`` header and TLS's SNI and
  certificate check are the name's). A DNS answer that changes between the check and the
  connection (DNS rebinding) therefore changes nothing.

Refused: loopback, private (RFC 1918, unique local ``fc00::/7``), link-local (the
metadata service ``169.254.169.254``), multicast, unspecified (``0.0.0.0``, ``::``),
reserved, shared (carrier-grade NAT ``100.64.0.0/10``) and every other address that is
not globally reachable, also when wrapped in IPv6 (``::ffff:10.0.0.1``, 6to4
``2002::/16``, NAT64 ``64:ff9b::/96``).

For local development the operator allows them::

    [plugins.http_subscriptions]
    allow_internal_targets = true

Deliveries then go to ``http://127.0.0.1:…`` as before. The check needs the address the
connection goes to, so these requests ignore the environment's ``HTTP(S)_PROXY``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .errors import ValidationError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
SETTING = "allow_internal_targets"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: IETF protocol assignments (RFC 6890): not publicly routable but for the two anycast
#: addresses in it; Python before 3.12 calls the whole block global
_PROTOCOL_ASSIGNMENTS = ipaddress.ip_network("192.0.0.0/24")
_GLOBAL_ANYCAST = frozenset(ipaddress.ip_address(a) for a in ("192.0.0.9", "192.0.0.10"))
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class TargetRefused(Exception):
    """A delivery's host is, or resolves to, an address dealercrm does not send to."""


def allow_internal(settings: Mapping[str, Any], table: str = "[plugins.http_subscriptions]") -> bool:
    """The operator's switch; anything but ``true``/``false`` is a mistake, not a yes."""
    value = settings.get(SETTING, False)
    if not isinstance(value, bool):
        raise ValueError(f"{table} {SETTING} must be true or false, not {value!r}")
    return value


def refusal(address: Address) -> str | None:
    """Why dealercrm does not send to ``address`` ("a loopback address"), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None)
        if embedded is not None:
            why = refusal(embedded)
            return f"{why} ({embedded}) wrapped in IPv6" if why else None
    for test, what in (("is_unspecified", "the unspecified address"), ("is_loopback", "a loopback address"),
                       ("is_link_local", "a link-local address (e.g. a cloud metadata service)"),
                       ("is_multicast", "a multicast address"), ("is_private", "a private address"),
                       ("is_reserved", "a reserved address")):
        if getattr(address, test):
            return what
    if not address.is_global or (address in _PROTOCOL_ASSIGNMENTS and address not in _GLOBAL_ANYCAST):
        return "an address that is not publicly routable"
    return None


def literal(host: str) -> Address | None:
    """The address ``host`` spells, in any form a resolver would accept (``127.1``,
    ``2130706433``, ``0x7f000001``, ``[::1]``), or None for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:  # inet_aton reads the old shorthand forms as the C resolver does
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _name(host: str) -> str:
    return host.strip().rstrip(".").lower()


def check_url(url: str, allowed: bool, field: str = "url") -> None:
    """At registration: refuse a URL whose host is an internal address or ``localhost``
    (names are resolved and checked again at every send)."""
    if allowed:
        return
    host = urlsplit(url).hostname or ""
    name = _name(host)
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        raise ValidationError(field, url, f"names this machine ({host}); dealercrm sends only to public "
                              f"addresses (an operator allows internal ones with {SETTING} = true)")
    address = literal(host)
    why = refusal(address) if address is not None else None
    if why:
        raise ValidationError(field, url, f"is {why}; dealercrm sends only to public addresses (an operator "
                              f"allows internal ones with {SETTING} = true)")


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system's resolver; tests replace this)."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in found))


def checked(host: str, port: int, allowed: bool,
            resolver: Callable[[str, int], list[str]] | None = None) -> list[str]:
    """The addresses to connect to for ``host``, in the resolver's order: resolved once, every one checked.

    Raises ``TargetRefused`` if any address is internal (one bad answer among good ones
    is how rebinding starts), ``OSError`` if the name does not resolve."""
    address = literal(host)
    if address is not None:
        addresses = [str(address)]
    else:
        name = _name(host)
        if not allowed and (name in _LOCAL_NAMES or name.endswith(".localhost")):
            raise TargetRefused(f"{host} names this machine")
        addresses = (resolver or resolve)(host, port)
        if not addresses:
            raise OSError(f"{host} resolves to no address")
    if not allowed:
        for each in addresses:
            why = refusal(ipaddress.ip_address(each.split("%", 1)[0]))
            if why:
                shown = f"{each} is" if address is not None else f"{host} resolves to {each},"
                raise TargetRefused(f"{shown} {why}; dealercrm sends only to public addresses "
                                    f"(an operator allows internal ones with {SETTING} = true)")
    return addresses


def pinned_transport(allowed: bool, resolver: Callable[[str, int], list[str]] | None = None):
    """An httpx transport that connects each request to its host's checked address."""
    import httpx

    class PinnedTransport(httpx.BaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.HTTPTransport()

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            host = request.url.host
            port = request.url.port or (443 if request.url.scheme == "https" else 80)
            try:
                addresses = checked(host, port, allowed, resolver or resolve)
            except OSError as exc:
                raise httpx.ConnectError(f"cannot resolve {host}: {exc}", request=request) from None
            if literal(host) is not None:
                return self.inner.handle_request(request)
            # a name: connect to what was checked (the next one if it cannot be reached, as a socket
            # connection would), and speak to the name: its Host header was set from the URL, SNI is set here
            original, extensions = request.url, {**request.extensions, "sni_hostname": host}
            for i, address in enumerate(addresses):
                request.url, request.extensions = original.copy_with(host=address), extensions
                try:
                    return self.inner.handle_request(request)
                except httpx.ConnectError:
                    if i == len(addresses) - 1:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover

        def close(self) -> None:
            self.inner.close()

    return PinnedTransport()
