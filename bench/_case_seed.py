"""Shared by ``bench/transitions.py`` and ``bench/tick.py``: a dealercrm-migrated SQLite
database with parties, actors and many open service cases, seeded fast.

Parties and actors go through the public API (a handful); customers, cases and their
"opened" history rows go in with sqlite3 ``executemany`` in 10,000-row chunks, with
timestamps in the text form dealercrm's column type stores (checked: dealercrm reads them
back as aware UTC datetimes and finds exactly the overdue ones). Seeding is never part of a
measurement.
"""

from __future__ import annotations

import json
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
            party = crm.parties.add(kind, name, region=region, by=crm.system)
            actor = crm.parties.add_actor(party.id, f"{role} desk of {name}", role, by=crm.system)
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
    # history from before the benchmark: its notices were queued long ago (noticed_at set)
    insert_event = ("INSERT INTO case_event (case_id, kind, to_state, actor_id, party_id, owner_party_id, due_at, at, "
                    "version, noticed_at) VALUES (?, 'opened', 'reported', ?, ?, ?, ?, ?, 1, ?)")
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
                           opened_db, opened_db))
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


# -- the hand-off notification, as the baselines write it ---------------------------------------

OUTBOX_COLUMNS = ("id", "idempotency_key", "customer_id", "channel", "purpose", "recipient", "subject", "body", "data",
                  "origin", "case_id", "status", "reason", "attempts", "next_attempt_at", "created_at")
PERSONAL = ("recipient", "subject", "body", "data")  # OutboxMessage.__personal__


#: the e-mail channel is offered only once configured: without it dealercrm's hand-off notices have
#: no channel to go by and write nothing (nothing is sent by the benchmarks: notices are only queued)
NOTICE_PLUGINS = {"channel_email": {"host": "localhost"}}


def notice_texts() -> dict:
    from dealercrm.plugins.case_notifications import TEXTS  # the same words: rows of the same size
    return TEXTS["de"]


def notice_values(texts: dict, names: dict, handoff: tuple, email: str, now: datetime, key: str) -> dict:
    """The outbox row ``case_notifications`` writes for one hand-off (no id)."""
    from dealercrm.plugins.case_notifications import local_times, words_for, zone_of

    case_id, customer_id, dealer, to_party, to_kind, state, due = handoff[:7]
    day, until = local_times(due, zone_of(None), "de", texts)  # the plugin's own words, in German, for Berlin
    subject, line = words_for(state, None, to_kind, texts)
    fields = dict(case_id=case_id, party=names.get(to_party, "?"), day=day, due=until, dealer=names.get(dealer, ""))
    body = texts["body"].format(case_id=case_id, line=line.format(**fields), dealer=fields["dealer"], question="")
    return dict(idempotency_key=key, customer_id=customer_id, channel="email", purpose="service", recipient=email,
                subject=subject.format(**fields), body=body,
                data={"case_id": case_id, "state": state, "template": "case_handed_over"}, origin="case_notifications",
                case_id=case_id, status="pending", reason=None, attempts=0, next_attempt_at=now, created_at=now)


def notice_audit(values: dict) -> tuple[dict, dict]:
    """The audit record's ``changes`` and ``personal_changes`` for an outbox row, as dealercrm writes them."""
    changes = {k: [None, v] for k, v in values.items()
               if k not in PERSONAL and v is not None and k not in ("id", "next_attempt_at", "created_at")}
    return changes, {k: [None, values[k]] for k in PERSONAL}


def allowed(customer_id: int, email, erased, merged, consent) -> None:
    if not email or erased or merged or consent is False:
        raise RuntimeError(f"customer {customer_id}: the benchmark's notices are all allowed")


class RawHandOffNotices:
    """The rows dealercrm's ``case_notifications`` plugin writes for each hand-off, written
    with plain sqlite3 so that the end-to-end baselines do the same writes as dealercrm: per
    batch one SELECT of the customers' e-mail address, erasure/merge marks and latest e-mail
    service consent; per hand-off an ``outbox_message`` row, its ``audit_record`` row (the
    same JSON shapes) and a ``contact_ledger`` row. Party names are read once up front (a
    hand-written program would keep them; dealercrm reads them per batch of notices).

    The baselines write these rows in the transaction of the hand-off itself, as a
    hand-written program would; dealercrm queues them after the hand-off committed
    (``dealercrm.services.notices``), so its transition's transaction holds only the case,
    its history row and its audit row (what ``bench/transitions.py``'s ``raw`` path writes)."""

    def __init__(self, con: sqlite3.Connection) -> None:
        import uuid

        from dealercrm.plugins.case_notifications import local_times, zone_of

        self.local_times, self.zone_of = local_times, zone_of
        self.texts, self.uuid4 = notice_texts(), uuid.uuid4
        self.told: dict[int, str] = {}  # per case the subject of its last notice: the next never repeats it
        self.held: dict[int, tuple] = {}  # per case who holds it after its last notice
        self.handed_over: set[int] = set()  # cases whose first hand-off was told (with its promise)
        self.names = dict(con.execute("SELECT id, name FROM party").fetchall())
        self.insert_outbox = (f"INSERT INTO outbox_message ({', '.join(OUTBOX_COLUMNS)}) "
                              f"VALUES ({', '.join('?' * len(OUTBOX_COLUMNS))})")
        self.insert_audit = ("INSERT INTO audit_record (at, actor_id, operation, action, entity, entity_id, changes, "
                             "personal_changes, customer_id) VALUES (?, ?, ?, 'insert', 'outbox_message', ?, ?, ?, ?)")
        self.insert_ledger = ("INSERT INTO contact_ledger (customer_id, purpose, channel, kind, ref_id, at) "
                              "VALUES (?, 'service', 'email', 'message', ?, ?)")

    @staticmethod
    def people(con, customer_ids: list[int], now_db: str) -> dict[int, tuple]:
        marks = ", ".join("?" * len(customer_ids))
        return {row[0]: row[1:] for row in con.execute(
            "SELECT c.id, c.email, c.erased_at, c.merged_into_id, (SELECT granted FROM consent WHERE customer_id = "
            "c.id AND channel = 'email' AND purpose = 'service' AND at <= ? ORDER BY at DESC, id DESC LIMIT 1) "
            f"FROM customer c WHERE c.id IN ({marks})", (now_db, *customer_ids))}

    def write(self, con, handoffs: list[tuple], now: datetime, actor_id: int, operation: str) -> int:
        """``handoffs``: (case id, customer id, dealer party, to party, to kind, state, due[, version]) each."""
        if not handoffs:
            return 0
        now_db = db_text(now)
        people = self.people(con, sorted({h[1] for h in handoffs}), now_db)
        next_id = con.execute("SELECT coalesce(max(id), 0) + 1 FROM outbox_message").fetchone()[0]
        dumps = json.dumps
        messages, audits, ledger = [], [], []
        for offset, handoff in enumerate(handoffs):
            customer_id = handoff[1]
            allowed(customer_id, *people[customer_id])
            values = {"id": next_id + offset, **notice_values(self.texts, self.names, handoff, people[customer_id][0],
                                                             now, f"dcrm-{self.uuid4().hex}")}
            # a case's first hand-off — the first move after which another than the party it was opened
            # with (its dealer) holds it — says by when it is resolved; the hand-off's deadline stands in
            # for dealercrm's promise (the same words, the same length)
            holder = (handoff[3], handoff[4])
            if handoff[0] not in self.handed_over and holder != self.held.get(handoff[0], (handoff[2], "dealer")):
                self.handed_over.add(handoff[0])
                values["body"] += self.texts["promise"].format(resolved_by=self.local_times(
                    handoff[6], self.zone_of(None), "de", self.texts)[1])
            self.held[handoff[0]] = holder
            if self.told.get(handoff[0]) == values["subject"]:  # as case_notifications: an update says so
                values["subject"] += self.texts["again"].format(version=handoff[7] if len(handoff) > 7 else "")
            self.told[handoff[0]] = values["subject"]
            values["next_attempt_at"] = values["created_at"] = now_db
            messages.append(tuple(dumps(values[c]) if c == "data" else values[c] for c in OUTBOX_COLUMNS))
            changes, personal = notice_audit(values)
            audits.append((now_db, actor_id, operation, values["id"], dumps(changes), dumps(personal), customer_id))
            ledger.append((customer_id, values["id"], now_db))
        con.executemany(self.insert_outbox, messages)
        con.executemany(self.insert_audit, audits)
        con.executemany(self.insert_ledger, ledger)
        return len(messages)
