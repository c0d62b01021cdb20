"""Errors as RFC 9457 problem details: one problem type per kind of domain error.

Every error answer is ``application/problem+json`` with ``type``, ``title``,
``status``, ``detail`` (the domain error's own message, which names the object, the
value and what would be allowed) and ``instance`` (the request path), plus the members
a client can act on: ``allowed`` (the triggers the caller may fire) for an invalid
transition, ``field`` and ``reason`` for invalid input.

=====================================  ======  ==================================
domain error                           status  type (``urn:dealercrm:problem:…``)
=====================================  ======  ==================================
NotAuthenticated (no/unknown/revoked)   401    unauthenticated
NotPermitted                            403    not-permitted
NotFound (or not visible to the caller) 404    not-found
Conflict (changed concurrently)         409    conflict
TransitionNotAllowed                    409    transition-not-allowed (+ allowed)
Vetoed (a plugin refused)               409    vetoed
StateConflict (merged, erased, closed…) 409    state-conflict (+ field, reason)
kept answer erased (Idempotency-Key)    410    answer-erased (customer erased since)
PreconditionFailed (If-Match)           412    precondition-failed
ValidationError                         422    validation-error (+ field, reason)
IdempotencyMismatch                     422    idempotency-key-reused
=====================================  ======  ==================================

An import that stopped after some of its chunks were committed (``ImportInterrupted``)
answers with the status of what stopped it, and says what was committed:
``stopped_at_line``, ``imported``, ``already_present``, ``rejected``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from ..access import NotAuthenticated
from ..errors import (Conflict, DealerCrmError, ImportInterrupted, NotFound, NotPermitted, PluginError,
                      StateConflict, TransitionNotAllowed, ValidationError, Vetoed)

log = logging.getLogger("dealercrm.http")
PROBLEM_JSON = "application/problem+json"
BASE = "urn:dealercrm:problem:"


class PreconditionFailed(DealerCrmError):
    """``If-Match`` named a version that is not (or no longer) the current one."""


class IdempotencyMismatch(DealerCrmError):
    """An ``Idempotency-Key`` used again for a different request."""


class IdempotencyInProgress(DealerCrmError):
    """The first request with this ``Idempotency-Key`` has not finished yet."""


#: (error class, status, type slug, title) — the first matching class wins.
KINDS: tuple[tuple[type[BaseException], int, str, str], ...] = (
    (NotAuthenticated, 401, "unauthenticated", "Authentication required"),
    (NotPermitted, 403, "not-permitted", "Not permitted"),
    (NotFound, 404, "not-found", "Not found"),
    (TransitionNotAllowed, 409, "transition-not-allowed", "Transition not allowed"),
    (Conflict, 409, "conflict", "Changed concurrently"),
    (Vetoed, 409, "vetoed", "Refused by a plugin"),
    (StateConflict, 409, "state-conflict", "Refused by the current state"),
    (IdempotencyInProgress, 409, "idempotency-key-in-progress", "Request with this key still in progress"),
    (PreconditionFailed, 412, "precondition-failed", "Precondition failed"),
    (ValidationError, 422, "validation-error", "Invalid input"),
    (IdempotencyMismatch, 422, "idempotency-key-reused", "Idempotency key reused for another request"),
    (PluginError, 500, "plugin-error", "A plugin failed"),
    (DealerCrmError, 400, "bad-request", "Bad request"),
)
STATUS_TITLES = {400: "Bad request", 401: "Authentication required", 404: "Not found",
                 405: "Method not allowed", 408: "Request timeout", 413: "Request too large", 415: "Unsupported media type"}


def problem(request: Request | None, status: int, slug: str, title: str, detail: str,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": BASE + slug, "title": title, "status": status, "detail": detail,
            "instance": request.url.path if request is not None else None, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _kind(exc: BaseException) -> tuple[int, str, str]:
    for cls, status, slug, title in KINDS:
        if isinstance(exc, cls):
            return status, slug, title
    return 500, "internal-error", "Internal error"


def from_interrupted_import(request: Request, exc: ImportInterrupted) -> JSONResponse:
    """An import that stopped after committing chunks: the cause's status, and what was committed
    (a plugin's failure must not answer "nothing was changed")."""
    cause = exc.cause
    status, slug, title = _kind(cause)
    if isinstance(cause, PluginError) or not isinstance(cause, DealerCrmError):
        log.error("import stopped at line %d: %s", exc.line, cause, exc_info=cause)
        said = (f"plugin {cause.plugin!r} failed in {cause.hook} (see the server log)" if isinstance(cause, PluginError)
                else "an unexpected error occurred; it was logged")
        if isinstance(cause, OperationalError):
            status, slug, title, said = 503, "unavailable", "Service unavailable", "the database is busy or unreachable"
    else:
        said = str(cause)
    report = exc.report
    return problem(request, status, slug, title, f"the import stopped at line {exc.line}: {said}; {exc.committed()}",
                   stopped_at_line=exc.line, imported=report.imported, already_present=report.already_present,
                   rejected=report.rejections)


def from_domain_error(request: Request, exc: DealerCrmError) -> JSONResponse:
    if isinstance(exc, ImportInterrupted):
        return from_interrupted_import(request, exc)
    status, slug, title = _kind(exc)
    extra: dict[str, Any] = {}
    headers = None
    detail = str(exc)
    if isinstance(exc, TransitionNotAllowed):
        extra["allowed"] = list(exc.allowed)
    elif isinstance(exc, ValidationError):
        extra.update(field=exc.field, reason=exc.reason)
    elif isinstance(exc, NotAuthenticated):
        headers = {"WWW-Authenticate": 'Bearer realm="dealercrm"'}
    elif isinstance(exc, PluginError):
        log.error("%s", exc, exc_info=exc)
        detail = f"plugin {exc.plugin!r} failed in {exc.hook}; nothing was changed (see the server log)"
    return problem(request, status, slug, title, detail, headers, **extra)


def from_request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    """Invalid input is a 422 naming the field — but a path that is no id (``/customers/None``)
    names no resource: 404, as for an id never used."""
    if exc.errors() and all(e.get("loc", ("?",))[0] == "path" for e in exc.errors()):
        named = ", ".join(f"{e['loc'][-1]} {e.get('input')!r}" for e in exc.errors())
        return problem(request, 404, "not-found", "Not found", f"{named}: no such resource")
    errors = [{"field": ".".join(str(p) for p in e.get("loc", ())[1:]) or str(e.get("loc", ("?",))[0]),
               "in": str(e.get("loc", ("?",))[0]), "reason": e.get("msg", "invalid")} for e in exc.errors()]
    first = errors[0] if errors else {"field": "request", "reason": "invalid"}
    return problem(request, 422, "validation-error", "Invalid input", f"invalid {first['field']}: {first['reason']}",
                   field=first["field"], reason=first["reason"], errors=errors)


def from_http_exception(request: Request, exc: HTTPException) -> JSONResponse:
    title = STATUS_TITLES.get(exc.status_code, "Error")
    slug = title.lower().replace(" ", "-")
    headers = getattr(exc, "headers", None)
    detail = str(exc.detail)
    if exc.status_code == 405:
        allowed = allowed_methods(request)
        headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        detail = f"{request.method} is not allowed here; allowed: {', '.join(allowed)}"
    return problem(request, exc.status_code, slug, title, detail, headers)


METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path (RFC 9110's ``Allow``), asked of the routes
    themselves: the router's own 405 names only the first route whose path matched, so a path
    served by two routes (GET and POST of /cases) would name one."""
    return [method for method in METHODS if any(
        route.matches({**request.scope, "method": method})[0] is Match.FULL for route in request.app.router.routes)]


def from_database_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DataError):  # e.g. a value PostgreSQL cannot store in that column
        return problem(request, 422, "validation-error", "Invalid input", "a value cannot be stored: "
                       + str(getattr(exc, "orig", exc)).splitlines()[0], field="request", reason="cannot be stored")
    log.error("database unavailable: %s", exc)
    return problem(request, 503, "unavailable", "Service unavailable", "the database is busy or unreachable; "
                   "try again shortly", {"Retry-After": "1"})


def from_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(request, 500, "internal-error", "Internal error", "an unexpected error occurred; it was logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(DealerCrmError, from_domain_error)
    app.add_exception_handler(RequestValidationError, from_request_validation)
    app.add_exception_handler(HTTPException, from_http_exception)
    app.add_exception_handler(DataError, from_database_error)
    app.add_exception_handler(OperationalError, from_database_error)
    app.add_exception_handler(Exception, from_unexpected)
