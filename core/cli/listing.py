"""Lists on the command line: a table for people, JSON or CSV for programs and spreadsheets.

A list command builds plain rows (dicts of values: ids, text, aware datetimes, None) and
hands them to ``emit`` with its columns. The table shows every time in the reader's zone
with the zone's name (``fmt_time``); JSON and CSV carry ISO 8601 times with the reader's
offset, which programs read without guessing; CSV cells cannot start a formula
(``dealercrm.csv_out``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import attrs
import typer
from rich.markup import escape
from rich.table import Table

from .. import csv_out
from ..errors import ValidationError
from .common import console, fmt_time, viewer_zone

FORMATS = ("table", "json", "csv")
FormatOption = Annotated[str, typer.Option(
    "--format", "-f", metavar="table|json|csv",
    help="table for people; json or csv (times in ISO 8601 with your zone's offset) for programs")]


@attrs.frozen
class Col:
    """One column: ``key`` in each row (and the JSON/CSV name), its heading in the table, and
    optionally how the table shows the row's cell (Rich markup; text from people escaped)."""

    key: str
    heading: str
    cell: Callable[[dict], str] | None = None
    no_wrap: bool = False


def check_format(fmt: str) -> str:
    """Said before anything is read: a wrong ``--format`` is a one-line error, not half a table."""
    if fmt not in FORMATS:
        raise ValidationError("--format", fmt, f"must be {', '.join(FORMATS[:-1])} or {FORMATS[-1]}")
    return fmt


def plain(value: Any) -> Any:
    """A value as JSON and CSV carry it: times in ISO 8601 with the reader's offset."""
    if isinstance(value, datetime):
        return value.astimezone(viewer_zone()).isoformat(timespec="seconds") if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def shown(value: Any) -> str:
    """A value as the table shows it."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        return fmt_time(value)
    if isinstance(value, (list, tuple)):
        return escape("; ".join(str(v) for v in value))
    return escape(str(value))


def emit(rows: Sequence[dict], columns: Sequence[Col], fmt: str, *, title: str | None = None,
         empty: str = "nothing to show") -> None:
    """Print ``rows`` as ``fmt`` says."""
    if fmt == "json":
        print(json.dumps([{c.key: plain(row.get(c.key)) for c in columns} for row in rows], indent=2,
                         ensure_ascii=False))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv_out.writer(out)
        writer.writerow([c.key for c in columns])
        for row in rows:
            writer.writerow(["" if (v := plain(row.get(c.key))) is None else
                             "; ".join(map(str, v)) if isinstance(v, list) else v for c in columns])
        print(out.getvalue(), end="")
    elif not rows:
        console.print(f"{title + ': ' if title else ''}{empty}", markup=False, highlight=False)
    else:
        table = Table(*(c.heading for c in columns), title=title, title_justify="left")
        for c, column in zip(columns, table.columns):
            column.no_wrap = c.no_wrap
        for row in rows:
            table.add_row(*((c.cell(row) if c.cell else shown(row.get(c.key))) for c in columns))
        console.print(table)
