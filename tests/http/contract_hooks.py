"""Schemathesis hooks for the contract test (``SCHEMATHESIS_HOOKS``): what the document can only name.

The OpenAPI document says what every value must be. A few kinds of value it can only name
with a ``format`` — a phone number phonenumbers accepts, a region with a holiday calendar,
an IANA time zone, a public http(s) URL, a customer list in CSV — because no JSON Schema
pattern spells them; here schemathesis learns how to write valid ones, so its "valid"
requests are valid. (Invalid ones it still makes by breaking the rest of the schema.)

A few rules relate two values, which JSON Schema cannot say; the document says them in
words, and valid requests keep them: a handover not before the purchase, opening hours
that open before they close (20 hours a week or more, 30 closed days a year at most), a
birthday between 1900 and today, a task snoozed until a time still to come, a column to
leave out of an import that the posted list has.

And one rule of the protocol: a client sends a new ``Idempotency-Key`` for each new
request. Schemathesis draws keys from the schema like any header ("0", "00" …) and would
reuse one across requests, which the server rightly refuses (422); each request's key
here gets a unique suffix (its end replaced by one, within the key's length limit), so a
repeat is never mistaken for a client reusing its key.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
import zoneinfo
from datetime import UTC, date, datetime, timedelta

import holidays
import schemathesis
from hypothesis import strategies as st

KEY_LIMIT = 255

PHONES = ["+49 171 5550100", "0171 5550101", "+49 30 1234567", "030 12345678", "+43 664 1234567",
          "+41 44 668 18 00", "+1 212 555 0123", "+33 1 42 68 53 00", "0221 9876543"]
REGIONS = sorted({code for code in holidays.list_supported_countries()} | {
    f"{country}-{sub}" for country, subs in holidays.list_supported_countries().items() for sub in subs})
PUBLIC_URLS = ["https://93.184.215.14/dealercrm/events", "https://1.1.1.1/hook", "https://8.8.8.8:8443/crm?x=1"]


def csv_lists(first: list[str], optional: list[str], at_most: int):
    """A CSV list as a dealer's old system exports it (``first`` columns, then some of
    ``optional``); its rows may still be refused one by one."""

    @st.composite
    def lists(draw) -> str:
        columns = [*first, *draw(st.lists(st.sampled_from(optional), unique=True, max_size=at_most))]
        text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for _ in range(draw(st.integers(0, 5))):
            writer.writerow([draw(text) for _ in columns])
        return out.getvalue()

    return lists()


customer_lists = csv_lists(["external_id", "name"], ["email", "phone", "city", "postcode", "interests", "kind",
                                                     "birthday"], 4)
asset_lists = csv_lists(["external_id", "sku"], ["serial_number", "price"], 2)


schemathesis.openapi.format("phone", st.sampled_from(PHONES))
schemathesis.openapi.format("region", st.sampled_from(REGIONS))
schemathesis.openapi.format("time-zone", st.sampled_from(sorted(zoneinfo.available_timezones())))
schemathesis.openapi.format("public-https-url", st.sampled_from(PUBLIC_URLS))
schemathesis.openapi.format("customer-csv", customer_lists)
schemathesis.openapi.format("asset-csv", asset_lists)


def handover_not_before_purchase(body: dict) -> None:
    bought, handed = body.get("purchased_on"), body.get("handed_over_on")
    if isinstance(bought, str) and isinstance(handed, str) and handed < bought:
        body["purchased_on"], body["handed_over_on"] = handed, bought


WINDOW = re.compile(r"^(\d\d:\d\d)-(\d\d:\d\d)$")


DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def working_calendar(body: dict) -> None:
    """Opening hours that open before they close (20 hours a week or more, 30 closed days a year at most), at least 20 hours a week in all, and at most
    30 closed days a year: what the document says in words."""
    hours = body.get("hours")
    weekly = 0.0
    for days, window in (hours.items() if isinstance(hours, dict) else ()):
        found = WINDOW.match(window) if isinstance(window, str) else None
        if found and found[1] >= found[2]:
            hours[days] = window = f"{found[2]}-{found[1]}" if found[1] > found[2] else "08:00-17:00"
            found = WINDOW.match(window)
        first, _, last = str(days).lower().partition("-")
        if found and first in DAY_NAMES and (last or first) in DAY_NAMES:
            span = DAY_NAMES.index(last or first) - DAY_NAMES.index(first) + 1
            opens, closes = (datetime.strptime(t, "%H:%M") for t in (found[1], found[2]))
            weekly += max(span, 0) * (closes - opens).total_seconds() / 3600
    if isinstance(hours, dict) and hours and weekly < 20:
        body["hours"] = {"mon-fri": "08:00-17:00"}
    closed = body.get("closed")
    if isinstance(closed, list):
        per_year: dict[str, int] = {}
        kept = []
        for day in closed:
            year = str(day)[:4]
            per_year[year] = per_year.get(year, 0) + 1
            if per_year[year] <= 30:
                kept.append(day)
        body["closed"] = kept


def birthday_in_the_past(body: dict) -> None:
    born = body.get("birthday")
    if isinstance(born, str) and not "1900-01-01" <= born <= date.today().isoformat():
        body["birthday"] = "1984-02-29"


def snoozed_into_the_future(body: dict) -> None:
    until = body.get("until")
    try:
        past = isinstance(until, str) and datetime.fromisoformat(until) <= datetime.now(UTC) + timedelta(minutes=5)
    except ValueError:  # not a date and time: schemathesis' own choice, left as it is
        past = False
    if past:
        body["until"] = (datetime.now(UTC) + timedelta(days=1)).isoformat()


def columns_posted(case) -> None:
    """``ignore_column`` names columns of the posted list (its header line, in whatever delimiter)."""
    body = case.body.decode("utf-8", "replace") if isinstance(case.body, bytes) else case.body
    query, text = case.query or {}, body if isinstance(body, str) else ""
    if "ignore_column" not in query:
        return
    header = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    delimiter = next((d for d in ";\t," if d in header), ",")
    columns = set(next(csv.reader([header], delimiter=delimiter), []))
    asked = query["ignore_column"]
    kept = [c for c in (asked if isinstance(asked, list) else [asked]) if c in columns]
    if kept:
        query["ignore_column"] = kept
    else:
        del query["ignore_column"]


#: values of a format the document names but schemathesis' coverage phase does not draw from the
#: format (it tries boundary strings: "", "0"): in a valid request they are what the format allows
#: (a phone number may also be blank: none)
FORMATTED = {"url": (PUBLIC_URLS, False), "region": (REGIONS, False),
             "time_zone": (sorted(zoneinfo.available_timezones()), False), "phone": (PHONES, True)}


def formats_kept(body: dict) -> None:
    for name, (made, blank) in FORMATTED.items():
        value = body.get(name)
        if isinstance(value, str) and value not in made and not (blank and not value.strip()):
            body[name] = made[0]


RULES = {("POST", "/customers/{customer_id}/assets"): handover_not_before_purchase,
         ("PUT", "/parties/{party_id}/calendar"): working_calendar,
         ("POST", "/customers"): birthday_in_the_past,
         ("PATCH", "/customers/{customer_id}"): birthday_in_the_past,
         ("POST", "/tasks/{task_id}/snooze"): snoozed_into_the_future}
#: rules relating a query parameter to the body
CASE_RULES = {("POST", "/imports/customers"): columns_posted, ("POST", "/imports/assets"): columns_posted}


def generated_valid(case, location: str) -> bool:
    """Whether schemathesis meant this part of the request (``body``, ``query``) to be valid: a case made
    invalid elsewhere only (an unknown header) still counts as valid data where the rest is concerned."""
    meta = case.meta
    return meta is not None and (meta.generation.mode.is_positive or not meta.is_negative_at(location))


@schemathesis.hook
def before_call(context, case, kwargs):
    operation = (case.operation.method.upper(), case.operation.path)
    if isinstance(case.body, dict) and generated_valid(case, "body"):
        formats_kept(case.body)
        rule = RULES.get(operation)
        if rule:
            rule(case.body)
    if operation in CASE_RULES and generated_valid(case, "query"):
        CASE_RULES[operation](case)
    headers = case.headers or {}
    for name, value in list(headers.items()):
        if name.lower() == "idempotency-key" and isinstance(value, str) and 0 < len(value) <= KEY_LIMIT:
            headers[name] = f"{value[:KEY_LIMIT - 33]}.{uuid.uuid4().hex}"
