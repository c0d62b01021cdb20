"""What every command shares: the console and the application it works on."""

from __future__ import annotations

import sys
from datetime import datetime
from zoneinfo import ZoneInfo
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from ..app import CRM, connect
from ..db.models import Actor
from ..errors import NotFound, ValidationError

console = Console(width=None if sys.stdout.isatty() else 140)  # piped output: don't squeeze tables to 80
#: ids are 32-bit in the database (as over HTTP); counts and limits fit the same
MAX_ID = 2**31 - 1
err = Console(stderr=True)
_state: dict[str, Any] = {"db": None, "as": None, "plugins": (), "quiet": False}


def set_plugins(plugins: tuple[object, ...]) -> None:
    """Plugins handed to ``build_cli`` take part in the application each command opens."""
    _state["plugins"] = plugins


def set_database(url: str | None) -> None:
    _state["db"] = url


def set_actor(who: str | None) -> None:
    _state["as"] = who


def set_quiet(quiet: bool) -> None:
    _state["quiet"] = quiet


def an_id(kind: str, *flags: str, option: bool = False, **kwargs: Any):
    """A Typer argument (or option) taking the id of a ``kind``: a number that cannot be an id
    (below 1, beyond the database's 32 bits) names nothing — the one-line "not found" of an id
    never used, instead of the database driver's OverflowError. Shown as ``KIND_ID``."""

    def check(value: Optional[int]) -> Optional[int]:
        if value is not None and not 1 <= value <= MAX_ID:
            raise NotFound(kind, value)
        return value

    kwargs.setdefault("metavar", f"{kind.upper().replace(' ', '_')}_ID")
    kwargs.setdefault("help", f"the {kind}'s id")
    return (typer.Option if option or flags else typer.Argument)(*flags, callback=check, **kwargs)


def a_count(*flags: str, **kwargs: Any):
    """A Typer option taking a count or a limit: 0 to ``MAX_ID``, shown as ``N`` (a range
    checked by a callback: Click would print ``0<=x<=2147483647`` in every help)."""

    def check(value: Optional[int]) -> Optional[int]:
        if value is not None and not 0 <= value <= MAX_ID:
            raise typer.BadParameter(f"{value} is not a count from 0 to {MAX_ID}")
        return value

    kwargs.setdefault("metavar", "N")
    return typer.Option(*flags, callback=check, **kwargs)


def an_actor(**kwargs: Any):
    """``--as ACTOR``: who a command acts as, an actor's id or exact name."""
    kwargs.setdefault("help", "act as this actor: its id or exact name")
    return typer.Option("--as", metavar="ACTOR", **kwargs)


def read_limited(path: Path, what: str, limit: int) -> bytes:
    """A regular file's bytes, at most ``limit`` of them: a directory, a device (``/dev/zero``) or
    a file over the limit is a one-line error, not a traceback or a read without end."""
    try:
        if not path.is_file():
            raise ValidationError(what, str(path), "is not a regular file" if path.exists() else "does not exist")
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise ValidationError(what, str(path), f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ValidationError(what, str(path), f"is larger than {limit} bytes")
    return data


def write_text(path: Path, text: str, what: str) -> None:
    """Write ``text`` to ``path``; a folder that does not exist (or any other OSError) is one line."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ValidationError(what, str(path), f"cannot be written: {exc.strerror or exc}") from None


def acting(crm: CRM, who: str | None = None) -> int:
    """Who a command acts as: ``--as`` (an actor id or exact name), else dealercrm's system actor.

    The command then runs under that actor's rules, exactly as over HTTP."""
    who = who or _state["as"]
    if not who:
        return crm.system
    if who.isascii() and who.isdigit():  # "²".isdigit() is True too
        return crm.parties.actor(an_id_value("actor", int(who)), by=crm.system).id
    with crm.read(crm.system) as uow:
        ids = list(uow.session.scalars(select(Actor.id).where(Actor.name == who)))
    if not ids:
        raise NotFound("actor", who)
    if len(ids) > 1:
        raise ValidationError("--as", who, f"names {len(ids)} actors ({ids}); pass the id")
    return ids[0]


def actor_given() -> str | None:
    """The ``--as`` the command line named, if any."""
    return _state["as"]


def acting_as(crm: CRM, who: str | None) -> int:
    """``acting`` for a command with an ``--as`` of its own: given, it wins over the global
    one for the whole command, the zone its times are shown in included."""
    if who:
        set_actor(who)
        _state["zone"] = None
    return acting(crm)


def an_id_value(kind: str, value: int) -> int:
    """``value`` if it can be an id, else NotFound (see ``an_id``)."""
    if not 1 <= value <= MAX_ID:
        raise NotFound(kind, value)
    return value


def open_crm(migrate: bool = True, *, tolerate_broken_plugins: bool = False) -> CRM:
    """The application on ``--db``; a URL that cannot be opened is a one-line error.

    ``tolerate_broken_plugins``: for the commands that need no plugin (``plugins``, ``db``), an
    installed plugin that fails to load is left out (and was reported when the command line
    was built) instead of stopping the command."""
    try:
        crm = connect(_state["db"], migrate=migrate, plugins=_state["plugins"],
                      tolerate_broken_plugins=tolerate_broken_plugins)
    except (ValueError, ArgumentError, OperationalError) as exc:
        fail(f"cannot open database {_shown(_state['db'])}: {str(exc).splitlines()[0]}")
        raise  # pragma: no cover (fail always raises)
    _state["zone"] = None
    _state["crm"] = crm
    return crm


def viewer_zone() -> ZoneInfo:
    """The time zone of whoever reads the output: the ``--as`` actor's party's, else the
    home dealer's (the operator works for it), else Europe/Berlin (``crm.parties.zone``)."""
    if _state.get("zone") is None:
        crm = _state.get("crm")
        _state["zone"] = crm.parties.zone(by=acting(crm)) if crm is not None else ZoneInfo("Europe/Berlin")
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
