"""Load on the HTTP API: 32 concurrent clients opening cases and firing transitions.

    .venv/bin/python bench/api_load.py [--seconds 60] [--clients 32] [--max-requests 200000]
                                       [--backend sqlite|postgres|both] [--workers 1] [--no-idempotency]

A real ``dealercrm serve`` (uvicorn, one process) on 127.0.0.1 and a free port, over a
fresh SQLite file — and over PostgreSQL when ``DEALERCRM_TEST_POSTGRES_URL`` is set (that
database is emptied first, as the tests do). Each client plays whole cases with the
three parties' keys: the dealer opens a case and forwards it, the manufacturer approves
a visit, the technician schedules it and reports it fixed, the dealer confirms — every
POST with an ``Idempotency-Key`` and every transition with ``If-Match``. Bounded in time
and in requests; only loopback traffic.

Reported: requests, accepted (2xx), refused by status, throughput, p50/p99 latency per
operation; then the database is checked against what the clients were told: every
accepted open is exactly one case, every accepted transition exactly one history row
with the version it answered, and nothing else was written. A request whose answer was
lost (timeout, dropped connection) is sent again with the same key, so its outcome is
known too — the replayed answer says what happened.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

# bench/ also holds transitions.py: keep the folder off sys.path, or it would shadow the
# transitions package dealercrm imports.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

FLOW = (  # (key, trigger, data builder) after the case was opened
    ("dealer", "start_diagnosis", lambda ids, now: {}),
    ("dealer", "forward_to_manufacturer", lambda ids, now: {}),
    ("maker", "approve_visit", lambda ids, now: {"technician_party_id": ids["technician"]}),
    ("technician", "schedule_visit", lambda ids, now: {"visit_at": (now + timedelta(hours=2)).isoformat()}),
    ("technician", "report_fixed", lambda ids, now: {}),
    ("dealer", "confirm", lambda ids, now: {}),
)
RETRIES = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(url: str, clients: int) -> dict:
    """A fresh database with a dealer, a manufacturer, a technician, their keys and customers."""
    import dealercrm
    from dealercrm.services.api_keys import ApiKeyService
    from dealercrm.settings import Settings

    crm = dealercrm.connect(url, settings=Settings(), load_entry_points=False)
    parties = crm.parties
    dealer = parties.add("dealer", "Elektro Schmidt")
    maker = parties.add("manufacturer", "Brioche Hausgeräte")
    tech = parties.add("technician", "Technik-Service Nord")
    keys = ApiKeyService(crm)
    ids = {"dealer": dealer.id, "maker": maker.id, "technician": tech.id, "keys": {
        "dealer": keys.create(dealer.id, "service").key, "maker": keys.create(maker.id, "warranty").key,
        "technician": keys.create(tech.id, "fitter").key}}
    product = crm.products.add("BR-WM-7", "Brioche Lavande 7 kg", manufacturer_party_id=maker.id, by=crm.system)
    ids["customers"] = []
    for n in range(clients):
        customer = crm.customers.add(f"Kunde {n}", email=f"kunde{n}@example.org", owner_party_id=dealer.id, by=crm.system)
        asset = crm.assets.record(customer.id, product.id, serial_number=f"BR7-{n:04d}", handed_over_on="2026-01-10", by=crm.system)
        ids["customers"].append((customer.id, asset.id))
    crm.close()
    return ids


def reset_postgres(url: str) -> str:
    from sqlalchemy import create_engine, text

    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        conn.execute(text("DROP FUNCTION IF EXISTS dealercrm_audit_append_only() CASCADE"))
    engine.dispose()
    return url


class Run:
    def __init__(self, base: str, ids: dict, deadline: float, max_requests: int, idempotent: bool):
        self.base, self.ids, self.deadline, self.max_requests = base, ids, deadline, max_requests
        self.idempotent = idempotent
        self.sent = 0
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.status: Counter = Counter()
        self.opened: list[int] = []
        self.fired: list[tuple[int, str, int]] = []  # (case, trigger, version answered)
        self.unknown = 0
        self.replayed = 0

    def more(self) -> bool:
        return time.monotonic() < self.deadline and self.sent < self.max_requests

    async def post(self, client, op: str, path: str, key: str, body: dict, if_match: str | None = None):
        headers = {"Authorization": f"Bearer {self.ids['keys'][key]}"}
        if self.idempotent:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        if if_match:
            headers["If-Match"] = if_match
        for attempt in range(RETRIES):
            self.sent += 1
            start = time.perf_counter()
            try:
                answer = await client.post(path, json=body, headers=headers)
            except httpx.TransportError:
                if not self.idempotent or attempt == RETRIES - 1:
                    self.unknown += 1
                    return None
                continue  # the same key again: the replay tells what happened
            self.latency[op].append(time.perf_counter() - start)
            self.status[(op, answer.status_code)] += 1
            self.replayed += answer.headers.get("idempotent-replayed") == "true"
            return answer
        return None

    async def client(self, n: int) -> None:
        customer, asset = self.ids["customers"][n]
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=self.base, timeout=30, limits=limits) as client:
            while self.more():
                opened = await self.post(client, "open", "/cases", "dealer",
                                         {"customer_id": customer, "summary": "washes badly", "asset_id": asset})
                if opened is None or opened.status_code != 201:
                    continue
                case_id, version = opened.json()["id"], 1
                self.opened.append(case_id)
                for key, trigger, data in FLOW:
                    if not self.more():
                        break
                    answer = await self.post(client, "fire", f"/cases/{case_id}/transitions", key,
                                             {"trigger": trigger, "data": data(self.ids, datetime.now(timezone.utc))},
                                             if_match=f'"{version}"')
                    if answer is None or answer.status_code != 200:
                        break
                    version = answer.json()["version"]
                    self.fired.append((case_id, trigger, version))


def verify(url: str, run: Run) -> list[str]:
    """Every accepted request is in the database exactly once, and nothing else is."""
    from sqlalchemy import create_engine, func, select

    from dealercrm.db.case_models import Case, CaseEvent

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    problems = []
    with engine.connect() as conn:
        cases = Counter(conn.execute(select(Case.id)).scalars())
        opened_rows = Counter(conn.execute(select(CaseEvent.case_id).where(CaseEvent.kind == "opened")).scalars())
        moves = Counter(tuple(r) for r in conn.execute(select(CaseEvent.case_id, CaseEvent.trigger, CaseEvent.version)
                                                       .where(CaseEvent.kind == "transition")))
        total = conn.execute(select(func.count()).select_from(CaseEvent)).scalar_one()
    engine.dispose()
    accepted_cases, accepted_moves = Counter(run.opened), Counter(run.fired)
    if any(n != 1 for n in accepted_cases.values()):
        problems.append("a case id was answered twice")
    if cases != accepted_cases or opened_rows != accepted_cases:
        problems.append(f"cases in the database {sum(cases.values())} != accepted opens {len(run.opened)}")
    if moves != accepted_moves or any(n != 1 for n in moves.values()):
        problems.append(f"transitions in the database {sum(moves.values())} != accepted {len(run.fired)}")
    if total != len(run.opened) + len(run.fired):
        problems.append(f"history rows {total} != accepted requests {len(run.opened) + len(run.fired)}")
    return problems


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its living descendants (uvicorn's workers)."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


async def drive(run: Run, clients: int) -> float:
    start = time.monotonic()
    await asyncio.gather(*(run.client(n) for n in range(clients)))
    return time.monotonic() - start


def bench(backend: str, url: str, args) -> bool:
    ids = prepare(url, args.clients)
    port = free_port()
    env = {**os.environ, "DEALERCRM_DATABASE_URL": url}
    command = [sys.executable, "-c", "from dealercrm.cli import main; main()", "serve", "--port", str(port),
               "--log-level", "error", "--workers", str(args.workers if backend == "postgresql" else 1)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
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
        run = Run(base, ids, time.monotonic() + args.seconds, args.max_requests, not args.no_idempotency)
        server_cpu, own_cpu = cpu_seconds(server.pid), time.process_time()
        elapsed = asyncio.run(drive(run, args.clients))
        server_cpu, own_cpu = cpu_seconds(server.pid) - server_cpu, time.process_time() - own_cpu
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    report(backend, run, elapsed)
    answered = max(1, sum(run.status.values()))
    print(f"  CPU per answered request: server {server_cpu / answered * 1000:.1f} ms (its processes busy "
          f"{server_cpu / elapsed:.0%} of one core), load generator {own_cpu / answered * 1000:.1f} ms "
          f"({own_cpu / elapsed:.0%}); {os.cpu_count()} cores in all")
    problems = verify(url, run)
    verdict = "FAILED" if problems else "OK — every accepted request is in the database exactly once"
    print(f"  database check: {verdict}")
    for problem in problems:
        print(f"    FAIL: {problem}")
    return not problems


def report(backend: str, run: Run, elapsed: float) -> None:
    answered = sum(run.status.values())
    accepted = sum(n for (op, status), n in run.status.items() if 200 <= status < 300)
    print(f"\n{backend}: {answered} answers in {elapsed:.1f} s = {answered / elapsed:.0f} req/s "
          f"({accepted} accepted, {answered - accepted} refused, {run.unknown} unknown, {run.replayed} replayed)")
    print(f"  cases opened {len(run.opened)}, transitions fired {len(run.fired)}, "
          f"cases closed {sum(1 for _, t, _ in run.fired if t == 'confirm')}")
    for op, values in sorted(run.latency.items()):
        print(f"  {op:5s} n={len(values):6d}  p50 {pct(values, 50):7.1f} ms  p99 {pct(values, 99):7.1f} ms  "
              f"mean {statistics.fmean(values) * 1000:7.1f} ms")
    refused = {f"{op} {status}": n for (op, status), n in sorted(run.status.items()) if not 200 <= status < 300}
    if refused:
        print(f"  refused: {refused}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the clients run (default 60)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--max-requests", type=int, default=200_000, help="stop after this many requests")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both",
                        help="both: SQLite, and PostgreSQL if DEALERCRM_TEST_POSTGRES_URL is set")
    parser.add_argument("--workers", type=int, default=1, help="server processes on PostgreSQL (SQLite: always 1)")
    parser.add_argument("--no-idempotency", action="store_true", help="send no Idempotency-Key (no retries)")
    args = parser.parse_args()
    ok = True
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="dealercrm-api-load-") as home:
            ok &= bench("sqlite", f"sqlite:///{Path(home) / 'api.db'}", args)
    pg = os.environ.get("DEALERCRM_TEST_POSTGRES_URL")
    if args.backend in ("postgres", "both"):
        if pg:
            ok &= bench("postgresql", reset_postgres(pg), args)
        else:
            print("\npostgresql: skipped (set DEALERCRM_TEST_POSTGRES_URL)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
