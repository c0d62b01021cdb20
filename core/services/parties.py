"""Parties (dealer, manufacturer, technician) and the actors who act for them."""

from __future__ import annotations

from sqlalchemy import select

from .. import validation
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
    def add(self, kind: str, name: str, region: str = "DE", by: int | None = None) -> Party:
        validation.choice("party kind", kind, PARTY_KINDS)
        name = validation.required("party name", name)
        region = checked_region(region)
        with self.uow(by, "parties.add") as uow:
            if uow.session.scalar(select(Party.id).where(Party.name == name)) is not None:
                raise ValidationError("party name", name, "already exists")
            party = Party(kind=kind, name=name, region=region, created_at=uow.now)
            uow.session.add(party)
            uow.commit()
            return party

    def add_actor(self, party_id: int, name: str, role: str, email: str | None = None,
                  by: int | None = None) -> Actor:
        name = validation.required("actor name", name)
        role = validation.required("actor role", role)
        with self.uow(by, "parties.add_actor") as uow:
            uow.get(Party, party_id, "party")
            actor = Actor(party_id=party_id, name=name, role=role, email=validation.email(email),
                          created_at=uow.now)
            uow.session.add(actor)
            uow.commit()
            return actor

    def set_actor_active(self, actor_id: int, active: bool, by: int | None = None) -> Actor:
        """An employee who left is deactivated, never deleted: the history keeps naming him,
        while from the next operation on he may no longer act (cases, API keys)."""
        with self.uow(by, "parties.set_actor_active") as uow:
            actor = uow.get(Actor, actor_id, "actor")
            if actor.is_system:
                raise ValidationError("actor_id", actor_id, "is dealercrm's own system actor, which is always active")
            actor.active = bool(active)
            uow.commit()
            return actor

    def get(self, party_id: int) -> Party:
        with self.read() as uow:
            return uow.get(Party, party_id, "party")

    def actor(self, actor_id: int) -> Actor:
        with self.read() as uow:
            return uow.get(Actor, actor_id, "actor")

    def by_name(self, name: str) -> Party:
        with self.read() as uow:
            party = uow.session.scalar(select(Party).where(Party.name == name))
            if party is None:
                raise NotFound("party", name)
            return party

    def list(self, kind: str | None = None) -> list[Party]:
        with self.read() as uow:
            query = select(Party).order_by(Party.id)
            if kind:
                query = query.where(Party.kind == kind)
            return list(uow.session.scalars(query))

    def actors(self, party_id: int | None = None) -> list[Actor]:
        with self.read() as uow:
            query = select(Actor).order_by(Actor.id)
            if party_id is not None:
                query = query.where(Actor.party_id == party_id)
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
