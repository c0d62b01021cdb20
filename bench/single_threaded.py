"""Benchmark: the single-thread rule's scan (issue #17) against hand-written SQL answering the
same question, and the relationship map of one account against the 360° view without it.

Run it from the repository root with the project's virtualenv:

    .venv/bin/python bench/single_threaded.py [--companies 20000] [--touches 25] [--repeat 3]
    .venv/bin/python bench/single_threaded.py --companies 2000 --repeat 1     # a quick look

**Data.** A dealercrm-migrated SQLite file (``dealercrm.connect`` migrates it; the dealer, its 12
people and a product go through the public API), then filled with plain ``sqlite3``
``executemany`` — never part of a measurement: ``--companies`` company customers with four
contact persons each (buyer, technician, dispatcher, accounting) and twice as many private
customers; per customer ``--touches`` interactions over the last two years (four in five
personal, one in five naming nobody) and 1 to 9 assets. The companies come in four kinds,
a quarter each: one of ours with their buyer only, one of ours with any of theirs, any of
ours with their buyer only, and any of ours with any of theirs.

**What is timed** (in this process, the OS cache warm, ``--repeat`` times interleaved, the
fastest kept; wall clock and CPU time):

* ``dealercrm``: the public scan path the engine runs before it acts — ``crm.rules.rule(NAME)``,
  a ``ScanContext`` on a read unit of work, iterating ``rule.scan(ctx)`` to the end (the
  SQLAlchemy-built query with its correlated "since" subquery, rows streamed and turned into
  ``Candidate`` objects);
* ``sql``: one hand-written SELECT on ``sqlite3`` answering the same question (same thresholds,
  same anti-join, the situation built in SQL), iterating the cursor to the end.

Both give a set of (customer id, situation); the run checks they are the same set. Then, for
information, ``crm.customers.relationships(id)`` against ``crm.customers.view(id)`` of the same
account (which includes the map) and a plain ``crm.customers.get(id)``.

Target: dealercrm / hand-written SQL <= 1.5x. Exit status 1 if the candidate sets differ.

Measured (2 cores shared with other work, load average about 9; defaults: 20,000 companies,
1,500,000 interactions): 13,360 candidates, the same set both ways; dealercrm 1.60 s wall /
0.61 s CPU, hand-written SQL 1.15 s / 0.53 s — 1.40x wall, 1.16x CPU. One account's map 2.4 ms,
its 360° view with the map 4.8 ms, a plain ``customers.get`` 0.3 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]  # bench/transitions.py shadows the package

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
NAME = "rule_single_threaded"
FUNCTIONS = ("buyer", "technician", "dispatcher", "accounting")
ROLES = ("sales",) * 4 + ("service",) * 3 + ("clerk",) * 2 + ("manager",) * 2 + ("accounting",)


def ts(moment: datetime) -> str:
    """What UTCDateTime stores on SQLite: naive UTC text."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def seed(path: Path, companies: int, touches: int, rng_seed: int = 17) -> None:
    import dealercrm
    from dealercrm.settings import Settings

    crm = dealercrm.connect(f"sqlite:///{path}", clock=dealercrm.ManualClock(NOW), settings=Settings())
    dealer = crm.parties.add("dealer", "Nordholz Küchen", by=crm.system).id
    people = [crm.parties.add_actor(dealer, f"Person {n}", role, by=crm.system).id for n, role in enumerate(ROLES)]
    product = crm.products.add("K-1", "Kitchen", by=crm.system).id
    crm.close()
    rnd = random.Random(rng_seed)
    created = ts(NOW - timedelta(days=800))
    customers, contacts, interactions, assets = [], [], [], []
    contact_id = interaction_id = asset_id = 0
    for cid in range(1, 3 * companies + 1):
        company = cid <= companies
        customers.append((cid, "company" if company else "person", f"Kunde {cid}", dealer, people[cid % 4], created,
                          created))
        theirs = []
        if company:
            for function in FUNCTIONS:
                contact_id += 1
                contacts.append((contact_id, cid, f"Kontakt {contact_id}", function, created))
                theirs.append(contact_id)
        kind = cid % 4  # 0: one of ours with their buyer, 1: one of ours, 2: their buyer, 3: many with many
        one = people[cid % 4]
        for n in range(touches):
            interaction_id += 1
            at = NOW - timedelta(minutes=rnd.randrange(730 * 24 * 60))
            who = one if kind in (0, 1) else rnd.choice(people)
            whom = None
            if theirs and rnd.random() < 0.8:
                whom = theirs[0] if kind in (0, 2) else rnd.choice(theirs)
            interactions.append((interaction_id, cid, rnd.choice(("phone", "visit", "email")), "outbound",
                                 "talked", int(rnd.random() < 0.8), who, ts(at), whom))
        for n in range(rnd.randint(1, 9)):
            asset_id += 1
            assets.append((asset_id, cid, product, rnd.choice((800.0, 4_500.0, 18_500.0)), created))
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("BEGIN")
    con.executemany("INSERT INTO customer (id, kind, name, owner_party_id, account_owner_id, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", customers)
    con.executemany("INSERT INTO contact_person (id, customer_id, name, function, created_at) VALUES (?, ?, ?, ?, ?)",
                    contacts)
    con.executemany("INSERT INTO interaction (id, customer_id, channel, direction, summary, personal, actor_id, at, "
                    "contact_person_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", interactions)
    con.executemany("INSERT INTO asset (id, customer_id, product_id, price, warranty_overridden, created_at) "
                    "VALUES (?, ?, ?, ?, 0, ?)", assets)
    con.execute("COMMIT")
    con.execute("ANALYZE")
    con.close()


HAND_WRITTEN = """
WITH w AS (
  SELECT i.customer_id, COUNT(DISTINCT i.actor_id) AS people, MIN(i.actor_id) AS one_actor,
         COUNT(DISTINCT lower(trim(cp.function))) AS functions, MIN(lower(trim(cp.function))) AS one_function
  FROM interaction i
  JOIN customer c ON c.id = i.customer_id AND c.kind = 'company'
  JOIN actor a ON a.id = i.actor_id AND a.is_system = 0 AND a.party_id = c.owner_party_id
  LEFT JOIN contact_person cp ON cp.id = i.contact_person_id
  WHERE i.personal = 1 AND i.at > :window_start
  GROUP BY i.customer_id),
v AS (
  SELECT customer_id, COUNT(*) AS purchases, COALESCE(SUM(price), 0) AS revenue FROM asset
  WHERE replaces_asset_id IS NULL OR price > 0 GROUP BY customer_id),
s AS (
  SELECT c.id,
         'ours=' || CASE WHEN w.people = 1 THEN CAST(w.one_actor AS TEXT) ELSE '*' END
         || ';theirs=' || CASE WHEN w.functions = 1 THEN w.one_function ELSE '*' END
         || ';since=' || COALESCE((
              SELECT substr(max(i2.at), 1, 10) FROM interaction i2
              JOIN actor a2 ON a2.id = i2.actor_id AND a2.is_system = 0 AND a2.party_id = c.owner_party_id
              LEFT JOIN contact_person c2 ON c2.id = i2.contact_person_id
              WHERE i2.customer_id = c.id AND i2.personal = 1
                AND ((w.people = 1 AND i2.actor_id != w.one_actor)
                     OR (w.functions = 1 AND lower(trim(c2.function)) != w.one_function))), 'never') AS situation
  FROM customer c JOIN w ON w.customer_id = c.id LEFT JOIN v ON v.customer_id = c.id
  WHERE c.erased_at IS NULL AND c.merged_into_id IS NULL AND c.created_at <= :created_before
    AND (w.people = 1 OR w.functions = 1)
    AND (COALESCE(v.purchases, 0) >= :min_purchases OR COALESCE(v.revenue, 0) >= :min_revenue))
SELECT s.id, s.situation FROM s
WHERE NOT EXISTS (SELECT 1 FROM rule_firing f WHERE f.rule = :rule AND f.subject_kind = 'customer'
                  AND f.subject_id = s.id AND f.situation = s.situation)
"""


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=20_000)
    parser.add_argument("--touches", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import dealercrm
    from dealercrm.plugins.rule_single_threaded import DEFAULTS
    from dealercrm.rules import ScanContext
    from dealercrm.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="bench-single-"))
    path = folder / "crm.db"
    started = time.perf_counter()
    seed(path, args.companies, args.touches)
    print(f"seeded {args.companies} companies, {2 * args.companies} private customers, "
          f"{3 * args.companies * args.touches} interactions in {time.perf_counter() - started:.1f} s")

    crm = dealercrm.connect(f"sqlite:///{path}", clock=dealercrm.ManualClock(NOW), settings=Settings())
    rule = crm.rules.rule(NAME)
    settings = crm.rules.settings_for(rule)
    window = settings["window_days"] or crm.settings.relationships.window_days

    def ours():
        with crm.read(crm.system) as reader:
            ctx = ScanContext(crm, reader.connection, reader.now, settings, NAME)
            return {(c.subject_id, c.situation) for c in rule.scan(ctx)}

    params = dict(window_start=ts(NOW - timedelta(days=window)), created_before=ts(NOW - timedelta(days=window)),
                  min_purchases=DEFAULTS["min_purchases"], min_revenue=DEFAULTS["min_revenue"], rule=NAME)

    def theirs():
        con = sqlite3.connect(path)
        try:
            return {(row[0], row[1]) for row in con.execute(HAND_WRITTEN, params)}
        finally:
            con.close()

    best = {"dealercrm": (1e9, 1e9), "sql": (1e9, 1e9)}
    found = {}
    for _ in range(args.repeat):
        for name, fn in (("dealercrm", ours), ("sql", theirs)):
            result, wall, cpu = timed(fn)
            found[name] = result
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    same = found["dealercrm"] == found["sql"]
    print(f"candidates: dealercrm {len(found['dealercrm'])}, sql {len(found['sql'])}, same set: {same}")
    for name, (wall, cpu) in best.items():
        print(f"  {name:10s} wall {wall * 1000:8.1f} ms   cpu {cpu * 1000:8.1f} ms")
    ratio_wall = best["dealercrm"][0] / best["sql"][0]
    ratio_cpu = best["dealercrm"][1] / best["sql"][1]
    print(f"ratio dealercrm / sql: wall {ratio_wall:.2f}x, cpu {ratio_cpu:.2f}x (target <= 1.5x)")

    account = next(iter(sorted(found["dealercrm"])))[0] if found["dealercrm"] else 1
    reads = {"get": lambda: crm.customers.get(account, by=crm.system),
             "relationships": lambda: crm.customers.relationships(account, by=crm.system),
             "view (with the map)": lambda: crm.customers.view(account, by=crm.system)}
    times = {name: min(timed(fn)[1] for _ in range(20)) for name, fn in reads.items()}
    print(f"one account ({args.touches} touches): " + ", ".join(f"{n} {t * 1000:.1f} ms" for n, t in times.items())
          + f"; map / get {times['relationships'] / times['get']:.1f}x")
    crm.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    folder.rmdir()
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
