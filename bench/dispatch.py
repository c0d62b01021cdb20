"""Benchmark: the outbox dispatcher sending e-mail against plain smtplib (issue #4).

Run it from the repository root with the project's virtualenv:

    .venv/bin/python bench/dispatch.py [--n 10000] [--batch-size 100] [--profile]

(about half a minute on 2 cores with the defaults; ``--n 2000`` for a quick look;
``--profile`` adds a run of the dispatcher under cProfile on a copy of the same outbox
and prints where its time goes).

An aiosmtpd server runs on 127.0.0.1 (a free port) in a child process of its own, so
it does not compete with the sender for the GIL; it counts connections, messages and
distinct Message-IDs (read with a regular expression, nothing else parsed).

Seeding (not measured): a migrated SQLite file, ``--n`` customers imported from CSV
(``crm.imports.run``), and one service e-mail queued to each with the public API
(``crm.outbox.enqueue`` in one unit of work): a subject and a body like the hand-off
notification, ``data={"template": "case_handed_over", ...}`` so the richer template is
rendered, text and HTML parts.

* ``dealercrm``: ``crm.outbox.dispatch()`` — claims batches (consent checked again per
  message), composes each e-mail from its templates, sends over the channel's one SMTP
  connection, records every result (status, timeline line, event) in a transaction per
  batch. Checked afterwards: every row sent, the server got ``--n`` distinct
  Message-IDs over one connection.
* ``smtplib``: the very same ``--n`` messages — the bytes the channel composes for
  those rows, composed before the clock starts — sent with ``smtplib.SMTP.sendmail``
  over ONE connection to the same server. Run once before and once after the
  dispatcher; the faster run counts (the ratio errs on the strict side).

Target (issue #4): dealercrm/smtplib messages/s >= 0.5. The exit status is 1 if a
correctness check fails, else 0 (the target is reported, not enforced).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import re
import shutil
import smtplib
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

# bench/ holds transitions.py: keep the folder off sys.path, or it would shadow the
# ``transitions`` package dealercrm is built on.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
TARGET_RATIO = 0.5
FROM = {"from_address": "service@autohaus.example", "from_name": "Autohaus Beispiel", "timeout": 30}
BODY = ("Guten Tag {name},\n\nIhr Serviceanliegen (Fall {n}) liegt jetzt bei Brioche Hausgeräte (der Hersteller). "
        "Der nächste Schritt erfolgt bis spätestens 04.03.2026 09:00 UTC.\n\nAntworten Sie einfach auf diese "
        "Nachricht, wenn etwas nicht stimmt.\n\nIhr Händler Autohaus Beispiel")


# -- the server, in its own process ------------------------------------------------------------
def serve(port: int, pipe) -> None:
    from aiosmtpd.controller import Controller

    message_id = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)

    class Counter:
        def __init__(self):
            self.reset()

        def reset(self):
            self.messages, self.connections, self.bytes, self.ids = 0, 0, 0, set()

        async def handle_EHLO(self, server, session, envelope, hostname, responses):
            self.connections += 1
            session.host_name = hostname  # a handler that answers EHLO itself must set it
            return responses

        async def handle_DATA(self, server, session, envelope):
            self.messages += 1
            self.bytes += len(envelope.content)
            found = message_id.search(envelope.content)
            self.ids.add(found.group(1) if found else None)
            return "250 2.0.0 OK"

    counter = Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    pipe.send("ready")
    while True:
        command = pipe.recv()
        if command == "stats":
            pipe.send(dict(messages=counter.messages, connections=counter.connections, bytes=counter.bytes,
                           distinct=len(counter.ids)))
        elif command == "reset":
            counter.reset()
            pipe.send("ok")
        else:
            controller.stop()
            pipe.send("bye")
            return


class Server:
    def __init__(self):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.pipe, child = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("spawn").Process(target=serve, args=(self.port, child), daemon=True)
        self.process.start()
        assert self.pipe.recv() == "ready"

    def ask(self, command: str):
        self.pipe.send(command)
        return self.pipe.recv()

    def stop(self):
        self.ask("stop")
        self.process.join(5)


# -- seeding --------------------------------------------------------------------------------------
def seed(folder: Path, n: int, port: int, batch_size: int) -> Path:
    import dealercrm
    from dealercrm import csv_out

    db = folder / "outbox.db"
    crm = dealercrm.connect(f"sqlite:///{db}", clock=dealercrm.ManualClock(NOW), settings=settings_for(port, batch_size))
    crm.parties.add("dealer", "Autohaus Beispiel", by=crm.system)
    people = folder / "customers.csv"
    with people.open("w", newline="", encoding="utf-8") as fh:
        out = csv_out.writer(fh)
        out.writerow(["external_id", "name", "email"])
        out.writerows([f"K{i:06d}", f"Kundin {i}", f"kundin{i}@example.org"] for i in range(n))
    report = crm.imports.run(people, by=crm.system)
    assert report.imported == n, report.summary()
    with crm.read(crm.system) as uow:
        ids = [r[0] for r in uow.connection.exec_driver_sql("SELECT id FROM customer ORDER BY id")]
    with crm.uow(crm.system, "bench.queue") as uow:
        for i, customer_id in enumerate(ids):
            crm.outbox.enqueue(uow, channel="email", purpose="service", customer_id=customer_id,
                               subject=f"Ihr Fall {i}: jetzt bei Brioche Hausgeräte",
                               body=BODY.format(name=f"Kundin {i}", n=i), origin="case_notifications",
                               data={"case_id": i, "state": "manufacturer_review", "template": "case_handed_over"})
        uow.commit()
    crm.close()
    with sqlite3.connect(db) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


def settings_for(port: int, batch_size: int):
    from dealercrm.settings import OutboxSettings, Settings

    return Settings(plugins={"channel_email": {"host": "127.0.0.1", "port": port, **FROM}},
                    outbox=OutboxSettings(batch_size=batch_size))


def open_crm(db: Path, port: int, batch_size: int):
    import dealercrm

    return dealercrm.connect(f"sqlite:///{db}", clock=dealercrm.ManualClock(NOW), migrate=False,
                             settings=settings_for(port, batch_size))


# -- the two paths ------------------------------------------------------------------------------
def run_dispatcher(db: Path, server: Server, batch_size: int, n: int) -> tuple[float, float, list[str]]:
    crm = open_crm(db, server.port, batch_size)
    _ = crm.channels  # load the plugins' channels before the clock starts, as a running worker has
    server.ask("reset")
    t0, c0 = time.perf_counter(), time.process_time()
    report = crm.outbox.dispatch()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    stats = server.ask("stats")
    problems = []
    if report.sent != n:
        problems.append(f"dispatcher: {report.summary()}, expected {n} sent")
    if (stats["messages"], stats["distinct"], stats["connections"]) != (n, n, 1):
        problems.append(f"dispatcher: the server saw {stats}, expected {n} distinct messages on 1 connection")
    with crm.read(crm.system) as uow:
        left = uow.connection.exec_driver_sql("SELECT count(*) FROM outbox_message WHERE status != 'sent'").scalar()
    if left:
        problems.append(f"dispatcher: {left} outbox rows not sent")
    crm.close()
    return seconds, cpu, problems


def compose_all(db: Path, port: int, batch_size: int) -> tuple[str, list[tuple[str, bytes]]]:
    """The bytes the channel composes for every queued row (not measured)."""
    from dealercrm.channels import OutgoingMessage

    crm = open_crm(db, port, batch_size)
    channel = crm.channels["email"]
    with crm.read(crm.system) as uow:
        rows = uow.connection.exec_driver_sql(
            "SELECT id, idempotency_key, purpose, recipient, subject, body, data, customer_id, case_id "
            "FROM outbox_message ORDER BY id").all()
    messages = []
    for r in rows:
        message = OutgoingMessage(id=r[0], idempotency_key=r[1], channel="email", purpose=r[2], recipient=r[3],
                                  subject=r[4], body=r[5], data=json.loads(r[6]) if isinstance(r[6], str) else r[6],
                                  customer_id=r[7], case_id=r[8], attempt=1)
        messages.append((r[3], channel.compose(message)[0]))
    sender = channel.settings.from_address
    crm.close()
    return sender, messages


def run_smtplib(sender: str, messages: list[tuple[str, bytes]], server: Server) -> tuple[float, float, list[str]]:
    server.ask("reset")
    t0, c0 = time.perf_counter(), time.process_time()
    smtp = smtplib.SMTP("127.0.0.1", server.port, local_hostname="autohaus.example", timeout=30)
    for recipient, content in messages:
        smtp.sendmail(sender, [recipient], content)
    smtp.quit()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    stats = server.ask("stats")
    n = len(messages)
    problems = [] if (stats["messages"], stats["distinct"], stats["connections"]) == (n, n, 1) else [
        f"smtplib: the server saw {stats}, expected {n} distinct messages on 1 connection"]
    return seconds, cpu, problems


def profile(db: Path, server: Server, batch_size: int, top: int = 30) -> None:
    crm = open_crm(db, server.port, batch_size)
    _ = crm.channels
    profiler = cProfile.Profile()
    profiler.enable()
    crm.outbox.dispatch()
    profiler.disable()
    crm.close()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(top)
        print(f"\n-- dispatcher under cProfile, by {order} --")
        print("\n".join(out.getvalue().splitlines()[4:]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="messages to send (default 10,000)")
    parser.add_argument("--batch-size", type=int, default=100, help="the dispatcher's batch size (default 100)")
    parser.add_argument("--profile", action="store_true", help="also profile the dispatcher (a second, slower run)")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="dealercrm-bench-dispatch-"))
    server = Server()
    try:
        print(f"{args.n:,} service e-mails, batch size {args.batch_size}, aiosmtpd on 127.0.0.1:{server.port}; "
              f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        t0 = time.perf_counter()
        db = seed(folder, args.n, server.port, args.batch_size)
        spare = folder / "profile.db"
        shutil.copyfile(db, spare)
        sender, messages = compose_all(db, server.port, args.batch_size)
        size = sum(len(c) for _, c in messages) / len(messages)
        print(f"seeded and composed in {time.perf_counter() - t0:.1f}s; {size:,.0f} bytes per message")

        before = run_smtplib(sender, messages, server)
        dispatched = run_dispatcher(db, server, args.batch_size, args.n)
        after = run_smtplib(sender, messages, server)
        raw = min(before, after, key=lambda r: r[0])
        problems = before[2] + dispatched[2] + after[2]
        rate = {name: args.n / r[0] for name, r in (("dealercrm", dispatched), ("smtplib", raw))}
        print(f"{'':10} {'seconds':>8} {'cpu s':>8} {'messages/s':>11}")
        for name, r in (("dealercrm", dispatched), ("smtplib", raw)):
            print(f"{name:10} {r[0]:8.2f} {r[1]:8.2f} {rate[name]:11,.0f}")
        print(f"(smtplib runs: {before[0]:.2f}s before, {after[0]:.2f}s after the dispatcher)")
        ratio = rate["dealercrm"] / rate["smtplib"]
        print(f"ratio dealercrm/smtplib: {ratio:.2f} (target >= {TARGET_RATIO}: "
              f"{'met' if ratio >= TARGET_RATIO else 'NOT met'})")
        if args.profile:
            profile(spare, server, args.batch_size)
        for problem in problems:
            print(f"CHECK FAILED: {problem}")
        return 1 if problems else 0
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
