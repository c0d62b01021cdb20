"""A keyed POST is one transaction: the operation, its ``Idempotency-Key`` claim and the answer
kept for a repeat commit together, or not at all.

The answer of a writing route is made in the thread pool right after the route
(``dealercrm.http.common.in_pool``), while the operation's transaction is still open: the
claim holds the operation's commit until then (``dealercrm.uow.Rider.holds``) and writes the
record with the answer into it. SQLite's own trace, installed on every connection, is the
oracle for what the database ran. Where the route runs another unit of work after its
operation, the operation commits first (the other one may read it) and the answer is kept
after it, as before.
"""

from __future__ import annotations

import threading

import pytest
from api_world import Api
from case_world import plugin
from sqlalchemy import create_engine, event, select, text

from dealercrm.db.api_models import IdempotencyRecord
from dealercrm.events import CaseTransitioned
from dealercrm.http import create_app
from dealercrm.http.auth import Caller
from dealercrm.http.common import Router
from dealercrm.http.schemas import FiredOut


class Trace:
    """Every statement SQLite runs, BEGIN and COMMIT included (its trace callback)."""

    def __init__(self, engine) -> None:
        self.ran: list[str] = []
        engine.pool.dispose()  # connections made from now on are traced
        event.listen(engine, "connect", lambda dbapi, _record: dbapi.set_trace_callback(self.ran.append))

    def commits(self) -> int:
        return sum(statement.split(None, 1)[0].upper() == "COMMIT" for statement in self.ran)


def key_checked(api, who: str) -> None:
    """The key is checked now, and its use noted (on a thread of its own): nothing of the kind
    runs during the request that follows."""
    api.get("/me", headers=api.as_(who))
    for thread in threading.enumerate():
        if thread.name.startswith("dealercrm-key-"):
            thread.join(10)


def keyed(api, who: str, key: str, **extra: str) -> dict[str, str]:
    return api.as_(who, **{"Idempotency-Key": key}, **extra)


def record(world, key: str):
    with world.crm.read(world.crm.system) as uow:
        return uow.connection.execute(select(IdempotencyRecord.__table__).where(
            IdempotencyRecord.key == key)).first()


def test_a_keyed_transition_commits_its_case_history_audit_claim_and_answer_at_once(api, world):
    case_id = world.open_case().id
    key_checked(api, "service")
    trace = Trace(world.crm.engine)
    answer = api.post(f"/cases/{case_id}/transitions", headers=keyed(api, "service", "t-1", **{"If-Match": '"1"'}),
                      json={"trigger": "start_diagnosis"})
    assert answer.status_code == 200 and answer.json()["version"] == 2
    assert trace.commits() == 1, trace.ran
    inserts = [s.split()[2] for s in trace.ran if s.upper().startswith("INSERT INTO")]
    assert sorted(inserts) == ["audit_record", "case_event", "idempotency_record"], trace.ran
    kept = record(world, "t-1")
    assert kept.status == 200 and kept.body == answer.text and kept.headers["etag"] == '"2"'
    again = api.post(f"/cases/{case_id}/transitions", headers=keyed(api, "service", "t-1", **{"If-Match": '"1"'}),
                     json={"trigger": "start_diagnosis"})
    assert again.headers["idempotent-replayed"] == "true" and again.json() == answer.json()
    assert trace.commits() == 1  # the repeat wrote nothing


def test_the_events_of_a_keyed_operation_are_published_after_its_one_commit(api, world):
    """A handler reading the database from its own connection finds the transition and its
    kept answer committed: the events wait for the commit that carries the answer."""
    seen = []
    url = world.crm.engine.url

    def dealercrm_handle_event(event):
        if isinstance(event, CaseTransitioned):
            outside = create_engine(url)
            with outside.connect() as conn:
                seen.append((conn.execute(text("SELECT version FROM service_case WHERE id = :id"),
                                          {"id": event.case_id}).scalar_one(),
                             conn.execute(text("SELECT status FROM idempotency_record WHERE key = 'e-1'")).scalar()))
            outside.dispose()

    world.crm.register(plugin("sees_committed", dealercrm_handle_event=dealercrm_handle_event))
    case_id = world.open_case().id
    answer = api.post(f"/cases/{case_id}/transitions", headers=keyed(api, "service", "e-1"),
                      json={"trigger": "start_diagnosis"})
    assert answer.status_code == 200
    assert seen == [(2, 200)]


@pytest.fixture
def own_routes(world, api):
    """Routes of a test's own: one that fires and then fails, after its operation and before its
    answer; one whose answer does not fit its model; one that fires twice."""
    router = Router(prefix="/test-held", tags=["test"])

    @router.post("/{case_id}/twice", response_model=FiredOut)
    def fire_twice(me: Caller, case_id: int):
        me.cases.fire(case_id, "start_diagnosis")
        return me.cases.fire(case_id, "forward_to_manufacturer")

    @router.post("/{case_id}/raise", response_model=FiredOut)
    def fire_then_raise(me: Caller, case_id: int):
        me.cases.fire(case_id, "start_diagnosis")
        raise RuntimeError("the route failed after its operation")

    @router.post("/{case_id}/misanswer", response_model=FiredOut)
    def fire_then_misanswer(me: Caller, case_id: int):
        me.cases.fire(case_id, "start_diagnosis")
        return {"case_id": "not a number"}

    app = create_app(world.crm)
    app.include_router(router)
    client = Api(app, raise_server_exceptions=False)
    client.keys = api.keys
    with client:
        yield client


@pytest.mark.parametrize("how", ["raise", "misanswer"])
def test_a_route_own_routes_its_operation_leaves_nothing_and_keeps_no_answer(own_routes, world, how):
    case_id = world.open_case().id
    before = world.snapshot(case_id)
    path = f"/test-held/{case_id}/{how}"
    answer = own_routes.post(path, headers=keyed(own_routes, "service", f"f-{how}"))
    assert answer.status_code == 500
    assert world.snapshot(case_id) == before  # the transition rolled back with the failed answer
    assert record(world, f"f-{how}") is None  # nothing kept: the client may retry with the same key
    # and the write lock went with it: the next operation is not kept waiting
    assert world.fire(case_id, "start_diagnosis", by=world.service).version == 2


def test_a_read_after_the_operation_joins_its_transaction_and_sees_it(api, world):
    """``POST /cases/{id}/facts`` records the fact, then reads the case back for its answer:
    the read joins the operation's still open transaction and finds the fact; one commit."""
    case_id = world.open_case().id
    key_checked(api, "service")
    trace = Trace(world.crm.engine)
    answer = api.post(f"/cases/{case_id}/facts", headers=keyed(api, "service", "r-1"),
                      json={"key": "customer_agreed_late_slot", "value": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["version"] == 2 and answer.json()["facts"] == {"customer_agreed_late_slot": True}
    assert trace.commits() == 1, trace.ran
    # the read's actor is the operation's, read once in this one transaction
    assert sum("FROM actor" in statement for statement in trace.ran) == 1, trace.ran
    assert record(world, "r-1").body == answer.text
    again = api.post(f"/cases/{case_id}/facts", headers=keyed(api, "service", "r-1"),
                     json={"key": "customer_agreed_late_slot", "value": True})
    assert again.headers["idempotent-replayed"] == "true" and again.json() == answer.json()


def test_a_second_write_after_the_operation_has_it_committed_first(own_routes, world):
    """A route that writes twice: the first operation commits with the claim before the second
    begins (it takes the write lock itself); the answer is kept after, and a repeat replays it."""
    case_id = world.open_case().id
    key_checked(own_routes, "service")
    trace = Trace(world.crm.engine)
    answer = own_routes.post(f"/test-held/{case_id}/twice", headers=keyed(own_routes, "service", "w-1"))
    assert answer.status_code == 200 and answer.json()["version"] == 3
    assert trace.commits() == 3, trace.ran  # the first move with the claim, the second, the answer
    assert record(world, "w-1").body == answer.text
    again = own_routes.post(f"/test-held/{case_id}/twice", headers=keyed(own_routes, "service", "w-1"))
    assert again.headers["idempotent-replayed"] == "true" and again.json() == answer.json()
    assert world.crm.cases.get(case_id, by=world.crm.system).version == 3


def test_a_key_found_claimed_when_the_answer_is_written_rolls_the_operation_back(api, world):
    """The record is written last, with the answer: a key another request claimed first is
    found there, this operation rolls back, and the answer is what the record says."""
    case_id = world.open_case().id
    with world.crm.uow(world.crm.system, "test") as uow:
        uow.connection.execute(IdempotencyRecord.__table__.insert().values(
            key="c-1", party_id=world.dealer.id, method="POST", path=f"/cases/{case_id}/transitions",
            request_hash="another request", created_at=uow.now))
        uow.commit()
    before = world.snapshot(case_id)
    answer = api.post(f"/cases/{case_id}/transitions", headers=keyed(api, "service", "c-1"),
                      json={"trigger": "start_diagnosis"})
    assert answer.status_code == 422 and answer.json()["type"] == "urn:dealercrm:problem:idempotency-key-reused"
    assert world.snapshot(case_id) == before
