"""``/parties``: the directory every party reads, and each party's own people."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query

from .auth import Caller
from .common import Limit, Offset, Router, page, problems
from .schemas import MAX_ID, CalendarIn, EmployeeOut, HandoverIn, HandoverOut, Page, PartyOut, Short

router = Router(prefix="/parties", tags=["parties"], responses=problems(400, 401, 422))
PartyId = Annotated[int, Path(ge=1, le=MAX_ID)]
ActorId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("", response_model=Page[PartyOut])
def list_parties(me: Caller, limit: Limit = 50, offset: Offset = 0,
                 kind: Annotated[Literal["dealer", "manufacturer", "technician"] | None, Query()] = None,
                 q: Annotated[Short | None, Query(description="part of the name, in any case")] = None):
    """Every party, by id: the workflow asks for party ids (a manufacturer approving a visit names the
    technician company as ``technician_party_id``)."""
    return page(me.parties.list(kind=kind, search=q, limit=limit + 1, offset=offset), limit, offset)


@router.get("/{party_id}", response_model=PartyOut, responses=problems(404))
def show_party(me: Caller, party_id: PartyId):
    return me.parties.get(party_id)


@router.put("/{party_id}/calendar", response_model=PartyOut, responses=problems(403, 404))
def set_calendar(me: Caller, party_id: PartyId, body: CalendarIn):
    """Set the party's time zone, opening hours, holiday region and closing days: deadlines set from
    now on count in it. The party's owner or manager may."""
    values = body.model_dump(exclude_unset=True)
    if values.get("closed") is not None:
        values["closed"] = [d.isoformat() for d in values["closed"]]
    return me.parties.set_calendar(party_id, **values)


@router.get("/{party_id}/actors", response_model=Page[EmployeeOut], responses=problems(403, 404))
def list_actors(me: Caller, party_id: PartyId, limit: Limit = 50, offset: Offset = 0,
                active: Annotated[bool | None, Query(description="only active (true) or inactive (false) people")]
                = None):
    """The people of the caller's own party (e.g. to name a customer's account owner); another party's
    employees are its own business (403)."""
    return page(me.parties.actors(party_id, active=active, limit=limit + 1, offset=offset), limit, offset)


@router.post("/{party_id}/actors/{actor_id}/deactivate", response_model=HandoverOut, responses=problems(403, 404))
def deactivate_actor(me: Caller, party_id: PartyId, actor_id: ActorId, body: HandoverIn | None = None):
    """Someone left: deactivate them and, in the same audited operation, hand over every account they owned or
    held the only relationship with — a hand-over task each (who takes over, whom to introduce), and with
    ``handover_to`` the successor becomes account owner and gets their open tasks. The party's owner or manager
    may (403 for anyone else); a person of another party than the path's is a 404."""
    return me.parties.deactivate(actor_id, handover_to=body.handover_to if body else None, party_id=party_id)
