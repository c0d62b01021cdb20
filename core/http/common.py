"""What the routers share: their router class, pagination, problem documentation, ETags."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from .problem import PreconditionFailed

Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="rows to skip")]


class Problem(BaseModel):
    """RFC 9457 problem details; further members depend on the type (``allowed``, ``field``…)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    allowed: list[str] | None = None
    field: str | None = None
    reason: str | None = None


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the problem answers a route can give."""
    text = {400: "the body could not be read (not JSON, not UTF-8)", 401: "no, unknown or revoked API key",
            403: "visible, but not the caller's to do",
            404: "does not exist, or not visible to the caller",
            408: "the body did not arrive in time (`[http] body_timeout_seconds`); the connection is closed",
            409: "conflict with what is stored: changed concurrently, an invalid transition (with `allowed`), a "
            "plugin's veto, or a state that refuses it (type state-conflict, with `field`: a customer merged or "
            "erased, a closed case, a task done, a value another record has, a record that cannot play that part)",
            412: "If-Match names no current version of the case (a stale ETag, a weak or unknown tag)",
            413: "body too large",
            415: "a body in another media type or charset than the operation takes",
            422: "invalid input (with `field`): not what this document allows, or a rule it states in words",
            503: "the database is busy or unreachable"}
    return {status: {"model": Problem, "description": text[status]} for status in statuses}


def page(rows: list, limit: int, offset: int) -> dict[str, Any]:
    """A page from ``limit + 1`` fetched rows: the extra row only says there is more."""
    return {"items": rows[:limit], "limit": limit, "offset": offset,
            "next_offset": offset + limit if len(rows) > limit else None}


def etag(version: int) -> str:
    return f'"{version}"'


def if_match_version(if_match: str | None, case_id: int) -> int | None:
    """The case version ``If-Match`` requires (None: no condition, or ``*``).

    Only strong tags ``"<version>"`` can match; a header naming none of those cannot be met.
    """
    if if_match is None or if_match.strip() == "*":
        return None
    # ASCII digits only: "²".isdigit() is True, and int() of it raised (a 500)
    versions = {int(tag[1:-1]) for tag in (t.strip() for t in if_match.split(","))
                if len(tag) > 2 and tag[0] == tag[-1] == '"' and tag[1:-1].isascii() and tag[1:-1].isdigit()
                and len(tag) < 20}
    if len(versions) != 1:
        raise PreconditionFailed(f"If-Match {if_match[:60]!r} names {'no' if not versions else 'several'} version"
                                 f"{'s' if versions else ''} of case {case_id}; send the ETag of the case, "
                                 'e.g. If-Match: "3"')
    return versions.pop()



WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Router(APIRouter):
    """The core's routers. A writing route written as a plain function runs in the thread pool in
    one trip, its answer then validated and serialised on the event loop (``in_pool``): FastAPI
    would take a plain function's answer back to the pool to validate it, a second trip per write."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if WRITES & set(kwargs.get("methods") or ()) and not inspect.iscoroutinefunction(endpoint):
            endpoint = in_pool(endpoint)
        super().add_api_route(path, endpoint, **kwargs)


def in_pool(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as a coroutine that runs it in the thread pool, with its parameters as FastAPI
    reads them (annotations resolved in the function's own module)."""
    hints = typing.get_type_hints(function, include_extras=True)
    signature = inspect.signature(function)

    @functools.wraps(function)
    async def endpoint(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(function, *args, **kwargs)

    endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()],
        return_annotation=hints.get("return", signature.return_annotation))
    return endpoint
