"""The application factory: routers, problem details, idempotency, the OpenAPI document.

Every route is a thin entry point: it authenticates the caller, calls the caller's
scoped services (``dealercrm.access``) and maps domain errors to problem details. Routes
are plain functions: FastAPI runs them in its thread pool, each unit of work on its
own connection. Plugins contribute routes of their own (``dealercrm_register_routes``):
they get the same authentication, bounds, idempotency and problem details.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from ..fields import CUSTOMER
from .customer_schemas import customer_schemas
from . import (cases, customers, health, imports, inbound, messages, parties, problem, products, reports, tasks,
               unsubscribe, workflows)
from ..unsubscribe import UnsubscribeLinks
from .gate import WriteGate
from .idempotency import BODY_TIMEOUT, MAX_BODY, RecordStore, RequestGuard
from .inbound_auth import InboundAuthenticators
from .plugin_routes import include_plugin_routes

if TYPE_CHECKING:
    from ..app import CRM

DESCRIPTION = """The dealercrm customer file, service cases and tasks over HTTP.

Every request but `/health` and `/inbound/{channel}` carries an API key
(`Authorization: Bearer <key>` or `X-API-Key`), made with `dealercrm keys create`;
`/inbound/{channel}` takes the channel's shared secret or signature instead. (The
one-click unsubscribe links of marketing e-mail, `/unsubscribe/{token}`, are pages for
customers and mail providers, authenticated by their signed token; they are not listed here.) The key
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
        {"name": "imports", "description": "a dealer's customer list as CSV, in bulk"}]
#: after the plugins' tags: the provider-facing and operational ends of the API
LAST_TAGS = [{"name": "inbound", "description": "webhooks from channel providers"},
             {"name": "health", "description": "liveness and identity"}]


def _version() -> str:
    try:
        return version("dealercrm")
    except PackageNotFoundError:  # pragma: no cover
        return "0"


def create_app(crm: CRM | None) -> FastAPI:
    """The API over ``crm``, with the routes its plugins contribute (``None`` builds it for
    its OpenAPI document only, with the built-in plugins' routes)."""
    app = _fastapi(title="dealercrm", version=_version(), description=DESCRIPTION, openapi_tags=list(TAGS),
                   generate_unique_id_function=lambda route: route.name)  # operationIds for generated clients
    app.state.crm = crm
    app.state.keys = crm.api_keys if crm is not None else None
    app.state.idempotency = RecordStore(crm)
    app.state.write_gate = WriteGate(crm is not None and crm.engine.dialect.name == "sqlite")
    # read once: a mistake in [inbound.<channel>] stops the server at start-up, not a sender later
    app.state.inbound_auth = InboundAuthenticators(crm.settings.inbound if crm is not None else {},
                                                   source=crm.settings.source if crm is not None else "settings")
    # [inbound] rules and [unsubscribe] checked now too: a mistake stops the server at start-up
    app.state.unsubscribe = crm.inbound.links if crm is not None else UnsubscribeLinks()
    if crm is not None:
        crm.inbound.rules  # noqa: B018
    problem.install(app)
    fields = crm.customers.fields if crm is not None else CUSTOMER
    file = customers.file_router(customer_schemas(fields))  # the declared fields, plugins' too
    core = [health.router, file, *(m.router for m in (customers, messages, parties, products, cases, workflows,
                                                      tasks, reports, imports, unsubscribe, inbound))]
    for router in core[:-1]:
        app.include_router(router)
    app.state.plugin_routes = include_plugin_routes(app, crm, core)  # routes that authenticate themselves
    app.include_router(inbound.router)
    app.include_router(inbound.handshake)
    app.openapi_tags.extend(LAST_TAGS)
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


def _fastapi(**kwargs: Any) -> FastAPI:
    """The application, with its documentation pages served from installed files.

    FastAPI's own ``/docs`` and ``/redoc`` load Swagger UI and ReDoc from a CDN: on a
    dealer's network without internet access they are blank pages. ``fastapi-offline`` (in
    the ``[server]`` extra) ships both and serves them from ``/static-offline-docs``; without
    it the pages are off rather than blank (``/openapi.json`` is always there).
    """
    try:
        from fastapi_offline import FastAPIOffline
    except ImportError:
        return FastAPI(docs_url=None, redoc_url=None, **kwargs)
    return FastAPIOffline(**kwargs)


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
