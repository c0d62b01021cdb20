"""The customer file: registering, changing, reassigning and viewing customers.

One method per business operation, carried out by an actor (``by``) and decided by
the access rules (``dealercrm.access``) in the operation's own transaction: a dealer
keeps its own customers' files, the parties serving a case see the customer
minimised, merging, exporting and erasing are for the dealer's managing roles. The
fields, their validation and who reads which are declared once in ``dealercrm.fields``.
"""

from __future__ import annotations

import builtins  # a service's own `list` method shadows the type in its class
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

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
from .case_levels import relevel_open_cases
from .duplicates import Suspect, duplicates as find_duplicates
from .relationships import RelationshipMap, relationship_map
from .timeline import TimelineEntry, timeline

if TYPE_CHECKING:
    from ..uow import UnitOfWork

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
    timeline: list[TimelineEntry] | None = None  # interactions and the cases' hand-offs, newest first
    open_tasks: list[Task] | None = None
    #: who of ours knows whom of theirs (``dealercrm.services.relationships``)
    relationships: RelationshipMap | None = None


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
        """Validate and normalise customer fields as ``dealercrm.fields`` declares them.

        What ``add``, ``update`` and the import do with their input before anything is
        written, for a front end that wants to check a form first.

        Args:
            fields: Field names and values, the plugins' fields included.
            only_editable: Refuse fields that cannot be changed once the customer exists
                (``external_id``); False for a new customer.

        Returns:
            The fields normalised: an e-mail lower-cased, a phone in E.164, a date parsed.

        Raises:
            ValidationError: The first field that is unknown, not editable or not valid, named.

        Examples:
            >>> crm.customers.clean({"email": " Bea@Example.ORG ", "phone": "0171 2345678"})
            {'email': 'bea@example.org', 'phone': '+491712345678'}
        """
        context = CleanContext(self.crm.settings.default_region, today=self.crm.clock.now().date(),
                               contracts=self.crm.cases.contracts())
        return self.fields.clean(fields, context, only_editable=only_editable)

    def record(self, uow: UnitOfWork, customer: Customer) -> Record:
        """``customer`` as ``uow``'s actor may see it: the fields it may not read are absent.

        The one place a customer row becomes what an actor is shown, so a plugin's view
        withholds what the services withhold. Raises nothing: ``uow``'s actor is loaded already.

        Args:
            uow: The open unit of work whose actor looks.
            customer: The customer row.

        Returns:
            The visible fields (``Record``: by key or attribute).

        Examples:
            >>> from dealercrm.db.models import Customer
            >>> with crm.read(lea) as uow:
            ...     crm.customers.record(uow, uow.session.get(Customer, anna)).email
            'anna@example.org'
        """
        return Record(customer_fields(uow.principal, customer, self.fields))

    def refuse_duplicates(self, uow: UnitOfWork, owner_party_id: int, email: str | None, external_id: str | None = None,
                          except_id: int | None = None) -> None:
        """An e-mail or external id already in this dealer's file is refused, naming the
        customer who has it. Other dealers' customers do not count — the same person may
        be a customer of two dealers, and no dealer learns that from here — and a shared
        phone number (a family's landline, a company's switchboard) is no refusal at all:
        ``dealercrm customers duplicates`` lists it as a suspect instead.

        Args:
            uow: The open unit of work of the operation about to write.
            owner_party_id: The dealer whose file counts.
            email: The e-mail to be filed (None: not checked).
            external_id: The host system's id to be filed (None: not checked).
            except_id: The customer being changed, who may keep their own.

        Raises:
            DuplicateCustomer: The e-mail is another customer's of this dealer (``existing_id``).
            ValidationError: The external id was imported already.

        Examples:
            >>> with crm.uow(lea, "my_plugin.check") as uow:
            ...     crm.customers.refuse_duplicates(uow, dealer, "anna@example.org")
            Traceback (most recent call last):
            ...
            dealercrm.errors.DuplicateCustomer: invalid email 'anna@example.org': already used by customer 1
        """
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
            account_owner_id: int | None = None, service_contract: str | None = None, time_zone: str | None = None,
            language: str | None = None, **custom: Any) -> Record:
        """Register a customer with the acting dealer (for the system: ``owner_party_id`` or the home dealer).

        Every field is validated and normalised as ``dealercrm.fields`` declares it (an e-mail
        lower-cased, a phone in E.164 by ``default_region``). Raises ``CustomerRegistered``.

        Args:
            name: The person's or company's name.
            by: The acting actor's id: a dealer's person, or the system.
            kind: ``"person"`` or ``"company"``.
            email: E-mail address, unique among this dealer's customers.
            phone: Phone number (``+49…``, or national in ``default_region``).
            birthday: Date of birth (a date or ``"YYYY-MM-DD"``, 1900 to today).
            street: Street and number.
            postcode: Postal code.
            city: City.
            external_id: The host system's own id (e.g. the DMS number), unique among this dealer's customers.
            owner_party_id: The owning dealer: a dealer names only itself; the system any dealer.
            account_owner_id: The account owner, an active person of the owning dealer.
            service_contract: A service contract (one a service level names, e.g. premium).
            time_zone: The customer's time zone (IANA, e.g. ``America/New_York``): times in
                their notices are shown in it; default the dealer's.
            language: The language of their notices (``de``, ``en``); default the setting's.
            **custom: Fields plugins declare (``dealercrm_register_fields``), e.g. ``licence_plate``.

        Returns:
            The customer as the actor sees it (``Record``: by key or attribute, ``anna.id``).

        Raises:
            NotFound: The owning party does not exist; or ``by`` is no actor.
            NotPermitted: The actor is no dealer's, or names another dealer as owner; or ``by``
                is deactivated.
            DuplicateCustomer: The e-mail is already on this dealer's file (``existing_id`` names whose).
            ValidationError: A field that is not valid, an unknown custom field, a known
                ``external_id``, an owner that is no dealer, an account owner who is no active
                person of it, no home dealer yet (run ``dealercrm init``).
            Vetoed: A plugin refused the change.

        Examples:
            >>> bea = crm.customers.add("Bea Kurz", email="Bea@Example.org", phone="0171 2345678", by=lea)
            >>> (bea.email, bea.phone)
            ('bea@example.org', '+491712345678')
        """
        unknown = sorted(set(custom) - {f.name for f in self.fields.custom})
        if unknown:
            raise ValidationError("field", unknown[0], f"is no customer field; fields: {', '.join(self.fields)}")
        data = self.clean(dict(name=name, kind=kind, email=email, phone=phone, birthday=birthday, street=street,
                               postcode=postcode, city=city, time_zone=time_zone, language=language,
                               external_id=external_id, service_contract=service_contract, **custom),
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
        """The customer as the actor may see them: the owning dealer the whole file, a party
        serving one of their cases only what that needs (withheld fields are absent).

        Args:
            customer_id: The customer.
            by: The acting actor's id.

        Returns:
            The customer's visible fields (``Record``).

        Raises:
            NotFound: No such customer, or one the actor may not see (the same answer, so
                ids cannot be probed); or ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> crm.customers.get(anna, by=lea).email
            'anna@example.org'
        """
        with self.read(by) as uow:
            return self.record(uow, visible_customer(uow, customer_id))

    def find(self, *, by: int, email: str | None = None, phone: str | None = None) -> Record | None:
        """The customer with this e-mail or phone among those the actor may see, if any.

        The e-mail and phone are normalised first, so a number typed as the customer said it
        finds the one filed in E.164. With neither given, nothing is found.

        Args:
            by: The acting actor's id.
            email: The e-mail address, in any case.
            phone: The phone number (``+49…``, or national in ``default_region``).

        Returns:
            The customer as the actor may see them, or None.

        Raises:
            ValidationError: The e-mail or phone is not valid.
            NotFound: ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> crm.customers.find(email="ANNA@example.org", by=lea).name
            'Anna Berg'
            >>> crm.customers.find(phone="0171 2345678", by=lea) is None
            True
        """
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
        """Customers the actor may see, by id (merged duplicates left out).

        Args:
            search: Part of the name, or of an e-mail the actor may read, in any case.
            limit: At most this many.
            offset: Skip this many first (paging).
            by: The acting actor's id.
            owner_party_id: Only this dealer's customers.
            external_id: The host system's own id, matched among the actor's party's own
                customers only — another party's ids are not its to look up.
            ids: Only these (a page of cases naming its customers in one query); ids the
                actor may not see are left out.

        Returns:
            The customers as the actor may see them.

        Raises:
            NotFound: ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> [c.name for c in crm.customers.list(search="berg", by=lea)]
            ['Anna Berg']
        """
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
        """How many customers the actor may see (merged ones not counted): a list's total.

        Args:
            by: The acting actor's id.

        Returns:
            The number of customers.

        Raises:
            NotFound: ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> crm.customers.count(by=lea)
            1
        """
        with self.read(by) as uow:
            return uow.session.scalar(select(func.count()).select_from(Customer).where(
                Customer.merged_into_id.is_(None), customer_scope(uow.principal))) or 0

    def update(self, customer_id: int, *, by: int, **fields: Any) -> Record:
        """Change the customer's editable fields (``dealercrm.fields``): the owning dealer's.

        Only what differs is written; a change raises ``CustomerChanged`` naming the fields.
        A changed ``service_contract`` puts the customer's open cases on the service level it
        calls for, in the same transaction (``dealercrm.services.case_levels``).

        Args:
            customer_id: The customer (a live one, not merged away).
            by: The acting actor's id: a person of the owning dealer, or the system.
            **fields: The fields to change and their new values (None clears one), plugins' included.

        Returns:
            The customer as the actor sees them now.

        Raises:
            NotFound: No such customer or one the actor may not see; or ``by`` is no actor.
            NotPermitted: The actor serves one of the customer's cases but does not keep the
                file, or ``by`` is deactivated.
            DuplicateCustomer: The new e-mail is another customer's of this dealer.
            ValidationError: A field that is unknown, not editable (``external_id``) or not
                valid, or a customer merged into another.
            Vetoed: A plugin refused the change.

        Examples:
            >>> crm.customers.update(anna, city="Ulm", phone="0171 2345678", by=lea).phone
            '+491712345678'
        """
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
            if "service_contract" in changed:
                uow.flush()
                relevel_open_cases(self.crm.cases, uow, customer_id=customer_id, operation="customers.update")
            uow.commit()
            return self.record(uow, customer)

    def reassign(self, customer_id: int, account_owner_id: int | None = None, *, by: int,
                 owner_party_id: int | None = None) -> Record:
        """Name the customer's account owner (an active person of the owning dealer), or
        move the customer to another dealer: the file stays in the company.

        Moving hands that dealer the whole file, consents and timeline included, and takes
        it from this one: no dealer may give its customers away, or take another's, on its
        own say — only the system. A moved customer's account owner of the old dealer is
        dropped unless a new one is named. A change raises ``AccountOwnerChanged``.

        Args:
            customer_id: The customer.
            account_owner_id: The new account owner: an active person of the (new) owning dealer.
            by: The acting actor's id: a person of the owning dealer, or the system.
            owner_party_id: The dealer to move the customer to (the system's alone).

        Returns:
            The customer as the actor sees them now.

        Raises:
            NotFound: No such customer or one the actor may not see, no such party; or ``by``
                is no actor.
            NotPermitted: The actor does not keep the file, or is no system actor but moves
                the customer; or ``by`` is deactivated.
            ValidationError: The account owner is no active person of the owning dealer, the
                new owner is no dealer, the customer was merged away.
            DuplicateCustomer: The new dealer has a customer with this e-mail already.
            Vetoed: A plugin refused the change.

        Examples:
            >>> bob = crm.parties.add_actor(dealer, "Bob Kern", "sales", by=crm.system).id
            >>> crm.customers.reassign(anna, bob, by=lea).account_owner_id == bob
            True
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
        """Add a contact person to a customer's file: a company's buyer, a family member.

        The owning dealer's; the fields are cleaned as ``dealercrm.fields.CONTACT`` declares.

        Args:
            customer_id: The customer (a live one, not merged away).
            name: The contact person's name.
            function: What they are to the customer, e.g. ``"buyer"``, ``"partner"``.
            email: Their e-mail address.
            phone: Their phone number (``+49…``, or national in ``default_region``).
            by: The acting actor's id: a person of the owning dealer, or the system.

        Returns:
            The stored contact person.

        Raises:
            NotFound: No such customer or one the actor may not see; or ``by`` is no actor.
            NotPermitted: The actor does not keep the file, or ``by`` is deactivated.
            ValidationError: An empty name, an e-mail or phone that is not valid, a merged customer.

        Examples:
            >>> max_ = crm.customers.add_contact(anna, "Max Berg", "partner", phone="0171 1111111", by=lea)
            >>> (max_.function, max_.phone)
            ('partner', '+491711111111')
        """
        data = self._clean_contact(dict(name=name, function=function, email=email, phone=phone), only_editable=False)
        with self.uow(by, "customers.add_contact") as uow:
            kept_customer(uow, customer_id, "add contact persons to")
            contact = ContactPerson(customer_id=customer_id, **data, created_at=uow.now)
            uow.session.add(contact)
            uow.commit()
            return contact

    def contacts(self, customer_id: int, *, by: int) -> builtins.list[ContactPerson]:
        """The customer's contact persons (a company's buyer, a family member), in the order added.

        The owning dealer's to read: a party serving a case talks to the customer, not to
        their family.

        Args:
            customer_id: The customer.
            by: The acting actor's id: a person of the owning dealer, or the system.

        Returns:
            The contact persons.

        Raises:
            NotFound: No such customer or one the actor may not see; or ``by`` is no actor.
            NotPermitted: The actor does not keep the file, or ``by`` is deactivated.

        Examples:
            >>> _ = crm.customers.add_contact(anna, "Max Berg", "partner", by=lea)
            >>> [c.name for c in crm.customers.contacts(anna, by=lea)]
            ['Max Berg']
        """
        with self.read(by) as uow:
            owned_customer(uow, customer_id, "read the contact persons of")
            return list(uow.session.scalars(select(ContactPerson).where(ContactPerson.customer_id == customer_id)
                                            .order_by(ContactPerson.id)))

    def update_contact(self, customer_id: int, contact_id: int, *, by: int, **fields: Any) -> ContactPerson:
        """Change a contact person (a buyer's new number, a new function): the owning dealer's.

        Args:
            customer_id: The customer the contact person belongs to.
            contact_id: The contact person.
            by: The acting actor's id: a person of the owning dealer, or the system.
            **fields: ``name``, ``function``, ``email``, ``phone``; None clears e-mail or phone.

        Returns:
            The contact person as stored now.

        Raises:
            NotFound: No such customer or one the actor may not see, no such contact person of
                this customer; or ``by`` is no actor.
            NotPermitted: The actor does not keep the file, or ``by`` is deactivated.
            ValidationError: An unknown field, an empty name, an e-mail or phone that is not valid.

        Examples:
            >>> max_ = crm.customers.add_contact(anna, "Max Berg", "partner", by=lea)
            >>> crm.customers.update_contact(anna, max_.id, email="Max@Example.org", by=lea).email
            'max@example.org'
        """
        data = self._clean_contact(fields)
        with self.uow(by, "customers.update_contact") as uow:
            contact = self._contact_of(uow, customer_id, contact_id, "change contact persons of")
            for key, value in data.items():
                setattr(contact, key, value)
            uow.commit()
            return contact

    def remove_contact(self, customer_id: int, contact_id: int, *, by: int) -> None:
        """Delete a contact person who left: the owning dealer's.

        The audit keeps the deletion like any change, until the customer is erased. The
        interactions and tasks that named them stay, with the customer as a whole: the
        timeline keeps what happened, the relationship map no longer shows a person who left.

        Args:
            customer_id: The customer the contact person belongs to.
            contact_id: The contact person.
            by: The acting actor's id: a person of the owning dealer, or the system.

        Raises:
            NotFound: No such customer or one the actor may not see, no such contact person of
                this customer; or ``by`` is no actor.
            NotPermitted: The actor does not keep the file, or ``by`` is deactivated.

        Examples:
            >>> max_ = crm.customers.add_contact(anna, "Max Berg", "partner", by=lea)
            >>> crm.customers.remove_contact(anna, max_.id, by=lea)
            >>> crm.customers.contacts(anna, by=lea)
            []
        """
        with self.uow(by, "customers.remove_contact") as uow:
            contact = self._contact_of(uow, customer_id, contact_id, "remove contact persons of")
            for model in (Interaction, Task):
                for row in uow.session.scalars(select(model).where(model.contact_person_id == contact_id)):
                    row.contact_person_id = None
            uow.flush()
            uow.session.delete(contact)
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
        """The 360° view of a customer as the actor may see it, read in one transaction.

        The owning dealer (and the system) gets the whole file: the customer, assets, cases,
        owner and account owner, contacts, interests, the current consents, the last
        ``timeline_limit`` interactions and open tasks (``visibility`` ``"full"``). A party
        serving one of the customer's cases gets the customer minimised, that case's assets
        and the cases it serves; the other sections are None (``visibility`` ``"case"``).

        Args:
            customer_id: The customer.
            timeline_limit: At most this many interactions, newest first.
            by: The acting actor's id.

        Returns:
            The view (``CustomerView``).

        Raises:
            NotFound: No such customer or one the actor may not see; or ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> view = crm.customers.view(anna, by=lea)
            >>> (view.visibility, view.customer.name, view.cases)
            ('full', 'Anna Berg', [])
        """
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
                timeline=timeline(uow, customer_id, timeline_limit),
                open_tasks=list(s.scalars(select(Task).where(Task.customer_id == customer_id, Task.status == "open")
                                          .order_by(Task.due_at, Task.id))),
                relationships=self._map(uow, c))

    def relationships(self, customer_id: int, *, by: int) -> RelationshipMap:
        """The relationship map: our people (actor, role) against the customer's contact
        persons (function), each pair with its last personal touch, the touches in the last
        12 months and the channel; per level (``[relationships] levels``) whether it is kept,
        lapsed or never met. The keeping dealer's, like the contact persons it shows.

        Args:
            customer_id: The customer (a company has contact persons; a person has none).
            by: The acting actor's id: a person of the owning dealer, or the system.

        Returns:
            The map (``RelationshipMap``): ``people``, ``contacts``, ``threads`` (each pair's
            last touch, touches in 12 months, channel), ``levels`` and ``single_threaded``.

        Raises:
            NotFound: No such customer or one the actor may not see; or ``by`` is no actor.
            NotPermitted: The actor does not keep the file (a party serving a case of it), or
                ``by`` is deactivated.

        Examples:
            >>> relations = crm.customers.relationships(anna, by=lea)
            >>> (relations.kind, relations.threads)
            ('person', ())
        """
        with self.read(by) as uow:
            return self._map(uow, owned_customer(uow, customer_id, "read the relationships of"))

    def _map(self, uow, customer: Customer) -> RelationshipMap:
        settings = self.crm.settings.relationships
        return relationship_map(uow, customer, settings.levels, settings.window_days)

    # -- the file as a whole: the dealer's managing roles only ----------------------------
    def merge(self, keep_id: int, other_id: int, *, by: int) -> Record:
        """Merge the duplicate ``other_id`` into ``keep_id``: one person, one file.

        Everything that points at the duplicate (cases, assets, consents, timeline, plugins'
        tables) moves to the kept customer; mergeable fields the kept one lacks are taken
        from the duplicate, which stays as a tombstone pointing at the kept one (its external
        id still recognised by a re-run import). The open cases get their service level decided
        again, under the kept customer's contract. It cannot be undone, so it is for the owning
        dealer's ``owner`` or ``manager`` (and the system). Raises ``CustomersMerged``.

        Args:
            keep_id: The customer kept.
            other_id: The duplicate merged away.
            by: The acting actor's id: an owner or manager of the dealer keeping both files, or the system.

        Returns:
            The kept customer as the actor sees them now.

        Raises:
            NotFound: Either customer does not exist or may not be seen; or ``by`` is no actor.
            NotPermitted: The actor does not keep both files or is no owner or manager; or
                ``by`` is deactivated.
            ValidationError: The same customer twice, one merged already or erased.
            Vetoed: A plugin refused the change.

        Examples:
            >>> dup = crm.customers.add("Anna Berg", phone="0171 2222222", by=lea).id
            >>> crm.customers.merge(anna, dup, by=lea).phone
            '+491712222222'
        """
        from .merge import merge_customers
        return merge_customers(self, keep_id, other_id, by)

    def duplicates(self, *, by: int, customer_id: int | None = None, owner_party_id: int | None = None,
                   min_score: int = 0, limit: int = 50, offset: int = 0) -> builtins.list[Suspect]:
        """Customers of one dealer who may be the same person, the likeliest first, with the
        reasons and a score (``dealercrm.services.duplicates``): the same phone, or similar
        names with the same postcode or birthday. A dealer's people see their own file's
        (the system every dealer's, each on its own); ``customer_id``: that customer's only.
        Nothing is refused or merged here: ``merge`` takes a pair from the list.

        Args:
            by: The acting actor's id: a person of the dealer, or the system.
            customer_id: Only this customer's suspects (fast: its blocks only).
            owner_party_id: For the system: one dealer's file (default: every dealer's, each on its own).
            min_score: Leave out pairs scoring less (0-100).
            limit: At most this many pairs.
            offset: Skip this many first (paging).

        Returns:
            ``Suspect`` pairs (``keep_id``, ``duplicate_id``, names, ``reasons``, ``score``).

        Raises:
            NotFound: No such customer or one the actor may not see; or ``by`` is no actor.
            NotPermitted: The actor is no dealer's (nor the system), or ``by`` is deactivated.
            ValidationError: A score outside 0-100, a limit beyond the page size.

        Examples:
            >>> _ = crm.customers.add("Anna Berg", phone="0171 2345678", by=lea)
            >>> _ = crm.customers.add("Berg, Anna", phone="0171 2345678", by=lea)
            >>> [s.reasons[0].startswith("same phone") for s in crm.customers.duplicates(by=lea)][:1]
            [True]
        """
        return find_duplicates(self, by=by, customer_id=customer_id, owner_party_id=owner_party_id,
                          min_score=min_score, limit=limit, offset=offset)

    def export(self, customer_id: int, *, by: int) -> dict[str, Any]:
        """Everything held about the customer (the GDPR's right of access), audit trail included.

        The whole file at once — fields, merged duplicates, every table that points at the
        customer (plugins' too) and each plugin's ``dealercrm_export_customer`` section — so
        it is for the owning dealer's ``owner`` or ``manager`` (and the system).

        Args:
            customer_id: The customer.
            by: The acting actor's id: an owner or manager of the owning dealer, or the system.

        Returns:
            JSON-ready data: ``customer``, ``merged_records``, ``personal_fields``, one list per
            linked table (``consent``, ``interaction`` ...) and ``audit``.

        Raises:
            NotFound: No such customer or one the actor may not see; or ``by`` is no actor.
            NotPermitted: The actor does not keep the file or is no owner or manager; or ``by``
                is deactivated.
            PluginError: A plugin's export section failed.

        Examples:
            >>> export = crm.customers.export(anna, by=lea)
            >>> (export["customer"]["name"], len(export["audit"]) > 0)
            ('Anna Berg', True)
        """
        from .privacy import export_customer
        return export_customer(self, customer_id, by)

    def erase(self, customer_id: int, *, by: int) -> Record:
        """Erase the customer's personal data (the GDPR's right to erasure), in one transaction.

        Personal fields are blanked on the customer and their merged duplicates, and so is
        what identifies them elsewhere: contact persons, timeline summaries, case summaries,
        notes and facts, messages, inbound mail, tasks, survey comments, the personal half of
        the audit trail, plugins' data (``dealercrm_erase_customer``); interests are deleted
        and their case links stop working. The records stay, so counts and reports still add up. It cannot
        be undone: the owning dealer's ``owner`` or ``manager`` (and the system) only.
        Raises ``CustomerErased``.

        Args:
            customer_id: The customer.
            by: The acting actor's id: an owner or manager of the owning dealer, or the system.

        Returns:
            What remains of the customer's record.

        Raises:
            NotFound: No such customer or one the actor may not see; or ``by`` is no actor.
            NotPermitted: The actor does not keep the file or is no owner or manager; or ``by``
                is deactivated.
            ValidationError: The customer was erased already.
            PluginError: A plugin's erasure failed (nothing is erased then).
            Vetoed: A plugin refused the change.

        Examples:
            >>> erased = crm.customers.erase(anna, by=lea)
            >>> (erased.name, erased.email)
            ('erased customer #1', None)
        """
        from .privacy import erase_customer
        return erase_customer(self, customer_id, by)


def _assets(s, customer_id: int, only: set[int] | None = None) -> list[tuple[Asset, Product]]:
    query = select(Asset, Product).join(Product).where(Asset.customer_id == customer_id).order_by(Asset.id)
    if only is not None:
        query = query.where(Asset.id.in_(only or {-1}))
    return [tuple(row) for row in s.execute(query)]
