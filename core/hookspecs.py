"""Every hook a dealercrm plugin can implement: the plugin author's reference.

Write a plugin as a module or object with functions named after these hooks and
decorated with ``@dealercrm.hookimpl``; accept only the arguments you need.
Two kinds of hook matter for data safety:

* **inside the transaction** (``dealercrm_check_event``, ``dealercrm_erase_customer``,
  ``dealercrm_export_customer``): they run before commit with the unit of work; raising
  rolls the whole business operation back, so a plugin can veto but never half-apply.
* **after commit** (``dealercrm_handle_event``): the change is already durable; each
  implementation runs on its own, a raising plugin is reported (naming plugin and
  hook) and the others still run.

docs/hooks.md documents each hook with an example; a test keeps the two in step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    import random

    import typer

    from .app import CRM
    from .events import Event
    from .fields import Field
    from .uow import UnitOfWork
    from .channels import Channel
    from .workflow.model import Workflow

hookspec = pluggy.HookspecMarker("dealercrm")
hookimpl = pluggy.HookimplMarker("dealercrm")


# --- application lifecycle -----------------------------------------------------------


@hookspec(historic=True)
def dealercrm_start_app(crm: CRM) -> None:
    """Called once when ``connect()`` has built the application.

    Historic: a plugin registered later (e.g. inline in a test) is still called.

    :param crm: the application; keep a reference if the plugin needs it later.
    """


@hookspec
def dealercrm_register_commands(cli: typer.Typer) -> None:
    """Add commands to the ``dealercrm`` command line.

    :param cli: the root Typer application; call ``cli.command()`` or
        ``cli.add_typer()`` on it.
    """


# --- domain events -------------------------------------------------------------------


@hookspec
def dealercrm_check_event(event: Event, uow: UnitOfWork) -> None:
    """Inspect an event *inside* its transaction, before commit.

    Raise ``dealercrm.Vetoed`` to refuse the operation (or any exception, reported as
    ``PluginError``): the whole unit of work rolls back and nothing is written. Rows the
    plugin adds through ``uow.session`` commit atomically with the operation.

    :param event: the domain event the operation raised.
    :param uow: the open unit of work (``uow.session``, ``uow.now``, ``uow.actor_id``).
    """


@hookspec
def dealercrm_handle_event(event: Event, crm: CRM) -> None:
    """React to an event *after* its transaction committed.

    Each implementation runs separately: one that raises is logged and listed in
    ``crm.plugin_failures`` naming plugin and hook, and the others still run. Start a new
    unit of work (``crm.uow()``) for any further change.

    :param event: the committed domain event.
    :param crm: the application.
    """


# --- the customer file ---------------------------------------------------------------


@hookspec
def dealercrm_export_customer(customer_id: int, uow: UnitOfWork) -> dict[str, Any] | None:
    """Contribute sections to a customer's right-of-access export.

    :param customer_id: the customer being exported.
    :param uow: a unit of work to read the plugin's own tables with.
    :return: a dict of JSON-serialisable sections merged into the export, or None.
    """


@hookspec
def dealercrm_erase_customer(customer_id: int, uow: UnitOfWork) -> None:
    """Remove or anonymise the personal data a plugin holds about a customer.

    Runs inside the erasure's transaction: raising aborts the erasure as a whole.

    :param customer_id: the customer being erased.
    :param uow: the erasure's unit of work.
    """


@hookspec
def dealercrm_seed_demo(crm: CRM, rng: random.Random) -> list[str] | None:
    """Add demo data for ``dealercrm demo``.

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

    :return: a list of workflows, or None. Two plugins declaring the same name is an error.
    """


@hookspec
def dealercrm_extend_workflow(workflow: Workflow) -> Workflow | None:
    """Extend a declared workflow: add states, transitions or guards.

    Called once per workflow, plugin after plugin, each receiving the result of the
    previous one. Use ``workflow.extend(...)``, which returns a new workflow. A guard on
    a timeout is refused (property 4); guards on the dealer's ways out count for property 5
    only if they declare the data that satisfies them (``Guard(..., satisfied_by=...)``).

    :param workflow: the workflow as declared and extended so far.
    :return: the extended workflow, or None to leave it unchanged.
    """


# --- channels ----------------------------------------------------------------------


@hookspec
def dealercrm_register_channels(crm: CRM) -> list[Channel] | None:
    """Provide outbound (and optionally inbound) channels: e-mail, SMS, webhooks, ….

    Called once per application, the first time a channel is needed. Read your
    configuration from ``crm.settings.plugin("<your plugin>")``; never log secrets.

    :param crm: the application.
    :return: a list of objects following ``dealercrm.channels.Channel``, or None. Two
        channels with the same name are an error naming both plugins.
    """


# --- rules -------------------------------------------------------------------------


@hookspec
def dealercrm_register_rules(crm: CRM) -> list[Any] | None:
    """Provide rules: cross-sell, after-sale care, loyal customers going quiet, ….

    A rule (``dealercrm.rules.Rule``) has a ``name``, a ``description``, ``defaults``
    (its settings; the installation overrides them in ``[plugins.<name>]``) and
    ``act(candidate, ctx)``; ``scan(ctx)`` makes it a scheduled rule run by
    ``dealercrm tick``, ``on_event(event, ctx)`` an event-driven one run inside the
    event's transaction. The engine fires each (rule, subject, situation) once.

    :param crm: the application.
    :return: a list of rule objects, or None. Two rules with the same name are an error.
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

    :return: a list of ``Field``; a name already declared is refused at start.
    """
