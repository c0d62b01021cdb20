"""``/imports/customers``: a dealer's customer list from its old system, posted as CSV.

The body is the file ``dealercrm import customers`` reads. It is checked whole before
anything is written — so a 422 means nothing was imported — then every good row is
filed and every bad one reported with its line, field and reason: a partial import is
still a 200, read ``rejected``. Rows are filed ``[http] import_chunk_rows`` (500) at a
time, each chunk committed: if a plugin vetoes one (409), the chunks before it stay.
Posting the same list again files the rest and skips what is there, by external id; with
the same ``Idempotency-Key`` the repeat runs nothing and gets the first report.

On SQLite the import takes the write gate (``gate.py``) once per chunk, not for its
whole run: other parties' writes get in between chunks instead of waiting for the list.
"""

from __future__ import annotations

import functools
from contextlib import nullcontext

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ..services.importing import KNOWN_COLUMNS, PACING, Pacing
from .auth import Caller
from .common import problems
from .gate import HELD
from .idempotency import MAX_BODY
from .schemas import ImportOut

router = APIRouter(prefix="/imports", tags=["imports"], responses=problems(401, 403, 408, 409, 413, 415, 422))
EXAMPLE = ("external_id,name,email,phone,interests\n"
           "K-1,Max Mustermann,max@example.org,0171 5550100,skiing;golf\n")
#: the list is never empty: its first line names the columns (``format`` names what no schema can spell)
CSV_BODY = {"requestBody": {"required": True,
                            "content": {"text/csv": {"schema": {"type": "string", "minLength": 1,
                                                                "format": "customer-csv"}, "example": EXAMPLE}},
                            "description": f"UTF-8 CSV with a header line; columns: {', '.join(KNOWN_COLUMNS)} "
                                           f"(external_id and name required). At most {MAX_BODY >> 20} MiB, some "
                                           "8,000 rows: send a longer list in parts, each with the header"}}


def _csv_only(content_type: str | None) -> None:
    media, *params = [part.strip().lower() for part in (content_type or "").split(";")]
    charset = next((p.partition("=")[2].strip('"') for p in params if p.startswith("charset=")), "utf-8")
    if media != "text/csv" or charset not in ("utf-8", "utf8"):
        raise HTTPException(415, f"send the customer list as Content-Type: text/csv in UTF-8, not "
                                 f"{content_type or 'no content type'!r}")


@router.post("/customers", response_model=ImportOut, openapi_extra=CSV_BODY)
async def import_customers(me: Caller, request: Request):
    """The customers become the caller's dealership's. A row naming another party in ``owner_party`` is
    rejected, not the list: the dealer's other customers should not wait for one wrong cell. The body
    limit is that of every POST: send a long list in parts."""
    _csv_only(request.headers.get("content-type"))
    gate = request.app.state.write_gate
    held = request.scope.get("state", {}).get(HELD)  # the guard holds the gate already: no second taking
    pacing = Pacing(request.app.state.crm.settings.http.import_chunk_rows,
                    nullcontext if held else gate.held_from_thread)
    run = functools.partial(me.imports.run_text, source="CSV upload")
    report = await run_in_threadpool(_paced, pacing, run, await request.body())
    return {"rows": report.rows, "imported": report.imported, "already_present": report.already_present,
            "rejected": report.rejections}


def _paced(pacing: Pacing, run, *args):
    """In the worker thread: the import's chunks take the write gate one at a time."""
    token = PACING.set(pacing)
    try:
        return run(*args)
    finally:
        PACING.reset(token)
