"""``dealercrm demo``: a realistic small dealer, seeded by plugins, then shown.

The seeding is done by ``dealercrm_seed_demo`` implementations — the customer file by
a built-in plugin, later capabilities by theirs — so the demo grows with the product.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import func, select
from sqlmodel import SQLModel

from ..db.engine import database_url
from ..settings import load_settings
from .common import _state, console, open_crm
from .output import examples


def register(cli: typer.Typer) -> None:
    @cli.command(epilog=examples("dealercrm demo", "dealercrm demo --fresh --seed 11"))
    def demo(fresh: Annotated[bool, typer.Option(help="delete the SQLite file first and seed anew")] = False,
             seed: Annotated[int, typer.Option(metavar="N", help="random seed: same seed, same demo")] = 7) -> None:
        """Seed a small dealer's customer file into the database and show what it holds."""
        url = database_url(_state["db"] or load_settings().database_url)
        if fresh and url.startswith("sqlite:///"):
            for suffix in ("", "-wal", "-shm"):
                Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        crm = open_crm()
        if crm.customers.count(by=crm.system):
            console.print(f"[yellow]{url} already holds data: showing it (use --fresh to seed anew)[/]")
        else:
            console.rule("seeding the demo")
            for lines in crm.plugins.checked_call("dealercrm_seed_demo", crm=crm, rng=random.Random(seed)):
                for line in lines:
                    console.print(line)
        console.rule(f"what {url} holds")
        console.print(counts_table(crm))
        console.print("Explore: [bold]dealercrm customers list[/], [bold]dealercrm customers show 1[/], "
                      "[bold]dealercrm plugins list[/]")


def counts_table(crm) -> Table:
    table = Table("table", "rows", title="The customer file", title_justify="left")
    with crm.read(crm.system) as uow:
        for t in SQLModel.metadata.sorted_tables:
            n = uow.session.scalar(select(func.count()).select_from(t))
            table.add_row(t.name, f"{n:,}")
    return table
