"""``dealercrm keys``, ``dealercrm openapi`` and ``dealercrm serve``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

import dealercrm
from dealercrm.cli import main
from dealercrm.http import openapi_document
from dealercrm.settings import Settings


@pytest.fixture
def db(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/cli-http.db"
    crm = dealercrm.connect(url, clock=clock, settings=Settings())
    dealer = crm.parties.add("dealer", "Elektro Schmidt", by=crm.system)
    lea = crm.parties.add_actor(dealer.id, "Lea Yilmaz", "service", by=crm.system)
    crm.close()
    return dict(url=url, dealer=dealer.id, lea=lea.id)


def run(capsys, url, *args):
    code = main(["--db", url, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_key_is_printed_once_listed_by_prefix_and_revoked(db, capsys):
    code, out, err = run(capsys, db["url"], "keys", "create", "--party", "Elektro Schmidt", "--role", "service",
                         "--label", "DMS Hamburg")
    assert code == 0 and "not shown again" in err
    [key] = out.split()  # stdout holds the key alone: KEY=$(dealercrm keys create …)
    prefix = "_".join(key.split("_")[:2])
    code, out, _ = run(capsys, db["url"], "keys", "list")
    assert code == 0 and prefix in out and key not in out and "DMS Hamburg" in out
    code, out, _ = run(capsys, db["url"], "keys", "revoke", prefix)
    assert code == 0 and "revoked" in out
    code, _, err = run(capsys, db["url"], "keys", "revoke", prefix)
    assert code == 1 and "already revoked" in err


def test_a_key_can_act_as_an_existing_person_with_that_persons_role(db, capsys):
    code, _, err = run(capsys, db["url"], "keys", "create", "--party", str(db["dealer"]), "--actor", str(db["lea"]))
    assert code == 0 and f"acting as actor {db['lea']}" in err and "'service'" in err
    code, _, err = run(capsys, db["url"], "keys", "create", "--party", str(db["dealer"]), "--actor", str(db["lea"]),
                       "--role", "manager")
    assert code == 1 and "role" in err


def test_a_key_needs_a_role_or_an_actor_and_an_existing_party(db, capsys):
    assert run(capsys, db["url"], "keys", "create", "--party", "Elektro Schmidt")[0] == 1
    code, _, err = run(capsys, db["url"], "keys", "create", "--party", "Nobody GmbH", "--role", "x")
    assert code == 1 and "Nobody GmbH" in err


def test_openapi_prints_the_document(db, capsys, tmp_path):
    code, out, _ = run(capsys, db["url"], "openapi")
    assert code == 0 and json.loads(out) == openapi_document()
    target = tmp_path / "openapi.json"
    assert run(capsys, db["url"], "openapi", "--output", str(target))[0] == 0
    assert json.loads(target.read_text()) == openapi_document()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_answers_over_real_http_on_localhost(db, capsys, workers):
    code, out, _ = run(capsys, db["url"], "keys", "create", "--party", "Elektro Schmidt", "--role", "service")
    key = out.strip().splitlines()[-1]
    port = free_port()
    env = {**os.environ, "DEALERCRM_DATABASE_URL": db["url"]}
    command = [sys.executable, "-c", "from dealercrm.cli import main; main()", "serve", "--port", str(port),
               "--log-level", "warning", "--workers", workers]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, server.stdout.read().decode()
                time.sleep(0.2)
        assert health.json()["status"] == "ok"
        me = httpx.get(f"http://127.0.0.1:{port}/me", headers={"Authorization": f"Bearer {key}"}, timeout=5)
        assert me.json()["party_id"] == db["dealer"]
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def heap_left_as_found():
    import gc

    gc.unfreeze()
    yield gc
    gc.unfreeze()  # the test process's own collector as before


def test_serve_leaves_what_it_built_at_start_out_of_full_collections(db, capsys, monkeypatch, heap_left_as_found):
    # a full collection used to walk every module, route and schema again, every few seconds
    # under load: the slowest answers waited for it
    import uvicorn

    seen = {}

    def run(app, **options):
        seen["frozen"], seen["app"] = heap_left_as_found.get_freeze_count(), app

    monkeypatch.setattr(uvicorn, "run", run)
    assert main(["--db", db["url"], "serve", "--port", "8799"]) in (0, None)
    assert seen["frozen"] > 1000 and seen["app"].title == "dealercrm"


def test_each_worker_process_of_serve_settles_its_heap_too(db, monkeypatch, heap_left_as_found):
    from dealercrm.http import server

    monkeypatch.setenv("DEALERCRM_DATABASE_URL", db["url"])
    app = server.app()
    assert heap_left_as_found.get_freeze_count() > 1000
    app.state.crm.close()
