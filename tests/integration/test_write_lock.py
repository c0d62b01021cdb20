"""Issue #15, item 1: SQLite's one writer, handed over fairly inside a process, no lock convoy.

Every writing unit of work of a process takes the database file's ``FairLock`` before it
begins, and lets go as soon as it committed or rolled back: writers of one process never
meet SQLite's lock (so never sleep in its busy handler), they get it in the order they
asked for it, readers are never held up by it, and writers in other processes are still
ordered by SQLite's ``busy_timeout``.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from sqlalchemy import create_engine, event, func, select

import dealercrm
from dealercrm.db.models import AuditRecord, Customer
from dealercrm.settings import Settings


def _no_patience(dbapi_connection, _record) -> None:
    """A host's own setting, after dealercrm's: any writer that meets SQLite's lock fails at once."""
    dbapi_connection.execute("PRAGMA busy_timeout=0")


@pytest.fixture
def impatient(tmp_path):
    """An application on an engine whose connections do not wait for SQLite's lock at all."""
    url = f"sqlite:///{tmp_path}/impatient.db"
    dealercrm.connect(url, settings=Settings(), load_entry_points=False).close()  # migrated, patiently
    engine = create_engine(url)
    crm = dealercrm.connect(engine, settings=Settings(), load_entry_points=False, migrate=False)
    event.listen(engine, "connect", _no_patience)  # after dealercrm's own pragmas
    engine.dispose()
    dealer = crm.parties.add("dealer", "Elektro Schmidt", by=crm.system)
    yield crm, dealer
    crm.close()


def test_the_oracle_fails_when_two_writers_meet_sqlites_lock(tmp_path):
    """What the next test relies on: with busy_timeout 0 a second writer is refused, not queued."""
    path = tmp_path / "raw.db"
    first, second = (sqlite3.connect(path, isolation_level=None, timeout=0) for _ in range(2))
    first.execute("PRAGMA journal_mode=WAL")
    first.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        second.execute("BEGIN IMMEDIATE")
    first.execute("ROLLBACK")


def test_writers_of_one_process_never_meet_sqlites_lock(impatient):
    crm, dealer = impatient
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(25):
                crm.customers.add(f"Kunde {n}-{i}", owner_party_id=dealer.id, by=crm.system)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    with crm.read(crm.system) as uow:
        assert uow.session.scalar(select(func.count()).select_from(Customer)) == 200


def test_waiting_writers_get_the_lock_in_the_order_they_asked(impatient):
    crm, dealer = impatient
    order: list[int] = []
    holder = crm.uow(crm.system, "a long write")  # holds the lock until it commits
    threads = []
    for n in range(6):
        def write(n=n):
            customer = crm.customers.add(f"Kunde {n}", owner_party_id=dealer.id, by=crm.system)
            order.append((n, customer.id))
        thread = threading.Thread(target=write)
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + 10
        while crm.write_lock.waiting < n + 1:  # this one queues behind the ones before it
            assert time.monotonic() < deadline
            time.sleep(0.005)
    holder.commit()
    holder.__exit__(None, None, None)
    for thread in threads:
        thread.join(timeout=30)
    assert [n for n, _ in sorted(order, key=lambda pair: pair[1])] == list(range(6))  # ids in arrival order


def test_a_reader_is_not_held_up_by_a_writer(impatient):
    crm, dealer = impatient
    kept = crm.customers.add("Erika Musterfrau", owner_party_id=dealer.id, by=crm.system)
    with crm.uow(crm.system, "a write still running") as uow:
        uow.session.add(Customer(name="not yet committed", kind="person", owner_party_id=dealer.id,
                                 created_at=uow.now, updated_at=uow.now))
        uow.flush()
        seen: list = []
        reader = threading.Thread(target=lambda: seen.append(
            [c.name for c in crm.customers.list(by=crm.system)]))
        started = time.monotonic()
        reader.start()
        reader.join(timeout=5)
        assert not reader.is_alive() and time.monotonic() - started < 2
        assert seen == [[kept.name]]  # the last committed state, at once
        assert crm.write_lock.waiting == 0


WRITER = textwrap.dedent("""
    import sys, threading
    import dealercrm
    from dealercrm.settings import Settings
    crm = dealercrm.connect(sys.argv[1], settings=Settings(), load_entry_points=False, migrate=False)
    dealer = int(sys.argv[3])
    def write(n):
        for i in range(20):
            crm.customers.add(f"{sys.argv[2]} {n}-{i}", owner_party_id=dealer, by=crm.system)
    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print("done")
""")


def test_two_processes_writing_at_once_both_get_every_write_in(tmp_path):
    """Between processes SQLite's busy timeout orders the writers: nothing is lost or refused."""
    url = f"sqlite:///{tmp_path}/shared.db"
    crm = dealercrm.connect(url, settings=Settings(), load_entry_points=False)
    dealer = crm.parties.add("dealer", "Elektro Schmidt", by=crm.system)
    processes = [subprocess.Popen([sys.executable, "-c", WRITER, url, name, str(dealer.id)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for name in ("erster", "zweiter")]
    outcomes = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err.decode()[-2000:] for _, err in outcomes]
    with crm.read(crm.system) as uow:
        names = list(uow.session.scalars(select(Customer.name)))
        audited = uow.session.scalar(select(func.count()).select_from(AuditRecord)
                                     .where(AuditRecord.entity == "customer", AuditRecord.action == "insert"))
    crm.close()
    assert sorted(names) == sorted(f"{who} {n}-{i}" for who in ("erster", "zweiter")
                                   for n in range(4) for i in range(20))
    assert audited == 160
