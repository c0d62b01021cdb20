"""The customer file: registering, changing, reassigning and viewing customers."""

from __future__ import annotations

from datetime import date
from typing import Any

import attrs
from sqlalchemy import func, or_, select

from .. import validation
from ..db.models import (Actor, Asset, Consent, ContactPerson, Customer, Interaction, Interest,
                         Party, Product, Task)
from ..errors import DuplicateCustomer, NotFound, ValidationError
from ..events import AccountOwnerChanged, CustomerChanged, CustomerRegistered
from .base import Service, live_customer

CUSTOMER_KINDS = ("person", "company")
EDITABLE = ("name", "kind", "email", "phone", "birthday", "street", "postcode", "city")
CONTACT_FIELDS = ("name", "function", "email", "phone")


@attrs.frozen
class CustomerView:
    """The 360° view: everything the company knows about one customer."""

    customer: Customer
    owner_party: Party
    account_owner: Actor | None
    contacts: list[ContactPerson]
    assets: list[tuple[Asset, Product]]
    interests: list[Interest]
    consents: dict[tuple[str, str], Consent]
    timeline: list[Interaction]
    open_tasks: list[Task]


def acts_for_owner(actor: Actor, owner_party_id: int) -> Actor:
    """The account owner must act for the owning party: the file belongs to the company.
    Someone who has left (inactive) cannot look after a customer any more."""
    if actor.party_id != owner_party_id:
        raise ValidationError("account_owner_id", actor.id,
                              f"acts for party {actor.party_id}, not the owning party {owner_party_id}")
    if not actor.active:
        raise ValidationError("account_owner_id", actor.id, f"{actor.name} is inactive (has left party "
                              f"{owner_party_id}); name an active person of the party")
    return actor


def owning_dealer(party: Party) -> Party:
    """Only a dealer keeps customer files: the access rules give a file's keeping to its
    dealer, so a file handed to a manufacturer or technician would belong to nobody."""
    if party.kind != "dealer":
        raise ValidationError("owner_party_id", party.id, f"{party.name} is a {party.kind}; customers belong "
                              "to a dealer")
    return party


class CustomerService(Service):
    def clean(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Validate and normalise customer fields; raises naming the first bad one."""
        out = dict(fields)
        if "name" in out:
            out["name"] = validation.required("name", out["name"])
        if "kind" in out:
            validation.choice("kind", out["kind"], CUSTOMER_KINDS)
        if "email" in out:
            out["email"] = validation.email(out["email"])
        if "phone" in out:
            out["phone"] = validation.phone(out["phone"], self.crm.settings.default_region)
        if "birthday" in out:
            out["birthday"] = validation.iso_date("birthday", out["birthday"])
        for field in ("street", "postcode", "city"):
            if field in out:
                out[field] = validation.text(field, out[field])
        return out

    def refuse_duplicates(self, uow, email: str | None, phone: str | None, except_id: int | None = None) -> None:
        for field, value in (("email", email), ("phone", phone)):
            if value is None:
                continue
            column = getattr(Customer, field)
            found = uow.session.scalar(select(Customer.id).where(column == value, Customer.id != (except_id or -1)))
            if found is not None:
                raise DuplicateCustomer(field, value, found)

    def add(self, name: str, *, kind: str = "person", email: str | None = None, phone: str | None = None,
            birthday: date | str | None = None, street: str | None = None, postcode: str | None = None,
            city: str | None = None, external_id: str | None = None, owner_party_id: int | None = None,
            account_owner_id: int | None = None, by: int | None = None) -> Customer:
        data = self.clean(dict(name=name, kind=kind, email=email, phone=phone, birthday=birthday,
                               street=street, postcode=postcode, city=city))
        external_id = validation.text("external_id", external_id)
        with self.uow(by, "customers.add") as uow:
            self.refuse_duplicates(uow, data["email"], data["phone"])
            if external_id and uow.session.scalar(select(Customer.id).where(Customer.external_id == external_id)):
                raise ValidationError("external_id", external_id, "already imported")
            owner = owner_party_id or self.crm.parties.home_dealer(uow)
            owning_dealer(uow.get(Party, owner, "party"))
            if account_owner_id is not None:
                acts_for_owner(uow.get(Actor, account_owner_id, "actor"), owner)
            customer = Customer(**data, external_id=external_id,
                                owner_party_id=owner, account_owner_id=account_owner_id,
                                created_at=uow.now, updated_at=uow.now)
            uow.session.add(customer)
            uow.flush()
            uow.raise_event(CustomerRegistered, customer_id=customer.id)
            uow.commit()
            return customer

    def get(self, customer_id: int) -> Customer:
        with self.read() as uow:
            return uow.get(Customer, customer_id, "customer")

    def find(self, *, email: str | None = None, phone: str | None = None) -> Customer | None:
        with self.read() as uow:
            if email:
                return uow.session.scalar(select(Customer).where(Customer.email == validation.email(email)))
            if phone:
                normalized = validation.phone(phone, self.crm.settings.default_region)
                return uow.session.scalar(select(Customer).where(Customer.phone == normalized))
            return None

    def list(self, search: str | None = None, limit: int = 50, offset: int = 0,
             owner_party_id: int | None = None) -> list[Customer]:
        with self.read() as uow:
            query = select(Customer).where(Customer.merged_into_id.is_(None)).order_by(Customer.id)
            if search:
                like = f"%{search.lower()}%"
                query = query.where(or_(func.lower(Customer.name).like(like), Customer.email.like(like)))
            if owner_party_id is not None:
                query = query.where(Customer.owner_party_id == owner_party_id)
            return list(uow.session.scalars(query.limit(limit).offset(offset)))

    def count(self) -> int:
        with self.read() as uow:
            return uow.session.scalar(select(func.count()).select_from(Customer).where(Customer.merged_into_id.is_(None)))

    def update(self, customer_id: int, by: int | None = None, **fields: Any) -> Customer:
        unknown = set(fields) - set(EDITABLE)
        if unknown:
            raise ValidationError("field", sorted(unknown)[0], f"cannot be changed here; editable: {', '.join(EDITABLE)}")
        data = self.clean(fields)
        with self.uow(by, "customers.update") as uow:
            customer = live_customer(uow, customer_id)
            self.refuse_duplicates(uow, data.get("email"), data.get("phone"), except_id=customer_id)
            changed = tuple(k for k, v in data.items() if getattr(customer, k) != v)
            for key in changed:
                setattr(customer, key, data[key])
            if changed:
                customer.updated_at = uow.now
                uow.raise_event(CustomerChanged, customer_id=customer_id, fields=changed)
            uow.commit()
            return customer

    def reassign(self, customer_id: int, *, owner_party_id: int | None = None,
                 account_owner_id: int | None = None, by: int | None = None) -> Customer:
        """Hand a customer to another party or account owner: the file stays in the company."""
        with self.uow(by, "customers.reassign") as uow:
            customer = live_customer(uow, customer_id)
            before = (customer.owner_party_id, customer.account_owner_id)
            if owner_party_id is not None:
                customer.owner_party_id = owning_dealer(uow.get(Party, owner_party_id, "party")).id
            if account_owner_id is not None:
                customer.account_owner_id = acts_for_owner(uow.get(Actor, account_owner_id, "actor"),
                                                           customer.owner_party_id).id
            elif customer.account_owner_id is not None and customer.owner_party_id != before[0]:
                # the old party's salesman does not keep the file: the new party names its own
                customer.account_owner_id = None
            if (customer.owner_party_id, customer.account_owner_id) == before:
                uow.commit()
                return customer
            customer.updated_at = uow.now
            uow.raise_event(AccountOwnerChanged, customer_id=customer_id, owner_party_id=customer.owner_party_id,
                            account_owner_id=customer.account_owner_id, previous_party_id=before[0],
                            previous_owner_id=before[1])
            uow.commit()
            return customer

    def add_contact(self, customer_id: int, name: str, function: str = "buyer", email: str | None = None,
                    phone: str | None = None, by: int | None = None) -> ContactPerson:
        data = self._clean_contact(dict(name=name, function=function, email=email, phone=phone))
        with self.uow(by, "customers.add_contact") as uow:
            live_customer(uow, customer_id)
            contact = ContactPerson(customer_id=customer_id, **data, created_at=uow.now)
            uow.session.add(contact)
            uow.commit()
            return contact

    def contacts(self, customer_id: int) -> list[ContactPerson]:
        with self.read() as uow:
            uow.get(Customer, customer_id, "customer")
            return list(uow.session.scalars(select(ContactPerson).where(ContactPerson.customer_id == customer_id)
                                            .order_by(ContactPerson.id)))

    def update_contact(self, customer_id: int, contact_id: int, by: int | None = None, **fields: Any) -> ContactPerson:
        """Change a contact person (a buyer's new number, a new function); None clears e-mail or phone."""
        unknown = set(fields) - set(CONTACT_FIELDS)
        if unknown:
            raise ValidationError("field", sorted(unknown)[0],
                                  f"cannot be changed; editable: {', '.join(CONTACT_FIELDS)}")
        data = self._clean_contact(fields)
        with self.uow(by, "customers.update_contact") as uow:
            contact = self._contact_of(uow, customer_id, contact_id)
            for key, value in data.items():
                setattr(contact, key, value)
            uow.commit()
            return contact

    def remove_contact(self, customer_id: int, contact_id: int, by: int | None = None) -> None:
        """Delete a contact person who left (the audit records it like any change, until an erasure)."""
        with self.uow(by, "customers.remove_contact") as uow:
            uow.session.delete(self._contact_of(uow, customer_id, contact_id))
            uow.commit()

    def _clean_contact(self, fields: dict[str, Any]) -> dict[str, Any]:
        out = dict(fields)
        for key in ("name", "function"):
            if key in out:
                out[key] = validation.required(f"contact {key}", out[key])
        if "email" in out:
            out["email"] = validation.email(out["email"])
        if "phone" in out:
            out["phone"] = validation.phone(out["phone"], self.crm.settings.default_region)
        return out

    @staticmethod
    def _contact_of(uow, customer_id: int, contact_id: int) -> ContactPerson:
        """The contact person, if they belong to this (live) customer: ids of another file do not exist here."""
        live_customer(uow, customer_id)
        contact = uow.session.get(ContactPerson, contact_id)
        if contact is None or contact.customer_id != customer_id:
            raise NotFound("contact person", contact_id)
        return contact

    def view(self, customer_id: int, timeline_limit: int = 50) -> CustomerView:
        with self.read() as uow:
            c = uow.get(Customer, customer_id, "customer")
            s = uow.session
            consents: dict[tuple[str, str], Consent] = {}
            for row in s.scalars(select(Consent).where(Consent.customer_id == customer_id).order_by(Consent.at, Consent.id)):
                consents[(row.channel, row.purpose)] = row
            return CustomerView(
                customer=c,
                owner_party=s.get(Party, c.owner_party_id),
                account_owner=s.get(Actor, c.account_owner_id) if c.account_owner_id else None,
                contacts=list(s.scalars(select(ContactPerson).where(ContactPerson.customer_id == customer_id)
                                      .order_by(ContactPerson.id))),
                assets=[tuple(row) for row in s.execute(select(Asset, Product).join(Product)
                                                        .where(Asset.customer_id == customer_id).order_by(Asset.id))],
                interests=list(s.scalars(select(Interest).where(Interest.customer_id == customer_id).order_by(Interest.noted_at))),
                consents=consents,
                timeline=list(s.scalars(select(Interaction).where(Interaction.customer_id == customer_id)
                                        .order_by(Interaction.at.desc(), Interaction.id.desc()).limit(timeline_limit))),
                open_tasks=list(s.scalars(select(Task).where(Task.customer_id == customer_id, Task.status == "open")
                                          .order_by(Task.due_at))),
            )

    def merge(self, keep_id: int, other_id: int, by: int | None = None):
        from .merge import merge_customers
        return merge_customers(self, keep_id, other_id, by)

    def export(self, customer_id: int) -> dict[str, Any]:
        from .privacy import export_customer
        return export_customer(self, customer_id)

    def erase(self, customer_id: int, by: int | None = None) -> None:
        from .privacy import erase_customer
        erase_customer(self, customer_id, by)
