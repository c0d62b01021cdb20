"""Finding the route: each core router answers only for paths under its own prefix, and says so
without trying its routes (``dealercrm.http.common.Router.matches``). The answers stay those
of full matching: behind a proxy that mounts the API under a path, for prefixes with a
parameter, for a path that merely begins like a prefix, and for a method a path does not take."""

from __future__ import annotations

from api_world import Api

from dealercrm.http import create_app


def test_the_api_mounted_under_a_proxy_path_finds_every_router(world, api):
    mounted = Api(create_app(world.crm), root_path="/crm", raise_server_exceptions=True)
    mounted.keys = api.keys
    with mounted:
        opened = mounted.post("/crm/cases", headers=mounted.as_("service"),
                              json={"customer_id": world.customer.id, "summary": "washes badly",
                                    "asset_id": world.machine.id})
        assert opened.status_code == 201, opened.text
        case_id = opened.json()["id"]
        assert mounted.get(f"/crm/cases/{case_id}", headers=mounted.as_("service")).json()["id"] == case_id
        # a prefix with a parameter: /customers/{customer_id}/messages
        messages = mounted.get(f"/crm/customers/{world.customer.id}/messages", headers=mounted.as_("service"))
        assert messages.status_code == 200, messages.text
        assert mounted.get("/crm/health").json()["status"] == "ok"


def test_a_path_that_only_begins_like_a_prefix_is_no_route(api):
    for path in ("/casesX", "/cases-archive/1", "/customersX/1/messages"):
        answer = api.get(path, headers=api.as_("service"))
        assert answer.status_code == 404, (path, answer.text)


def test_a_method_a_path_does_not_take_is_still_405_not_404(api, world):
    case_id = world.open_case().id
    answer = api.put(f"/cases/{case_id}/transitions", headers=api.as_("service"), json={})
    assert answer.status_code == 405, answer.text
    assert "POST" in answer.headers["allow"]


def test_a_case_route_after_the_customer_routers_is_found(api, world):
    """``/cases`` is included after the customers', parties' and products' routers: they step
    aside at once, and the case's own route answers."""
    case_id = world.open_case().id
    answer = api.get(f"/cases/{case_id}/history", headers=api.as_("service"))
    assert answer.status_code == 200 and answer.json()[0]["kind"] == "opened"
