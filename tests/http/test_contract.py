"""The OpenAPI document is the contract: ``schemathesis run --checks all`` against a served instance.

A real ``dealercrm serve`` (uvicorn on 127.0.0.1) over a SQLite file seeded with the demo
dealers, called with the API key of Elektro Schmidt's manager. Schemathesis reads the
document the server serves and sends what it allows and what it forbids — examples,
boundary values (coverage), random requests (fuzzing) and chains of calls that follow
the document's links (stateful) — and checks every answer with all of its checks: no
server error; status, content type, headers and body as documented; valid data accepted
and invalid data refused; a missing required header refused; an undocumented method a
405 with ``Allow``; authentication not ignored; what was created can be read, what was
deleted is gone.

``contract_hooks.py`` teaches it the formats the document can only name and gives every
request its own ``Idempotency-Key``; ``schemathesis.toml`` lists the one answer added to
"valid data accepted": 412, what a well-formed but stale ``If-Match`` gets, as documented.
The run is bounded (examples per operation, a fixed seed) to fit in about a minute.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from dealercrm import connect
from dealercrm.settings import Settings

HERE = Path(__file__).resolve().parent
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
EXAMPLES = int(os.environ.get("DEALERCRM_CONTRACT_EXAMPLES", "15"))
SEED = int(os.environ.get("DEALERCRM_CONTRACT_SEED", "16"))


@pytest.fixture(scope="module")
def served(tmp_path_factory, dealercrm_serve):
    folder = tmp_path_factory.mktemp("contract")
    url = f"sqlite:///{folder}/contract.db"
    crm = connect(url, settings=Settings())
    for _ in crm.plugins.checked_call("dealercrm_seed_demo", crm=crm, rng=random.Random(7)):
        pass
    manager = crm.parties.add_actor(2, "Petra Schmidt", "manager", by=crm.system)
    key = crm.api_keys.create(2, actor_id=manager.id, label="contract", by=crm.system).key
    crm.close()
    with dealercrm_serve(folder, url, "--log-level", "warning", log=folder / "server.log") as base:
        yield base, key, folder


@pytest.mark.xfail(strict=True, reason=(
    "issue #16 item 7, open: routes merged after the contract work break it — GET /tasks accepts query "
    "values the document refuses, PATCH /cases/{id} on a closed case answers 422 where 409 is documented, "
    "/customers/duplicates answers 422 to an undeclared method instead of 405, and more (17 findings); "
    "strict, so the day it passes this marker must go"))
def test_the_served_api_keeps_its_documented_contract(served):
    base, key, folder = served
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HERE / "contract_hooks.py")}
    run = subprocess.run(
        [str(SCHEMATHESIS), "--config-file", str(HERE / "schemathesis.toml"), "run", f"{base}/openapi.json",
         "--checks", "all", "--header", f"Authorization: Bearer {key}", "--max-examples", str(EXAMPLES),
         "--seed", str(SEED), "--workers", "1", "--no-color", "--max-failures", "50",
         "--report", "junit", "--report-dir", str(folder / "report")],
        capture_output=True, text=True, cwd=folder, env=env, timeout=900)
    log = (folder / "server.log").read_text(errors="replace")
    assert run.returncode == 0, f"{run.stdout[-20000:]}\n{run.stderr[-3000:]}\n--- server log ---\n{log[-5000:]}"
    assert "Traceback" not in log
