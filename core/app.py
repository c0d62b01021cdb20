"""The application object a host embeds: ``crm = dealercrm.connect(url)``.

One per database: it owns the engine, the clock, the settings and its own plugin
manager (never a module global, so two applications in one process don't share
plugins), and exposes the services — one method per business operation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.orm import Session

from .clock import Clock, SystemClock
from .db.engine import database_url, make_engine, prepare_engine
from .db.migrate import upgrade
from .db.models import Actor, AuditRecord
from .errors import NotFound, PluginError
from .events import Event
from .fields import CUSTOMER, Fields
from .plugin_manager import PluginFailures, PluginManager, build_plugin_manager, declared_settings, register_inline
from .settings import Settings, check_plugin_tables, load_settings
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
        #: the last plugin failures (after-commit handlers, channels); ``.counts`` has them all
        self.plugin_failures = PluginFailures()
        self.channel_owners: dict[str, str] = {}
        self.system_actor_id: int | None = None
        self.workflows = load_workflows(plugins)
        #: the host transaction operations join while ``joining`` (per thread and task)
        self._host: ContextVar[Connection | Session | None] = ContextVar(f"dealercrm_host_{id(self)}", default=None)

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
        return UnitOfWork(self, by, operation, readonly=readonly, connection=connection or self._host.get())

    def read(self, by: int | Principal) -> UnitOfWork:
        return UnitOfWork(self, by, "read", readonly=True, connection=self._host.get())

    @contextmanager
    def joining(self, host: Connection | Session) -> Iterator[CRM]:
        """Every operation inside the block joins the host's open transaction::

            with Session(crm.engine) as session, session.begin():
                session.add(RepairOrder(...))
                with crm.joining(session):
                    crm.cases.open(customer_id, "drum noise", by=lea_id)
            # committed together, or not at all

        dealercrm never commits or rolls back the host's transaction: each operation sits
        in a savepoint (a refused one rolls back only itself), its outbox rows commit or
        vanish with the host, and its events are published after the host's commit and
        dropped on its rollback. Reads inside the block see the host's uncommitted writes.
        """
        token = self._host.set(host)
        try:
            yield self
        finally:
            self._host.reset(token)

    def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            self.plugins.call_each("dealercrm_handle_event", failures=self.plugin_failures, event=event, crm=self)

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin on this running application: it takes part at once, or is refused.

        Its workflows and extensions are proved sound together with the others, its rules
        join the rule engine, its channels the loaded ones, and its event handlers and
        checkers see the next event. If any of that fails (an unsound workflow, a name
        another plugin has, a hook that raises), the plugin is unregistered again and the
        error (``PluginError``, ``WorkflowUnsound``) names it; nothing else changes. Its ``dealercrm_start_app``
        (historic) has run by then.
        """
        from .services.outbox import load_channels
        from .services.rules import load_rules
        channels = self.channels  # loaded first: the newcomer's own failure must refuse it
        name = register_inline(self.plugins, plugin, name)
        try:
            settings = check_plugin_tables(self.settings, declared_settings(self.plugins, only=name),
                                           unchecked=self.settings.plugins)  # its table, as any plugin's at start
            _refuse_channel_wrapper(self.plugins, name, "registered")
            self.__dict__.pop("fields", None)
            self.fields  # noqa: B018  (a field declared twice is refused now, not at first use)
            workflows, rules = load_workflows(self.plugins), load_rules(self)
            added, owners = load_channels(self, only=name)
            clash = min(set(added) & set(channels), default=None)
            if clash:
                raise PluginError(name, "dealercrm_register_channels",
                                  f"channel {clash!r} is provided by both {self.channel_owners[clash]!r} and {name!r}")
        except Exception:  # whatever went wrong, the plugin is out again
            self.__dict__.pop("fields", None)
            self.plugins.unregister(name=name)
            self.plugins.origins.pop(name, None)
            raise
        self.settings, self.workflows, self.rules.rules = settings, workflows, rules
        self.__dict__["channels"] = {**channels, **added}  # a new dict: a running dispatcher iterates the old
        self.channel_owners = {**self.channel_owners, **owners}
        return name

    def unregister(self, name: str) -> object:
        """Take a plugin out of this running application, or refuse naming why.

        What is left without it is worked out first: workflows proved sound again (and no
        case left in a workflow or state that would vanish), rules loaded again. Only then is
        it unregistered; its channels go (queued messages for them stop with a reason when
        dispatched), its handlers and checkers see no further event. Returns the plugin.
        """
        from .services.rules import load_rules
        plugin = self.plugins.get_plugin(name)
        if plugin is None:
            raise NotFound("plugin", f"{name} (registered: {', '.join(sorted(self.plugins.origins)) or 'none'})")
        _refuse_channel_wrapper(self.plugins, name, "unregistered")
        workflows = load_workflows(self.plugins, without=name)
        _refuse_stranding(self, name, workflows)
        default = self.settings.cases.default_workflow
        if default and default not in workflows:
            raise PluginError(name, "unregister", f"it provides the workflow {default!r} that [cases] "
                              "default_workflow names; change the setting first")
        rules = load_rules(self, without=name)
        self.plugins.unregister(name=name)
        self.plugins.origins.pop(name, None)
        self.workflows, self.rules.rules = workflows, rules
        if "channels" in self.__dict__:
            self.__dict__["channels"] = {c: ch for c, ch in self.channels.items() if self.channel_owners.get(c) != name}
        self.channel_owners = {c: owner for c, owner in self.channel_owners.items() if owner != name}
        return plugin

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
    def api_keys(self):
        from .services.api_keys import ApiKeyService
        return ApiKeyService(self)

    @cached_property
    def keyring(self):
        from .services.keyring import Keyring
        return Keyring(self)

    @cached_property
    def sign_in(self):
        from .services.sign_in import SignInService
        return SignInService(self)

    @cached_property
    def case_links(self):
        from .services.case_links import CaseLinkService
        return CaseLinkService(self)

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
    load_entry_points: bool | Iterable[str] = True,
    tolerate_broken_plugins: bool = False,
) -> CRM:
    """Open (and by default migrate) a dealercrm database.

    ``url_or_engine`` defaults to ``$DEALERCRM_DATABASE_URL``, then the settings file,
    then ``sqlite:///dealercrm.db``. A host may pass its own SQLAlchemy engine; SQLite
    engines get the pragmas dealercrm relies on. ``block`` names plugins not to load
    (added to ``$DEALERCRM_BLOCK_PLUGINS``). ``load_entry_points``: every installed plugin
    (True), none (False) or those named. A plugin that fails to load is a ``PluginError``
    saying how to block it; with ``tolerate_broken_plugins`` it is left out and listed in
    ``crm.plugins.failed``. The settings are checked before anything is opened: every plugin's
    table against the class it declares (``dealercrm_register_settings``).
    """
    settings = settings or load_settings()
    pm = build_plugin_manager(plugins, block=(*settings.block_plugins, *(block or ())),
                              load_entry_points=load_entry_points, tolerate_broken=tolerate_broken_plugins)
    declared = declared_settings(pm)
    declaring = {plugin for plugin, _ in declared.values()}
    settings = check_plugin_tables(settings, declared, unchecked=(
        *(name for name in pm.origins if name not in declaring), *pm.blocked, *pm.failed))
    if isinstance(url_or_engine, Engine):
        engine = prepare_engine(url_or_engine)
    else:
        engine = make_engine(database_url(url_or_engine or settings.database_url))
    if migrate:
        upgrade(engine)
    crm = CRM(engine, clock=clock or SystemClock(), plugins=pm, settings=settings)
    if settings.cases.default_workflow:  # a plugin the installation relies on for its cases is there
        from .services.cases import default_workflow
        default_workflow(settings.cases.default_workflow, crm.workflows)
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


def _refuse_channel_wrapper(pm: PluginManager, name: str, done: str) -> None:
    """Channels are built once and hold connections: a wrapper shaping every plugin's
    channels can only take part from ``connect()``."""
    if any(impl.plugin_name == name and (impl.wrapper or impl.hookwrapper)
           for impl in pm.hook.dealercrm_register_channels.get_hookimpls()):
        raise PluginError(name, "dealercrm_register_channels",
                          f"a wrapper on this hook cannot be {done} on a running application (the channels are "
                          "built once); pass the plugin to connect(plugins=...) or install it as an entry point")


def _refuse_stranding(crm: CRM, name: str, workflows: dict) -> None:
    """Cases in a workflow or state that would vanish without plugin ``name``."""
    from .db.case_models import Case
    with crm.read(crm.system) as uow:
        in_use = uow.connection.execute(select(Case.workflow, Case.state, func.count())
                                        .group_by(Case.workflow, Case.state)).all()
    stranded = [f"{n} in {wf}/{state}" for wf, state, n in in_use
                if wf not in workflows or not workflows[wf].workflow.has_state(state)]
    if stranded:
        raise PluginError(name, "unregister", f"cases would be left in workflows or states that vanish "
                          f"({', '.join(stranded)}); block the plugin at connect() once they are closed or moved")
