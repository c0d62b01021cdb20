"""Merging a duplicate customer into the one that is kept.

Every table with a foreign key to ``customer`` is found from the metadata — including
tables that plugins add — so a new kind of linked record cannot be forgotten. The
merged record stays as a tombstone pointing at the kept one (``merged_into_id``), which
also keeps its external id recognisable to a re-run import. The open cases of the kept
customer get their service level decided again in the same transaction: the duplicate's
cases now run under the kept customer's contract, and a contract taken over from the
duplicate covers the kept customer's cases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update
from sqlmodel import SQLModel

from ..access import managed_customer
from ..db.case_models import Case
from ..db.models import AuditRecord, Customer
from ..errors import StateConflict
from ..events import CustomersMerged
from .case_levels import relevel_open_cases

if TYPE_CHECKING:
    from .customers import CustomerService



def customer_links():
    """(table, column) pairs that point at a customer, plugin tables included."""
    for table in SQLModel.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == "customer":
                yield table, fk.parent


def merge_customers(service: CustomerService, keep_id: int, other_id: int, by: int):
    """Fields declared ``mergeable`` (``dealercrm.fields``) the kept record lacks are taken
    from the duplicate; both files must be the acting dealer's, merged by a manager."""
    if keep_id == other_id:
        raise StateConflict("duplicate_id", other_id, "is the customer kept: a customer cannot be merged into itself; "
                              "name the duplicate to merge")
    with service.uow(by, "customers.merge") as uow:
        keep = managed_customer(uow, keep_id, "merge into")
        other = managed_customer(uow, other_id, "merge away")
        for c in (keep, other):
            if c.merged_into_id is not None:
                raise StateConflict("customer", c.id, f"was already merged into customer {c.merged_into_id}")
            if c.erased_at is not None:
                raise StateConflict("customer", c.id, "was erased and cannot take part in a merge")
        fillable = service.fields.where(mergeable=True)
        taken = {f.name: f.read(other) for f in fillable}
        other.email = other.phone = None
        other.merged_into_id, other.updated_at = keep_id, uow.now
        uow.flush()
        custom = dict(keep.custom or {})
        for f in fillable:
            value = taken[f.name]
            if f.read(keep) is None and value is not None:
                if f.custom:
                    custom[f.name] = value
                else:
                    setattr(keep, f.name, value)
        if custom != (keep.custom or {}):
            keep.custom = custom
        if other.last_touch_at and (keep.last_touch_at is None or other.last_touch_at > keep.last_touch_at):
            keep.last_touch_at = other.last_touch_at
        keep.updated_at = uow.now
        moved = []
        for table, column in customer_links():
            ids = list(uow.session.scalars(select(table.c.id).where(column == other_id)))
            if not ids:
                continue
            uow.session.execute(update(table).where(column == other_id).values({column.name: keep_id}))
            moved.append((table.name, len(ids)))
            uow.session.execute(insert(AuditRecord), [dict(
                at=uow.now, actor_id=uow.actor_id, operation="customers.merge", action="update",
                entity=table.name, entity_id=None, customer_id=keep_id,
                changes={column.name: [other_id, keep_id], "ids": ids}, personal_changes=None)])
        moved += _move_rule_firings(uow, keep_id, other_id)
        if taken.get("service_contract") is not None or any(name == Case.__tablename__ for name, _ in moved):
            # the duplicate's open cases now run for the kept customer, and a contract taken
            # from the duplicate covers the kept customer's cases: their level is decided again
            uow.flush()
            relevel_open_cases(service.crm.cases, uow, customer_id=keep_id, operation="customers.merge")
        uow.raise_event(CustomersMerged, kept_id=keep_id, merged_id=other_id, moved=tuple(moved))
        uow.commit()
        return service.record(uow, keep)


def _move_rule_firings(uow, keep_id: int, other_id: int) -> list[tuple[str, int]]:
    """Situations a rule already handled for the duplicate are handled for the kept
    customer too; where both had the same one, the kept customer's firing stays."""
    from ..db.rule_models import RuleFiring

    firing = RuleFiring.__table__
    theirs = uow.connection.execute(select(firing.c.id, firing.c.rule, firing.c.situation).where(
        firing.c.subject_kind == "customer", firing.c.subject_id == other_id)).all()
    mine = {(rule, situation) for rule, situation in uow.connection.execute(
        select(firing.c.rule, firing.c.situation).where(firing.c.subject_kind == "customer",
                                                        firing.c.subject_id == keep_id))}
    movable = [row.id for row in theirs if (row.rule, row.situation) not in mine]
    if movable:
        uow.connection.execute(update(firing).where(firing.c.id.in_(movable)).values(subject_id=keep_id))
    return [("rule_firing.subject_id", len(movable))] if movable else []
