"""``Idempotency-Key``: a POST repeated after a lost answer is carried out once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from dealercrm.db.api_models import IdempotencyRecord
from dealercrm.db.case_models import Case


def open_case(api, world, key, who="service", summary="washes badly"):
    return api.post("/cases", headers=api.as_(who, **{"Idempotency-Key": key}),
                    json={"customer_id": world.customer.id, "summary": summary})


def test_the_same_key_and_request_returns_the_first_answer_and_opens_one_case(api, world):
    first = open_case(api, world, "k-1")
    again = open_case(api, world, "k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"] and again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert world.count(Case) == 1


def test_the_same_key_with_another_body_is_a_422_problem(api, world):
    open_case(api, world, "k-2")
    other = open_case(api, world, "k-2", summary="makes a noise")
    assert other.status_code == 422
    assert other.json()["type"] == "urn:dealercrm:problem:idempotency-key-reused"
    assert world.count(Case) == 1


def test_the_same_key_on_another_path_is_another_request(api, world):
    open_case(api, world, "k-3")
    answer = api.post("/tasks", headers=api.as_("service", **{"Idempotency-Key": "k-3"}),
                      json={"title": "call Erika", "due_at": "2026-03-03T10:00:00+01:00"})
    assert answer.status_code == 422 and "another request" in answer.json()["detail"]


def test_keys_belong_to_a_party(api, world):
    open_case(api, world, "shared")
    answer = api.post("/customers", headers=api.as_("other_dealer", **{"Idempotency-Key": "shared"}),
                      json={"name": "Max Mustermann"})
    assert answer.status_code == 201


def test_a_refusal_is_replayed_too_and_nothing_runs_twice(api, world):
    first = open_case(api, world, "k-4", who="warranty")
    again = open_case(api, world, "k-4", who="warranty")
    assert first.status_code == again.status_code == 404  # the manufacturer does not see Erika yet
    assert again.json() == first.json() and again.headers["content-type"] == "application/problem+json"


def test_a_repeat_while_the_first_still_runs_is_409(api, world):
    with world.crm.uow(world.crm.system, "test") as uow:
        uow.connection.execute(insert(IdempotencyRecord.__table__).values(
            key="k-5", party_id=world.dealer.id, method="POST", path="/cases", request_hash="x", created_at=uow.now))
        uow.commit()
    answer = open_case(api, world, "k-5")
    assert answer.status_code == 422  # another request (hash): the key is taken
    with world.crm.uow(world.crm.system, "test") as uow:
        uow.connection.execute(insert(IdempotencyRecord.__table__).values(
            key="k-6", party_id=world.dealer.id, method="POST", path="/tasks", created_at=uow.now,
            request_hash=_hash(world.service.id, b"/tasks", b'{"title":"x","due_at":"2026-03-03T10:00:00Z"}')))
        uow.commit()
    running = api.post("/tasks", headers=api.as_("service", **{"Idempotency-Key": "k-6"}),
                       content=b'{"title":"x","due_at":"2026-03-03T10:00:00Z"}')
    assert running.status_code == 409 and "still running" in running.json()["detail"]
    world.crm.clock.advance(minutes=10)
    stale = api.post("/tasks", headers=api.as_("service", **{"Idempotency-Key": "k-6"}),
                     content=b'{"title":"x","due_at":"2026-03-03T10:00:00Z"}')
    assert stale.status_code == 409 and "outcome is unknown" in stale.json()["detail"]


def _hash(actor_id: int, path: bytes, body: bytes) -> str:
    import hashlib

    return hashlib.sha256(b"\n".join([str(actor_id).encode(), b"POST", path, b"", body])).hexdigest()


def test_records_expire_after_a_day_and_the_key_can_be_used_again(api, world):
    open_case(api, world, "k-7")
    world.crm.clock.advance(timedelta(hours=25))
    again = open_case(api, world, "k-7")
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert world.count(Case) == 2


def test_an_overlong_key_is_refused(api, world):
    answer = open_case(api, world, "x" * 256)
    assert answer.status_code == 422 and answer.json()["field"] == "Idempotency-Key"


def test_without_a_valid_api_key_the_key_changes_nothing(api, world):
    answer = api.post("/cases", headers={"Idempotency-Key": "k-8"}, json={"customer_id": 1, "summary": "x"})
    assert answer.status_code == 401


def test_a_colleagues_key_does_not_replay_an_answer_that_was_not_given_to_this_actor(api, world):
    """The manager erases; the service desk, which may not, reusing the manager's key gets
    no copy of the manager's answer — its own request is refused as a reused key."""
    path = f"/customers/{world.customer.id}/erase"
    assert api.post(path, headers=api.as_("service")).status_code == 403
    assert api.post(path, headers=api.as_("manager", **{"Idempotency-Key": "erase-1"})).status_code == 200
    again = api.post(path, headers=api.as_("service", **{"Idempotency-Key": "erase-1"}))
    assert again.status_code == 422 and "idempotent-replayed" not in again.headers
    assert again.json()["type"] == "urn:dealercrm:problem:idempotency-key-reused"
