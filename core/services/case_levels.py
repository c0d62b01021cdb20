"""The service level a case runs on, and the promise it makes to the customer.

**The level** (``dealercrm.workflow.model.ServiceLevel``) is decided when the case opens, from
the case's priority, its product's category and the service contracts of its asset and its
customer, and written on the case (``service_level``) and in its "opened" history row with
the reason. It is decided again when one of those changes — ``crm.cases.set_priority``, a
customer's or an asset's ``service_contract`` — for every open case it concerns, in the
same transaction as the change, with a history row (kind ``level``), an audit row and
``CaseLevelChanged``. From then on the case runs on the new level, going forward:

* every state entered from now on gets the new level's deadline;
* the current state's deadline becomes the earlier of the one it had and the new level's
  full deadline counted from the change. An upgrade tightens it, but never below the full
  new deadline from the moment the owner learns of it (a deadline that was already past
  when it was set would escalate a case its owner never had a chance at); a downgrade
  never moves a deadline already given later — the customer was told it. Time the dealer
  had left while the case waits on the customer is capped the same way.

**The promise** (``dealercrm.workflow.promise``) is computed from where the case stands: its
state, the time it leaves that state at the latest (its due time, or now if that passed),
its level, and the business calendars of its parties. Nothing of it is stored but the
promise given when the case opened (in the "opened" history row): it moves when the case
moves, earlier when the dealer acts before its deadlines, later after a step the promise
did not count on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from .. import validation
from ..access import case_dealer, sees_case
from ..audit import jsonable
from ..db.case_models import Case, CaseEvent
from ..db.models import Asset, AuditRecord, Customer, Product
from ..errors import Conflict, NotFound, ValidationError
from ..events import CaseHandedOver, CaseLevelChanged
from ..workflow.calendar import WALL_CLOCK
from ..workflow.promise import Promise
from .case_events import owner_kind
from .case_rules import calendar_of

CASE = Case.__table__


def contracts(crm) -> frozenset[str]:
    """Every service contract a level of a loaded workflow names."""
    return frozenset(c for wf in crm.workflows.values() for level in wf.workflow.levels for c in level.contracts)


def traits(conn, customer_id: int, asset_id: int | None) -> tuple[str | None, list[str]]:
    """(the product's category, the contracts of the asset and the customer) of a case."""
    category, found = None, []
    if asset_id is not None:
        row = conn.execute(select(Product.category, Asset.service_contract).join(Asset, Asset.product_id == Product.id)
                           .where(Asset.id == asset_id)).first()
        if row is not None:
            category, found = row.category, [row.service_contract]
    found.append(conn.execute(select(Customer.service_contract).where(Customer.id == customer_id)).scalar())
    return category, [c for c in found if c]


def decide(service, conn, workflow: str, priority: str, customer_id: int, asset_id: int | None) -> tuple[str, str]:
    """(level, why) for a case of this priority on this customer's asset."""
    category, found = traits(conn, customer_id, asset_id)
    return service.workflow(workflow).level_for(priority, category, found)


def party_calendars(service, conn, case: Any):
    """The business calendar of the case's party of each owner kind (the customer's states
    count in the dealer's, as deadlines do)."""
    lookup = service.party_lookup(conn)
    parties = {"dealer": case["dealer_party_id"], "customer": case["dealer_party_id"],
               "manufacturer": case["manufacturer_party_id"], "technician": case["technician_party_id"]}
    return lambda kind: calendar_of(lookup, parties.get(kind))


def promise_of(service, conn, case: Any, now: datetime, *, state: str | None = None,
               due_at: datetime | None = None) -> Promise | None:
    """The promise for ``case`` (a row or a ``Case``) as it stands; or, with ``state`` and
    ``due_at``, as it stood then (a hand-off's notice speaks of the moment it was made)."""
    case = case if isinstance(case, dict) else case.model_dump()
    state, due_at = state or case["state"], due_at if state else case["due_at"]
    wf = service.workflow(case["workflow"])
    flow = wf.at_level(case["service_level"])
    if not flow.has_state(state):
        return None
    if flow.state(state).final:
        closed = case["closed_at"] or now
        return Promise(closed, state, ()) if flow.state(state).resolves else None
    leaves = max(due_at, now) if due_at is not None else now
    return wf.promise(case["service_level"], state, leaves, party_calendars(service, conn, case))


def set_priority(service, case_id: int, priority: str, *, by: int, note: str | None = None,
                 expected_version: int | None = None) -> Case:
    priority = validation.choice("priority", priority, validation.PRIORITIES)
    with service.crm.uow(by, "cases.set_priority") as uow:
        case = service.load(uow.connection, case_id, lock=True)
        if not sees_case(uow, case):
            raise NotFound("case", case_id)
        case_dealer(uow.principal, case, "change the priority of")
        if expected_version is not None and case["version"] != expected_version:
            raise Conflict(f"case {case_id}: version {expected_version} is no longer current (now {case['version']}); "
                           "reload the case and decide again")
        if case["closed_at"] is not None:
            raise ValidationError("priority", priority, f"case {case_id} is closed ({case['state']}): its priority "
                                  "no longer decides anything")
        relevel(service, uow, case, priority=priority, operation="cases.set_priority", note=note)
        result = uow.get(Case, case_id, "case")
        uow.commit()
        return result


def relevel_open_cases(service, uow, *, customer_id: int | None = None, asset_id: int | None = None,
                       operation: str) -> int:
    """Decide the level again for the open cases of a customer or an asset whose contract
    changed (in ``uow``, the change's own transaction); how many changed."""
    query = select(CASE).where(CASE.c.closed_at.is_(None)).order_by(CASE.c.id)
    query = query.where(CASE.c.customer_id == customer_id) if asset_id is None else query.where(
        CASE.c.asset_id == asset_id)
    if uow.connection.dialect.name == "postgresql":
        query = query.with_for_update()
    return sum(relevel(service, uow, dict(row), operation=operation)
               for row in uow.connection.execute(query).mappings().all())


def relevel(service, uow, case: dict, *, operation: str, priority: str | None = None,
            note: str | None = None) -> bool:
    """Put ``case`` on the level its priority and contracts call for now; False if nothing changed."""
    conn, now = uow.connection, uow.now
    priority = priority or case["priority"]
    wf = service.workflow(case["workflow"])
    level, why = decide(service, conn, case["workflow"], priority, case["customer_id"], case["asset_id"])
    if level == case["service_level"] and priority == case["priority"]:
        return False
    values: dict[str, Any] = {"priority": priority, "service_level": level, "version": case["version"] + 1}
    if level != case["service_level"]:
        flow = wf.at_level(level)
        state = flow.state(case["state"]) if flow.has_state(case["state"]) else None
        policy = state.deadline if state is not None else None
        if policy is not None and case["due_at"] is not None:
            calendar = (calendar_of(service.party_lookup(conn), case["owner_party_id"]) if policy.business
                        else WALL_CLOCK)
            values["due_at"] = min(case["due_at"], calendar.add(now, policy.duration))
        paused = case["paused_from"]
        if paused and case["paused_remaining_s"] is not None and flow.has_state(paused):
            deadline = flow.state(paused).deadline
            if deadline is not None:
                values["paused_remaining_s"] = min(case["paused_remaining_s"], deadline.duration.total_seconds())
    changes = {k: [jsonable(case[k]), jsonable(v)] for k, v in values.items() if case[k] != v}
    done = conn.execute(update(CASE).where(CASE.c.id == case["id"], CASE.c.version == case["version"])
                        .values(values))
    if done.rowcount != 1:
        raise Conflict(f"case {case['id']}: version {case['version']} was changed concurrently")
    due_at = values.get("due_at", case["due_at"])
    actor = uow.principal
    data = {"level": level, "was": case["service_level"], "priority": priority, "because": why}
    conn.execute(insert(CaseEvent.__table__).values(
        case_id=case["id"], kind="level", to_state=case["state"], actor_id=actor.id, party_id=actor.party_id,
        owner_party_id=case["owner_party_id"], due_at=due_at, at=now, note=note, data=data,
        version=values["version"]))
    conn.execute(insert(AuditRecord.__table__).values(
        at=now, actor_id=actor.id, operation=operation, action="update", entity="service_case", entity_id=case["id"],
        changes=changes, personal_changes=None, customer_id=case["customer_id"]))
    uow.raise_event(CaseLevelChanged, case_id=case["id"], customer_id=case["customer_id"], level=level,
                    previous_level=case["service_level"], priority=priority, because=why, due_at=due_at,
                    version=values["version"])
    return True


def first_handoffs(service, conn, handoffs: list) -> set[tuple[int, int]]:
    """(case id, version) of those ``CaseHandedOver`` events that are their case's first hand-off:
    the first move in its history after which another party, or the customer, holds the case."""
    cases = sorted({e.case_id for e in handoffs})
    rows = conn.execute(select(CaseEvent.case_id, CaseEvent.kind, CaseEvent.to_state, CaseEvent.owner_party_id,
                               CaseEvent.version, Case.workflow).join(Case, Case.id == CaseEvent.case_id)
                        .where(CaseEvent.case_id.in_(cases), CaseEvent.kind.in_(("opened", "transition", "timeout")))
                        .order_by(CaseEvent.case_id, CaseEvent.version)).all()
    first: dict[int, int] = {}
    held: dict[int, tuple] = {}
    for row in rows:
        flow = service.crm.workflows.get(row.workflow)
        if flow is None or not flow.workflow.has_state(row.to_state):
            continue
        state = flow.workflow.state(row.to_state)
        holder = (row.owner_party_id, owner_kind(state))
        if row.kind != "opened" and row.case_id not in first and not state.final and holder != held.get(row.case_id):
            first[row.case_id] = row.version
        held[row.case_id] = holder
    return {(e.case_id, e.version) for e in handoffs if first.get(e.case_id) == e.version}


def opened_data(service, conn, case: Any, now: datetime, why: str) -> dict[str, Any]:
    """What the "opened" history row records of the level and the promise given."""
    promise = promise_of(service, conn, case, now)
    return {"service_level": case["service_level"], "because": why,
            "resolved_by": jsonable(promise.resolved_by) if promise else None}



def first_handoff_promises(service, uow, events: list) -> dict[tuple[int, int], datetime]:
    """For the hand-off notices: ``{(case id, version): resolved_by}`` of those ``CaseHandedOver``
    among ``events`` that are their case's first hand-off, the promise as it stood at that
    hand-off (its state and deadline, the case's level and parties)."""
    handoffs = [e for e in events if isinstance(e, CaseHandedOver)]
    if not handoffs:
        return {}
    conn = uow.connection
    firsts = first_handoffs(service, conn, handoffs)
    if not firsts:
        return {}
    ids = sorted({case_id for case_id, _ in firsts})
    cases = {row["id"]: dict(row) for row in conn.execute(select(CASE).where(CASE.c.id.in_(ids))).mappings()}
    out: dict[tuple[int, int], datetime] = {}
    for e in handoffs:
        if e.version is not None and (e.case_id, e.version) in firsts and e.case_id in cases:
            promise = promise_of(service, conn, cases[e.case_id], e.at, state=e.state, due_at=e.due_at)
            if promise is not None:
                out[(e.case_id, e.version)] = promise.resolved_by
    return out
