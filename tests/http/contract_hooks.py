"""Schemathesis hooks for the contract test (``SCHEMATHESIS_HOOKS``): what the document can only name.

The OpenAPI document says what every value must be. A few kinds of value it can only name
with a ``format`` — a phone number phonenumbers accepts, a region with a holiday calendar,
an IANA time zone, a public http(s) URL, a customer list in CSV — because no JSON Schema
pattern spells them; here schemathesis learns how to write valid ones, so its "valid"
requests are valid. (Invalid ones it still makes by breaking the rest of the schema.)

A few rules relate two values, which JSON Schema cannot say; the document says them in
words, and valid requests keep them: a handover not before the purchase, opening hours
that open before they close, a birthday between 1900 and today.

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
from datetime import date

import holidays
import schemathesis
from hypothesis import strategies as st

KEY_LIMIT = 255

PHONES = ["+49 171 5550100", "0171 5550101", "+49 30 1234567", "030 12345678", "+43 664 1234567",
          "+41 44 668 18 00", "+1 212 555 0123", "+33 1 42 68 53 00", "0221 9876543"]
REGIONS = sorted({code for code in holidays.list_supported_countries()} | {
    f"{country}-{sub}" for country, subs in holidays.list_supported_countries().items() for sub in subs})
PUBLIC_URLS = ["https://93.184.215.14/dealercrm/events", "https://1.1.1.1/hook", "https://8.8.8.8:8443/crm?x=1"]


@st.composite
def customer_lists(draw) -> str:
    """A CSV customer list as a dealer's old system exports it; its rows may still be refused one by one."""
    columns = ["external_id", "name", *draw(st.lists(st.sampled_from(["email", "phone", "city", "postcode",
                                                                       "interests", "kind", "birthday"]),
                                                      unique=True, max_size=4))]
    text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for _ in range(draw(st.integers(0, 5))):
        writer.writerow([draw(text) for _ in columns])
    return out.getvalue()


@st.composite
def asset_lists(draw) -> str:
    """A CSV list of units customers bought; its rows may still be refused one by one."""
    columns = ["external_id", "sku", *draw(st.lists(st.sampled_from(["serial_number", "price"]), unique=True,
                                                      max_size=2))]
    text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for _ in range(draw(st.integers(0, 5))):
        writer.writerow([draw(text) for _ in columns])
    return out.getvalue()


schemathesis.openapi.format("phone", st.sampled_from(PHONES))
schemathesis.openapi.format("region", st.sampled_from(REGIONS))
schemathesis.openapi.format("time-zone", st.sampled_from(sorted(zoneinfo.available_timezones())))
schemathesis.openapi.format("public-url", st.sampled_from(PUBLIC_URLS))
schemathesis.openapi.format("customer-csv", customer_lists())
schemathesis.openapi.format("asset-csv", asset_lists())


def handover_not_before_purchase(body: dict) -> None:
    bought, handed = body.get("purchased_on"), body.get("handed_over_on")
    if isinstance(bought, str) and isinstance(handed, str) and handed < bought:
        body["purchased_on"], body["handed_over_on"] = handed, bought


WINDOW = re.compile(r"^(\d\d:\d\d)-(\d\d:\d\d)$")


def opening_before_closing(body: dict) -> None:
    hours = body.get("hours")
    for days, window in (hours.items() if isinstance(hours, dict) else ()):
        found = WINDOW.match(window) if isinstance(window, str) else None
        if found and found[1] >= found[2]:
            hours[days] = f"{found[2]}-{found[1]}" if found[1] > found[2] else "08:00-17:00"


def birthday_in_the_past(body: dict) -> None:
    born = body.get("birthday")
    if isinstance(born, str) and not "1900-01-01" <= born <= date.today().isoformat():
        body["birthday"] = "1984-02-29"


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
         ("PUT", "/parties/{party_id}/calendar"): opening_before_closing,
         ("POST", "/customers"): birthday_in_the_past,
         ("PATCH", "/customers/{customer_id}"): birthday_in_the_past}


@schemathesis.hook
def before_call(context, case, kwargs):
    if isinstance(case.body, dict) and case.meta is not None and case.meta.generation.mode.is_positive:
        formats_kept(case.body)
        rule = RULES.get((case.operation.method.upper(), case.operation.path))
        if rule:
            rule(case.body)
    headers = case.headers or {}
    for name, value in list(headers.items()):
        if name.lower() == "idempotency-key" and isinstance(value, str) and 0 < len(value) <= KEY_LIMIT:
            headers[name] = f"{value[:KEY_LIMIT - 33]}.{uuid.uuid4().hex}"
