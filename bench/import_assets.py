"""Benchmark: what the units cost an import (issue #16, item 5), against the customer-only import.

Run it from the repository root with the project's virtualenv:

    python bench/import_assets.py [--rows N] [--repeat R] [--block rule_interest_offer]

It writes three files of N rows (default 20,000) into a temporary directory, German
Excel style (semicolons, Windows-1252, CRLF, dates 01.03.2026, prices 349.000,00):

* ``customers``: external_id, name, email, city — the baseline;
* ``with units``: the same customers, each with the flat bought (sku, serial_number,
  purchased_on, handed_over_on, price);
* ``units``: the same units as a second list (external_id, sku, …), imported after the
  customer-only file.

Each is imported into a fresh SQLite database through the public API
(``crm.imports.run`` / ``crm.imports.assets``, default chunk size, as the system actor),
in its own child process; ``--repeat`` interleaves the runs and keeps the fastest of each.
Printed: rows/s of each, and the ratios to the customer-only import, measured in the
same run. Every customer and unit is checked to be filed (exit status 1 if not).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
from sqlalchemy import func, select
import dealercrm
from dealercrm.db.models import Asset, Customer
from dealercrm.settings import Settings

mode, folder, rows, block = sys.argv[1], sys.argv[2], int(sys.argv[3]), [b for b in sys.argv[4].split(",") if b]
crm = dealercrm.connect(f"sqlite:///{folder}/{mode.replace(' ', '_')}.db", settings=Settings(), load_entry_points=False,
                        block=block)
crm.parties.add("dealer", "Our Dealership", by=crm.system)
crm.products.add("WHG-A", "Wohnung Typ A", warranty_months=60, by=crm.system)
if mode == "units":
    crm.imports.run(f"{folder}/customers.csv", by=crm.system)
started = time.perf_counter()
if mode == "units":
    report = crm.imports.assets(f"{folder}/units.csv", by=crm.system)
else:
    report = crm.imports.run(f"{folder}/{'with_units' if mode == 'with units' else 'customers'}.csv", by=crm.system)
seconds = time.perf_counter() - started
with crm.read(crm.system) as uow:
    customers = uow.session.scalar(select(func.count()).select_from(Customer))
    assets = uow.session.scalar(select(func.count()).select_from(Asset))
print(json.dumps({"seconds": seconds, "customers": customers, "assets": assets, "rejected": len(report.rejected)}))
"""


def write_files(folder: Path, rows: int) -> None:
    people, with_units, units = ["external_id;name;email;city"], \
        ["external_id;name;email;city;sku;serial_number;purchased_on;handed_over_on;price"], \
        ["external_id;sku;serial_number;purchased_on;handed_over_on;price"]
    for i in range(rows):
        person = f"K-{i};Käufer Nummer {i};kaeufer{i}@example.org;München"
        unit = f"WHG-A;W-{i:06};01.03.2026;{1 + i % 28:02}.09.2026;349.000,00"
        people.append(person)
        with_units.append(f"{person};{unit}")
        units.append(f"K-{i};{unit}")
    for name, lines in (("customers", people), ("with_units", with_units), ("units", units)):
        (folder / f"{name}.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))


def measure(mode: str, folder: Path, rows: int, block: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, mode, str(folder), str(rows), block], capture_output=True,
                          text=True, check=True)
    for db in folder.glob(f"{mode.replace(' ', '_')}.db*"):
        db.unlink()
    return json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--block", default="", help="plugins to block, comma-separated (e.g. rule_interest_offer, "
                        "which reacts to every unit recorded), to see their share")
    args = parser.parse_args()
    modes = ("customers", "with units", "units")
    best: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="dealercrm-bench-") as tmp:
        folder = Path(tmp)
        write_files(folder, args.rows)
        started = time.perf_counter()
        for _ in range(args.repeat):
            for mode in modes:
                got = measure(mode, folder, args.rows, args.block)
                if mode not in best or got["seconds"] < best[mode]["seconds"]:
                    best[mode] = got
    print(f"dealercrm import with units: {args.rows:,} rows, best of {args.repeat}, "
          f"{time.perf_counter() - started:.0f} s in all" + (f", blocked: {args.block}" if args.block else ""))
    base = best["customers"]["seconds"]
    ok = True
    for mode in modes:
        got = best[mode]
        expected_assets = 0 if mode == "customers" else args.rows
        ok &= got["customers"] == args.rows and got["assets"] == expected_assets and got["rejected"] == 0
        print(f"  {mode:<12} {args.rows / got['seconds']:>9,.0f} rows/s   ratio to customers only: "
              f"{base / got['seconds']:.2f}   (customers {got['customers']:,}, units {got['assets']:,}, "
              f"rejected {got['rejected']})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
