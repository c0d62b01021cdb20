"""Routes contributed by plugins (``dealercrm_register_routes``): included after the API's own,
authenticating their callers themselves, their bodies bounded like every other."""

from __future__ import annotations

import types

import pytest
from fastapi import APIRouter, Request
from api_world import Api

from dealercrm import PluginError, hookimpl
from dealercrm.http import create_app
from dealercrm.settings import HttpSettings, Settings


def routes_plugin(router_factory):
    module = types.ModuleType("hello_routes")
    module.dealercrm_register_routes = hookimpl(lambda crm: router_factory(crm))
    return module


def hello_router(crm):
    router = APIRouter(prefix="/hello", include_in_schema=False)

    @router.get("")
    def hello():
        return {"hello": "world"}

    @router.post("/echo")
    async def echo(request: Request):
        return {"length": len(await request.body())}

    @router.get("/parties")  # an API path is not the plugin's to take over: it is under /hello
    def parties():
        return {"taken": False}

    router.dealercrm_authenticates_itself = True  # e.g. a portal's session cookie
    return [router]


def keyed_router(crm):
    """A plugin's API routes: authenticated by API key like the core's."""
    router = APIRouter(prefix="/keyed", include_in_schema=False)

    @router.post("/echo")
    async def echo(request: Request):
        return {"length": len(await request.body())}

    return [router]


def clashing_router(crm):
    router = APIRouter()

    @router.get("/workflows")
    def mine():
        return {"taken": True}

    return [router]


@pytest.fixture
def make_api(crm_factory):
    def make(factory, **settings):
        app = crm_factory(plugins=[routes_plugin(factory)], settings=Settings(**settings))
        return Api(create_app(app), raise_server_exceptions=True)
    return make


def test_a_plugins_routes_are_served_and_kept_out_of_the_openapi_document(make_api):
    api = make_api(hello_router)
    assert api.get("/hello").json() == {"hello": "world"}
    assert not any(path.startswith("/hello") for path in api.get("/openapi.json").json()["paths"])


def test_a_write_to_a_route_that_authenticates_itself_needs_no_api_key_but_an_api_write_still_does(make_api):
    api = make_api(hello_router)
    assert api.post("/hello/echo", content=b"abc").json() == {"length": 3}
    assert api.post("/customers", json={"name": "x"}).status_code == 401


def test_a_plugins_route_that_does_not_say_so_is_authenticated_by_api_key_before_its_body(make_api):
    api = make_api(keyed_router)
    assert api.post("/keyed/echo", content=b"abc").status_code == 401


def test_a_plugin_routes_body_is_bounded_like_every_other(make_api):
    api = make_api(hello_router, http=HttpSettings(max_body_bytes=10))
    answer = api.post("/hello/echo", content=b"x" * 11)
    assert answer.status_code == 413
    assert api.post("/hello/echo", content=b"x" * 10).json() == {"length": 10}


def test_a_plugin_cannot_take_an_api_path_over(make_api):
    with pytest.raises(PluginError, match="route GET /workflows is taken already") as info:
        make_api(clashing_router)
    assert info.value.plugin == "hello_routes"


def test_something_other_than_a_router_is_refused_naming_the_plugin(crm_factory):
    app = crm_factory(plugins=[routes_plugin(lambda crm: ["/not-a-router"])])
    with pytest.raises(PluginError) as info:
        create_app(app)
    assert info.value.plugin == "hello_routes" and "APIRouter" in str(info.value)
