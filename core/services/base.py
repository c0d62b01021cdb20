"""What every service shares: its application and a unit of work carried out by an actor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..access import owned_customer
from ..db.models import Customer
from ..errors import StateConflict
from ..uow import UnitOfWork

if TYPE_CHECKING:
    from ..access import Principal
    from ..app import CRM


class Service:
    def __init__(self, crm: CRM):
        self.crm = crm

    def uow(self, by: int | Principal, operation: str) -> UnitOfWork:
        """A writing unit of work; an unknown or inactive actor is refused before anything happens."""
        return self.crm.uow(by, operation)

    def read(self, by: int | Principal) -> UnitOfWork:
        return self.crm.read(by)


def live_customer(uow: UnitOfWork, customer_id: int) -> Customer:
    """The customer a new record may be attached to: not a merged tombstone, whose
    records would vanish from every view (they belong to the customer it was merged into)."""
    customer = uow.get(Customer, customer_id, "customer")
    if customer.merged_into_id is not None:
        raise StateConflict("customer", customer_id,
                              f"was merged into customer {customer.merged_into_id}; use that one")
    return customer


def kept_customer(uow: UnitOfWork, customer_id: int, doing: str) -> Customer:
    """A live customer whose file ``uow``'s actor keeps (its dealer, or the system)."""
    owned_customer(uow, customer_id, doing)
    return live_customer(uow, customer_id)
