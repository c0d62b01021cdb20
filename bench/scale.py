"""PostgreSQL scale-out: ``dealercrm serve --workers N`` and N ``dealercrm worker`` processes.

    DEALERCRM_TEST_POSTGRES_URL=postgresql://crm:crm@127.0.0.1:5432/<db> \\
        .venv/bin/python bench/scale.py [--workers 1,2,4] [--seconds 15] [--clients 32] [--overdue 1500]

Everything on 127.0.0.1: PostgreSQL (the database named by the URL is emptied before each
run, as the tests do), an aiosmtpd server in a process of its own that counts messages and
distinct Message-IDs, and the processes under test. Every phase is bounded in time.

For each N, on a fresh database:

1. **HTTP**: ``dealercrm serve --workers N``; ``--clients`` clients play whole cases for
   ``--seconds`` (``bench/api_load.py``'s clients: open, forward, approve, schedule, fixed,
   confirm; every POST with an ``Idempotency-Key``, every transition with ``If-Match``).
   Reported: answered requests/s. Checked: every accepted request is in the database
   exactly once, nothing else is.
2. **Workers**: ``--overdue`` cases, opened ten days ago and forwarded to the manufacturer
   (seeded through the public API, not measured), are overdue; N ``dealercrm worker``
   processes (``--interval 0.2``: tick, rules, dispatch; claims with ``FOR UPDATE SKIP
   LOCKED``) escalate each back to its dealer — a hand-off, so one e-mail to the customer
   through ``channel_email`` to the local aiosmtpd. Reported: overdue cases fired/s (until
   all have their timeout) and messages dispatched/s (until the SMTP server has them all),
   from the workers' start. Checked: every overdue case got exactly one timeout; every
   history row was noticed exactly once; the SMTP server received exactly one message per
   escalation, each with its own Message-ID, and each outbox row is ``sent`` once. The rates
   come from the rows' own times (first to last timeout, first to last message sent), so a
   worker process's start-up is not counted; the wall time until done is printed too.

Then the curve: each figure per N and relative to N = 1, with the load average. On a
2-core machine that also runs PostgreSQL and the load generator, N = 2 is expected to
come close to 2x (two cores), N = 4 no further.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]  # bench/transitions.py shadows


def _api_load():
    spec = importlib.util.spec_from_file_location("api_load", os.path.join(_HERE, "api_load.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


api_load = _api_load()
CLI = [sys.executable, "-c", "from dealercrm.cli import main; main()"]


# -- the SMTP server, in its own process ------------------------------------------------------
def smtp_serve(port: int, pipe) -> None:
    from aiosmtpd.controller import Controller

    message_id = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)

    class Counting:
        def __init__(self):
            self.messages, self.ids = 0, Counter()

        async def handle_DATA(self, server, session, envelope):
            self.messages += 1
            found = message_id.search(envelope.content)
            self.ids[found.group(1) if found else None] += 1
            return "250 2.0.0 OK"

    counting = Counting()
    controller = Controller(counting, hostname="127.0.0.1", port=port)
    controller.start()
    pipe.send("ready")
    while True:
        command = pipe.recv()
        if command == "stats":
            pipe.send(dict(messages=counting.messages, distinct=len(counting.ids),
                           repeated=sum(1 for n in counting.ids.values() if n > 1)))
        else:
            controller.stop()
            pipe.send("bye")
            return


class Smtp:
    def __init__(self):
        self.port = api_load.free_port()
        self.pipe, child = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("spawn").Process(target=smtp_serve, args=(self.port, child),
                                                                    daemon=True)
        self.process.start()
        assert self.pipe.recv() == "ready"

    def stats(self) -> dict:
        self.pipe.send("stats")
        return self.pipe.recv()

    def stop(self) -> None:
        self.pipe.send("stop")
        self.pipe.recv()
        self.process.join(5)


# -- helpers ----------------------------------------------------------------------------------
def settings_file(folder: Path, smtp_port: int) -> Path:
    path = folder / "dealercrm.toml"
    path.write_text(f'[plugins.channel_email]\nhost = "127.0.0.1"\nport = {smtp_port}\n'
                    'from_address = "service@elektro-schmidt.example"\nfrom_name = "Elektro Schmidt"\n',
                    encoding="utf-8")
    return path


def environment(url: str, settings: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALERCRM_")}
    env.update(DEALERCRM_DATABASE_URL=url, DEALERCRM_SETTINGS=str(settings))
    return env


def scalar(url: str, sql: str):
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


def load() -> float:
    return os.getloadavg()[0]


def settled(pid: int, workers: int, limit: float = 180.0) -> None:
    """Wait until uvicorn's ``workers`` processes are up and done starting (their CPU time stands
    still): a worker still importing would take no requests while the clients' clock runs."""
    started, last = time.monotonic(), -1.0
    while time.monotonic() - started < limit:
        children = [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
                    for c in (t / "children").read_text().split()]
        now = api_load.cpu_seconds(pid)
        if len(children) >= (workers if workers > 1 else 0) and now - last < 0.05:
            return
        last = now
        time.sleep(1.0)


def stop_group(process) -> None:
    """Stop a process started in a session of its own, with everything it started."""
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


# -- phase 1: HTTP ------------------------------------------------------------------------------
def phase_http(n: int, url: str, settings: Path, args) -> dict:
    ids = api_load.prepare(url, args.clients)
    port = api_load.free_port()
    server = subprocess.Popen([*CLI, "serve", "--port", str(port), "--log-level", "error", "--workers", str(n)],
                              env=environment(url, settings), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx
        started = time.monotonic()
        while True:
            try:
                httpx.get(f"{base}/health", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.monotonic() - started > 120:
                    raise SystemExit(f"server did not start: {server.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.2)
        settled(server.pid, n)
        before = load()
        run = api_load.Run(base, ids, time.monotonic() + args.seconds, 10**9, True)
        cpu = api_load.cpu_seconds(server.pid)
        elapsed = asyncio.run(asyncio.wait_for(api_load.drive(run, args.clients), args.seconds + 120))
        cpu = api_load.cpu_seconds(server.pid) - cpu
        after = load()
    finally:
        stop_group(server)
    answered = sum(run.status.values())
    problems = api_load.verify(url, run)
    fire = run.latency.get("fire", [])
    return dict(rate=answered / elapsed, cpu_ms=cpu / max(1, answered) * 1000, p99=api_load.pct(fire, 99),
                problems=problems, load=(before, after), refused={f"{op} {s}": c for (op, s), c in run.status.items()
                                                                 if not 200 <= s < 300})


# -- phase 2: the workers -------------------------------------------------------------------------
def seed_overdue(url: str, settings_path: Path, count: int) -> None:
    """``count`` cases opened ten days ago and forwarded to the manufacturer: all overdue now."""
    from concurrent.futures import ThreadPoolExecutor

    import dealercrm
    from dealercrm.settings import load_settings

    clock = dealercrm.ManualClock(datetime.now(timezone.utc) - timedelta(days=10))
    crm = dealercrm.connect(url, clock=clock, settings=load_settings(settings_path), load_entry_points=False)
    dealer = crm.parties.add("dealer", "Elektro Schmidt", by=crm.system)
    maker = crm.parties.add("manufacturer", "Brioche Hausgeräte", by=crm.system)
    desk = crm.parties.add_actor(dealer.id, "Lea Yilmaz", "service", by=crm.system)
    product = crm.products.add("BR-WM-7", "Brioche Lavande 7 kg", manufacturer_party_id=maker.id, by=crm.system)

    def one(i: int) -> None:
        customer = crm.customers.add(f"Kundin {i}", email=f"kundin{i}@example.org", owner_party_id=dealer.id,
                                     by=crm.system)
        asset = crm.assets.record(customer.id, product.id, serial_number=f"BR7-{i:05d}", handed_over_on="2026-01-10",
                                  by=crm.system)
        case = crm.cases.open(customer.id, "washes badly", asset_id=asset.id, by=desk.id)
        crm.cases.fire(case.id, "start_diagnosis", by=desk.id)
        crm.cases.fire(case.id, "forward_to_manufacturer", by=desk.id)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(count)))
    crm.outbox.queue_notices()  # the seeding's own hand-off notices: queued and sent now, not measured
    crm.outbox.dispatch()
    crm.close()


def phase_workers(n: int, url: str, settings: Path, smtp: Smtp, args) -> dict:
    print(f"N={n}: seeding {args.overdue} overdue cases", flush=True)
    before_seeding = smtp.stats()["messages"]  # the SMTP server counts across runs
    seed_overdue(url, settings, args.overdue)
    seeded = smtp.stats()["messages"]
    sql_url = url
    timeouts = "SELECT count(*) FROM case_event WHERE kind = 'timeout'"
    before = load()
    started = time.monotonic()
    workers = [subprocess.Popen([*CLI, "worker", "--interval", "0.2", "--max-seconds", str(args.limit)],
                                env=environment(url, settings), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
               for _ in range(n)]
    fired_at = sent_at = None
    try:
        while time.monotonic() - started < args.limit:
            if fired_at is None and scalar(sql_url, timeouts) >= args.overdue:
                fired_at = time.monotonic() - started
            if sent_at is None and smtp.stats()["messages"] - seeded >= args.overdue:
                sent_at = time.monotonic() - started
            if fired_at is not None and sent_at is not None:
                break
            time.sleep(0.1)
    finally:
        for worker in workers:
            stop_group(worker)
    after = load()
    time.sleep(0.5)
    stats = smtp.stats()
    problems = []
    per_case = scalar(sql_url, "SELECT count(*) FROM (SELECT case_id FROM case_event WHERE kind = 'timeout' "
                               "GROUP BY case_id HAVING count(*) <> 1) twice")
    if per_case or scalar(sql_url, timeouts) != args.overdue:
        problems.append(f"timeouts: {scalar(sql_url, timeouts)} for {args.overdue} overdue cases, "
                        f"{per_case} cases with more than one")
    if scalar(sql_url, "SELECT count(*) FROM case_event WHERE noticed_at IS NULL"):
        problems.append("history rows left unnoticed")
    sent = scalar(sql_url, "SELECT count(*) FROM outbox_message WHERE status = 'sent'")
    if stats["messages"] != stats["distinct"] or stats["repeated"]:
        problems.append(f"the SMTP server got {stats['messages']} messages, {stats['distinct']} distinct")
    if stats["messages"] - before_seeding != sent or stats["messages"] - seeded != args.overdue:
        problems.append(f"SMTP messages {stats['messages'] - before_seeding} (seeding {seeded - before_seeding}) "
                        f"!= outbox rows sent {sent}, expected {args.overdue} from the escalations")
    # rates from the rows' own times (the workers' clocks): a worker's start-up is not counted
    fired_span = scalar(sql_url, "SELECT extract(epoch FROM max(at) - min(at)) FROM case_event WHERE kind = 'timeout'")
    sent_span = scalar(sql_url, "SELECT extract(epoch FROM max(sent_at) - min(sent_at)) FROM outbox_message "
                                "WHERE sent_at > (SELECT min(at) FROM case_event WHERE kind = 'timeout')")
    return dict(fired=args.overdue / float(fired_span) if fired_at and fired_span else float("nan"),
                sent=args.overdue / float(sent_span) if sent_at and sent_span else float("nan"),
                until_fired=fired_at, until_sent=sent_at, problems=problems, load=(before, after))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4", help="N to measure (default 1,2,4)")
    parser.add_argument("--seconds", type=float, default=15.0, help="HTTP load per N (default 15)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--overdue", type=int, default=1500, help="overdue cases for the workers per N")
    parser.add_argument("--limit", type=float, default=180.0, help="the workers' phase ends after this long")
    parser.add_argument("--skip", choices=("http", "workers"), help="leave out one phase")
    args = parser.parse_args()
    pg = os.environ.get("DEALERCRM_TEST_POSTGRES_URL")
    if not pg:
        print("set DEALERCRM_TEST_POSTGRES_URL to a PostgreSQL database this benchmark may empty")
        return 2
    counts = [int(n) for n in args.workers.split(",")]
    smtp = Smtp()
    curve: dict[int, dict] = {}
    ok = True
    try:
        with tempfile.TemporaryDirectory(prefix="dealercrm-scale-") as home:
            settings = settings_file(Path(home), smtp.port)
            for n in counts:
                row: dict = {}
                if args.skip != "http":
                    row["http"] = phase_http(n, api_load.reset_postgres(pg), settings, args)
                    h = row["http"]
                    print(f"N={n}: HTTP {h['rate']:.0f} req/s, server CPU {h['cpu_ms']:.2f} ms/req, fire p99 "
                          f"{h['p99']:.0f} ms, load {h['load'][0]:.1f}->{h['load'][1]:.1f} "
                          f"{'OK' if not h['problems'] else 'FAILED ' + '; '.join(h['problems'])}"
                          f"{' refused ' + str(h['refused']) if h['refused'] else ''}", flush=True)
                    ok &= not h["problems"]
                if args.skip != "workers":
                    row["workers"] = phase_workers(n, api_load.reset_postgres(pg), settings, smtp, args)
                    w = row["workers"]
                    print(f"N={n}: overdue cases fired {w['fired']:.0f}/s, messages dispatched {w['sent']:.0f}/s "
                          f"(all fired {w['until_fired'] or float('nan'):.1f} s, all sent "
                          f"{w['until_sent'] or float('nan'):.1f} s after the workers were started), "
                          f"load {w['load'][0]:.1f}->{w['load'][1]:.1f} "
                          f"{'OK: each exactly once' if not w['problems'] else 'FAILED ' + '; '.join(w['problems'])}",
                          flush=True)
                    ok &= not w["problems"]
                curve[n] = row
    finally:
        smtp.stop()
    base = curve.get(counts[0], {})
    print(f"\nthe curve ({os.cpu_count()} cores; relative to N={counts[0]}):")
    print("  N | HTTP req/s       | fired/s          | dispatched/s     | exactly once")
    for n, row in curve.items():
        def cell(phase, key):
            value = row.get(phase, {}).get(key)
            first = base.get(phase, {}).get(key)
            return f"{value:6.0f} ({value / first:4.2f}x)" if value and first else "     -          "
        once = all(not row.get(p, {}).get("problems") for p in ("http", "workers"))
        print(f"  {n} | {cell('http', 'rate')} | {cell('workers', 'fired')} | {cell('workers', 'sent')} | "
              f"{'yes' if once else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
