"""``dealercrm db copy --to URL``: the whole database moves, SQLite to PostgreSQL and back.

The source has a row in every table (``full_database``), a table of a plugin's own, and
a customer merged into a later one. After the copy each table is compared row by row
here — independently of the digests the command prints — ids included; the application
then carries on on the copy (PostgreSQL hands out the next id after the copied ones). A
copy killed half-way (SIGKILL, nothing cleaned up) is run again and completes; a target
holding anything else is refused and left as it was.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timezone
from decimal import Decimal
from pathlib import Path

import pytest
from full_database import PLUGIN_METADATA, build, copy_of, table_names
from sqlalchemy import MetaData, Table, event, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from dealercrm import connect
from dealercrm.db.copying import copy_database
from dealercrm.db.engine import make_engine
from dealercrm.db.models import Customer
from dealercrm.errors import ValidationError
from dealercrm.settings import Settings

DEALERCRM = Path(sys.executable).with_name("dealercrm")
NAME, MERGED_INTO = (list(Customer.__table__.columns.keys()).index(c) for c in ("name", "merged_into_id"))


@pytest.fixture(scope="session")
def full_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("full") / "full.db"
    build(path)
    return path


@pytest.fixture
def source(full_template, tmp_path) -> str:
    return copy_of(full_template, tmp_path / "source.db")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/target.db"
    return request.getfixturevalue("postgres_url")


def dealercrm(*args: str, wait: bool = True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALERCRM_")}
    if not wait:
        return subprocess.Popen([str(DEALERCRM), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    return subprocess.run([str(DEALERCRM), *args], capture_output=True, text=True, env=env, timeout=300)


def definition(name: str) -> Table:
    return SQLModel.metadata.tables[name] if name in SQLModel.metadata.tables else PLUGIN_METADATA.tables[name]


def rows_of(url: str, name: str) -> list[tuple]:
    """Every row of table ``name``, in id order, as this test reads it: dealercrm's (or the plugin's)
    own column types, times in UTC."""
    engine = make_engine(url)
    try:
        table = definition(name)
        with engine.connect() as conn:
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
    finally:
        engine.dispose()
    return [tuple(_plain(v) for v in row) for row in rows]


def _plain(value):
    if hasattr(value, "tzinfo") and getattr(value, "tzinfo", None) is not None:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    if isinstance(value, Decimal):
        return value.normalize()
    return value


def assert_same_database(one: str, other: str) -> None:
    names = table_names(one)
    assert table_names(other) == names
    for name in names:
        assert rows_of(other, name) == rows_of(one, name), name


def count(url: str, name: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(Table(name, MetaData())))
    except SQLAlchemyError:
        return 0
    finally:
        engine.dispose()


def test_the_source_has_a_row_in_every_table(source):
    names = table_names(source)
    assert {"audit_record", "case_event", "outbox_message", "rule_firing", "roofbox_fitting"} <= set(names)
    assert [n for n in names if count(source, n) == 0] == []


@pytest.mark.postgres
def test_a_whole_database_moves_to_postgresql_and_back(source, postgres_url, tmp_path):
    statements: list[str] = []
    to_postgres = make_engine(postgres_url)
    event.listen(to_postgres, "before_cursor_execute", lambda c, cur, statement, *rest: statements.append(statement))
    report = copy_database(make_engine(source), to_postgres)
    to_postgres.dispose()

    assert report.verified and {t.name for t in report.tables} == set(table_names(source))
    assert_same_database(source, postgres_url)
    # the host's engine events saw the copy: Core statements, not a private cursor
    assert any(s.startswith("INSERT INTO roofbox_fitting") for s in statements)
    assert any(s.startswith("INSERT INTO audit_record") for s in statements)
    customers = rows_of(postgres_url, "customer")
    assert any(row[0] < (row[MERGED_INTO] or 0) for row in customers), "a customer merged into a later one came along"

    back = f"sqlite:///{tmp_path}/back.db"
    done = dealercrm("--db", postgres_url, "db", "copy", "--to", back)
    assert done.returncode == 0, done.stderr
    assert "copied and verified" in done.stdout
    for t in report.tables:  # each table's count and digest, printed; the same as on the way there
        assert t.source_digest[:16] in done.stdout
    assert_same_database(source, back)

    # both copies are working databases: the next customer gets the next id on each
    highest = max(row[0] for row in customers)
    for url in (postgres_url, back):
        crm = connect(url, settings=Settings(), load_entry_points=False)
        assert crm.customers.add("Neukundin", owner_party_id=1, by=crm.system).id == highest + 1
        crm.close()


@pytest.mark.parametrize("direction", ["sqlite to sqlite",
                                       pytest.param("sqlite to postgres", marks=pytest.mark.postgres),
                                       pytest.param("postgres to sqlite", marks=pytest.mark.postgres)])
def test_a_copy_killed_half_way_completes_when_run_again(source, tmp_path, direction, request):
    target = f"sqlite:///{tmp_path}/target.db"
    if direction == "sqlite to postgres":
        target = request.getfixturevalue("postgres_url")
    if direction == "postgres to sqlite":  # the source itself on PostgreSQL first
        pg = request.getfixturevalue("postgres_url")
        assert dealercrm("--db", source, "db", "copy", "--to", pg).returncode == 0
        source = pg
    total = count(source, "audit_record")
    copying = dealercrm("--db", source, "db", "copy", "--to", target, "--chunk-size", "5", wait=False)
    deadline = time.monotonic() + 120
    while count(target, "audit_record") == 0 and copying.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    copying.send_signal(signal.SIGKILL)
    copying.wait()
    assert copying.returncode == -signal.SIGKILL, "killed while copying, not finished before"
    assert 0 < count(target, "audit_record") < total
    assert count(target, "interest") == 0  # later tables not begun

    again = dealercrm("--db", source, "db", "copy", "--to", target, "--chunk-size", "500")
    assert again.returncode == 0, again.stderr
    assert "resuming after" in again.stderr and "copied and verified" in again.stdout
    assert_same_database(source, target)


def test_a_finished_copy_run_again_copies_nothing_and_verifies(source, target):
    assert dealercrm("--db", source, "db", "copy", "--to", target).returncode == 0
    report = copy_database(make_engine(source), make_engine(target))
    assert report.verified and sum(t.copied for t in report.tables) == 0


def test_a_target_holding_other_data_is_refused_and_left_alone(source, target):
    other = connect(target, settings=Settings(), load_entry_points=False)
    other.parties.add("dealer", "Küchenwelt Meyer", by=other.system)
    other.customers.add("Uwe Meyer", owner_party_id=1, by=other.system)
    other.close()

    refused = dealercrm("--db", source, "db", "copy", "--to", target)
    assert refused.returncode == 1
    assert "not the source's" in refused.stderr and "'party'" in refused.stderr and "Traceback" not in refused.stderr
    assert [row[NAME] for row in rows_of(target, "customer")] == ["Uwe Meyer"]


def test_a_source_changed_since_the_copy_is_not_mixed_into_it(source, target):
    assert dealercrm("--db", source, "db", "copy", "--to", target).returncode == 0
    engine = make_engine(source)
    with engine.begin() as conn:  # a customer renamed in the source after the copy
        conn.execute(update(Customer).where(Customer.id == 3).values(name="Renamed Since"))
    engine.dispose()
    refused = dealercrm("--db", source, "db", "copy", "--to", target)
    assert refused.returncode == 1 and "'customer'" in refused.stderr and "changed" in refused.stderr
    assert "Renamed Since" not in {row[NAME] for row in rows_of(target, "customer")}


def test_what_is_not_a_dealercrm_database_or_is_the_source_itself_is_refused(source, tmp_path):
    empty = f"sqlite:///{tmp_path}/empty.db"
    with pytest.raises(ValidationError, match="is not a dealercrm database"):
        copy_database(make_engine(empty), make_engine(f"sqlite:///{tmp_path}/t.db"))
    with pytest.raises(ValidationError, match="is the source database itself"):
        copy_database(make_engine(source), make_engine(source))
