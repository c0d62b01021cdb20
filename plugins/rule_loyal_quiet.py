"""Loyal customers going quiet: a check-in before they are lost unnoticed.

The long-standing regular customers are the most neglected: they buy anyway, so nobody
calls them any more, and years later it shows up as "lost market share" (seed 001).
This scheduled rule finds the *loyal* customers — by purchases, tenure and revenue,
combined with "all" or "any" — whom nobody has had a **relationship touch** with for
longer than ``quiet_days``: a personal interaction (a call, a visit, a personal
letter), which moves ``customer.last_touch_at`` in the same transaction. Mass mailings
and rule messages are not personal and never count. A never-touched customer counts
as quiet since the record was created.

For each one it creates a check-in task for the customer's account owner (or owning
party). The situation is ``quiet-since:<date of the last touch or never>``: the rule
fires once per quiet period; a new personal touch followed by a new quiet period is a
new situation and fires again.

The check-in is a relationship gesture, not about the customer's own case or purchase,
so by default it is a **marketing** contact (``purpose = "marketing"``): it spends the
customer's contact budget, and when the budget is spent the rule does not act and says
why on the timeline. The task note says whether a marketing call is allowed (phone
consent), so the person picks a call, a personal letter or the next visit. Set
``purpose = "service"`` to keep such check-ins out of the budget.

Purchases are the customer's assets (a free replacement — one that replaces another
and has no price, like the swapped washing machine — is not a purchase), so only
customers with at least one asset on file can be loyal. Tenure counts from the first
purchase or from when the customer record was created, whichever is earlier; revenue
is the sum of the asset prices.

**Companies, by level** (``company_levels``). A company customer is kept by relationships
at several levels — salesman and buyer, service and technician, management and management
(``[relationships] levels``, ``dealercrm.relationships``). With ``company_levels = 1``
(the default) any personal touch counts for the whole company, as for a person. Set a
number (``company_levels = 2``: personal touches at two levels or more within
``quiet_days``) or the levels that must each have one (``company_levels = ["sales",
"management"]``), and a touch counts only for its own level: one of ours with a role of
the level, with a contact person of a function of the level (or naming nobody). So a
personal letter to their accounting is no touch for the buyer, and a company whose only
recent touches were with accounting is quiet at the sales level. The situation is then
``quiet-levels:<level>@<its last touch or never>,…`` over the quiet levels: once per
quiet period of those levels, again when one of them was touched and went quiet anew.

The scan is one set-based query: loyalty aggregates over ``asset`` joined to the
customers filtered by ``last_touch_at``, anti-joined with the rule's firings, streamed.
In the levels mode companies have a second one: the last personal touch per level, one
aggregate column per level, joined to the same loyalty aggregates.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

import attrs
from sqlalchemy import String, and_, case, func, literal, or_, select, true, type_coerce

from dealercrm import hookimpl
from dealercrm.db.models import Actor, Asset, ContactPerson, Customer, Interaction
from dealercrm.errors import ValidationError
from dealercrm.rules import Candidate, RuleSettings, utc_day_text
from dealercrm.settings_schema import at_least_zero
from dealercrm.services.contact_policy import decide
from dealercrm.services.relationships import personal_touches

NAME = "rule_loyal_quiet"

DEFAULTS: dict[str, Any] = {
    "quiet_days": 180,  # no personal touch for longer than this
    "min_purchases": 3,  # assets on file (0 = not a criterion)
    "min_years": 5,  # first purchase or customer since at least this many years (0 = not a criterion)
    "min_revenue": 0,  # sum of asset prices (0 = not a criterion)
    "loyal_when": "all",  # "all" criteria that are set, or "any" of them
    "purpose": "marketing",  # "marketing" spends the contact budget; "service" does not
    "due_days": 7,  # the task is due this many days after the rule found the customer
    # companies: 1 = any personal touch counts (as for a person); a number n >= 2 = touches at n levels
    # within quiet_days; a list of level names ([relationships] levels) = each of those levels
    "company_levels": 1,
}

TEXTS = {
    "de": {
        "title": "Kontakt pflegen: {name}, Stammkunde seit {since}, {quiet}",
        "note": ("Treuer Kunde: {purchases} Käufe seit {first_purchase}, Umsatz {revenue}, Kunde seit {since}.\n"
                 "Letzter persönlicher Kontakt: {last}. Mailings zählen nicht.\n\n"
                 "Eine Geste der Beziehungspflege, kein Verkaufsgespräch: anrufen, vorbeischauen oder persönlich "
                 "schreiben – und als persönlichen Kontakt festhalten (dann meldet sich diese Regel erst wieder, "
                 "wenn es erneut still wird).\nTelefon: {phone}"),
        "quiet": "kein persönlicher Kontakt seit {day}",
        "quiet_never": "noch nie persönlich gesprochen",
        "quiet_levels": "kein persönlicher Kontakt auf Ebene {levels}",
        "levels_note": "\nEbenen ohne persönlichen Kontakt seit {days} Tagen: {levels}. Mailings zählen nicht, ein "
                       "Kontakt zählt nur für seine Ebene (ein Brief an die Buchhaltung nicht für den Einkauf).",
        "level_day": "{level} (zuletzt {day})",
        "level_never": "{level} (noch nie)",
        "last": "{day} (vor {n} Tagen)",
        "last_never": "keiner erfasst (seit {n} Tagen in der Kundendatei)",
        "phone_ok": "Anruf möglich",
        "phone_not": "kein Anruf ({reason}) – persönlich schreiben oder beim nächsten Besuch ansprechen",
        "date": "%d.%m.%Y",
        "marks": ".,",  # thousands, decimal
    },
    "en": {
        "title": "Check in with {name}: loyal customer since {since}, {quiet}",
        "note": ("Loyal customer: {purchases} purchases since {first_purchase}, revenue {revenue}, customer since "
                 "{since}.\nLast personal contact: {last}. Mailings do not count.\n\n"
                 "A relationship gesture, not a sales call: call, drop by or write personally — and record it as a "
                 "personal contact (this rule then stays quiet until it goes quiet again).\nPhone: {phone}"),
        "quiet": "no personal contact since {day}",
        "quiet_never": "never spoken to personally",
        "quiet_levels": "no personal contact at level {levels}",
        "levels_note": "\nLevels without a personal touch for {days} days: {levels}. Mailings do not count, and a "
                       "touch counts for its own level only (a letter to accounting is none for the buyer).",
        "level_day": "{level} (last {day})",
        "level_never": "{level} (never)",
        "last": "{day} ({n} days ago)",
        "last_never": "none recorded (in the customer file for {n} days)",
        "phone_ok": "a call is allowed",
        "phone_not": "no call ({reason}) — write personally or bring it up at the next visit",
        "date": "%Y-%m-%d",
        "marks": ",.",
    },
}


def local_day(iso: str | None, texts: dict) -> str:
    return date.fromisoformat(iso).strftime(texts["date"]) if iso else "—"


def local_number(value: float, texts: dict, decimals: int = 2) -> str:
    thousands, point = texts["marks"]
    return f"{value:,.{decimals}f}".translate(str.maketrans({",": thousands, ".": point}))


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def iso(day) -> str | None:
    """A day from the database as 'YYYY-MM-DD' (SQLite hands back text, PostgreSQL a date)."""
    return day if day is None or isinstance(day, str) else day.isoformat()


def _levels_wanted(_, attribute: attrs.Attribute, wanted: int | list[str]) -> None:
    if isinstance(wanted, list) and not wanted:
        raise ValueError("must name at least one level of [relationships] levels, or be a number of levels")
    if isinstance(wanted, int) and wanted < 1:
        raise ValueError("must be a number of levels from 1, or a list of level names")


@attrs.frozen
class LoyalQuietSettings(RuleSettings):
    """``[plugins.rule_loyal_quiet]``: the keys of ``DEFAULTS``, the texts (empty: the
    built-in ones in ``[dealercrm] language``) and their language. Checked when the
    application starts, ``company_levels`` against ``[relationships] levels``."""

    quiet_days: int = attrs.field(default=DEFAULTS["quiet_days"], validator=at_least_zero)
    min_purchases: int = attrs.field(default=DEFAULTS["min_purchases"], validator=at_least_zero)
    min_years: int = attrs.field(default=DEFAULTS["min_years"], validator=at_least_zero)
    min_revenue: float = attrs.field(default=DEFAULTS["min_revenue"], validator=at_least_zero)
    loyal_when: Literal["all", "any"] = DEFAULTS["loyal_when"]
    purpose: Literal["marketing", "service"] = DEFAULTS["purpose"]
    due_days: int = attrs.field(default=DEFAULTS["due_days"], validator=at_least_zero)
    company_levels: int | list[str] = attrs.field(default=DEFAULTS["company_levels"], validator=_levels_wanted)
    language: str = ""
    title: str = ""
    note: str = ""

    def __attrs_post_init__(self) -> None:
        if not (self.min_purchases or self.min_years or self.min_revenue):
            raise ValidationError(f"[plugins.{NAME}]", "min_purchases, min_years, min_revenue",
                                  "at least one loyalty criterion must be above 0")

    def check_against(self, settings) -> None:
        """``company_levels`` names levels of ``[relationships] levels``, or a number of them."""
        names = [level.name for level in settings.relationships.levels]
        wanted = self.company_levels
        if isinstance(wanted, list) and not set(wanted) <= set(names):
            raise ValidationError(f"[plugins.{NAME}] company_levels", wanted,
                                  f"must name levels of [relationships] levels: {', '.join(names)}")
        if isinstance(wanted, int) and wanted > len(names):
            raise ValidationError(f"[plugins.{NAME}] company_levels", wanted,
                                  f"must be a number of levels from 1 to {len(names)} (the levels of "
                                  "[relationships] levels), or a list of level names")


class LoyalQuiet:
    name = NAME
    #: what it flags feeds the report's "loyal customers at risk" (until they are touched)
    at_risk = True
    description = "loyal customers (purchases/tenure/revenue) without a personal touch for a while: a check-in task"

    @staticmethod
    def levels(ctx, s) -> tuple:
        """The levels a company needs touches at (all of ``[relationships] levels`` for a number),
        or () when any personal touch counts (``company_levels = 1``)."""
        every = ctx.crm.settings.relationships.levels
        wanted = s["company_levels"]
        if isinstance(wanted, (list, tuple)):
            return tuple(level for level in every if level.name in wanted)
        return every if wanted > 1 else ()

    @staticmethod
    def loyalty(s, now: datetime):
        """The purchase join and the loyalty aggregates: (is_purchase, purchases, first, revenue, HAVING)."""
        # a free replacement (the swapped washing machine: replaces another asset, no price) is
        # not a purchase; a trade-in that was paid for is
        is_purchase = or_(Asset.replaces_asset_id.is_(None), Asset.price > 0)
        purchases = func.count(Asset.id)
        first_purchase = func.min(Asset.purchased_on)
        revenue = func.coalesce(func.sum(Asset.price), 0)
        loyal = []
        if s["min_purchases"]:
            loyal.append(purchases >= s["min_purchases"])
        if s["min_years"]:
            tenure_day = years_before(now.date(), s["min_years"])
            tenure_at = datetime.combine(tenure_day, now.timetz())
            loyal.append(or_(first_purchase <= tenure_day, Customer.created_at <= tenure_at))
        if s["min_revenue"]:
            loyal.append(revenue >= s["min_revenue"])
        return is_purchase, purchases, first_purchase, revenue, and_(*loyal) if s["loyal_when"] == "all" else or_(*loyal)

    def query(self, ctx):
        """The scan as one SELECT (also used by the benchmark to show its plan); in the levels
        mode for every customer but companies (``company_query``)."""
        s = ctx.settings  # checked when the application started (LoyalQuietSettings)
        now: datetime = ctx.now
        quiet_since = now - timedelta(days=s["quiet_days"])
        is_purchase, purchases, first_purchase, revenue, loyal = self.loyalty(s, now)
        dialect = ctx.connection.dialect.name
        last_day = utc_day_text(Customer.last_touch_at, dialect)
        situation = literal("quiet-since:", String).concat(func.coalesce(last_day, "never"))
        # Days as ISO text and the situation made in SQL: each candidate row is plain values,
        # no timestamp parsing per row (the scan streams many of them).
        return (
            select(Customer.id, situation, last_day, utc_day_text(Customer.created_at, dialect), purchases,
                   type_coerce(first_purchase, String), revenue)
            .join_from(Customer, Asset, and_(Asset.customer_id == Customer.id, is_purchase))
            .where(Customer.erased_at.is_(None), Customer.merged_into_id.is_(None),
                   Customer.kind != "company" if self.levels(ctx, s) else true(),
                   or_(Customer.last_touch_at < quiet_since,
                       and_(Customer.last_touch_at.is_(None), Customer.created_at < quiet_since)),
                   ctx.not_fired(Customer.id, situation))
            .group_by(Customer.id)
            .having(loyal)
        )

    def company_query(self, ctx, s, levels):
        """Loyal companies quiet at a level: the last personal touch per level (one aggregate
        column each), the quiet levels listed in the situation, made in SQL."""
        now: datetime = ctx.now
        quiet_since = now - timedelta(days=s["quiet_days"])
        dialect = ctx.connection.dialect.name
        lasts = (select(Interaction.customer_id.label("customer_id"),
                        *(func.max(case((level.touch_sql(Actor.role, ContactPerson.function,
                                                         Interaction.contact_person_id), Interaction.at)))
                          .label(f"level_{n}") for n, level in enumerate(levels)))
                 .select_from(Interaction)
                 .join(Customer, and_(Customer.id == Interaction.customer_id, Customer.kind == "company"))
                 .join(Actor, personal_touches(Customer.id, Customer.owner_party_id))
                 .outerjoin(ContactPerson, ContactPerson.id == Interaction.contact_person_id)
                 .group_by(Interaction.customer_id).subquery("levels"))
        columns = [lasts.c[f"level_{n}"] for n in range(len(levels))]
        quiet = [or_(c.is_(None), c < quiet_since) for c in columns]
        days = [utc_day_text(c, dialect) for c in columns]
        situation = literal("quiet-levels:", String)
        for n, level in enumerate(levels):
            situation = situation.concat(case((quiet[n], literal(f"{level.name}@", String).concat(
                func.coalesce(days[n], "never")).concat(literal(",", String))), else_=literal("", String)))
        wanted = s["company_levels"]
        touched = sum((case((q, 0), else_=1) for q in quiet), literal(0))
        is_quiet = or_(*quiet) if isinstance(wanted, (list, tuple)) else touched < wanted
        is_purchase, purchases, first_purchase, revenue, loyal = self.loyalty(s, now)
        return (
            select(Customer.id, situation, utc_day_text(Customer.last_touch_at, dialect),
                   utc_day_text(Customer.created_at, dialect), purchases, type_coerce(first_purchase, String),
                   revenue, *days, *(case((q, 1), else_=0) for q in quiet))
            .join_from(Customer, Asset, and_(Asset.customer_id == Customer.id, is_purchase))
            .outerjoin(lasts, lasts.c.customer_id == Customer.id)
            .where(Customer.erased_at.is_(None), Customer.merged_into_id.is_(None), Customer.kind == "company",
                   Customer.created_at < quiet_since, is_quiet, ctx.not_fired(Customer.id, situation))
            .group_by(Customer.id, *columns)
            .having(loyal)
        )

    def scan(self, ctx):
        today = ctx.now.date()
        s = ctx.settings  # checked when the application started (LoyalQuietSettings)
        result = ctx.connection.execute(self.query(ctx).execution_options(yield_per=1000))
        rows = (row for part in result.partitions() for row in part)  # streamed, 1000 rows at a time
        for customer_id, situation, last, created, purchases, first_purchase, revenue in rows:
            yield self.candidate(today, customer_id, situation, last, created, purchases, first_purchase, revenue)
        levels = self.levels(ctx, s)
        if not levels:
            return
        result = ctx.connection.execute(self.company_query(ctx, s, levels).execution_options(yield_per=1000))
        for row in (row for part in result.partitions() for row in part):
            found = self.candidate(today, *row[:7])
            days, quiet = row[7:7 + len(levels)], row[7 + len(levels):]
            found.evidence["quiet_levels"] = {level.name: day for level, day, q in zip(levels, days, quiet) if q}
            yield found

    @staticmethod
    def candidate(today, customer_id, situation, last, created, purchases, first_purchase, revenue) -> Candidate:
        first_purchase = iso(first_purchase)
        since = min(first_purchase, created) if first_purchase else created
        return Candidate(customer_id, situation, customer_id, {
            "last_touch": last,
            "quiet_days": (today - date.fromisoformat(last or created)).days,
            "purchases": purchases,
            "first_purchase": first_purchase,
            "customer_since": since,
            "revenue": round(float(revenue), 2),
        })

    def act(self, candidate, ctx):
        s = ctx.settings  # checked when the application started (LoyalQuietSettings)
        texts = TEXTS.get(s.get("language") or ctx.crm.settings.language, TEXTS["en"])
        ev = candidate.evidence
        name = ctx.uow.connection.execute(select(Customer.name).where(Customer.id == candidate.customer_id)).scalar()
        phone = ctx.crm.channels.get("phone")
        allowed = phone and decide(ctx.crm, ctx.uow.connection, candidate.customer_id, phone, s["purpose"], ctx.now,
                                   count_budget=False)
        touched, day, n = ev["last_touch"], local_day(ev["last_touch"], texts), ev["quiet_days"]
        by_level = ev.get("quiet_levels")
        levels = ", ".join(texts["level_day"].format(level=level, day=local_day(d, texts)) if d else
                           texts["level_never"].format(level=level) for level, d in (by_level or {}).items())
        fields = dict(
            name=name, since=local_day(ev["customer_since"], texts),
            quiet=(texts["quiet_levels"].format(levels=", ".join(by_level)) if by_level else
                   texts["quiet"].format(day=day) if touched else texts["quiet_never"]),
            last=texts["last"].format(day=day, n=n) if touched else texts["last_never"].format(n=n),
            purchases=ev["purchases"], first_purchase=local_day(ev["first_purchase"], texts),
            revenue=local_number(ev["revenue"], texts), phone=texts["phone_ok"] if allowed and allowed.allowed else
            texts["phone_not"].format(reason=allowed.reason if allowed else "no phone channel"))
        note = (s.get("note") or texts["note"]).format(**fields)
        if by_level:
            note += texts["levels_note"].format(days=s["quiet_days"], levels=levels)
        ctx.task((s.get("title") or texts["title"]).format(**fields), due_in=timedelta(days=s["due_days"]),
                 purpose=s["purpose"], note=note)


@hookimpl(trylast=True)
def dealercrm_register_rules(crm):
    return [LoyalQuiet()]


@hookimpl(trylast=True)
def dealercrm_register_settings():
    return {NAME: LoyalQuietSettings}
