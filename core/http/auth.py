"""Who is calling: an API key in ``Authorization: Bearer <key>`` or ``X-API-Key``.

The key is checked against its stored hash on every request (a revoked key stops
working with the next one) and names the actor every route acts as: routes call the
services with ``by=`` that actor (``ActingAs``), and the services decide access in each
operation's own transaction — the same rules as the Python API and the CLI.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

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


def caller(request: Request,
           _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
           _header: Annotated[str | None, Depends(api_key_header)] = None) -> ActingAs:
    principal = principal_of(request)
    return ActingAs(request.app.state.crm, principal.actor_id, principal)


Caller = Annotated[ActingAs, Depends(caller)]
