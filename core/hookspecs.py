"""Every hook a dealercrm plugin can implement: the plugin author's reference.

Write a plugin as a module or object with functions named after these hooks and
decorated with ``@dealercrm.hookimpl``; accept only the arguments you need.
Two kinds of hook matter for data safety:

* **inside the transaction** (``dealercrm_check_event``, ``dealercrm_amend_case``,
  ``dealercrm_erase_customer``, ``dealercrm_export_customer``): they run before commit with
  the unit of work; raising rolls the whole business operation back, so a plugin can veto
  but never half-apply.
* **after commit** (``dealercrm_handle_event``): the change is already durable; each
  implementation runs on its own, a raising plugin is reported (naming plugin and
  hook) and the others still run.
* **after commit, exactly once** (``dealercrm_queue_notices``): the messages committed
  case events call for, queued from the committed history by the dispatcher, in a
  transaction of their own that also marks the events as noticed.

Every hook is called by pluggy, so ``@hookimpl(wrapper=True)`` (and ``tryfirst``,
``trylast``, ``hookwrapper``) work as pluggy documents, and ``DEALERCRM_TRACE_HOOKS=1``
traces every call. Each hook's docstring says, under "Called:", which of two ways:

* **once for all plugins** (``pm.hook.<name>(...)``): a wrapper runs around all the
  implementations together; the first that raises stops the call.
* **for each plugin on its own** (``EACH_PLUGIN``): one pluggy call per implementing
  plugin, through ``pm.subset_hook_caller`` with the other plugins' implementations
  removed, so one plugin cannot stop or hide another and what each provides is traced to
  it. A wrapper runs around each plugin's call separately. A plugin may not put both a
  wrapper and a plain implementation of such a hook in one plugin object (refused at
  registration): the wrapper belongs in a plugin of its own.

docs/hooks.md documents each hook with an example; a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    import random

    import typer
    from fastapi import APIRouter

    from .app import CRM
    from .events import Event
    from .fields import Field
    from .uow import UnitOfWork
    from .channels import Channel
    from .workflow.model import Workflow

hookspec = pluggy.HookspecMarker("dealercrm")
hookimpl = pluggy.HookimplMarker("dealercrm")

#: hooks called for each plugin on its own (see the module docstring)
EACH_PLUGIN: frozenset[str] = frozenset({
    "dealercrm_handle_event", "dealercrm_amend_case", "dealercrm_register_workflows",
    "dealercrm_extend_workflow", "dealercrm_register_channels", "dealercrm_register_rules",
    "dealercrm_register_routes", "dealercrm_register_settings"})


# --- application lifecycle -----------------------------------------------------------


@hookspec(historic=True)
def dealercrm_start_app(crm: CRM) -> None:
    """Called once when ``connect()`` has built the application.

    Historic: a plugin registered later (e.g. inline in a test) is still called.

    Called: once for all plugins. pluggy refuses a wrapper on a historic hook when the
    plugin is registered, naming plugin and hook.

    :param crm: the application; keep a reference if the plugin needs it later.
    """


@hookspec
def dealercrm_register_commands(cli: typer.Typer) -> None:
    """Add commands to the ``dealercrm`` command line.

    Called: once for all plugins; the first that raises stops the call (``PluginError``
    naming it); a wrapper runs around all implementations.

    :param cli: the root Typer application; call ``cli.command()`` or
        ``cli.add_typer()`` on it.
    """


@hookspec
def dealercrm_register_settings() -> Mapping[str, type] | None:
    """Declare the settings tables this plugin reads: ``{"<table>": <attrs class>}``.

    Each class declares a table ``[plugins.<table>]`` of the settings file: a field per key,
    with its type and default (``dealercrm.settings.secret_field()`` for a secret, masked by
    ``dealercrm settings show``). ``connect()`` checks the installation's table against it
    before anything else happens: a key the class does not declare, a table no plugin
    declares, or a value of the wrong type is refused, naming the key, the value and what is
    allowed (with the closest known key). Read the result with
    ``crm.settings.of("<table>")`` (the class, defaults filled in) or
    ``crm.settings.plugin("<table>")`` (the keys as written). A rule's table is its name;
    include ``enabled: bool = True`` (``dealercrm.rules.RuleSettings``), which the rule engine
    reads. A value that must agree with another table is checked by a method
    ``check_against(self, settings)`` of the class, raising ``ValidationError``. A table of a
    plugin that declares none is accepted unchecked.

    Called: for each plugin on its own, when the application starts (and when a plugin is
    registered on a running application), so every table is traced to its plugin; a table
    declared by two plugins, a class that is not an attrs class or a field without a default
    is a ``PluginError`` naming the plugin. A wrapper runs around each plugin's call.

    :return: a mapping of table name to attrs class, or None.
    """


# --- domain events -------------------------------------------------------------------


@hookspec
def dealercrm_check_event(event: Event, uow: UnitOfWork) -> None:
    """Inspect an event *inside* its transaction, before commit.

    Raise ``dealercrm.Vetoed`` to refuse the operation (or any exception, reported as
    ``PluginError``): the whole unit of work rolls back and nothing is written. Rows the
    plugin adds through ``uow.session`` commit atomically with the operation.

    Called: once for all plugins, for each event; the first that raises aborts the
    operation. A wrapper runs around every checker and may veto too.

    :param event: the domain event the operation raised.
    :param uow: the open unit of work (``uow.session``, ``uow.now``, ``uow.actor_id``).
    """


@hookspec
def dealercrm_handle_event(event: Event, crm: CRM) -> None:
    """React to an event *after* its transaction committed.

    Each implementation runs separately: one that raises is logged and listed in
    ``crm.plugin_failures`` naming plugin and hook, and the others still run. Start a new
    unit of work (``crm.uow()``) for any further change.

    It runs on the thread of the operation that committed, before that operation's caller
    gets its answer. On SQLite, ``dealercrm serve`` carries out its writes one after the
    other on one thread (the write lane): keep it quick, hand anything slow to the outbox
    or a thread of your own, and never wait on this server's own HTTP API from it.

    Called: for each plugin on its own, so one failing plugin never silences another; a
    wrapper runs around each plugin's call separately and cannot stop the others either.

    :param event: the committed domain event.
    :param crm: the application.
    """


@hookspec
def dealercrm_amend_case(event: Event, case: Mapping[str, Any], uow: UnitOfWork) -> dict[str, Any] | None:
    """Contribute what a transition decides onto the case itself, before it is written.

    A warranty decision, an RMA number, the replacement asset, a fact used up: return
    them as ``{column: value}``. They go into the transition's single version-checked
    UPDATE and are audited in its one audit row (``facts`` in the personal half), so the
    case never exists with the transition but without its consequence. Only the columns
    in ``dealercrm.services.cases.AMENDABLE`` (``warranty_decision``, ``rma_number``,
    ``replacement_asset_id``, ``facts``) may be amended: the workflow's own columns move
    only by firing a trigger. Rows of your own (a new asset) go through ``uow.session``
    as usual; raise ``dealercrm.Vetoed`` (or any error) to refuse the transition.

    Called: for each plugin on its own, so every amendment is traced to its plugin: a
    column outside ``AMENDABLE``, or one that two plugins set to different values, is a
    ``PluginError`` naming the plugin; the first that raises aborts the transition. A
    wrapper runs around each plugin's call and may change what it contributes.

    :param event: the ``CaseTransitioned`` about to be written (trigger, source, dest,
        version, data); raised, with what follows from it, once written.
    :param case: the case row as loaded before the transition (read-only).
    :param uow: the transition's unit of work.
    :return: a dict of amendable columns and their new values, or None.
    """


@hookspec
def dealercrm_queue_notices(events: list[Event], uow: UnitOfWork) -> None:
    """Queue the messages committed case events call for — the customer's hand-off notice,
    a subscriber's delivery — after their commit, exactly once.

    A transition commits the case, its history row and its audit row, nothing else. The
    dispatcher (``crm.outbox.dispatch()``, ``dealercrm dispatch`` and ``worker``, and
    ``crm.cases.tick()``) then offers every committed case event, in batches: each batch
    is one transaction that queues what the plugins ask for (``crm.outbox.enqueue`` or
    ``crm.outbox.enqueue_many`` with this ``uow``) and marks its events as noticed. A
    crash before that commit leaves the events unnoticed and the next run offers them
    again; after it there is nothing left to do; two dispatchers never take the same
    event. Consent and the contact budget are decided now, and again when the message
    is sent. The events are those the case operations raised (``CaseOpened``,
    ``CaseTransitioned``, ``CaseEscalated``, ``CaseReopened``, ``CaseClosed``,
    ``CaseHandedOver``, ``CaseFactRecorded``), derived again from the committed history
    (``data`` as stored: JSON values); their ``customer_id`` is the case's customer now.

    Called: once for all plugins, per batch; the first that raises rolls the batch back.
    The batch is then offered event by event: an event whose notices raise stays
    unnoticed (the ``PluginError`` is listed in ``crm.plugin_failures`` and logged) and
    is offered again at the next run, while the other events go ahead. A wrapper runs
    around every implementation.

    :param events: the domain events of a batch of committed case events, in commit order.
    :param uow: the unit of work of the batch (the system actor's).
    """


# --- the customer file ---------------------------------------------------------------


@hookspec
def dealercrm_export_customer(customer_id: int, uow: UnitOfWork) -> dict[str, Any] | None:
    """Contribute sections to a customer's right-of-access export.

    Called: once for all plugins; the first that raises stops the call (``PluginError``
    naming it); a wrapper runs around all implementations.

    :param customer_id: the customer being exported.
    :param uow: a unit of work to read the plugin's own tables with.
    :return: a dict of JSON-serialisable sections merged into the export, or None.
    """


@hookspec
def dealercrm_erase_customer(customer_id: int, uow: UnitOfWork) -> None:
    """Remove or anonymise the personal data a plugin holds about a customer.

    Runs inside the erasure's transaction: raising aborts the erasure as a whole.

    Called: once for all plugins; the first that raises stops the call (``PluginError``
    naming it); a wrapper runs around all implementations.

    :param customer_id: the customer being erased.
    :param uow: the erasure's unit of work.
    """


@hookspec
def dealercrm_seed_demo(crm: CRM, rng: random.Random) -> list[str] | None:
    """Add demo data for ``dealercrm demo``.

    Called: once for all plugins; the first that raises stops the call (``PluginError``
    naming it); a wrapper runs around all implementations.

    :param crm: a freshly migrated application to fill through its services.
    :param rng: a seeded random generator: the demo is the same on every machine.
    :return: lines describing what the plugin seeded or played, shown to the user.
    """


# --- workflows ---------------------------------------------------------------------


@hookspec
def dealercrm_register_workflows() -> list[Workflow] | None:
    """Declare workflows (``dealercrm.workflow.Workflow``) this plugin provides.

    Every workflow is checked for the six no-dead-end properties after all plugins
    extended it; an unsound one stops ``connect()`` with a message naming workflow,
    state or transition and the property broken.

    Called: for each plugin on its own, so a declaration is traced to its plugin; one that
    raises stops ``connect()`` (or refuses a plugin registered later). A wrapper runs
    around each plugin's call and may change what it declares.

    :return: a list of workflows, or None. Two plugins declaring the same name is an error.
    """


@hookspec
def dealercrm_extend_workflow(workflow: Workflow) -> Workflow | None:
    """Extend a declared workflow: add states, transitions or guards.

    Called once per workflow, plugin after plugin, each receiving the result of the
    previous one. Use ``workflow.extend(...)``, which returns a new workflow. A guard on
    a timeout is refused (property 4); guards on the dealer's ways out count for property 5
    only if they declare the data that satisfies them (``Guard(..., satisfied_by=...)``).

    Called: for each plugin on its own, as a chain (each gets what the previous returned);
    one that raises stops ``connect()``. A wrapper runs around each plugin's call.

    :param workflow: the workflow as declared and extended so far.
    :return: the extended workflow, or None to leave it unchanged.
    """


# --- channels ----------------------------------------------------------------------


@hookspec
def dealercrm_register_channels(crm: CRM) -> list[Channel] | None:
    """Provide outbound (and optionally inbound) channels: e-mail, SMS, webhooks, ….

    Called once per application, the first time a channel is needed. Declare your
    settings table (``dealercrm_register_settings``) and read it with
    ``crm.settings.of("<table>")``; never log secrets. Offer the channel only once it is
    configured (``crm.settings.plugin("<table>")`` is empty otherwise), as the built-in ones do.

    Called: for each plugin on its own: one that raises is listed in
    ``crm.plugin_failures`` and the other plugins' channels still load (a plugin
    registered on a running application is refused instead). A wrapper runs around each
    plugin's call and may change its channels; channels are built once, so such a wrapper
    is refused on a running application (give it to ``connect(plugins=...)``).

    :param crm: the application.
    :return: a list of objects following ``dealercrm.channels.Channel``, or None. Two
        channels with the same name are an error naming both plugins.
    """


@hookspec
def dealercrm_register_consent_channels() -> list[str] | None:
    """Declare consent channels: what a customer can give or refuse consent on.

    ``crm.consents`` accepts every loaded channel's ``consent_channel``, the ``[contact]
    manual_channels`` (by default "phone" and "post") and the names declared here. Declare
    yours when your channel is offered only once configured (as the built-in SMS and
    WhatsApp plugins do), so consent can be recorded before that; or for a channel people
    use by hand that your plugin stands for.

    Called: once for all plugins, whenever the known consent channels are asked for (each
    consent recorded or asked, each timeline entry); the first that raises stops the call
    (``PluginError`` naming it).

    :return: a list of consent channel names, or None.
    """


# --- rules -------------------------------------------------------------------------


@hookspec
def dealercrm_register_rules(crm: CRM) -> list[Any] | None:
    """Provide rules: cross-sell, after-sale care, loyal customers going quiet, ….

    A rule (``dealercrm.rules.Rule``) has a ``name``, a ``description`` and
    ``act(candidate, ctx)``; its settings are its table's class (``dealercrm_register_settings``,
    defaults included; the installation overrides them in ``[plugins.<name>]``), or a
    ``defaults`` dict where it declares none; ``scan(ctx)`` makes it a scheduled rule run by
    ``dealercrm tick``, ``on_event(event, ctx)`` an event-driven one run inside the
    event's transaction. The engine fires each (rule, subject, situation) once.

    Called: for each plugin on its own, so each rule is traced to its plugin; one that
    raises stops the rule engine loading (or refuses a plugin registered later). A wrapper
    runs around each plugin's call and may change its rules.

    :param crm: the application.
    :return: a list of rule objects, or None. Two rules with the same name are an error.
    """


# --- the HTTP API ------------------------------------------------------------------------


@hookspec
def dealercrm_register_routes(crm: CRM | None) -> list[APIRouter] | None:
    """Contribute HTTP routes: FastAPI routers included in the API (``dealercrm serve``, and
    ``dealercrm.http.create_app(crm)`` for a host serving it itself), e.g. a web portal.

    Routes are declared, not built per application: the API reaches the application on
    each request (``request.app.state.crm``, or ``dealercrm.http.auth.Caller``, the
    authenticated caller's services with ``by=`` filled in), and the OpenAPI document
    (``dealercrm openapi``) is made from the built-in plugins' routes without a database.
    Keep the routes in a module of their own, imported inside the implementation: FastAPI is
    an optional dependency (``[server]``) that ``connect()`` must not need.
    A route whose method and path are taken already is refused naming the plugin. Routes
    join the API when it is built: a plugin registered on a running application adds its
    routes to APIs built after it; once it is unregistered, its routes answer 404.

    API routes authenticate their caller by API key before the body is read (``Caller``). A
    router that authenticates its callers itself — a portal's session cookie, a signed link —
    says so with ``router.dealercrm_authenticates_itself = True``: a writing request to it is
    not refused for lacking an API key, but its body is bounded like every other
    (``[http]``) and, on SQLite, it queues for the one writer too. Either way, act through the
    services with ``by=`` the caller's actor: the access rules are theirs, never the route's.

    Called: for each plugin on its own, so every route is traced to its plugin; one that
    raises stops the API being built (``PluginError`` naming it). A wrapper runs around
    each plugin's call.

    :param crm: the application the API is built over; None when only the OpenAPI document is
        made (``dealercrm openapi``): return the routes that belong in it, or None.
    :return: a list of ``fastapi.APIRouter``, or None. To describe a tag of your routes in
        the OpenAPI document, add ``{"name": "<tag>", "description": "…"}`` to the list.
    """


# --- the customer file -----------------------------------------------------------------


@hookspec
def dealercrm_register_fields() -> list[Field] | None:
    """Declare fields of the customer file, e.g. a car dealer's ``licence_plate``.

    Return ``dealercrm.fields.field(name, help, personal=…, readers=…, importable=…,
    mergeable=…)`` declarations. Each takes part in everything a built-in field does:
    ``crm.customers.add(..., licence_plate="M-AB 123", by=…)`` and ``update``, the HTTP
    schemas, ``dealercrm customers show``, the CSV import (its column), merge, the
    export, and erasure (a ``personal`` field is blanked). Values are kept in the
    customer's JSON column ``custom``: no migration is needed.

    Called: once for all plugins, when the application first needs its fields (and again
    when a plugin is registered on a running application).

    :return: a list of ``Field``; a name already declared is refused at start.
    """
