"""A keyed request's operation is held open until its answer is written with it; reads of the
route meanwhile join that transaction. Whatever such a read does, the operation stays whole.
And a health check is a read: it never waits for the writers."""

from __future__ import annotations

import threading

from dealercrm.db.models import Customer
from dealercrm.http.idempotency import Claim, RecordStore
from dealercrm.uow import RIDER


def _held(world, key: str) -> Claim:
    claim = Claim(RecordStore(world.crm), world.dealer.id, key, "POST", "/customers", "digest-" + key)
    claim.answers = True  # as the core's writing routes do: the commit waits for the answer
    return claim


def test_a_read_that_rolls_back_its_session_inside_a_held_operation_leaves_the_operation_whole(world):
    claim = _held(world, "roll-back-a-read")
    token = RIDER.set(claim)
    try:
        created = world.crm.customers.add("Erika Gehalten", by=world.service.id)  # its commit is held
        with world.crm.read(world.service.id) as read:
            assert read.session.get(Customer, created.id).name == "Erika Gehalten"  # sees the operation
            read.session.rollback()  # e.g. a plugin's read recovering from a failed flush
        claim.answer(201, {"content-type": "application/json"}, b'{"id": %d}' % created.id)
    finally:
        RIDER.reset(token)
    assert claim.kept
    assert world.crm.customers.get(created.id, by=world.service.id).name == "Erika Gehalten"


def test_a_read_through_core_inside_a_held_operation_opens_no_savepoint(world):
    from sqlalchemy import event

    seen = []
    listener = lambda conn, cursor, statement, *rest: seen.append(statement)  # noqa: E731
    event.listen(world.crm.engine, "before_cursor_execute", listener)
    claim = _held(world, "core-read")
    token = RIDER.set(claim)
    try:
        case = world.crm.cases.open(world.customer.id, "washes badly", asset_id=world.machine.id,
                                    by=world.service.id)
        world.crm.cases.resolved_by([case], by=world.service.id)  # the promise the answer of POST /cases reads
        claim.answer(201, {"content-type": "application/json"}, b'{"id": %d}' % case.id)
    finally:
        RIDER.reset(token)
        event.remove(world.crm.engine, "before_cursor_execute", listener)
    assert claim.kept and not [s for s in seen if "SAVEPOINT" in s.upper()]


def test_health_answers_while_a_writer_holds_the_database(api, world):
    # /health took SQLite's write lock (BEGIN IMMEDIATE) outside the process's own queue of
    # writers: under write load it waited in SQLite's busy handler, up to 30 s, then said 503
    holding, answered, released = threading.Event(), threading.Event(), threading.Event()

    def writer():
        with world.crm.uow(world.crm.system, "a long write"):
            holding.set()
            answered.wait(5)  # until the health check answered, or 5 s
            released.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(5)
        answer = api.get("/health")
        assert not released.is_set()  # answered while the writer still held the database
        answered.set()
    finally:
        answered.set()
        thread.join()
    assert answer.status_code == 200 and answer.json()["status"] == "ok"
