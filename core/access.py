"""Who may see and do what: the one place dealercrm decides access.

Every service operation runs in a unit of work that carries its actor
(``uow.principal``, loaded in that transaction); the service asks this module, in the
same transaction, before it reads or writes. The plain Python API, ``crm.as_actor``,
HTTP, the CLI and the portal all call those same services, so there is one rule set.

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
* **the system actor** (``crm.system``) — everything. Rules, deadlines, the dispatcher
  and the CLI (unless ``--as``) act as it.

Which customer field each party kind reads is declared with the field
(``dealercrm.fields``), not here. Merging, exporting and erasing a customer are for the
owning dealer's ``owner`` and ``manager`` roles (``MANAGING_ROLES``) and the system
actor: they cannot be undone, or hand out the whole file with its audit trail at once.
The product catalogue is shared: every party reads it, dealers add to it. Parties and
their people are the operator's to create (the system actor).

A replaced unit's return and the credit for it are recorded step by step, each by the
party that knows it (``RETURN_RECORDERS``): the case's manufacturer authorises the
return (the RMA number), confirms the old unit arrived and credits the dealer; the case's
dealer ships the old unit back.

Writing to a customer (the outbox) and naming its account owner are the owning dealer's;
moving a customer to another dealer is the system's alone. Survey answers are the
case's dealer's. The parties directory (id, kind, name, region) is open to every party
— the workflow needs the ids — but a party's people are listed to that party only.

**The customer** is no actor: they hold a signed link to one case (``services/case_links``),
made for the hand-off notices. The link shows that case and nothing else — its state, who
holds it until when, its history in plain terms (no notes, no people's names) — and lets
the customer fire what ``customer_triggers`` allows, as the system on their behalf and
audited as such, and answer the survey once. The case's dealer may revoke it; erasing the
customer revokes it.

What an actor may not see does not exist for it: ``NotFound``, the same answer as for an
id never used, so ids cannot be probed. What it may see but not do is ``NotPermitted``.
Firing is checked by the case service against the workflow's permissions on top.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import and_, bindparam, exists, false, or_, select, true

from .db.case_models import Case, CaseEvent
from .db.models import Actor, ContactPerson, Customer, Party, Task
from .errors import DealerCrmError, NotFound, NotPermitted, ValidationError
from .fields import CUSTOMER, FieldSet
from .workflow.model import Transition, Workflow

if TYPE_CHECKING:
    from .uow import UnitOfWork

#: Roles of the owning dealer's actors that may merge, export and erase its customers.
MANAGING_ROLES = ("owner", "manager")

#: the actor and its party kind: alone (``load_principal``) or beside another row in one
#: statement (``with_actor``), always in this order (``principal_of``)
ACTOR_COLUMNS = (Actor.id, Actor.name, Actor.party_id, Actor.role, Actor.is_system, Actor.active, Party.kind)
_ACTOR = (select(*ACTOR_COLUMNS)
          .join(Party, Party.id == Actor.party_id, isouter=True).where(Actor.id == bindparam("actor_id")))


class NotAuthenticated(DealerCrmError):
    """No credentials, or credentials that are unknown, malformed or revoked."""


@attrs.frozen
class Principal:
    """The actor an operation is carried out by, with its party: read in the operation's
    own transaction, so a deactivated employee or a changed role counts at once."""

    actor_id: int
    name: str
    party_id: int | None
    kind: str  # dealer | manufacturer | technician | system
    role: str

    @property
    def id(self) -> int:
        return self.actor_id

    @property
    def is_system(self) -> bool:
        return self.kind == "system"

    def __str__(self) -> str:
        return f"actor {self.actor_id} {self.name} ({self.kind}, party {self.party_id})"


def check_actor_id(actor_id: object) -> int:
    if actor_id is None:
        raise ValidationError("by", None, "every operation is carried out by an actor: pass by=<actor id>, "
                              "or by=crm.system for dealercrm itself")
    if isinstance(actor_id, bool) or not isinstance(actor_id, int):
        raise ValidationError("by", actor_id, "must be an actor id (int)")
    return actor_id


def load_principal(conn, actor_id: object) -> Principal:
    """The actor ``actor_id``; unknown is ``NotFound``, inactive ``NotPermitted``."""
    check_actor_id(actor_id)
    return principal_of(conn.execute(_ACTOR, {"actor_id": actor_id}).first(), actor_id)


def with_actor(query, table):
    """``query`` (over ``table``) with the actor ``:actor_id`` read beside its row, in the same
    statement (an operation's first read, e.g. the case a transition fires on): the row ends
    with ``ACTOR_COLUMNS``, all None for an unknown actor. Check them with ``principal_of``."""
    actor, party = Actor.__table__.alias("acting"), Party.__table__.alias("acting_party")
    columns = [actor.c[c.key] for c in ACTOR_COLUMNS[:-1]] + [party.c.kind]
    return (query.add_columns(*(c.label(f"acting_{i}") for i, c in enumerate(columns)))
            .outerjoin_from(table, actor, actor.c.id == bindparam("actor_id"))
            .outerjoin(party, party.c.id == actor.c.party_id))


def principal_of(row: Any, actor_id: object) -> Principal:
    """The principal from ``ACTOR_COLUMNS`` values (None: no such actor), refused as it must be."""
    if row is None or row[0] is None:
        raise NotFound("actor", actor_id)
    ident, name, party_id, role, is_system, active, kind = row
    if not active:
        raise NotPermitted(f"actor {actor_id} {name} is inactive and may not act; reactivate the actor "
                           "or act as another")
    return Principal(ident, name, party_id, "system" if is_system else (kind or "?"), role)


# -- the rules as SQL: which rows an actor may see --------------------------------------


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


def task_scope(p: Principal):
    """A WHERE clause over ``Task``: tasks of the actor's party or one of its people."""
    if p.kind == "system":
        return true()
    return or_(Task.assigned_party_id == p.party_id,
               Task.assigned_actor_id.in_(select(Actor.id).where(Actor.party_id == p.party_id)))


def owned_customers(p: Principal):
    """A WHERE clause over ``Customer``: the files ``p``'s party keeps (all, for the system)."""
    return true() if p.kind == "system" else Customer.owner_party_id == p.party_id


# -- the rules as decisions inside a unit of work ---------------------------------------


def relation(p: Principal, customer: Any) -> str:
    """``"owner"`` (the whole file) or ``"case"`` (a case contact, minimised)."""
    owner = customer.owner_party_id
    return "owner" if p.kind == "system" or (p.kind == "dealer" and owner == p.party_id) else "case"


def customer_fields(p: Principal, customer: Customer, fields: FieldSet = CUSTOMER) -> dict[str, Any]:
    """The customer's fields ``p`` may see; withheld fields are absent, not None."""
    names = fields.visible("owner" if relation(p, customer) == "owner" else p.kind)
    return {"id": customer.id, **{name: fields[name].read(customer) for name in names}}


def require(p: Principal, *kinds: str, doing: str) -> None:
    """Only parties of ``kinds`` (and the system) may do this."""
    if p.kind not in (*kinds, "system"):
        raise NotPermitted(f"{p} may not {doing}: only a {' or '.join(kinds)} may")


def require_system(p: Principal, doing: str) -> None:
    if p.kind != "system":
        raise NotPermitted(f"{p} may not {doing}: that is for the operator (dealercrm's system actor)")


def sees_case(uow: UnitOfWork, case: Any) -> bool:
    """``case_scope`` for one loaded case row, without a query unless a manufacturer asks."""
    p = uow.principal
    if p.kind == "system":
        return True
    if p.kind in ("dealer", "technician"):
        return case[f"{p.kind}_party_id"] == p.party_id
    if p.kind == "manufacturer" and case["manufacturer_party_id"] == p.party_id:
        return case["owner_party_id"] == p.party_id or uow.connection.execute(
            select(CaseEvent.id).where(CaseEvent.case_id == case["id"], CaseEvent.owner_party_id == p.party_id)
            .limit(1)).first() is not None
    return False


def visible_case(uow: UnitOfWork, case_id: int):
    """The case's row, if ``uow``'s actor may see it; otherwise it does not exist."""
    row = uow.connection.execute(select(Case.__table__).where(Case.id == case_id,
                                                              case_scope(uow.principal))).first()
    if row is None:
        raise NotFound("case", case_id)
    return row


def visible_customer(uow: UnitOfWork, customer_id: int) -> Customer:
    customer = uow.session.scalar(select(Customer).where(Customer.id == customer_id,
                                                         customer_scope(uow.principal)))
    if customer is None:
        raise NotFound("customer", customer_id)
    return customer


def owned_customer(uow: UnitOfWork, customer_id: int, doing: str) -> Customer:
    """A customer whose whole file ``uow``'s actor keeps (its dealer, or the system)."""
    customer = visible_customer(uow, customer_id)
    if relation(uow.principal, customer) != "owner":
        raise NotPermitted(f"{uow.principal} may not {doing} customer {customer_id}: it serves one of the "
                           f"customer's cases, and only the customer's dealer sees and keeps the whole file")
    return customer


def named_contact(uow: UnitOfWork, customer_id: int, contact_id: int, doing: str) -> ContactPerson:
    """A contact person an interaction or a task may name: one of the customer's own, on a
    file ``uow``'s actor keeps. Contact persons are the keeping dealer's (a party serving a
    case does not see them), and another customer's contact person does not exist here —
    the same answer as an id never used."""
    owned_customer(uow, customer_id, doing)
    contact = uow.session.get(ContactPerson, contact_id)
    if contact is None or contact.customer_id != customer_id:
        raise NotFound("contact person", contact_id)
    return contact


def managed_customer(uow: UnitOfWork, customer_id: int, doing: str) -> Customer:
    """An owned customer, for an actor in one of ``MANAGING_ROLES`` (or the system)."""
    customer = owned_customer(uow, customer_id, doing)
    p = uow.principal
    if p.kind != "system" and p.role not in MANAGING_ROLES:
        raise NotPermitted(f"{p} may not {doing} customer {customer_id}: that is for the dealer's "
                           f"{' or '.join(MANAGING_ROLES)}, not role {p.role!r}")
    return customer


def own_party(p: Principal, party_id: int | None, doing: str) -> None:
    """A dealer acts for its own party only: it cannot file customers for another."""
    if p.kind != "system" and party_id is not None and party_id != p.party_id:
        raise NotPermitted(f"{p} may not {doing} for party {party_id}: a party acts for itself only")


#: Who records each step of a replaced unit's return and of the dealer's credit (besides the
#: system): each end of the shipment records its own end — the dealer ships the old unit,
#: the manufacturer receives it — and the manufacturer, who issues the return authorisation
#: and pays, records the RMA number and the credit.
RETURN_RECORDERS = {"rma_number": "manufacturer", "return_shipped_on": "dealer",
                    "return_received_on": "manufacturer", "credit_amount": "manufacturer",
                    "credit_currency": "manufacturer", "credited_on": "manufacturer"}


def records_return(p: Principal, case: Any, names: Iterable[str]) -> None:
    """``p`` may record these steps of the return or the credit on ``case`` (a row it sees):
    it acts for the case's party of the kind that records each."""
    if p.kind == "system":
        return
    for name in names:
        kind = RETURN_RECORDERS[name]
        if p.kind != kind or case[f"{kind}_party_id"] != p.party_id:
            own = sorted(n for n, k in RETURN_RECORDERS.items() if k == p.kind)
            raise NotPermitted(f"{p} may not record {name} on case {case['id']}: that is for the case's {kind} "
                               f"(party {case[f'{kind}_party_id']}); "
                               + (f"a {p.kind} of the case records {', '.join(own)}" if own else
                                  f"a {p.kind} records no step of the return"))


def case_dealer(p: Principal, case: Any, doing: str) -> None:
    """``p`` acts for the case's dealer (or is the system): the customer's single point of
    contact decides how urgent the customer's case is."""
    if p.kind != "system" and (p.kind != "dealer" or case["dealer_party_id"] != p.party_id):
        raise NotPermitted(f"{p} may not {doing} case {case['id']}: that is for the case's dealer "
                           f"(party {case['dealer_party_id']})")


def visible_task(uow: UnitOfWork, task_id: int) -> Task:
    task = uow.session.scalar(select(Task).where(Task.id == task_id, task_scope(uow.principal)))
    if task is None:
        raise NotFound("task", task_id)
    return task


def manages_people(p: Principal, party_id: int | None, doing: str) -> None:
    """A party's people are managed by its ``MANAGING_ROLES`` (and the operator)."""
    if p.kind != "system" and (party_id != p.party_id or p.role not in MANAGING_ROLES):
        raise NotPermitted(f"{p} may not {doing} party {party_id}: that is for that party's "
                           f"{' or '.join(MANAGING_ROLES)} or the operator")


def managed_person(uow: UnitOfWork, actor_id: int, doing: str) -> Actor:
    """The person ``actor_id``, for their party's ``MANAGING_ROLES`` (and the operator) to manage.

    Another party's person is not found, the same answer as an id never used: a manager
    walking ids must not learn who works where (``party_people``)."""
    p = uow.principal
    actor = uow.get(Actor, actor_id, "actor")
    if p.kind != "system" and actor.party_id != p.party_id:
        raise NotFound("actor", actor_id)
    manages_people(p, actor.party_id, doing)
    return actor


def party_people(uow: UnitOfWork, party_id: int, party_name: str) -> None:
    """A party's people are listed to that party only (and the system)."""
    p = uow.principal
    if p.kind != "system" and party_id != p.party_id:
        raise NotPermitted(f"{p} may not list the people of party {party_id} {party_name}: a party's employees "
                           "are its own business; the directory names the party itself")


def customer_triggers(workflow: Workflow, state: str) -> list[Transition]:
    """What the customer may fire through their link in ``state``: where the case waits on
    the customer (a customer-owned state), the transitions the system may fire on their
    behalf that are no timeout (the clock's, not the customer's) — e.g. "it works" and
    "still broken" while the case awaits their confirmation. Anywhere else: nothing."""
    st = workflow.state(state)
    if st.final or st.owner != "customer":
        return []
    return [t for t in workflow.transitions_from(state) if not t.timeout and "system" in t.allowed]


__all__ = ["MANAGING_ROLES", "NotAuthenticated", "Principal", "RETURN_RECORDERS", "case_dealer", "case_scope",
           "customer_fields", "customer_scope", "customer_triggers", "load_principal", "managed_customer", "named_contact",
           "own_party",
           "owned_customer", "owned_customers", "records_return", "relation", "require", "require_system", "sees_case", "task_scope",
           "visible_case", "visible_customer", "visible_task"]
