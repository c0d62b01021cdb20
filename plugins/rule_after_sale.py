"""After the sale: the small gestures that make the difference (story 003).

A builder sells a hundred flats and forgets the buyers until the key handover. This
rule remembers them, on every ``dealercrm tick``:

- **check-in**: an unprompted call N days after the handover ("is everything all
  right? any questions?"), one per asset;
- **occasions**: a personal invitation for every owner of a matching asset (a
  topping-out ceremony for a housing project, a launch evening for a model) — a
  message where the customer allows one, otherwise a task to invite in person;
- **birthday**: a personal gesture a few days ahead (a call, a card, a bottle of wine);
- **anniversary**: a personal word on the anniversary of a purchase.

The check-in, birthday and anniversary are relationship gestures made by a person, not
mailings: their tasks are ``service`` contacts, which the contact budget does not cap
(``gesture_purpose``). A written invitation needs marketing consent and spends the
budget (``invitation_purpose``); where it is not allowed the account owner invites in
person (messages carry ``data["template"] = "invitation"``). Every query is set-based;
birthdays and anniversaries are found by month and day computed in Python and compared
in SQL (works on SQLite and PostgreSQL)::

    [plugins.rule_after_sale]
    parts = ["checkin", "occasions", "birthday", "anniversary"]  # drop one to switch it off
    checkin_after_days = 14       # the call is due this many days after the handover
    checkin_until_days = 45       # handovers longer ago get no belated call (e.g. on first install)
    birthday_days_before = 5      # the gesture task appears this many days ahead
    anniversary_days_before = 3
    anniversary_categories = []   # only assets of these product categories; empty: all
    gesture_purpose = "service"
    invitation_purpose = "marketing"
    channels = ["email", "sms", "whatsapp"]
    # texts: checkin_title, birthday_title, anniversary_title, invitation_title, invitation_subject,
    # invitation_body ({name}, {owner}, {product}, {day}, {years}, {occasion}, {place}, …)

    [[plugins.rule_after_sale.occasions]]
    name = "Richtfest Wohnpark Süd"
    date = 2026-06-12             # a TOML date or "2026-06-12"
    sku_prefix = "WPS-"           # or category = "flat", or skus = ["WPS-2ZI", …]
    place = "Baufeld 3"           # optional
    invite_days_before = 28       # invitations go out from then until the day before
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from datetime import date as Date
from typing import Literal

import attrs

from sqlalchemy import Integer, String, cast, extract, literal, literal_column, select

from dealercrm import hookimpl
from dealercrm.clock import UTC
from dealercrm.db.models import Actor, Asset, Customer, Party, Product
from dealercrm.errors import ValidationError
from dealercrm.rules import Candidate, RuleSettings

NAME = "rule_after_sale"
PARTS = ("checkin", "occasions", "birthday", "anniversary")

TEXTS = {
    "de": {
        "date": "%d.%m.%Y",
        "checkin_title": "Nachfragen, ob alles passt: {product}, übergeben am {handed_over}",
        "birthday_title": "Geburtstag von {name} am {day}: eine persönliche Geste (Anruf, Karte, eine Flasche Wein)",
        "anniversary_title": "{years} Jahre {product} ({name}, seit {since}): ein persönliches Wort",
        "invitation_title": "{name} persönlich einladen: {occasion} am {day}",
        "invitation_subject": "Persönliche Einladung: {occasion} am {day}",
        "invitation_body": ("Guten Tag {name},\n\nwir würden uns sehr freuen, Sie am {day} persönlich bei "
                            "{occasion}{place} zu begrüßen – Sie gehören dazu.\n\nHerzliche Grüße\n{owner}"),
    },
    "en": {
        "date": "%Y-%m-%d",
        "checkin_title": "check-in call: is everything all right with the {product} handed over on {handed_over}?",
        "birthday_title": "{name}'s birthday on {day}: a personal gesture (a call, a card, a bottle of wine)",
        "anniversary_title": "{years} years of the {product} ({name}, since {since}): a personal word",
        "invitation_title": "invite {name} personally: {occasion} on {day}",
        "invitation_subject": "A personal invitation: {occasion} on {day}",
        "invitation_body": ("Hello {name},\n\nwe would be delighted to welcome you in person at {occasion}{place} "
                            "on {day} – you are part of it.\n\nKind regards\n{owner}"),
    },
}


def live():
    return Customer.merged_into_id.is_(None) & Customer.erased_at.is_(None)


def month_day(column):
    """MMDD as a number, on SQLite and PostgreSQL alike."""
    return extract("month", column) * 100 + extract("day", column)


def upcoming(today: date, days: int) -> dict[int, list[int]]:
    """The month-days of the next ``days`` days (today included), grouped by their year;
    29 February counts on the 28th in a year without one."""
    by_year: dict[int, list[int]] = defaultdict(list)
    for k in range(max(days, 0) + 1):
        day = today + timedelta(days=k)
        by_year[day.year].append(day.month * 100 + day.day)
        if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
            by_year[day.year].append(229)
    return by_year


def next_occurrence(born: date, today: date) -> date:
    for year in (today.year, today.year + 1):
        day = born.day if calendar.isleap(year) or (born.month, born.day) != (2, 29) else 28
        candidate = date(year, born.month, day)
        if candidate >= today:
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def occasions(settings) -> list[dict]:
    """The configured occasions, checked: each names a date and which assets it is for."""
    checked = []
    for n, entry in enumerate(settings.get("occasions") or ()):
        where = f"[plugins.{NAME}] occasions[{n}]"
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("date"):
            raise ValidationError(where, entry, 'needs a name and a date, e.g. {name="Richtfest", date="2026-06-12", '
                                                'sku_prefix="WPS-"}')
        try:
            day = entry["date"] if isinstance(entry["date"], date) else date.fromisoformat(str(entry["date"]))
        except ValueError:
            raise ValidationError(f"{where}.date", entry["date"], "is not a date like 2026-06-12") from None
        if not any(entry.get(k) for k in ("sku_prefix", "category", "skus")):
            raise ValidationError(where, entry["name"], "needs sku_prefix, category or skus: whose assets is it for?")
        checked.append({**entry, "date": day})
    return checked


def selects(occasion: dict):
    if occasion.get("sku_prefix"):
        return Product.sku.startswith(str(occasion["sku_prefix"]), autoescape=True)
    if occasion.get("category"):
        return Product.category == str(occasion["category"])
    return Product.sku.in_([str(s) for s in occasion["skus"]])


Purpose = Literal["service", "marketing"]


@attrs.frozen
class Occasion:
    """``[[plugins.rule_after_sale.occasions]]``: one occasion the owners of some assets are invited to."""

    name: str = ""
    date: Date | str = ""
    sku_prefix: str = ""
    category: str = ""
    skus: list[str] = attrs.Factory(list)
    place: str = ""
    invite_days_before: int = 28


@attrs.frozen
class AfterSaleSettings(RuleSettings):
    """``[plugins.rule_after_sale]`` (the module docstring says what each key does); a text left
    empty follows ``[dealercrm] language``."""

    parts: list[Literal["checkin", "occasions", "birthday", "anniversary"]] = attrs.Factory(lambda: list(PARTS))
    checkin_after_days: int = 14
    checkin_until_days: int = 45
    birthday_days_before: int = 5
    anniversary_days_before: int = 3
    anniversary_categories: list[str] = attrs.Factory(list)
    gesture_purpose: Purpose = "service"
    invitation_purpose: Purpose = "marketing"
    channels: list[str] = attrs.Factory(lambda: ["email", "sms", "whatsapp"])
    occasions: list[Occasion] = attrs.Factory(list)
    checkin_title: str = ""
    birthday_title: str = ""
    anniversary_title: str = ""
    invitation_title: str = ""
    invitation_subject: str = ""
    invitation_body: str = ""


class AfterSale:
    name = NAME
    description = "after-sale care: check-in call after handover, invitations, birthday and anniversary gestures"

    # -- finding --------------------------------------------------------------------------
    def scan(self, ctx):
        parts = ctx.settings["parts"]
        unknown = set(parts) - set(PARTS)
        if unknown:
            raise ValidationError(f"[plugins.{NAME}] parts", sorted(unknown)[0], f"must be among {', '.join(PARTS)}")
        today = ctx.now.date()
        for part in PARTS:
            if part in parts:
                yield from getattr(self, f"_{part}")(ctx, today)

    def _checkin(self, ctx, today):
        after, until = int(ctx.settings["checkin_after_days"]), int(ctx.settings["checkin_until_days"])
        situation = literal("checkin:asset:", String) + cast(Asset.id, String)
        query = (select(Asset.customer_id, Asset.id, Asset.handed_over_on, Product.name, situation.label("situation"))
                 .join(Product, Product.id == Asset.product_id).join(Customer, Customer.id == Asset.customer_id)
                 .where(Asset.handed_over_on <= today - timedelta(days=after),
                        Asset.handed_over_on > today - timedelta(days=max(until, after + 1)), live(),
                        ctx.not_fired(Customer.id, situation))
                 .order_by(Asset.id))
        for row in ctx.connection.execute(query):
            yield Candidate(row.customer_id, row.situation, customer_id=row.customer_id,
                            evidence={"part": "checkin", "asset_id": row.id, "product": row.name,
                                      "handed_over_on": row.handed_over_on.isoformat()})

    def _occasions(self, ctx, today):
        for occasion in occasions(ctx.settings):
            before = int(occasion.get("invite_days_before", 28))
            if not occasion["date"] - timedelta(days=before) <= today < occasion["date"]:
                continue
            situation = f"occasion:{occasion['name']}:{occasion['date'].isoformat()}"
            query = (select(Customer.id).join(Asset, Asset.customer_id == Customer.id)
                     .join(Product, Product.id == Asset.product_id)
                     .where(selects(occasion), live(), ctx.not_fired(Customer.id, situation))
                     .group_by(Customer.id).order_by(Customer.id))
            for (customer_id,) in ctx.connection.execute(query):
                yield Candidate(customer_id, situation, customer_id=customer_id,
                                evidence={"part": "occasions", "occasion": occasion["name"],
                                          "date": occasion["date"].isoformat(), "place": occasion.get("place", "")})

    def _birthday(self, ctx, today):
        for year, days in upcoming(today, int(ctx.settings["birthday_days_before"])).items():
            situation = f"birthday:{year}"
            query = (select(Customer.id).where(Customer.birthday.is_not(None), month_day(Customer.birthday).in_(days),
                                               live(), ctx.not_fired(Customer.id, situation))
                     .order_by(Customer.id))
            for (customer_id,) in ctx.connection.execute(query):
                yield Candidate(customer_id, situation, customer_id=customer_id,
                                evidence={"part": "birthday", "year": year})

    def _anniversary(self, ctx, today):
        categories = list(ctx.settings.get("anniversary_categories") or ())
        since = Asset.purchased_on
        bought = cast(extract("year", since), Integer)
        for year, days in upcoming(today, int(ctx.settings["anniversary_days_before"])).items():
            years = literal_column(str(int(year)), Integer) - bought
            situation = (literal("anniversary:", String) + cast(Asset.id, String) + literal(":", String)
                         + cast(years, String))
            query = (select(Asset.customer_id, Asset.id, since, Product.name, years.label("years"),
                            situation.label("situation"))
                     .join(Product, Product.id == Asset.product_id).join(Customer, Customer.id == Asset.customer_id)
                     .where(since.is_not(None), month_day(since).in_(days), bought < year, live(),
                            ctx.not_fired(Customer.id, situation))
                     .order_by(Asset.id))
            if categories:
                query = query.where(Product.category.in_(categories))
            for row in ctx.connection.execute(query):
                yield Candidate(row.customer_id, row.situation, customer_id=row.customer_id,
                                evidence={"part": "anniversary", "asset_id": row.id, "product": row.name,
                                          "years": int(row.years), "since": row.purchased_on.isoformat()})

    # -- acting ---------------------------------------------------------------------------
    def act(self, candidate, ctx):
        texts = {**TEXTS.get(ctx.crm.settings.language, TEXTS["en"])}
        person = ctx.uow.connection.execute(
            select(Customer.name, Customer.birthday, Actor.name.label("owner"), Party.name.label("party"))
            .join(Party, Party.id == Customer.owner_party_id).outerjoin(Actor, Actor.id == Customer.account_owner_id)
            .where(Customer.id == candidate.customer_id)).one()
        evidence = candidate.evidence
        fields = {**evidence, "name": person.name,
                  "owner": f"{person.owner}, {person.party}" if person.owner else person.party}
        for key in ("handed_over_on", "since", "date"):
            if key in evidence:
                fields[{"handed_over_on": "handed_over", "date": "day"}.get(key, key)] = (
                    date.fromisoformat(evidence[key]).strftime(texts["date"]))

        def text(key):
            return str(ctx.settings.get(key) or texts[key]).format(**fields)

        gesture = ctx.settings["gesture_purpose"]
        part = evidence["part"]
        if part == "checkin":
            ctx.task(text("checkin_title"), purpose=gesture, due_in=timedelta(days=1))
        elif part == "birthday":
            day = next_occurrence(person.birthday, ctx.now.date())
            fields["day"] = day.strftime(texts["date"])
            ctx.task(text("birthday_title"), purpose=gesture, due_at=max(ctx.now, at_nine(day - timedelta(days=1))))
        elif part == "anniversary":
            ctx.task(text("anniversary_title"), purpose=gesture, due_in=timedelta(days=1))
        elif part == "occasions":
            fields["place"] = f" ({evidence['place']})" if evidence.get("place") else ""
            subject = text("invitation_subject")
            purpose = ctx.settings["invitation_purpose"]
            if ctx.message(subject=subject, body=text("invitation_body"), purpose=purpose,
                           channels=tuple(ctx.settings["channels"]),
                           data={"rule": NAME, "template": "invitation", **evidence}):
                return
            ctx.task(text("invitation_title"), purpose=gesture, due_in=timedelta(days=2))


def at_nine(day: date) -> datetime:
    return datetime.combine(day, time(9), UTC)


@hookimpl(trylast=True)
def dealercrm_register_rules(crm):
    return [AfterSale()]


@hookimpl(trylast=True)
def dealercrm_register_settings():
    return {NAME: AfterSaleSettings}
