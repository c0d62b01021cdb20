"""The application factory: routers, problem details, idempotency, the OpenAPI document.

Every route is a thin entry point: it authenticates the caller, calls the caller's
scoped services (``dealercrm.access``) and maps domain errors to problem details. Routes
are plain functions: FastAPI runs them in its thread pool (``threads`` of them), each unit
of work on its own connection; the event loop only parses, routes and answers. Plugins contribute routes of their own (``dealercrm_register_routes``):
they get the same authentication, bounds, idempotency and problem details.
"""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import FastAPI

from ..fields import CUSTOMER
from .common import problems
from .customer_schemas import customer_schemas
from . import (cases, customers, duplicates, health, imports, inbound, messages, parties, problem, products, reports,
               tasks, unsubscribe, workflows)
from ..unsubscribe import UnsubscribeLinks
from .idempotency import BODY_TIMEOUT, MAX_BODY, READ_THREADS, RecordStore, RequestGuard, close_write_lane
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
        {"name": "imports", "description": "a dealer's customer list, and the units its customers bought, as CSV "
                                           "in bulk"}]
#: after the plugins' tags: the provider-facing and operational ends of the API
LAST_TAGS = [{"name": "inbound", "description": "webhooks from channel providers"},
             {"name": "health", "description": "liveness and identity"}]


def _version() -> str:
    try:
        return version("dealercrm")
    except PackageNotFoundError:  # pragma: no cover
        return "0"


#: threads the routes run in, unless given (anyio's default): enough for as many concurrent
#: requests as clients are served at once; writes beyond ``threads`` - READ_THREADS wait
#: on the event loop, holding none (``RequestGuard``)
THREADS = 40


def create_app(crm: CRM | None, threads: int | None = None) -> FastAPI:
    """The API over ``crm``, with the routes its plugins contribute (``None`` builds it for
    its OpenAPI document only, with the built-in plugins' routes). ``threads``: the thread
    pool's size (``dealercrm serve --threads``)."""
    threads = threads or THREADS

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield
        close_write_lane(_app.state)

    app = _fastapi(title="dealercrm", version=_version(), description=DESCRIPTION, openapi_tags=list(TAGS),
                   generate_unique_id_function=lambda route: route.name,  # operationIds for generated clients
                   lifespan=lifespan)
    app.state.crm = crm
    app.state.keys = crm.api_keys if crm is not None else None
    app.state.idempotency = RecordStore(crm)
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
    core = [health.router, duplicates.router, file, *(m.router for m in (customers, messages, parties, products, cases, workflows,
                                                      tasks, reports, imports, unsubscribe, inbound))]
    for router in core[:-1]:
        app.include_router(router)
    app.state.plugin_routes = include_plugin_routes(app, crm, core)  # routes that authenticate themselves
    app.include_router(inbound.router)
    app.include_router(inbound.handshake)
    app.openapi_tags.extend(LAST_TAGS)
    limits = crm.settings.http if crm is not None else None
    app.add_middleware(RequestGuard, max_body=limits.max_body_bytes if limits else MAX_BODY,
                       body_timeout=limits.body_timeout_seconds if limits else BODY_TIMEOUT,
                       writers=max(1, threads - min(READ_THREADS, threads // 2)))
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = _idempotency_header(_writes_may_conflict(_problems_as_problem_json(default_openapi())))
            app.openapi_schema = _installation_choices(schema, crm) if crm is not None else schema
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


def _writes_may_conflict(schema: dict[str, Any]) -> dict[str, Any]:
    """Every write may meet a record that refuses it as it now stands (``StateConflict``, a concurrent
    change): each documents the 409. And a path naming nothing (``/customers/None``) is a 404 wherever
    the path has parameters."""
    def documented(status: int) -> dict[str, Any]:
        said = {**problems(status)[status], "content": {problem.PROBLEM_JSON: {
            "schema": {"$ref": "#/components/schemas/Problem"}}}}
        said.pop("model")
        return said

    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in ("post", "put", "patch", "delete") and not path.startswith("/inbound"):
                operation["responses"].setdefault("409", documented(409))
            if "{" in path:
                operation["responses"].setdefault("404", documented(404))
    return schema


#: the answers of a keyed POST besides its own (``idempotency.py``)
IDEMPOTENCY_ANSWERS = {
    "409": "the first request with this Idempotency-Key is still running, or never finished (the server stopped): "
           "its outcome is unknown (type idempotency-key-in-progress)",
    "410": "a repeat whose first answer concerned a customer erased since: the request ran once, its answer is not "
           "kept (type answer-erased)",
    "422": "the Idempotency-Key was used before for another request — another method, path, query or body, on any "
           "endpoint, or by another key of the caller's party (type idempotency-key-reused): a new request takes a "
           "new key",
}


def _idempotency_header(schema: dict[str, Any]) -> dict[str, Any]:
    """Document the ``Idempotency-Key`` the request guard honours on every keyed POST, its answers to
    a repeat (``Idempotent-Replayed``) and to a key in use or used for something else."""
    problem_body = {problem.PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in schema.get("paths", {}).items():
        operation = item.get("post")
        if operation is None or path.startswith("/inbound"):
            continue
        operation.setdefault("parameters", []).append({
            "name": "Idempotency-Key", "in": "header", "required": False,
            "description": "carry the POST out once: a repeat with the same key and request (within 24 hours) gets "
                           "the first answer again, marked Idempotent-Replayed, and runs nothing; the same key with "
                           "another request is a 422",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
        responses = operation["responses"]
        for status, said in IDEMPOTENCY_ANSWERS.items():
            answer = responses.setdefault(status, {"description": "", "content": problem_body})
            answer["description"] = "; or ".join(filter(None, (answer["description"], said)))
        for status, answer in responses.items():
            if status[0] == "2":
                answer.setdefault("headers", {})["Idempotent-Replayed"] = {
                    "description": "true: the kept answer to an earlier request with this Idempotency-Key",
                    "schema": {"type": "string", "enum": ["true"]}}
    return schema


def _installation_choices(schema: dict[str, Any], crm: CRM) -> dict[str, Any]:
    """The document a server serves names the choices of this installation that the code alone does
    not know: the channels its plugins and settings provide, its workflows, the service contracts its
    service levels name."""
    from ..services.interactions import timeline_channels

    consent = list(crm.consents.channels())
    choices = {("ConsentIn", "channel"): consent,
               ("InteractionIn", "channel"): list(timeline_channels(crm)),
               ("MessageIn", "channel"): list(crm.outbox.customer_channels()),
               ("SurveyIn", "channel"): [*consent, "visit"],
               ("CaseIn", "workflow"): sorted(crm.workflows)}
    components = schema.get("components", {}).get("schemas", {})
    for (model, name), names in choices.items():
        prop = components.get(model, {}).get("properties", {}).get(name)
        for branch in (prop.get("anyOf", [prop]) if prop else ()):
            if branch.get("type") == "string":
                branch["enum"] = names
    # a service contract is one a service level names, or blank (none): the core strips the text
    contracts = "|".join(re.escape(c) for c in sorted(crm.cases.contracts()))
    for model in CONTRACT_MODELS:
        prop = components.get(model, {}).get("properties", {}).get("service_contract")
        for branch in (prop.get("anyOf", [prop]) if prop else ()):
            if branch.get("type") == "string":
                branch["pattern"] = rf"^\s*({contracts})?\s*$" if contracts else r"^\s*$"
    return schema


#: the bodies naming a service contract (``dealercrm.fields.clean_contract``)
CONTRACT_MODELS = ("CustomerIn", "CustomerPatch", "AssetIn", "AssetPatch")


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, as committed in docs/openapi.json."""
    return create_app(None).openapi()
