"""Who may see and do what: one rule set for the Python API and the HTTP API.

``crm.as_actor(actor_id)`` (or ``as_actor(crm, actor_id)``) returns the application as
that actor sees it::

    mine = crm.as_actor(actor_id)
    mine.cases.list(); mine.customers.view(7); mine.cases.fire(12, "approve_visit")

The rules, by the kind of party the actor acts for:

* **dealer** — its own customers (``owner_party_id``) with everything the file holds,
  and the cases whose dealer it is. A customer of such a case that another dealer owns
  is seen as a case contact only: name, contact data and the case's asset.
* **manufacturer** — the cases forwarded to it: it is the case's manufacturer *and* the
  case has been with it (a case still at the dealer is none of its business). Of their
  customers only what a warranty decision needs: name, postcode, city and the case's
  asset. No contact data (the dealer stays the customer's single point of contact), no
  interests, consents, timeline or tasks, no other customers.
* **technician** — the cases assigned to it, and of their customers what a visit needs:
  name, phone and address, and the case's asset.
* **the system actor** — everything.

Merging, exporting and erasing a customer are for the owning dealer's ``owner`` and
``manager`` roles (``MANAGING_ROLES``) and the system actor: they cannot be undone, or
hand out the whole file with its audit trail at once — not the service desk's daily
work. The product catalogue is shared: every party reads it, dealers add to it.

Writing to a customer (the outbox) and naming its account owner are the owning dealer's;
moving a customer to another dealer is the system's alone. Survey answers are the
case's dealer's. The parties directory (id, kind, name, region) is open to every party
— the workflow needs the ids — but a party's people are listed to that party only.
Workflow definitions hold no customer data: every party reads them. Importing customers
is registering them in bulk: a dealer imports its own, the system for any dealer.

What an actor may not see does not exist for it: ``NotFound``, the same answer as for an
id never used, so ids cannot be probed. What it may see but not do is ``NotPermitted``.
Firing stays with the case service, which checks the workflow's permissions on top.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import attrs
from sqlalchemy import and_, exists, false, or_, select, true

from .db.case_models import Case, CaseEvent
from .db.models import Actor, Customer, Party
from .errors import DealerCrmError, NotFound, NotPermitted

if TYPE_CHECKING:
    from .app import CRM

#: Customer fields a party sees of a customer it does not own but serves in a case.
CASE_CONTACT_FIELDS = {
    "dealer": ("name", "kind", "email", "phone", "street", "postcode", "city"),
    "technician": ("name", "kind", "phone", "street", "postcode", "city"),
    "manufacturer": ("name", "kind", "postcode", "city"),
}
OWNER_FIELDS = ("name", "kind", "email", "phone", "birthday", "street", "postcode", "city", "external_id",
                "owner_party_id", "account_owner_id", "created_at", "updated_at", "last_touch_at",
                "merged_into_id", "erased_at")
#: Roles of the owning dealer's actors that may merge, export and erase its customers.
MANAGING_ROLES = ("owner", "manager")


class NotAuthenticated(DealerCrmError):
    """No credentials, or credentials that are unknown, malformed or revoked."""


@attrs.frozen
class Principal:
    """The actor a request or a scoped facade acts as, with its party."""

    actor_id: int
    name: str
    party_id: int | None
    kind: str  # dealer | manufacturer | technician | system
    role: str

    def __str__(self) -> str:
        return f"actor {self.actor_id} {self.name} ({self.kind}, party {self.party_id})"


def load_principal(conn, actor_id: int) -> Principal:
    row = conn.execute(select(Actor.id, Actor.name, Actor.party_id, Actor.role, Actor.is_system, Actor.active,
                              Party.kind).join(Party, Party.id == Actor.party_id, isouter=True)
                       .where(Actor.id == actor_id)).first()
    if row is None:
        raise NotFound("actor", actor_id)
    if not row.active:
        raise NotPermitted(f"actor {row.id} {row.name} is inactive")
    return Principal(row.id, row.name, row.party_id, "system" if row.is_system else (row.kind or "?"), row.role)


def as_actor(crm: CRM, actor_id: int) -> Scoped:
    """The application as ``actor_id`` may see and use it."""
    with crm.read() as uow:
        return Scoped(crm, load_principal(uow.connection, actor_id))


# -- the rules as SQL ---------------------------------------------------------------


def case_scope(p: Principal):
    """A WHERE clause over ``Case``: the cases ``p`` may see."""
    if p.kind == "system":
        return true()
    if p.kind == "dealer":
        return Case.dealer_party_id == p.party_id
    if p.kind == "technician":
        return Case.technician_party_id == p.party_id
    if p.kind == "manufacturer":
        held = exists().where(CaseEvent.case_id == Case.id, CaseEvent.owner_party_id == p.party_id)
        return and_(Case.manufacturer_party_id == p.party_id, held)
    return false()


def customer_scope(p: Principal):
    """A WHERE clause over ``Customer``: owned customers, and customers of visible cases."""
    if p.kind == "system":
        return true()
    served = Customer.id.in_(select(Case.customer_id).where(case_scope(p)))
    return or_(Customer.owner_party_id == p.party_id, served) if p.kind == "dealer" else served


def relation(p: Principal, customer: Customer) -> str:
    """``"owner"`` (the whole file) or ``"case"`` (a case contact, minimised)."""
    return "owner" if p.kind == "system" or (p.kind == "dealer" and customer.owner_party_id == p.party_id) else "case"


def customer_fields(p: Principal, customer: Customer) -> dict:
    """The customer's fields ``p`` may see; withheld fields are absent, not None."""
    names = OWNER_FIELDS if relation(p, customer) == "owner" else CASE_CONTACT_FIELDS.get(p.kind, ("name",))
    return {"id": customer.id, **{name: getattr(customer, name) for name in names}}


class Scoped:
    """The services as one actor may use them (see the module's rules)."""

    def __init__(self, crm: CRM, principal: Principal):
        self.crm, self.principal = crm, principal

    @property
    def actor_id(self) -> int:
        return self.principal.actor_id

    def visible_case(self, conn, case_id: int) -> Case:
        case = conn.execute(select(Case.__table__).where(Case.id == case_id, case_scope(self.principal))).first()
        if case is None:
            raise NotFound("case", case_id)
        return case

    def visible_customer(self, uow, customer_id: int) -> Customer:
        customer = uow.session.scalar(select(Customer).where(Customer.id == customer_id,
                                                             customer_scope(self.principal)))
        if customer is None:
            raise NotFound("customer", customer_id)
        return customer

    def owned_customer(self, uow, customer_id: int, doing: str) -> Customer:
        customer = self.visible_customer(uow, customer_id)
        if relation(self.principal, customer) != "owner":
            raise NotPermitted(f"{self.principal} may not {doing} customer {customer_id}: it serves one of the "
                               f"customer's cases, and only the customer's dealer sees and keeps the whole file")
        return customer

    def managed_customer(self, uow, customer_id: int, doing: str) -> Customer:
        """An owned customer, for an actor in one of ``MANAGING_ROLES`` (or the system)."""
        customer = self.owned_customer(uow, customer_id, doing)
        if self.principal.kind != "system" and self.principal.role not in MANAGING_ROLES:
            raise NotPermitted(f"{self.principal} may not {doing} customer {customer_id}: that is for the dealer's "
                               f"{' or '.join(MANAGING_ROLES)}, not role {self.principal.role!r}")
        return customer

    def require(self, *kinds: str, doing: str) -> None:
        if self.principal.kind not in (*kinds, "system"):
            raise NotPermitted(f"{self.principal} may not {doing}: only a {' or '.join(kinds)} may")

    @cached_property
    def customers(self):
        from .services.scoped_customers import ScopedCustomers
        return ScopedCustomers(self)

    @cached_property
    def products(self):
        from .services.scoped_products import ScopedProducts
        return ScopedProducts(self)

    @cached_property
    def parties(self):
        from .services.scoped_parties import ScopedParties
        return ScopedParties(self)

    @cached_property
    def outbox(self):
        from .services.scoped_outbox import ScopedOutbox
        return ScopedOutbox(self)

    @cached_property
    def surveys(self):
        from .services.scoped_surveys import ScopedSurveys
        return ScopedSurveys(self)

    @cached_property
    def cases(self):
        from .services.scoped_cases import ScopedCases
        return ScopedCases(self)

    @cached_property
    def tasks(self):
        from .services.scoped_cases import ScopedTasks
        return ScopedTasks(self)

    @cached_property
    def reports(self):
        from .services.scoped_reports import ScopedReports
        return ScopedReports(self)

    @cached_property
    def imports(self):
        from .services.scoped_imports import ScopedImports
        return ScopedImports(self)

    @cached_property
    def workflows(self):
        from .services.scoped_workflows import ScopedWorkflows
        return ScopedWorkflows(self)

    @cached_property
    def subscriptions(self):
        from .services.subscriptions import ScopedSubscriptions
        return ScopedSubscriptions(self)

    def __repr__(self) -> str:
        return f"<dealercrm.Scoped {self.principal}>"
