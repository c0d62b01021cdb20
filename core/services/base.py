"""What every service shares: its application and a way to open a unit of work."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from ..db.models import Actor, Customer
from ..errors import NotFound, ValidationError
from ..uow import UnitOfWork

if TYPE_CHECKING:
    from ..app import CRM


class Service:
    def __init__(self, crm: CRM):
        self.crm = crm

    def uow(self, by: int | None, operation: str) -> UnitOfWork:
        """A writing unit of work; an unknown actor is refused before anything happens."""
        uow = self.crm.uow(by, operation)
        if by is not None and uow.connection.execute(select(Actor.id).where(Actor.id == by)).first() is None:
            uow.__exit__(None, None, None)  # roll back and release the connection (and SQLite's write lock)
            raise NotFound("actor", by)
        return uow

    def read(self) -> UnitOfWork:
        return self.crm.read()


def live_customer(uow: UnitOfWork, customer_id: int) -> Customer:
    """The customer a new record may be attached to: not a merged tombstone, whose
    records would vanish from every view (they belong to the customer it was merged into)."""
    customer = uow.get(Customer, customer_id, "customer")
    if customer.merged_into_id is not None:
        raise ValidationError("customer", customer_id,
                              f"was merged into customer {customer.merged_into_id}; use that one")
    return customer
