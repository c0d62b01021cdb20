"""Every statement dealercrm runs is one its host can see.

A host that hands dealercrm its own engine (``dealercrm.connect(engine)``) expects its
engine events — ``before_cursor_execute``: echo, OpenTelemetry, Sentry — to see every
statement. SQLite's own trace callback, installed on each connection from a "connect"
listener, is the oracle: it sees every statement the database runs. For a transition,
a tick batch and a dispatch, the listener and the trace see the same statements (BEGIN
and COMMIT aside: SQLite's trace shows the driver's COMMIT, which no statement event
covers). A statement run for several parameter sets (a cursor ``executemany``) is run,
and traced, once per set, and counted so.

The same watch shows what a transition's transaction holds: the case read with its
actor, one UPDATE, one history row and one audit row — a warranty decision included.
"""

from __future__ import annotations

import shutil
from collections import Counter

import pytest
from case_world import build_world, plugin
from sqlalchemy import create_engine, event

import dealercrm
from dealercrm import hookimpl
from dealercrm.channels import DeliveryResult
from dealercrm.settings import Settings


def _shape(statement: str) -> tuple[str, ...]:
    """What a statement is (verb and table), the same whether parameters are bound or not."""
    return tuple(statement.split()[:3])


def _transaction_control(statement: str) -> bool:
    return statement.split(None, 1)[0].upper() in ("BEGIN", "COMMIT", "ROLLBACK")


class Watch:
    """The host's statement listener next to SQLite's trace, on the host's engine."""

    def __init__(self, engine) -> None:
        self.seen: list[str] = []
        self.traced: list[str] = []
        event.listen(engine, "connect", lambda dbapi_connection, _record: dbapi_connection.set_trace_callback(
            self.traced.append))
        event.listen(engine, "before_cursor_execute", self.before_cursor_execute)

    def before_cursor_execute(self, conn, cursor, statement, parameters, context, executemany) -> None:
        times = len(parameters) if executemany and isinstance(parameters, list) else 1
        self.seen.extend([statement] * times)

    def during(self, operation) -> tuple[Counter, Counter]:
        """(what the listener saw, what SQLite ran) while ``operation`` ran, by statement shape."""
        self.seen.clear()
        self.traced.clear()
        operation()
        # PRAGMAs run only when a new connection is set up (SQLAlchemy's documented "connect"
        # recipe, before any SQLAlchemy Connection exists): none is opened below
        assert not any(s.upper().startswith("PRAGMA") for s in self.traced), "a connection was opened"
        return (Counter(_shape(s) for s in self.seen if not _transaction_control(s)),
                Counter(_shape(s) for s in self.traced if not _transaction_control(s)))


class Postbox:
    """A channel that delivers everything, but the first message, which it asks to retry."""

    name = "postbox"
    purposes = frozenset({"service", "marketing"})
    consent_channel = "email"
    address_field = "email"
    consent_required_for = frozenset()

    def __init__(self) -> None:
        self.received = []

    def send(self, message):
        self.received.append(message)
        if len(self.received) == 1:
            return DeliveryResult.retry("the post office is closed today")
        return DeliveryResult.delivered(f"pb-{message.id}")


@pytest.fixture
def host(tmp_path, clock, _migrated_template):
    """dealercrm on the host's own engine, with the host's listener and SQLite's trace on it."""
    path = tmp_path / "host.db"
    shutil.copyfile(_migrated_template, path)
    engine = create_engine(f"sqlite:///{path}")
    watch = Watch(engine)
    box = Postbox()
    channels = plugin("postbox", dealercrm_register_channels=hookimpl(lambda crm: [box]))
    crm = dealercrm.connect(engine, clock=clock, plugins={"postbox": channels},
                            settings=Settings(plugins={"case_notifications": {"channels": ["postbox"]}}))
    crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
    world = build_world(crm)
    yield world, watch, box
    crm.close()


def test_a_hand_off_is_four_statements_and_the_host_sees_each(host):
    world, watch, _ = host
    case = world.open_case()
    world.fire(case.id, "start_diagnosis", world.service)
    seen, traced = watch.during(lambda: world.fire(case.id, "forward_to_manufacturer", world.service))
    assert seen == traced
    assert sorted(seen) == sorted([("SELECT", "service_case.id,", "service_case.workflow,"),  # with its actor
                                   ("UPDATE", "service_case", "SET"), ("INSERT", "INTO", "case_event"),
                                   ("INSERT", "INTO", "audit_record")])


def test_a_warranty_decision_goes_into_the_transitions_one_update_and_one_audit_row(host):
    world, watch, _ = host
    case = world.open_case()
    world.to_manufacturer(case.id)
    seen, traced = watch.during(lambda: world.fire(case.id, "approve_visit", world.warranty_desk,
                                                   technician_party_id=world.technician.id, rma_number="RMA-9"))
    assert seen == traced and sum(seen.values()) == 4
    assert seen[("UPDATE", "service_case", "SET")] == 1 and seen[("INSERT", "INTO", "audit_record")] == 1
    decided = world.crm.cases.get(case.id, by=world.crm.system)
    assert (decided.state, decided.rma_number) == ("technician_dispatch", "RMA-9")


def test_the_host_sees_every_statement_of_a_tick_batch_and_its_notices(host, clock):
    world, watch, _ = host
    cases = [world.open_case(f"case {i}") for i in range(4)]
    for case in cases[:3]:
        world.to_manufacturer(case.id)
    world.crm.outbox.queue_notices()  # what was committed so far is noticed: the tick's own notices remain
    clock.advance(days=7)
    report = {}
    seen, traced = watch.during(lambda: report.update(tick=world.crm.cases.tick(batch_size=10)))
    assert report["tick"].fired == 4 and report["tick"].batches == 1 and report["tick"].noticed == 4
    assert seen == traced
    # one batch: the four escalations as one UPDATE, history and audit statement each, run four times
    assert seen[("UPDATE", "service_case", "SET")] == 4 and seen[("INSERT", "INTO", "case_event")] == 4


def test_the_host_sees_every_statement_of_a_dispatch(host):
    world, watch, box = host
    for _ in range(3):
        world.to_manufacturer(world.open_case().id)
    report = {}
    seen, traced = watch.during(lambda: report.update(dispatch=world.crm.outbox.dispatch()))
    assert (report["dispatch"].noticed, report["dispatch"].sent, report["dispatch"].retried) == (9, 2, 1)
    assert len(box.received) == 3
    assert seen == traced
    assert seen[("INSERT", "INTO", "outbox_message")] == 2  # the batch's three notices: rows of 2 and 1


def test_batches_of_every_size_are_written_with_a_handful_of_statement_texts(host):
    """pysqlite keeps one prepared statement per distinct SQL text (up to 128 a connection,
    large for a long multi-row INSERT): batches of notices of every size from 1 to 11 use
    the outbox INSERT in chunks of 1, 2, 4 and 8 rows only, and mark their events with IN
    lists of 4 to 64 ids, not a new text for every size."""
    world, watch, _ = host
    inserts, marks = set(), set()
    for size in range(1, 12):
        for _ in range(size):
            world.to_manufacturer(world.open_case().id)
        watch.during(world.crm.outbox.queue_notices)
        inserts |= {s for s in watch.seen if s.startswith("INSERT INTO outbox_message")}
        marks |= {s for s in watch.seen if s.startswith("UPDATE case_event")}
    assert len(inserts) == 4 and len(marks) == 5
