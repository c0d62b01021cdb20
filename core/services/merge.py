"""Merging a duplicate customer into the one that is kept.

Every table with a foreign key to ``customer`` is found from the metadata — including
tables that plugins add — so a new kind of linked record cannot be forgotten. The
merged record stays as a tombstone pointing at the kept one (``merged_into_id``), which
also keeps its external id recognisable to a re-run import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update
from sqlmodel import SQLModel

from ..db.models import AuditRecord, Customer
from ..errors import ValidationError
from ..events import CustomersMerged

if TYPE_CHECKING:
    from .customers import CustomerService

FILLABLE = ("email", "phone", "birthday", "street", "postcode", "city", "account_owner_id")


def customer_links():
    """(table, column) pairs that point at a customer, plugin tables included."""
    for table in SQLModel.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == "customer":
                yield table, fk.parent


def merge_customers(service: CustomerService, keep_id: int, other_id: int, by: int | None):
    if keep_id == other_id:
        raise ValidationError("customer", other_id, "cannot be merged into itself")
    with service.uow(by, "customers.merge") as uow:
        keep = uow.get(Customer, keep_id, "customer")
        other = uow.get(Customer, other_id, "customer")
        for c in (keep, other):
            if c.merged_into_id is not None:
                raise ValidationError("customer", c.id, f"was already merged into customer {c.merged_into_id}")
            if c.erased_at is not None:
                raise ValidationError("customer", c.id, "was erased and cannot take part in a merge")
        taken = {f: getattr(other, f) for f in FILLABLE}
        other.email = other.phone = None
        other.merged_into_id, other.updated_at = keep_id, uow.now
        uow.flush()
        for field, value in taken.items():
            if getattr(keep, field) is None and value is not None:
                setattr(keep, field, value)
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
        uow.raise_event(CustomersMerged, kept_id=keep_id, merged_id=other_id, moved=tuple(moved))
        uow.commit()
        return keep


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
