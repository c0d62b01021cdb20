"""What the routers share: their router class, pagination, problem documentation, ETags."""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match

from ..errors import ValidationError
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
    """The core's routers. A query parameter of one value given twice is a 422 (``one_value_each``).
    A writing route written as a plain function runs in the thread pool in one trip, its answer
    then validated and serialised on the event loop (``in_pool``): FastAPI would take a plain
    function's answer back to the pool to validate it, a second trip per write."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if kwargs.get("include_in_schema", True):  # the document's operations: one value per parameter
            kwargs["dependencies"] = [*(kwargs.get("dependencies") or ()), one_value_each(endpoint)]
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


SEQUENCES = (list, tuple, set, frozenset)


def _a_sequence(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is Annotated:
        return _a_sequence(typing.get_args(hint)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_a_sequence(arg) for arg in typing.get_args(hint))
    return hint in SEQUENCES or origin in SEQUENCES


@functools.lru_cache(maxsize=1024)
def query_names(endpoint: Callable[..., Any]) -> tuple[frozenset[str], frozenset[str]]:
    """(the names ``endpoint`` reads a parameter by, those it reads as a list): ``?ignore_column=a&
    ignore_column=b`` is two columns, a scalar given twice is no value the document allows. An
    endpoint whose annotations cannot be read here (a plugin's local names) is left alone."""
    try:
        hints = typing.get_type_hints(endpoint, include_extras=True)
    except (NameError, TypeError):
        return frozenset(), frozenset()
    names, lists = set(), set()
    for name, hint in hints.items():
        extras = typing.get_args(hint)[1:] if typing.get_origin(hint) is Annotated else ()
        said = next((alias for alias in (getattr(extra, "alias", None) for extra in extras) if alias), name)
        names.add(said)
        if _a_sequence(hint):
            lists.add(said)
    return frozenset(names), frozenset(lists)


def one_value_each(endpoint: Callable[..., Any]) -> Any:
    """A dependency refusing, for ``endpoint``, a query parameter the document declares with one value
    given twice (a 422): FastAPI would read the last one and drop the rest without a word
    (``?offset=5&offset=x`` read as offset x). On the event loop, no thread of its own."""

    async def single_valued(request: Request) -> None:
        refuse_repeats(request, endpoint)

    return Depends(single_valued)


def refuse_repeats(request: Request, endpoint: Callable[..., Any]) -> None:
    query = request.query_params
    if len(query) == len(query.multi_items()):  # no name repeated: nothing to look up
        return
    names, lists = query_names(endpoint)
    for key in dict(query.multi_items()):
        given = query.getlist(key)
        if len(given) > 1 and key in names and key not in lists:
            raise ValidationError(key, given, f"is given {len(given)} times; it takes one value")


def one_value_each_of(routes: list[Any]) -> Any:
    """``one_value_each`` for a router built elsewhere (a plugin's): the endpoint is the one of its
    routes that the request matches, looked up only when a name is repeated."""

    async def single_valued(request: Request) -> None:
        query = request.query_params
        if len(query) == len(query.multi_items()):
            return
        route = next((r for r in routes if isinstance(r, APIRoute) and r.include_in_schema
                      and r.matches(request.scope)[0] is Match.FULL), None)
        if route is not None:
            refuse_repeats(request, route.endpoint)

    return Depends(single_valued)
