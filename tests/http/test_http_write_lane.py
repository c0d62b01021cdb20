"""Many writing requests at once on SQLite: they take their turn in the app's write lane — one
thread that carries them out one after the other — so no thread of the server waits on the
database file's write lock for another HTTP write; every one of them is carried out, a
refusal in the lane lets the next one in, and the lane's thread ends with the app."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
import uuid

import httpx
from api_world import issue_keys
from case_world import plugin

from dealercrm import CaseTransitioned
from dealercrm.http import create_app


def _fire_all_at_once(app, keys, case_ids, trigger="start_diagnosis"):
    async def fire(client, case_id):
        return await client.post(f"/cases/{case_id}/transitions", json={"trigger": trigger},
                                 headers={"Authorization": f"Bearer {keys['service']}", "If-Match": '"1"',
                                          "Idempotency-Key": uuid.uuid4().hex})

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://crm") as client:
            return await asyncio.gather(*(fire(client, case_id) for case_id in case_ids))

    # a loop of its own, in a thread of its own: a browser test earlier in the session may have left
    # one running in this thread
    with concurrent.futures.ThreadPoolExecutor(1) as runner:
        return runner.submit(asyncio.run, run()).result()


def _watching_the_write_lock(world):
    """A plugin that takes its time checking each transition, and notes which thread checked it
    (and how many writers of the process were waiting on the write lock meanwhile)."""
    seen = []

    def check(event, uow):
        if isinstance(event, CaseTransitioned):
            seen.append((threading.get_ident(), uow.crm.write_lock.waiting))
            time.sleep(0.02)  # long enough for every other request to reach a thread, if it could

    world.crm.register(plugin("slow_checker", dealercrm_check_event=check))
    return seen


def test_writes_wait_in_the_lane_not_on_the_write_lock(world):
    cases = [world.open_case(f"washes badly #{n}").id for n in range(8)]
    waiting = _watching_the_write_lock(world)
    answers = _fire_all_at_once(create_app(world.crm), issue_keys(world), cases)
    assert [a.status_code for a in answers] == [200] * 8
    # one thread carried them all out, one after the other: none of them queued on the write lock
    # (in the pool, eight threads would have: the lock's queue is not asserted here, as another
    # writer of the process — the key's "last used" note — may wait on it at any time)
    assert len(waiting) == 8 and len({thread for thread, _ in waiting}) == 1
    assert {world.crm.cases.get(c, by=world.service.id).state for c in cases} == {"dealer_diagnosis"}


def test_a_route_that_fails_in_the_lane_lets_the_next_one_in(world):
    cases = [world.open_case(f"washes badly #{n}").id for n in range(4)]
    world.fire(cases[1], "start_diagnosis", world.service)  # now at version 2: its If-Match "1" is stale
    answers = _fire_all_at_once(create_app(world.crm), issue_keys(world), cases)
    assert [a.status_code for a in answers] == [200, 412, 200, 200]


def test_the_lane_thread_ends_with_the_app(world):
    from fastapi.testclient import TestClient

    def lanes():
        return sum(1 for t in threading.enumerate() if t.name.startswith("dealercrm-writes"))

    before = lanes()
    keys = issue_keys(world)
    case_id = world.open_case().id
    with TestClient(create_app(world.crm)) as client:  # its lifespan: started, then shut down
        fired = client.post(f"/cases/{case_id}/transitions", json={"trigger": "start_diagnosis"},
                            headers={"Authorization": f"Bearer {keys['service']}"})
        assert fired.status_code == 200 and lanes() == before + 1
    assert lanes() == before
