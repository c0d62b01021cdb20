"""How a channel finds a customer's address: a field of the file, a contact person, or its own resolver.

A channel's ``address_field`` is one of:

* ``None``: it needs no address (a host system's webhook);
* the name of a field of the customer file: a built-in one (``"email"``, ``"phone"``,
  ``"street"``) or one a plugin declares with ``dealercrm_register_fields`` (kept in the
  customer's ``custom`` column) — whatever ``crm.fields.customer`` holds;
* ``"contact.<field>"`` or ``"contact[<function>].<field>"``: that field of the customer's
  first contact person (of that function, e.g. ``contact[buyer].email``) who has it;
* a callable ``(customer_id, connection) -> str | None``: the channel's own resolver, run in
  the transaction that decides (a hand-off, the dispatcher's claim); None means "no address".

The address is looked up when a message is queued and again before it is sent: a customer
whose address went meanwhile is not written to. A name that is no field is refused when the
channel is loaded, naming the plugin, the channel and the fields there are; a resolver that
raises suppresses that one message with the reason (and is listed in ``crm.plugin_failures``),
it never stops the operation that wanted to write.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from sqlalchemy import select

from ..db.models import ContactPerson
from ..errors import PluginError

log = logging.getLogger("dealercrm.channels")
_CONTACT = re.compile(r"^contact(?:\[([^\]]+)\])?\.([a-z_][a-z0-9_]*)$")


@attrs.frozen
class Address:
    """``read(person, connection, customer_id)``: the address, or None/"" when there is none.
    ``columns``: customer columns ``person`` must hold; ``label`` names it in a refusal."""

    label: str
    columns: tuple[str, ...]
    read: Callable[[Mapping[str, Any], Any, int], Any]


NO_ADDRESS = Address("", (), lambda person, conn, customer_id: "")


def address_of(crm, channel) -> Address:
    """How ``channel`` addresses a customer; ``ValueError`` saying why when it cannot."""
    spec = channel.address_field
    if spec is None:
        return NO_ADDRESS
    if callable(spec):
        return _resolver(crm, channel, spec)
    if not isinstance(spec, str):
        raise ValueError(f"address_field must be a field name, 'contact.<field>' or a callable, not {spec!r}")
    found = _CONTACT.match(spec)
    if found:
        return _contact(crm, spec, found.group(1), found.group(2))
    fields = crm.fields.customer
    if spec not in fields:
        raise ValueError(f"address_field {spec!r} is no field of the customer file; fields: {', '.join(fields)}, "
                         "or 'contact.<field>', 'contact[<function>].<field>', or a callable")
    if fields[spec].custom:
        return Address(spec, ("custom",), lambda person, conn, customer_id: _text((person["custom"] or {}).get(spec)))
    return Address(spec, (spec,), lambda person, conn, customer_id: _text(person[spec]))


def usable_address(crm, channel) -> Address:
    """``address_of``, for deciding: a channel whose address cannot be found (a field gone
    with the plugin that declared it) is refused per message, with the reason."""
    try:
        return address_of(crm, channel)
    except ValueError as exc:
        reason = f"channel {channel.name!r}: {exc}"

        def refuse(person, conn, customer_id):
            raise AddressFailed(reason)

        return Address(str(channel.address_field), (), refuse)


def _contact(crm, spec: str, function: str | None, name: str) -> Address:
    known = [n for n in crm.fields.contact if n != "function"]
    if name not in known:
        raise ValueError(f"address_field {spec!r}: a contact person has no field {name!r}; fields: {', '.join(known)}")
    column = getattr(ContactPerson, name)
    conditions = [column.is_not(None), column != ""]
    if function is not None:
        conditions.append(ContactPerson.function == function)

    def read(person, conn, customer_id):
        return _text(conn.execute(select(column).where(ContactPerson.customer_id == customer_id, *conditions)
                                  .order_by(ContactPerson.id).limit(1)).scalar())

    return Address(f"{function or 'contact person'}'s {name}", (), read)


def _resolver(crm, channel, resolve: Callable) -> Address:
    def read(person, conn, customer_id):
        try:
            return _text(resolve(customer_id, conn))
        except Exception as exc:  # one channel's bug suppresses its own message, never the operation
            failure = PluginError(crm.channel_owners.get(channel.name, channel.name), "address_field", exc)
            crm.plugin_failures.append(failure)
            raise AddressFailed(f"channel {channel.name!r} could not find the address: {type(exc).__name__}: {exc}") \
                from exc

    return Address(f"{channel.name} address", (), read)


class AddressFailed(Exception):
    """A channel's resolver raised; the message is suppressed with this reason."""


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def check_channels(crm, channels: Mapping[str, Any], owners: Mapping[str, str]) -> dict[str, PluginError]:
    """The channels whose ``consent_channel`` or ``address_field`` cannot be used, each as a
    ``PluginError`` naming the plugin and the channel."""
    refused = {}
    for name, channel in channels.items():
        try:
            consent = getattr(channel, "consent_channel", None)
            if consent is not None and not (isinstance(consent, str) and consent.strip()):
                raise ValueError(f"consent_channel must be a name (e.g. 'email') or None, not {consent!r}")
            address_of(crm, channel)
        except ValueError as exc:
            refused[name] = PluginError(owners.get(name, name), "dealercrm_register_channels", f"channel {name!r}: {exc}")
    return refused
