"""Who is calling: an API key in ``Authorization: Bearer <key>`` or ``X-API-Key``.

The key is checked against its stored hash, and then trusted for a few seconds
(``ApiKeyService.known``: a key revoked by this server stops working with the next
request, one revoked by another process within ``KEY_CHECK_SECONDS``). It names the actor
every route acts as: routes call the services with ``by=`` that actor (``ActingAs``), and
the services decide access in each operation's own transaction, reading the actor
afresh — the same rules as the Python API and the CLI.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from ..access import Principal
from ..acting import ActingAs

bearer = HTTPBearer(auto_error=False, description="an API key made by `dealercrm keys create`")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the same key, if Bearer is awkward")


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip() or None
    return x_api_key


def principal_of(request: Request) -> Principal:
    """Authenticate once per request (the idempotency guard may already have)."""
    known = request.scope.get("state", {}).get("dealercrm_principal")
    if known is not None:
        return known
    key = presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
    principal = request.app.state.keys.authenticate(key)
    request.scope.setdefault("state", {})["dealercrm_principal"] = principal
    return principal


async def caller(request: Request,
                 _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
                 _header: Annotated[str | None, Depends(api_key_header)] = None) -> ActingAs:
    """On the event loop when the caller is known already (the guard authenticated a write, or the
    key was checked moments ago); a key to read from the database is read in the thread pool."""
    state = request.scope.get("state", {})
    principal = state.get("dealercrm_principal")
    if principal is None:
        keys = request.app.state.keys
        key = presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
        principal = keys.known(key) or await run_in_threadpool(keys.authenticate, key)
        request.scope.setdefault("state", {})["dealercrm_principal"] = principal
    return ActingAs(request.app.state.crm, principal.actor_id, principal)


Caller = Annotated[ActingAs, Depends(caller)]
