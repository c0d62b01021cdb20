"""What every service shares: its application and a unit of work carried out by an actor."""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ..access import owned_customer
from ..db.models import Customer, Party
from ..errors import StateConflict, ValidationError
from ..uow import UnitOfWork

if TYPE_CHECKING:
    from ..access import Principal
    from ..app import CRM


class Service:
    def __init__(self, crm: CRM):
        self.crm = crm

    def uow(self, by: int | Principal, operation: str) -> UnitOfWork:
        """A writing unit of work of actor ``by``, named ``operation`` in the audit trail.

        Args:
            by: The acting actor's id (or an already loaded ``Principal``).
            operation: The business operation's name, e.g. ``"customers.add"``.

        Returns:
            The unit of work, to use as a context manager: ``uow.commit()`` commits, leaving
            the block without it (or with an exception) rolls everything back.

        Raises:
            NotFound: ``by`` is no actor (raised before anything happens).
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> with crm.customers.uow(lea, "my_plugin.tag") as uow:
            ...     uow.commit()
        """
        return self.crm.uow(by, operation)

    def read(self, by: int | Principal) -> UnitOfWork:
        """A read-only unit of work of actor ``by``: what a read sees is what ``by`` may see.

        Args:
            by: The acting actor's id (or an already loaded ``Principal``).

        Returns:
            The unit of work, to use as a context manager; it never commits.

        Raises:
            NotFound: ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> with crm.customers.read(lea) as uow:
            ...     uow.principal.party_id == dealer
            True
        """
        return self.crm.read(by)


#: the zone of a reader without one: dealercrm's first home
DEFAULT_ZONE = "Europe/Berlin"


def viewer_zone(uow: UnitOfWork) -> ZoneInfo:
    """The time zone the unit of work's actor lives in, for "today" and "overdue" and every
    time shown to it: its party's; the system's is the home dealer's (the operator works
    for it), else ``DEFAULT_ZONE``."""
    party_id = uow.principal.party_id
    if party_id is None:
        try:
            party_id = uow.crm.parties.home_dealer(uow)
        except ValidationError:  # no dealer yet
            return ZoneInfo(DEFAULT_ZONE)
    return ZoneInfo(uow.session.scalar(select(Party.time_zone).where(Party.id == party_id)) or DEFAULT_ZONE)


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
