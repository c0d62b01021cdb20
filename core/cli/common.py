"""What every command shares: the console and the application it works on."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console

from ..app import CRM, connect

console = Console()
err = Console(stderr=True)
_state: dict[str, str | None] = {"db": None}


def set_database(url: str | None) -> None:
    _state["db"] = url


def open_crm(migrate: bool = True) -> CRM:
    return connect(_state["db"], migrate=migrate)


def fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


def fail(message: str) -> None:
    err.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(1)
