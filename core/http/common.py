"""What the routers share: their router class, pagination, problem documentation, ETags."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.datastructures import DefaultPlaceholder
from fastapi.exceptions import ResponseValidationError
from pydantic import BaseModel, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match

from ..uow import RIDER
from .idempotency import WRITE_LANE, Claim, kept_headers
from .single_values import one_value_each
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
    A writing route written as a plain function runs in one trip to a thread (the pool's, or on
    SQLite the app's write lane: ``idempotency.WriteLane``), its answer
    validated and serialised there, once, right after it (``in_pool``): FastAPI would take a
    plain function's answer back to the pool to validate it, a second trip per write; and a
    keyed request's answer is kept in the operation's own transaction.

    A request whose path does not begin with the router's prefix is no match for any of its
    routes, and is told so at once (``matches``): FastAPI asks every included router in turn,
    and each would try its routes' patterns one by one — a request for ``/cases/…`` tried some
    fifty patterns of the routers included before ``/cases``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: what every path of this router begins with: the prefix up to its first parameter
        self.literal_prefix = self.prefix.split("{", 1)[0]

    def matches(self, scope: Any) -> tuple[Match, dict[str, Any]]:
        if self.literal_prefix and scope.get("type") == "http" and not _begins(scope, self.literal_prefix):
            return Match.NONE, {}
        return super().matches(scope)

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if kwargs.get("include_in_schema", True):  # the document's operations: one value per parameter
            kwargs["dependencies"] = [*(kwargs.get("dependencies") or ()), one_value_each(endpoint)]
        if WRITES & set(kwargs.get("methods") or ()) and not inspect.iscoroutinefunction(endpoint):
            endpoint = in_pool(endpoint, Answer.of(kwargs))
        super().add_api_route(path, endpoint, **kwargs)


def _begins(scope: Any, prefix: str) -> bool:
    """Whether the request's path — as it comes, or without the ``root_path`` a proxy mounts
    the API under, as Starlette's routes match it — begins with ``prefix``."""
    path: str = scope["path"]
    if path.startswith(prefix):
        return True
    root = scope.get("root_path") or ""
    return bool(root) and path.startswith(root) and path[len(root):].startswith(prefix)


#: the keyword a writing route's endpoint gets its ``Response`` by, if the route takes none itself
ANSWER_PARAMETER = "dealercrm_response"
#: route options under which FastAPI's own serialisation is left to do it (``Answer.of``)
_SERIALISATION_OPTIONS = ("response_model_include", "response_model_exclude", "response_model_exclude_unset",
                          "response_model_exclude_defaults", "response_model_exclude_none")


class Answer:
    """A writing route's answer, made as FastAPI makes it from the route's result — validated
    against the response model, serialised to JSON in one pass (pydantic's ``dump_json``), with
    the status and the headers the route set on its ``Response`` — but in the route's thread,
    right after the route, so the answer is known while the operation's transaction is still
    open (``idempotency.Claim.answer``)."""

    def __init__(self, model: Any, status: int | None):
        self.adapter: TypeAdapter[Any] = TypeAdapter(model)
        self.status = status

    @classmethod
    def of(cls, route: dict[str, Any]) -> Answer | None:
        """The answer of a route declared with these options; None where FastAPI's own handling is
        needed: no declared response model, another response class, include/exclude options."""
        model = route.get("response_model")
        if model is None or isinstance(model, DefaultPlaceholder):
            return None
        if not isinstance(route.get("response_class"), (DefaultPlaceholder, type(None))):
            return None
        if route.get("response_model_by_alias", True) is not True or any(route.get(o) for o in _SERIALISATION_OPTIONS):
            return None
        return cls(model, route.get("status_code"))

    def response(self, result: Any, set_by_route: Response) -> Response:
        if isinstance(result, Response):
            return result
        try:
            value = self.adapter.validate_python(result, from_attributes=True)
        except PydanticValidationError as exc:  # as FastAPI reports an answer its model refuses
            errors = [{**e, "loc": ("response", *e["loc"])} for e in exc.errors(include_url=False)]
            raise ResponseValidationError(errors, body=result) from None
        status = set_by_route.status_code or self.status or 200
        body = b"" if status < 200 or status in (204, 205, 304) else self.adapter.dump_json(value, by_alias=True)
        response = Response(body, status_code=status, media_type="application/json")
        response.headers.raw.extend(set_by_route.headers.raw)
        return response


def in_pool(function: Callable[..., Any], answer: Answer | None = None) -> Callable[..., Any]:
    """``function`` as a coroutine that runs it in the thread pool, with its parameters as FastAPI
    reads them (annotations resolved in the function's own module); with ``answer``, its
    result is made the answer there too, and a keyed request's answer kept with its operation.
    Where the request has a write lane (``WRITE_LANE``: SQLite), it runs on the lane's thread
    instead, after the writes queued before it."""
    hints = typing.get_type_hints(function, include_extras=True)
    signature = inspect.signature(function)
    parameters = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()]
    takes = next((p.name for p in parameters if p.annotation is Response), None)
    if answer is not None and takes is None:
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
            answer = None
        else:
            parameters.append(inspect.Parameter(ANSWER_PARAMETER, inspect.Parameter.KEYWORD_ONLY, annotation=Response))

    def answered(**kwargs: Any) -> Any:
        set_by_route = kwargs[takes] if takes is not None else kwargs.pop(ANSWER_PARAMETER)
        claim = RIDER.get()
        claim = claim if isinstance(claim, Claim) and claim.pending else None
        if claim is not None:
            claim.answers = True  # its commit waits for the answer (``Claim.holds``)
        try:
            response = answer.response(function(**kwargs), set_by_route)  # type: ignore[union-attr]
            if claim is not None:
                body = getattr(response, "body", None)  # a streamed answer is kept after it, on the event loop
                if body is None:
                    claim.next_unit(readonly=False)  # commits the operation with its claim alone
                else:
                    claim.answer(response.status_code, kept_headers(response.raw_headers), bytes(body))
            return response
        finally:
            if claim is not None:
                claim.answers = False
                claim.abandon()  # the route raised: its operation, if held, rolls back

    @functools.wraps(function)
    async def endpoint(**kwargs: Any) -> Any:
        run = answered if answer is not None else function
        lane = WRITE_LANE.get()
        if lane is None:
            return await run_in_threadpool(run, **kwargs)
        return await lane.run(run, **kwargs)  # one writing route at a time (``RequestGuard.lane``)

    endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=hints.get("return", signature.return_annotation))
    return endpoint
