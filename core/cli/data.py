"""Moving data in and out: CSV imports, right-of-access export, erasure.

``customers import | export | erase`` and ``assets import``; the forms before noun-verb
(``import customers``, ``export customer``, ``erase customer``) stay one more version as
hidden aliases that say so on stderr.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..services.importing import ASSET_COLUMNS, KNOWN_COLUMNS, ImportReport, count_rows
from .common import a_count, acting, an_id, console, err, open_crm, write_text
from .output import deprecated, examples, progress, say

ChunkSize = Annotated[int, typer.Option(min=1, max=1_000_000, metavar="N",
                                        help="rows per transaction: an interruption keeps the chunks before it")]
ShowRejected = Annotated[int, a_count(help="how many bad rows to list on stderr")]
IgnoreColumns = Annotated[Optional[list[str]], typer.Option(
    "--ignore-column", metavar="COLUMN", help="a column of the file to leave out on purpose, repeatable (any other "
    "column the import does not read refuses the file)")]
File = Annotated[Path, typer.Argument(metavar="FILE", help="the CSV file: comma, semicolon or tab; UTF-8, UTF-16 or "
                                                          "Windows-1252")]

CUSTOMER_EXAMPLES = examples(
    "dealercrm customers import kunden.csv",
    "dealercrm --as 'Sabine Krüger' customers import kunden.csv --ignore-column Notiz",
    "dealercrm --quiet customers import flat-buyers.csv --show-rejected 0")
ASSET_EXAMPLES = examples("dealercrm assets import units.csv",
                          "dealercrm --as 'Sabine Krüger' assets import wohnungen.csv --chunk-size 500")


def run_import(what: str, file: Path, chunk_size: int, show_rejected: int, ignore: list[str] | None) -> None:
    """Run ``crm.imports.run`` (customers) or ``.assets`` with a progress bar; print the
    warnings and bad rows on stderr and the summary; exit 3 if rows were rejected."""
    crm = open_crm()
    total = count_rows(file) if file.is_file() else 0  # a directory or /dev/zero is refused by the import
    method = crm.imports.run if what == "customers" else crm.imports.assets
    with progress(total_known=True) as shown:
        bar = shown.add_task(f"importing {what}", total=total)
        report: ImportReport = method(file, chunk_size=chunk_size, on_progress=lambda n: shown.advance(bar, n),
                                      ignore_columns=tuple(ignore or ()), by=acting(crm))
    for warning in report.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    for line, reason in report.rejected[:show_rejected]:
        err.print(f"line {line}: {reason}", markup=False, highlight=False)
    if len(report.rejected) > show_rejected:
        err.print(f"… and {len(report.rejected) - show_rejected} more rejected rows")
    say(report.summary() + (f" (ignored columns: {', '.join(report.ignored_columns)})"
                            if report.ignored_columns else ""), markup=False, highlight=False)
    if report.rejected:
        raise typer.Exit(3)


def import_customers(file: File, chunk_size: ChunkSize = 2000, show_rejected: ShowRejected = 50,
                     ignore_column: IgnoreColumns = None) -> None:
    run_import("customers", file, chunk_size, show_rejected, ignore_column)


import_customers.__doc__ = (
    "Import customers from CSV; bad rows are reported (exit code 3), good ones filed, re-runs skip "
    f"known external ids.\n\nColumns: external_id and name, and "
    f"{', '.join(c for c in KNOWN_COLUMNS if c not in ('external_id', 'name'))}: sku and the "
    "columns after it describe the unit the customer bought. Interests are separated by ';'. Dates as "
    "YYYY-MM-DD or DD.MM.YYYY.")


def import_assets(file: File, chunk_size: ChunkSize = 2000, show_rejected: ShowRejected = 50,
                  ignore_column: IgnoreColumns = None) -> None:
    run_import("assets", file, chunk_size, show_rejected, ignore_column)


import_assets.__doc__ = (
    "Import the units customers bought, one row per unit, for customers already filed; a unit the customer "
    f"has already is skipped.\n\nColumns: {', '.join(ASSET_COLUMNS)} (external_id, the customer's, and sku, "
    "the product's in the catalogue, required). Dates as YYYY-MM-DD or DD.MM.YYYY.")


def export_customer(customer_id: Annotated[int, an_id("customer")],
                    output: Annotated[Optional[Path], typer.Option(
                        "--output", "-o", metavar="FILE", help="write the JSON here instead of printing it")] = None,
                    ) -> None:
    """Everything held about one customer, as JSON (right of access)."""
    crm = open_crm()
    text = json.dumps(crm.customers.export(customer_id, by=acting(crm)), indent=2, ensure_ascii=False)
    if output:
        write_text(output, text + "\n", "--output")
        say(f"written to {output}")
    else:
        print(text)


def erase_customer(customer_id: Annotated[int, an_id("customer")],
                   yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False) -> None:
    """Remove or anonymise a customer's personal data everywhere; business records stay."""
    if not yes:
        typer.confirm(f"Erase the personal data of customer {customer_id}? This cannot be undone", abort=True)
    crm = open_crm()
    crm.customers.erase(customer_id, by=acting(crm))
    say(f"customer {customer_id} erased")


def register_customers(customers: typer.Typer, fields) -> None:
    """``customers import | export | erase``."""
    customers.command("import", epilog=CUSTOMER_EXAMPLES)(import_customers)
    customers.command("export", epilog=examples("dealercrm customers export 12",
                                                "dealercrm customers export 12 -o max-mustermann.json"))(
        export_customer)
    customers.command("erase", epilog=examples("dealercrm --as 'Petra Schmidt' customers erase 12",
                                               "dealercrm customers erase 12 --yes"))(erase_customer)


def _alias(fn: Callable, old: str, new: str) -> Callable:
    @functools.wraps(fn)
    def said(*args, **kwargs):
        deprecated(old, new)
        return fn(*args, **kwargs)
    return said


def register(cli: typer.Typer) -> None:
    """``assets import``, and the old forms as hidden aliases."""
    assets = typer.Typer(help="The units customers bought: import them in bulk.", no_args_is_help=True)
    cli.add_typer(assets, name="assets")
    assets.command("import", epilog=ASSET_EXAMPLES)(import_assets)

    for old_group, old_name, fn, new, epilog in (
            ("import", "customers", import_customers, "customers import", CUSTOMER_EXAMPLES),
            ("export", "customer", export_customer, "customers export", examples("dealercrm customers export 12")),
            ("erase", "customer", erase_customer, "customers erase", examples("dealercrm customers erase 12"))):
        group = typer.Typer(help=f"Deprecated: use `dealercrm {new.split()[0]} …`.", no_args_is_help=True)
        cli.add_typer(group, name=old_group, hidden=True)
        group.command(old_name, hidden=True, epilog=epilog,
                      help=f"Deprecated: use `dealercrm {new}`. {fn.__doc__.splitlines()[0]}")(
            _alias(fn, f"{old_group} {old_name}", new))
