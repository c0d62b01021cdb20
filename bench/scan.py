"""Benchmark: the scans of the "loyal customers going quiet" and "lost customers" rules
against hand-written SQL answering the same question (issue #5).

Run it from the repository root with the project's virtualenv:

    .venv/bin/python bench/scan.py [--customers 200000] [--small-customers 50000] [--repeat 3]
    .venv/bin/python bench/scan.py --customers 20000 --small-customers 5000 --repeat 1   # a quick look

(with the defaults about 90 s of CPU time, most of it seeding: two minutes on an idle two-core
machine, three when others share it; ``--extra-indexes`` adds the covering indexes below,
``--dry-run`` times the engine's dry run too, ``--keep DIR`` keeps the seeded files.)

**Data.** For each size a dealercrm-migrated SQLite file (``dealercrm.connect`` migrates it;
dealer party, 20 sales people and 3 products go through the public API) is seeded fast with
plain ``sqlite3`` ``executemany`` — never part of a measurement — at these ratios per
customer (the defaults give 200,000 customers, 2,000,000 interactions, 400,000 assets):

* 10 interactions: personal ones (calls, visits, personal e-mails) up to the customer's last
  personal contact, and mass mailings (``personal = 0``) up to today — the mailings go on
  when nobody calls any more. ``customer.last_touch_at`` is the latest *personal*
  interaction, as ``record_interaction`` keeps it; about a third of the customers went quiet
  (last personal contact 6 months to 6 years ago), a few never had a personal one;
* 2 assets (0 to 7 each) with prices and purchase dates following a rhythm of the
  customer's own (one every 1-4 years), about a fifth of them stopped buying a while ago;
* 0.25 closed service cases (``--cases-per-customer``), opened between the first purchase and
  today; customers created at their first purchase, or at the "CRM introduction" day for
  older ones (imported with their history);
* earlier firings in ``rule_firing``: for every 20th customer a firing of each rule for its
  *current* situation (so the scan must leave it out) and for every 7th one for an older
  situation (which must not hide the current one).

**What is timed** (each measurement in its own child process on the same file, the OS
cache warm, ``--repeat`` times interleaved, fastest kept):

* ``dealercrm``: the public scan path the engine runs before it acts —
  ``crm = dealercrm.connect(url, clock=ManualClock(NOW))``, ``rule = crm.rules.rule(name)``,
  ``with crm.read(crm.system) as r: ScanContext(crm, r.connection, r.now, crm.rules.settings_for(rule),
  name)`` and iterating ``rule.scan(ctx)`` to the end: the SQLAlchemy-built query (the
  rule's default settings), rows streamed (``yield_per``) and turned into ``Candidate``
  objects with their situation and evidence. Opening the application is not timed. The
  engine's acting on each candidate (``crm.rules.run(name, dry_run=True)``: a task plan,
  budget and consent per candidate) is not the scan; ``--dry-run`` also times it, once, at
  the small size, for information.
* ``sql``: plain ``sqlite3`` on the same file: one hand-written SELECT answering the same
  question (same thresholds, same anti-join with ``rule_firing``, situation string built in
  SQL, the same evidence columns), iterating the cursor to the end.

Times are printed by wall clock (the target) and by the child's CPU time, which is the steadier
figure when other processes share the machine.

Both paths fold every (customer id, situation) into an order-independent digest; the run
checks that the counts and digests match (the same candidate set), and also against a
count worked out in Python from the generated data (the question itself, not either SQL).

**Memory**: each child reports its peak RSS above its RSS just before the scan (its
high-water mark is reset right before) and, in a separate traced run, the ``tracemalloc``
peak of Python allocations during the scan. Flat means about the same at
``--small-customers`` as at ``--customers``, though the candidate count grows 4x.

**Indexes**: ``--extra-indexes`` first creates, in the benchmark files only, the covering
indexes the scans can use — ``asset (customer_id, purchased_on, price, replaces_asset_id)``
and ``service_case (customer_id, opened_at)`` — to show what they would buy (a migration is the
project's business, not this script's).

Target (issue #5): dealercrm / hand-written SQL <= 1.5x for both scans, peak memory flat.
Exit status 1 if a candidate set differs, else 0 (targets are reported, not enforced).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

# bench/ also holds transitions.py: keep the folder off sys.path, or it would shadow the
# ``transitions`` package dealercrm is built on.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # the benchmark's "now" (a ManualClock)
TODAY = NOW.date()
CRM_INTRODUCED = datetime(2019, 1, 7, 8, 0)  # older customers were imported that day, with their history
EPOCH = datetime(1970, 1, 1)
TARGET_RATIO = 1.5
RULES = ("rule_loyal_quiet", "rule_lost_customers")
EXTRA_INDEXES = (
    "CREATE INDEX IF NOT EXISTS bench_asset_customer_purchase ON asset (customer_id, purchased_on, price, "
    "replaces_asset_id)",
    "CREATE INDEX IF NOT EXISTS bench_case_customer_opened ON service_case (customer_id, opened_at)",
)
CHUNK = 20_000


DAY_S = 86400
#: 'YYYY-MM-DD' of each day since 1970 and 'HH:MM:00.000000' of each minute of a day: the
#: seeded timestamps are whole minutes, written as the naive-UTC text dealercrm's UTCDateTime
#: stores on SQLite, without a datetime object per row.
DAY_TEXT = [(date(1970, 1, 1) + timedelta(days=d)).isoformat() for d in range(22_000)]
MINUTE_TEXT = [f"{m // 60:02d}:{m % 60:02d}:00.000000" for m in range(1440)]


def minute(seconds: float) -> int:
    """Seconds since the epoch, floored to the minute (what is stored is what is compared)."""
    return int(seconds) // 60 * 60


def ts(seconds: int) -> str:
    return f"{DAY_TEXT[seconds // DAY_S]} {MINUTE_TEXT[seconds % DAY_S // 60]}"


# -- the data ---------------------------------------------------------------------------------

def exact_counts(rnd: random.Random, n: int, total: int, draw) -> list[int]:
    """``n`` counts drawn with ``draw(rnd)``, nudged at random places to sum to ``total``."""
    counts = [draw(rnd) for _ in range(n)]
    diff = total - sum(counts)
    while diff:
        i = rnd.randrange(n)
        if diff > 0:
            counts[i] += 1
            diff -= 1
        elif counts[i] > 0:
            counts[i] -= 1
            diff += 1
    return counts


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


NOW_S = int((NOW - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
TODAY_D = NOW_S // DAY_S


def thresholds(loyal: dict, lost: dict) -> dict:
    """The rules' settings as the values both paths compare with (text as SQLite stores it)."""
    tenure_day = years_before(TODAY, loyal["min_years"])
    tenure_d = (tenure_day - date(1970, 1, 1)).days
    return dict(quiet_s=NOW_S - loyal["quiet_days"] * DAY_S, tenure_d=tenure_d,
                tenure_s=tenure_d * DAY_S + NOW_S % DAY_S, min_purchases=loyal["min_purchases"],
                min_revenue=loyal["min_revenue"], loyal_when=loyal["loyal_when"], factor=lost["factor"],
                min_events=lost["min_events"], min_history_days=lost["min_history_days"],
                min_days_since=lost["min_days_since"], include_service=lost["include_service"])


def default_settings() -> tuple[dict, dict]:
    from dealercrm.plugins import rule_lost_customers, rule_loyal_quiet
    loyal, lost = dict(rule_loyal_quiet.DEFAULTS), dict(rule_lost_customers.DEFAULTS)
    # the hand-written SQL below is written for these (the defaults); say so if they change
    if not (loyal["loyal_when"] == "all" and loyal["min_purchases"] and loyal["min_years"] and not loyal["min_revenue"]
            and lost["include_service"] == "except_warranty"):
        raise SystemExit("the rules' defaults changed: update bench/scan.py's hand-written SQL to match them")
    return loyal, lost


def seed(db_path: Path, customers: int, cases_per_customer: float, rng_seed: int = 5) -> dict:
    """Migrate through dealercrm, then fill with sqlite3 ``executemany``. Returns the row counts
    and how many candidates each rule should find, worked out here in Python from the
    generated data (the question itself, not either SQL), with the rules' default settings."""
    import dealercrm
    from dealercrm.settings import Settings

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    crm = dealercrm.connect(f"sqlite:///{db_path}", clock=dealercrm.ManualClock(NOW), settings=Settings())
    dealer = crm.parties.add("dealer", "Autohaus Berg", by=crm.system).id
    sellers = [crm.parties.add_actor(dealer, f"Verkauf {n}", "sales", by=crm.system).id for n in range(20)]
    products = [crm.products.add(f"CAR-{n}", name, by=crm.system).id for n, name in enumerate(("Kombi", "Kleinwagen", "SUV"))]
    crm.close()
    t = thresholds(*default_settings())

    rnd = random.Random(rng_seed)
    n_inter = exact_counts(rnd, customers, 10 * customers, lambda r: r.randint(3, 17))
    n_assets = exact_counts(rnd, customers, 2 * customers,
                            lambda r: r.choices(range(8), (12, 28, 24, 16, 10, 5, 3, 2))[0])
    n_cases = exact_counts(rnd, customers, round(cases_per_customer * customers),
                           lambda r: 1 if r.random() < cases_per_customer else 0)
    introduced_s = int((CRM_INTRODUCED - EPOCH).total_seconds())
    expected = {"rule_loyal_quiet": 0, "rule_lost_customers": 0}

    con = sqlite3.connect(db_path, isolation_level=None)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-400000")  # 400 MB: the indexes being filled stay in memory
    sql = {
        "customer": "INSERT INTO customer (id, kind, name, owner_party_id, account_owner_id, created_at, updated_at, "
                    "last_touch_at) VALUES (?, 'person', ?, ?, ?, ?, ?, ?)",
        "asset": "INSERT INTO asset (customer_id, product_id, dealer_party_id, purchased_on, handed_over_on, "
                 "warranty_until, warranty_overridden, price, created_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
        "service_case": "INSERT INTO service_case (workflow, customer_id, summary, priority, state, dealer_party_id, "
                        "state_entered_at, version, opened_at, closed_at, reopen_count, facts) "
                        "VALUES ('service_case', ?, 'Inspektion', 'normal', 'closed', ?, ?, 3, ?, ?, 0, '{}')",
        "interaction": "INSERT INTO interaction (customer_id, channel, direction, summary, personal, actor_id, at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
        "rule_firing": "INSERT INTO rule_firing (rule, subject_kind, subject_id, situation, customer_id, at, outcome) "
                       "VALUES (?, 'customer', ?, ?, ?, ?, 'task')",
    }
    rows: dict[str, list] = {table: [] for table in sql}
    written = dict.fromkeys(sql, 0)

    def flush() -> None:
        con.execute("BEGIN")
        for table, batch in rows.items():  # customers first: the others refer to them
            con.executemany(sql[table], batch)
            written[table] += len(batch)
            batch.clear()
        con.execute("COMMIT")

    personal_kinds = (("phone", "outbound", "Anruf"), ("visit", "inbound", "Besuch im Autohaus"),
                      ("email", "outbound", "persönliche E-Mail"), ("phone", "inbound", "Rückruf"))
    uniform, random_ = rnd.uniform, rnd.random
    yesterday = ts(NOW_S - DAY_S)
    for i in range(customers):
        cid, seller = i + 1, sellers[i % len(sellers)]
        # purchases in a rhythm of the customer's own; a fifth stopped buying a while ago
        k, rhythm = n_assets[i], uniform(365, 4 * 365) * DAY_S
        purchases: list[int] = []
        if k:
            last = NOW_S - (uniform(1.6, 3.5) if random_() < 0.2 else uniform(0, 1.3)) * rhythm
            purchases = sorted(minute(last - j * rhythm * uniform(0.8, 1.2)) for j in range(k))
            start = minute(purchases[0] - uniform(0, 200) * DAY_S)
            busy_until = min(NOW_S, purchases[-1] + int(rhythm))
        else:
            start, busy_until = minute(NOW_S - uniform(0.3, 12) * 365 * DAY_S), NOW_S
        created = max(start, introduced_s)
        # personal contact up to a last touch (a third went quiet, a few never had one); the
        # mass mailings go on to this day
        quiet_for = uniform(181, 6 * 365) if random_() < 0.33 else uniform(0, 175)
        touch_until = minute(max(NOW_S - quiet_for * DAY_S, min(start + 30 * DAY_S, NOW_S - 3600)))
        m = n_inter[i]
        p = 0 if random_() < 0.03 else min(m, max(1, round(m * uniform(0.3, 0.8))))
        last_touch = touch_until if p else None
        add = rows["interaction"].append
        for j in range(m):
            if j < p:
                channel, direction, summary = personal_kinds[j % 4]
                add((cid, channel, direction, summary, 1, seller,
                     ts(touch_until if j == 0 else minute(uniform(start, touch_until)))))
            else:
                add((cid, "email", "outbound", "Newsletter", 0, None, ts(minute(uniform(start, NOW_S)))))
        rows["customer"].append((cid, f"Kunde {cid}", dealer, seller, ts(created), ts(created),
                                 ts(last_touch) if last_touch is not None else None))
        revenue = 0.0
        for at in purchases:
            day, price = DAY_TEXT[at // DAY_S], float(rnd.randrange(15_000, 60_000, 500))
            revenue += price
            rows["asset"].append((cid, products[i % 3], dealer, day, day, DAY_TEXT[at // DAY_S + 730], price,
                                  ts(max(at, created))))
        case_days = []
        for _ in range(n_cases[i]):
            opened = minute(uniform(start, busy_until))
            case_days.append(opened // DAY_S)
            rows["service_case"].append((cid, dealer, ts(opened + 5 * DAY_S), ts(opened), ts(opened + 5 * DAY_S)))

        # the questions, answered in Python
        purchase_days = [at // DAY_S for at in purchases]
        criteria = [k >= t["min_purchases"] if t["min_purchases"] else None,
                    (purchase_days[0] <= t["tenure_d"] or created <= t["tenure_s"]) if k else None,
                    revenue >= t["min_revenue"] if t["min_revenue"] else None]
        criteria = [c for c in criteria if c is not None]
        loyal = bool(k) and (all(criteria) if t["loyal_when"] == "all" else any(criteria))
        quiet = (last_touch < t["quiet_s"]) if last_touch is not None else created < t["quiet_s"]
        quiet_situation = f"quiet-since:{DAY_TEXT[last_touch // DAY_S] if last_touch is not None else 'never'}"
        days = sorted(set(purchase_days) | (set(case_days) if t["include_service"] else set()))
        lost, lost_situation = False, None
        if days:
            lost_situation = f"lost-since:{DAY_TEXT[days[-1]]}"
            since, span = TODAY_D - days[-1], days[-1] - days[0]
            lost = (len(days) >= t["min_events"] and span >= t["min_history_days"] and since >= t["min_days_since"]
                    and since * (len(days) - 1) >= t["factor"] * span)
        fired_now = i % 20 == 0  # an earlier tick already fired for the current situation
        if fired_now:
            rows["rule_firing"].append(("rule_loyal_quiet", cid, quiet_situation, cid, yesterday))
            if lost_situation:
                rows["rule_firing"].append(("rule_lost_customers", cid, lost_situation, cid, yesterday))
        if i % 7 == 0:  # an older situation, fired long ago: must not hide the current one
            if quiet_situation != "quiet-since:2018-01-01":
                rows["rule_firing"].append(("rule_loyal_quiet", cid, "quiet-since:2018-01-01", cid, ts(introduced_s)))
            if lost_situation != "lost-since:1999-12-31":
                rows["rule_firing"].append(("rule_lost_customers", cid, "lost-since:1999-12-31", cid,
                                            ts(introduced_s)))
        expected["rule_loyal_quiet"] += loyal and quiet and not fired_now
        expected["rule_lost_customers"] += lost and not fired_now
        if len(rows["interaction"]) >= 10 * CHUNK:
            flush()
    flush()
    con.close()
    with sqlite3.connect(db_path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return dict(counts=written, expected=expected)


# -- the hand-written SQL ---------------------------------------------------------------------

HAND_SQL = {
    # loyal (>= N purchases, i.e. assets except free replacements; first purchase or customer
    # since >= Y years) and no personal touch since the limit (never touched: created before
    # it), not fired for this situation yet
    "rule_loyal_quiet": """
        SELECT c.id, 'quiet-since:' || coalesce(substr(c.last_touch_at, 1, 10), 'never'),
               substr(c.last_touch_at, 1, 10), substr(c.created_at, 1, 10),
               count(a.id), min(a.purchased_on), coalesce(sum(a.price), 0)
        FROM customer c JOIN asset a ON a.customer_id = c.id AND (a.replaces_asset_id IS NULL OR a.price > 0)
        WHERE c.erased_at IS NULL AND c.merged_into_id IS NULL
          AND (c.last_touch_at < :quiet OR (c.last_touch_at IS NULL AND c.created_at < :quiet))
          AND NOT EXISTS (SELECT 1 FROM rule_firing f
                          WHERE f.rule = 'rule_loyal_quiet' AND f.subject_kind = 'customer' AND f.subject_id = c.id
                            AND f.situation = 'quiet-since:' || coalesce(substr(c.last_touch_at, 1, 10), 'never'))
        GROUP BY c.id
        HAVING count(a.id) >= :min_purchases AND (min(a.purchased_on) <= :tenure_day OR c.created_at <= :tenure_at)
    """,
    # purchase and service-visit days per customer (no case opened in warranty: the seed has
    # none, so its Python answer counts every case); flagged when they span the minimum history
    # and the time since the last one is >= factor x the mean gap between them, not fired for
    # this last day yet
    "rule_lost_customers": """
        WITH events (customer_id, day) AS (
            SELECT customer_id, purchased_on FROM asset WHERE purchased_on IS NOT NULL
            UNION ALL
            SELECT customer_id, substr(opened_at, 1, 10) FROM service_case
            WHERE warranty_status IS NULL OR warranty_status != 'in'),
        rhythm AS (
            SELECT customer_id, count(DISTINCT day) AS n, min(day) AS first, max(day) AS last
            FROM events GROUP BY customer_id HAVING count(DISTINCT day) >= :min_events)
        SELECT c.id, 'lost-since:' || r.last, r.n, r.first, r.last,
               CAST(julianday(r.last) - julianday(r.first) AS INTEGER),
               CAST(julianday(:today) - julianday(r.last) AS INTEGER)
        FROM rhythm r JOIN customer c ON c.id = r.customer_id
        WHERE c.erased_at IS NULL AND c.merged_into_id IS NULL
          AND julianday(r.last) - julianday(r.first) >= :min_history_days
          AND julianday(:today) - julianday(r.last) >= :min_days_since
          AND (julianday(:today) - julianday(r.last)) * (r.n - 1) >= :factor * (julianday(r.last) - julianday(r.first))
          AND NOT EXISTS (SELECT 1 FROM rule_firing f
                          WHERE f.rule = 'rule_lost_customers' AND f.subject_kind = 'customer'
                            AND f.subject_id = c.id AND f.situation = 'lost-since:' || r.last)
    """,
}


def hand_params() -> dict:
    t = thresholds(*default_settings())
    return dict(quiet=ts(t["quiet_s"]), tenure_day=DAY_TEXT[t["tenure_d"]], tenure_at=ts(t["tenure_s"]),
                min_purchases=t["min_purchases"], today=DAY_TEXT[TODAY_D], min_events=t["min_events"],
                min_history_days=t["min_history_days"], min_days_since=t["min_days_since"], factor=t["factor"])


# -- measurements (each in a child process) ---------------------------------------------------

def _rss_kb(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:  # "5" resets the kernel's high-water mark (VmHWM) of this process
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def phase(kind: str, rule: str, db: Path, trace: bool = False) -> dict:
    """One measurement: stream every candidate of ``rule`` through ``kind``'s path."""
    import tracemalloc
    import zlib

    if kind == "dealercrm":
        import dealercrm
        from dealercrm.rules import ScanContext
        from dealercrm.settings import Settings

        crm = dealercrm.connect(f"sqlite:///{db}", clock=dealercrm.ManualClock(NOW), settings=Settings())
        the_rule = crm.rules.rule(rule)
        settings = crm.rules.settings_for(the_rule)

        def candidates():
            with crm.read(crm.system) as reader:  # what RuleEngine.run does before it acts on each batch
                ctx = ScanContext(crm, reader.connection, reader.now, settings, rule)
                for candidate in the_rule.scan(ctx):
                    yield candidate.subject_id, candidate.situation
    elif kind == "sql":
        sql, params = HAND_SQL[rule], hand_params()
        con = sqlite3.connect(db)

        def candidates():
            for row in con.execute(sql, params):
                yield row[0], row[1]
    else:  # dryrun: the whole engine, acting in a dry run (a plan per candidate), for information
        import dealercrm
        from dealercrm.settings import Settings

        crm = dealercrm.connect(f"sqlite:///{db}", clock=dealercrm.ManualClock(NOW), settings=Settings())

        def candidates():
            for plan in crm.rules.run(rule, dry_run=True)[0].planned:
                yield plan["subject"], plan["situation"]

    ready_kb = _rss_kb()
    peak_reset = _reset_peak()
    if trace:
        tracemalloc.start()
        traced_before = tracemalloc.get_traced_memory()[0]
    n = digest = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for subject, situation in candidates():
        n += 1
        digest = (digest + zlib.crc32(f"{subject}:{situation}".encode())) & 0xFFFFFFFFFFFF
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    out = dict(n=n, digest=f"{digest:012x}", seconds=seconds, cpu=cpu, ready_kb=ready_kb,
               peak_kb=_rss_kb("VmHWM") if peak_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               peak_reset=peak_reset)
    if trace:
        out["traced_peak_kb"] = (tracemalloc.get_traced_memory()[1] - traced_before) / 1024
        tracemalloc.stop()
    return out


def run_child(kind: str, rule: str, db: Path, trace: bool = False) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--phase", kind, "--rule", rule, "--db", str(db)]
    if trace:
        cmd.append("--trace")
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{kind} child for {rule} failed with status {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def query_plan(db: Path, rule: str) -> list[str]:
    """EXPLAIN QUERY PLAN of the rule's own query (with its parameters), for the report."""
    import dealercrm
    from dealercrm.rules import ScanContext
    from dealercrm.settings import Settings

    crm = dealercrm.connect(f"sqlite:///{db}", clock=dealercrm.ManualClock(NOW), settings=Settings())
    try:
        the_rule = crm.rules.rule(rule)
        with crm.read(crm.system) as reader:
            ctx = ScanContext(crm, reader.connection, reader.now, crm.rules.settings_for(the_rule), rule)
            compiled = the_rule.query(ctx).compile(reader.connection)
            params = compiled.construct_params()
            processors = compiled._bind_processors
            values = tuple(processors[k](params[k]) if k in processors else params[k] for k in compiled.positiontup)
            raw = reader.connection.connection.dbapi_connection
            return [row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + str(compiled), values)]
    finally:
        crm.close()


# -- the driver -------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=200_000,
                    help="customers in the big file (10 interactions, 2 assets each; default 200000)")
    ap.add_argument("--small-customers", type=int, default=50_000,
                    help="customers in the small file, to show memory does not grow with the file (default 50000)")
    ap.add_argument("--cases-per-customer", type=float, default=0.25, help="closed service cases (default 0.25)")
    ap.add_argument("--repeat", type=int, default=3, help="time each path this many times, keep the fastest (3)")
    ap.add_argument("--extra-indexes", action="store_true",
                    help="create the covering indexes the scans could use (in the benchmark files only)")
    ap.add_argument("--no-tracemalloc", action="store_true", help="skip the traced runs")
    ap.add_argument("--dry-run", action="store_true",
                    help="also time crm.rules.run(name, dry_run=True) once at the small size (for information)")
    ap.add_argument("--keep", type=Path, help="keep the seeded files in this folder")
    ap.add_argument("--phase", choices=("dealercrm", "sql", "dryrun"), help=argparse.SUPPRESS)
    ap.add_argument("--rule", choices=RULES, help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.phase:  # child: one measurement, one JSON line on stdout
        print(json.dumps(phase(args.phase, args.rule, args.db, args.trace)))
        return 0

    sizes = sorted({args.small_customers, args.customers}) if 0 < args.small_customers < args.customers \
        else [args.customers]
    started = time.perf_counter()
    print(f"dealercrm scan benchmark: Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, sizes "
          f"{', '.join(f'{n:,}' for n in sizes)} customers, repeat {args.repeat}, "
          f"extra indexes: {'yes' if args.extra_indexes else 'no'}", flush=True)
    results: dict[int, dict] = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dealercrm-scan-") as tmp_name:
        folder = args.keep or Path(tmp_name)
        folder.mkdir(parents=True, exist_ok=True)
        for n in sizes:
            db = folder / f"scan_{n}.db"
            t0 = time.perf_counter()
            seeded = seed(db, n, args.cases_per_customer)
            c = seeded["counts"]
            print(f"\n{n:,} customers: seeded {c['customer']:,} customers, {c['interaction']:,} interactions, "
                  f"{c['asset']:,} assets, {c['service_case']:,} service cases, {c['rule_firing']:,} earlier firings "
                  f"in {time.perf_counter() - t0:.1f} s ({db.stat().st_size / 1e6:.0f} MB)", flush=True)
            if args.extra_indexes:
                with sqlite3.connect(db) as con:
                    for statement in EXTRA_INDEXES:
                        con.execute(statement)
            res = results[n] = {}
            for rule in RULES:
                best: dict[str, dict] = {}
                for _ in range(args.repeat):
                    for kind in ("sql", "dealercrm"):
                        r = run_child(kind, rule, db)
                        if kind not in best or r["seconds"] < best[kind]["seconds"]:
                            best[kind] = {**r, "cpu": min(r["cpu"], best.get(kind, r)["cpu"]),
                                          "peak_kb": max(r["peak_kb"] - r["ready_kb"], 0)}
                        else:
                            best[kind]["cpu"] = min(best[kind]["cpu"], r["cpu"])
                        best[kind].setdefault("peaks", []).append(max(r["peak_kb"] - r["ready_kb"], 0))
                a, b = best["dealercrm"], best["sql"]
                want = seeded["expected"][rule]
                same = a["n"] == b["n"] == want and a["digest"] == b["digest"]
                if not same:
                    problems.append(f"{rule} at {n:,}: dealercrm {a['n']} ({a['digest']}), sql {b['n']} "
                                    f"({b['digest']}), expected {want}")
                if not args.no_tracemalloc:
                    a["traced_peak_kb"] = run_child("dealercrm", rule, db, trace=True)["traced_peak_kb"]
                if args.dry_run and n == sizes[0]:
                    d = run_child("dryrun", rule, db)
                    a["dry_run"] = d
                    if d["n"] != a["n"] or d["digest"] != a["digest"]:
                        problems.append(f"{rule} dry run at {n:,}: {d['n']} planned, scan {a['n']}")
                res[rule] = best
                verdict = "same set on both paths and as expected" if same else "MISMATCH"
                print(f"  {rule:20s} {a['n']:>7,} candidates ({verdict})  sql {b['seconds']:6.3f} s "
                      f"({b['cpu']:.3f} s CPU)  dealercrm {a['seconds']:6.3f} s ({a['cpu']:.3f} s CPU)  "
                      f"ratio {a['seconds'] / b['seconds']:.2f} (CPU {a['cpu'] / b['cpu']:.2f})  "
                      f"peak RSS +{a['peak_kb'] / 1024:.1f} MB"
                      + (f", tracemalloc peak {a['traced_peak_kb']:.0f} KB" if "traced_peak_kb" in a else "")
                      + (f"; dry run {a['dry_run']['seconds']:.1f} s" if "dry_run" in a else ""), flush=True)
            if n == sizes[-1]:
                for rule in RULES:
                    print(f"  query plan of {rule}: " + " | ".join(query_plan(db, rule)))
            if not args.keep:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)

    print("\n== summary " + "=" * 89)
    print(f"{'customers':>10}  {'rule':20} {'candidates':>10} {'sql s':>7} {'dealercrm s':>11} {'ratio':>6} "
          f"{'CPU ratio':>9} {'peak RSS +MB':>12} {'tracemalloc KB':>14}")
    for n in sizes:
        for rule in RULES:
            a, b = results[n][rule]["dealercrm"], results[n][rule]["sql"]
            print(f"{n:>10,}  {rule:20} {a['n']:>10,} {b['seconds']:7.3f} {a['seconds']:11.3f} "
                  f"{a['seconds'] / b['seconds']:6.2f} {a['cpu'] / b['cpu']:9.2f} {a['peak_kb'] / 1024:12.1f} "
                  f"{a.get('traced_peak_kb', float('nan')):14.0f}")
    big = sizes[-1]
    for rule in RULES:
        a, b = results[big][rule]["dealercrm"], results[big][rule]["sql"]
        ratio = a["seconds"] / b["seconds"]
        print(f"{rule} at {big:,} customers: dealercrm / hand-written SQL = {ratio:.2f} by wall time, "
              f"{a['cpu'] / b['cpu']:.2f} by CPU time; target <= {TARGET_RATIO}: "
              f"{'met' if ratio <= TARGET_RATIO else 'MISSED'}")
        if len(sizes) > 1:
            small = results[sizes[0]][rule]["dealercrm"]
            growth = (a["peak_kb"] - small["peak_kb"]) / 1024
            print(f"  memory: peak RSS above the start of the scan {small['peak_kb'] / 1024:.1f} MB at "
                  f"{sizes[0]:,} vs {a['peak_kb'] / 1024:.1f} MB at {big:,} ({growth:+.1f} MB for "
                  f"{a['n'] / max(small['n'], 1):.1f}x the candidates)"
                  + (f"; tracemalloc peak {small['traced_peak_kb']:.0f} KB vs {a['traced_peak_kb']:.0f} KB"
                     if "traced_peak_kb" in a else ""))
    print(f"same candidate sets on both paths, and as worked out from the generated data: "
          f"{'yes' if not problems else 'NO: ' + '; '.join(problems)}")
    print(f"(total {time.perf_counter() - started:.0f} s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
