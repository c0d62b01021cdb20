"""Parties (dealer, manufacturer, technician) and the actors who act for them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import builtins  # a service's own `list` method shadows the type in its class
from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select

from .. import validation
from ..access import managed_person, manages_people, party_people, require_system
from ..db.models import PARTY_KINDS, Actor, Party
from ..errors import NotFound, StateConflict, ValidationError
from ..workflow.calendar import format_hours, parse_closed, parse_hours
from .base import Service, viewer_zone
from .case_rules import calendar_for
from .handover import Handover, hand_over

if TYPE_CHECKING:
    from ..uow import UnitOfWork


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


#: the least working time a party's week may have: its cases' deadlines count in its working
#: time, so a party that opened half an hour a week would give itself months for a two-day step
MIN_WEEKLY_HOURS = 20
#: the most days of one year a party may close besides its region's public holidays
MAX_CLOSED_DAYS = 30


def checked_calendar(region: str, time_zone: str, hours: dict | None, closed: list | None) -> dict:
    """The calendar columns, refused now if no calendar can be made of them: a wrong one
    would shift every deadline of the party's cases. Deadlines count in the party's own
    working time, so a party keeps at least ``MIN_WEEKLY_HOURS`` a week and closes at most
    ``MAX_CLOSED_DAYS`` a year: no party stretches its own deadlines (and the escalation
    that ends its silence) by opening less."""
    try:
        ZoneInfo(str(time_zone))
    except (ValueError, ZoneInfoNotFoundError):
        raise ValidationError("time_zone", time_zone, "is no IANA time zone; e.g. Europe/Berlin, America/New_York") \
            from None
    parsed_hours, parsed_closed = parse_hours(hours) if hours else (), parse_closed(closed)
    weekly = sum((datetime.combine(date.min, closes) - datetime.combine(date.min, opens)).total_seconds()
                 for _, opens, closes in parsed_hours) / 3600
    if parsed_hours and weekly < MIN_WEEKLY_HOURS:
        raise ValidationError("hours", hours, f"open {weekly:g} hours a week; at least {MIN_WEEKLY_HOURS} are needed, "
                              "since the deadlines of the party's cases count in its working time")
    per_year = Counter(d.year for d in parsed_closed)
    crowded = next((year for year, days in sorted(per_year.items()) if days > MAX_CLOSED_DAYS), None)
    if crowded is not None:
        raise ValidationError("closed", closed, f"closes {per_year[crowded]} days in {crowded}; at most "
                              f"{MAX_CLOSED_DAYS} a year besides the region's public holidays")
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
        """A party with its calendar: the operator's (``by=crm.system``).

        The calendar is checked now, because every deadline of the party's cases counts in
        it: a wrong one would fail or shift them later.

        Args:
            kind: ``"dealer"``, ``"manufacturer"`` or ``"technician"``.
            name: Its name, unique.
            region: Where its public holidays come from: a country code (``"DE"``), optionally
                with a subdivision (``"DE-BY"``).
            by: The acting actor's id: the system.
            time_zone: Its IANA time zone, e.g. ``"Europe/Berlin"``.
            hours: Opening hours per weekday, e.g. ``{"mon-fri": "08:00-17:00"}``; default
                Monday to Friday 08:00-17:00.
            closed: Days it is closed besides public holidays (``"YYYY-MM-DD"``).

        Returns:
            The stored party.

        Raises:
            NotPermitted: The actor is not the system, or ``by`` is deactivated.
            NotFound: ``by`` is no actor.
            ValidationError: An unknown kind, an empty or known name, a region without a
                calendar, an unknown time zone, hours or closed days that cannot be read.

        Examples:
            >>> cold = crm.parties.add("technician", "Kälte Service", "de-by", by=crm.system)
            >>> (cold.kind, cold.region, cold.time_zone)
            ('technician', 'DE-BY', 'Europe/Berlin')
        """
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
        """Change a party's calendar; what is not given stays.

        Deadlines set from now on count in it (those already running keep their due time).
        The party's owner or manager, or the operator, may.

        Args:
            party_id: The party.
            by: The acting actor's id: an owner or manager of the party, or the system.
            region: Where its public holidays come from (``"DE"``, ``"DE-BY"``).
            time_zone: Its IANA time zone.
            hours: Opening hours per weekday, e.g. ``{"mon-fri": "09:00-18:00"}``.
            closed: Days it is closed besides public holidays (``"YYYY-MM-DD"``).

        Returns:
            The party with its new calendar.

        Raises:
            NotFound: No such party; or ``by`` is no actor.
            NotPermitted: The actor is no owner or manager of the party (nor the system), or
                ``by`` is deactivated.
            ValidationError: A region without a calendar, an unknown time zone, hours or
                closed days that cannot be read; fewer than ``MIN_WEEKLY_HOURS`` (20) working
                hours a week, or more than ``MAX_CLOSED_DAYS`` (30) closed days in a year.

        Examples:
            >>> crm.parties.set_calendar(dealer, hours={"mon-fri": "09:00-18:00"}, by=lea).hours["mon"]
            '09:00-18:00'
        """
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
        """Add a person to a party with a ``role``: free text, of which ``owner`` and ``manager``
        (``dealercrm.access.MANAGING_ROLES``) manage the party's people and merge, export and
        erase its customers.

        The party's owner or manager, or the operator, may.

        Args:
            party_id: The party the person acts for.
            name: The person's name.
            role: Their role, e.g. ``"manager"``, ``"service"``, ``"sales"``; workflows permit
                triggers by role.
            email: Where the portal's sign-in links go.
            by: The acting actor's id: an owner or manager of the party, or the system.

        Returns:
            The stored actor (active).

        Raises:
            NotFound: No such party; or ``by`` is no actor.
            NotPermitted: The actor is no owner or manager of the party (nor the system), or
                ``by`` is deactivated.
            ValidationError: An empty name or role, an e-mail that is not valid.

        Examples:
            >>> bob = crm.parties.add_actor(dealer, "Bob Kern", "sales", email="Bob@Example.org", by=lea)
            >>> (bob.role, bob.email, bob.active)
            ('sales', 'bob@example.org', True)
        """
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
        while from the next operation on he may no longer act (cases, API keys, sessions).

        Deactivating someone active hands over their accounts in the same operation
        (``dealercrm.services.handover``): every account they owned or held the only
        relationship with gets a hand-over task, for the account owner where that is someone
        else, else for the party, asking it to name who takes over. ``deactivate`` does the
        same naming a successor.

        Args:
            actor_id: The person.
            active: False to deactivate, True to reactivate.
            by: The acting actor's id: an owner or manager of the person's party, or the system.

        Returns:
            The actor.

        Raises:
            NotFound: No such actor; or ``by`` is no actor.
            NotPermitted: The actor is no owner or manager of that party (nor the system), or
                ``by`` is deactivated.
            ValidationError: ``actor_id`` is the system actor, which is always active.

        Examples:
            >>> bob = crm.parties.add_actor(dealer, "Bob Kern", "sales", by=lea)
            >>> crm.parties.set_actor_active(bob.id, False, by=lea).active
            False
        """
        with self.uow(by, "parties.set_actor_active") as uow:
            actor = managed_person(uow, actor_id, "activate or deactivate people of")
            if actor.is_system:
                raise ValidationError("actor_id", actor_id, "is dealercrm's own system actor, which is always active")
            if actor.active and not active:
                hand_over(uow, actor_id, None, "activate or deactivate people of")
            actor.active = bool(active)
            uow.commit()
            return actor

    def deactivate(self, actor_id: int, *, handover_to: int | None = None, party_id: int | None = None,
                   by: int) -> Handover:
        """Someone left: deactivate them and hand over, in one audited operation, every account
        they were the account owner of or held the only relationship with (nobody else of ours
        had a personal touch in the last 12 months). ``handover_to``: the successor, an active
        person of the same party — they become account owner where the leaver was, and get the
        leaver's open tasks and one hand-over task per account (who takes over, whom to
        introduce: the contact persons only the leaver knew). Without one, the hand-over tasks
        ask the party to name who takes over. For the party's owner or manager, or the operator.
        Run again on someone already deactivated to name the successor later: the open
        hand-over tasks are updated, not doubled. ``party_id``: the party the caller says the
        person belongs to (a path ``/parties/{id}/actors/{id}``); another party's is not found.

        Args:
            actor_id: The person who left.
            handover_to: The successor's actor id, or None to let the party name one later.
            party_id: The party the caller says the person belongs to.
            by: The acting actor's id: an owner or manager of the person's party, or the system.

        Returns:
            What was handed over (``Handover``): ``accounts`` (each with its hand-over task and
            whom to introduce), ``tasks_reassigned``, ``successor_id``.

        Raises:
            NotFound: No such actor (or not of ``party_id``), no such successor in the party;
                or ``by`` is no actor.
            NotPermitted: The actor is no owner or manager of that party (nor the system), or
                ``by`` is deactivated.
            ValidationError: The system actor, or the leaver named as their own successor.
            Vetoed: A plugin refused the change.

        Examples:
            >>> bob = crm.parties.add_actor(dealer, "Bob Kern", "sales", by=lea)
            >>> handed = crm.parties.deactivate(bob.id, handover_to=lea, by=lea)
            >>> (handed.successor_id == lea, handed.accounts)
            (True, ())
        """
        with self.uow(by, "parties.deactivate_actor") as uow:
            if party_id is not None and uow.get(Actor, actor_id, "actor").party_id != party_id:
                raise NotFound("actor", actor_id)
            result = hand_over(uow, actor_id, handover_to, "deactivate people of")
            uow.commit()
            return result

    def get(self, party_id: int, *, by: int) -> Party:
        """The party ``party_id``: every actor may read every party's id, kind, name and region.

        The workflow needs the ids (a manufacturer approving a visit names the technician).

        Args:
            party_id: The party.
            by: The acting actor's id.

        Returns:
            The party.

        Raises:
            NotFound: No such party; or ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> crm.parties.get(dealer, by=lea).name
            'Autohaus Berg'
        """
        with self.read(by) as uow:
            return uow.get(Party, party_id, "party")

    def actor(self, actor_id: int, *, by: int) -> Actor:
        """A person of the actor's own party, or the actor itself (the system: anyone).

        Args:
            actor_id: The person.
            by: The acting actor's id.

        Returns:
            The actor.

        Raises:
            NotFound: No such actor, or another party's person (the same answer); or ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> crm.parties.actor(lea, by=lea).role
            'manager'
        """
        with self.read(by) as uow:
            actor = uow.session.get(Actor, actor_id)
            p = uow.principal
            if actor is None or not (p.is_system or actor.id == p.actor_id or
                                     (actor.party_id is not None and actor.party_id == p.party_id)):
                raise NotFound("actor", actor_id)
            return actor

    def by_name(self, name: str, *, by: int) -> Party:
        """The party called exactly ``name``: how the CLI and imports name parties.

        Args:
            name: The party's name, exactly.
            by: The acting actor's id.

        Returns:
            The party.

        Raises:
            NotFound: No party of that name; or ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> crm.parties.by_name("Autohaus Berg", by=lea).kind
            'dealer'
        """
        with self.read(by) as uow:
            party = uow.session.scalar(select(Party).where(Party.name == name))
            if party is None:
                raise NotFound("party", name)
            return party

    def list(self, kind: str | None = None, *, by: int, search: str | None = None, limit: int | None = None,
             offset: int = 0) -> list[Party]:
        """The parties directory, by id: open to every actor.

        Args:
            kind: Only parties of this kind (``"dealer"``, ``"manufacturer"``, ``"technician"``).
            by: The acting actor's id.
            search: Part of the name, in any case.
            limit: At most this many (None: all).
            offset: Skip this many first (paging).

        Returns:
            The parties.

        Raises:
            NotFound: ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> [p.name for p in crm.parties.list("dealer", search="berg", by=lea)]
            ['Autohaus Berg']
        """
        with self.read(by) as uow:
            query = select(Party).order_by(Party.id).limit(limit).offset(offset)
            if kind:
                query = query.where(Party.kind == kind)
            if search:
                query = query.where(func.lower(Party.name).like(f"%{search.lower()}%"))
            return list(uow.session.scalars(query))

    def actors(self, party_id: int | None = None, *, by: int, active: bool | None = None, limit: int | None = None,
               offset: int = 0) -> builtins.list[Actor]:
        """The people of the actor's own party, e.g. to name a customer's account owner.

        A party's employees are its own business: another party's are not listed to it.

        Args:
            party_id: The party (the actor's own); None: every party's people, for the system only.
            by: The acting actor's id.
            active: Only active (True) or inactive (False) people; None: both.
            limit: At most this many (None: all).
            offset: Skip this many first (paging).

        Returns:
            The actors, by id.

        Raises:
            NotFound: No such party; or ``by`` is no actor.
            NotPermitted: Another party's people, or everyone's for an actor that is not the
                system; or ``by`` is deactivated.

        Examples:
            >>> [a.name for a in crm.parties.actors(dealer, active=True, by=lea)]
            ['Lea Wolf']
        """
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

    def zone(self, *, by: int) -> ZoneInfo:
        """The time zone ``by`` lives in, for "today" and every time shown to it: its party's;
        the system's is the home dealer's (``dealercrm.services.base.viewer_zone``).

        Args:
            by: The acting actor's id.

        Returns:
            The zone (``zoneinfo.ZoneInfo``).

        Raises:
            NotFound: ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> str(crm.parties.zone(by=lea))
            'Europe/Berlin'
        """
        with self.read(by) as uow:
            return viewer_zone(uow)

    def home_dealer(self, uow: UnitOfWork) -> int:
        """The party that owns customers added without one: the home dealer.

        The dealer named ``home_dealer`` in the settings, else the first dealer: a single
        dealer's installation names no owner anywhere.

        Args:
            uow: The open unit of work to read in.

        Returns:
            The home dealer's party id.

        Raises:
            ValidationError: No dealer exists yet (``dealercrm init`` makes one).

        Examples:
            >>> with crm.read(crm.system) as uow:
            ...     crm.parties.home_dealer(uow) == dealer
            True
        """
        name = self.crm.settings.home_dealer
        found = uow.session.scalar(select(Party.id).where(Party.name == name, Party.kind == "dealer"))
        found = found or uow.session.scalar(select(Party.id).where(Party.kind == "dealer").order_by(Party.id))
        if found is None:
            raise StateConflict("owner_party_id", None,
                                  "no dealer party exists yet; run `dealercrm init` or pass owner_party_id")
        return found
