"""``dealercrm report``: tables on the terminal, JSON or CSV for other tools, charts on request."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from .. import csv_out
from ..errors import ValidationError
from ..services import reports
from .common import console, open_crm
from .output import Format, FormatOption, examples, say

TITLES = {"satisfaction": "Satisfaction per party: each case's dealer and the party that resolved it "
                         "(CSAT 1-5, NPS -100..100)", "cases": "Service cases per party",
          "loyal_at_risk": "Loyal customers at risk (flagged, still not contacted)",
          "contacts": "Marketing contacts per customer in the budget window",
          "single_threaded": "Single-threaded accounts: personal touches involve one of our people or one of "
                             "their functions"}


def register(cli: typer.Typer) -> None:
    @cli.command("report", epilog=examples("dealercrm report", "dealercrm report --only satisfaction --format json",
                                           "dealercrm report --format csv > report.csv",
                                           "dealercrm report --chart charts/"))
    def report(fmt: FormatOption = Format.table,
               only: Annotated[Optional[str], typer.Option(
                   metavar="SECTION", help=f"one section: {', '.join(reports.SECTIONS)}")] = None,
               chart: Annotated[Optional[Path], typer.Option(
                   metavar="FOLDER", help="write PNG charts into this folder (needs dealercrm[charts])")] = None,
               ) -> None:
        """Satisfaction, cases per party, loyal customers at risk, contacts against the budget, single-threaded
        accounts."""
        if only is not None and only not in reports.SECTIONS:
            raise ValidationError("--only", only, f"must be one of {', '.join(reports.SECTIONS)}")
        if chart is not None and chart.exists() and not chart.is_dir():  # said before the report, not after it
            raise ValidationError("--chart", str(chart), "is a file; name a folder for the charts")
        crm = open_crm()
        data = reports.report(crm, only)
        if fmt is Format.json:
            print(json.dumps(data, indent=2, ensure_ascii=False))
        elif fmt is Format.csv:
            print(to_csv(data), end="")
        else:
            for name, rows in data.items():
                console.print(table(TITLES[name], rows))
        if chart is not None:
            from .charts import write_charts
            for path in write_charts(crm, chart):
                say(f"chart written: {path}")


def table(title: str, rows: list[dict]) -> Table:
    t = Table(title=title, title_justify="left", min_width=min(len(title), 100))
    if not rows:
        t.add_column("(nothing yet)")
        return t
    for column in rows[0]:
        t.add_column(column.replace("_", " "))
    for row in rows:
        t.add_row(*("—" if v is None else str(v) for v in row.values()))
    return t


def to_csv(data: dict[str, list[dict]]) -> str:
    """Every section under a ``# name`` line; no cell can start a spreadsheet formula (``csv_out``)."""
    out = io.StringIO()
    writer = csv_out.writer(out)
    for name, rows in data.items():
        writer.writerow([f"# {name}"])
        if rows:
            writer.writerow(rows[0].keys())
            writer.writerows([["" if v is None else v for v in row.values()] for row in rows])
    return out.getvalue()
