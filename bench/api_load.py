"""Load on the HTTP API: a sweep of concurrent clients opening cases and firing transitions,
dealercrm against a minimal baseline app measured in the same run.

    .venv/bin/python bench/api_load.py [--clients 1,4,8,32,64] [--seconds 15] [--repeat 1]
                                       [--backend sqlite|postgres|both] [--workers 1]
                                       [--only dealercrm|baseline|baseline-sqlalchemy]
                                       [--sqlalchemy-baseline] [--no-idempotency]

For every client count, each server in turn on a fresh database, started on 127.0.0.1
and a free port (only loopback traffic; every run bounded in time and in requests):

* ``dealercrm``: a real ``dealercrm serve`` (uvicorn; ``--workers`` processes on
  PostgreSQL, one on SQLite) over a fresh SQLite file — and over PostgreSQL when
  ``DEALERCRM_TEST_POSTGRES_URL`` is set (that database is emptied first, as the tests do);
* ``baseline``: ``bench/api_baseline.py``, a minimal FastAPI app on the same uvicorn that
  answers the same two requests with raw sqlite3 / psycopg and a dict lookup for the key,
  one transaction per request (see its docstring for exactly what it does);
* ``baseline-sqlalchemy`` (with ``--sqlalchemy-baseline``): the same baseline app with its
  statements through SQLAlchemy Core — how much of the gap the execution layer the design
  card fixes takes by itself.

Each client plays whole cases with the three parties' keys: the dealer opens a case and
forwards it, the manufacturer approves a visit, the technician schedules it and reports
it fixed, the dealer confirms — every POST with an ``Idempotency-Key`` and every
transition with ``If-Match``. A request whose answer was lost (timeout, dropped
connection) is sent again with the same key, so its outcome is known too.

Reported per run: answers/s, p50/p99 latency per operation, server CPU per answered
request (user + system of the server's processes, from /proc), the load generator's, and
the machine's load average before and after (other processes share the 2 cores: read
the ratios, measured minutes apart under similar load, rather than the absolute rates).
After each run the database is checked against what the clients were told: every
accepted open is exactly one case, every accepted transition exactly one history row
with the version it answered, and nothing else was written.

Targets (issue #15), checked at the end: on SQLite, dealercrm's throughput at 64 clients
>= 0.9x its best client count's; its fire p99 at 32 clients <= 2x what Little's law gives
for its throughput (32 / throughput); at 32 clients its throughput >= 0.5x the
baseline's and its server CPU per request <= 2x the baseline's. Exit status 1 if a
database check failed (targets are reported, not enforced).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
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
#: built-in rules that act on case events in the transaction: blocked unless --with-rules
RULES = ("rule_satisfaction",)


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
    dealer = parties.add("dealer", "Elektro Schmidt", by=crm.system)
    maker = parties.add("manufacturer", "Brioche Hausgeräte", by=crm.system)
    tech = parties.add("technician", "Technik-Service Nord", by=crm.system)
    keys = ApiKeyService(crm)
    issued = {"dealer": keys.create(dealer.id, "service", by=crm.system),
              "maker": keys.create(maker.id, "warranty", by=crm.system),
              "technician": keys.create(tech.id, "fitter", by=crm.system)}
    ids = {"dealer": dealer.id, "maker": maker.id, "technician": tech.id,
           "keys": {who: key.key for who, key in issued.items()},
           "actors": {who: key.actor_id for who, key in issued.items()}}
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


def verify(url: str, run: Run, tables=("service_case", "case_event")) -> list[str]:
    """Every accepted request is in the database exactly once, and nothing else is."""
    from sqlalchemy import create_engine, text

    case_table, event_table = tables
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    problems = []
    with engine.connect() as conn:
        cases = Counter(conn.execute(text(f"SELECT id FROM {case_table}")).scalars())
        opened_rows = Counter(conn.execute(text(f"SELECT case_id FROM {event_table} WHERE kind = 'opened'")).scalars())
        moves = Counter(tuple(r) for r in conn.execute(text(
            f"SELECT case_id, trigger, version FROM {event_table} WHERE kind = 'transition'")))
        total = conn.execute(text(f"SELECT count(*) FROM {event_table}")).scalar_one()
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


@attrs.define
class Result:
    variant: str
    clients: int
    answered: int
    elapsed: float
    latency: dict
    server_cpu: float
    own_cpu: float
    load: tuple[float, float]
    problems: list
    refused: dict
    unknown: int

    @property
    def rate(self) -> float:
        return self.answered / self.elapsed if self.elapsed else 0.0

    @property
    def cpu_ms(self) -> float:
        return self.server_cpu / max(1, self.answered) * 1000

    def p(self, op: str, q: float) -> float:
        return pct(self.latency.get(op, []), q)


def baseline_environment(variant: str, url: str, ids: dict) -> dict[str, str]:
    """What ``bench/api_baseline.py`` reads from its environment: the database, the keys, parties
    and customers of ``prepare``, and (``baseline-sqlalchemy``) that its statements go through
    SQLAlchemy Core."""
    kinds = {"dealer": "dealer", "maker": "manufacturer", "technician": "technician"}
    fixture = {"keys": {ids["keys"][who]: {"party": ids[who], "actor": ids["actors"][who], "kind": kind}
                        for who, kind in kinds.items()},
               "customers": [(c, a, ids["maker"]) for c, a in ids["customers"]], "dealer": ids["dealer"]}
    env = {"BASELINE_DATABASE_URL": url, "BASELINE_FIXTURE": json.dumps(fixture)}
    if variant == "baseline-sqlalchemy":
        env["BASELINE_SQLALCHEMY"] = "1"
    return env


def start_server(variant: str, backend: str, url: str, ids: dict, workers: int, with_rules: bool = False):
    port = free_port()
    if variant.startswith("baseline"):
        env = {**os.environ, **baseline_environment(variant, url, ids)}
        command = [sys.executable, os.path.join(_HERE, "api_baseline.py"), str(port)]
    else:
        env = {**os.environ, "DEALERCRM_DATABASE_URL": url}
        if not with_rules:  # the baseline sends no survey: compare the same writes
            env["DEALERCRM_BLOCK_PLUGINS"] = ",".join(filter(None, [env.get("DEALERCRM_BLOCK_PLUGINS"), *RULES]))
        command = [sys.executable, "-c", "from dealercrm.cli import main; main()", "serve", "--port", str(port),
                   "--log-level", "error", "--workers", str(workers if backend == "postgresql" else 1)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    while True:
        try:
            httpx.get(f"{base}/health", timeout=2).raise_for_status()
            return server, base
        except httpx.HTTPError:
            if server.poll() is not None or time.monotonic() - started > 90:
                server.kill()
                raise SystemExit(f"{variant} server did not start: {server.stderr.read().decode()[-2000:]}") from None
            time.sleep(0.2)


def stop(server) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def measure(variant: str, backend: str, clients: int, args) -> Result:
    """One run on a fresh database: ``variant``'s server, ``clients`` clients, ``args.seconds``."""
    with tempfile.TemporaryDirectory(prefix="dealercrm-api-load-") as home:
        url = (reset_postgres(os.environ["DEALERCRM_TEST_POSTGRES_URL"]) if backend == "postgresql"
               else f"sqlite:///{Path(home) / 'api.db'}")
        ids = prepare(url, clients)
        server, base = start_server(variant, backend, url, ids, args.workers, args.with_rules)
        try:
            load_before = os.getloadavg()[0]
            run = Run(base, ids, time.monotonic() + args.seconds, args.max_requests, not args.no_idempotency)
            server_cpu, own_cpu = cpu_seconds(server.pid), time.process_time()
            elapsed = asyncio.run(drive(run, clients))
            server_cpu, own_cpu = cpu_seconds(server.pid) - server_cpu, time.process_time() - own_cpu
            load_after = os.getloadavg()[0]
        finally:
            stop(server)
        problems = verify(url, run, ("bl_case", "bl_case_event") if variant.startswith("baseline") else
                          ("service_case", "case_event"))
    refused = {f"{op} {status}": n for (op, status), n in sorted(run.status.items()) if not 200 <= status < 300}
    result = Result(variant, clients, sum(run.status.values()), elapsed, dict(run.latency), server_cpu, own_cpu,
                    (load_before, load_after), problems, refused, run.unknown)
    print(f"  {backend:10s} {variant:9s} {clients:3d} clients: {result.rate:6.0f} req/s  fire p50 "
          f"{result.p('fire', 50):6.1f} ms p99 {result.p('fire', 99):7.1f} ms  open p99 {result.p('open', 99):7.1f} ms"
          f"  server CPU {result.cpu_ms:5.2f} ms/req ({server_cpu / elapsed:4.0%} of a core), load generator "
          f"{own_cpu / max(1, result.answered) * 1000:4.2f} ms/req  load {load_before:.1f}->{load_after:.1f}"
          f"  {'OK' if not problems else 'FAILED: ' + '; '.join(problems)}"
          f"{'  refused ' + str(refused) if refused else ''}{f'  unknown {run.unknown}' if run.unknown else ''}",
          flush=True)
    return result


def summary(backend: str, results: list[Result], counts: list[int]) -> None:
    """The best run of each variant per client count, the ratios, and the targets."""
    best: dict[tuple[str, int], Result] = {}
    for r in results:
        if (r.variant, r.clients) not in best or r.rate > best[(r.variant, r.clients)].rate:
            best[(r.variant, r.clients)] = r
    print(f"\n{backend}: best of {len(results) // max(1, len(best))} run(s) per cell; load = 1-min load average "
          f"during the run, {os.cpu_count()} cores")
    print("  clients | baseline req/s | dealercrm req/s | ratio | dealercrm fire p50 / p99 ms | "
          "server CPU ms/req baseline / dealercrm | ratio | load")
    for n in counts:
        b, d = best.get(("baseline", n)), best.get(("dealercrm", n))
        if d is None:
            continue
        ratio = f"{d.rate / b.rate:.2f}" if b and b.rate else "-"
        cpu_ratio = f"{d.cpu_ms / b.cpu_ms:.2f}" if b and b.cpu_ms else "-"
        print(f"  {n:7d} | {b.rate if b else float('nan'):14.0f} | {d.rate:15.0f} | {ratio:>5s} | "
              f"{d.p('fire', 50):8.1f} / {d.p('fire', 99):8.1f}         | "
              f"{b.cpu_ms if b else float('nan'):6.2f} / {d.cpu_ms:6.2f}                      | {cpu_ratio:>5s} | "
              f"{max(d.load):.1f}")
    alchemy = [(n, best[("baseline-sqlalchemy", n)]) for n in counts if ("baseline-sqlalchemy", n) in best]
    if alchemy:
        print("  the baseline's statements through SQLAlchemy Core (--sqlalchemy-baseline): what the execution layer "
              "the design card fixes costs the same app")
        print("  clients | req/s | server CPU ms/req | CPU ratio to baseline | dealercrm's CPU ratio to it")
        for n, a in alchemy:
            b, d = best.get(("baseline", n)), best.get(("dealercrm", n))
            print(f"  {n:7d} | {a.rate:5.0f} | {a.cpu_ms:17.2f} | "
                  f"{(f'{a.cpu_ms / b.cpu_ms:.2f}' if b and b.cpu_ms else '-'):>21s} | "
                  f"{(f'{d.cpu_ms / a.cpu_ms:.2f}' if d and a.cpu_ms else '-'):>27s}")
    if backend != "sqlite":
        return
    ours = {n: best[("dealercrm", n)] for n in counts if ("dealercrm", n) in best}
    if not ours:
        return
    top = max(ours.values(), key=lambda r: r.rate)
    print("  targets:")
    if 64 in ours:
        print(f"    throughput at 64 clients {ours[64].rate:.0f} >= 0.9 x best ({top.rate:.0f} at {top.clients}): "
              f"{ours[64].rate / top.rate:.2f}x — {'met' if ours[64].rate >= 0.9 * top.rate else 'MISSED'}")
    if 32 in ours:
        little = 32 / ours[32].rate * 1000
        p99 = ours[32].p("fire", 99)
        print(f"    fire p99 at 32 clients {p99:.0f} ms <= 2 x Little's law (32 / {ours[32].rate:.0f} req/s = "
              f"{little:.0f} ms): {p99 / little:.2f}x — {'met' if p99 <= 2 * little else 'MISSED'}")
        b = best.get(("baseline", 32))
        if b is not None:
            print(f"    throughput at 32 clients >= 0.5 x baseline: {ours[32].rate / b.rate:.2f}x — "
                  f"{'met' if ours[32].rate >= 0.5 * b.rate else 'MISSED'}")
            print(f"    server CPU per request at 32 clients <= 2 x baseline: {ours[32].cpu_ms / b.cpu_ms:.2f}x — "
                  f"{'met' if ours[32].cpu_ms <= 2 * b.cpu_ms else 'MISSED'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="how long each run's clients run (default 15)")
    parser.add_argument("--clients", default="1,4,8,32,64", help="client counts to sweep (default 1,4,8,32,64)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell, interleaved; the best is kept")
    parser.add_argument("--max-requests", type=int, default=200_000, help="stop a run after this many requests")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="sqlite",
                        help="both: SQLite, and PostgreSQL if DEALERCRM_TEST_POSTGRES_URL is set")
    parser.add_argument("--workers", type=int, default=1, help="server processes on PostgreSQL (SQLite: always 1)")
    parser.add_argument("--only", choices=("dealercrm", "baseline", "baseline-sqlalchemy"), help="run one server only")
    parser.add_argument("--sqlalchemy-baseline", action="store_true",
                        help="also run the baseline with its statements through SQLAlchemy Core")
    parser.add_argument("--no-idempotency", action="store_true", help="send no Idempotency-Key (no retries)")
    parser.add_argument("--with-rules", action="store_true", help="leave the built-in rule acting on closed cases "
                        "(a satisfaction survey per case: an outbox message and a timeline entry more per close)")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",") if c.strip()]
    variants = [args.only] if args.only else ["baseline", *(["baseline-sqlalchemy"] if args.sqlalchemy_baseline
                                                             else []), "dealercrm"]
    backends = ["sqlite"] if args.backend in ("sqlite", "both") else []
    if args.backend in ("postgres", "both"):
        if os.environ.get("DEALERCRM_TEST_POSTGRES_URL"):
            backends.append("postgresql")
        else:
            print("postgresql: skipped (set DEALERCRM_TEST_POSTGRES_URL)")
    ok = True
    for backend in backends:
        print(f"\n{backend}: {', '.join(map(str, counts))} clients, {args.seconds:g} s each, "
              f"{args.repeat} run(s) per cell", flush=True)
        results = []
        for n in counts:
            for _ in range(args.repeat):
                for variant in variants:
                    result = measure(variant, backend, n, args)
                    ok &= not result.problems
                    results.append(result)
        summary(backend, results, counts)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
