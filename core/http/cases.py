"""``/cases``: open, list, show (with ``ETag``), allowed triggers, fire, record facts, the
replaced unit's return and credit, change the priority (with ``If-Match``), survey answers.
Every case body carries its promise, ``resolved_by`` (``crm.cases.promise``)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Annotated, Literal

from fastapi import Header, Path, Query, Request, Response

from ..errors import Conflict
from .auth import Caller
from .common import Limit, Offset, Router, etag, if_match_version, page, problems
from .problem import PreconditionFailed
from .schemas import (MAX_ID, AllowedOut, CaseEventOut, CaseIn, CaseOut, CasePatch, CreditIn, FactIn, FiredOut, FireIn,
                      Id, Page, ReturnIn, SurveyIn, SurveyOut, text)

router = Router(prefix="/cases", tags=["cases"], responses=problems(400, 401, 404, 422))
CaseId = Annotated[int, Path(ge=1, le=MAX_ID)]


def promised(me: Caller, cases: list) -> list[dict]:
    """The case bodies, each with its promise (one read for the lot)."""
    resolved = me.cases.resolved_by(cases)
    return [{**case.model_dump(), "resolved_by": resolved[case.id]} for case in cases]


@router.get("", response_model=Page[CaseOut])
def list_cases(me: Caller, limit: Limit = 50, offset: Offset = 0,
               open: Annotated[bool, Query(description="only cases not yet closed")] = True,
               held: Annotated[bool, Query(description="only cases the caller's party holds now")] = False,
               overdue: Annotated[bool, Query(description="only cases past their due time")] = False,
               state: Annotated[text(64) | None, Query()] = None,
               customer_id: Annotated[Id | None, Query()] = None,
               workflow: Annotated[text(64) | None, Query()] = None,
               sort: Annotated[Literal["due", "id", "-id"], Query(description="due: most urgent first")] = "due"):
    """The cases the caller may see: a dealer its own, a manufacturer those forwarded to it, a
    technician those assigned to it."""
    rows = me.cases.list(open_only=open, state=state, customer_id=customer_id, held=held, overdue=overdue,
                         workflow=workflow, sort=sort, limit=limit + 1, offset=offset)
    return page(promised(me, rows[:limit]) + rows[limit:], limit, offset)


@router.post("", status_code=201, response_model=CaseOut, responses=problems(403))
def open_case(me: Caller, body: CaseIn, response: Response):
    """Open a service case (by the customer's dealer)."""
    case = me.cases.open(body.customer_id, body.summary, asset_id=body.asset_id, priority=body.priority,
                         workflow=body.workflow)
    response.headers["Location"] = f"/cases/{case.id}"
    response.headers["ETag"] = etag(case.version)
    return promised(me, [case])[0]


@router.get("/{case_id}", response_model=CaseOut, responses={304: {"description": "If-None-Match matched"}})
def show_case(me: Caller, case_id: CaseId, request: Request, response: Response):
    """The case; its ``ETag`` is its version, to send back in ``If-Match`` when firing."""
    case = me.cases.get(case_id)
    tag = etag(case.version)
    if tag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={"ETag": tag})
    response.headers["ETag"] = tag
    return promised(me, [case])[0]


@router.get("/{case_id}/history", response_model=list[CaseEventOut])
def case_history(me: Caller, case_id: CaseId):
    """Every transition, escalation and fact, oldest first."""
    return me.cases.history(case_id)


@router.get("/{case_id}/allowed-triggers", response_model=AllowedOut)
def allowed_triggers(me: Caller, case_id: CaseId, response: Response):
    """What the caller may fire now (guards are judged only when firing)."""
    case = me.cases.get(case_id)
    response.headers["ETag"] = etag(case.version)
    return {"case_id": case.id, "state": case.state, "version": case.version,
            "triggers": me.cases.allowed_triggers(case_id)}


IfMatch = Annotated[str, Header(min_length=1, description=(
    'the case\'s ETag, e.g. "3" (or "*"): the change is made only if the case is still at that version. Any other '
    "value — another version, a weak tag (W/\"3\"), several versions, a value that is no entity tag at all — "
    "names no current version of the case: 412. An empty one is malformed: 422"))]


#: the version an If-Match naming no version of the case expects: none has it (versions start at 1)
NO_VERSION = 0


@contextmanager
def precondition(if_match: str | None, case_id: int):
    """The version ``If-Match`` requires (None: none), for the service to check — after the input, so a
    request that is invalid too is a 422, not a 412. A conflict then means the caller's version is
    stale: 412, not 409."""
    try:
        expected, unmet = if_match_version(if_match, case_id), None
    except PreconditionFailed as exc:
        expected, unmet = NO_VERSION, exc
    try:
        yield expected
    except Conflict as exc:
        if expected is None:
            raise
        raise (unmet or PreconditionFailed(str(exc))) from exc


@router.post("/{case_id}/transitions", response_model=FiredOut, responses=problems(403, 409, 412))
def fire_trigger(me: Caller, case_id: CaseId, body: FireIn, response: Response, if_match: IfMatch = None):
    """Fire a trigger. Refused with 409 and the ``allowed`` triggers if it cannot fire now, with 412
    if ``If-Match`` names a version that is no longer current."""
    with precondition(if_match, case_id) as expected:
        fired = me.cases.fire(case_id, body.trigger, data=body.data, note=body.note, expected_version=expected)
    response.headers["ETag"] = etag(fired.version)
    return fired


@router.post("/{case_id}/facts", response_model=CaseOut, responses=problems(403, 409, 412))
def record_fact(me: Caller, case_id: CaseId, body: FactIn, response: Response, if_match: IfMatch = None):
    """Write down a fact a guard consults — e.g. ``customer_agreed_late_slot``: true before the
    technician books a visit past the service deadline — with who and when, on the case's history.
    Any party of an open case may; answers with the case at its new version."""
    with precondition(if_match, case_id) as expected:
        me.cases.record_fact(case_id, body.key, body.value, note=body.note, expected_version=expected)
        case = me.cases.get(case_id)
    response.headers["ETag"] = etag(case.version)
    return promised(me, [case])[0]


@router.post("/{case_id}/return", response_model=CaseOut, responses=problems(403, 409, 412))
def record_return(me: Caller, case_id: CaseId, body: ReturnIn, response: Response, if_match: IfMatch = None):
    """Record steps of the replaced unit's return: the RMA number and the day the old unit arrived
    (the case's manufacturer), the day it was shipped back (the case's dealer). Shipping needs the
    RMA number, arriving the shipment; a step may be corrected. Answers with the case at its new
    version."""
    with precondition(if_match, case_id) as expected:
        case = me.cases.record_return(case_id, rma_number=body.rma_number, shipped_on=body.shipped_on,
                                      received_on=body.received_on, note=body.note, expected_version=expected)
    response.headers["ETag"] = etag(case.version)
    return promised(me, [case])[0]


@router.post("/{case_id}/credit", response_model=CaseOut, responses=problems(403, 409, 412))
def record_credit(me: Caller, case_id: CaseId, body: CreditIn, response: Response, if_match: IfMatch = None):
    """Record the manufacturer's credit to the dealer for the case (the case's manufacturer).
    Answers with the case at its new version."""
    with precondition(if_match, case_id) as expected:
        case = me.cases.record_credit(case_id, body.amount, body.currency, on=body.on, note=body.note,
                                      expected_version=expected)
    response.headers["ETag"] = etag(case.version)
    return promised(me, [case])[0]


@router.patch("/{case_id}", response_model=CaseOut, responses=problems(403, 409, 412))
def change_case(me: Caller, case_id: CaseId, body: CasePatch, response: Response, if_match: IfMatch = None):
    """Change the case's priority (the case's dealer). The service level is decided again from the
    priority, the product's category and the service contracts; a new level applies going forward:
    the current deadline becomes the earlier of the one it had and the new level's counted from now.
    Answers with the case at its new version, with its promise."""
    with precondition(if_match, case_id) as expected:
        case = me.cases.set_priority(case_id, body.priority, note=body.note, expected_version=expected)
    response.headers["ETag"] = etag(case.version)
    return promised(me, [case])[0]


@router.post("/{case_id}/survey", status_code=201, response_model=SurveyOut, responses=problems(403))
def record_survey_answer(me: Caller, case_id: CaseId, body: SurveyIn):
    """Record what the customer answered to the satisfaction survey (by default on the phone): the
    case's dealer only. A case has one answer: a later one revises it (the scores and comment it
    gives replace the earlier ones). It goes on the customer's timeline, and a low score makes a
    follow-up."""
    return me.surveys.record(case_id, csat=body.csat, nps=body.nps, comment=body.comment, channel=body.channel)


@router.get("/{case_id}/survey", response_model=list[SurveyOut], responses=problems(403))
def survey_answers(me: Caller, case_id: CaseId):
    """The survey answer of the case (one at most, as it now stands): the case's dealer only."""
    return me.surveys.of_case(case_id)
