"""Single-threaded key accounts: a second thread before one person leaves.

Selling needs relationships at every level of both companies — salesman and buyer,
service man and technician, clerk and dispatcher, management with management (seed 001).
A key account where only our salesman ever calls their buyer is lost the day either of
them leaves. This scheduled rule finds **company customers above a value** whose
**personal touches** in the last ``window_days`` (default: ``[relationships]
window_days``, 90) involve **only one of our people**, or **only one of their functions**,
and gives the account owner a task naming what is missing — "our service lead Jonas Weber
has never met their technician Petra Koch" — from the levels in ``[relationships]
levels`` (``dealercrm.relationships``).

* **Value**: purchases (assets on file, a free replacement is none), revenue (the sum of
  their prices) or tenure (years since the first purchase or since the file was opened),
  each a threshold (0: not a criterion), combined with ``valuable_when = "any"`` (default)
  or ``"all"``.
* **Personal touches**: interactions marked personal, by one of the owning dealer's
  people (not dealercrm itself), naming a contact person or the company as a whole. A
  touch that names no contact person counts for our side only: it tells who of ours
  spoke, not to whom.
* The account must have been on file for a whole window: a new customer's first call is
  no single thread yet. With no personal touch in the window at all it is quiet, not
  single-threaded (that is ``rule_loyal_quiet``'s business).

**Once per situation.** The situation is the thread and since when it is the only one:
``ours=<actor id>;theirs=<function>`` (``*`` on the side with more than one) and
``;since=<day of the last personal touch outside that thread, or never>``. So the rule
asks for a second thread once, however often it runs; when the account had a second
thread that lapsed again, or the thread itself changes (a new salesman), it asks again.

**The contact budget.** The task asks our people to meet the customer's people, so it is
a relationship contact like ``rule_loyal_quiet``'s check-in: by default a **marketing**
contact (``purpose = "marketing"``), it spends one of the account's marketing contacts in
the budget window (``[contact] budget``, per customer — the company, not per contact
person). When the budget is spent the rule makes no task, says why on the timeline and
counts the firing as suppressed; the situation is then handled and not asked again.
Set ``purpose = "service"`` to keep these tasks out of the budget.

The scan is one set-based query: personal touches of the window grouped per company
customer (how many of our people, how many of their functions), joined with the value
of the account, anti-joined with the rule's firings, streamed.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

import attrs
from sqlalchemy import String, and_, func, literal, or_, select, true
from sqlalchemy.orm import aliased

from dealercrm import hookimpl
from dealercrm.db.models import Actor, ContactPerson, Customer, Interaction
from dealercrm.errors import ValidationError
from dealercrm.rules import Candidate, RuleSettings, utc_day_text
from dealercrm.settings_schema import at_least_zero
from dealercrm.services.relationships import (account_value, relationship_map, single_thread_situation,
                                              single_threaded, thread_stats)

NAME = "rule_single_threaded"

DEFAULTS: dict[str, Any] = {
    "window_days": 0,  # 0: [relationships] window_days (90)
    "min_purchases": 5,  # assets on file (0 = not a criterion)
    "min_revenue": 10000,  # sum of asset prices (0 = not a criterion)
    "min_years": 0,  # customer (or first purchase) since at least this many years (0 = not a criterion)
    "valuable_when": "any",  # "any" criterion that is set, or "all" of them
    "purpose": "marketing",  # "marketing" spends the contact budget; "service" does not
    "due_days": 14,
}

TEXTS = {
    "de": {
        "title": "Zweiten Draht aufbauen: {name} hängt an einem Kontakt ({thread}, {days} Tage)",
        "thread_both": "nur {ours} mit {theirs}",
        "thread_ours": "nur {ours}",
        "thread_theirs": "nur mit {theirs}",
        "ours": "{name} ({role})",
        "theirs": "der Funktion {function}",
        "note": ("{name} ist ein wichtiger Kunde ({purchases} Käufe, Umsatz {revenue}, Kunde seit {since}) und hängt "
                 "an einem einzigen Draht: alle persönlichen Kontakte der letzten {days} Tage liefen {thread}. Geht "
                 "einer der beiden, auf unserer oder ihrer Seite, geht der Kunde mit.\n\nEs fehlt:\n{missing}\n\n"
                 "Eine zweite Person von uns vorstellen oder eine zweite Person dort kennenlernen – und den Kontakt "
                 "mit dem Namen des Ansprechpartners festhalten."),
        "never": "- {level}: {ours} ({role}) kennt {contact} ({function}) noch nicht persönlich",
        "lapsed": "- {level}: {ours} ({role}) hatte zuletzt am {day} persönlichen Kontakt mit {contact} ({function})",
        "none": ("- auf keiner weiteren Ebene steht beiden Seiten jemand gegenüber: eine zweite Person von uns "
                 "vorstellen oder weitere Ansprechpartner des Kunden erfassen"),
        "date": "%d.%m.%Y",
        "marks": ".,",
    },
    "en": {
        "title": "Second thread for {name}: the account hangs on one thread ({thread}, {days} days)",
        "thread_both": "only {ours} with {theirs}",
        "thread_ours": "only {ours}",
        "thread_theirs": "only with {theirs}",
        "ours": "{name} ({role})",
        "theirs": "their {function}",
        "note": ("{name} is a key account ({purchases} purchases, revenue {revenue}, customer since {since}) and "
                 "hangs on a single thread: every personal touch of the last {days} days was {thread}. When one "
                 "of the two leaves, on either side, the account goes with them.\n\nWhat is missing:\n{missing}\n\n"
                 "Introduce a second person of ours, or get to know a second person of theirs — and record the "
                 "touch naming the contact person."),
        "never": "- {level}: our {role} {ours} has never met their {function} {contact}",
        "lapsed": "- {level}: our {role} {ours} last met their {function} {contact} on {day}",
        "none": ("- no other level has someone on both sides: introduce a second person of ours, or add more of "
                 "their people as contact persons"),
        "date": "%Y-%m-%d",
        "marks": ",.",
    },
}


@attrs.frozen
class SingleThreadedSettings(RuleSettings):
    """``[plugins.rule_single_threaded]``: the keys of ``DEFAULTS``, the texts (empty: the
    built-in ones in ``[dealercrm] language``) and their language; checked when the
    application starts."""

    window_days: int = attrs.field(default=DEFAULTS["window_days"], validator=at_least_zero)
    min_purchases: int = attrs.field(default=DEFAULTS["min_purchases"], validator=at_least_zero)
    min_revenue: float = attrs.field(default=DEFAULTS["min_revenue"], validator=at_least_zero)
    min_years: int = attrs.field(default=DEFAULTS["min_years"], validator=at_least_zero)
    valuable_when: Literal["any", "all"] = DEFAULTS["valuable_when"]
    purpose: Literal["marketing", "service"] = DEFAULTS["purpose"]
    due_days: int = attrs.field(default=DEFAULTS["due_days"], validator=at_least_zero)
    language: str = ""
    title: str = ""
    note: str = ""

    def __attrs_post_init__(self) -> None:
        if not (self.min_purchases or self.min_years or self.min_revenue):
            raise ValidationError(f"[plugins.{NAME}]", "min_purchases, min_revenue, min_years",
                                  "at least one value criterion must be above 0: the rule is for key accounts")


def in_effect(settings: dict[str, Any], crm) -> dict[str, Any]:
    """The rule's settings (checked when the application started) with the window in days:
    its own ``window_days``, or ``[relationships] window_days`` where that is 0."""
    return {**settings, "window_days": settings["window_days"] or crm.settings.relationships.window_days}


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def iso(day) -> str | None:
    """A day from the database as 'YYYY-MM-DD' (SQLite hands back text, PostgreSQL a date)."""
    return day if day is None or isinstance(day, str) else day.isoformat()


def local_number(value: float, texts: dict) -> str:
    thousands, point = texts["marks"]
    return f"{value:,.2f}".translate(str.maketrans({",": thousands, ".": point}))


class SingleThreaded:
    name = NAME
    description = ("key company accounts whose personal touches involve one of our people or one of their "
                   "functions: a task to build a second thread")

    def query(self, ctx):
        """The scan as one SELECT."""
        s = in_effect(ctx.settings, ctx.crm)
        now: datetime = ctx.now
        window = s["window_days"]
        stats = thread_stats(now, window, Customer.kind == "company")
        value = account_value()
        purchases, revenue = func.coalesce(value.c.purchases, 0), func.coalesce(value.c.revenue, 0)
        valuable = []
        if s["min_purchases"]:
            valuable.append(purchases >= s["min_purchases"])
        if s["min_revenue"]:
            valuable.append(revenue >= s["min_revenue"])
        if s["min_years"]:
            tenure_day = years_before(now.date(), s["min_years"])
            valuable.append(or_(value.c.first_purchase <= tenure_day,
                                Customer.created_at <= datetime.combine(tenure_day, now.timetz())))
        # since when this thread has been the only one: the last personal touch outside it
        touch, person, contact = aliased(Interaction), aliased(Actor), aliased(ContactPerson)
        outside = or_(and_(stats.c.people == 1, touch.actor_id != stats.c.one_actor),
                      and_(stats.c.functions == 1, func.lower(func.trim(contact.function)) != stats.c.one_function))
        dialect = ctx.connection.dialect.name
        other = (select(utc_day_text(func.max(touch.at), dialect))
                 .select_from(touch)
                 .join(person, and_(person.id == touch.actor_id, person.is_system.is_(False),
                                    person.party_id == Customer.owner_party_id))
                 .outerjoin(contact, contact.id == touch.contact_person_id)
                 .where(touch.customer_id == Customer.id, touch.personal.is_(True), outside)
                 # correlated by name: inside the anti-join's EXISTS too, not a second, unrelated customer
                 .correlate(Customer, stats)
                 .scalar_subquery())
        situation = (single_thread_situation(stats).concat(literal(";since=", String))
                     .concat(func.coalesce(other, "never")))
        return (
            select(Customer.id, situation, stats.c.people, stats.c.one_actor, stats.c.functions,
                   stats.c.one_function, stats.c.touches, purchases, revenue, value.c.first_purchase,
                   utc_day_text(Customer.created_at, dialect))
            .join(stats, stats.c.customer_id == Customer.id)
            .outerjoin(value, value.c.customer_id == Customer.id)
            .where(Customer.erased_at.is_(None), Customer.merged_into_id.is_(None),
                   Customer.created_at <= now - timedelta(days=window), single_threaded(stats),
                   (and_(*valuable) if s["valuable_when"] == "all" else or_(*valuable)) if valuable else true(),
                   ctx.not_fired(Customer.id, situation))
            .order_by(Customer.id)
        )

    def scan(self, ctx):
        result = ctx.connection.execute(self.query(ctx).execution_options(yield_per=1000))
        rows = (row for part in result.partitions() for row in part)
        for (customer_id, situation, people, one_actor, functions, one_function, touches, purchases, revenue,
             first_purchase, created) in rows:
            first_purchase = iso(first_purchase)
            yield Candidate(customer_id, situation, customer_id, {
                "our_people": people, "one_actor": one_actor if people == 1 else None,
                "their_functions": functions, "one_function": one_function if functions == 1 else None,
                "touches": touches, "purchases": purchases, "revenue": round(float(revenue), 2),
                "customer_since": min(first_purchase, created) if first_purchase else created,
            })

    def act(self, candidate, ctx):
        s = in_effect(ctx.settings, ctx.crm)
        texts = TEXTS.get(s.get("language") or ctx.crm.settings.language, TEXTS["en"])
        ev = candidate.evidence
        customer = ctx.uow.session.get(Customer, candidate.customer_id)
        m = relationship_map(ctx.uow, customer, ctx.crm.settings.relationships.levels, s["window_days"])
        one = m.person(ev["one_actor"]) if ev["one_actor"] is not None else None
        ours = texts["ours"].format(name=one.name, role=one.role) if one else None
        theirs = texts["theirs"].format(function=ev["one_function"]) if ev["one_function"] else None
        thread = (texts["thread_both"].format(ours=ours, theirs=theirs) if ours and theirs else
                  texts["thread_ours"].format(ours=ours) if ours else texts["thread_theirs"].format(theirs=theirs))
        lines, about = [], None
        for level in m.gaps:
            person = m.person(level.ours[0]) if level.ours else None
            contacts = [c for c in (m.contact(i) for i in level.theirs) if c]
            if person is None or not contacts:
                continue
            about = about or contacts[0].contact_id
            lines.append(texts["never" if level.state == "never met" else "lapsed"].format(
                level=level.level, ours=person.name, role=person.role,
                contact=", ".join(c.name for c in contacts), function=contacts[0].function,
                day=level.last_touch_at.strftime(texts["date"]) if level.last_touch_at else ""))
        since = ev["customer_since"]
        fields = dict(name=customer.name, thread=thread, days=s["window_days"], purchases=ev["purchases"],
                      revenue=local_number(ev["revenue"], texts),
                      since=date.fromisoformat(since).strftime(texts["date"]) if since else "—",
                      missing="\n".join(lines) or texts["none"])
        ctx.task((s.get("title") or texts["title"]).format(**fields), due_in=timedelta(days=s["due_days"]),
                 purpose=s["purpose"], note=(s.get("note") or texts["note"]).format(**fields),
                 contact_person_id=about)


@hookimpl(trylast=True)
def dealercrm_register_rules(crm):
    return [SingleThreaded()]


@hookimpl(trylast=True)
def dealercrm_register_settings():
    return {NAME: SingleThreadedSettings}
