"""Shared by ``bench/transitions.py`` and ``bench/tick.py``: a dealercrm-migrated SQLite
database with parties, actors and many open service cases, seeded fast.

Parties and actors go through the public API (a handful); customers, cases and their
"opened" history rows go in with sqlite3 ``executemany`` in 10,000-row chunks, with
timestamps in the text form dealercrm's column type stores (checked: dealercrm reads them
back as aware UTC datetimes and finds exactly the overdue ones). Seeding is never part of a
measurement.
"""

from __future__ import annotations

import os
import random
import resource
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

UTC = timezone.utc
#: The benchmarks' "now": a Monday morning inside the default 08:00-17:00 Berlin calendar.
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CHUNK = 10_000

DEALERS = (("Elektro Schmidt", "DE"), ("Küchenwelt Meyer", "DE"), ("Haushalt Huber", "AT"), ("Weiße Ware Nord", "DE"))
MANUFACTURERS = (("Brioche Hausgeräte", "DE"), ("Frostkalt GmbH", "DE"))
TECHNICIANS = (("Technik-Service Nord", "DE"), ("Kundendienst Süd", "DE"))

#: Open states of the service-case workflow and the kind of party that owns them.
OPEN_STATES = (
    ("reported", "dealer"), ("dealer_diagnosis", "dealer"), ("manufacturer_review", "manufacturer"),
    ("technician_dispatch", "technician"), ("visit_scheduled", "technician"), ("waiting_for_parts", "manufacturer"),
    ("dealer_decision", "dealer"), ("replacement", "dealer"), ("dealer_repair", "dealer"),
    ("waiting_for_customer", "customer"), ("awaiting_confirmation", "customer"),
)
#: Where overdue cases sit in ``bench/tick.py``: each one's timeout goes to ``dealer_decision``.
OVERDUE_STATES = (("manufacturer_review", "manufacturer"), ("technician_dispatch", "technician"),
                  ("visit_scheduled", "technician"), ("waiting_for_parts", "manufacturer"),
                  ("dealer_diagnosis", "dealer"))


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def checkpoint(path: Path) -> None:
    """Fold the WAL into the main file so a plain file copy is the whole database."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def copy_db(src: Path, dst: Path) -> None:
    import shutil
    remove_db(dst)
    checkpoint(src)
    shutil.copyfile(src, dst)


def build_world(db_path: Path) -> dict:
    """Migrate a fresh database and add parties and actors through the public API."""
    import dealercrm
    from dealercrm.settings import Settings

    remove_db(db_path)
    crm = dealercrm.connect(f"sqlite:///{db_path}", clock=dealercrm.ManualClock(NOW - timedelta(days=60)),
                            settings=Settings())
    world: dict = {"dealers": [], "manufacturers": [], "technicians": [], "system_actor_id": crm.system_actor_id}
    for kind, names, role in (("dealer", DEALERS, "service"), ("manufacturer", MANUFACTURERS, "warranty"),
                              ("technician", TECHNICIANS, "fitter")):
        for name, region in names:
            party = crm.parties.add(kind, name, region=region)
            actor = crm.parties.add_actor(party.id, f"{role} desk of {name}", role)
            world[f"{kind}s"].append({"party_id": party.id, "actor_id": actor.id, "region": region})
    crm.close()
    return world


def seed_cases(db_path: Path, world: dict, n_cases: int, *, n_overdue: int = 0, all_in: str | None = None,
               seed: int = 3) -> dict:
    """Add ``n_cases`` open cases (one customer each, with an e-mail address, so notification
    plugins have somewhere to write) and their "opened" history rows.

    ``all_in="manufacturer_review"`` puts every case there with a future deadline (the
    transitions benchmark); otherwise the cases are spread over all open states with future
    deadlines, and ``n_overdue`` of them, spread over the table, sit in states handed to
    someone else with a deadline 1 minute to 5 days in the past (the tick benchmark).
    Rows go in with sqlite3 ``executemany``, timestamps as dealercrm stores them (naive UTC
    text, see ``db_text``). Returns the case ids (in order) and the overdue ids.
    """
    rnd = random.Random(seed)
    by_kind = {"dealer": world["dealers"], "manufacturer": world["manufacturers"], "technician": world["technicians"]}
    overdue = set(rnd.sample(range(n_cases), n_overdue)) if n_overdue else set()
    t0 = time.perf_counter()
    con = sqlite3.connect(db_path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA foreign_keys=ON")
    first_customer = con.execute("SELECT coalesce(max(id), 0) FROM customer").fetchone()[0]
    first_case = con.execute("SELECT coalesce(max(id), 0) FROM service_case").fetchone()[0]
    insert_customer = ("INSERT INTO customer (id, kind, name, email, owner_party_id, created_at, updated_at) "
                       "VALUES (?, 'person', ?, ?, ?, ?, ?)")
    insert_case = ("INSERT INTO service_case (id, workflow, customer_id, summary, priority, state, owner_kind, "
                   "owner_party_id, dealer_party_id, manufacturer_party_id, technician_party_id, due_at, "
                   "state_entered_at, paused_remaining_s, paused_from, version, opened_at, reopen_count) "
                   "VALUES (?, 'service_case', ?, 'washes badly, clothes come out dirty', 'normal', ?, ?, ?, ?, ?, ?, "
                   "?, ?, ?, ?, 1, ?, 0)")
    insert_event = ("INSERT INTO case_event (case_id, kind, to_state, actor_id, party_id, owner_party_id, due_at, at, "
                    "version) VALUES (?, 'opened', 'reported', ?, ?, ?, ?, ?, 1)")
    case_ids, overdue_ids = [], []
    for start in range(0, n_cases, CHUNK):
        customers, cases, events = [], [], []
        for i in range(start, min(n_cases, start + CHUNK)):
            customer_id, case_id = first_customer + 1 + i, first_case + 1 + i
            dealer = by_kind["dealer"][i % len(by_kind["dealer"])]
            manufacturer = by_kind["manufacturer"][i % len(by_kind["manufacturer"])]
            technician = by_kind["technician"][i % len(by_kind["technician"])]
            if all_in:
                state, owner_kind = all_in, dict(OPEN_STATES)[all_in]
            elif i in overdue:
                state, owner_kind = OVERDUE_STATES[i % len(OVERDUE_STATES)]
            else:
                state, owner_kind = OPEN_STATES[i % len(OPEN_STATES)]
            if i in overdue:
                due = NOW - timedelta(minutes=rnd.randint(1, 5 * 24 * 60))
            else:
                due = NOW + timedelta(minutes=rnd.randint(60, 10 * 24 * 60))
            entered = min(due - timedelta(days=2), NOW - timedelta(minutes=5))
            opened = entered - timedelta(days=rnd.randint(0, 10), minutes=rnd.randint(0, 600))
            owner = dealer if owner_kind in ("dealer", "customer") else by_kind[owner_kind][i % len(by_kind[owner_kind])]
            paused = state == "waiting_for_customer"
            opened_db = db_text(opened)
            customers.append((customer_id, f"Kundin {i}", f"kundin.{customer_id}@example.org", dealer["party_id"],
                              opened_db, opened_db))
            cases.append((case_id, customer_id, state, owner_kind, owner["party_id"], dealer["party_id"],
                          manufacturer["party_id"], technician["party_id"] if owner_kind == "technician" else None,
                          db_text(due), db_text(entered), 3600.0 if paused else None,
                          "dealer_diagnosis" if paused else None, opened_db))
            events.append((case_id, dealer["actor_id"], dealer["party_id"], dealer["party_id"], db_text(due),
                           opened_db))
            case_ids.append(case_id)
            if i in overdue:
                overdue_ids.append(case_id)
        con.execute("BEGIN IMMEDIATE")
        con.executemany(insert_customer, customers)
        con.executemany(insert_case, cases)
        con.executemany(insert_event, events)
        con.execute("COMMIT")
    con.close()
    return {"case_ids": case_ids, "overdue_ids": sorted(overdue_ids), "seconds": time.perf_counter() - t0}


# -- measuring helpers shared by both scripts -------------------------------------------------

def rss_now_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def machine_line() -> str:
    import platform
    return (f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.2f}")


def db_text(dt: datetime | None) -> str | None:
    """A timestamp as dealercrm (SQLAlchemy's SQLite DateTime) stores it: naive UTC text."""
    if dt is None:
        return None
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
