"""The application object a host embeds: ``crm = dealercrm.connect(url)``.

One per database: it owns the engine, the clock, the settings and its own plugin
manager (never a module global, so two applications in one process don't share
plugins), and exposes the services — one method per business operation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.orm import Session

from .clock import Clock, SystemClock
from .db.engine import database_url, make_engine, prepare_engine
from .db.migrate import upgrade
from .db.models import Actor, AuditRecord
from .errors import DealerCrmError, PluginError
from .events import Event
from .fields import CUSTOMER, Fields
from .plugin_manager import PluginManager, build_plugin_manager, register_inline
from .settings import Settings, load_settings
from .acting import ActingAs
from .uow import UnitOfWork
from .workflow.registry import load_workflows

if TYPE_CHECKING:
    from .access import Principal

log = logging.getLogger("dealercrm")


class CRM:
    def __init__(self, engine: Engine, *, clock: Clock, plugins: PluginManager, settings: Settings):
        self.engine = engine
        self.clock = clock
        self.plugins = plugins
        self.settings = settings
        self.plugin_failures: list[PluginError] = []
        self.channel_owners: dict[str, str] = {}
        self.system_actor_id: int | None = None
        self.workflows = load_workflows(plugins)

    # -- units of work ---------------------------------------------------------------
    @property
    def system(self) -> int:
        """The id of dealercrm's own actor: pass ``by=crm.system`` for what dealercrm itself
        does (a host's batch job, a migration script) — it may do everything."""
        assert self.system_actor_id is not None
        return self.system_actor_id

    def uow(self, by: int | Principal, operation: str = "", readonly: bool = False,
            connection: Connection | Session | None = None) -> UnitOfWork:
        """A unit of work carried out by actor ``by``. ``connection``: join the host's open
        transaction (a Connection or Session on this database) instead of beginning one;
        dealercrm then never commits or rolls it back, and its events are published after
        the host's commit (see ``dealercrm.uow``)."""
        return UnitOfWork(self, by, operation, readonly=readonly, connection=connection)

    def read(self, by: int | Principal) -> UnitOfWork:
        return UnitOfWork(self, by, "read", readonly=True)

    def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            _, failures = self.plugins.isolated_call("dealercrm_handle_event", event=event, crm=self)
            self.plugin_failures.extend(failures)

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin on this application only (inline, e.g. from a host or test).

        Workflows are loaded again, so a plugin's workflow or extension takes effect — or,
        if it would make a workflow unsound, the plugin is refused and nothing changes.
        """
        name = register_inline(self.plugins, plugin, name)  # historic start_app replays
        try:
            self.workflows = load_workflows(self.plugins)
            self.__dict__.pop("fields", None)
            self.fields  # noqa: B018  (a field declared twice is refused now, not at first use)
        except DealerCrmError:
            self.__dict__.pop("fields", None)
            self.plugins.unregister(name=name)
            self.plugins.origins.pop(name, None)
            raise
        return name

    def as_actor(self, actor_id: int) -> ActingAs:
        """The services with ``by=actor_id`` filled in: ``crm.as_actor(7).customers.list()``.

        Nothing more than that: the same services, the same rules (``dealercrm.access``),
        decided in each operation's own transaction. An unknown actor is ``NotFound``, an
        inactive one ``NotPermitted`` — now, and in every later operation.
        """
        with self.read(actor_id) as uow:
            return ActingAs(self, actor_id, uow.principal)

    @cached_property
    def fields(self) -> Fields:
        """Every declared field: the core's and those plugins add (``dealercrm_register_fields``)."""
        extra = [f for found in self.plugins.hook.dealercrm_register_fields() for f in (found or ())]
        return Fields(customer=CUSTOMER.extended(extra))

    # -- services ---------------------------------------------------------------------
    @cached_property
    def parties(self):
        from .services.parties import PartyService
        return PartyService(self)

    @cached_property
    def customers(self):
        from .services.customers import CustomerService
        return CustomerService(self)

    @cached_property
    def products(self):
        from .services.assets import ProductService
        return ProductService(self)

    @cached_property
    def assets(self):
        from .services.assets import AssetService
        return AssetService(self)

    @cached_property
    def interests(self):
        from .services.interests import InterestService
        return InterestService(self)

    @cached_property
    def consents(self):
        from .services.consents import ConsentService
        return ConsentService(self)

    @cached_property
    def interactions(self):
        from .services.interactions import InteractionService
        return InteractionService(self)

    @cached_property
    def tasks(self):
        from .services.tasks import TaskService
        return TaskService(self)

    @cached_property
    def cases(self):
        from .services.cases import CaseService
        return CaseService(self)

    @cached_property
    def channels(self) -> dict:
        """Every channel the plugins provide, by name (loaded on first use)."""
        from .services.outbox import load_channels
        channels, self.channel_owners = load_channels(self)
        return channels

    @cached_property
    def outbox(self):
        from .services.outbox import OutboxService
        return OutboxService(self)

    @cached_property
    def inbound(self):
        from .services.inbound import InboundService
        return InboundService(self)

    @cached_property
    def rules(self):
        from .services.rules import RuleEngine
        return RuleEngine(self)

    @cached_property
    def surveys(self):
        from .services.surveys import SurveyService
        return SurveyService(self)

    @cached_property
    def reports(self):
        from .services.reports import ReportService
        return ReportService(self)

    @cached_property
    def workflow_definitions(self):
        from .services.workflow_definitions import WorkflowDefinitions
        return WorkflowDefinitions(self)

    @cached_property
    def subscriptions(self):
        from .services.subscriptions import SubscriptionService
        return SubscriptionService(self)

    @cached_property
    def api_keys(self):
        from .services.api_keys import ApiKeyService
        return ApiKeyService(self)

    @cached_property
    def imports(self):
        from .services.importing import CustomerImport
        return CustomerImport(self)

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"<dealercrm.CRM {self.engine.url.render_as_string(hide_password=True)}>"


def connect(
    url_or_engine: str | Engine | None = None,
    *,
    clock: Clock | None = None,
    plugins: Iterable[object] | Mapping[str, object] = (),
    block: Iterable[str] | None = None,
    settings: Settings | None = None,
    migrate: bool = True,
    load_entry_points: bool = True,
) -> CRM:
    """Open (and by default migrate) a dealercrm database.

    ``url_or_engine`` defaults to ``$DEALERCRM_DATABASE_URL``, then the settings file,
    then ``sqlite:///dealercrm.db``. A host may pass its own SQLAlchemy engine; SQLite
    engines get the pragmas dealercrm relies on. ``block`` names plugins not to load
    (added to ``$DEALERCRM_BLOCK_PLUGINS``).
    """
    settings = settings or load_settings()
    if isinstance(url_or_engine, Engine):
        engine = prepare_engine(url_or_engine)
    else:
        engine = make_engine(database_url(url_or_engine or settings.database_url))
    pm = build_plugin_manager(plugins, block=(*settings.block_plugins, *(block or ())),
                              load_entry_points=load_entry_points)
    if migrate:
        upgrade(engine)
    crm = CRM(engine, clock=clock or SystemClock(), plugins=pm, settings=settings)
    crm.system_actor_id = _system_actor(crm)
    pm.hook.dealercrm_start_app.call_historic(kwargs={"crm": crm})
    return crm


def _system_actor(crm: CRM) -> int | None:
    """The actor that stands for dealercrm itself (rules, deadlines, imports)."""
    with crm.engine.begin() as conn:
        found = conn.scalar(select(Actor.id).where(Actor.is_system, Actor.party_id.is_(None)))
        if found is not None:
            return found
        now = crm.clock.now()
        values = dict(name="dealercrm", role="system", is_system=True, active=True, created_at=now)
        actor_id = conn.execute(insert(Actor).values(values).returning(Actor.id)).scalar_one()
        # the one row no actor wrote: the one that creates the actor every other row can name
        conn.execute(insert(AuditRecord).values(
            at=now, actor_id=None, operation="system.bootstrap", action="insert", entity="actor", entity_id=actor_id,
            changes={k: [None, v.isoformat() if k == "created_at" else v] for k, v in values.items()},
            personal_changes=None, customer_id=None))
        return actor_id
