"""Who of ours knows whom of theirs: the relationship map of a customer, and single threads.

A company customer is kept by relationships at every level (``dealercrm.relationships``):
a key account that hangs on one salesman and one buyer is lost when either of them
leaves. The map is made from the personal touches on the timeline — interactions that
are ``personal`` (a call, a visit, a personal letter; no mass mailing, nothing dealercrm
recorded by itself) by one of the owning dealer's people, naming the contact person they
were with (``Interaction.contact_person_id``) or the company as a whole.

* ``relationship_map`` — for one customer: our people (actor, role) against their
  contact persons (function), each pair with its last personal touch, the touches in the
  last 12 months and the channel of the last one; per level whether it is kept, lapsed or
  never met; and whether the account is single-threaded now.
* ``thread_stats`` — the same question for many customers at once, as one set-based
  query: per customer, how many of our people and how many of their functions the
  personal touches of the last ``window_days`` involve. The report's "single-threaded
  accounts" and the single-thread rule plugin read it.

Touches by people of another party (a file moved from another dealer) are not ours and
do not show; a message a contact person sent in names no one of ours and is on the
timeline, not on the map.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import attrs
from sqlalchemy import String, and_, case, cast, func, literal, or_, select, true

from ..clock import UTC
from ..db.models import Actor, Asset, ContactPerson, Customer, Interaction
from ..relationships import Level

#: the map counts the touches of the last 12 months per pair
YEAR = timedelta(days=365)


@attrs.frozen
class OurPerson:
    actor_id: int
    name: str
    role: str
    active: bool
    account_owner: bool = False


@attrs.frozen
class TheirPerson:
    """A contact person, minimised to what the map needs: no e-mail, no phone."""

    contact_id: int
    name: str
    function: str


@attrs.frozen
class Thread:
    """One of ours with one of theirs (``contact_id`` None: the company, nobody named)."""

    actor_id: int
    contact_id: int | None
    last_touch_at: datetime
    touches_12_months: int
    touches_in_window: int
    channel: str  # of the last touch
    levels: tuple[str, ...] = ()


@attrs.frozen
class LevelState:
    """One level of the relationship: ``kept`` (a touch between its two sides within the
    window), ``lapsed`` (they met, not within the window), ``never met``, ``nobody of ours``
    (they have someone there, we have nobody with such a role), ``nobody of theirs`` (no
    contact person of such a function on file) or ``neither``."""

    level: str
    state: str
    ours: tuple[int, ...]  # our active people of this level (actor ids)
    theirs: tuple[int, ...]  # their contact persons of this level
    last_touch_at: datetime | None = None
    #: the pairs (actor id, contact id or None) whose personal touches count for this level
    met: tuple[tuple[int, int | None], ...] = ()


@attrs.frozen
class RelationshipMap:
    customer_id: int
    kind: str
    account_owner_id: int | None
    window_days: int
    people: tuple[OurPerson, ...]
    contacts: tuple[TheirPerson, ...]
    threads: tuple[Thread, ...]
    levels: tuple[LevelState, ...]
    #: within the window: which of our people, and which of their functions, had a personal touch
    our_people_in_window: tuple[int, ...]
    their_functions_in_window: tuple[str, ...]

    @property
    def single_threaded(self) -> str | None:
        """``"ours"`` (one of our people), ``"theirs"`` (one of their functions), ``"both"``,
        or None (more on both sides, or no personal touch within the window at all)."""
        ours, theirs = len(self.our_people_in_window) == 1, len(self.their_functions_in_window) == 1
        return "both" if ours and theirs else "ours" if ours else "theirs" if theirs else None

    def person(self, actor_id: int) -> OurPerson | None:
        return next((p for p in self.people if p.actor_id == actor_id), None)

    def contact(self, contact_id: int | None) -> TheirPerson | None:
        return next((c for c in self.contacts if c.contact_id == contact_id), None)

    @property
    def gaps(self) -> tuple[LevelState, ...]:
        """The levels where both sides have someone and nobody met within the window."""
        return tuple(level for level in self.levels if level.state in ("never met", "lapsed"))

    def describe(self, level: LevelState) -> str:
        """One line for a level in plain English (the CLI, the report): who has (not) met whom."""
        ours = _few(self.person_name(i) for i in level.ours)
        theirs = _few(f"{c.name} ({c.function})" for c in (self.contact(i) for i in level.theirs) if c)
        pairs = _few(f"{self.person_name(a)} ↔ {self.contact_name(c)}" for a, c in level.met)
        if level.state == "kept":
            return f"{level.level}: {pairs}, last touch {level.last_touch_at:%Y-%m-%d}"
        if level.state == "lapsed":
            return f"{level.level}: lapsed — {pairs} last met on {level.last_touch_at:%Y-%m-%d}"
        if level.state == "never met":
            return f"{level.level}: our {ours} has never met their {theirs}"
        if level.state == "nobody of ours":
            contacts = {c.contact_id for c in self.contacts}
            return (f"{level.level}: nobody of ours" if contacts and set(level.theirs) == contacts and len(contacts) > 1
                    else f"{level.level}: nobody of ours for their {theirs}")
        if level.state == "nobody of theirs":
            return f"{level.level}: no contact person of theirs on file for our {ours}"
        return f"{level.level}: nobody on either side"

    def person_name(self, actor_id: int) -> str:
        found = self.person(actor_id)
        return found.name if found else f"actor {actor_id}"

    def contact_name(self, contact_id: int | None) -> str:
        found = self.contact(contact_id)
        return f"{found.name} ({found.function})" if found else "the company"


def _few(names: Iterable[str], most: int = 3) -> str:
    """At most ``most`` names, and how many more."""
    names = list(names)
    shown = ", ".join(names[:most]) or "nobody"
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _people(s, ids: Iterable[int], owner_id: int | None) -> dict[int, OurPerson]:
    ids = set(ids) | ({owner_id} if owner_id else set())
    if not ids:
        return {}
    rows = s.execute(select(Actor.id, Actor.name, Actor.role, Actor.active).where(Actor.id.in_(sorted(ids)))
                     .order_by(Actor.id)).all()
    return {r.id: OurPerson(r.id, r.name, r.role, bool(r.active), r.id == owner_id) for r in rows}


def ours_by_level(s, party_id: int, levels: Iterable[Level]) -> dict[str, tuple[int, ...]]:
    """The active people of ``party_id`` with a role of each level."""
    rows = s.execute(select(Actor.id, Actor.role).where(Actor.party_id == party_id, Actor.active.is_(True),
                                                         Actor.is_system.is_(False)).order_by(Actor.id)).all()
    return {level.name: tuple(r.id for r in rows if level.has_role(r.role)) for level in levels}


def personal_touches(customer_column, party_column):
    """The conditions of a touch on the map: personal, by a person (not dealercrm itself) of the
    party that keeps the file, with that customer."""
    return and_(Interaction.customer_id == customer_column, Interaction.personal.is_(True),
                Actor.id == Interaction.actor_id, Actor.is_system.is_(False), Actor.party_id == party_column)


def relationship_map(uow, customer: Customer, levels: tuple[Level, ...], window_days: int) -> RelationshipMap:
    """The map of ``customer`` (a row the caller may see whole), inside ``uow``."""
    s, now = uow.session, uow.now
    year_ago, window_start = now - YEAR, now - timedelta(days=window_days)
    contacts = tuple(TheirPerson(c.id, c.name, c.function) for c in s.scalars(
        select(ContactPerson).where(ContactPerson.customer_id == customer.id).order_by(ContactPerson.id)))
    touches = select(Interaction.actor_id, Interaction.contact_person_id, Interaction.at, Interaction.channel,
                     Interaction.id).join_from(Interaction, Actor, personal_touches(customer.id,
                                                                                     customer.owner_party_id))
    grouped = s.execute(
        select(Interaction.actor_id, Interaction.contact_person_id, func.max(Interaction.at).label("last"),
               func.sum(case((Interaction.at > year_ago, 1), else_=0)).label("year"),
               func.sum(case((Interaction.at > window_start, 1), else_=0)).label("window"))
        .join_from(Interaction, Actor, personal_touches(customer.id, customer.owner_party_id))
        .group_by(Interaction.actor_id, Interaction.contact_person_id)).all()
    ranked = touches.add_columns(func.row_number().over(
        partition_by=(Interaction.actor_id, Interaction.contact_person_id),
        order_by=(Interaction.at.desc(), Interaction.id.desc())).label("n")).subquery()
    last_channel = {(r.actor_id, r.contact_person_id): r.channel
                    for r in s.execute(select(ranked.c.actor_id, ranked.c.contact_person_id, ranked.c.channel)
                                       .where(ranked.c.n == 1))}
    ours = ours_by_level(s, customer.owner_party_id, levels)
    people = _people(s, {r.actor_id for r in grouped} | {i for ids in ours.values() for i in ids},
                     customer.account_owner_id)
    by_id = {c.contact_id: c for c in contacts}

    def levels_of(actor_id: int, contact_id: int | None) -> tuple[str, ...]:
        person, contact = people.get(actor_id), by_id.get(contact_id) if contact_id is not None else None
        role = person.role if person else None
        return tuple(level.name for level in levels
                     if level.counts(role, contact.function if contact else None, named=contact_id is not None))

    threads = tuple(sorted(
        (Thread(r.actor_id, r.contact_person_id, _aware(r.last), int(r.year or 0), int(r.window or 0),
                last_channel.get((r.actor_id, r.contact_person_id), "?"), levels_of(r.actor_id, r.contact_person_id))
         for r in grouped), key=lambda t: (t.last_touch_at, t.actor_id, t.contact_id or 0), reverse=True))
    states = []
    for level in levels:
        theirs = tuple(c.contact_id for c in contacts if level.has_function(c.function))
        met = [t for t in threads if level.name in t.levels]
        last = max((t.last_touch_at for t in met), default=None)
        mine = ours[level.name]
        if any(t.touches_in_window for t in met):
            state = "kept"
        elif met:
            state = "lapsed"
        elif mine and theirs:
            state = "never met"
        elif theirs:
            state = "nobody of ours"
        elif mine:
            state = "nobody of theirs"
        else:
            state = "neither"
        states.append(LevelState(level.name, state, mine, theirs, last,
                                 tuple(dict.fromkeys((t.actor_id, t.contact_id) for t in met))))
    in_window = [t for t in threads if t.touches_in_window]
    return RelationshipMap(
        customer.id, customer.kind, customer.account_owner_id, window_days,
        tuple(people[i] for i in sorted(people, key=lambda i: (not people[i].account_owner, i))), contacts, threads,
        tuple(states), tuple(sorted({t.actor_id for t in in_window})),
        tuple(sorted({by_id[t.contact_id].function.strip().casefold() for t in in_window
                      if t.contact_id in by_id})))


def _aware(value: datetime | str) -> datetime:
    """A timestamp an aggregate handed back: aware UTC, as every timestamp column gives it."""
    if isinstance(value, str):  # an aggregate over SQLite's text, read without the column's type
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- many customers at once ---------------------------------------------------------------


def thread_stats(now: datetime, window_days: int, customers=None):
    """A subquery, one row per customer with a personal touch in the last ``window_days``:
    ``customer_id``, ``people`` (how many of our people), ``one_actor`` (the lowest of their
    ids), ``functions`` (how many of their functions the touches named), ``one_function``,
    ``touches``, ``last_touch``. ``customers``: a WHERE clause over ``Customer`` to limit it.
    Touches naming no contact person count for our side only."""
    function = func.lower(func.trim(ContactPerson.function))
    query = (select(Interaction.customer_id.label("customer_id"),
                    func.count(func.distinct(Interaction.actor_id)).label("people"),
                    func.min(Interaction.actor_id).label("one_actor"),
                    func.count(func.distinct(function)).label("functions"),
                    func.min(function).label("one_function"),
                    func.count().label("touches"), func.max(Interaction.at).label("last_touch"))
             .select_from(Interaction)
             .join(Customer, Customer.id == Interaction.customer_id)
             .join(Actor, personal_touches(Customer.id, Customer.owner_party_id))
             .outerjoin(ContactPerson, ContactPerson.id == Interaction.contact_person_id)
             .where(Interaction.at > now - timedelta(days=window_days), customers if customers is not None else true())
             .group_by(Interaction.customer_id))
    return query.subquery("threads")


def single_thread_situation(stats):
    """The situation of a single-threaded account as SQL text: ``ours=<actor id>`` or ``ours=*``
    (several), ``;theirs=<function>`` or ``;theirs=*``."""
    ours = case((stats.c.people == 1, cast(stats.c.one_actor, String)), else_=literal("*", String))
    theirs = case((stats.c.functions == 1, stats.c.one_function), else_=literal("*", String))
    return literal("ours=", String).concat(ours).concat(literal(";theirs=", String)).concat(theirs)


def single_threaded(stats):
    """A WHERE clause over ``thread_stats``: one of our people, or one of their functions."""
    return or_(stats.c.people == 1, stats.c.functions == 1)


def account_value():
    """(purchases, revenue, first purchase) per customer as a subquery over ``asset``: a free
    replacement (replaces another asset, no price) is no purchase."""
    is_purchase = or_(Asset.replaces_asset_id.is_(None), Asset.price > 0)
    return (select(Asset.customer_id.label("customer_id"), func.count(Asset.id).label("purchases"),
                   func.coalesce(func.sum(Asset.price), 0).label("revenue"),
                   func.min(Asset.purchased_on).label("first_purchase"))
            .where(is_purchase).group_by(Asset.customer_id).subquery("value"))


def single_threaded_accounts(uow, window_days: int, levels: tuple[Level, ...], owned, limit: int = 50
                             ) -> list[dict[str, Any]]:
    """The report's rows: company customers (``owned``: a WHERE clause over ``Customer``) on
    file for at least a window whose personal touches of the window involve one of our people
    or one of their functions, the most valuable first."""
    now = uow.now
    stats = thread_stats(now, window_days, and_(Customer.kind == "company", owned))
    value = account_value()
    rows = uow.connection.execute(
        select(Customer.id, Customer.name, stats.c.people, stats.c.one_actor, stats.c.functions,
               stats.c.one_function, stats.c.touches, stats.c.last_touch,
               func.coalesce(value.c.purchases, 0).label("purchases"),
               func.coalesce(value.c.revenue, 0).label("revenue"))
        .join(stats, stats.c.customer_id == Customer.id)
        .outerjoin(value, value.c.customer_id == Customer.id)
        .where(Customer.erased_at.is_(None), Customer.merged_into_id.is_(None),
               Customer.created_at <= now - timedelta(days=window_days), single_threaded(stats))
        .order_by(func.coalesce(value.c.revenue, 0).desc(), Customer.id).limit(limit)).all()
    out = []
    for row in rows:
        customer = uow.session.get(Customer, row.id)
        m = relationship_map(uow, customer, levels, window_days)
        owner = m.person(customer.account_owner_id) if customer.account_owner_id else None
        one = m.person(row.one_actor) if row.people == 1 else None
        out.append({
            "customer_id": row.id, "name": row.name, "account_owner": owner.name if owner else None,
            "single": m.single_threaded or ("ours" if row.people == 1 else "theirs"),
            "our_people": row.people, "their_functions": row.functions,
            "thread": f"{one.name if one else f'{row.people} of ours'} ({one.role if one else '…'}) ↔ "
                      f"{row.one_function if row.functions == 1 else f'{row.functions} functions'}",
            "touches_in_window": row.touches, "last_touch": _aware(row.last_touch).isoformat(),
            "purchases": row.purchases, "revenue": round(float(row.revenue), 2),
            "missing": "; ".join(m.describe(level) for level in m.gaps) or None,
        })
    return out
