"""Parties (dealer, manufacturer, technician) and the actors who act for them."""

from __future__ import annotations

from sqlalchemy import func, select

from .. import validation
from ..access import manages_people, party_people, require_system
from ..db.models import PARTY_KINDS, Actor, Party
from ..errors import NotFound, ValidationError
from .base import Service
from .case_rules import calendar_for


def checked_region(region: str) -> str:
    """A party's region sets its business calendar, and with it every deadline of its
    cases: one no calendar exists for would make each of them fail later, so it is
    refused now ("DE", or with a subdivision "DE-BY"; any case)."""
    normalised = (region or "").strip().upper()
    try:
        if not normalised:
            raise ValidationError("region", region, "is empty")
        calendar_for(normalised)
    except ValidationError as err:
        raise ValidationError("region", region, f"has no business calendar ({err.reason}); use a country code "
                              "like DE or AT, optionally with a subdivision like DE-BY") from None
    return normalised


class PartyService(Service):
    """The parties directory and their people.

    Every party sees every party — id, kind, name, region — because the workflow needs
    the ids: a manufacturer approving a visit names the technician company. A party's
    people are its employees, though: only the party itself (and the system) lists them.
    Creating parties is the operator's (``by=crm.system``); adding people to a party and
    deactivating someone who left is also for that party's owner and managers.
    """

    def add(self, kind: str, name: str, region: str = "DE", *, by: int) -> Party:
        validation.choice("party kind", kind, PARTY_KINDS)
        name = validation.required("party name", name)
        region = checked_region(region)
        with self.uow(by, "parties.add") as uow:
            require_system(uow.principal, "add parties")
            if uow.session.scalar(select(Party.id).where(Party.name == name)) is not None:
                raise ValidationError("party name", name, "already exists")
            party = Party(kind=kind, name=name, region=region, created_at=uow.now)
            uow.session.add(party)
            uow.commit()
            return party

    def add_actor(self, party_id: int, name: str, role: str, email: str | None = None, *, by: int) -> Actor:
        name = validation.required("actor name", name)
        role = validation.required("actor role", role)
        with self.uow(by, "parties.add_actor") as uow:
            uow.get(Party, party_id, "party")
            manages_people(uow.principal, party_id, "add people to")
            actor = Actor(party_id=party_id, name=name, role=role, email=validation.email(email),
                          created_at=uow.now)
            uow.session.add(actor)
            uow.commit()
            return actor

    def set_actor_active(self, actor_id: int, active: bool, *, by: int) -> Actor:
        """An employee who left is deactivated, never deleted: the history keeps naming him,
        while from the next operation on he may no longer act (cases, API keys)."""
        with self.uow(by, "parties.set_actor_active") as uow:
            actor = uow.get(Actor, actor_id, "actor")
            manages_people(uow.principal, actor.party_id, "activate or deactivate people of")
            if actor.is_system:
                raise ValidationError("actor_id", actor_id, "is dealercrm's own system actor, which is always active")
            actor.active = bool(active)
            uow.commit()
            return actor

    def get(self, party_id: int, *, by: int) -> Party:
        with self.read(by) as uow:
            return uow.get(Party, party_id, "party")

    def actor(self, actor_id: int, *, by: int) -> Actor:
        """A person of the actor's own party (the system: anyone)."""
        with self.read(by) as uow:
            actor = uow.session.get(Actor, actor_id)
            p = uow.principal
            if actor is None or not (p.is_system or actor.id == p.actor_id or
                                     (actor.party_id is not None and actor.party_id == p.party_id)):
                raise NotFound("actor", actor_id)
            return actor

    def by_name(self, name: str, *, by: int) -> Party:
        with self.read(by) as uow:
            party = uow.session.scalar(select(Party).where(Party.name == name))
            if party is None:
                raise NotFound("party", name)
            return party

    def list(self, kind: str | None = None, *, by: int, search: str | None = None, limit: int | None = None,
             offset: int = 0) -> list[Party]:
        with self.read(by) as uow:
            query = select(Party).order_by(Party.id).limit(limit).offset(offset)
            if kind:
                query = query.where(Party.kind == kind)
            if search:
                query = query.where(func.lower(Party.name).like(f"%{search.lower()}%"))
            return list(uow.session.scalars(query))

    def actors(self, party_id: int | None = None, *, by: int, active: bool | None = None, limit: int | None = None,
               offset: int = 0) -> list[Actor]:
        """The people of the actor's own party, e.g. to name a customer's account owner."""
        with self.read(by) as uow:
            if party_id is None:
                require_system(uow.principal, "list the people of every party")
            else:
                party = uow.get(Party, party_id, "party")
                party_people(uow, party_id, party.name)
            query = select(Actor).order_by(Actor.id).limit(limit).offset(offset)
            if party_id is not None:
                query = query.where(Actor.party_id == party_id)
            if active is not None:
                query = query.where(Actor.active == active)
            return list(uow.session.scalars(query))

    def home_dealer(self, uow) -> int:
        """The party that owns customers added without one: the configured home dealer."""
        name = self.crm.settings.home_dealer
        found = uow.session.scalar(select(Party.id).where(Party.name == name, Party.kind == "dealer"))
        found = found or uow.session.scalar(select(Party.id).where(Party.kind == "dealer").order_by(Party.id))
        if found is None:
            raise ValidationError("owner_party_id", None,
                                  "no dealer party exists yet; run `dealercrm init` or pass owner_party_id")
        return found
