"""Service cases: opened by the dealer, moved only by firing triggers with an actor.

``fire`` is the hot path: one transaction with the actor, the case, one version-checked
Core UPDATE, one history row and one audit row — no ORM object, no per-case state
machine, nothing else. ``open`` is Core too: the customer read with the actor, the asset
with its product, the case, its "opened" history row and their audit rows (in the shape
the ORM's audit listener gives an inserted object, ``dealercrm.audit.inserted``). What plugins write on the case with a transition (a warranty
decision, an RMA number, the replacement asset: ``dealercrm_amend_case``) is decided
before the write and goes into the same UPDATE and the same audit row. The notices a
transition calls for (the customer told who has the case now) are queued after the
commit, from the committed history row (``dealercrm.services.notices``).

Who may fire is checked before anything changes: the workflow says which party kinds and
roles may fire a trigger, and the actor must act for *this* case's party of that kind.
"""

from __future__ import annotations

import builtins  # a service's own `list` method shadows the type in its class
import time
import weakref
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

import attrs
from sqlalchemy import bindparam, insert, select, update

from sqlalchemy.orm import make_transient_to_detached

from .. import validation
from ..audit import inserted, jsonable
from ..db.case_models import Case, CaseEvent
from ..db.models import Asset, AuditRecord, Customer, Party, Product
from ..errors import Conflict, NotFound, NotPermitted, PluginError, StateConflict, TransitionNotAllowed, ValidationError
from ..events import CaseOpened, CaseTransitioned, Event
from ..workflow.machine import CompiledWorkflow
from ..access import Principal, case_scope, sees_case, sees_customer, visible_case, with_actor
from . import case_levels, warranty
from .base import Service
from .case_events import Holder, reopens, transition_events
from .case_rules import PARTY_COLUMNS, PartyInfo, calendar_of, is_pause, place

if TYPE_CHECKING:
    from collections.abc import Callable
    from sqlalchemy import Connection
    from ..uow import UnitOfWork
    from ..workflow.calendar import BusinessCalendar
    from ..workflow.promise import Promise
    from ..workflow.model import State
    from .deadlines import TickReport

CASE = Case.__table__
#: seconds a party's calendar, read once, is trusted before it is read again
PARTIES_FRESH = 60.0
CASE_SORTS = {"due": (Case.due_at.is_(None), Case.due_at, Case.id), "id": (Case.id,), "-id": (Case.id.desc(),)}
CASE_EVENT = CaseEvent.__table__
AUDIT = AuditRecord.__table__

# The hot path's statements, built once (SQLAlchemy caches their compiled form).
# The WHERE parameters must not be named like a column.
_LOAD = select(CASE).where(CASE.c.id == bindparam("case_id"))
_LOAD_LOCKED = _LOAD.with_for_update()
#: a transition's first read: the case and the acting actor, in one statement
_LOAD_AS = with_actor(_LOAD, CASE)
_LOAD_AS_LOCKED = _LOAD_AS.with_for_update(of=CASE)
_CASE_KEYS = tuple(CASE.c.keys())
_UPDATE = update(CASE).where(CASE.c.id == bindparam("where_id"), CASE.c.version == bindparam("where_version"))
_INSERT_EVENT = insert(CASE_EVENT)
_INSERT_AUDIT = insert(AUDIT)
#: opening: the customer read with the acting actor, the asset with its product's category
CUSTOMER = Customer.__table__
_CUSTOMER_KEYS = ("id", "owner_party_id", "merged_into_id", "service_contract")
_OPEN_CUSTOMER_AS = with_actor(select(*(CUSTOMER.c[k] for k in _CUSTOMER_KEYS))
                               .where(CUSTOMER.c.id == bindparam("customer_id")), CUSTOMER)
_OPEN_ASSET = (select(Asset.customer_id, Asset.dealer_party_id, Asset.manufacturer_party_id, Asset.warranty_until,
                      Asset.service_contract, Product.category)
               .join(Product, Product.id == Asset.product_id).where(Asset.id == bindparam("asset_id")))
_INSERT_CASE = insert(CASE).returning(CASE.c.id)
_INSERT_OPENED = insert(CASE_EVENT).returning(CASE_EVENT.c.id)
#: what a new case's and history row's columns hold unless set: the models' own defaults
_CASE_DEFAULTS = {name: field.default for name, field in Case.model_fields.items()
                  if name != "id" and not field.is_required()}
_EVENT_DEFAULTS = {name: field.default for name, field in CaseEvent.model_fields.items()
                   if name != "id" and not field.is_required()}
#: what plugins may write on a case besides the workflow's own columns (``dealercrm_amend_case``)
AMENDABLE = ("warranty_decision", "rma_number", "replacement_asset_id", "facts")
@attrs.frozen
class Fired:
    case_id: int
    trigger: str
    source: str
    dest: str
    version: int
    owner_kind: str | None
    owner_party_id: int | None
    due_at: datetime | None


def default_workflow(setting: str | None, workflows) -> str:
    """``[cases] default_workflow`` if it names a registered workflow, else the only one."""
    known = ", ".join(sorted(workflows)) or "none"
    if setting:
        if setting not in workflows:
            raise ValidationError("[cases] default_workflow", setting, f"is no registered workflow; registered: {known}")
        return setting
    if len(workflows) == 1:
        return next(iter(workflows))
    if not workflows:
        raise ValidationError("workflow", None, "no workflow is registered: a plugin provides one "
                              "(dealercrm_register_workflows); is its plugin blocked?")
    raise ValidationError("workflow", None, f"name the workflow the case follows, one of {known}, or set "
                          "[cases] default_workflow")


@attrs.frozen
class Decided:
    """A transition worked out but not written (``CaseService.decide``)."""

    case: dict  # the row as loaded
    values: dict[str, Any]  # what the UPDATE sets: the workflow's columns and the plugins' amendments
    events: list[Event]  # raised once written
    history: dict[str, Any]  # the case_event row
    audit: dict[str, Any]  # the audit_record row
    fired: Fired


#: keys of a transition's data only dealercrm itself writes (``case_links.respond``): a party
#: putting them in would make its own step read as the customer's answer
RESERVED_DATA = frozenset({"via"})


def parse_data(data: dict[str, Any] | None, subject: str) -> dict[str, Any]:
    """Timestamps arrive as ISO strings from the CLI and HTTP; naive ones are refused, and so
    are times without a UTC equivalent and numbers JSON cannot hold (NaN, infinities)."""
    out = dict(data or {})
    for key, value in out.items():
        validation.finite(key, value)
        if key.endswith("_at") and isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                raise ValidationError(key, value, f"{subject}: is not an ISO date and time") from None
            if parsed.tzinfo is None:
                raise ValidationError(key, value, f"{subject}: needs a timezone, e.g. {value}+01:00")
            validation.aware(key, parsed)  # 0001-01-01T00:00+05:00 has no UTC time: out of range
            out[key] = parsed
    return out


class CaseService(Service):
    def __init__(self, crm):
        super().__init__(crm)
        self._parties: dict[int, PartyInfo] = {}
        self._parties_read = 0.0
        # per compiled workflow: a plugin registered later recompiles them
        self._pauses: weakref.WeakKeyDictionary[CompiledWorkflow, dict[str, bool]] = weakref.WeakKeyDictionary()

    # -- lookups -------------------------------------------------------------------------
    def workflow(self, name: str) -> CompiledWorkflow:
        """The compiled workflow ``name``, as the plugins registered and extended it.

        Args:
            name: The workflow's name, e.g. ``crm.cases.default_workflow()``.

        Returns:
            The compiled workflow (``.workflow`` is its declaration: states, transitions).

        Raises:
            NotFound: No plugin registered a workflow of that name (or its plugin is blocked).

        Examples:
            >>> name = crm.cases.default_workflow()
            >>> crm.cases.workflow(name).workflow.name == name
            True
        """
        try:
            return self.crm.workflows[name]
        except KeyError:
            raise NotFound("workflow", name) from None

    def default_workflow(self) -> str:
        """The workflow a case follows when it names none: ``[cases] default_workflow``, else
        the one registered workflow; with several and no setting, a case must name its own.

        Returns:
            The workflow's name.

        Raises:
            ValidationError: The setting names no registered workflow, none is registered, or
                several are and no setting chooses.

        Examples:
            >>> crm.cases.default_workflow() in crm.workflows
            True
        """
        return default_workflow(self.crm.settings.cases.default_workflow, self.crm.workflows)

    @staticmethod
    def acts_on(actor: Principal, case: dict) -> bool:
        """Whether ``actor`` acts on ``case``: the system on every case, a person only on
        cases whose party of its kind (dealer, manufacturer, technician) is its own.

        The first thing firing and recording facts ask, before the workflow is consulted.
        Raises nothing.

        Args:
            actor: The acting actor (``uow.principal``).
            case: The case's row (``load``), by column name.

        Returns:
            True if the actor is of a party of the case.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> with crm.read(lea) as uow:
            ...     crm.cases.acts_on(uow.principal, crm.cases.load(uow.connection, case.id))
            True
        """
        if actor.kind == "system":
            return True
        column = PARTY_COLUMNS.get(actor.kind)
        return column is not None and case.get(column) == actor.party_id

    def pauses(self, wf: CompiledWorkflow) -> Callable[[State], bool]:
        """Whether each state of ``wf`` pauses the case's clock (it waits on the customer),
        worked out once per state and kept: it is asked on every transition.

        Raises nothing.

        Args:
            wf: The compiled workflow.

        Returns:
            A function of a state: True if the state pauses the clock.

        Examples:
            >>> wf = crm.cases.workflow(crm.cases.default_workflow())
            >>> pauses = crm.cases.pauses(wf)
            >>> [state.name for state in wf.workflow.states if pauses(state)]
            ['waiting_for_customer']
        """

        known = self._pauses.setdefault(wf, {})

        def pauses(state) -> bool:
            if state.name not in known:
                known[state.name] = is_pause(wf.workflow, state)
            return known[state.name]

        return pauses

    def party_lookup(self, conn: Connection) -> Callable[[int | None], PartyInfo | None]:
        """Kind and calendar of a party, read once and again whenever an unknown party shows
        up (one added after the first transition, possibly by another process), a minute has
        passed (a calendar changed in another process counts within ``PARTIES_FRESH``), or
        this process changed a calendar (``forget_parties``).

        Every transition places the case with a party and a deadline in its calendar; reading
        the parties once instead of per transition keeps firing to one round trip. Raises nothing.

        Args:
            conn: The open connection to read the parties on.

        Returns:
            A function of a party id: its kind and calendar (``PartyInfo``), None for no or an unknown party.

        Examples:
            >>> with crm.read(lea) as uow:
            ...     crm.cases.party_lookup(uow.connection)(dealer).kind
            'dealer'
        """

        def lookup(party_id: int | None) -> PartyInfo | None:
            if party_id is None:
                return None
            if party_id not in self._parties or time.monotonic() - self._parties_read > PARTIES_FRESH:
                self._parties_read = time.monotonic()
                rows = conn.execute(select(Party.id, Party.kind, Party.region, Party.time_zone, Party.hours,
                                           Party.closed))
                self._parties = {row.id: PartyInfo.of(row.kind, row.region, row.time_zone, row.hours, row.closed)
                                 for row in rows}
            return self._parties.get(party_id)

        return lookup

    def forget_parties(self) -> None:
        """Drop the cached parties' kinds and calendars: a calendar changed in this process counts at once.

        ``crm.parties.set_calendar`` calls it; a plugin that writes a party's calendar
        itself calls it too. Raises nothing.

        Examples:
            >>> crm.cases.forget_parties()
        """
        self._parties = {}

    def load_as(self, uow: UnitOfWork, case_id: int) -> dict:
        """The case to fire on, locked, read with the unit of work's actor in one statement
        (``defer_principal``); the actor is checked first, as if read on its own.

        Firing is the hot path: the actor and the case in one round trip instead of two.

        Args:
            uow: A unit of work opened with ``defer_principal=True`` (or with its actor loaded).
            case_id: The case.

        Returns:
            The case's row by column name (no access check beyond the actor's own; ``decide`` makes it).

        Raises:
            NotFound: No such case, or ``uow``'s actor is no actor.
            NotPermitted: ``uow``'s actor is deactivated.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> with crm.uow(lea, "my_plugin.look", defer_principal=True) as uow:
            ...     row = crm.cases.load_as(uow, case.id)
            ...     (uow.principal.name, row["state"])
            ('Lea Wolf', 'reported')
        """
        query = _LOAD_AS_LOCKED if uow.connection.dialect.name == "postgresql" else _LOAD_AS
        # the unit's first statement: on a connection found dead it is repeated on a fresh one
        row = uow.first(lambda conn: conn.execute(query, {"case_id": case_id, "actor_id": uow.principal_id}).first())
        if row is None:
            uow.principal  # noqa: B018  (an unknown or inactive actor is refused before a missing case)
            raise NotFound("case", case_id)
        uow.adopt_principal(row[len(_CASE_KEYS):])
        return dict(zip(_CASE_KEYS, row))

    def load(self, conn: Connection, case_id: int, lock: bool = False) -> dict:
        """The case's row as a dict, with no access check: for steps inside a unit of work that checked already.

        Args:
            conn: The unit of work's connection.
            case_id: The case.
            lock: Lock the row ``FOR UPDATE`` (PostgreSQL; SQLite's one writer holds the
                database anyway), so a concurrent change waits instead of conflicting.

        Returns:
            The case's columns by name.

        Raises:
            NotFound: No such case.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> with crm.read(lea) as uow:
            ...     row = crm.cases.load(uow.connection, case.id)
            >>> (row["state"], row["version"])
            ('reported', 1)
        """
        query = _LOAD_LOCKED if lock and conn.dialect.name == "postgresql" else _LOAD
        row = conn.execute(query, {"case_id": case_id}).mappings().first()
        if row is None:
            raise NotFound("case", case_id)
        return dict(row)

    # -- opening ------------------------------------------------------------------------
    def open(self, customer_id: int, summary: str, *, by: int, asset_id: int | None = None,
             workflow: str | None = None, priority: str = "normal") -> Case:
        """Open a service case for a customer: the customer's dealer opens it.

        The case follows ``workflow`` from its initial state, held by the party that state
        names with the state's deadline in that party's business calendar; on an asset it is
        judged in or out of warranty as of the dealer's day and carries the asset's
        manufacturer. The service level it runs on follows from ``priority``, the asset's
        product category and the contracts of the asset and the customer
        (``dealercrm.services.case_levels``). Raises ``CaseOpened``.

        Args:
            customer_id: The customer (visible to the actor, not merged away).
            summary: What is wrong, in the customer's words (required).
            by: The acting actor's id: a person of the customer's dealer (or of the asset's selling dealer), or the system.
            asset_id: The customer's asset the case is about.
            workflow: The workflow it follows (default: ``default_workflow()``).
            priority: One of ``validation.PRIORITIES`` (low, normal, high, urgent).

        Returns:
            The new case (``state``, ``owner_party_id``, ``due_at``, ``warranty_status`` ...).

        Raises:
            NotFound: No such customer, workflow or asset of this customer (or not visible); or
                ``by`` is no actor.
            NotPermitted: The actor is not of the customer's dealer, or ``by`` is deactivated.
            ValidationError: An empty summary, an unknown priority, a merged customer, no
                workflow to follow.
            Vetoed: A plugin refused the change.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> (case.state, case.owner_party_id == dealer)
            ('reported', True)
        """
        if not (summary or "").strip():
            raise ValidationError("summary", summary, "is required: what is wrong, in the customer's words")
        priority = validation.choice("priority", priority, validation.PRIORITIES)
        wf = self.workflow(workflow or self.default_workflow())
        workflow = wf.workflow.name
        # Core, no ORM session: the customer with the actor (one statement), the asset with its
        # product, the case, its history row and their audit rows (the shape the ORM writes)
        with self.crm.uow(by, "cases.open", defer_principal=True) as uow:
            conn, now = uow.connection, uow.now
            row = uow.first(lambda c: c.execute(_OPEN_CUSTOMER_AS, {"customer_id": customer_id,
                                                                   "actor_id": uow.principal_id}).first())
            if row is None:
                uow.principal  # noqa: B018  (an unknown or inactive actor is refused before a missing customer)
                raise NotFound("customer", customer_id)
            actor = uow.adopt_principal(row[len(_CUSTOMER_KEYS):])
            customer = dict(zip(_CUSTOMER_KEYS, row))
            if not sees_customer(uow, customer):
                raise NotFound("customer", customer_id)
            if customer["merged_into_id"] is not None:  # its records would vanish from every view
                raise StateConflict("customer", customer_id,
                                    f"was merged into customer {customer['merged_into_id']}; use that one")
            asset = conn.execute(_OPEN_ASSET, {"asset_id": asset_id}).first() if asset_id is not None else None
            if asset_id is not None and (asset is None or asset.customer_id != customer_id):
                # one answer for a missing asset and another customer's: ids are not probed
                raise NotFound("asset", asset_id)
            dealer = (asset.dealer_party_id if asset else None) or customer["owner_party_id"]
            if actor.kind != "system" and actor.party_id != dealer:
                raise NotPermitted(f"{actor.name} (party {actor.party_id}, {actor.kind}) may not open a case for "
                                   f"customer {customer_id}: the customer's dealer, party {dealer}, opens cases")
            # the level from the priority, the product's category and the contracts (``case_levels.traits``)
            contracts = [c for c in ((asset.service_contract,) if asset else ()) + (customer["service_contract"],) if c]
            level, why = wf.level_for(priority, asset.category if asset else None, contracts)
            flow = wf.at_level(level)
            start = flow.state(flow.initial)
            facts = {"dealer_party_id": dealer, "manufacturer_party_id": asset.manufacturer_party_id if asset else None}
            placed = place(facts, start, start, now, {}, "new case", self.party_lookup(conn), self.pauses(wf))
            # in or out of warranty as of the opening day, the dealer's (dealercrm.services.warranty)
            judged = warranty.judge(asset, self.local_day(conn, dealer, now))
            values = {**_CASE_DEFAULTS, **dict(
                workflow=workflow, customer_id=customer_id, asset_id=asset_id, summary=summary.strip(),
                priority=priority, service_level=level, state=start.name, owner_kind=placed.owner_kind,
                owner_party_id=placed.owner_party_id, dealer_party_id=dealer,
                manufacturer_party_id=facts["manufacturer_party_id"], due_at=placed.due_at, state_entered_at=now,
                opened_at=now, facts={}, warranty_status=judged.status, warranty_until=judged.until)}
            case_id = conn.execute(_INSERT_CASE, values).scalar_one()
            # the level, why, and the promise given on the first day: kept with the opening
            given = case_levels.opened_data(self, conn, values, now, why)
            opened = {**_EVENT_DEFAULTS, **dict(
                case_id=case_id, kind="opened", to_state=start.name, actor_id=actor.id, party_id=actor.party_id,
                owner_party_id=placed.owner_party_id, due_at=placed.due_at, at=now, version=1, data=given)}
            event_id = conn.execute(_INSERT_OPENED, opened).scalar_one()
            conn.execute(_INSERT_AUDIT, [
                inserted(Case, values, case_id, at=now, actor_id=actor.id, operation=uow.operation),
                inserted(CaseEvent, opened, event_id, at=now, actor_id=actor.id, operation=uow.operation)])
            uow.raise_event(CaseOpened, case_id=case_id, customer_id=customer_id, workflow=workflow,
                            state=start.name, owner_party_id=placed.owner_party_id, due_at=placed.due_at,
                            service_level=level)
            uow.commit()
        case = Case.model_validate({**values, "id": case_id})
        make_transient_to_detached(case)  # as one loaded: it refuses what only the service may change
        return case

    # -- firing -------------------------------------------------------------------------
    def fire(self, case_id: int, trigger: str, *, by: int, data: dict[str, Any] | None = None,
             note: str | None = None, expected_version: int | None = None) -> Fired:
        """Fire ``trigger`` on a case as actor ``by``: the only way a case changes state.

        The workflow decides whether the trigger may fire from the case's state, for the
        actor's party, with its guards (which read ``data`` and the case's facts). The state,
        owner and deadline change in one UPDATE with a history row and an audit row; plugins
        may veto (``dealercrm_check_event``) or amend the case (``dealercrm_amend_case``) in
        the same transaction; events follow after commit.

        Args:
            case_id: The case.
            trigger: The workflow's trigger, e.g. ``start_diagnosis`` (``allowed_triggers`` lists what may fire now).
            by: The acting actor's id.
            data: What the transition requires, e.g. ``{"visit_at": <aware datetime>}`` for ``schedule_visit``.
            note: Why, for the history.
            expected_version: Refuse unless the case is still at this version (HTTP's ``If-Match``).

        Returns:
            What happened: source and destination state, the new version, owner and due time.

        Raises:
            NotFound: No such case, or one the actor's party does not serve; or ``by`` is no actor.
            TransitionNotAllowed: The trigger does not exist, cannot fire from this state, is a
                timeout before its deadline, or a guard refused (``guard`` and ``reason`` say
                which and why).
            NotPermitted: The actor's party may not fire this trigger, or ``by`` is deactivated.
            ValidationError: ``data`` the transition requires is missing or wrong, or holds a
                key only dealercrm records (``via``: the customer's answer through their link).
            Conflict: The case is no longer at ``expected_version``, or changed concurrently.
            Vetoed: A plugin refused the change.
            PluginError: A plugin's ``dealercrm_amend_case`` failed or amended what it may not.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> fired = crm.cases.fire(case.id, "start_diagnosis", note="on the phone", by=lea)
            >>> (fired.source, fired.dest, fired.version)
            ('reported', 'dealer_diagnosis', 2)
        """
        reserved = sorted(RESERVED_DATA & set(data or ()))
        if reserved:  # what only dealercrm itself records: "the customer answered" is the link's, not a caller's
            raise ValidationError(reserved[0], (data or {})[reserved[0]],
                                  f"case {case_id}: is recorded by dealercrm itself (a customer's answer through "
                                  "their status link); it cannot be given in a transition's data")
        with self.crm.uow(by, "cases.fire", defer_principal=True) as uow:
            fired = self.fire_in(uow, case_id, trigger, data=data, note=note, expected_version=expected_version,
                                 case=self.load_as(uow, case_id))
            uow.commit()
            return fired

    def fire_in(self, uow: UnitOfWork, case_id: int, trigger: str, *, data: dict[str, Any] | None = None, note: str | None = None,
                expected_version: int | None = None, case: dict | None = None, timeout: bool = False) -> Fired:
        """Fire inside ``uow``: the case's one UPDATE, its history row and its audit row.

        For a plugin's operation or a rule that moves a case as one step of more: the
        transition commits with the rest, or not at all. Checked as ``fire`` checks it.

        Args:
            uow: The open unit of work; its actor fires.
            case_id: The case.
            trigger: The workflow's trigger.
            data: What the transition requires (``fire``).
            note: Why, for the history.
            expected_version: Refuse unless the case is still at this version.
            case: The case's row if already loaded (``load_as``), else it is loaded and locked.
            timeout: Fire a timeout transition as the clock does (the deadline processor).

        Returns:
            What happened (``Fired``).

        Raises:
            NotFound: No such case, or one the actor's party does not serve.
            NotPermitted: The actor's party may not fire this trigger on this case.
            TransitionNotAllowed: The trigger does not exist, cannot fire from this state, is
                a timeout before its deadline, or a guard refused.
            ValidationError: ``data`` the transition requires is missing or wrong.
            Conflict: The case is no longer at ``expected_version``, or changed concurrently.
            PluginError: A plugin's ``dealercrm_amend_case`` failed or amended what it may not.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> with crm.uow(lea, "my_plugin.diagnose") as uow:
            ...     fired = crm.cases.fire_in(uow, case.id, "start_diagnosis", note="on the phone")
            ...     uow.commit()
            >>> fired.dest
            'dealer_diagnosis'
        """
        decided = self.decide(uow, case_id, trigger, data=data, note=note, expected_version=expected_version,
                              case=case, timeout=timeout)
        self.write(uow, [decided])
        return decided.fired

    def decide(self, uow: UnitOfWork, case_id: int, trigger: str, *, data: dict[str, Any] | None = None, note: str | None = None,
               expected_version: int | None = None, case: dict | None = None, timeout: bool = False) -> Decided:
        """Everything a transition changes, worked out and checked, nothing written yet: the
        workflow's move, the new owner and deadline, and what plugins contribute to the case
        (``dealercrm_amend_case``). ``write`` then writes it.

        Deciding apart from writing lets the deadline processor escalate a whole batch with
        one statement per table.

        Args:
            uow: The open unit of work; its actor fires.
            case_id: The case.
            trigger: The workflow's trigger.
            data: What the transition requires (``fire``).
            note: Why, for the history.
            expected_version: Refuse unless the case is still at this version.
            case: The case's row if already loaded, else it is loaded and locked.
            timeout: Decide a timeout transition as the clock does (the deadline processor).

        Returns:
            The decision (``Decided``): the row as loaded, the values to set, the history and
            audit rows, the events, and ``fired``.

        Raises:
            NotFound: No such case, or one the actor's party does not serve.
            NotPermitted: The actor's party may not fire this trigger on this case.
            TransitionNotAllowed: The trigger does not exist, cannot fire from this state, is
                a timeout before its deadline, or a guard refused.
            ValidationError: ``data`` the transition requires is missing or wrong.
            Conflict: The case is no longer at ``expected_version``.
            PluginError: A plugin's ``dealercrm_amend_case`` failed or amended what it may not.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> with crm.uow(lea, "my_plugin.diagnose") as uow:
            ...     decided = crm.cases.decide(uow, case.id, "start_diagnosis")
            ...     print(decided.values["state"], decided.fired.version)
            ...     crm.cases.write(uow, [decided])
            ...     uow.commit()
            dealer_diagnosis 2
        """
        conn, now, subject = uow.connection, uow.now, f"case {case_id}"
        actor = uow.principal
        case = case or self.load(conn, case_id, lock=True)
        if not sees_case(uow, case):
            raise NotFound("case", case_id)
        if expected_version is not None and case["version"] != expected_version:
            raise Conflict(f"case {case_id}: version {expected_version} is no longer current (now {case['version']}); "
                           "reload the case and decide again")
        wf = self.workflow(case["workflow"])
        data = parse_data(data, subject)
        if note is None and isinstance(data.get("note"), str):
            note = data.pop("note")  # the note is kept in its own (personal) column, not in the data
        checked = {**data, "note": note} if note is not None else data  # `note=` satisfies a required "note"
        # Every refusal names the case, its state and the actor before saying what went wrong.
        refusal = f"{subject} (state {case['state']!r}, actor {actor.id} {actor.name})"
        if not self.acts_on(actor, case):
            raise NotPermitted(f"{refusal}: {actor.name} ({actor.kind}, party {actor.party_id}) may not fire "
                               f"{trigger!r}: this case's {actor.kind} is party "
                               f"{case.get(PARTY_COLUMNS.get(actor.kind, ''))}; allowed triggers for this actor: none")
        result = wf.fire(case["state"], trigger, party_kind=actor.kind, role=actor.role, data=checked, now=now,
                         due_at=case["due_at"], facts=case["facts"] or {}, subject=refusal)
        flow = wf.at_level(case["service_level"])  # the deadlines of the case's service level
        source, dest = flow.state(result.source), flow.state(result.dest)
        if result.transition.timeout and not timeout:
            # A timeout is the clock's, not a shortcut: before the deadline it would take the
            # owner's time away; after it, it is recorded as the escalation it is.
            if case["due_at"] is None or now < case["due_at"]:
                due = f"{case['due_at']:%Y-%m-%d %H:%M} UTC" if case["due_at"] else "(none)"
                raise TransitionNotAllowed(
                    f"{refusal}: {trigger!r} is the timeout of state {source.name!r} and fires only once its "
                    f"deadline {due} has passed (crm.cases.tick)",
                    [t for t in wf.allowed_triggers(source.name, actor.kind, actor.role) if t != trigger])
            timeout = True
        pauses = self.pauses(wf)
        placed = place(case, source, dest, now, data, subject, self.party_lookup(conn), pauses,
                       actor_kind=None if actor.is_system else actor.kind)
        reopened = reopens(source, dest, timeout=timeout, paused_source=pauses(source), resumed=placed.resumed)
        version = case["version"] + 1
        values = dict(state=dest.name, owner_kind=placed.owner_kind, owner_party_id=placed.owner_party_id,
                      owner_actor_id=None, due_at=placed.due_at, state_entered_at=now, version=version,
                      paused_from=placed.paused_from, paused_remaining_s=placed.paused_remaining_s,
                      closed_at=now if dest.final else None, reopen_count=case["reopen_count"] + int(reopened),
                      **placed.parties)
        events = transition_events(
            case_id=case_id, customer_id=case["customer_id"], at=now, actor_id=actor.id, trigger=trigger,
            source=source.name, dest=dest, before=Holder(case["owner_kind"], case["owner_party_id"], case["due_at"]),
            after=Holder(placed.owner_kind, placed.owner_party_id, placed.due_at), version=version, data=data,
            timeout=timeout, reopened=reopened, reopen_count=values["reopen_count"])
        values.update(self._amendments(uow, cast(CaseTransitioned, events[0]), case))
        changes: dict[str, list[Any]] = {}
        personal: dict[str, list[Any]] = {}
        for key, value in values.items():
            if case[key] != value:
                (personal if key in Case.__personal__ else changes)[key] = [jsonable(case[key]), jsonable(value)]
        payload = {k: jsonable(v) for k, v in data.items()} or None
        return Decided(
            case, values, events,
            dict(case_id=case_id, kind="timeout" if timeout else "transition", trigger=trigger,
                 from_state=source.name, to_state=dest.name, actor_id=actor.id, party_id=actor.party_id,
                 owner_party_id=placed.owner_party_id, due_at=placed.due_at, at=now, note=note, data=payload,
                 version=version),
            dict(at=now, actor_id=actor.id, operation=f"cases.fire:{trigger}", action="update",
                 entity="service_case", entity_id=case_id, changes=changes, personal_changes=personal or None,
                 customer_id=case["customer_id"]),
            Fired(case_id, trigger, source.name, dest.name, version, placed.owner_kind, placed.owner_party_id,
                  placed.due_at))

    def write(self, uow: UnitOfWork, decided: list[Decided]) -> None:
        """Write decided transitions: per case one version-checked UPDATE (the workflow's
        columns and the plugins' amendments together), one history row, one audit row —
        for many cases at once as one statement each (executemany). Then their events.

        Args:
            uow: The unit of work the transitions were decided in.
            decided: What ``decide`` returned, one per case.

        Raises:
            Conflict: A case changed since it was decided (its version moved on); nothing of
                the batch should be committed then.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> with crm.uow(lea, "my_plugin.diagnose") as uow:
            ...     crm.cases.write(uow, [crm.cases.decide(uow, case.id, "start_diagnosis")])
            ...     uow.commit()
            >>> crm.cases.get(case.id, by=lea).state
            'dealer_diagnosis'
        """
        if not decided:
            return
        conn = uow.connection
        alike: dict[tuple[str, ...], list[Decided]] = {}
        for d in decided:  # one executemany per set of columns
            alike.setdefault(tuple(d.values), []).append(d)
        for group in alike.values():
            params = [{**d.values, "where_id": d.case["id"], "where_version": d.case["version"]} for d in group]
            if conn.execute(_UPDATE, params if len(params) > 1 else params[0]).rowcount != len(group):
                which = ", ".join(f"{d.case['id']} (version {d.case['version']})" for d in group)
                raise Conflict(f"case {which}: changed concurrently; reload the case and decide again")
        many = len(decided) > 1
        conn.execute(_INSERT_EVENT, [d.history for d in decided] if many else decided[0].history)
        conn.execute(_INSERT_AUDIT, [d.audit for d in decided] if many else decided[0].audit)
        for d in decided:
            uow.events.extend(d.events)

    def _amendments(self, uow, transitioned: CaseTransitioned, case: dict) -> dict[str, Any]:
        """What plugins write on the case with this transition (``dealercrm_amend_case``):
        only ``AMENDABLE`` columns; two plugins giving one column different values is refused."""
        found: dict[str, Any] = {}
        owners: dict[str, str] = {}
        hook = "dealercrm_amend_case"
        for plugin, results in self.crm.plugins.call_each(hook, event=transitioned, case=MappingProxyType(case),
                                                          uow=uow):
            for amended in results:
                if amended is None:
                    continue
                if not isinstance(amended, Mapping):
                    raise PluginError(plugin, hook, f"returned {amended!r}: a dict of columns to write, or None")
                unknown = sorted(set(amended) - set(AMENDABLE))
                if unknown:
                    raise PluginError(plugin, hook, f"case {case['id']}: {', '.join(unknown)} cannot be amended "
                                      f"(amendable: {', '.join(AMENDABLE)}); the workflow's columns change only by "
                                      "firing a trigger")
                for key, value in amended.items():
                    if key in found and found[key] != value:
                        raise PluginError(plugin, hook, f"case {case['id']}: {key} is amended to {found[key]!r} by "
                                          f"{owners[key]!r} and to {value!r} by {plugin!r}")
                    found[key], owners[key] = value, plugin
        return found

    # -- reading ------------------------------------------------------------------------
    def get(self, case_id: int, *, by: int) -> Case:
        """The case, if the actor's party serves it: its dealer, its technician, or its
        manufacturer once the case has been with it.

        Args:
            case_id: The case.
            by: The acting actor's id.

        Returns:
            The case (``state``, ``owner_party_id``, ``due_at``, ``version``, ``facts`` ...).

        Raises:
            NotFound: No such case, or one the actor's party does not serve (the same answer);
                or ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> crm.cases.get(case.id, by=lea).summary
            'drum noise'
        """
        with self.read(by) as uow:
            case = uow.session.scalar(select(Case).where(Case.id == case_id, case_scope(uow.principal)))
            if case is None:
                raise NotFound("case", case_id)
            return case

    def history(self, case_id: int, *, by: int) -> list[CaseEvent]:
        """Every step of the case, oldest first: opened, transitions, facts, timeouts, returns,
        each naming its actor, party and the holder and deadline it left the case with.

        Args:
            case_id: The case.
            by: The acting actor's id.

        Returns:
            The case's history rows.

        Raises:
            NotFound: No such case, or one the actor's party does not serve; or ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> _ = crm.cases.fire(case.id, "start_diagnosis", by=lea)
            >>> [(step.kind, step.to_state) for step in crm.cases.history(case.id, by=lea)]
            [('opened', 'reported'), ('transition', 'dealer_diagnosis')]
        """
        with self.read(by) as uow:
            visible_case(uow, case_id)
            return list(uow.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)))

    def allowed_triggers(self, case_id: int, by: int) -> list[str]:
        """What this actor may fire on this case now: a front end's buttons.

        By the workflow's permissions for the actor's party kind and role; a timeout only once
        its deadline passed. Guards are judged only when firing (they read the data given then).

        Args:
            case_id: The case.
            by: The acting actor's id.

        Returns:
            The triggers, sorted; empty for an actor not of a party of the case.

        Raises:
            NotFound: No such case, or one the actor's party does not serve; or ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> crm.cases.allowed_triggers(case.id, by=lea)
            ['start_diagnosis', 'withdraw']
        """
        with self.read(by) as uow:
            case = visible_case(uow, case_id)._mapping
            actor = uow.principal
            if not self.acts_on(actor, case):
                return []
            wf = self.workflow(case["workflow"])
            allowed = wf.allowed_triggers(case["state"], actor.kind, actor.role)
            if case["due_at"] is None or uow.now < case["due_at"]:  # the clock's own move comes when it is due
                allowed = [t for t in allowed if t != wf.timeout_trigger(case["state"])]
            return allowed

    def list(self, *, by: int, open_only: bool = True, party_id: int | None = None, customer_id: int | None = None,
             state: str | None = None, held: bool = False, overdue: bool = False, workflow: str | None = None,
             sort: str = "due", limit: int = 100, offset: int = 0) -> list[Case]:
        """Cases the actor may see: a party's queue.

        Args:
            by: The acting actor's id.
            open_only: Leave closed cases out.
            party_id: Only cases held by this party now.
            customer_id: Only this customer's.
            state: Only cases in this state.
            held: Only cases the actor's own party holds now.
            overdue: Only cases past their due time.
            workflow: Only cases following this workflow.
            sort: ``"due"`` (soonest due first, none last), ``"id"`` or ``"-id"``.
            limit: At most this many.
            offset: Skip this many first (paging).

        Returns:
            The cases.

        Raises:
            ValidationError: An unknown ``sort``.
            NotFound: ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> [c.summary for c in crm.cases.list(held=True, by=lea)]
            ['drum noise']
        """
        if sort not in CASE_SORTS:
            raise ValidationError("sort", sort, f"must be one of {', '.join(CASE_SORTS)}")
        with self.read(by) as uow:
            p = uow.principal
            query = select(Case).where(case_scope(p)).order_by(*CASE_SORTS[sort]).limit(limit).offset(offset)
            if open_only:
                query = query.where(Case.closed_at.is_(None))
            if held:
                query = query.where(Case.owner_party_id == p.party_id)
            if overdue:
                query = query.where(Case.due_at <= uow.now)
            for column, value in ((Case.owner_party_id, party_id), (Case.state, state),
                                  (Case.customer_id, customer_id), (Case.workflow, workflow)):
                if value is not None:
                    query = query.where(column == value)
            return list(uow.session.scalars(query))

    def held(self, case_ids: builtins.list[int], *, by: int) -> dict[int, dict[int | str, timedelta]]:
        """Who held each of these cases for how long so far, from their history: a queue's
        "with whom, how long". Cases the actor may not see are left out.

        Args:
            case_ids: The cases.
            by: The acting actor's id.

        Returns:
            ``{case_id: {party_id: time, "customer": time}}``: the time each party (and the
            customer, while the case waited on them) held it.

        Raises:
            NotFound: ``by`` is no actor, or a case's workflow is no longer registered.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> list(crm.cases.held([case.id], by=lea)[case.id]) == [dealer]
            True
        """
        from .case_report import CUSTOMER, periods_of
        with self.read(by) as uow:
            cases = {row.id: row for row in uow.connection.execute(
                select(Case.id, Case.workflow, Case.closed_at).where(Case.id.in_(list(case_ids)),
                                                                     case_scope(uow.principal)))}
            events: dict[int, list] = {case_id: [] for case_id in cases}
            for event in uow.connection.execute(
                    select(CaseEvent.case_id, CaseEvent.kind, CaseEvent.to_state, CaseEvent.owner_party_id,
                           CaseEvent.at).where(CaseEvent.case_id.in_(list(cases)))
                    .order_by(CaseEvent.case_id, CaseEvent.id)):
                events[event.case_id].append(event)
            now = uow.now
        held: dict[int, dict[int | str, timedelta]] = {}
        for case_id, row in cases.items():
            wf = self.workflow(row.workflow).workflow
            totals: dict[Any, timedelta] = {}  # a party id, or CUSTOMER
            for period in periods_of(events[case_id], row.closed_at or now, lambda s, wf=wf: wf.state(s).owner):
                key = CUSTOMER if period.holder == CUSTOMER else period.party_id
                totals[key] = totals.get(key, timedelta(0)) + period.length
            held[case_id] = totals
        return held

    def record_fact(self, case_id: int, key: str, value: Any, *, by: int, note: str | None = None,
                    expected_version: int | None = None) -> int:
        """Write down a fact on an open case that a guard consults, with who and when.

        E.g. the customer agreeing to a visit after the deadline
        (``customer_agreed_late_slot``): the workflow's guards read ``case.facts``, never an
        assumption. The fact goes into the case's history and audit (its value in the personal
        half, blanked on erasure) and raises ``CaseFactRecorded``.

        Args:
            case_id: The case.
            key: One word naming the fact, e.g. ``customer_agreed_late_slot``.
            value: A JSON-able value (a finite number, text, True ...).
            by: The acting actor's id: a person of a party of the case, or the system.
            note: Why, for the history.
            expected_version: Refuse unless the case is still at this version (what the caller last saw).

        Returns:
            The case's new version.

        Raises:
            NotFound: No such case, or one the actor's party does not serve; or ``by`` is no actor.
            NotPermitted: The actor's party is no party of the case, or not one the workflow lets
                record this fact (``Workflow.fact_keepers``: the customer's agreement to a late
                slot is the dealer's to record); or ``by`` is deactivated.
            ValidationError: A key that is no single word, a value that is not finite.
            StateConflict: A closed case: facts are recorded on open cases only (HTTP 409).
            Conflict: The case is no longer at ``expected_version``, or changed concurrently.
            Vetoed: A plugin refused the change.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> crm.cases.record_fact(case.id, "customer_agreed_late_slot", True, note="by phone", by=lea)
            2
        """
        from .case_facts import record_fact
        return record_fact(self, case_id, key, value, by=by, note=note, expected_version=expected_version)

    def record_return(self, case_id: int, *, by: int, rma_number: str | None = None,
                      shipped_on: date | str | None = None, received_on: date | str | None = None,
                      note: str | None = None, expected_version: int | None = None) -> Case:
        """Record the replaced unit's return: the manufacturer's RMA number and the day it
        received the unit, the dealer's day of shipping it (``dealercrm.services.case_returns``).

        Each step is recorded by the party that knows it (``dealercrm.access.RETURN_RECORDERS``),
        in order, on an open or closed case; it bumps the version, is a line in the history,
        and raises ``CaseReturnRecorded``. Recording what is there already changes nothing.

        Args:
            case_id: The case.
            by: The acting actor's id: the case's manufacturer (RMA, receipt), its dealer
                (shipment), or the system.
            rma_number: The return authorisation's number.
            shipped_on: The day the dealer shipped the old unit (a date or ``"YYYY-MM-DD"``).
            received_on: The day the manufacturer received it.
            note: Why, for the history.
            expected_version: Refuse unless the case is still at this version.

        Returns:
            The case as it is now.

        Raises:
            NotFound: No such case, or one the actor's party does not serve; or ``by`` is no actor.
            NotPermitted: The step is another party's to record, or ``by`` is deactivated.
            ValidationError: Nothing given, a day before the case was opened or after today,
                a shipment without an RMA number, a receipt before the shipment.
            Conflict: The case is no longer at ``expected_version``, or changed concurrently.
            Vetoed: A plugin refused the change.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> crm.cases.record_return(case.id, rma_number="RMA-77", by=crm.system).rma_number
            'RMA-77'
        """
        from .case_returns import record
        given = {"rma_number": rma_number, "shipped_on": shipped_on, "received_on": received_on}
        return record(self, case_id, "return", {k: v for k, v in given.items() if v is not None}, by=by, note=note,
                      expected_version=expected_version)

    def record_credit(self, case_id: int, amount: Decimal | int | str, currency: str, *, by: int,
                      on: date | str | None = None, note: str | None = None,
                      expected_version: int | None = None) -> Case:
        """Record the manufacturer's credit to the dealer for the case: an exact amount (a
        ``Decimal``, int or text like "49.90", never a float), its currency (ISO 4217) and
        the day (default: today where the manufacturer works).

        The manufacturer's step (``dealercrm.access.RETURN_RECORDERS``); like ``record_return``
        it bumps the version, is a line in the history and raises ``CaseReturnRecorded``.

        Args:
            case_id: The case.
            amount: The amount credited, exactly.
            currency: Its ISO 4217 code, e.g. ``"EUR"`` (any case).
            by: The acting actor's id: the case's manufacturer, or the system.
            on: The day it was credited (a date or ``"YYYY-MM-DD"``); default today.
            note: Why, for the history.
            expected_version: Refuse unless the case is still at this version.

        Returns:
            The case as it is now.

        Raises:
            NotFound: No such case, or one the actor's party does not serve; or ``by`` is no actor.
            NotPermitted: The actor is not the case's manufacturer (nor the system), or ``by``
                is deactivated.
            ValidationError: An amount that is no exact number, a currency that is no ISO 4217
                code, a day before the case was opened or after today.
            Conflict: The case is no longer at ``expected_version``, or changed concurrently.
            Vetoed: A plugin refused the change.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> credited = crm.cases.record_credit(case.id, "49.90", "eur", by=crm.system)
            >>> (credited.credit_amount, credited.credit_currency)
            (Decimal('49.90'), 'EUR')
        """
        from .case_returns import record
        given = {"amount": amount, "currency": currency, "on": on}
        return record(self, case_id, "credit", {k: v for k, v in given.items() if v is not None}, by=by, note=note,
                      expected_version=expected_version)

    def set_priority(self, case_id: int, priority: str, *, by: int, note: str | None = None,
                     expected_version: int | None = None) -> Case:
        """Change how urgent the case is (one of ``validation.PRIORITIES``): the case's dealer.
        The service level is decided again and, if it changes, applies going forward
        (``dealercrm.services.case_levels``). Answers with the case at its new version.

        Args:
            case_id: The case.
            priority: ``low``, ``normal``, ``high`` or ``urgent``.
            by: The acting actor's id: a person of the case's dealer, or the system.
            note: Why, for the history.
            expected_version: The version the caller saw (optimistic locking).

        Returns:
            The case at its new version.

        Raises:
            NotFound: No such case or one the actor may not see; or ``by`` is no actor.
            NotPermitted: The actor is not of the case's dealer, or ``by`` is deactivated.
            ValidationError: An unknown priority.
            StateConflict: A closed case: its priority no longer decides anything (HTTP 409).
            Conflict: The case moved on since ``expected_version``.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> crm.cases.set_priority(case.id, "urgent", by=lea).service_level
            'urgent'
        """
        return case_levels.set_priority(self, case_id, priority, by=by, note=note, expected_version=expected_version)

    def promise(self, case_id: int, *, by: int) -> Promise | None:
        """By when the case is resolved at the latest if only the dealer and the system act,
        the manufacturer, technician and customer silent (``dealercrm.workflow.promise``):
        a ``Promise`` with ``resolved_by``, the resolving final state and the way there;
        None for a case that ended without being resolved (withdrawn).

        Args:
            case_id: The case.
            by: The acting actor's id.

        Returns:
            The ``Promise`` (``resolved_by``, ``final_state``, ``way``), or None.

        Raises:
            NotFound: No such case or one the actor may not see; or ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> crm.cases.promise(case.id, by=lea).resolved_by > case.opened_at
            True
        """
        with self.read(by) as uow:
            case = visible_case(uow, case_id)._mapping
            return case_levels.promise_of(self, uow.connection, dict(case), uow.now)

    def resolved_by(self, cases: builtins.list[Case], *, by: int) -> dict[int, datetime | None]:
        """``promise(...).resolved_by`` of each of ``cases``, cases the actor already holds
        (from ``get`` or ``list``), read in one go: the "resolved by" of a page of cases.

        Args:
            cases: Cases the actor holds.
            by: The acting actor's id.

        Returns:
            ``{case id: resolved_by}`` (None for a case ended unresolved).

        Raises:
            NotFound: ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> list(crm.cases.resolved_by([case], by=lea)) == [case.id]
            True
        """
        with self.read(by) as uow:
            out = {}
            for case in cases:
                promise = case_levels.promise_of(self, uow.connection, case, uow.now)
                out[case.id] = promise.resolved_by if promise else None
            return out

    def first_handoff_promises(self, uow: UnitOfWork, events: builtins.list[Event]) -> dict[tuple[int, int], datetime]:
        """Inside ``uow`` (a notices hook's): the promise to tell the customer with each of these
        events that is its case's first hand-off, ``{(case id, version): resolved_by}``.
        Raises nothing of its own.

        Args:
            uow: The notices hook's unit of work.
            events: Committed case events.

        Returns:
            ``{(case id, version): resolved_by}`` for the first hand-offs among them.

        Examples:
            >>> with crm.uow(crm.system, "look") as uow:
            ...     crm.cases.first_handoff_promises(uow, [])
            {}
        """
        return case_levels.first_handoff_promises(self, uow, events)

    def contracts(self) -> frozenset[str]:
        """The service contracts the loaded workflows' levels name (``customer.service_contract``
        and ``asset.service_contract`` must be one of them). Raises nothing.

        Returns:
            The contract names.

        Examples:
            >>> "premium" in crm.cases.contracts()
            True
        """
        return case_levels.contracts(self.crm)

    def tick(self, batch_size: int = 200, on_progress: Callable[[int], None] | None = None) -> TickReport:
        """Escalate every overdue open case once: the Python side of ``dealercrm tick``.

        As the system, in batches of one transaction each: each overdue case fires its state's
        timeout transition (nothing twice, nothing forgotten, also with concurrent ticks), and
        the notices the escalations call for are queued afterwards. Run it from a scheduler
        (cron, a worker's loop) every few minutes.

        Raises nothing of its own: a case that cannot be escalated (a plugin refused) is
        listed in the report's ``failed``, its dealer gets a task, and the next tick tries again.

        Args:
            batch_size: Cases per transaction.
            on_progress: Called with the number of cases of each batch done (a progress bar).

        Returns:
            What happened (``TickReport``): ``fired``, ``batches``, ``failed``, ``alerted``, ``noticed``.

        Examples:
            >>> from datetime import timedelta
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> crm.cases.tick().fired  # nothing is overdue yet
            0
            >>> month_later = dealercrm.ManualClock(crm.clock.now() + timedelta(days=30))
            >>> later = dealercrm.connect(str(crm.engine.url), clock=month_later, settings=crm.settings)
            >>> later.cases.tick().fired
            1
            >>> later.cases.get(case.id, by=lea).state
            'dealer_diagnosis'
            >>> later.close()
        """
        from .deadlines import tick
        return tick(self, batch_size=batch_size, on_progress=on_progress)

    def local_day(self, conn: Connection, party_id: int | None, at: datetime) -> date:
        """The calendar day ``at`` falls on where the party works (its calendar's zone).

        A warranty ends, and a return is shipped, on the party's day, not UTC's. Raises nothing:
        an unknown party counts in the default calendar.

        Args:
            conn: An open connection to read the party on.
            party_id: The party (None: the default calendar).
            at: The moment (an aware datetime).

        Returns:
            The local date.

        Examples:
            >>> from datetime import datetime, timezone
            >>> with crm.read(lea) as uow:
            ...     crm.cases.local_day(uow.connection, dealer, datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc))
            datetime.date(2026, 3, 2)
        """
        return warranty.local_day(at, calendar_of(self.party_lookup(conn), party_id).tz)

    def calendar(self, party_id: int | None) -> BusinessCalendar:
        """The business calendar of a party: its public holidays, opening hours and time zone,
        in which its cases' deadlines count. Raises nothing: None or an unknown party gets
        the default calendar.

        Args:
            party_id: The party (None: the default calendar).

        Returns:
            The calendar (``BusinessCalendar``).

        Examples:
            >>> calendar = crm.cases.calendar(dealer)
            >>> (calendar.region, calendar.tz)
            ('DE', 'Europe/Berlin')
        """
        with self.read(self.crm.system) as uow:
            return calendar_of(self.party_lookup(uow.connection), party_id)
