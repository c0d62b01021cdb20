"""The application factory: routers, problem details, idempotency, the OpenAPI document.

Every route is a thin entry point: it authenticates the caller, calls the caller's
scoped services (``dealercrm.access``) and maps domain errors to problem details. Routes
are plain functions: FastAPI runs them in its thread pool, each unit of work on its
own connection.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI

from ..errors import PluginError
from ..fields import CUSTOMER
from .customer_schemas import customer_schemas
from . import (cases, customers, health, imports, inbound, messages, parties, problem, products, reports, subscriptions,
               tasks, workflows)
from .gate import WriteGate
from .idempotency import BODY_TIMEOUT, MAX_BODY, RecordStore, RequestGuard
from .inbound_auth import InboundAuthenticators

if TYPE_CHECKING:
    from ..app import CRM

DESCRIPTION = """The dealercrm customer file, service cases and tasks over HTTP.

Every request but `/health` and `/inbound/{channel}` carries an API key
(`Authorization: Bearer <key>` or `X-API-Key`), made with `dealercrm keys create`;
`/inbound/{channel}` takes the channel's shared secret or signature instead. The key
acts for one party, and the API shows that party only what is its own: a dealer its
customers and cases, a manufacturer the cases forwarded to it, a technician the cases
assigned to it — with only the customer data each needs.

Errors are RFC 9457 problem details (`application/problem+json`). Lists are paged with
`limit`/`offset` (`next_offset` is null on the last page). A case's `ETag` is its
version: send it as `If-Match` when firing a transition, and a concurrent change is a
412 instead of a lost update. A POST with an `Idempotency-Key` is carried out once;
repeating it returns the first answer.
"""
TAGS = [{"name": "customers", "description": "the customer file, minimised per party"},
        {"name": "messages", "description": "messages to a customer, consent- and budget-checked, through the outbox"},
        {"name": "parties", "description": "the directory of parties, and the caller's own people"},
        {"name": "products", "description": "the shared product catalogue"},
        {"name": "cases", "description": "service cases: open, list, show, allowed triggers, fire, facts, surveys"},
        {"name": "workflows", "description": "the workflows cases follow, as data: states, deadlines, who fires what "
                                             "with which data"},
        {"name": "tasks", "description": "follow-ups of the caller's party"},
        {"name": "reports", "description": "the caller's own figures"},
        {"name": "imports", "description": "a dealer's customer list as CSV, in bulk"},
        {"name": "subscriptions", "description": "signed event deliveries to host systems"},
        {"name": "inbound", "description": "webhooks from channel providers"},
        {"name": "health", "description": "liveness and identity"}]


def _version() -> str:
    try:
        return version("dealercrm")
    except PackageNotFoundError:  # pragma: no cover
        return "0"


def create_app(crm: CRM | None) -> FastAPI:
    """The API over ``crm`` (``None`` builds it for its OpenAPI document only)."""
    app = FastAPI(title="dealercrm", version=_version(), description=DESCRIPTION, openapi_tags=TAGS,
                  generate_unique_id_function=lambda route: route.name)  # operationIds for generated clients
    app.state.crm = crm
    app.state.keys = crm.api_keys if crm is not None else None
    app.state.idempotency = RecordStore(crm)
    app.state.write_gate = WriteGate(crm is not None and crm.engine.dialect.name == "sqlite")
    # read once: a mistake in [inbound.<channel>] stops the server at start-up, not a sender later
    app.state.inbound_auth = InboundAuthenticators(crm.settings.inbound if crm is not None else {},
                                                   source=crm.settings.source if crm is not None else "settings")
    problem.install(app)
    fields = crm.customers.fields if crm is not None else CUSTOMER
    app.include_router(health.router)
    app.include_router(customers.file_router(customer_schemas(fields)))  # the declared fields, plugins' too
    for module in (customers, messages, parties, products, cases, workflows, tasks, reports, imports,
                   subscriptions, inbound):
        app.include_router(module.router)
    app.state.plugin_routes = _plugin_routes(app, crm) if crm is not None else frozenset()
    limits = crm.settings.http if crm is not None else None
    app.add_middleware(RequestGuard, max_body=limits.max_body_bytes if limits else MAX_BODY,
                       body_timeout=limits.body_timeout_seconds if limits else BODY_TIMEOUT)
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _idempotency_header(_problems_as_problem_json(default_openapi()))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _plugin_routes(app: FastAPI, crm: CRM) -> frozenset[int]:
    """Include the routers plugins contribute (``dealercrm_register_routes``), after the API's own
    so that none of them can take an API path over; the ids of their routes, for the request
    guard (they authenticate their callers themselves)."""
    hook = "dealercrm_register_routes"
    before = len(app.router.routes)
    for routers in crm.plugins.checked_call(hook, crm=crm):
        for router in routers or ():
            if not isinstance(router, APIRouter):
                raise PluginError(_blame(crm, hook), hook, f"{router!r} is not a fastapi.APIRouter")
            app.include_router(router)
    return frozenset(id(route) for route in app.router.routes[before:])


def _blame(crm: CRM, hook: str) -> str:
    """The plugin whose ``hook`` returned something other than routers: asked once more, each
    plugin on its own (only on this error path)."""
    impls = [i for i in getattr(crm.plugins.hook, hook).get_hookimpls() if not (i.wrapper or i.hookwrapper)]
    for impl in impls:
        alone = crm.plugins.subset_hook_caller(hook, [o.plugin for o in impls if o is not impl])
        if any(not isinstance(r, APIRouter) for found in alone(crm=crm) for r in found or ()):
            return impl.plugin_name
    return f"one of {', '.join(sorted(i.plugin_name for i in impls))}"


def _problems_as_problem_json(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents every answer as application/json; problems are application/problem+json."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, answer in operation.get("responses", {}).items():
                content = answer.get("content", {})
                body = content.get("application/json", {}).get("schema", {})
                if status[0] in "45" and (body.get("$ref", "").endswith("/Problem") or status == "422"):
                    content[problem.PROBLEM_JSON] = {"schema": {"$ref": "#/components/schemas/Problem"}}
                    content.pop("application/json", None)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def _idempotency_header(schema: dict[str, Any]) -> dict[str, Any]:
    """Document the ``Idempotency-Key`` the request guard honours on every keyed POST."""
    for path, item in schema.get("paths", {}).items():
        operation = item.get("post")
        if operation is None or path.startswith("/inbound"):
            continue
        operation.setdefault("parameters", []).append({
            "name": "Idempotency-Key", "in": "header", "required": False,
            "description": "carry the POST out once: a repeat with the same key and request returns the first "
                           "answer; the same key with another request is a 422",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
        operation["responses"].setdefault("410", {
            "description": "a repeat whose first answer concerned a customer erased since: the request ran once, "
                           "its answer is not kept",
            "content": {problem.PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}})
    return schema


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, as committed in docs/openapi.json."""
    return create_app(None).openapi()
