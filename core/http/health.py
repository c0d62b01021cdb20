"""``/health`` (no key needed) and ``/me`` (who the key acts as)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ..db.migrate import current_revision, head_revision
from ..uow import readonly_engine
from .auth import Caller
from .common import problems
from .schemas import HealthOut

router = APIRouter(tags=["health"])


class MeOut(BaseModel):
    actor_id: int
    name: str
    party_id: int | None
    kind: str
    role: str


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
def health(request: Request):
    """``ok`` when the database answers and its schema is the one this version expects."""
    crm = request.app.state.crm
    try:
        # a read (plain BEGIN, no write lock): a poll never waits behind writers, nor they behind it;
        # reading the schema's revision is the database answering at all
        with readonly_engine(crm).connect() as conn:
            revision = current_revision(conn)
    except Exception as exc:  # noqa: BLE001  (health reports, it does not fail)
        body = HealthOut(status="degraded", database=f"unreachable: {type(exc).__name__}")
        return JSONResponse(body.model_dump(), status_code=503)
    if revision != head_revision():
        body = HealthOut(status="degraded", database=f"schema {revision}, expected {head_revision()}",
                         schema_revision=revision)
        return JSONResponse(body.model_dump(), status_code=503)
    return HealthOut(status="ok", database="ok", schema_revision=revision)


@router.get("/me", response_model=MeOut, responses=problems(401))
def me(me: Caller):
    """The actor and party the presented key acts as."""
    p = me.principal
    return MeOut(actor_id=p.actor_id, name=p.name, party_id=p.party_id, kind=p.kind, role=p.role)
