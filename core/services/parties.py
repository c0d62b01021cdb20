"""Parties (dealer, manufacturer, technician) and the actors who act for them."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select

from .. import validation
from ..access import manages_people, party_people, require_system
from ..db.models import PARTY_KINDS, Actor, Party
from ..errors import NotFound, StateConflict, ValidationError
from ..workflow.calendar import format_hours, parse_closed, parse_hours
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


def checked_calendar(region: str, time_zone: str, hours: dict | None, closed: list | None) -> dict:
    """The calendar columns, refused now if no calendar can be made of them: a wrong one
    would shift every deadline of the party's cases."""
    try:
        ZoneInfo(str(time_zone))
    except (ValueError, ZoneInfoNotFoundError):
        raise ValidationError("time_zone", time_zone, "is no IANA time zone; e.g. Europe/Berlin, America/New_York") \
            from None
    parsed_hours, parsed_closed = parse_hours(hours) if hours else (), parse_closed(closed)
    calendar_for(region, str(time_zone), parsed_hours, parsed_closed)
    return {"time_zone": str(time_zone), "hours": format_hours(parsed_hours) if parsed_hours else None,
            "closed": sorted(d.isoformat() for d in parsed_closed) or None}


class PartyService(Service):
    """The parties directory and their people.

    Every party sees every party — id, kind, name, region — because the workflow needs
    the ids: a manufacturer approving a visit names the technician company. A party's
    people are its employees, though: only the party itself (and the system) lists them.
    Creating parties is the operator's (``by=crm.system``); adding people to a party and
    deactivating someone who left is also for that party's owner and managers.
    """

    def add(self, kind: str, name: str, region: str = "DE", *, by: int, time_zone: str = "Europe/Berlin",
            hours: dict[str, str] | None = None, closed: list[str] | None = None) -> Party:
        """A party with its calendar: holidays of ``region``, its ``time_zone``, opening ``hours``
        per weekday (``{"mon-fri": "08:00-17:00"}``; default Monday to Friday 08:00-17:00) and
        days it is ``closed`` besides public holidays."""
        validation.choice("party kind", kind, PARTY_KINDS)
        name = validation.required("party name", name)
        region = checked_region(region)
        calendar = checked_calendar(region, time_zone, hours, closed)
        with self.uow(by, "parties.add") as uow:
            require_system(uow.principal, "add parties")
            if uow.session.scalar(select(Party.id).where(Party.name == name)) is not None:
                raise StateConflict("party name", name, "already exists")
            party = Party(kind=kind, name=name, region=region, created_at=uow.now, **calendar)
            uow.session.add(party)
            uow.commit()
            return party

    def set_calendar(self, party_id: int, *, by: int, region: str | None = None, time_zone: str | None = None,
                     hours: dict[str, str] | None = None, closed: list[str] | None = None) -> Party:
        """Change a party's calendar; what is not given stays. Deadlines set from now on count
        in it (those already running keep their due time). The party's owner or manager, or
        the operator, may."""
        with self.uow(by, "parties.set_calendar") as uow:
            party = uow.get(Party, party_id, "party")
            manages_people(uow.principal, party_id, "set the calendar of")
            region = checked_region(region) if region is not None else party.region
            values = checked_calendar(region, time_zone or party.time_zone,
                                      hours if hours is not None else party.hours,
                                      closed if closed is not None else party.closed)
            party.region = region
            for key, value in values.items():
                setattr(party, key, value)
            uow.commit()
        self.crm.cases.forget_parties()
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
            raise StateConflict("owner_party_id", None,
                                  "no dealer party exists yet; run `dealercrm init` or pass owner_party_id")
        return found
