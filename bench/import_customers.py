"""Benchmark: importing customers from CSV, dealercrm against a raw-sqlite3 baseline (issue #2).

Run it from the repository root with the project's virtualenv:

    python bench/import_customers.py [--rows N]
    python bench/import_customers.py --rows 200000 --small-rows 50000 --repeat 3 --chunk-size 2000

(``--repeat`` interleaves the measurements and keeps the fastest of each, for a noisy
machine; the defaults take about three minutes on two cores.)

It writes a realistic CSV of N customers (default 200,000) into a temporary directory:
external_id, name, email, phone (German numbers typed in mixed formats), birthday, street,
postcode, city and a few interests ("skiing;golf"); a fifth of the birthdays are written
day first as a German spreadsheet does (``14.02.1978``), which the import reads. About 1%
of the rows are bad (an invalid e-mail; an impossible date, ISO or dotted, or a slashed
one like ``02/03/1985``, which is a different day in Germany and in the US and so is
refused rather than guessed; or an e-mail that an earlier row already uses, in other
letter case), at random places so chunks differ in how many rows they keep; the error
path is exercised too.

Each measurement runs in its own child process (so its peak RSS, read with
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` in the child, is its own):

* ``dealercrm``: ``crm = dealercrm.connect("sqlite:///<tmp>/a.db")``, add the dealer party,
  then time ``crm.imports.run(path, by=crm.system)`` (the public API, default chunk size).
* ``baseline``: a database migrated by dealercrm (same tables, indexes, triggers), then
  the same ``csv.DictReader`` streaming and the same ``dealercrm.validation`` calls
  (email / phone / spreadsheet_date + birthday) on every row, and plain ``sqlite3`` ``executemany`` inserts
  of customer, audit_record and interest rows of the same shape (same columns, same JSON
  in ``changes`` / ``personal_changes``), WAL + synchronous=NORMAL + foreign_keys=ON,
  one ``BEGIN IMMEDIATE`` ... ``COMMIT`` per chunk of the same size. Duplicates are found
  the way a careful hand-written importer would: per chunk, ``IN (...)`` queries for known
  external ids, e-mails and phones (in lists of fixed lengths, as dealercrm does, so the
  sqlite3 statement cache stays small), plus the rows already seen in the chunk (earlier
  chunks are committed, so the queries see them). Customer ids are assigned from
  ``max(id)`` under the write lock, the cheapest correct way with plain sqlite3.

Both are run on a small file (default 50,000 rows) and on the full file, to show that
peak memory does not grow with the file. What both paths leave behind is compared so the
rates compare the same work: rows read, imported and rejected (and the rejected line
numbers), customer / audit / interest row counts, a digest of the stored customer values
and interests, and that every customer has its audit row with its own values. Rates are
printed by wall time (the target) and by the child's CPU time (steadier when other
processes share the machine).

Targets (issues #2, #15): dealercrm/baseline rows/s >= 0.7 at 200,000 rows, peak RSS < 200 MB at both
sizes (flat).
The process exits with status 1 if a count differs, 0 otherwise (the targets are reported,
not enforced).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# ``python bench/import_customers.py`` puts bench/ first on sys.path, where a sibling script
# named like a library (bench/transitions.py) would shadow it inside dealercrm: drop it.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

TARGET_RATIO = 0.7
TARGET_PEAK_MB = 200
DEFAULT_CHUNK = 2000  # the default of CustomerImport.run

FIRST = ("Anna Ben Clara David Emma Felix Greta Hans Ida Jonas Karla Lukas Marie Niklas Olga Paul "
         "Quirin Rosa Stefan Tina Uwe Vera Walter Xenia Yusuf Zoe Jürgen Sören Björn Änne").split()
LAST = ("Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch "
        "Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann").split()
CITIES = (("Berlin", "10115"), ("München", "80331"), ("Köln", "50667"), ("Hamburg", "20095"),
          ("Frankfurt am Main", "60311"), ("Stuttgart", "70173"), ("Garmisch-Partenkirchen", "82467"),
          ("Oberstdorf", "87561"), ("Leipzig", "04109"), ("Freiburg im Breisgau", "79098"))
STREETS = ("Hauptstraße", "Bahnhofstraße", "Gartenweg", "Am Markt", "Lindenallee", "Schulstraße")
DOMAINS = ("example.de", "mail.example.com", "t-online.example", "gmx.example", "web.example")
INTERESTS = ("skiing", "golf", "Cycling", "tennis", "e-bikes", " hiking ", "Ski Touring", "running")
# (prefix, digits of the subscriber part, how it is typed): every number is (prefix, row index)
# so numbers are unique; the formats are what people actually type.
PHONES = (
    ("171", 7, "0171 {n}"), ("171", 7, "+49 171 {n}"), ("151", 8, "+49-151-{n}"),
    ("30", 8, "030 {n}"), ("30", 8, "+49 30 {n}"), ("89", 7, "(089) {n}"),
    ("176", 8, "0049 (0)176-{n}"), ("160", 7, "0160/{n}"),
)


# -- the CSV --------------------------------------------------------------------------------

def generate(path: Path, rows: int, seed: int = 2) -> dict[str, int]:
    """Write ``rows`` customers; returns how many rows of each bad kind were written."""
    rnd = random.Random(seed)
    bad = {"bad e-mail": 0, "bad date": 0, "duplicate e-mail": 0}
    emails: list[str] = []
    with path.open("w", newline="", encoding="utf-8") as fh:
        # not dealercrm.csv_out: this is import input, not a spreadsheet, and "+49 …" must stay as it is
        out = csv.writer(fh)
        out.writerow(("external_id", "name", "email", "phone", "birthday", "street", "postcode", "city",
                      "interests"))
        for i in range(rows):
            first, last = rnd.choice(FIRST), rnd.choice(LAST)
            email = ""
            if rnd.random() < 0.9:
                email = f"{first}.{last}{i}@{rnd.choice(DOMAINS)}".replace("ü", "ue").replace("ä", "ae") \
                    .replace("ö", "oe").replace("Ä", "Ae")
                if rnd.random() < 0.5:
                    email = email.lower()
            phone = ""
            if rnd.random() < 0.85:
                prefix, digits, fmt = PHONES[i % len(PHONES)]
                phone = fmt.format(n=2 * 10 ** (digits - 1) + i)
            birthday = ""
            if rnd.random() < 0.75:
                year, month, day = rnd.randint(1935, 2006), rnd.randint(1, 12), rnd.randint(1, 28)
                # one in five as a German spreadsheet writes it, day first: a date, read by both paths
                birthday = f"{day:02d}.{month:02d}.{year}" if rnd.random() < 0.2 else f"{year}-{month:02d}-{day:02d}"
            city, postcode = rnd.choice(CITIES)
            street = f"{rnd.choice(STREETS)} {rnd.randint(1, 120)}" if rnd.random() < 0.8 else ""
            interests = ";".join(rnd.sample(INTERESTS, rnd.choice((0, 0, 1, 1, 2, 3))))
            dice = rnd.random()  # ~1% bad rows, at random places: chunks differ in how many they lose
            if dice < 0.0033:
                email, bad["bad e-mail"] = f"{first}.{last}@@example..de", bad["bad e-mail"] + 1
            elif dice < 0.0067:
                # no such day (ISO or dotted), or a slashed date that is a different day in the US and in Germany
                birthday = rnd.choice(("1985-13-40", "30.02.1985", "2001-02-30", "02/03/1985"))
                bad["bad date"] += 1
            elif dice < 0.01 and emails:
                email, bad["duplicate e-mail"] = rnd.choice(emails).upper(), bad["duplicate e-mail"] + 1
            elif email and dice > 0.9:
                emails.append(email)  # a bounded window of recent good e-mails to duplicate
                del emails[:-50]
            out.writerow((f"K{i:08d}", f"{first} {last}", email, phone, birthday, street, postcode, city,
                          interests))
    return bad


# -- measurements (each in a child process) -------------------------------------------------

def _rss_now_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def phase_dealercrm(csv_path: Path, db_path: Path, chunk_size: int) -> dict:
    import dealercrm

    crm = dealercrm.connect(f"sqlite:///{db_path}")
    crm.parties.add("dealer", "Our Dealership", by=crm.system)
    ready_kb = _rss_now_kb()
    t0, c0 = time.perf_counter(), _cpu()
    report = crm.imports.run(csv_path, chunk_size=chunk_size, by=crm.system)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    crm.close()
    return dict(seconds=seconds, cpu=cpu, rows=report.rows, imported=report.imported, rejected=len(report.rejected),
                rejected_lines=_digest(line for line, _ in report.rejected),
                reasons=_reasons(report.rejected), ready_kb=ready_kb, peak_kb=_peak_kb())


def phase_baseline(csv_path: Path, db_path: Path, chunk_size: int) -> dict:
    import dealercrm
    from dealercrm import validation
    from dealercrm.errors import ValidationError

    crm = dealercrm.connect(f"sqlite:///{db_path}")  # migrated by dealercrm: same schema
    crm.parties.add("dealer", "Our Dealership", by=crm.system)
    actor_id, region = crm.system_actor_id, crm.settings.default_region
    crm.close()
    con = sqlite3.connect(db_path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA foreign_keys=ON")
    (dealer,) = con.execute("SELECT id FROM party WHERE kind = 'dealer' ORDER BY id").fetchone()

    personal = ("name", "email", "phone", "birthday", "street", "postcode", "city")
    insert_customer = ("INSERT INTO customer (id, kind, name, email, phone, birthday, street, postcode, city, "
                       "external_id, owner_party_id, created_at, updated_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    insert_audit = ("INSERT INTO audit_record (at, actor_id, operation, action, entity, entity_id, changes, "
                    "personal_changes, customer_id) VALUES (?, ?, 'import.customers', 'insert', 'customer', ?, ?, ?, ?)")
    insert_interest = "INSERT INTO interest (customer_id, tag, noted_by_id, noted_at) VALUES (?, ?, ?, ?)"
    insert_interest_audit = ("INSERT INTO audit_record (at, actor_id, operation, action, entity, entity_id, changes, "
                             "personal_changes, customer_id) VALUES (?, ?, 'import.customers', 'insert', 'interest', "
                             "?, ?, ?, ?)")

    def lookup(column: str, values: list[str]) -> set[str]:
        # IN-lists of fixed lengths (powers of two up to 512, padded), as dealercrm does: the
        # sqlite3 module caches a prepared statement per distinct SQL text (128 per connection,
        # ~200 bytes per parameter), so chunk-sized lists of varying length pile up ~50 MB.
        found = set()
        for start in range(0, len(values), 512):
            part = values[start:start + 512]
            part += [part[-1]] * ((1 << (len(part) - 1).bit_length()) - len(part))
            sql = f"SELECT {column} FROM customer WHERE {column} IN ({','.join('?' * len(part))})"
            found.update(v for (v,) in con.execute(sql, part))
        return found

    ready_kb = _rss_now_kb()
    t0, c0 = time.perf_counter(), _cpu()
    rows = imported = 0
    rejected: list[tuple[int, str]] = []
    with csv_path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        chunk: list[tuple[int, dict]] = []

        def flush(chunk: list[tuple[int, dict]]) -> int:
            from datetime import datetime, timezone
            now = datetime.now(timezone.utc)
            today = now.date()
            now_db = now.replace(tzinfo=None).isoformat(" ", "microseconds")
            now_json = now.isoformat()
            good = []
            for line, row in chunk:
                try:
                    ext = (row.get("external_id") or "").strip()
                    if not ext:
                        raise ValidationError("external_id", ext, "is required")
                    d = dict(name=validation.required("name", row.get("name") or None),
                             email=validation.email(row.get("email") or None),
                             phone=validation.phone(row.get("phone") or None, region),
                             birthday=validation.birthday("birthday", validation.spreadsheet_date(
                                 "birthday", b) if (b := (row.get("birthday") or "").strip()) else None, today),
                             street=(row.get("street") or "").strip() or None,
                             postcode=(row.get("postcode") or "").strip() or None,
                             city=(row.get("city") or "").strip() or None)
                    tags = [" ".join(t.lower().split()) for t in (row.get("interests") or "").split(";") if t.strip()]
                    good.append((line, ext, d, tags))
                except ValidationError as exc:
                    rejected.append((line, str(exc)))
            con.execute("BEGIN IMMEDIATE")
            present = lookup("external_id", [g[1] for g in good])
            taken_e = lookup("email", [g[2]["email"] for g in good if g[2]["email"]])
            taken_p = lookup("phone", [g[2]["phone"] for g in good if g[2]["phone"]])
            (next_id,) = con.execute("SELECT coalesce(max(id), 0) + 1 FROM customer").fetchone()
            seen: set = set()
            customers, audits, interests = [], [], []
            for line, ext, d, tags in good:
                if ext in present:
                    continue
                e, p = d["email"], d["phone"]
                if ext in seen or (e and (e in taken_e or ("e", e) in seen)) or (p and (p in taken_p or ("p", p) in seen)):
                    rejected.append((line, "duplicate"))
                    continue
                seen.update((ext, ("e", e), ("p", p)))
                cid, next_id = next_id, next_id + 1
                birthday = d["birthday"].isoformat() if d["birthday"] else None
                customers.append((cid, "person", d["name"], e, p, birthday, d["street"], d["postcode"], d["city"],
                                  ext, dealer, now_db, now_db))
                plain = {"import_run": "bench", "kind": [None, "person"], "external_id": [None, ext], "owner_party_id": [None, dealer],
                         "created_at": [None, now_json], "updated_at": [None, now_json]}
                pers = {k: [None, birthday if k == "birthday" else d[k]] for k in personal if d[k] is not None}
                audits.append((now_db, actor_id, cid, json.dumps(plain), json.dumps(pers) if pers else None, cid))
                interests.extend((cid, t, actor_id, now_db) for t in tags)
            con.executemany(insert_customer, customers)
            con.executemany(insert_audit, audits)
            con.executemany(insert_interest, interests)
            if interests:  # one executemany in one transaction: the new ids are consecutive
                (last,) = con.execute("SELECT last_insert_rowid()").fetchone()
                first = last - len(interests) + 1
                con.executemany(insert_interest_audit, [
                    (now_db, actor_id, first + n, json.dumps({"customer_id": [None, cid], "import_run": "bench"}),
                     json.dumps({"tag": [None, tag]}), cid) for n, (cid, tag, _, _) in enumerate(interests)])
            con.execute("COMMIT")
            return len(customers)

        for row in reader:
            chunk.append((reader.line_num, row))
            if len(chunk) >= chunk_size:
                rows += len(chunk)
                imported += flush(chunk)
                chunk = []
        if chunk:
            rows += len(chunk)
            imported += flush(chunk)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    con.close()
    rejected.sort()
    return dict(seconds=seconds, cpu=cpu, rows=rows, imported=imported, rejected=len(rejected),
                rejected_lines=_digest(line for line, _ in rejected), reasons=_reasons(rejected),
                ready_kb=ready_kb, peak_kb=_peak_kb())


def _digest(lines) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(b"%d," % line)
    return h.hexdigest()[:12]


def _reasons(rejected: list[tuple[int, str]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for _, reason in rejected:
        key = ("duplicate" if "already used" in reason or "twice" in reason or reason == "duplicate"
               else "e-mail" if "email" in reason else "date" if "birthday" in reason else reason[:40])
        out[key] = out.get(key, 0) + 1
    return out


def table_counts(db_path: Path) -> dict:
    """What ended up in the database, read back with plain sqlite3 (same query for both paths)."""
    con = sqlite3.connect(db_path)
    try:
        one = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
        content = hashlib.sha256()
        for row in con.execute("SELECT external_id, kind, name, email, phone, birthday, street, postcode, city "
                               "FROM customer ORDER BY external_id"):
            content.update(repr(row).encode())
        for row in con.execute("SELECT c.external_id, i.tag FROM interest i JOIN customer c ON c.id = i.customer_id "
                               "ORDER BY c.external_id, i.tag"):
            content.update(repr(row).encode())
        return dict(
            customer=one("SELECT count(*) FROM customer"),
            audit=one("SELECT count(*) FROM audit_record WHERE operation = 'import.customers'"),
            interest=one("SELECT count(*) FROM interest"),
            # every customer has exactly one audit row that names it and carries its values
            audit_consistent=one(
                "SELECT count(*) FROM customer c JOIN audit_record a ON a.customer_id = c.id "
                "AND a.entity = 'customer' AND a.entity_id = c.id AND a.action = 'insert' "
                "AND json_extract(a.changes, '$.external_id[1]') = c.external_id "
                "AND json_extract(a.personal_changes, '$.name[1]') = c.name "
                "AND json_extract(a.changes, '$.external_id[0]') IS NULL "
                "AND coalesce(json_extract(a.personal_changes, '$.email[1]'), '') = coalesce(c.email, '') "
                "AND coalesce(json_extract(a.personal_changes, '$.phone[1]'), '') = coalesce(c.phone, '') "
                "AND json_extract(a.changes, '$.email') IS NULL"),
            content=content.hexdigest()[:12],
        )
    finally:
        con.close()


def run_child(phase: str, csv_path: Path, db_path: Path, chunk_size: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--phase", phase, "--csv", str(csv_path), "--db", str(db_path),
           "--chunk-size", str(chunk_size)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{phase} child failed with status {done.returncode}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(table_counts(db_path))
    return result


# -- the driver -----------------------------------------------------------------------------

COMPARED = ("rows", "imported", "rejected", "rejected_lines", "customer", "audit", "interest", "audit_consistent",
            "content")


def measure(phase: str, csv_path: Path, tmp: Path, n: int, chunk_size: int) -> dict:
    db = tmp / f"{phase}_{n}.db"
    try:
        r = run_child(phase, csv_path, db, chunk_size)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    r["rate"], r["cpu_rate"] = r["rows"] / r["seconds"], r["rows"] / r["cpu"]
    print(f"  {phase:9s}: {r['seconds']:6.2f} s ({r['cpu']:6.2f} s CPU)  {r['rate']:7,.0f} rows/s  peak RSS "
          f"{r['peak_kb'] / 1024:5.1f} MB ({r['ready_kb'] / 1024:.1f} MB before the import)  "
          f"imported {r['imported']:,}, rejected {r['rejected']:,} {r['reasons']}; in the database: "
          f"{r['customer']:,} customers, {r['audit']:,} audit rows ({r['audit_consistent']:,} matching their "
          f"customer), {r['interest']:,} interests", flush=True)
    return r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000, help="customers in the big file (default 200000)")
    ap.add_argument("--small-rows", type=int, default=50_000,
                    help="customers in the small file, to show memory does not grow with the file (default 50000)")
    ap.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK, help="rows per transaction, both paths (2000)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="measure each phase this many times (interleaved) and keep the fastest (default 1)")
    ap.add_argument("--phase", choices=("dealercrm", "baseline"), help=argparse.SUPPRESS)
    ap.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.phase:  # child: one measurement, one JSON line on stdout
        fn = phase_dealercrm if args.phase == "dealercrm" else phase_baseline
        print(json.dumps(fn(args.csv, args.db, args.chunk_size)))
        return 0

    sizes = sorted({args.small_rows, args.rows}) if 0 < args.small_rows < args.rows else [args.rows]
    best: dict[int, dict[str, dict]] = {}
    peak: dict[int, dict[str, float]] = {}
    mismatches: list[str] = []
    started = time.perf_counter()
    print(f"dealercrm import benchmark: Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, chunk size {args.chunk_size}, "
          f"sizes {', '.join(f'{n:,}' for n in sizes)}, repeat {args.repeat}")
    with tempfile.TemporaryDirectory(prefix="dealercrm-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for n in sizes:
            csv_path = tmp / f"customers_{n}.csv"
            t0 = time.perf_counter()
            bad = generate(csv_path, n)
            print(f"\n{n:,} rows: {csv_path} ({csv_path.stat().st_size / 1e6:.1f} MB, {sum(bad.values()):,} bad rows "
                  f"{bad}) written in {time.perf_counter() - t0:.1f} s", flush=True)
            best[n], peak[n] = {}, {}
            for _ in range(args.repeat):
                runs = {phase: measure(phase, csv_path, tmp, n, args.chunk_size) for phase in ("baseline", "dealercrm")}
                a, b = runs["dealercrm"], runs["baseline"]
                diff = [k for k in COMPARED if a[k] != b[k]]
                if a["audit_consistent"] != a["customer"] or b["audit_consistent"] != b["customer"]:
                    diff.append("audit rows not matching their customers")
                if diff:
                    mismatches.append(f"{n:,} rows: " + ", ".join(
                        f"{k}: dealercrm {a.get(k)} vs baseline {b.get(k)}" for k in diff))
                    print(f"  MISMATCH: {mismatches[-1]}")
                else:
                    print(f"  same result on both paths: {a['imported']:,} customers, {a['audit']:,} audit rows, "
                          f"{a['interest']:,} interests, {a['rejected']:,} rejected rows with the same line numbers, "
                          f"same stored values (digest {a['content']})")
                for phase, r in runs.items():
                    if phase not in best[n] or r["seconds"] < best[n][phase]["seconds"]:
                        best[n][phase] = r
                    peak[n][phase] = max(peak[n].get(phase, 0), r["peak_kb"] / 1024)
            csv_path.unlink()

    print("\n== summary " + "=" * 89)
    print(f"{'file':>14}  {'path':10} {'rows/s':>8} {'rows/s by CPU time':>19} {'peak RSS':>9} "
          f"{'imported':>9} {'rejected':>8}")
    for n in sizes:
        for phase in ("baseline", "dealercrm"):
            r = best[n][phase]
            print(f"{f'{n:,} rows' if phase == 'baseline' else '':>14}  {phase:10} {r['rate']:8,.0f} "
                  f"{r['cpu_rate']:19,.0f} {peak[n][phase]:6.1f} MB {r['imported']:9,} {r['rejected']:8,}")
        a, b = best[n]["dealercrm"], best[n]["baseline"]
        print(f"{'':>14}  {'ratio':10} {a['rate'] / b['rate']:8.2f} {a['cpu_rate'] / b['cpu_rate']:19.2f}")
    a, b = best[args.rows]["dealercrm"], best[args.rows]["baseline"]
    ratio = a["rate"] / b["rate"]
    print(f"\nratio dealercrm/baseline at {args.rows:,} rows: {ratio:.2f} "
          f"({a['rate']:,.0f} / {b['rate']:,.0f} rows/s; by CPU time {a['cpu_rate'] / b['cpu_rate']:.2f}); "
          f"target >= {TARGET_RATIO}: {'met' if ratio >= TARGET_RATIO else 'MISSED'}")
    peaks = [peak[n]["dealercrm"] for n in sizes]
    growth = peaks[-1] - peaks[0]
    print("dealercrm peak RSS: " + ", ".join(f"{p:.1f} MB at {n:,} rows" for n, p in zip(sizes, peaks))
          + (f" ({growth:+.1f} MB for {sizes[-1] / sizes[0]:.0f}x the rows)" if len(sizes) > 1 else "")
          + f"; target < {TARGET_PEAK_MB} MB: {'met' if max(peaks) < TARGET_PEAK_MB else 'MISSED'}"
          + (f"; flat (< 10 MB growth): {'yes' if growth < 10 else 'NO'}" if len(sizes) > 1 else ""))
    print(f"same result on both paths: {'yes' if not mismatches else 'NO: ' + '; '.join(mismatches)}")
    print(f"(total {time.perf_counter() - started:.0f} s)")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
