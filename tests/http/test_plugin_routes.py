"""Plugins contribute HTTP routes (``dealercrm_register_routes``): a carrier-pigeon company
offers ``/lofts``, served with the same API keys, access rules, problem details and OpenAPI
document as the core's own routes — and a route that would take another's path is refused
naming the plugin."""

from __future__ import annotations

import types
from typing import Annotated

import pytest
from api_world import Api, issue_keys
from fastapi import APIRouter, Query

from dealercrm import PluginError, hookimpl
from dealercrm.http import create_app
from dealercrm.http.auth import Caller


def lofts_plugin(path: str = "/lofts/{customer_id}", *extra) -> types.ModuleType:
    def dealercrm_register_routes():
        router = APIRouter(tags=["lofts"])

        @router.get(path)
        def loft_of(me: Caller, customer_id: int):
            """Where the pigeon lands: the customer's street, as the caller may see it."""
            return {"customer_id": customer_id, "street": me.customers.get(customer_id).get("street")}

        return [router, {"name": "lofts", "description": "where the pigeons land"}, *extra]

    module = types.ModuleType("dealercrm_lofts")
    module.dealercrm_register_routes = hookimpl(dealercrm_register_routes)
    return module


def api_of(world) -> Api:
    api = Api(create_app(world.crm))
    api.keys = issue_keys(world)
    return api


def test_a_plugins_route_is_served_as_the_caller_with_its_access_rules(world):
    world.crm.register(lofts_plugin())
    world.crm.customers.update(world.customer.id, street="Taubenweg 3", by=world.crm.system)
    with api_of(world) as api:
        mine = api.get(f"/lofts/{world.customer.id}", headers=api.as_("service"))
        assert mine.status_code == 200 and mine.json() == {"customer_id": world.customer.id, "street": "Taubenweg 3"}
        assert api.get(f"/lofts/{world.customer.id}").status_code == 401  # no key, no answer
        refused = api.get(f"/lofts/{world.customer.id}", headers=api.as_("other_dealer"))
        assert refused.status_code == 404 and refused.headers["content-type"] == "application/problem+json"
        document = api.get("/openapi.json").json()
    assert document["paths"]["/lofts/{customer_id}"]["get"]["operationId"] == "loft_of"
    tags = {tag["name"]: tag.get("description") for tag in document["tags"]}
    assert tags["lofts"] == "where the pigeons land" and list(tags)[-2:] == ["inbound", "health"]


def test_once_its_plugin_is_unregistered_the_route_answers_404(world):
    world.crm.register(lofts_plugin())
    with api_of(world) as api:
        assert api.get(f"/lofts/{world.customer.id}", headers=api.as_("service")).status_code == 200
        world.crm.unregister("dealercrm_lofts")
        gone = api.get(f"/lofts/{world.customer.id}", headers=api.as_("service"))
    assert gone.status_code == 404 and "plugin dealercrm_lofts is not registered" in gone.json()["detail"]


@pytest.mark.parametrize("path", ["/cases/{customer_id}", "/subscriptions/{customer_id}"])
def test_a_route_that_would_take_another_routes_path_is_refused_naming_the_plugin(world, path):
    world.crm.register(lofts_plugin(path))
    with pytest.raises(PluginError) as refused:
        create_app(world.crm)
    assert refused.value.plugin == "dealercrm_lofts" and refused.value.hook == "dealercrm_register_routes"
    assert f"route GET {path} is taken already" in str(refused.value)


def test_what_is_no_router_is_refused_naming_the_plugin(world):
    world.crm.register(lofts_plugin("/lofts/{customer_id}", "GET /lofts"))
    with pytest.raises(PluginError, match="returned 'GET /lofts': neither a fastapi.APIRouter") as refused:
        create_app(world.crm)
    assert refused.value.plugin == "dealercrm_lofts"


def test_a_plugins_parameter_of_one_value_given_twice_is_refused_as_on_the_core(world):
    def dealercrm_register_routes():
        router = APIRouter(tags=["lofts"])

        @router.get("/pigeons")
        def pigeons(me: Caller, limit: int = 10, ring: Annotated[list[str] | None, Query()] = None):
            """The pigeons with these rings."""
            return {"limit": limit, "rings": ring or []}

        return [router]

    module = types.ModuleType("dealercrm_pigeons")
    module.dealercrm_register_routes = hookimpl(dealercrm_register_routes)
    world.crm.register(module)
    with api_of(world) as api:
        me = api.as_("service")
        assert api.get("/pigeons?ring=DE-1&ring=DE-2", headers=me).json() == {"limit": 10, "rings": ["DE-1", "DE-2"]}
        refused = api.get("/pigeons?limit=1&limit=500", headers=me)
    assert refused.status_code == 422 and refused.json()["field"] == "limit", refused.text
