"""The customer file: registering, changing, reassigning and viewing customers.

One method per business operation, carried out by an actor (``by``) and decided by
the access rules (``dealercrm.access``) in the operation's own transaction: a dealer
keeps its own customers' files, the parties serving a case see the customer
minimised, merging, exporting and erasing are for the dealer's managing roles. The
fields, their validation and who reads which are declared once in ``dealercrm.fields``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import attrs
from sqlalchemy import and_, func, or_, select

from .. import validation
from ..access import (case_scope, customer_fields, customer_scope, own_party, owned_customer, relation, require,
                      visible_customer)
from ..db.case_models import Case
from ..db.models import Actor, Asset, Consent, ContactPerson, Customer, Interaction, Interest, Party, Product, Task
from ..errors import DuplicateCustomer, NotFound, NotPermitted, StateConflict, ValidationError
from ..events import AccountOwnerChanged, CustomerChanged, CustomerRegistered
from ..fields import CONTACT, CUSTOMER_KINDS, CleanContext, FieldSet, Record
from .base import Service, kept_customer

__all__ = ["CUSTOMER_KINDS", "CustomerService", "CustomerView"]


@attrs.frozen
class CustomerView:
    """The 360° view: a customer as one actor sees them; a section that is None is withheld.

    ``visibility`` is ``"full"`` for the owning dealer (and the system), ``"case"`` for a
    party that serves one of the customer's cases and sees only what that needs.
    """

    customer: Record
    visibility: str
    assets: list[tuple[Asset, Product]]
    cases: list[Case]
    owner_party: Party | None = None
    account_owner: Actor | None = None
    contacts: list[ContactPerson] | None = None
    interests: list[Interest] | None = None
    consents: dict[tuple[str, str], Consent] | None = None  # the current answer per channel and purpose
    timeline: list[Interaction] | None = None
    open_tasks: list[Task] | None = None


def acts_for_owner(actor: Actor | None, owner_party_id: int, actor_id: int | None = None) -> Actor:
    """The account owner must be an active person of the owning party: the file belongs
    to the company. One answer for an unknown id, another party's person and someone who
    left, so the people of other parties cannot be probed through it."""
    if actor is None or actor.party_id != owner_party_id or not actor.active:
        raise StateConflict("account_owner_id", actor.id if actor else actor_id,
                              f"is not an active person of the owning party {owner_party_id}")
    return actor


def owning_dealer(party: Party) -> Party:
    """Only a dealer keeps customer files: the access rules give a file's keeping to its
    dealer, so a file handed to a manufacturer or technician would belong to nobody."""
    if party.kind != "dealer":
        raise StateConflict("owner_party_id", party.id, f"{party.name} is a {party.kind}; customers belong "
                              "to a dealer")
    return party


class CustomerService(Service):
    @property
    def fields(self) -> FieldSet:
        """The customer's fields, the plugins' included (``dealercrm.fields``)."""
        return self.crm.fields.customer

    def clean(self, fields: dict[str, Any], *, only_editable: bool = True) -> dict[str, Any]:
        """Validate and normalise customer fields; raises naming the first bad one."""
        context = CleanContext(self.crm.settings.default_region, today=self.crm.clock.now().date())
        return self.fields.clean(fields, context, only_editable=only_editable)

    def record(self, uow, customer: Customer) -> Record:
        """``customer`` as ``uow``'s actor may see it."""
        return Record(customer_fields(uow.principal, customer, self.fields))

    def refuse_duplicates(self, uow, owner_party_id: int, email: str | None, external_id: str | None = None,
                          except_id: int | None = None) -> None:
        """An e-mail or external id already in this dealer's file is refused, naming the
        customer who has it. Other dealers' customers do not count — the same person may
        be a customer of two dealers, and no dealer learns that from here — and a shared
        phone number (a family's landline, a company's switchboard) is no refusal at all:
        ``dealercrm customers duplicates`` lists it as a suspect instead."""
        for field, value in (("email", email), ("external_id", external_id)):
            if value is None:
                continue
            column = getattr(Customer, field)
            found = uow.session.scalar(select(Customer.id).where(
                column == value, Customer.owner_party_id == owner_party_id, Customer.id != (except_id or -1)))
            if found is not None:
                if field == "external_id":
                    raise StateConflict("external_id", value, f"already imported as customer {found}")
                raise DuplicateCustomer(field, value, found)

    def add(self, name: str, *, by: int, kind: str = "person", email: str | None = None, phone: str | None = None,
            birthday: date | str | None = None, street: str | None = None, postcode: str | None = None,
            city: str | None = None, external_id: str | None = None, owner_party_id: int | None = None,
            account_owner_id: int | None = None, **custom: Any) -> Record:
        """Register a customer with the acting dealer (or, for the system, ``owner_party_id``
        or the home dealer). ``custom``: fields that plugins declare, e.g. ``licence_plate``."""
        unknown = sorted(set(custom) - {f.name for f in self.fields.custom})
        if unknown:
            raise ValidationError("field", unknown[0], f"is no customer field; fields: {', '.join(self.fields)}")
        data = self.clean(dict(name=name, kind=kind, email=email, phone=phone, birthday=birthday, street=street,
                               postcode=postcode, city=city, external_id=external_id, **custom),
                          only_editable=False)
        columns, extra = self.fields.split(data)
        with self.uow(by, "customers.add") as uow:
            p = uow.principal
            require(p, "dealer", doing="register customers")
            own_party(p, owner_party_id, "register customers")
            owner = owner_party_id or p.party_id or self.crm.parties.home_dealer(uow)
            owning_dealer(uow.get(Party, owner, "party"))
            self.refuse_duplicates(uow, owner, data["email"], data["external_id"])
            if account_owner_id is not None:
                acts_for_owner(uow.session.get(Actor, account_owner_id), owner, account_owner_id)
            customer = Customer(**columns, custom=extra or None, owner_party_id=owner,
                                account_owner_id=account_owner_id, created_at=uow.now, updated_at=uow.now)
            uow.session.add(customer)
            uow.flush()
            uow.raise_event(CustomerRegistered, customer_id=customer.id)
            uow.commit()
            return self.record(uow, customer)

    def get(self, customer_id: int, *, by: int) -> Record:
        with self.read(by) as uow:
            return self.record(uow, visible_customer(uow, customer_id))

    def find(self, *, by: int, email: str | None = None, phone: str | None = None) -> Record | None:
        """The actor's own customer with this e-mail or phone, if any."""
        with self.read(by) as uow:
            if email:
                where = Customer.email == validation.email(email)
            elif phone:
                where = Customer.phone == validation.phone(phone, self.crm.settings.default_region)
            else:
                return None
            found = uow.session.scalar(select(Customer).where(where, customer_scope(uow.principal)))
            return self.record(uow, found) if found is not None else None

    def list(self, search: str | None = None, limit: int = 50, offset: int = 0, *, by: int,
             owner_party_id: int | None = None, external_id: str | None = None,
             ids: Iterable[int] | None = None) -> list[Record]:
        """Customers the actor may see, by id. ``external_id``: the host system's own id,
        matched among the party's own customers only — another party's ids are not its
        to look up. ``search`` matches part of the name, or of an e-mail the actor reads.
        ``ids``: only these (a page of cases naming its customers in one query); ids the
        actor may not see are left out."""
        with self.read(by) as uow:
            p = uow.principal
            query = (select(Customer).where(Customer.merged_into_id.is_(None), customer_scope(p))
                     .order_by(Customer.id).limit(limit).offset(offset))
            if search:
                like = f"%{search.lower()}%"
                # matching an e-mail on a case contact's file would tell a technician or
                # manufacturer the address it may not read
                by_email = Customer.email.like(like)
                if p.kind != "system" and p.kind not in self.fields["email"].readers:
                    by_email = and_(by_email, Customer.owner_party_id == p.party_id)
                query = query.where(or_(func.lower(Customer.name).like(like), by_email))
            if owner_party_id is not None:
                query = query.where(Customer.owner_party_id == owner_party_id)
            if ids is not None:
                query = query.where(Customer.id.in_(list(ids)))
            if external_id is not None:
                query = query.where(Customer.external_id == external_id)
                if p.kind != "system":
                    query = query.where(Customer.owner_party_id == p.party_id)
            return [self.record(uow, c) for c in uow.session.scalars(query)]

    def count(self, *, by: int) -> int:
        with self.read(by) as uow:
            return uow.session.scalar(select(func.count()).select_from(Customer).where(
                Customer.merged_into_id.is_(None), customer_scope(uow.principal)))

    def update(self, customer_id: int, *, by: int, **fields: Any) -> Record:
        """Change the customer's editable fields (``dealercrm.fields``); the owning dealer's."""
        data = self.clean(fields)
        with self.uow(by, "customers.update") as uow:
            customer = kept_customer(uow, customer_id, "change")
            self.refuse_duplicates(uow, customer.owner_party_id, data.get("email"), except_id=customer_id)
            columns, extra = self.fields.split(data)
            changed = [k for k, v in columns.items() if getattr(customer, k) != v]
            for key in changed:
                setattr(customer, key, columns[key])
            custom = dict(customer.custom or {})
            changed += [k for k, v in extra.items() if custom.get(k) != v]
            if extra and custom != {**custom, **extra}:
                customer.custom = {**custom, **extra}
            if changed:
                customer.updated_at = uow.now
                uow.raise_event(CustomerChanged, customer_id=customer_id, fields=tuple(changed))
            uow.commit()
            return self.record(uow, customer)

    def reassign(self, customer_id: int, account_owner_id: int | None = None, *, by: int,
                 owner_party_id: int | None = None) -> Record:
        """Name the customer's account owner (an active person of the owning dealer), or
        move the customer to another dealer: the file stays in the company.

        Moving hands that dealer the whole file, consents and timeline included, and takes
        it from this one: no dealer may give its customers away, or take another's, on its
        own say — only the system.
        """
        with self.uow(by, "customers.reassign") as uow:
            customer = kept_customer(uow, customer_id, "reassign")
            before = (customer.owner_party_id, customer.account_owner_id)
            if owner_party_id is not None and owner_party_id != customer.owner_party_id:
                if not uow.principal.is_system:
                    raise NotPermitted(f"{uow.principal} may not move customer {customer_id} to party "
                                       f"{owner_party_id}: that hands the whole file to another dealer and takes it "
                                       "from this one; only dealercrm's system actor moves customers between dealers "
                                       "(ask the operator)")
                self.refuse_duplicates(uow, owner_party_id, customer.email, customer.external_id,
                                       except_id=customer_id)  # the new dealer's file takes no second one
                customer.owner_party_id = owning_dealer(uow.get(Party, owner_party_id, "party")).id
            if account_owner_id is not None:
                customer.account_owner_id = acts_for_owner(uow.session.get(Actor, account_owner_id),
                                                           customer.owner_party_id, account_owner_id).id
            elif customer.account_owner_id is not None and customer.owner_party_id != before[0]:
                # the old party's salesman does not keep the file: the new party names its own
                customer.account_owner_id = None
            if (customer.owner_party_id, customer.account_owner_id) != before:
                customer.updated_at = uow.now
                uow.raise_event(AccountOwnerChanged, customer_id=customer_id, owner_party_id=customer.owner_party_id,
                                account_owner_id=customer.account_owner_id, previous_party_id=before[0],
                                previous_owner_id=before[1])
            uow.commit()
            return self.record(uow, customer)

    # -- contact persons (of a company customer, or a household's other members) ---------
    def add_contact(self, customer_id: int, name: str, function: str = "buyer", email: str | None = None,
                    phone: str | None = None, *, by: int) -> ContactPerson:
        data = self._clean_contact(dict(name=name, function=function, email=email, phone=phone), only_editable=False)
        with self.uow(by, "customers.add_contact") as uow:
            kept_customer(uow, customer_id, "add contact persons to")
            contact = ContactPerson(customer_id=customer_id, **data, created_at=uow.now)
            uow.session.add(contact)
            uow.commit()
            return contact

    def contacts(self, customer_id: int, *, by: int) -> list[ContactPerson]:
        with self.read(by) as uow:
            owned_customer(uow, customer_id, "read the contact persons of")
            return list(uow.session.scalars(select(ContactPerson).where(ContactPerson.customer_id == customer_id)
                                            .order_by(ContactPerson.id)))

    def update_contact(self, customer_id: int, contact_id: int, *, by: int, **fields: Any) -> ContactPerson:
        """Change a contact person (a buyer's new number, a new function); None clears e-mail or phone."""
        data = self._clean_contact(fields)
        with self.uow(by, "customers.update_contact") as uow:
            contact = self._contact_of(uow, customer_id, contact_id, "change contact persons of")
            for key, value in data.items():
                setattr(contact, key, value)
            uow.commit()
            return contact

    def remove_contact(self, customer_id: int, contact_id: int, *, by: int) -> None:
        """Delete a contact person who left (the audit records it like any change, until an erasure)."""
        with self.uow(by, "customers.remove_contact") as uow:
            uow.session.delete(self._contact_of(uow, customer_id, contact_id, "remove contact persons of"))
            uow.commit()

    def _clean_contact(self, fields: dict[str, Any], only_editable: bool = True) -> dict[str, Any]:
        return CONTACT.clean(fields, CleanContext(self.crm.settings.default_region), only_editable=only_editable)

    @staticmethod
    def _contact_of(uow, customer_id: int, contact_id: int, doing: str) -> ContactPerson:
        """The contact person, if they belong to this (live, kept) customer: ids of another
        file do not exist here."""
        kept_customer(uow, customer_id, doing)
        contact = uow.session.get(ContactPerson, contact_id)
        if contact is None or contact.customer_id != customer_id:
            raise NotFound("contact person", contact_id)
        return contact

    # -- the 360° view ------------------------------------------------------------------
    def view(self, customer_id: int, timeline_limit: int = 50, *, by: int) -> CustomerView:
        with self.read(by) as uow:
            p, s = uow.principal, uow.session
            c = visible_customer(uow, customer_id)
            cases = list(s.scalars(select(Case).where(Case.customer_id == customer_id, case_scope(p))
                                   .order_by(Case.id)))
            if relation(p, c) != "owner":
                ids = {i for case in cases for i in (case.asset_id, case.replacement_asset_id) if i is not None}
                return CustomerView(self.record(uow, c), "case", _assets(s, customer_id, ids), cases)
            consents: dict[tuple[str, str], Consent] = {}
            for row in s.scalars(select(Consent).where(Consent.customer_id == customer_id)
                                 .order_by(Consent.at, Consent.id)):
                consents[(row.channel, row.purpose)] = row
            return CustomerView(
                self.record(uow, c), "full", _assets(s, customer_id), cases,
                owner_party=s.get(Party, c.owner_party_id),
                account_owner=s.get(Actor, c.account_owner_id) if c.account_owner_id else None,
                contacts=list(s.scalars(select(ContactPerson).where(ContactPerson.customer_id == customer_id)
                                        .order_by(ContactPerson.id))),
                interests=list(s.scalars(select(Interest).where(Interest.customer_id == customer_id)
                                         .order_by(Interest.noted_at, Interest.id))),
                consents=consents,
                timeline=list(s.scalars(select(Interaction).where(Interaction.customer_id == customer_id)
                                        .order_by(Interaction.at.desc(), Interaction.id.desc())
                                        .limit(timeline_limit))),
                open_tasks=list(s.scalars(select(Task).where(Task.customer_id == customer_id, Task.status == "open")
                                          .order_by(Task.due_at, Task.id))))

    # -- the file as a whole: the dealer's managing roles only ----------------------------
    def merge(self, keep_id: int, other_id: int, *, by: int) -> Record:
        """Merge ``other_id`` into ``keep_id``; both must be the actor's party's customers."""
        from .merge import merge_customers
        return merge_customers(self, keep_id, other_id, by)

    def export(self, customer_id: int, *, by: int) -> dict[str, Any]:
        """Everything held about the customer (right of access), audit trail included."""
        from .privacy import export_customer
        return export_customer(self, customer_id, by)

    def erase(self, customer_id: int, *, by: int) -> Record:
        """Erase the customer's personal data (right to erasure); returns what remains of the record."""
        from .privacy import erase_customer
        return erase_customer(self, customer_id, by)


def _assets(s, customer_id: int, only: set[int] | None = None) -> list[tuple[Asset, Product]]:
    query = select(Asset, Product).join(Product).where(Asset.customer_id == customer_id).order_by(Asset.id)
    if only is not None:
        query = query.where(Asset.id.in_(only or {-1}))
    return [tuple(row) for row in s.execute(query)]
