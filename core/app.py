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

from sqlalchemy import Engine, select

from .clock import Clock, SystemClock
from .db.engine import database_url, make_engine, prepare_engine
from .db.migrate import upgrade
from .db.models import Actor
from .errors import DealerCrmError, PluginError
from .events import Event
from .plugin_manager import PluginManager, build_plugin_manager, register_inline
from .settings import Settings, load_settings
from .uow import UnitOfWork
from .workflow.registry import load_workflows

if TYPE_CHECKING:
    from .access import Scoped

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
    def uow(self, by: int | None = None, operation: str = "", readonly: bool = False) -> UnitOfWork:
        return UnitOfWork(self, by, operation, readonly=readonly)

    def read(self) -> UnitOfWork:
        return UnitOfWork(self, None, "read", readonly=True)

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
        except DealerCrmError:
            self.plugins.unregister(name=name)
            self.plugins.origins.pop(name, None)
            raise
        return name

    def as_actor(self, actor_id: int) -> Scoped:
        """The application as ``actor_id`` may see and use it (``dealercrm.access``).

        What a host hands to code acting for one party, e.g. its own API in front of
        dealercrm: ``crm.as_actor(7).customers.list()`` shows actor 7's party only its own
        customers, by the same rules the HTTP API enforces. An unknown actor is
        ``NotFound``, an inactive one ``NotPermitted``.
        """
        from .access import as_actor
        return as_actor(self, actor_id)

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
    with crm.uow(None, "system.bootstrap") as uow:
        found = uow.session.scalar(select(Actor.id).where(Actor.is_system, Actor.party_id.is_(None)))
        if found is not None:
            return found
        actor = Actor(name="dealercrm", role="system", is_system=True, created_at=uow.now)
        uow.session.add(actor)
        uow.commit()
        return actor.id
