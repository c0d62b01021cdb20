"""The customer file as one actor may see and keep it (rules in ``dealercrm.access``).

Reads check visibility and minimise in the same query; writes check that the actor's
party owns the customer, then go through the ordinary services with the actor as
``by``, so validation, audit and events are the same as in the unscoped API. Merging,
exporting and erasing also need one of the dealer's managing roles.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import attrs
from sqlalchemy import and_, func, or_, select

from ..access import CASE_CONTACT_FIELDS, case_scope, customer_fields, customer_scope, relation
from ..db.case_models import Case
from ..db.models import Actor, Asset, Consent, ContactPerson, Customer, Interaction, Interest, Party, Product, Task
from ..errors import DuplicateCustomer, NotPermitted, ValidationError


@attrs.frozen
class ScopedView:
    """A customer as one actor sees them; a section that is None is withheld from it."""

    customer: dict[str, Any]  # only the fields the actor may see
    visibility: str  # "full" (the owning dealer) | "case" (serves one of the customer's cases)
    assets: list[tuple[Asset, Product]]
    cases: list[Case]
    owner_party: Party | None = None
    account_owner: Actor | None = None
    contacts: list[ContactPerson] | None = None
    interests: list[Interest] | None = None
    consents: list[Consent] | None = None  # the current answer per channel and purpose
    timeline: list[Interaction] | None = None
    open_tasks: list[Task] | None = None


class ScopedCustomers:
    def __init__(self, scope):
        self.scope, self.crm, self.p = scope, scope.crm, scope.principal

    # -- reading -------------------------------------------------------------------------
    def list(self, search: str | None = None, limit: int = 50, offset: int = 0, *,
             external_id: str | None = None) -> list[dict[str, Any]]:
        """``external_id``: the host system's own id (after an import), matched among the
        party's own customers only — another party's ids are not its to look up."""
        with self.crm.read() as uow:
            query = (select(Customer).where(Customer.merged_into_id.is_(None), customer_scope(self.p))
                     .order_by(Customer.id).limit(limit).offset(offset))
            if search:
                like = f"%{search.lower()}%"
                # the e-mail is searched only where the actor may see it: matching it on a case
                # contact's file would tell a technician or manufacturer the address it may not read
                by_email = Customer.email.like(like)
                if self.p.kind != "system" and "email" not in CASE_CONTACT_FIELDS.get(self.p.kind, ()):
                    by_email = and_(by_email, Customer.owner_party_id == self.p.party_id)
                query = query.where(or_(func.lower(Customer.name).like(like), by_email))
            if external_id is not None:
                query = query.where(Customer.external_id == external_id)
                if self.p.kind != "system":
                    query = query.where(Customer.owner_party_id == self.p.party_id)
            return [customer_fields(self.p, c) for c in uow.session.scalars(query)]

    def view(self, customer_id: int, timeline_limit: int = 50) -> ScopedView:
        with self.crm.read() as uow:
            c = self.scope.visible_customer(uow, customer_id)
            s = uow.session
            cases = list(s.scalars(select(Case).where(Case.customer_id == customer_id, case_scope(self.p))
                                   .order_by(Case.id)))
            if relation(self.p, c) != "owner":
                ids = {i for case in cases for i in (case.asset_id, case.replacement_asset_id) if i is not None}
                return ScopedView(customer_fields(self.p, c), "case", self._assets(s, customer_id, ids), cases)
            consents: dict[tuple[str, str], Consent] = {}
            for row in s.scalars(select(Consent).where(Consent.customer_id == customer_id)
                                 .order_by(Consent.at, Consent.id)):
                consents[(row.channel, row.purpose)] = row
            return ScopedView(
                customer_fields(self.p, c), "full", self._assets(s, customer_id), cases,
                owner_party=s.get(Party, c.owner_party_id),
                account_owner=s.get(Actor, c.account_owner_id) if c.account_owner_id else None,
                contacts=list(s.scalars(select(ContactPerson).where(ContactPerson.customer_id == customer_id)
                                        .order_by(ContactPerson.id))),
                interests=list(s.scalars(select(Interest).where(Interest.customer_id == customer_id)
                                         .order_by(Interest.noted_at, Interest.id))),
                consents=list(consents.values()),
                timeline=self._timeline(s, customer_id, timeline_limit, 0),
                open_tasks=list(s.scalars(select(Task).where(Task.customer_id == customer_id, Task.status == "open")
                                          .order_by(Task.due_at, Task.id))))

    @staticmethod
    def _assets(s, customer_id: int, only: set[int] | None = None) -> list[tuple[Asset, Product]]:
        query = select(Asset, Product).join(Product).where(Asset.customer_id == customer_id).order_by(Asset.id)
        if only is not None:
            query = query.where(Asset.id.in_(only or {-1}))
        return [tuple(row) for row in s.execute(query)]

    @staticmethod
    def _timeline(s, customer_id: int, limit: int, offset: int) -> list[Interaction]:
        return list(s.scalars(select(Interaction).where(Interaction.customer_id == customer_id)
                              .order_by(Interaction.at.desc(), Interaction.id.desc()).limit(limit).offset(offset)))

    def _owned_read(self, customer_id: int, what: str, read):
        with self.crm.read() as uow:
            self.scope.owned_customer(uow, customer_id, f"read the {what} of")
            return read(uow.session)

    def consents(self, customer_id: int) -> list[Consent]:
        """The whole consent history (append-only), oldest first."""
        return self._owned_read(customer_id, "consents", lambda s: list(s.scalars(
            select(Consent).where(Consent.customer_id == customer_id).order_by(Consent.at, Consent.id))))

    def interests(self, customer_id: int) -> list[Interest]:
        return self._owned_read(customer_id, "interests", lambda s: list(s.scalars(
            select(Interest).where(Interest.customer_id == customer_id).order_by(Interest.noted_at, Interest.id))))

    def timeline(self, customer_id: int, limit: int = 50, offset: int = 0) -> list[Interaction]:
        return self._owned_read(customer_id, "timeline", lambda s: self._timeline(s, customer_id, limit, offset))

    def assets(self, customer_id: int) -> list[tuple[Asset, Product]]:
        return self.view(customer_id, timeline_limit=0).assets

    # -- keeping the file: the owning dealer only ---------------------------------------
    def _owned(self, customer_id: int, doing: str) -> None:
        with self.crm.read() as uow:
            self.scope.owned_customer(uow, customer_id, doing)

    def add(self, name: str, **fields: Any) -> dict[str, Any]:
        self.scope.require("dealer", doing="register customers")
        owner = fields.pop("owner_party_id", None) or self.p.party_id
        if self.p.kind != "system" and owner != self.p.party_id:
            raise NotPermitted(f"{self.p} may not register customers for party {owner}: a dealer's file is its own")
        with self._masked_duplicates():
            customer = self.crm.customers.add(name, owner_party_id=owner, by=self.p.actor_id, **fields)
        return customer_fields(self.p, customer)

    def update(self, customer_id: int, **fields: Any) -> dict[str, Any]:
        self._owned(customer_id, "change")
        with self._masked_duplicates():
            customer = self.crm.customers.update(customer_id, by=self.p.actor_id, **fields)
        return customer_fields(self.p, customer)

    def reassign(self, customer_id: int, account_owner_id: int, *, owner_party_id: int | None = None) -> dict[str, Any]:
        """Name the customer's account owner: an active person of the owning dealer.

        Moving the customer to another dealer (``owner_party_id``) hands that dealer the
        whole file, consents and timeline included, and takes it from this one: no dealer
        may give its customers away, or take another's, on its own say — only the system.
        """
        with self.crm.read() as uow:
            customer = self.scope.owned_customer(uow, customer_id, "reassign")
            owner = owner_party_id or customer.owner_party_id
            if owner != customer.owner_party_id and self.p.kind != "system":
                raise NotPermitted(f"{self.p} may not move customer {customer_id} to party {owner}: that hands "
                                   "the whole file to another dealer and takes it from this one; only dealercrm's "
                                   "system actor moves customers between dealers (ask the operator)")
            # one answer for an unknown id, another party's person and someone who left: the
            # people of other parties cannot be probed through it
            actor = uow.session.get(Actor, account_owner_id)
            if actor is None or actor.party_id != owner or not actor.active:
                raise ValidationError("account_owner_id", account_owner_id,
                                      f"is not an active person of the owning party {owner}")
        changed = self.crm.customers.reassign(customer_id, owner_party_id=owner, account_owner_id=account_owner_id,
                                              by=self.p.actor_id)
        return customer_fields(self.p, changed)

    @contextmanager
    def _masked_duplicates(self):
        """An e-mail or phone of another party's customer is refused without naming that customer."""
        try:
            yield
        except DuplicateCustomer as exc:
            with self.crm.read() as uow:
                visible = uow.session.scalar(select(Customer.id).where(Customer.id == exc.existing_id,
                                                                       customer_scope(self.p)))
            if visible is None:
                raise ValidationError(exc.field, exc.value, "is already used by a customer of another party") from None
            raise

    def set_consent(self, customer_id: int, channel: str, purpose: str, granted: bool, *, source: str) -> Consent:
        self._owned(customer_id, "record consent for")
        record = self.crm.consents.grant if granted else self.crm.consents.revoke
        return record(customer_id, channel, purpose, source=source, by=self.p.actor_id)

    def note_interest(self, customer_id: int, tag: str, note: str | None = None) -> Interest:
        self._owned(customer_id, "note interests of")
        return self.crm.interests.note(customer_id, tag, note=note, by=self.p.actor_id)

    def record_asset(self, customer_id: int, product_id: int, **fields: Any) -> Asset:
        self._owned(customer_id, "record assets of")
        sold_by = fields.get("dealer_party_id")
        if self.p.kind != "system" and sold_by not in (None, self.p.party_id):
            raise NotPermitted(f"{self.p} may not record an asset sold by party {sold_by}: only its own sales")
        return self.crm.assets.record(customer_id, product_id, by=self.p.actor_id, **fields)

    # -- contact persons (of a company customer, or a household's other members) ---------
    def contacts(self, customer_id: int) -> list[ContactPerson]:
        return self._owned_read(customer_id, "contact persons", lambda s: list(s.scalars(
            select(ContactPerson).where(ContactPerson.customer_id == customer_id).order_by(ContactPerson.id))))

    def add_contact(self, customer_id: int, name: str, function: str = "buyer", email: str | None = None,
                    phone: str | None = None) -> ContactPerson:
        self._owned(customer_id, "add contact persons to")
        return self.crm.customers.add_contact(customer_id, name, function, email, phone, by=self.p.actor_id)

    def update_contact(self, customer_id: int, contact_id: int, **fields: Any) -> ContactPerson:
        self._owned(customer_id, "change contact persons of")
        return self.crm.customers.update_contact(customer_id, contact_id, by=self.p.actor_id, **fields)

    def remove_contact(self, customer_id: int, contact_id: int) -> None:
        self._owned(customer_id, "remove contact persons of")
        self.crm.customers.remove_contact(customer_id, contact_id, by=self.p.actor_id)

    # -- the file as a whole: the dealer's managing roles only ----------------------------
    def merge(self, keep_id: int, duplicate_id: int) -> dict[str, Any]:
        """Merge ``duplicate_id`` into ``keep_id``; both must be the actor's party's customers."""
        if keep_id == duplicate_id:
            raise ValidationError("duplicate_id", duplicate_id, "is the customer kept; name the duplicate to merge")
        with self.crm.read() as uow:
            self.scope.managed_customer(uow, keep_id, "merge into")
            self.scope.managed_customer(uow, duplicate_id, "merge away")
        return customer_fields(self.p, self.crm.customers.merge(keep_id, duplicate_id, by=self.p.actor_id))

    def export(self, customer_id: int) -> dict[str, Any]:
        """Everything held about the customer (right of access), audit trail included."""
        with self.crm.read() as uow:
            self.scope.managed_customer(uow, customer_id, "export")
        return self.crm.customers.export(customer_id)

    def erase(self, customer_id: int) -> dict[str, Any]:
        """Erase the customer's personal data (right to erasure); returns what remains of the record."""
        with self.crm.read() as uow:
            self.scope.managed_customer(uow, customer_id, "erase")
        self.crm.customers.erase(customer_id, by=self.p.actor_id)
        return customer_fields(self.p, self.crm.customers.get(customer_id))

    def record_interaction(self, customer_id: int, channel: str, direction: str, summary: str,
                           personal: bool = True) -> Interaction:
        self._owned(customer_id, "record interactions with")
        return self.crm.interactions.record(customer_id, channel, direction, summary, personal=personal,
                                            by=self.p.actor_id)
