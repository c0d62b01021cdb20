"""What every command shows the same way.

- Lists: ``--format table|json|csv`` (``FormatOption`` and ``show_list``). JSON is the HTTP
  API's shape where the API has the list — a page ``{"items": [...], "limit", "offset",
  "next_offset"}`` of the same objects — and ``{"items": [...]}`` elsewhere; CSV is the items,
  nested values as JSON, no cell able to start a spreadsheet formula (``csv_out``).
- Progress bars (Rich, on stderr) only when stdout is a terminal and ``--quiet`` is not
  given: piped into a file or run from cron, a command prints its result and nothing else.
- ``--quiet``: no progress and no confirmations ("customer 5 added"); what a command was
  asked for (a list, a key, a document), warnings and errors are still printed.
- ``examples(...)``: the epilog every command carries (a test parses each example).
- ``deprecated(...)``: an old form kept as a hidden alias for one version, saying so on stderr.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Annotated, Any

import typer
from pydantic_core import to_jsonable_python
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .. import csv_out
from .common import _state, console, err


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


FormatOption = Annotated[Format, typer.Option(
    "--format", "-f", case_sensitive=False,
    help="table for people; json (the HTTP API's shape where it has the list) or csv for other programs")]


def examples(*lines: str) -> str:
    """The epilog of a command: each line a complete command, starting with ``dealercrm``."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


def quiet() -> bool:
    return bool(_state.get("quiet"))


def say(*objects: Any, **kwargs: Any) -> None:
    """A confirmation or summary: printed unless ``--quiet``."""
    if not quiet():
        console.print(*objects, **kwargs)


def jsonable(value: Any) -> Any:
    """JSON-ready, as pydantic writes it over HTTP (times in ISO 8601, amounts as text)."""
    return to_jsonable_python(value, fallback=str)


def paged(rows: list, limit: int, offset: int) -> dict[str, Any]:
    """A page from ``limit + 1`` fetched rows, as ``GET /customers`` answers: the extra row only says
    there is more."""
    return {"limit": limit, "offset": offset, "next_offset": offset + limit if len(rows) > limit else None}


def show_list(fmt: Format, items: list[dict[str, Any]], table: Callable[[], Table], *,
              page: dict[str, Any] | None = None, columns: Iterable[str] = ()) -> None:
    """Print a list: ``table()`` for people, the ``items`` (with ``page``'s keys) as JSON or CSV
    (``columns`` first: an empty list still has its header)."""
    if fmt is Format.table:
        console.print(table())
    elif fmt is Format.json:
        print(json.dumps({"items": jsonable(items), **(page or {})}, indent=2, ensure_ascii=False))
    else:
        print(to_csv(items, columns), end="")


def to_csv(items: list[dict[str, Any]], first: Iterable[str] = ()) -> str:
    columns: dict[str, None] = dict.fromkeys(first)
    for item in items:
        columns.update(dict.fromkeys(item))
    out = io.StringIO()
    writer = csv_out.writer(out)
    writer.writerow(columns)
    for item in items:
        writer.writerow([_cell(item.get(c)) for c in columns])
    return out.getvalue()


def _cell(value: Any) -> Any:
    value = jsonable(value)
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


class _Silent:
    """A progress display that shows nothing (piped output, ``--quiet``)."""

    def add_task(self, description: str, total: float | None = None, **_: Any) -> int:
        return 0

    def advance(self, task: int, advance: float = 1) -> None:
        pass


@contextmanager
def progress(counted: str = "done", *, total_known: bool = False) -> Iterator[Any]:
    """A Rich progress display on stderr while the block runs, if stdout is a terminal and
    not ``--quiet``; else one that shows nothing. ``counted`` names what is counted."""
    if quiet() or not sys.stdout.isatty():
        yield _Silent()
        return
    columns = ((TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
               if total_known else
               (TextColumn("{task.description}"), BarColumn(), TextColumn(f"{{task.completed:.0f}} {counted}"),
                TimeElapsedColumn()))
    with Progress(*columns, console=err, transient=True) as shown:
        yield shown


def deprecated(old: str, new: str) -> None:
    """Say on stderr that ``dealercrm OLD`` is now ``dealercrm NEW`` (even with ``--quiet``)."""
    err.print(f"note: `dealercrm {old}` is now `dealercrm {new}`; the old form goes away in the next version",
              markup=False, highlight=False, soft_wrap=True)
