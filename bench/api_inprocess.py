"""CPU per HTTP request in process: dealercrm's ASGI app against the minimal baseline app, without
uvicorn or sockets — the figure least disturbed by a busy machine, to compare changes by.

    .venv/bin/python bench/api_inprocess.py [--clients 8] [--requests 700] [--rounds 6]
                                            [--only dealercrm|baseline|baseline-sqlalchemy]
                                            [--opens-only]

The same load as ``bench/api_load.py`` (each client plays whole cases: open, then six
transitions by the three parties, every POST with an ``Idempotency-Key``, every transition
with ``If-Match``), sent through httpx's ASGI transport to the app in the same process: the
dealercrm app as ``create_app`` builds it (the built-in satisfaction rule blocked, as there),
and ``bench/api_baseline.py``'s app — on raw ``sqlite3`` (``baseline``) and on SQLAlchemy
Core (``baseline-sqlalchemy``: what the execution layer the design card fixes costs the
same app) — each in a child process of its own on a fresh SQLite file. Each child runs a
warm-up, then ``--rounds`` rounds of ``--requests`` requests, and reports the process's CPU
time per request (user + system, ``time.process_time``) of its best round and the median.
The figure includes the client's own work (the same for all) and leaves out uvicorn's (also
the same for all): read the differences, and the ratios as lower bounds of ``api_load.py``'s.

Every answer must be a 201 or 200 (exit status 1 otherwise): nothing is refused or retried.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

_HERE = os.path.dirname(os.path.abspath(__file__))
# bench/ also holds transitions.py: keep the folder off sys.path, or it would shadow the
# transitions package dealercrm imports (api_load.py does the same)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]


#: the minimal app on raw sqlite3, the same app on SQLAlchemy Core (``BASELINE_SQLALCHEMY``), dealercrm
VARIANTS = ("baseline", "baseline-sqlalchemy", "dealercrm")


def _api_load():
    spec = importlib.util.spec_from_file_location("api_load", os.path.join(_HERE, "api_load.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _play(client, ids, flow, n: int, budget: list[int], status: dict, opens_only: bool) -> None:
    customer, asset = ids["customers"][n]

    def headers(who: str, version: int | None = None) -> dict[str, str]:
        said = {"Authorization": f"Bearer {ids['keys'][who]}", "Idempotency-Key": uuid.uuid4().hex}
        if version is not None:
            said["If-Match"] = f'"{version}"'
        return said

    while budget[0] > 0:
        budget[0] -= 1
        opened = await client.post("/cases", headers=headers("dealer"),
                                   json={"customer_id": customer, "summary": "washes badly", "asset_id": asset})
        status[opened.status_code] = status.get(opened.status_code, 0) + 1
        case_id, version = opened.json()["id"], 1
        for who, trigger, data in () if opens_only else flow:
            budget[0] -= 1
            fired = await client.post(f"/cases/{case_id}/transitions", headers=headers(who, version),
                                      json={"trigger": trigger, "data": data(ids, datetime.now(timezone.utc))})
            status[fired.status_code] = status.get(fired.status_code, 0) + 1
            version = fired.json()["version"]


async def _measure(app, ids, flow, args) -> dict:
    import anyio.to_thread
    import httpx

    anyio.to_thread.current_default_thread_limiter().total_tokens = 40
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        status: dict[int, int] = {}
        warm = [args.clients * 14]
        await asyncio.gather(*(_play(client, ids, flow, n, warm, status, args.opens_only) for n in range(args.clients)))
        rounds = []
        for _ in range(args.rounds):
            budget = [args.requests]
            status.clear()
            cpu = time.process_time()
            await asyncio.gather(*(_play(client, ids, flow, n, budget, status, args.opens_only)
                                   for n in range(args.clients)))
            answered = sum(status.values())
            rounds.append((time.process_time() - cpu) / answered * 1000)
            if set(status) - {200, 201}:
                return {"rounds": rounds, "refused": {str(k): v for k, v in status.items()}}
        return {"rounds": rounds, "refused": {}}


def child(variant: str, args) -> dict:
    load = _api_load()
    with tempfile.TemporaryDirectory(prefix="dealercrm-api-inprocess-") as home:
        url = f"sqlite:///{Path(home) / 'api.db'}"
        ids = load.prepare(url, args.clients)
        if variant.startswith("baseline"):
            os.environ.update(load.baseline_environment(variant, url, ids))
            spec = importlib.util.spec_from_file_location("api_baseline", os.path.join(_HERE, "api_baseline.py"))
            baseline = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(baseline)
            baseline.DB.script(baseline.SCHEMA)
            return asyncio.run(_measure(baseline.app, ids, load.FLOW, args))
        import dealercrm
        from dealercrm.http import create_app

        os.environ["DEALERCRM_BLOCK_PLUGINS"] = ",".join(filter(None, [os.environ.get("DEALERCRM_BLOCK_PLUGINS"),
                                                                      *load.RULES]))
        crm = dealercrm.connect(url)
        try:
            return asyncio.run(_measure(create_app(crm), ids, load.FLOW, args))
        finally:
            crm.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--requests", type=int, default=700, help="requests per round (default 700)")
    parser.add_argument("--rounds", type=int, default=6, help="measured rounds; the best is kept (default 6)")
    parser.add_argument("--only", choices=VARIANTS, help="run one app only")
    parser.add_argument("--opens-only", action="store_true", help="clients only open cases (no transitions)")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args)))
        return 0
    print(f"in process, {args.clients} clients, {args.rounds} rounds of {args.requests} requests, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}", flush=True)
    found, ok = {}, True
    for variant in [args.only] if args.only else VARIANTS:
        command = [sys.executable, os.path.abspath(__file__), "--child", variant, "--clients", str(args.clients),
                   "--requests", str(args.requests), "--rounds", str(args.rounds)] + (
                       ["--opens-only"] if args.opens_only else [])
        result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        rounds = result["rounds"]
        found[variant] = min(rounds)
        ok &= not result["refused"]
        print(f"  {variant:9s} CPU {min(rounds):5.3f} ms/request (best round), median {statistics.median(rounds):5.3f}"
              f"{'  REFUSED ' + str(result['refused']) if result['refused'] else ''}  load {os.getloadavg()[0]:.1f}",
              flush=True)
    if "baseline" in found:
        for variant in ("baseline-sqlalchemy", "dealercrm"):
            if variant in found:
                print(f"  {variant} / baseline: {found[variant] / found['baseline']:.2f}x CPU per request "
                      "(the client's share included in both)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
