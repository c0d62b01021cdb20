"""One value per query parameter the document declares with one: a name given twice is a 422.

FastAPI reads the last of a repeated parameter and drops the rest without a word
(``?offset=5&offset=x`` read as offset x); the OpenAPI document allows one value. Parameters
declared as lists (``?ignore_column=a&ignore_column=b``) may repeat. The core's routers add
``one_value_each`` to every route of the document; plugins' routers get ``one_value_each_of``.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.routing import Match

from ..errors import ValidationError


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
