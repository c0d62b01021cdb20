"""``/imports/customers`` and ``/imports/assets``: a dealer's lists from its old system, posted as CSV.

The body is the file ``dealercrm customers import`` (or ``assets import``) reads, as the
spreadsheet saved it: comma-, semicolon- or tab-separated; in the charset the Content-Type
names, else UTF-8 (with or without a byte-order mark), UTF-16 with its mark, or
Windows-1252 — said in ``warnings``. It is checked whole before anything is written — so
a 422 means nothing was imported — then every good row is filed and every bad one
reported with its line, field and reason: a partial import is still a 200, read
``rejected``. Rows are filed ``[http] import_chunk_rows`` (500) at a time, each chunk
committed: if a plugin vetoes one (409), the chunks before it stay. Posting the same list
again files the rest and skips what is there, by external id (a unit: by product and
serial number or dates); with the same ``Idempotency-Key`` the repeat runs nothing and
gets the first report.

Each chunk is its own transaction: on SQLite the import takes the database file's write
lock once per chunk (``dealercrm.db.write_lock``), not for its whole run, so other
parties' writes get in between chunks instead of waiting for the list.
"""

from __future__ import annotations

import functools
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ..services.importing import ASSET_COLUMNS, KNOWN_COLUMNS, PACING, Pacing
from .auth import Caller
from .common import problems
from .idempotency import MAX_BODY
from .schemas import AssetImportOut, ImportOut, text

router = APIRouter(prefix="/imports", tags=["imports"], responses=problems(401, 403, 408, 409, 413, 415, 422))
EXAMPLE = ("external_id,name,email,phone,interests\n"
           "K-1,Max Mustermann,max@example.org,0171 5550100,skiing;golf\n")
ASSET_EXAMPLE = ("external_id;sku;serial_number;purchased_on;handed_over_on;price\n"
                 "K-1;WM-BRI-8;BRI8-2026-001234;01.03.2026;05.03.2026;649,00\n")
READ = ("comma-, semicolon- or tab-separated, with a header line; UTF-8 (a byte-order mark is fine), UTF-16 with "
        "its mark, or Windows-1252 (said in `warnings`; name it as the charset to be sure); dates as YYYY-MM-DD or "
        f"DD.MM.YYYY. At most {MAX_BODY >> 20} MiB, some 8,000 rows: send a longer list in parts, each with the "
        "header")
#: the charsets a spreadsheet's CSV comes in, by the names a Content-Type gives them (WHATWG: latin-1 is 1252)
CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "utf-16": "utf-16", "windows-1252": "cp1252", "cp1252": "cp1252",
            "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252"}
IgnoreColumn = Annotated[list[text(200)] | None, Query(
    max_length=50, description="a column of the document to leave out on purpose (repeatable); any other "
    "column the import does not read refuses the document, so that no value is lost unsaid")]


def _body(example: str, columns: tuple[str, ...], required: str, fmt: str) -> dict:
    """The CSV body as the document states it: never empty (its first line names the columns);
    ``fmt`` names what no schema can spell (a customer list, a unit list)."""
    return {"requestBody": {"required": True,
                            "content": {"text/csv": {"schema": {"type": "string", "minLength": 1, "format": fmt},
                                                     "example": example}},
                            "description": f"CSV, {READ}; columns: {', '.join(columns)} ({required} required)"}}


def _charset(content_type: str | None) -> str | None:
    """The encoding the Content-Type declares (None: not declared, to be found); anything but
    CSV in a charset a spreadsheet writes is a 415."""
    media, *params = [part.strip().lower() for part in (content_type or "").split(";")]
    declared = next((p.partition("=")[2].strip('"') for p in params if p.startswith("charset=")), None)
    if media != "text/csv" or (declared is not None and declared not in CHARSETS):
        raise HTTPException(415, f"send the list as Content-Type: text/csv, in UTF-8 or Windows-1252, not "
                                 f"{content_type or 'no content type'!r}")
    return CHARSETS[declared] if declared else None


@router.post("/customers", response_model=ImportOut, openapi_extra=_body(EXAMPLE, KNOWN_COLUMNS, "external_id and name", "customer-csv"))
async def import_customers(me: Caller, request: Request, ignore_column: IgnoreColumn = None):
    """The customers become the caller's dealership's. A row naming another party in ``owner_party`` is
    rejected, not the list: the dealer's other customers should not wait for one wrong cell. A row may
    carry the unit the customer bought (``sku`` and the asset columns); a row whose unit cannot be filed
    is rejected whole. The body limit is that of every POST: send a long list in parts."""
    report = await _run(request, me.imports.run_text, ignore_column)
    return {**_read(report), "imported": report.imported, "already_present": report.already_present,
            "assets_imported": report.assets_imported, "assets_already_present": report.assets_already_present}


@router.post("/assets", response_model=AssetImportOut,
             openapi_extra=_body(ASSET_EXAMPLE, ASSET_COLUMNS, "external_id and sku", "asset-csv"))
async def import_assets(me: Caller, request: Request, ignore_column: IgnoreColumn = None):
    """Units the caller's customers bought, one row per unit: the customer by its ``external_id`` (a
    customer of the caller's dealership), the product by its ``sku`` in the catalogue. A unit the customer
    already has is skipped; a row naming no customer of the caller's is rejected without saying more."""
    report = await _run(request, me.imports.assets_text, ignore_column)
    return {**_read(report), "imported": report.imported, "already_present": report.already_present}


async def _run(request: Request, method, ignore_column: list[str] | None):
    encoding = _charset(request.headers.get("content-type"))
    pacing = Pacing(request.app.state.crm.settings.http.import_chunk_rows)
    run = functools.partial(method, source="CSV upload", encoding=encoding, ignore_columns=tuple(ignore_column or ()))
    return await run_in_threadpool(_paced, pacing, run, await request.body())


def _read(report) -> dict:
    return {"rows": report.rows, "rejected": report.rejections, "read_as": report.read_as,
            "warnings": report.warnings, "ignored_columns": report.ignored_columns}


def _paced(pacing: Pacing, run, *args):
    """In the worker thread: the import's chunks are ``pacing.rows`` long."""
    token = PACING.set(pacing)
    try:
        return run(*args)
    finally:
        PACING.reset(token)
