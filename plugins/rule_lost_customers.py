"""Lost customers noticed early: their own rhythm has stretched.

Customers are lost quietly; years later it shows as "lost market share" (seed 001).
Every customer has a rhythm of their own — a car every three years, a service visit
every spring — and the first sign of a loss is that rhythm breaking. This scheduled
rule compares, per customer, the time since their last purchase or service visit with
their *own* usual interval:

* events are the purchase dates of their assets and, as ``include_service`` says, the
  days they opened a service case: ``"except_warranty"`` (the default) counts every case
  but those opened on an asset in warranty — a complaint about a new machine is the
  product's doing, not a visit of the customer's own rhythm —, ``true`` counts every case,
  ``false`` none. Several events on one day count as one (a free replacement carries the
  purchase date of the asset it replaces, so it never adds a day);
* a rhythm needs a history: at least ``min_events`` distinct days (default 2, i.e. one
  earlier interval to compare with) spread over at least ``min_history_days`` (default
  365) from the first to the last. A purchase and a warranty case two days later are no
  rhythm of "every 2 days";
* the usual interval is the mean gap between those days, ``(last - first) / (days - 1)``;
* a customer is flagged when ``today - last >= factor × usual interval`` (default
  1.5) and at least ``min_days_since`` days have passed (default 180: nobody is "lost"
  a few weeks after two purchases in one month).

The flag is a task for the account owner with the evidence in the note (usual
interval, days since the last event, the dates). The situation is
``lost-since:<date of the last purchase or visit>``: one task per silence; a new
purchase or visit starts a new rhythm, and stretching it again fires again. The task is
a win-back contact, by default a **marketing** one (``purpose``): it spends the contact
budget, and when the budget is spent the rule records why it did not act.

The scan is one set-based query on SQLite and PostgreSQL: purchases and service
visits as one stream of (customer, day), aggregated per customer (count of distinct
days, first, last), compared in SQL, anti-joined with the rule's firings, streamed.
Day differences are ``julianday`` differences on SQLite and date subtraction on
PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

import attrs
from sqlalchemy import Date, Integer, String, cast, func, literal, or_, select, true, type_coerce, union_all

from dealercrm import hookimpl
from dealercrm.db.case_models import Case
from dealercrm.db.models import Asset, Customer
from dealercrm.errors import ValidationError
from dealercrm.rules import Candidate, RuleSettings

NAME = "rule_lost_customers"

DEFAULTS: dict[str, Any] = {
    "factor": 1.5,  # flagged when the time since the last event is >= factor x the usual interval
    "min_events": 2,  # distinct purchase/visit days needed before a rhythm is trusted
    "min_history_days": 365,  # and this many days from the first of them to the last
    "min_days_since": 180,  # and at least this many days since the last purchase or visit
    # which service cases (their opening day) count as visits: true, false, or every case but
    # those opened on an asset in warranty
    "include_service": "except_warranty",
    "purpose": "marketing",  # "marketing" spends the contact budget; "service" does not
    "due_days": 7,
}

TEXTS = {
    "de": {
        "title": ("Kunde droht verloren zu gehen: {name}, seit {days_since} Tagen kein Kauf/Besuch "
                  "(sonst alle {usual} Tage)"),
        "note": ("{name} kam bisher im Schnitt alle {usual} Tage ({events} Käufe/Besuche zwischen {first} und "
                 "{last}); seit dem letzten sind {days_since} Tage vergangen ({ratio}-mal so lang).\n"
                 "Käufe: {purchases}\nServicefälle: {visits}\n\n"
                 "Herausfinden, was los ist: persönlich nachfragen, zuhören, festhalten."),
        "date": "%d.%m.%Y",
        "point": ",",
    },
    "en": {
        "title": ("Customer drifting away: {name}, no purchase or visit for {days_since} days "
                  "(usually every {usual} days)"),
        "note": ("{name} used to come every {usual} days on average ({events} purchases/visits between {first} and "
                 "{last}); {days_since} days have passed since the last one ({ratio}x as long).\n"
                 "Purchases: {purchases}\nService cases: {visits}\n\n"
                 "Find out what is going on: ask personally, listen, record it."),
        "date": "%Y-%m-%d",
        "point": ".",
    },
}


SERVICE_CHOICES = (True, False, "except_warranty")


def service_cases(include_service):
    """The WHERE clause over ``Case`` for the cases that count as visits, or None for none."""
    if include_service is False:
        return None
    if include_service == "except_warranty":
        return or_(Case.warranty_status.is_(None), Case.warranty_status != "in")
    return true()


def checked(settings) -> dict[str, Any]:
    s = {**DEFAULTS, **settings}
    factor = s["factor"]
    if not isinstance(factor, (int, float)) or isinstance(factor, bool) or factor <= 1:
        raise ValidationError(f"[plugins.{NAME}] factor", factor, "must be a number above 1 (e.g. 1.5)")
    for key, low in (("min_events", 2), ("min_history_days", 0), ("min_days_since", 0), ("due_days", 0)):
        if not isinstance(s[key], int) or isinstance(s[key], bool) or s[key] < low:
            raise ValidationError(f"[plugins.{NAME}] {key}", s[key], f"must be a whole number >= {low}")
    if s["include_service"] not in SERVICE_CHOICES:
        raise ValidationError(f"[plugins.{NAME}] include_service", s["include_service"],
                              'must be true, false or "except_warranty"')
    if s["purpose"] not in ("service", "marketing"):
        raise ValidationError(f"[plugins.{NAME}] purpose", s["purpose"], 'must be "service" or "marketing"')
    return s


@attrs.frozen
class LostCustomerSettings(RuleSettings):
    """``[plugins.rule_lost_customers]``: the keys of ``DEFAULTS`` (ranges checked by ``checked``),
    the texts (empty: ``[dealercrm] language``'s) and their language."""

    factor: float = DEFAULTS["factor"]
    min_events: int = DEFAULTS["min_events"]
    min_history_days: int = DEFAULTS["min_history_days"]
    min_days_since: int = DEFAULTS["min_days_since"]
    include_service: bool | Literal["except_warranty"] = DEFAULTS["include_service"]
    purpose: Literal["marketing", "service"] = DEFAULTS["purpose"]
    due_days: int = DEFAULTS["due_days"]
    language: str = ""
    title: str = ""
    note: str = ""


class Dialect:
    """The few expressions that differ between SQLite and PostgreSQL."""

    def __init__(self, name: str):
        self.pg = name == "postgresql"

    def utc_day(self, timestamp):
        """The UTC calendar day of a timestamp column (a date on PostgreSQL, 'YYYY-MM-DD' on SQLite)."""
        if self.pg:
            return cast(func.timezone("UTC", timestamp), Date)
        return func.substr(timestamp, 1, 10)  # SQLite stores naive UTC as 'YYYY-MM-DD HH:MM:SS.ffffff'

    def days(self, later, earlier):
        """Whole days from ``earlier`` to ``later`` (both days)."""
        if self.pg:
            return cast(later - earlier, Integer)
        return cast(func.julianday(later) - func.julianday(earlier), Integer)

    def day_text(self, day):
        """A day as 'YYYY-MM-DD' text (SQLite already holds it so)."""
        return func.to_char(day, "YYYY-MM-DD") if self.pg else type_coerce(day, String)


class LostCustomers:
    name = NAME
    description = "customers whose buying or service interval stretched beyond their own usual one: a task"

    def query(self, ctx):
        """The scan as one SELECT (also used by the benchmark to show its plan)."""
        s = checked(ctx.settings)
        d = Dialect(ctx.connection.dialect.name)
        today = literal(ctx.now.date(), Date)
        streams = [select(Asset.customer_id.label("customer_id"), Asset.purchased_on.label("day"))
                   .where(Asset.purchased_on.is_not(None))]
        visits = service_cases(s["include_service"])
        if visits is not None:
            streams.append(select(Case.customer_id, d.utc_day(Case.opened_at)).where(visits))
        events = (union_all(*streams) if len(streams) > 1 else streams[0]).subquery("events")
        rhythm = (select(events.c.customer_id, func.count(events.c.day.distinct()).label("n"),
                         func.min(events.c.day).label("first"), func.max(events.c.day).label("last"))
                  .group_by(events.c.customer_id)
                  .having(func.count(events.c.day.distinct()) >= s["min_events"])
                  .subquery("rhythm"))
        span = d.days(rhythm.c.last, rhythm.c.first)
        since = d.days(today, rhythm.c.last)
        situation = literal("lost-since:", String).concat(d.day_text(rhythm.c.last))
        # the situation, the days and the day counts come out of SQL as plain values: no date
        # parsing per candidate row (the scan streams many of them)
        return (
            select(Customer.id, situation, rhythm.c.n, type_coerce(rhythm.c.first, String),
                   type_coerce(rhythm.c.last, String), span, since)
            .join_from(rhythm, Customer, Customer.id == rhythm.c.customer_id)
            .where(Customer.erased_at.is_(None), Customer.merged_into_id.is_(None), span >= s["min_history_days"],
                   since >= s["min_days_since"], since * (rhythm.c.n - 1) >= span * s["factor"],
                   ctx.not_fired(Customer.id, situation))
        )

    def scan(self, ctx):
        factor = checked(ctx.settings)["factor"]
        result = ctx.connection.execute(self.query(ctx).execution_options(yield_per=1000))
        rows = (row for part in result.partitions() for row in part)  # streamed, 1000 rows at a time
        for customer_id, situation, n, first, last, span, since in rows:
            usual = span / (n - 1)
            yield Candidate(customer_id, situation, customer_id, {
                "usual_interval_days": round(usual), "days_since_last": since, "ratio": round(since / usual, 2),
                "factor": factor, "events": n, "first": iso(first), "last": iso(last)})

    def act(self, candidate, ctx):
        s = checked(ctx.settings)
        texts = TEXTS.get(s.get("language") or ctx.crm.settings.language, TEXTS["en"])
        ev, conn, cid = candidate.evidence, ctx.uow.connection, candidate.customer_id
        name = conn.execute(select(Customer.name).where(Customer.id == cid)).scalar()
        purchases = sorted({as_date(day) for (day,) in conn.execute(
            select(Asset.purchased_on).where(Asset.customer_id == cid, Asset.purchased_on.is_not(None)))})
        counted = service_cases(s["include_service"])
        visits = sorted({at.date() for (at,) in conn.execute(
            select(Case.opened_at).where(Case.customer_id == cid, counted))}) if counted is not None else []
        day = texts["date"]
        fields = dict(name=name, usual=ev["usual_interval_days"], days_since=ev["days_since_last"],
                      ratio=f"{ev['ratio']:.1f}".replace(".", texts["point"]), events=ev["events"],
                      first=as_date(ev["first"]).strftime(day), last=as_date(ev["last"]).strftime(day),
                      purchases=", ".join(p.strftime(day) for p in purchases) or "—",
                      visits=", ".join(v.strftime(day) for v in visits) or "—")
        ctx.task((s.get("title") or texts["title"]).format(**fields), due_in=timedelta(days=s["due_days"]),
                 purpose=s["purpose"], note=(s.get("note") or texts["note"]).format(**fields))


def iso(day) -> str:
    """A day from the database as 'YYYY-MM-DD' (SQLite hands back text, PostgreSQL a date)."""
    return day if isinstance(day, str) else day.isoformat()


def as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


@hookimpl(trylast=True)
def dealercrm_register_rules(crm):
    return [LostCustomers()]


@hookimpl(trylast=True)
def dealercrm_register_settings():
    return {NAME: LostCustomerSettings}
