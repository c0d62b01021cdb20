"""``dealercrm db backup`` and ``db restore``: a backup taken while the server writes is the
database as of one moment; restoring one never overwrites data unasked, and never puts a
newer dealercrm's schema under an older one.

The commands run as the operator runs them, in their own process (``dealercrm …``); the
writer is another process, committing customers one after another the whole time.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dealercrm import connect
from dealercrm.db.engine import make_engine
from dealercrm.db.migrate import head_revision, upgrade
from dealercrm.db.models import Customer
from dealercrm.settings import Settings

DEALERCRM = Path(sys.executable).with_name("dealercrm")
WRITER = Path(__file__).with_name("busy_writer.py")


def dealercrm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALERCRM_")}
    return subprocess.run([str(DEALERCRM), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def a_dealer_file(path: Path, customers: int = 0) -> str:
    url = f"sqlite:///{path}"
    crm = connect(url, settings=Settings(), load_entry_points=False)
    crm.parties.add("dealer", "Autohaus Berg", by=crm.system)
    for n in range(customers):
        crm.customers.add(f"Stammkunde {n}", owner_party_id=1, by=crm.system)
    crm.close()
    return url


def customers_and_their_audit(path: Path) -> tuple[int, int]:
    """Customers in the file, and audit records of customers being registered: one per customer."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        customers = conn.execute("SELECT count(*) FROM customer").fetchone()[0]
        registered = conn.execute("SELECT count(*) FROM audit_record WHERE entity = 'customer' AND action = 'insert'"
                                  ).fetchone()[0]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return customers, registered
    finally:
        conn.close()


def committed_customers(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(Customer))
    finally:
        engine.dispose()


def test_backups_taken_while_another_process_writes_hold_each_a_whole_moment(tmp_path):
    url = a_dealer_file(tmp_path / "crm.db")
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, str(WRITER), url, str(stop)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "started"
        taken = []
        for n in range(2):
            before = committed_customers(url)
            done = dealercrm("--db", url, "db", "backup", f"backup-{n}.db", cwd=tmp_path)
            after = committed_customers(url)
            assert done.returncode == 0, done.stderr
            assert "integrity checked" in done.stdout
            taken.append((tmp_path / f"backup-{n}.db", before, after))
    finally:
        stop.touch()
        written = int(writer.communicate(timeout=60)[0].split()[-1])
    assert writer.returncode == 0
    for path, before, after in taken:
        customers, registered = customers_and_their_audit(path)
        # everything committed before the backup began is in it; nothing half-committed is
        assert before <= customers <= after, (before, customers, after)
        assert registered == customers
        assert not Path(f"{path}-wal").exists()  # one self-contained file
    assert taken[-1][2] > taken[0][1]  # the writer really was writing throughout
    assert written == committed_customers(url)

    # the last backup restores into a new file and opens as a dealercrm database
    restored = dealercrm("--db", f"sqlite:///{tmp_path}/restored.db", "db", "restore", str(taken[-1][0]), cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    crm = connect(f"sqlite:///{tmp_path}/restored.db", settings=Settings(), load_entry_points=False)
    assert crm.customers.count(by=crm.system) == customers_and_their_audit(taken[-1][0])[0]
    crm.close()


def test_a_backup_never_overwrites_a_file_unasked(tmp_path):
    url = a_dealer_file(tmp_path / "crm.db", customers=2)
    (tmp_path / "monday.db").write_text("last week's notes")
    refused = dealercrm("--db", url, "db", "backup", "monday.db", cwd=tmp_path)
    assert refused.returncode == 1
    assert "already exists" in refused.stderr and "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert (tmp_path / "monday.db").read_text() == "last week's notes"
    forced = dealercrm("--db", url, "db", "backup", "monday.db", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert customers_and_their_audit(tmp_path / "monday.db") == (2, 2)


def test_postgresql_is_backed_up_with_pg_dump_and_the_commands_say_so(tmp_path):
    url = "postgresql://crm:secret@127.0.0.1:1/crm"  # refused before any connection is tried
    for command in (("db", "backup", "crm.dump"), ("db", "restore", "crm.dump")):
        refused = dealercrm("--db", url, *command, cwd=tmp_path)
        assert refused.returncode == 1
        assert "pg_dump" in refused.stderr and "pg_restore" in refused.stderr and "db copy" in refused.stderr
        assert "secret" not in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "crm.dump").exists()


def test_restore_replaces_a_database_that_holds_data_only_when_forced(tmp_path):
    a_dealer_file(tmp_path / "friday.db", customers=3)
    assert dealercrm("--db", f"sqlite:///{tmp_path}/friday.db", "db", "backup", "friday-backup.db",
                     cwd=tmp_path).returncode == 0
    today = a_dealer_file(tmp_path / "today.db", customers=5)

    refused = dealercrm("--db", today, "db", "restore", "friday-backup.db", cwd=tmp_path)
    assert refused.returncode == 1
    assert "holds data" in refused.stderr and "--force" in refused.stderr
    assert committed_customers(today) == 5  # untouched

    forced = dealercrm("--db", today, "db", "restore", "friday-backup.db", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "replaced" in forced.stdout
    assert committed_customers(today) == 3
    crm = connect(today, settings=Settings(), load_entry_points=False)  # and the application works on it
    assert crm.customers.add("Neu", owner_party_id=1, by=crm.system).id == 4
    crm.close()


def test_an_older_backup_is_upgraded_and_a_newer_ones_schema_is_refused(tmp_path):
    old = make_engine(f"sqlite:///{tmp_path}/old.db")
    upgrade(old, "0009_per_dealer")
    old.dispose()
    assert dealercrm("--db", f"sqlite:///{tmp_path}/old.db", "db", "backup", "old-backup.db",
                     cwd=tmp_path).returncode == 0
    restored = dealercrm("--db", f"sqlite:///{tmp_path}/new.db", "db", "restore", "old-backup.db", cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert f"schema 0009_per_dealer, upgraded to {head_revision()}" in restored.stdout

    future = tmp_path / "future-backup.db"
    future.write_bytes((tmp_path / "old-backup.db").read_bytes())
    with sqlite3.connect(future) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    conn.close()
    refused = dealercrm("--db", f"sqlite:///{tmp_path}/other.db", "db", "restore", str(future), cwd=tmp_path)
    assert refused.returncode == 1
    assert "0099_from_the_future" in refused.stderr and "newer version" in refused.stderr
    assert not (tmp_path / "other.db").exists() or committed_table_count(tmp_path / "other.db") == 0


def committed_table_count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]


@pytest.mark.parametrize("content, said", [(b"", "is not a dealercrm database"),
                                           (b"not a database at all" * 100, "is not a SQLite database"),
                                           (None, "does not exist")])
def test_restore_refuses_what_is_not_a_backup(tmp_path, content, said):
    if content is not None:
        (tmp_path / "backup.db").write_bytes(content)
    url = a_dealer_file(tmp_path / "crm.db", customers=1)
    refused = dealercrm("--db", url, "db", "restore", "backup.db", "--force", cwd=tmp_path)
    assert refused.returncode == 1
    assert said in refused.stderr and "Traceback" not in refused.stderr
    assert committed_customers(url) == 1


def test_a_damaged_backup_is_refused(tmp_path):
    url = a_dealer_file(tmp_path / "crm.db", customers=50)
    assert dealercrm("--db", url, "db", "backup", "backup.db", cwd=tmp_path).returncode == 0
    data = bytearray((tmp_path / "backup.db").read_bytes())
    for page in range(2, len(data) // 4096):  # the b-tree page headers scribbled over
        data[(page - 1) * 4096:(page - 1) * 4096 + 12] = b"\xff" * 12
    (tmp_path / "backup.db").write_bytes(bytes(data))
    target = f"sqlite:///{tmp_path}/target.db"
    refused = dealercrm("--db", target, "db", "restore", "backup.db", cwd=tmp_path)
    assert refused.returncode == 1
    assert "backup.db" in refused.stderr and "Traceback" not in refused.stderr
