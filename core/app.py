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
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.orm import Session

from .clock import Clock, SystemClock
from .db.engine import BUSY_TIMEOUT_MS, database_url, make_engine, prepare_engine
from .db.write_lock import write_lock
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

if TYPE_CHECKING:  # the services load on first use (import time); type checkers see them all
    from .access import Principal
    from .channels import Channel
    from .services.api_keys import ApiKeyService
    from .services.assets import AssetService, ProductService
    from .services.case_links import CaseLinkService
    from .services.cases import CaseService
    from .services.consents import ConsentService
    from .services.customers import CustomerService
    from .services.importing import CustomerImport
    from .services.inbound import InboundService
    from .services.interactions import InteractionService
    from .services.interests import InterestService
    from .services.keyring import Keyring
    from .services.outbox import OutboxService
    from .services.parties import PartyService
    from .services.reports import ReportService
    from .services.rules import RuleEngine
    from .services.sign_in import SignInService
    from .services.surveys import SurveyService
    from .services.tasks import TaskService
    from .services.workflow_definitions import WorkflowDefinitions

log = logging.getLogger("dealercrm")


class CRM:
    def __init__(self, engine: Engine, *, clock: Clock, plugins: PluginManager, settings: Settings):
        self.engine = engine
        #: this process's write lock of the SQLite file (None on PostgreSQL): see ``dealercrm.uow``
        self.write_lock = write_lock(engine)
        self.write_lock_timeout = BUSY_TIMEOUT_MS / 1000
        self.clock = clock
        self.plugins = plugins
        self.settings = settings
        #: the last plugin failures (after-commit handlers, channels); ``.counts`` has them all
        self.plugin_failures = PluginFailures()
        self.channel_owners: dict[str, str] = {}
        self.system_actor_id: int | None = None
        self.workflows = load_workflows(plugins, levels=settings.cases.service_levels)
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
            connection: Connection | Session | None = None, defer_principal: bool = False) -> UnitOfWork:
        """A unit of work carried out by actor ``by``: one transaction, its actor, its events.

        What a plugin's own operation runs in, as the services do: the actor is read in the
        same transaction as what it writes, so a check and the write it allows cannot drift
        apart. Leaving the block without ``uow.commit()`` rolls everything back; the events
        raised inside are checked by plugins before the commit and published after it.

        Args:
            by: The acting actor's id (``crm.system`` for dealercrm itself), or a loaded ``Principal``.
            operation: The operation's name in the audit trail, e.g. ``"my_plugin.tag"``.
            readonly: Only read: a read-only connection, never committed.
            connection: Join the host's open transaction (a Connection or Session on this
                database) instead of beginning one; dealercrm then never commits or rolls it
                back, and its events are published after the host's commit (see ``dealercrm.uow``).
            defer_principal: The operation reads the actor beside its first row
                (``uow.adopt_principal``), one statement fewer; the actor is checked all the same.

        Returns:
            The unit of work, to use as a context manager (``uow.principal``, ``uow.session``,
            ``uow.connection``, ``uow.now``, ``uow.commit()``).

        Raises:
            ValidationError: ``by`` is no actor id (None, text), or ``connection`` is no open
                transaction on this database.
            NotFound: ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.
            Vetoed: On ``commit()``: a plugin's ``dealercrm_check_event`` refused an event.
            PluginError: On ``commit()``: a plugin's checker or an event-driven rule failed.

        Examples:
            >>> with crm.uow(lea, "my_plugin.note") as uow:
            ...     print(uow.principal.name)
            ...     uow.commit()
            Lea Wolf
        """
        return UnitOfWork(self, by, operation, readonly=readonly,
                          connection=connection or self._host.get(), defer_principal=defer_principal)

    def read(self, by: int | Principal) -> UnitOfWork:
        """A read-only unit of work of actor ``by``: what a read sees is what ``by`` may see.

        Inside ``joining`` it joins the host's transaction (and sees its uncommitted writes);
        it never commits.

        Args:
            by: The acting actor's id, or a loaded ``Principal``.

        Returns:
            The unit of work, to use as a context manager.

        Raises:
            ValidationError: ``by`` is no actor id.
            NotFound: ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> with crm.read(lea) as uow:
            ...     (uow.principal.kind, uow.principal.role)
            ('dealer', 'manager')
        """
        return UnitOfWork(self, by, "read", readonly=True, connection=self._host.get())

    @contextmanager
    def joining(self, host: Connection | Session) -> Iterator[CRM]:
        """Every operation inside the block joins the host's open transaction.

        A host that writes its own rows (a repair order) and dealercrm's in one go commits
        them together, or not at all. dealercrm never commits or rolls back the host's
        transaction: each operation sits in a savepoint (a refused one rolls back only
        itself), its outbox rows commit or vanish with the host, and its events are published
        after the host's commit and dropped on its rollback. Reads inside the block see the
        host's uncommitted writes.

        Args:
            host: The host's Connection or Session on this database, its transaction begun.

        Returns:
            A context manager that yields this application.

        Raises:
            ValidationError: From each operation inside: ``host`` has no transaction begun, or
                is on another database.

        Examples:
            >>> from sqlalchemy.orm import Session
            >>> with Session(crm.engine) as session, session.begin():
            ...     # session.add(RepairOrder(...)), the host's own rows
            ...     with crm.joining(session):
            ...         case = crm.cases.open(anna, "drum noise", by=lea)
            >>> crm.cases.get(case.id, by=lea).summary
            'drum noise'
        """
        token = self._host.set(host)
        try:
            yield self
        finally:
            self._host.reset(token)

    def publish(self, events: Iterable[Event]) -> None:
        """Hand committed ``events`` to every plugin's ``dealercrm_handle_event``, each on its own.

        A unit of work calls it after its commit; a handler that fails cannot undo what is
        committed, so it raises nothing: the failure is recorded in ``plugin_failures`` and
        logged, and the other handlers still run.

        Args:
            events: Events already committed.

        Examples:
            >>> from dealercrm.events import CustomerChanged
            >>> event = CustomerChanged(at=crm.clock.now(), actor_id=lea, customer_id=anna, fields=("city",))
            >>> crm.publish([event])
            >>> len(crm.plugin_failures)
            0
        """
        for event in events:
            self.plugins.call_each("dealercrm_handle_event", failures=self.plugin_failures, event=event, crm=self)

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin on this running application: it takes part at once, or is refused.

        Its workflows and extensions are proved sound together with the others, its rules
        join the rule engine, its channels the loaded ones, and its event handlers and
        checkers see the next event. If any of that fails (an unsound workflow, a name
        another plugin has, a hook that raises), the plugin is unregistered again and the
        error names it; nothing else changes. Its ``dealercrm_start_app`` (historic) has run
        by then.

        Args:
            plugin: An object or module with ``@dealercrm.hookimpl`` functions.
            name: Its name (default: pluggy's, from the object).

        Returns:
            The name it is registered under.

        Raises:
            PluginError: ``name`` is registered already, a hook of it is malformed or raised, it
                provides a rule or channel another plugin has, or it wraps
                ``dealercrm_register_channels`` (only ``connect`` takes such wrappers).
            ValidationError: It declares a customer field that is declared already.
            WorkflowUnsound: A workflow it registers or extends has a dead end.

        Examples:
            >>> class Counter:
            ...     seen = 0
            ...     @dealercrm.hookimpl
            ...     def dealercrm_handle_event(self, event, crm):
            ...         Counter.seen += 1
            >>> crm.register(Counter(), "counter")
            'counter'
            >>> crm.customers.add("Bea Kurz", by=lea).name
            'Bea Kurz'
            >>> Counter.seen
            1
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
            workflows = load_workflows(self.plugins, levels=self.settings.cases.service_levels)
            rules = load_rules(self)
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
        dispatched), its handlers and checkers see no further event.

        Args:
            name: The plugin's name (``crm.plugins.origins`` lists them).

        Returns:
            The plugin object.

        Raises:
            NotFound: No plugin of that name is registered.
            PluginError: Cases would be left in a workflow or state it provides, ``[cases]
                default_workflow`` names its workflow, or it wraps ``dealercrm_register_channels``.
            WorkflowUnsound: A workflow would have a dead end without its extension.

        Examples:
            >>> class Quiet:
            ...     @dealercrm.hookimpl
            ...     def dealercrm_handle_event(self, event, crm):
            ...         pass
            >>> quiet = Quiet()
            >>> crm.register(quiet, "quiet")
            'quiet'
            >>> crm.unregister("quiet") is quiet
            True
        """
        from .services.rules import load_rules
        plugin = self.plugins.get_plugin(name)
        if plugin is None:
            raise NotFound("plugin", f"{name} (registered: {', '.join(sorted(self.plugins.origins)) or 'none'})")
        _refuse_channel_wrapper(self.plugins, name, "unregistered")
        workflows = load_workflows(self.plugins, without=name, levels=self.settings.cases.service_levels)
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
        decided in each operation's own transaction — a front end acting for one signed-in
        person passes them around instead of the id.

        Args:
            actor_id: The actor to act as.

        Returns:
            The services, each method's ``by`` filled in.

        Raises:
            NotFound: No such actor.
            NotPermitted: The actor is inactive: now, and in every later operation once deactivated.

        Examples:
            >>> as_lea = crm.as_actor(lea)
            >>> [c.name for c in as_lea.customers.list()]
            ['Anna Berg']
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
    def parties(self) -> PartyService:
        """Dealers, manufacturers, technicians and their people (actors), with roles and calendars."""
        from .services.parties import PartyService
        return PartyService(self)

    @cached_property
    def customers(self) -> CustomerService:
        """The customer file: register, change, reassign, merge, view, export and erase customers."""
        from .services.customers import CustomerService
        return CustomerService(self)

    @cached_property
    def products(self) -> ProductService:
        """The catalogue of products customers own (by SKU), with their warranty terms."""
        from .services.assets import ProductService
        return ProductService(self)

    @cached_property
    def assets(self) -> AssetService:
        """What each customer owns: a product, its serial number, purchase and handover dates."""
        from .services.assets import AssetService
        return AssetService(self)

    @cached_property
    def interests(self) -> InterestService:
        """Interests noted on a customer (``skiing``), which rules turn into offers."""
        from .services.interests import InterestService
        return InterestService(self)

    @cached_property
    def consents(self) -> ConsentService:
        """Consent per channel and purpose, its history, and whether a customer may be contacted."""
        from .services.consents import ConsentService
        return ConsentService(self)

    @cached_property
    def interactions(self) -> InteractionService:
        """The customer's timeline: calls, visits, messages and what rules did."""
        from .services.interactions import InteractionService
        return InteractionService(self)

    @cached_property
    def tasks(self) -> TaskService:
        """Tasks for a party or person, due at a time, done or snoozed."""
        from .services.tasks import TaskService
        return TaskService(self)

    @cached_property
    def cases(self) -> CaseService:
        """Service cases: open them, fire workflow triggers, record facts, returns and credits."""
        from .services.cases import CaseService
        return CaseService(self)

    @cached_property
    def channels(self) -> dict[str, Channel]:
        """Every channel the plugins provide, by name (loaded on first use)."""
        from .services.outbox import load_channels
        channels, self.channel_owners = load_channels(self)
        return channels

    @cached_property
    def outbox(self) -> OutboxService:
        """Messages to customers and subscribers, queued in the operation's transaction and dispatched."""
        from .services.outbox import OutboxService
        return OutboxService(self)

    @cached_property
    def inbound(self) -> InboundService:
        """Replies from customers: received, matched to a case or customer, acted on."""
        from .services.inbound import InboundService
        return InboundService(self)

    @cached_property
    def rules(self) -> RuleEngine:
        """The rule engine: the plugins' rules, run on events and from ``tick``."""
        from .services.rules import RuleEngine
        return RuleEngine(self)

    @cached_property
    def surveys(self) -> SurveyService:
        """Satisfaction answers (CSAT, NPS) on closed cases."""
        from .services.surveys import SurveyService
        return SurveyService(self)

    @cached_property
    def reports(self) -> ReportService:
        """The management report: satisfaction, cases, time held, loyal customers at risk, contacts."""
        from .services.reports import ReportService
        return ReportService(self)

    @cached_property
    def workflow_definitions(self) -> WorkflowDefinitions:
        """The workflows cases follow, as the plugins declared them."""
        from .services.workflow_definitions import WorkflowDefinitions
        return WorkflowDefinitions(self)

    @cached_property
    def api_keys(self) -> ApiKeyService:
        """API keys for the HTTP API, each acting for one party with one role."""
        from .services.api_keys import ApiKeyService
        return ApiKeyService(self)

    @cached_property
    def keyring(self) -> Keyring:
        """Secrets kept in the database (link signing), created on first use."""
        from .services.keyring import Keyring
        return Keyring(self)

    @cached_property
    def sign_in(self) -> SignInService:
        """The web portal's sign-in: passwords, one-time links and sessions."""
        from .services.sign_in import SignInService
        return SignInService(self)

    @cached_property
    def case_links(self) -> CaseLinkService:
        """Signed links that show a customer their case's status and let them answer."""
        from .services.case_links import CaseLinkService
        return CaseLinkService(self)

    @cached_property
    def imports(self) -> CustomerImport:
        """Bulk customer imports from CSV, reported row by row."""
        from .services.importing import CustomerImport
        return CustomerImport(self)

    def close(self) -> None:
        """Dispose of the engine's connections; the application is not used afterwards.

        A host that connects per job (a script, a test) lets its SQLite file or PostgreSQL
        connections go at once instead of at garbage collection. Raises nothing.

        Examples:
            >>> other = dealercrm.connect("sqlite:///other.db", settings=crm.settings)
            >>> other.close()
        """
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
    """Open (and by default migrate) a dealercrm database: the application a host embeds.

    ``url_or_engine`` defaults to ``$DEALERCRM_DATABASE_URL``, then the settings file,
    then ``sqlite:///dealercrm.db``. A host may pass its own SQLAlchemy engine; SQLite
    engines get the pragmas dealercrm relies on. No party is created: add the home
    dealer (``dealercrm init`` does) before customers are added without an owner. The
    settings are checked before anything is opened: every plugin's table against the class
    it declares (``dealercrm_register_settings``).

    Args:
        url_or_engine: A database URL or a SQLAlchemy ``Engine`` on the database.
        clock: Where "now" comes from (``ManualClock`` in tests); default the system clock.
        plugins: Plugins to register on this application besides the installed ones: objects
            or modules, or a mapping of name to plugin.
        block: Names of plugins not to load (added to ``$DEALERCRM_BLOCK_PLUGINS``).
        settings: The settings (``dealercrm.settings.Settings``); default: loaded from
            ``$DEALERCRM_SETTINGS`` or ``./dealercrm.toml``.
        migrate: Upgrade the schema to the newest migration first (Alembic).
        load_entry_points: The plugins installed under the ``dealercrm`` entry-point group
            to load: every one (True), none (False) or those named.
        tolerate_broken_plugins: Leave out a plugin that fails to load (listed in
            ``crm.plugins.failed``) instead of refusing to start.

    Returns:
        The application, with the system actor made (``crm.system``) and every plugin's
        ``dealercrm_start_app`` called.

    Raises:
        PluginError: A plugin failed to load or to start, naming it and the hook and how to
            block it.
        WorkflowUnsound: A workflow the plugins register (or extend) has a dead end.
        ValidationError: A settings table holds a key or value its schema does not allow, or
            ``[cases] default_workflow`` names no registered workflow.

    Examples:
        >>> from dealercrm.settings import Settings
        >>> crm = dealercrm.connect("sqlite:///crm.db", settings=Settings())
        >>> dealer = crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
        >>> crm.customers.add("Anna Berg", by=crm.system).owner_party_id == dealer.id
        True
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
        values: dict[str, Any] = dict(name="dealercrm", role="system", is_system=True, active=True, created_at=now)
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
