"""Issue #13 item 4: marketing e-mail carries a one-click unsubscribe link (RFC 8058), and the link works.

Against a real SMTP server (aiosmtpd on 127.0.0.1) for what goes out, and the HTTP app
(its request guard included) for what comes back: the header is on the offer and not on
the service message; the confirmation page changes nothing; posting the link revokes
marketing by e-mail, once; a forged or tampered link is refused before its body is read
and leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dealercrm import ValidationError
from dealercrm.db.models import AuditRecord, Consent, Interaction
from dealercrm.db.outbox_models import InboundMessage
from dealercrm.http import create_app
from dealercrm.settings import Settings, UnsubscribeSettings
from dealercrm.unsubscribe import UnsubscribeLinks

from smtp_server import SmtpServer

SECRET = "unsub-secret-8c1f0e5a7d3b9"
BASE = "https://crm.autohaus.example"
ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(autouse=True)
def _no_secret_from_the_environment(monkeypatch):
    monkeypatch.delenv("DEALERCRM_UNSUBSCRIBE_SECRET", raising=False)


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def shop(crm_factory, smtp):
    def make(unsubscribe=UnsubscribeSettings(base_url=BASE, secret=SECRET)):
        crm = crm_factory(settings=Settings(plugins={"channel_email": smtp.settings}, unsubscribe=unsubscribe))
        crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
        crm.max_ = crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)
        crm.consents.grant(crm.max_.id, "email", "marketing", source="shop form", by=crm.system)
        return crm

    return make


def offer_and_notice(crm, smtp):
    """An offer (marketing) and a service notice to Max, sent: (offer, notice) as the SMTP server got them."""
    crm.outbox.send("email", "marketing", "Die Dachbox für Ihren Skiurlaub: 20 % bis Sonntag.",
                    subject="Dachbox zum Saisonstart", customer_id=crm.max_.id, by=crm.system)
    crm.outbox.send("email", "service", "Ihr Trockner ist repariert und kann abgeholt werden.",
                    subject="Ihr Trockner", customer_id=crm.max_.id, by=crm.system)
    assert crm.outbox.dispatch().sent == 2
    by_subject = {r.subject: r for r in smtp.received}
    return by_subject["Dachbox zum Saisonstart"], by_subject["Ihr Trockner"]


def link_of(received) -> str:
    found = re.fullmatch(r"<(https://[^>]+)>", str(received.message["List-Unsubscribe"]))
    assert found, received.message["List-Unsubscribe"]
    return found.group(1)


def traces(crm) -> dict[str, int]:
    with crm.read(crm.system) as uow:
        return {m.__name__: uow.session.scalar(select(func.count()).select_from(m))
                for m in (Consent, AuditRecord, Interaction, InboundMessage)}


def may_advertise(crm) -> bool:
    return crm.consents.may_contact(crm.max_.id, "email", "marketing", by=crm.system)


def test_the_offer_carries_the_one_click_headers_and_the_service_notice_does_not(shop, smtp):
    crm = shop()
    offer, notice = offer_and_notice(crm, smtp)

    link = link_of(offer)
    assert link.startswith(f"{BASE}/unsubscribe/{crm.max_.id}.email.")
    assert offer.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"Mit einem Klick abmelden: {link}" in offer.text() and f'href="{link}"' in offer.html()
    assert notice.message["List-Unsubscribe"] is None and notice.message["List-Unsubscribe-Post"] is None
    assert "abmelden" not in notice.text().lower()


def test_posting_the_link_revokes_marketing_by_email_once_and_the_next_offer_is_held_back(shop, smtp):
    crm = shop()
    offer, _ = offer_and_notice(crm, smtp)
    path = link_of(offer)[len(BASE):]
    with TestClient(create_app(crm)) as web:
        page = web.get(path)  # a link scanner, or the customer opening it: asked, not unsubscribed
        assert page.status_code == 200 and 'method="post"' in page.text and "Max" not in page.text
        assert may_advertise(crm)

        # what Gmail sends for one click: no key, no cookie, the RFC 8058 body
        done = web.post(path, content="List-Unsubscribe=One-Click", headers=ONE_CLICK)
        assert done.status_code == 200 and "abgemeldet" in done.text
        assert not may_advertise(crm)
        latest = crm.consents.history(crm.max_.id, by=crm.system)[-1]
        assert (latest.channel, latest.purpose, latest.granted, latest.actor_id) == ("email", "marketing", False,
                                                                                     crm.system)
        assert "one-click unsubscribe link" in latest.source
        assert "unsubscribe link" in crm.interactions.timeline(crm.max_.id, by=crm.system)[0].summary

        before = traces(crm)
        again = web.post(path, content="List-Unsubscribe=One-Click", headers=ONE_CLICK)
        assert again.status_code == 200 and traces(crm) == before  # a repeat records nothing new

    later = crm.outbox.send("email", "marketing", "Winterreifen-Aktion", customer_id=crm.max_.id, by=crm.system)
    assert (later.status, later.reason) == ("suppressed", "no marketing consent for email (revoked)")
    service = crm.outbox.send("email", "service", "Termin morgen", customer_id=crm.max_.id, by=crm.system)
    assert service.status == "pending"  # service messages about his own things still reach him


def forgeries(token: str, other_secret_token: str) -> list[str]:
    customer, channel, signature = token.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    return [f"{int(customer) + 1}.{channel}.{signature}",  # another customer, the same signature
            f"{customer}.sms.{signature}",                 # another channel
            f"{customer}.{channel}.{flipped}",             # one character changed
            f"{customer}.{channel}.{signature[:-1]}",      # cut short
            f"{customer}.{channel}",                       # no signature
            other_secret_token,                            # signed with a secret that is not ours
            "1.email." + "A" * 43, "x" * 300]


def test_a_forged_or_tampered_link_is_refused_and_stores_nothing(shop, smtp):
    crm = shop()
    offer, _ = offer_and_notice(crm, smtp)
    token = link_of(offer).rsplit("/", 1)[1]
    stranger = UnsubscribeLinks(BASE, ("not-our-secret-at-all-0000",)).token(crm.max_.id, "email")
    before = traces(crm)
    with TestClient(create_app(crm)) as web:
        for forged in forgeries(token, stranger):
            for method in ("POST", "GET"):
                answer = web.request(method, f"/unsubscribe/{forged}", content="List-Unsubscribe=One-Click",
                                     headers=ONE_CLICK)
                assert answer.status_code == 404, (method, forged, answer.status_code)
                assert "nicht gültig" in answer.text
        assert traces(crm) == before and may_advertise(crm)

        # the genuine one, for contrast: the same request that was refused above works
        assert web.post(f"/unsubscribe/{token}", content="List-Unsubscribe=One-Click",
                        headers=ONE_CLICK).status_code == 200
    assert not may_advertise(crm)


def test_a_forged_link_is_refused_before_its_body_is_read(shop):
    """The token is checked where an API key would be: from the path, with the body still unread."""
    crm = shop()
    app = create_app(crm)
    genuine = crm.inbound.unsubscribe_link(crm.max_.id).rsplit("/", 1)[1]
    customer, channel, signature = genuine.split(".")

    async def post(token: str) -> list[dict]:
        sent: list[dict] = []

        async def never():  # a client that sends its headers and then nothing
            await asyncio.Event().wait()

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": f"/unsubscribe/{token}", "raw_path": f"/unsubscribe/{token}".encode(),
                 "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
                 "headers": [(b"host", b"crm"), (b"content-length", b"26"),
                             (b"content-type", b"application/x-www-form-urlencoded")], "app": app}
        await asyncio.wait_for(_guard(app)(scope, never, send), timeout=2)
        return sent

    answer = run_apart(post(f"{customer}.{channel}.{signature[::-1]}"))
    assert answer[0]["status"] == 404
    assert (b"connection", b"close") in answer[0]["headers"]
    with pytest.raises(asyncio.TimeoutError):  # a genuine token waits for its body, as any authenticated POST
        run_apart(post(genuine))


def run_apart(coroutine):
    """``asyncio.run`` on a thread of its own: after the browser tests (pytest runs them early) Playwright
    keeps an event loop running on this one for the rest of the session."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _guard(app):
    """The app's request guard, around the rest of the app (as the server runs it)."""
    from dealercrm.http.idempotency import RequestGuard

    limits = app.state.crm.settings.http
    return RequestGuard(app.router, max_body=limits.max_body_bytes, body_timeout=limits.body_timeout_seconds)


def test_without_the_unsubscribe_settings_offers_go_without_the_header_and_a_warning_says_so(shop, smtp, caplog):
    caplog.set_level(logging.WARNING)
    crm = shop(unsubscribe=UnsubscribeSettings())
    offer, _ = offer_and_notice(crm, smtp)
    assert offer.message["List-Unsubscribe"] is None and "Mit einem Klick" not in offer.text()
    assert "marketing e-mail goes out without List-Unsubscribe" in caplog.text
    with TestClient(create_app(crm)) as web:  # and no token is genuine then
        forged = UnsubscribeLinks(BASE, (SECRET,)).token(crm.max_.id, "email")
        assert web.post(f"/unsubscribe/{forged}").status_code == 404
    assert may_advertise(crm)


def test_the_secret_from_the_environment_wins_and_old_links_work_while_the_secret_rotates(shop, smtp, monkeypatch):
    old = shop()
    old_token = old.inbound.unsubscribe_link(old.max_.id).rsplit("/", 1)[1]
    monkeypatch.setenv("DEALERCRM_UNSUBSCRIBE_SECRET", "brand-new-secret-from-env-42")
    crm = shop(unsubscribe=UnsubscribeSettings(base_url=BASE, secret=["ignored-file-secret-0001"]))
    assert crm.inbound.links.read(old_token) is None  # the environment wins over the file
    monkeypatch.delenv("DEALERCRM_UNSUBSCRIBE_SECRET")
    rotated = shop(unsubscribe=UnsubscribeSettings(base_url=BASE, secret=["next-secret-0123456789", SECRET]))
    assert rotated.inbound.links.read(old_token) == (rotated.max_.id, "email")  # the old one still accepted
    assert rotated.inbound.unsubscribe_link(rotated.max_.id) != f"{BASE}/unsubscribe/{old_token}"  # new ones signed anew


def test_a_merged_customers_link_unsubscribes_the_customer_kept_and_an_erased_ones_records_nothing(shop, smtp):
    crm = shop()
    twin = crm.customers.add("Max Mustermann", email="max.m@example.org", by=crm.system)
    twin_link = crm.inbound.unsubscribe_link(twin.id)
    crm.customers.merge(crm.max_.id, twin.id, by=crm.system)
    assert crm.inbound.unsubscribe(twin_link.rsplit("/", 1)[1]).customer_id == crm.max_.id
    assert not may_advertise(crm)

    erika = crm.customers.add("Erika Musterfrau", email="erika@example.org", by=crm.system)
    link = crm.inbound.unsubscribe_link(erika.id).rsplit("/", 1)[1]
    crm.customers.erase(erika.id, by=crm.system)
    before = traces(crm)
    assert crm.inbound.unsubscribe(link).revoked is False and traces(crm) == before


@pytest.mark.parametrize("settings, field", [
    (UnsubscribeSettings(base_url=BASE, secret="short"), "secret"),
    (UnsubscribeSettings(base_url="crm.autohaus.example", secret=SECRET), "base_url"),
    (UnsubscribeSettings(base_url=BASE + "?x=1", secret=SECRET), "base_url"),
    (UnsubscribeSettings(base_url=BASE, secret=SECRET, mailto="not an address"), "mailto"),
])
def test_a_mistake_in_the_unsubscribe_settings_stops_the_server_at_start_up(crm_factory, settings, field):
    crm = crm_factory(settings=Settings(unsubscribe=settings))
    with pytest.raises(ValidationError) as refused:
        create_app(crm)
    assert refused.value.field == field


def test_with_a_mailto_address_both_ways_are_offered(shop, smtp):
    crm = shop(unsubscribe=UnsubscribeSettings(base_url=BASE, secret=SECRET, mailto="abmelden@autohaus.example"))
    offer, _ = offer_and_notice(crm, smtp)
    assert str(offer.message["List-Unsubscribe"]).endswith(", <mailto:abmelden@autohaus.example?subject=unsubscribe>")


def test_a_customer_of_another_dealer_of_the_installation_reads_her_own_dealers_name(shop, smtp):
    """Küchenwelt Meyer's customer follows her link: her dealer stops its offers, not "Our Dealership"."""
    crm = shop()
    meyer = crm.parties.add("dealer", "Küchenwelt Meyer", by=crm.system)
    hers = crm.customers.add("Hanna Neu", email="hanna@example.org", owner_party_id=meyer.id, by=crm.system)
    crm.consents.grant(hers.id, "email", "marketing", source="shop form", by=crm.system)
    path = crm.inbound.unsubscribe_link(hers.id)[len(BASE):]
    with TestClient(create_app(crm)) as web:
        asked, done = web.get(path), web.post(path, content="List-Unsubscribe=One-Click", headers=ONE_CLICK)
    for page in (asked, done):
        assert page.status_code == 200 and "Küchenwelt Meyer" in page.text, page.text
        assert crm.settings.home_dealer not in page.text
