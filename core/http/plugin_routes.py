"""Routes plugins contribute (``dealercrm_register_routes``), included like the core's own.

Each plugin is called on its own, so every router is traced to its plugin: a route whose
method and path the API has already (``/cases/{id}`` is ``/cases/{case_id}``), or
something that is no router, is refused naming the plugin. Built-in plugins' routes come
first, so a newcomer is blamed for a clash, never the built-in it collides with. A plugin's
routes stay in an API built while it was registered; once it is unregistered
(``crm.unregister``) they answer 404, as a route that never existed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.routing import APIRoute

from ..errors import NotFound, PluginError

if TYPE_CHECKING:
    from ..app import CRM

HOOK = "dealercrm_register_routes"
_PARAMETER = re.compile(r"\{[^}]*\}")


def _routes(routes: Iterable[object]) -> dict[tuple[str, str], str]:
    """Each route by what a request is matched by (method, path with its parameters unnamed)."""
    return {(method, _PARAMETER.sub("{}", route.path)): f"{method} {route.path}" for route in routes
            if isinstance(route, APIRoute) for method in sorted(route.methods)}


def include_plugin_routes(app: FastAPI, crm: CRM | None, core: Iterable[APIRouter]) -> frozenset[int]:
    """Include every plugin's routers in ``app``, and describe their tags; ``core``: the
    core's routers (their routes are taken). ``crm`` None: the built-in plugins (the OpenAPI
    document made without an application). Returns the ids of the routes that authenticate
    their callers themselves (``router.dealercrm_authenticates_itself``), for the request guard."""
    if crm is None:
        from ..plugin_manager import build_plugin_manager
        pm = build_plugin_manager(load_entry_points=False)
    else:
        pm = crm.plugins
    own_auth: set[int] = set()
    heads: set[str | None] = set()  # first path segments of those routes: other requests skip matching
    taken = {key: route for router in core for key, route in _routes(router.routes).items()}
    described = {tag["name"] for tag in app.openapi_tags or ()}
    called = pm.call_each(HOOK, crm=crm)
    built_in = [(plugin, found) for plugin, found in called if pm.origins.get(plugin, "").startswith("built-in")]
    for plugin, results in built_in + [item for item in called if item not in built_in]:
        for item in (item for found in results for item in found or ()):
            if isinstance(item, Mapping):
                app.openapi_tags.extend([] if item.get("name") in described else [_tag(plugin, item)])
                described.add(item["name"])
                continue
            if not isinstance(item, APIRouter):
                raise PluginError(plugin, HOOK, f"returned {item!r}: neither a fastapi.APIRouter nor a tag "
                                                "description {'name': …, 'description': …}")
            routes = _routes(item.routes)
            clash = sorted(set(routes) & set(taken))
            if clash:
                raise PluginError(plugin, HOOK, f"route {routes[clash[0]]} is taken already (by {taken[clash[0]]}); "
                                                "choose another path")
            taken.update(routes)
            before = len(app.router.routes)
            app.include_router(item, dependencies=[Depends(_while_registered(plugin))])
            if getattr(item, "dealercrm_authenticates_itself", False):
                own_auth.update(id(route) for route in app.router.routes[before:])
                heads.update(path_head(getattr(route, "path", "/{}")) for route in item.routes)
    app.state.own_auth_heads = frozenset(heads)
    return frozenset(own_auth)


def path_head(path: str) -> str | None:
    """The first segment of a path (``/portal/queue``: ``portal``); None where a route's path
    begins with a parameter (it could be any)."""
    head = path.split("/", 2)[1] if path.startswith("/") else ""
    return None if head.startswith("{") else head


def _tag(plugin: str, item: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(item.get("name"), str) or not isinstance(item.get("description", ""), str):
        raise PluginError(plugin, HOOK, f"a tag description needs a name and a description (text): {dict(item)!r}")
    return dict(item)


def _while_registered(plugin: str):
    def registered(request: Request) -> None:
        crm = request.app.state.crm
        if crm is not None and crm.plugins.get_plugin(plugin) is None:
            raise NotFound("route", f"{request.method} {request.url.path} (plugin {plugin} is not registered)")

    return registered
