"""``dealercrm customers …``: add, list, show (the 360° view), merge."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from .common import console, fmt_time, open_crm
from .render import customer_view


def register(cli: typer.Typer) -> None:
    customers = typer.Typer(help="The customer file.", no_args_is_help=True)
    cli.add_typer(customers, name="customers")

    @customers.command("add")
    def add(
        name: str,
        email: Annotated[Optional[str], typer.Option()] = None,
        phone: Annotated[Optional[str], typer.Option()] = None,
        kind: Annotated[str, typer.Option(help="person or company")] = "person",
        birthday: Annotated[Optional[str], typer.Option(help="YYYY-MM-DD")] = None,
        owner_party: Annotated[Optional[int], typer.Option(help="owning party id (default: home dealer)")] = None,
        account_owner: Annotated[Optional[int], typer.Option(help="account owner actor id")] = None,
    ) -> None:
        """Register a customer; a known e-mail or phone is refused with the existing id."""
        c = open_crm().customers.add(name, email=email, phone=phone, kind=kind, birthday=birthday,
                                     owner_party_id=owner_party, account_owner_id=account_owner)
        console.print(f"customer {c.id} added: {escape(c.name)}")

    @customers.command("list")
    def list_(search: Annotated[Optional[str], typer.Option()] = None,
              limit: Annotated[int, typer.Option()] = 50, offset: Annotated[int, typer.Option()] = 0) -> None:
        """List customers (merged duplicates are left out)."""
        crm = open_crm()
        table = Table("id", "name", "kind", "email", "phone", "last touch")
        for c in crm.customers.list(search=search, limit=limit, offset=offset):
            table.add_row(str(c.id), escape(c.name), c.kind, escape(c.email or "—"), c.phone or "—",
                          fmt_time(c.last_touch_at))
        console.print(table)

    @customers.command("show")
    def show(customer_id: int) -> None:
        """The 360° view: contacts, assets, interests, consents, timeline, open tasks."""
        console.print(customer_view(open_crm().customers.view(customer_id)))

    @customers.command("merge")
    def merge(keep: int, other: int) -> None:
        """Merge customer OTHER into KEEP with every linked record (audited)."""
        open_crm().customers.merge(keep, other)
        console.print(f"customer {other} merged into customer {keep}")
