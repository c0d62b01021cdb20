"""Faults on the way to a real SMTP server: down, flapping, a dispatcher killed mid-batch.

Every test counts at the server (the Message-IDs it accepted), not in the outbox:
after recovery every message has arrived, and a message arrives twice only when the
dispatcher died between sending and recording — then with the same Message-ID.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import attrs
import pytest
from sqlalchemy import select

from dealercrm.db.outbox_models import OutboxMessage
from dealercrm.plugins.channel_email import message_id
from dealercrm.settings import OutboxSettings, Settings

from smtp_server import SmtpServer

KILLED_DISPATCHER = """
import json, os, sys
from datetime import datetime
import dealercrm.services.dispatcher as dispatcher
from dealercrm import ManualClock, connect
from dealercrm.settings import OutboxSettings, Settings

def killed(*args, **kwargs):
    os._exit(1)  # the process dies after sending the batch, before recording it

dispatcher.record = killed
url, now, email, outbox = sys.argv[1], datetime.fromisoformat(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
crm = connect(url, clock=ManualClock(now), migrate=False,
              settings=Settings(plugins={"channel_email": email}, outbox=OutboxSettings(**outbox)))
crm.outbox.dispatch()
"""


@pytest.fixture(autouse=True)
def _no_smtp_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("DEALERCRM_SMTP_"):
            monkeypatch.delenv(name)


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def app(crm_factory, smtp):
    def make(**outbox):
        crm = crm_factory(settings=Settings(plugins={"channel_email": smtp.settings},
                                            outbox=OutboxSettings(**({"batch_size": 4} | outbox))))
        crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
        return crm

    crm = make()
    crm.make = make
    return crm


def queue(crm, n: int) -> set[str]:
    """One service e-mail to each of n customers; the Message-IDs they must arrive with."""
    ids = set()
    for i in range(n):
        customer = crm.customers.add(f"Kunde {i}", email=f"kunde{i}@example.org", by=crm.system)
        msg = crm.outbox.send("email", "service", f"Ihr Termin am {i + 1}. April", subject=f"Termin {i}",
                              customer_id=customer.id, by=crm.system)
        ids.add(message_id(msg.idempotency_key, "autohaus.example"))
    return ids


def rows(crm, status: str | None = None) -> list[OutboxMessage]:
    with crm.read(crm.system) as uow:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        return list(uow.session.scalars(query if status is None else query.where(OutboxMessage.status == status)))


def test_while_the_server_is_down_messages_back_off_and_all_arrive_once_it_is_back(app, smtp, clock):
    expected = queue(app, 10)
    smtp.go_down_after(3)  # it crashes in the middle of the run: 421, then it hangs up on everyone
    report = app.outbox.dispatch()
    assert (report.sent, report.retried) == (3, 7) and len(smtp.received) == 3
    waiting = rows(app, "pending")
    first_waits = [m.next_attempt_at - clock.now() for m in waiting]
    assert len(waiting) == 7 and all(w.total_seconds() > 0 for w in first_waits)
    assert all(m.attempts == 1 and m.reason for m in waiting)
    assert app.outbox.dispatch().batches == 0  # nothing is due yet: no early resend

    smtp.stop()  # now the port is closed altogether: connection refused
    clock.set(max(m.next_attempt_at for m in waiting))
    assert app.outbox.dispatch().retried == 7 and len(smtp.received) == 3
    waiting = rows(app, "pending")
    assert all("Connection refused" in m.reason and m.attempts == 2 for m in waiting)
    assert min(m.next_attempt_at - clock.now() for m in waiting) >= max(first_waits)  # backing off

    smtp.come_back()
    smtp.start()
    clock.set(max(m.next_attempt_at for m in waiting))
    assert app.outbox.dispatch().sent == 7
    arrived = smtp.message_ids()
    assert set(arrived) == expected and set(arrived.values()) == {1}  # none lost, none twice
    assert [m.status for m in rows(app)] == ["sent"] * 10


def test_a_flapping_server_gets_every_message_exactly_once(app, smtp, clock):
    crm = app.make(max_attempts=10)
    expected = queue(crm, 12)
    smtp.flap(16)  # every other new connection: 421 and hang-up; every other RCPT TO: 451
    for _ in range(20):
        crm.outbox.dispatch()
        waiting = rows(crm, "pending")
        if not waiting:
            break
        clock.set(min(m.next_attempt_at for m in waiting))
    arrived = smtp.message_ids()
    assert set(arrived) == expected and set(arrived.values()) == {1} and len(smtp.received) == 12
    assert [m.status for m in rows(crm)] == ["sent"] * 12
    assert sum(m.attempts for m in rows(crm)) > 12 and smtp.connections > 1  # it did flap


def test_a_dispatcher_killed_between_sending_and_recording_resends_only_its_batch_with_the_same_message_ids(
        app, smtp, clock):
    crm = app.make(batch_size=5, lease_seconds=60)
    expected = queue(crm, 12)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALERCRM_")}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_DISPATCHER, crm.engine.url.render_as_string(hide_password=False),
         clock.now().isoformat(), json.dumps(smtp.settings), json.dumps(attrs.asdict(crm.settings.outbox))],
        env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == 1, killed.stderr
    batch = smtp.message_ids()
    assert len(batch) == 5 and set(batch) <= expected  # sent, never recorded
    assert [m.status for m in rows(crm)] == ["sending"] * 5 + ["pending"] * 7

    clock.advance(seconds=61)  # the dead dispatcher's leases expire
    assert crm.outbox.dispatch().sent == 12
    arrived = smtp.message_ids()
    assert set(arrived) == expected  # every message arrived
    assert {mid for mid, n in arrived.items() if n > 1} == set(batch) and max(arrived.values()) == 2
    for mid in batch:  # the copy is recognisably the same message
        first, again = [r for r in smtp.received if r.message_id == mid]
        assert first.message["X-Dealercrm-Idempotency-Key"] == again.message["X-Dealercrm-Idempotency-Key"]
        assert (first.subject, first.rcpt_tos, first.text()) == (again.subject, again.rcpt_tos, again.text())
    assert [m.status for m in rows(crm)] == ["sent"] * 12
