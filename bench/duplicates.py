"""Benchmark: duplicate suspects by blocking against the all-pairs scan (issue #13 item 9).

Run it from the repository root with the project's virtualenv:

    python bench/duplicates.py [--customers 100000] [--sample 2000] [--postcodes 40]

One dealer's file of N customers (default 100,000) is written straight into a database
dealercrm migrated (the setup is not timed): names from 50 first and 3,000 last
names, a local dealer's handful of postcodes (default 40: blocks of ~2,500 customers, so
the large-block path with name keys is what runs), birthdays for two in three, families of
two to four sharing a landline, a company of 1,000 people on one switchboard, and 1% planted
duplicates — a copy of a customer typed again with one letter wrong or the words swapped,
at the same postcode or with the same birthday.

Measured, in the same run:

* ``blocked``: ``crm.customers.duplicates(by=crm.system, ...)`` over the whole file — the
  public API, reading the file and comparing names within blocks (phone, postcode,
  birthday);
* ``all-pairs``: the same people compared every one with every other (rapidfuzz's
  ``process.extract`` per customer over all later ones, the same first cut and the same
  word check) — on a sample of M customers (default 2,000), since at N it would take hours;
  its time at N is extrapolated by the number of pairs (N(N-1)/2 over M(M-1)/2);
* ``blocked`` on the same sample, for a like-for-like ratio;
* one customer's suspects (``customer_id=``, index lookups), averaged over 200 customers.

Printed: the times, the ratios all-pairs/blocked (measured on the sample, extrapolated at N),
how many planted duplicates were found (recall), and the suspects listed. Exit status 1 if
recall is below 95 %.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

from rapidfuzz import fuzz, process  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

import dealercrm  # noqa: E402
from dealercrm.db.models import Customer  # noqa: E402
from dealercrm.services import duplicates as dup  # noqa: E402
from dealercrm.settings import Settings  # noqa: E402

SYLLABLES = ("Ber", "Mül", "Schn", "Hof", "Wag", "Zim", "Kra", "Lo", "Hart", "Fi", "Bau", "Kel", "Sto", "Rich",
             "Neu", "Wol", "Brau", "Lin", "Gro", "Som")
MIDDLES = ("", "en", "ter", "sch", "ge", "ber", "kow", "ro", "li", "dor")
ENDINGS = ("ler", "mann", "er", "ke", "berg", "stein", "rich", "ner", "bach", "hardt", "feld", "haus", "mayr",
           "inger", "el")
FIRST = ("Anna Ben Clara David Emma Felix Greta Hans Ida Jonas Karla Lukas Marie Niklas Olga Paul Quirin Rosa "
         "Stefan Tina Uwe Vera Walter Xenia Yusuf Zoe Jürgen Sören Björn Änne Lena Moritz Nora Oskar Pia Rainer "
         "Selin Timo Ute Volker Wiebke Yannick Zeynep Aylin Bernd Carla Dirk Elif Frank Gisela").split()


def typo(name: str, rng: random.Random) -> str:
    """The same person typed again: a letter dropped or doubled, or the words swapped."""
    words = name.split()
    if rng.random() < 0.3:
        return ", ".join(reversed(words))
    i = rng.randrange(len(words))
    w = words[i]
    k = rng.randrange(1, len(w))
    words[i] = w[:k] + w[k:][1:] if rng.random() < 0.5 else w[:k] + w[k - 1] + w[k:]
    return " ".join(words)


def make_file(n: int, postcodes: int, seed: int = 7):
    """(rows, planted pairs as (index of the original, index of the copy))."""
    rng = random.Random(seed)
    surnames = [s + m + e for s in SYLLABLES for m in MIDDLES for e in ENDINGS]
    codes = [f"{20000 + 37 * i:05d}" for i in range(postcodes)]
    rows, planted = [], []
    while len(rows) < n - 1000:
        family = rng.choice(surnames)
        landline = f"+4940{rng.randrange(10**6, 10**7)}" if rng.random() < 0.15 else None
        code = rng.choice(codes)
        for _ in range(rng.randint(2, 4) if landline else 1):
            born = date(1940, 1, 1) + timedelta(days=rng.randrange(80 * 365)) if rng.random() < 0.66 else None
            rows.append(dict(name=f"{rng.choice(FIRST)} {family}", phone=landline, postcode=code, birthday=born))
    for i in range(1000):  # the hotel's people, one switchboard
        rows.append(dict(name=f"{rng.choice(FIRST)} {rng.choice(surnames)}", phone="+49715550100",
                         postcode=codes[0], birthday=None))
    for original in rng.sample(range(len(rows) - 1000), n // 100):
        o = rows[original]
        same_birthday = o["birthday"] is not None and rng.random() < 0.5
        rows.append(dict(name=typo(o["name"], rng), phone=None, postcode=None if same_birthday else o["postcode"],
                         birthday=o["birthday"] if same_birthday else None))
        planted.append((original, len(rows) - 1))
    return rows, planted


def all_pairs(people, name_alike=dup.NAME_ALIKE) -> set[tuple[int, int]]:
    """The baseline: every customer against every later one, same cut and check as blocking."""
    keys = [p.key for p in people]
    found = set()
    for i, p in enumerate(people[:-1]):
        for _, _, j in process.extract(p.key, keys[i + 1:], scorer=fuzz.token_set_ratio, score_cutoff=name_alike,
                                       limit=None):
            other = people[i + 1 + j]
            if dup.name_likeness(p.key, other.key) >= name_alike:
                shared = any(getattr(p, f) and getattr(p, f) == getattr(other, f) for f in ("postcode", "birthday"))
                if shared:
                    found.add((min(p.id, other.id), max(p.id, other.id)))
        for q in people[i + 1:]:
            if p.phone and p.phone == q.phone:
                found.add((min(p.id, q.id), max(p.id, q.id)))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--postcodes", type=int, default=40)
    args = parser.parse_args()
    rows, planted = make_file(args.customers, args.postcodes)
    with tempfile.TemporaryDirectory() as tmp:
        crm = dealercrm.connect(f"sqlite:///{tmp}/dup.db", settings=Settings())
        dealer = crm.parties.add("dealer", "Elektro Schmidt", by=crm.system)
        now = datetime.now(timezone.utc)
        with crm.engine.begin() as conn:
            for start in range(0, len(rows), 10_000):
                conn.execute(insert(Customer), [dict(r, kind="person", owner_party_id=dealer.id, created_at=now,
                                                     updated_at=now) for r in rows[start:start + 10_000]])
        first_id = 1  # a fresh file: ids follow the rows
        print(f"{len(rows):,} customers of one dealer, {args.postcodes} postcodes, {len(planted):,} planted duplicates")

        t = time.perf_counter()
        found = crm.customers.duplicates(by=crm.system, limit=dup.MAX_PAGE)  # the first page: the whole scan
        blocked_n = time.perf_counter() - t
        # every suspect, for recall (the service pages a sorted list: the scan is the same)
        with crm.read(crm.system) as uow:
            people = dup.people_of(uow.connection.execute(
                select(Customer.id, Customer.owner_party_id, Customer.name, Customer.phone, Customer.postcode,
                       Customer.birthday).where(Customer.owner_party_id == dealer.id).order_by(Customer.id)))
        every = {(s.keep_id, s.duplicate_id) for s in dup.suspects_in(people)}
        hits = sum((first_id + a, first_id + b) in every for a, b in planted)
        print(f"blocked, whole file:       {blocked_n:8.2f} s  ({len(every):,} suspects; first page {len(found)})")
        print(f"recall of planted copies:  {hits / len(planted):8.1%}  ({hits:,} of {len(planted):,})")

        rng = random.Random(11)
        sample = sorted(rng.sample(people, min(args.sample, len(people))), key=lambda p: p.id)
        t = time.perf_counter()
        dup.suspects_in(sample)
        blocked_m = time.perf_counter() - t
        t = time.perf_counter()
        all_pairs(sample)
        baseline_m = time.perf_counter() - t
        n, m = len(people), len(sample)
        baseline_n = baseline_m * (n * (n - 1)) / (m * (m - 1))
        print(f"sample of {m:,}: blocked {blocked_m:.3f} s, all-pairs {baseline_m:.2f} s  "
              f"-> all-pairs/blocked {baseline_m / blocked_m:,.0f}x")
        print(f"at {n:,}: all-pairs extrapolated {baseline_n / 3600:,.1f} h, blocked {blocked_n:.2f} s  "
              f"-> all-pairs/blocked {baseline_n / blocked_n:,.0f}x")

        ids = rng.sample([p.id for p in people], 200)
        t = time.perf_counter()
        for customer_id in ids:
            crm.customers.duplicates(customer_id=customer_id, by=crm.system)
        one = (time.perf_counter() - t) / len(ids)
        print(f"one customer's suspects:   {one * 1000:8.1f} ms  (blocked scan of the whole file / one: "
              f"{blocked_n / one:,.0f}x)")
        crm.close()
    return 0 if hits / len(planted) >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
