"""What every command shares: the console and the application it works on."""

from __future__ import annotations

import sys

from datetime import datetime

import typer
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from ..app import CRM, connect

console = Console(width=None if sys.stdout.isatty() else 140)  # piped output: don't squeeze tables to 80
err = Console(stderr=True)
_state: dict[str, str | None] = {"db": None}


def set_database(url: str | None) -> None:
    _state["db"] = url


def open_crm(migrate: bool = True) -> CRM:
    """The application on ``--db``; a URL that cannot be opened is a one-line error."""
    try:
        return connect(_state["db"], migrate=migrate)
    except (ValueError, ArgumentError, OperationalError) as exc:
        fail(f"cannot open database {_shown(_state['db'])}: {str(exc).splitlines()[0]}")
        raise  # pragma: no cover (fail always raises)


def _shown(url: str | None) -> str:
    """The URL without its password, fit for an error message."""
    if not url:
        return "(default)"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1]


def fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


def fail(message: str) -> None:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)
