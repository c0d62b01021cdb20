"""Moving data in and out: CSV import, right-of-access export, erasure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..services.importing import count_rows
from .common import a_count, acting, an_id, console, err, open_crm, write_text


def register(cli: typer.Typer) -> None:
    imp = typer.Typer(help="Import data.", no_args_is_help=True)
    exp = typer.Typer(help="Export data (right of access).", no_args_is_help=True)
    era = typer.Typer(help="Erase personal data (right to erasure).", no_args_is_help=True)
    cli.add_typer(imp, name="import")
    cli.add_typer(exp, name="export")
    cli.add_typer(era, name="erase")

    @imp.command("customers")
    def import_customers(file: Path, chunk_size: Annotated[int, typer.Option(min=1, max=1_000_000)] = 2000,
                         show_rejected: Annotated[int, a_count(help="how many bad rows to list")] = 50) -> None:
        """Import customers from CSV (columns: external_id,name[,kind,email,phone,birthday,street,postcode,city,owner_party,interests])."""
        crm = open_crm()
        total = count_rows(file) if file.is_file() else 0  # a directory or /dev/zero is refused by the import
        columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err, transient=True) as progress:
            bar = progress.add_task("rows", total=total)
            report = crm.imports.run(file, chunk_size=chunk_size, on_progress=lambda n: progress.advance(bar, n),
                                     by=acting(crm))
        for line, reason in report.rejected[:show_rejected]:
            err.print(f"line {line}: {reason}", markup=False, highlight=False)
        if len(report.rejected) > show_rejected:
            err.print(f"… and {len(report.rejected) - show_rejected} more rejected rows")
        console.print(report.summary())
        if report.rejected:
            raise typer.Exit(3)

    @exp.command("customer")
    def export_customer(customer_id: Annotated[int, an_id("customer")],
                        output: Annotated[Optional[Path], typer.Option("--output", "-o")] = None) -> None:
        """Everything held about one customer, as JSON."""
        crm = open_crm()
        text = json.dumps(crm.customers.export(customer_id, by=acting(crm)), indent=2, ensure_ascii=False)
        if output:
            write_text(output, text + "\n", "--output")
            console.print(f"written to {output}")
        else:
            print(text)

    @era.command("customer")
    def erase_customer(customer_id: Annotated[int, an_id("customer")],
                       yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False) -> None:
        """Remove or anonymise a customer's personal data everywhere; business records stay."""
        if not yes:
            typer.confirm(f"Erase the personal data of customer {customer_id}? This cannot be undone", abort=True)
        crm = open_crm()
        crm.customers.erase(customer_id, by=acting(crm))
        console.print(f"customer {customer_id} erased")
