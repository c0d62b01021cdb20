"""``/customers/duplicates``: customers of the caller's dealer who may be one person.

Listed before ``/customers/{customer_id}`` (its path would take the word for an id). Each
suspect names the merge that would fold the newer file into the older: the existing
``POST /customers/{id}/merge``, for the dealer's owner or manager.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from .auth import Caller
from .common import Limit, Offset, page, problems
from .schemas import Id, Page, SuspectOut

router = APIRouter(prefix="/customers", tags=["customers"], responses=problems(400, 401, 404, 422))


@router.get("/duplicates", response_model=Page[SuspectOut], responses=problems(403))
def duplicate_suspects(me: Caller, limit: Limit = 50, offset: Offset = 0,
                       customer_id: Annotated[Id | None, Query(description="only this customer's suspects")] = None,
                       min_score: Annotated[int, Query(ge=0, le=100, description="leave out pairs scoring less")] = 0):
    """Pairs of the caller's dealer's customers who may be one person, the likeliest first: the same
    phone, or similar names with the same postcode or birthday — suspects, never refused. Each carries
    its reasons, a score (0-100: 60 % the names' likeness, 15 for the phone, 15 the birthday, 10 the
    postcode) and the merge request that keeps the older file. Never across dealers; 403 for a
    manufacturer or technician."""
    found = me.customers.duplicates(customer_id=customer_id, min_score=min_score, limit=limit + 1, offset=offset)
    rows = [{**{k: getattr(s, k) for k in ("owner_party_id", "keep_id", "keep_name", "duplicate_id",
                                           "duplicate_name", "score", "name_score", "reasons")},
             "merge": {"method": "POST", "href": f"/customers/{s.keep_id}/merge",
                       "body": {"duplicate_id": s.duplicate_id}}} for s in found]
    return page(rows, limit, offset)
