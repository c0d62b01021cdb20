"""The portal's pages under load, against the same data fetched as JSON from the API.

    .venv/bin/python bench/portal_load.py [--cases 10000] [--sessions 32] [--seconds 15]

A real ``dealercrm serve`` (uvicorn, one process) on 127.0.0.1 and a free port, over a
fresh SQLite file holding ``--cases`` open service cases (seeded fast, as the other case
benchmarks do: four dealers, two technicians, every open state). ``--sessions`` people of
the dealers and technicians are signed in (a session each, through a one-time link, as
``dealercrm portal links`` hands them out) and hold an API key as the same actor. Four
phases of ``--seconds`` each, every session a concurrent client asking one request after
another; only loopback traffic, bounded in time:

* **queue, HTML**: ``GET /portal/queue`` — the party's 50 most urgent cases with their
  customers' names and who held each for how long;
* **queue, JSON**: ``GET /cases?held=true&sort=due&limit=50`` — the same cases, without
  names or times held (a client would need more requests for those);
* **case, HTML**: ``GET /portal/cases/<id>`` — case, customer, asset, history, time held,
  the workflow drawn, the action forms;
* **case, JSON**: what a client needs for the same page, one request after another:
  ``/cases/<id>``, ``/cases/<id>/history``, ``/cases/<id>/allowed-triggers``,
  ``/customers/<customer>``, counted as one fetch.

Reported per phase: fetches, throughput, p50/p99 latency, the server's CPU time per fetch
(user + system of its process, from /proc), and the machine's load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]  # bench/transitions.py shadows a package
sys.path.append(_HERE)

from _case_seed import build_world, machine_line, seed_cases  # noqa: E402
from api_load import cpu_seconds, free_port, pct  # noqa: E402


def prepare(db: Path, n_cases: int, sessions: int) -> list[dict]:
    """Cases, then a session cookie and an API key for each client (dealers' and technicians' people)."""
    import dealercrm
    from dealercrm.settings import Settings

    world = build_world(db)
    seeded = seed_cases(db, world, n_cases)
    crm = dealercrm.connect(f"sqlite:///{db}", settings=Settings(), load_entry_points=False)
    parties = world["dealers"] + world["technicians"]
    clients = []
    try:
        for n in range(sessions):
            party = parties[n % len(parties)]
            actor = crm.parties.add_actor(party["party_id"], f"person {n}", "service", by=crm.system)
            session = crm.sign_in.redeem_link(crm.sign_in.issue_link(actor.id, by=crm.system))
            key = crm.api_keys.create(party["party_id"], actor_id=actor.id, by=crm.system).key
            cases = crm.cases.list(by=actor.id, held=False, limit=200)
            clients.append({"cookie": session.token, "key": key, "cases": [(c.id, c.customer_id) for c in cases]})
    finally:
        crm.close()
    print(f"seeded {len(seeded['case_ids'])} open cases in {seeded['seconds']:.1f} s; {sessions} sessions "
          f"({len(world['dealers'])} dealers, {len(world['technicians'])} technicians)")
    return clients


async def client(base: str, me: dict, phase: str, deadline: float, latencies: list[float], errors: list[str],
                 n: int) -> None:
    cookies = {"dcrm_session": me["cookie"]}
    headers = {"Authorization": f"Bearer {me['key']}"}
    async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=60) as http:
        i = n
        while time.monotonic() < deadline:
            case_id, customer_id = me["cases"][i % len(me["cases"])]
            i += 7
            started = time.perf_counter()
            if phase == "queue, HTML":
                answers = [await http.get("/portal/queue")]
            elif phase == "queue, JSON":
                answers = [await http.get("/cases", params={"held": "true", "sort": "due", "limit": 50},
                                          headers=headers)]
            elif phase == "case, HTML":
                answers = [await http.get(f"/portal/cases/{case_id}")]
            else:
                answers = [await http.get(path, headers=headers) for path in (
                    f"/cases/{case_id}", f"/cases/{case_id}/history", f"/cases/{case_id}/allowed-triggers",
                    f"/customers/{customer_id}")]
            latencies.append(time.perf_counter() - started)
            bad = [a for a in answers if a.status_code != 200]
            if bad:
                errors.append(f"{bad[0].request.url.path}: {bad[0].status_code}")


async def phase(base: str, clients: list[dict], name: str, seconds: float) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    await asyncio.gather(*(client(base, me, name, deadline, latencies, errors, n) for n, me in enumerate(clients)))
    return latencies, errors, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0, help="per phase")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dealercrm-portal-load-"))
    db = folder / "portal.db"
    clients = prepare(db, args.cases, args.sessions)
    port = free_port()
    env = {**os.environ, "DEALERCRM_DATABASE_URL": f"sqlite:///{db}"}
    server = subprocess.Popen([sys.executable, "-c", "from dealercrm.cli import main; main()", "serve", "--port",
                               str(port), "--log-level", "error"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    results = {}
    try:
        started = time.monotonic()
        while True:
            try:
                httpx.get(f"{base}/health", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.monotonic() - started > 30:
                    raise SystemExit(f"server did not start: {server.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.2)
        print(machine_line())
        for name in ("queue, HTML", "queue, JSON", "case, HTML", "case, JSON"):
            cpu = cpu_seconds(server.pid)
            latencies, errors, elapsed = asyncio.run(phase(base, clients, name, args.seconds))
            cpu = cpu_seconds(server.pid) - cpu
            results[name] = (latencies, errors, elapsed, cpu, os.getloadavg()[0])
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    print(f"\n{args.sessions} concurrent sessions, {args.cases} open cases, SQLite, {args.seconds:g} s per phase")
    print(f"{'phase':<13} {'fetches':>8} {'per s':>7} {'p50 ms':>8} {'p99 ms':>8} {'server CPU ms/fetch':>20} "
          f"{'server busy':>11} {'load':>5}  errors")
    ok = True
    for name, (latencies, errors, elapsed, cpu, load) in results.items():
        n = max(1, len(latencies))
        print(f"{name:<13} {len(latencies):>8} {len(latencies) / elapsed:>7.1f} {pct(latencies, 50):>8.1f} "
              f"{pct(latencies, 99):>8.1f} {cpu / n * 1000:>20.1f} {cpu / elapsed:>10.0%} {load:>5.2f}  "
              f"{len(errors)}{f' ({errors[0]})' if errors else ''}")
        ok = ok and not errors and bool(latencies)
    for page in ("queue", "case"):
        html, json_ = results[f"{page}, HTML"], results[f"{page}, JSON"]
        ratio_p50 = statistics.median(html[0]) / statistics.median(json_[0])
        ratio_cpu = (html[3] / max(1, len(html[0]))) / (json_[3] / max(1, len(json_[0])))
        print(f"{page}: the page costs {ratio_p50:.2f}x the JSON's p50 and {ratio_cpu:.2f}x its server CPU per fetch")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
