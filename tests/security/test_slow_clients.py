"""Issue #14, finding 1: one connection that never finishes its body held SQLite's write lock.

Against a real ``dealercrm serve`` on 127.0.0.1 (one uvicorn process, SQLite): a client
declares a large ``Content-Length``, sends a few bytes and stalls. Before the fix the
guard took the write lock first and then waited for the body, unauthenticated and
without a deadline: every other party's write hung (still after 90 s). Now the caller is
authenticated from the headers, the body is read before the lock and within
``[http] body_timeout_seconds`` (3 s here): another party's write goes through at once
while the slow client stalls, and the slow client gets 408 and is cut off.

A dealer's long CSV import takes the lock per chunk, so another party's write gets in
between chunks instead of waiting for the whole list.
"""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
from sqlalchemy import func, select

import dealercrm
from dealercrm.db.models import Customer
from dealercrm.db.outbox_models import InboundMessage
from dealercrm.settings import Settings

BODY_TIMEOUT = 3.0
PROMPT = 1.5  # "at once": well under the body timeout a stalled client could otherwise hold the lock for
RELAY_SECRET = "relay-secret-5f0c2a9e81d7"
DECLARED = 100_000


@pytest.fixture(scope="module")
def served(tmp_path_factory, dealercrm_serve):
    """A real server over a fresh SQLite file: two dealers with a key each, the e-mail relay configured."""
    folder = tmp_path_factory.mktemp("served")
    url = f"sqlite:///{folder}/served.db"
    (folder / "dealercrm.toml").write_text(
        f"[http]\nbody_timeout_seconds = {BODY_TIMEOUT}\nimport_chunk_rows = 500\n\n"
        f'[inbound.email]\nsecret = "{RELAY_SECRET}"\n\n'
        '[plugins.channel_email]\nfrom_address = "service@elektro-schmidt.example"\n', encoding="utf-8")
    crm = dealercrm.connect(url, settings=Settings())
    crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
    keys = crm.api_keys
    schmidt = crm.parties.add("dealer", "Elektro Schmidt", by=crm.system)
    meyer = crm.parties.add("dealer", "Küchenwelt Meyer", by=crm.system)
    key_a = keys.create(schmidt.id, "service", by=crm.system).key
    key_b = keys.create(meyer.id, "service", by=crm.system).key
    crm.close()
    with dealercrm_serve(folder, url, "--log-level", "warning",
                         env={"DEALERCRM_SETTINGS": str(folder / "dealercrm.toml")}) as base:
        yield dict(base=base, port=int(base.rsplit(":", 1)[1]), url=url, a=key_a, b=key_b)


def count(url: str, model) -> int:
    crm = dealercrm.connect(url, settings=Settings(), migrate=False)
    try:
        with crm.read(crm.system) as uow:
            return uow.session.scalar(select(func.count()).select_from(model))
    finally:
        crm.close()


def stall(served, path: str, headers: dict[str, str], declared: int = DECLARED) -> socket.socket:
    """Send the headers of a POST declaring ``declared`` bytes, and a few of them; then nothing more."""
    sock = socket.create_connection(("127.0.0.1", served["port"]), timeout=10)
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: text/plain", f"Content-Length: {declared}",
             *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + b"From: erika@example.org\r\n")
    return sock


def nothing_received_yet(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return not sock.recv(1, socket.MSG_PEEK)  # b"": closed, not stalled
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)


def answer_of(sock: socket.socket, within: float) -> tuple[int, bool, bytes]:
    """(status, whether the server closed the connection, the raw answer), waiting at most ``within`` s."""
    sock.settimeout(within)
    data, closed = b"", False
    end = time.monotonic() + within
    try:
        while time.monotonic() < end:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    finally:
        sock.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, closed, data


def timed_write(served, key: str, name: str) -> tuple[int, float]:
    started = time.monotonic()
    answer = httpx.post(f"{served['base']}/customers", headers={"Authorization": f"Bearer {key}"},
                        json={"name": name}, timeout=BODY_TIMEOUT * 4)
    return answer.status_code, time.monotonic() - started


@pytest.mark.parametrize("path,who", [
    ("/customers", "a dealer's key"),
    ("/imports/customers", "a dealer's key"),
    ("/inbound/email", "the relay's secret"),
])
def test_an_authenticated_client_that_stalls_its_body_holds_up_no_other_partys_write(served, path, who):
    credentials = ({"Authorization": f"Bearer {served['a']}"} if who == "a dealer's key"
                   else {"X-Dealercrm-Inbound-Secret": RELAY_SECRET})
    customers, inbound = count(served["url"], Customer), count(served["url"], InboundMessage)
    sent = time.monotonic()
    slow = stall(served, path, credentials)
    time.sleep(0.3)  # the server has the headers and is waiting for the rest
    status, waited = timed_write(served, served["b"], "Another party's customer")
    assert status == 201 and waited < PROMPT, f"another party's write waited {waited:.2f}s"
    assert nothing_received_yet(slow)  # the slow client is still stalled meanwhile

    status, closed, raw = answer_of(slow, BODY_TIMEOUT + 5)
    cut_off_after = time.monotonic() - sent
    assert status == 408 and closed, raw[:200]
    assert BODY_TIMEOUT - 0.5 < cut_off_after < BODY_TIMEOUT + 3
    assert count(served["url"], Customer) == customers + 1  # only the other party's
    assert count(served["url"], InboundMessage) == inbound


@pytest.mark.parametrize("path,headers", [
    ("/customers", {}),
    ("/customers", {"Authorization": "Bearer dcrm_00000000_forged"}),
    ("/inbound/email", {}),
    ("/inbound/email", {"X-Dealercrm-Inbound-Secret": "a-guess-at-the-relay-secret"}),
])
def test_an_unauthenticated_client_is_refused_before_its_body_is_read(served, path, headers):
    inbound = count(served["url"], InboundMessage)
    started = time.monotonic()
    slow = stall(served, path, headers)
    status, closed, raw = answer_of(slow, BODY_TIMEOUT + 5)
    assert status == 401 and closed, raw[:200]
    assert time.monotonic() - started < PROMPT  # not after the body timeout: the body was never waited for
    assert count(served["url"], InboundMessage) == inbound


def test_a_body_declared_over_the_limit_is_refused_before_it_is_read(served):
    started = time.monotonic()
    slow = stall(served, "/customers", {"Authorization": f"Bearer {served['a']}"}, declared=(1 << 20) + 1)
    status, closed, raw = answer_of(slow, BODY_TIMEOUT + 5)
    assert status == 413 and closed, raw[:200]
    assert time.monotonic() - started < PROMPT


def test_many_stalled_clients_at_once_hold_up_no_write(served):
    slow = [stall(served, "/customers", {"Authorization": f"Bearer {served['a']}"}) for _ in range(20)]
    try:
        time.sleep(0.3)
        for i in range(3):
            status, waited = timed_write(served, served["b"], f"Customer {i}")
            assert status == 201 and waited < PROMPT, f"write {i} waited {waited:.2f}s"
    finally:
        for sock in slow:
            sock.close()


def test_a_long_import_lets_other_partys_writes_in_between_its_chunks(served):
    rows = 40_000  # a few seconds of filing on SQLite, in chunks of 500
    body = ("external_id,name\n" + "".join(f"L-{i},C{i}\n" for i in range(rows))).encode()
    done: dict[str, float] = {}

    def run_import():
        started = time.monotonic()
        answer = httpx.post(f"{served['base']}/imports/customers", content=body, timeout=120,
                            headers={"Authorization": f"Bearer {served['a']}", "Content-Type": "text/csv"})
        done.update(status=answer.status_code, imported=answer.json().get("imported", -1), at=time.monotonic(),
                    took=time.monotonic() - started)

    importer = threading.Thread(target=run_import)
    importer.start()
    writes: list[tuple[float, float]] = []  # (finished at, waited)
    try:
        time.sleep(0.3)
        while importer.is_alive() and len(writes) < 50:
            status, waited = timed_write(served, served["b"], f"Written during the import {len(writes)}")
            assert status == 201
            writes.append((time.monotonic(), waited))
            time.sleep(0.05)
    finally:
        importer.join(timeout=120)
    assert done["status"] == 200 and done["imported"] == rows
    during = [waited for at, waited in writes if at < done["at"]]
    assert len(during) >= 2, f"the other party's writes got in only after the import ({done['took']:.1f}s): {writes}"
    assert max(waited for _, waited in writes) < PROMPT, f"another party's writes waited {writes}"
