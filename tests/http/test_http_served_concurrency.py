"""Issue #15 against a real ``dealercrm serve`` (uvicorn, one process, SQLite, 127.0.0.1).

* Reads never queue behind writes: writes beyond the threads kept for reads wait on the
  event loop, holding no thread, so with every write stuck a read is still answered.
* A key found valid is trusted for a few seconds only: revoked by another process
  (``dealercrm keys revoke``), it stops working within ``KEY_CHECK_SECONDS``.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

import dealercrm
from dealercrm.services.api_keys import KEY_CHECK_SECONDS
from dealercrm.settings import Settings

THREADS = 12  # serve --threads: 8 of them kept for reads, 4 for writes


@pytest.fixture(scope="module")
def served(tmp_path_factory, dealercrm_serve):
    folder = tmp_path_factory.mktemp("served")
    url = f"sqlite:///{folder}/served.db"
    crm = dealercrm.connect(url, settings=Settings())
    crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
    schmidt = crm.parties.add("dealer", "Elektro Schmidt", by=crm.system)
    keys = [crm.api_keys.create(schmidt.id, "service", by=crm.system) for _ in range(2)]
    crm.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALERCRM_")}
    env.update(DEALERCRM_DATABASE_URL=url)
    with dealercrm_serve(folder, url, "--log-level", "warning", "--threads", str(THREADS)) as base:
        yield dict(base=base, url=url, path=folder / "served.db", env=env, folder=folder,
                   key=keys[0].key, other=keys[1])


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_read_is_answered_while_more_writes_wait_than_the_server_has_threads(served):
    # another process holds SQLite's write lock: every write the server starts waits for it
    holder = sqlite3.connect(served["path"], isolation_level=None, timeout=30)
    holder.execute("BEGIN IMMEDIATE")
    writes = 3 * THREADS
    try:
        with ThreadPoolExecutor(writes) as pool:
            posted = [pool.submit(httpx.post, f"{served['base']}/customers", headers=bearer(served["key"]),
                                  json={"name": f"Kunde {n}"}, timeout=60) for n in range(writes)]
            time.sleep(1.0)  # let them all arrive and get stuck
            started = time.monotonic()
            read = httpx.get(f"{served['base']}/customers", headers=bearer(served["key"]), timeout=10)
            waited = time.monotonic() - started
            assert read.status_code == 200 and waited < 2.0, (read.status_code, waited)
            assert not any(f.done() for f in posted)  # the writes were still waiting meanwhile
            holder.execute("ROLLBACK")
            statuses = [f.result().status_code for f in posted]
    finally:
        holder.close()
    assert statuses == [201] * writes  # let go, every write went through


def test_a_key_revoked_by_another_process_stops_working_within_the_bound(served):
    key = served["other"]
    assert httpx.get(f"{served['base']}/customers", headers=bearer(key.key), timeout=10).status_code == 200
    revoked = subprocess.run([sys.executable, "-c", "from dealercrm.cli import main; main()", "keys", "revoke",
                              key.prefix], env=served["env"], cwd=served["folder"], capture_output=True, timeout=120)
    assert revoked.returncode == 0, revoked.stderr.decode()
    at = time.monotonic()
    while True:
        answer = httpx.get(f"{served['base']}/customers", headers=bearer(key.key), timeout=10)
        if answer.status_code == 401:
            break
        assert answer.status_code == 200
        assert time.monotonic() - at <= KEY_CHECK_SECONDS + 1.0, "still accepted after the bound"
        time.sleep(0.1)
    assert "revoked" in answer.json()["detail"]
    assert time.monotonic() - at <= KEY_CHECK_SECONDS + 1.0
