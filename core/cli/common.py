"""What every command shares: the console and the application it works on."""

from __future__ import annotations

import sys
from typing import Any

from datetime import datetime
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from ..app import CRM, connect
from ..db.models import Actor, Party
from ..errors import NotFound, ValidationError

console = Console(width=None if sys.stdout.isatty() else 140)  # piped output: don't squeeze tables to 80
err = Console(stderr=True)
_state: dict[str, Any] = {"db": None, "as": None, "plugins": ()}


def set_plugins(plugins: tuple[object, ...]) -> None:
    """Plugins handed to ``build_cli`` take part in the application each command opens."""
    _state["plugins"] = plugins


def set_database(url: str | None) -> None:
    _state["db"] = url


def set_actor(who: str | None) -> None:
    _state["as"] = who


def acting(crm: CRM, who: str | None = None) -> int:
    """Who a command acts as: ``--as`` (an actor id or exact name), else dealercrm's system actor.

    The command then runs under that actor's rules, exactly as over HTTP."""
    who = who or _state["as"]
    if not who:
        return crm.system
    if who.isdigit():
        return crm.parties.actor(int(who), by=crm.system).id
    with crm.read(crm.system) as uow:
        ids = list(uow.session.scalars(select(Actor.id).where(Actor.name == who)))
    if not ids:
        raise NotFound("actor", who)
    if len(ids) > 1:
        raise ValidationError("--as", who, f"names {len(ids)} actors ({ids}); pass the id")
    return ids[0]


def open_crm(migrate: bool = True) -> CRM:
    """The application on ``--db``; a URL that cannot be opened is a one-line error."""
    try:
        crm = connect(_state["db"], migrate=migrate, plugins=_state["plugins"])
    except (ValueError, ArgumentError, OperationalError) as exc:
        fail(f"cannot open database {_shown(_state['db'])}: {str(exc).splitlines()[0]}")
        raise  # pragma: no cover (fail always raises)
    _state["zone"] = None
    _state["crm"] = crm
    return crm


def viewer_zone() -> ZoneInfo:
    """The time zone of whoever reads the output: the ``--as`` actor's party's, else the
    home dealer's (the operator works for it), else Europe/Berlin."""
    if _state.get("zone") is None:
        crm, name = _state.get("crm"), "Europe/Berlin"
        if crm is not None:
            with crm.read(crm.system) as uow:
                if _state["as"]:
                    party_id = uow.session.scalar(select(Actor.party_id).where(Actor.id == acting(crm)))
                    found = uow.session.scalar(select(Party.time_zone).where(Party.id == party_id))
                else:
                    found = uow.session.scalar(select(Party.time_zone).where(
                        Party.id == crm.parties.home_dealer(uow))) if crm.settings.home_dealer else None
                name = found or name
        _state["zone"] = ZoneInfo(name)
    return _state["zone"]


def _shown(url: str | None) -> str:
    """The URL without its password, fit for an error message."""
    if not url:
        return "(default)"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1]


def fmt_time(value: datetime | None) -> str:
    """A time as the reader reads it: in their zone, with the zone's name ("2026-03-09 11:00 EDT")."""
    if not value:
        return "—"
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(viewer_zone()).strftime("%Y-%m-%d %H:%M %Z")
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else str(value)


def fail(message: str) -> None:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)
