"""Benchmark: what the promise costs a page of cases (issue #13, item 3).

Run it from the repository root with the project's virtualenv:

    .venv/bin/python bench/promise.py [--cases 200] [--page 50] [--repeat 20]

(a few seconds). Every case body over HTTP carries its promise (``resolved_by``), computed
when it is read, not stored: a shortest path over the case's workflow from where the case
stands, in its parties' business calendars (``dealercrm.workflow.promise``). This measures
what that adds to reading a page of cases.

**Data.** A fresh SQLite file (``dealercrm.connect``): a dealer in Berlin, a manufacturer in
New York, a technician in Bavaria (their own calendars), ``--cases`` service cases opened
on a manual clock spread over two weeks, moved to every open state of the service case,
on every service level (priority, a premium contract, a heating product).

**What is timed** (the same process, ``--repeat`` rounds, fastest kept):

* ``baseline``: ``crm.cases.list(limit=page)`` as the system — the page a client reads;
* ``with promise``: the same, then ``crm.cases.resolved_by(page)`` — what ``GET /cases`` adds;
* per case: ``crm.cases.promise(case_id)`` on its own (its own read), for the record.

Printed: milliseconds per page for both, the ratio, and microseconds per case.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

# bench/ also holds transitions.py: keep the folder off sys.path, or it would shadow the
# transitions package dealercrm imports
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import dealercrm  # noqa: E402
from dealercrm.clock import ManualClock  # noqa: E402
from dealercrm.settings import Settings  # noqa: E402

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
WAYS = (
    (), ("start_diagnosis",), ("start_diagnosis", "forward_to_manufacturer"),
    ("start_diagnosis", "forward_to_manufacturer", "approve_visit"),
    ("start_diagnosis", "ask_customer"), ("start_diagnosis", "repair_at_dealer"),
    ("start_diagnosis", "forward_to_manufacturer", "reject"),
)


def seed(url: str, clock: ManualClock, n: int):
    crm = dealercrm.connect(url, clock=clock, settings=Settings())
    parties = crm.as_actor(crm.system).parties
    dealer = parties.add("dealer", "Elektro Schmidt")
    maker = parties.add("manufacturer", "Brioche Inc.")
    tech = parties.add("technician", "Technik Süd")
    crm.parties.set_calendar(maker.id, region="US-NY", time_zone="America/New_York", by=crm.system)
    crm.parties.set_calendar(tech.id, region="DE-BY", time_zone="Europe/Berlin", by=crm.system)
    clerk = parties.add_actor(dealer.id, "Lea", "service")
    desk = parties.add_actor(maker.id, "Desk", "warranty")
    washer = crm.products.add("WM", "Washer", manufacturer_party_id=maker.id, by=crm.system)
    boiler = crm.products.add("HB", "Boiler", category="heating", manufacturer_party_id=maker.id, by=crm.system)
    for i in range(n):
        clock.set(START + timedelta(minutes=97 * i))
        customer = crm.customers.add(f"Customer {i}", owner_party_id=dealer.id, by=crm.system)
        product = boiler if i % 5 == 4 else washer
        asset = crm.assets.record(customer.id, product.id, service_contract="premium" if i % 3 == 0 else None,
                                  dealer_party_id=dealer.id, by=crm.system)
        case = crm.cases.open(customer.id, "broken", asset_id=asset.id, by=clerk.id,
                              priority="urgent" if i % 7 == 0 else "normal")
        for trigger in WAYS[i % len(WAYS)]:
            who = desk.id if trigger in ("approve_visit", "reject") else clerk.id
            data = {"technician_party_id": tech.id} if trigger == "approve_visit" else {}
            data |= {"question": "?"} if trigger == "ask_customer" else {}
            data |= {"reason": "no"} if trigger == "reject" else {}
            crm.cases.fire(case.id, trigger, data=data, by=who)
    return crm


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--page", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args(argv)
    clock = ManualClock(START)
    with tempfile.TemporaryDirectory() as folder:
        crm = seed(f"sqlite:///{folder}/promise.db", clock, args.cases)
        clock.set(START + timedelta(days=1))
        page = crm.cases.list(limit=args.page, by=crm.system)
        assert all(crm.cases.resolved_by(page, by=crm.system).values())
        baseline = best(lambda: crm.cases.list(limit=args.page, by=crm.system), args.repeat)
        promised = best(lambda: crm.cases.resolved_by(crm.cases.list(limit=args.page, by=crm.system),
                                                      by=crm.system), args.repeat)
        single = best(lambda: [crm.cases.promise(c.id, by=crm.system) for c in page], args.repeat)
        crm.close()
    print(f"{args.cases} cases, a page of {len(page)}, best of {args.repeat}")
    print(f"baseline (list the page):        {baseline * 1e3:7.2f} ms")
    print(f"with the promise of each case:   {promised * 1e3:7.2f} ms  ({promised / baseline:.2f}x baseline)")
    print(f"promise per case within a page:  {(promised - baseline) / len(page) * 1e6:7.1f} us")
    print(f"crm.cases.promise on its own:    {single / len(page) * 1e6:7.1f} us per case (its own read)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
