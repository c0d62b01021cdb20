"""Issue #14, finding 4: a subscription could make dealercrm post into the operator's network (SSRF).

Any party's API key registered ``http://127.0.0.1:8300/…`` (the API itself),
``http://[::1]:22/``, ``https://169.254.169.254/latest/`` (a cloud's metadata service) or
``https://10.1.2.3/``; the dispatcher posted there and the answer came back in a task.
Now such a target is refused when the subscription is created (422, field ``url``), and a
name is resolved at every send, each address it resolves to checked, and the request
connected to the checked address — so a name that points inside, or starts pointing
inside after it was registered, gets nothing. ``allow_internal_targets`` lets an
operator deliver to 127.0.0.1 for local development.
"""

from __future__ import annotations

import json

import httpx
import pytest
from api_world import forwarded
from http_servers import running
from sqlalchemy import select

from dealercrm import ValidationError, egress
from dealercrm.db.api_models import Subscription
from dealercrm.db.outbox_models import OutboxMessage

INTERNAL = [
    "http://127.0.0.1:8300/customers",          # the API itself
    "http://localhost:8300/customers",
    "https://LOCALHOST./hook",
    "https://api.localhost/hook",
    "http://[::1]:22/",
    "https://169.254.169.254/latest/meta-data/",  # the cloud's metadata service
    "https://[fe80::1]/hook",
    "https://10.1.2.3/",
    "https://172.16.0.9/hook",
    "https://192.168.178.1/hook",               # the router
    "https://[fd00::1]/hook",                   # unique local
    "https://100.64.0.1/hook",                  # carrier-grade NAT
    "https://0.0.0.0/hook",
    "https://[::]/hook",
    "https://224.0.0.1/hook",                   # multicast
    "https://[ff02::1]/hook",
    "https://240.0.0.1/hook",                   # reserved
    "https://192.0.0.8/hook",                   # IETF protocol assignments (Python 3.11 calls it global)
    "https://255.255.255.255/hook",
    "https://[::ffff:127.0.0.1]/hook",          # IPv4 in IPv6 clothing
    "https://[::ffff:10.0.0.1]/hook",
    "https://[2002:a9fe:a9fe::]/hook",          # 6to4 of 169.254.169.254
    "https://[64:ff9b::a00:1]/hook",            # NAT64 of 10.0.0.1
    "https://2130706433/hook",                  # 127.0.0.1 as one number
    "https://0x7f000001/hook",
    "https://017700000001/hook",                # … in octal
    "https://127.1/hook",
]


def subscribe(api, url: str, who: str = "service"):
    return api.post("/subscriptions", headers=api.as_(who), json={"url": url, "kinds": ["case_handed_over"]})


def subscriptions(world) -> list[Subscription]:
    with world.crm.read(world.crm.system) as uow:
        return list(uow.session.scalars(select(Subscription)))


def deliveries(world) -> list[OutboxMessage]:
    with world.crm.read(world.crm.system) as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "subscription")))


@pytest.mark.parametrize("url", INTERNAL)
def test_an_internal_target_is_refused_when_the_subscription_is_made(api, url):
    answer = subscribe(api, url)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["field"] == "url" and "public addresses" in problem["detail"]
    assert subscriptions(api.world) == []


@pytest.mark.parametrize("url", ["https://dms.schmidt.example/hook", "https://8.8.8.8/hook",
                                 "https://[2606:4700:4700::1111]/hook"])
def test_a_public_target_is_accepted(api, url):
    assert subscribe(api, url).status_code == 201


def test_the_operator_allows_internal_targets_for_local_development(inbound_api):
    api, world = inbound_api(plugins={"http_subscriptions": {"allow_internal_targets": True}})
    assert subscribe(api, "http://127.0.0.1:8300/hook").status_code == 201
    assert subscribe(api, "https://10.1.2.3/hook").status_code == 201


def test_a_switch_that_is_not_true_or_false_stops_the_application_at_start(inbound_api):
    with pytest.raises(ValidationError, match="allow_internal_targets 'yes': must be true or false"):
        inbound_api(plugins={"http_subscriptions": {"allow_internal_targets": "yes"}})


def fake_dns(monkeypatch, answers: dict[str, list[str]]) -> list[str]:
    """Names resolve as ``answers`` say (the sandbox has no DNS); returns the names asked for."""
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[host]

    monkeypatch.setattr(egress, "resolve", resolve)
    return asked


@pytest.mark.parametrize("addresses", [["127.0.0.1"], ["10.0.0.7"], ["8.8.8.8", "127.0.0.1"]],
                         ids=["loopback", "private", "one-bad-answer-among-good"])
def test_a_name_that_resolves_inside_gets_nothing_at_send_time(inbound_api, monkeypatch, addresses):
    """Registered while it pointed outside (or never checked: names are not resolved at registration)."""
    api, world = inbound_api(plugins={"http_subscriptions": {"allow_http": True}})
    with running() as inside:
        asked = fake_dns(monkeypatch, {"dms.schmidt.example": addresses})
        assert subscribe(api, f"http://dms.schmidt.example:{inside.port}/hook").status_code == 201
        forwarded(world)
        report = world.crm.outbox.dispatch()
    assert inside.received == []  # nothing reached the machine's own port
    assert (report.sent, report.failed) == (0, 1) and asked == ["dms.schmidt.example"]
    [delivery] = deliveries(world)
    bad = addresses[-1]
    assert delivery.status == "failed" and f"dms.schmidt.example resolves to {bad}" in delivery.reason


def test_a_target_registered_before_the_check_is_refused_at_send_time(api):
    """A subscription stored before this fix (or written by hand) is checked again when sending."""
    world = api.world
    assert subscribe(api, "https://dms.schmidt.example/hook").status_code == 201
    with world.crm.uow(world.crm.system, "an old subscription") as uow:
        uow.connection.execute(Subscription.__table__.update().values(url="https://169.254.169.254/latest/"))
        uow.commit()
    forwarded(world)
    assert world.crm.outbox.dispatch().failed == 1
    [delivery] = deliveries(world)
    assert "169.254.169.254 is a link-local address" in delivery.reason


def test_with_the_switch_a_name_is_connected_to_the_address_it_was_checked_to_have(inbound_api, monkeypatch):
    """The name exists only in the resolver dealercrm asked: the request can only have arrived at the
    checked address, and it still speaks to the name (Host header)."""
    api, world = inbound_api(plugins={"http_subscriptions": {"allow_internal_targets": True, "allow_http": True}})
    with running() as dms:
        asked = fake_dns(monkeypatch, {"dms.schmidt.example": ["127.0.0.1"]})
        assert subscribe(api, f"http://dms.schmidt.example:{dms.port}/hook").status_code == 201
        forwarded(world)
        assert world.crm.outbox.dispatch().sent == 1
    [request] = dms.received
    assert request.headers["host"] == f"dms.schmidt.example:{dms.port}" and request.path == "/hook"
    assert asked == ["dms.schmidt.example"]
    assert json.loads(json.loads(request.body)["body"])["kind"] == "case_handed_over"


def test_a_name_whose_first_address_cannot_be_reached_is_sent_to_its_next_checked_one(inbound_api, monkeypatch):
    """As a plain socket connection would: 127.0.0.2 refuses (nothing listens there), 127.0.0.1 answers."""
    api, world = inbound_api(plugins={"http_subscriptions": {"allow_internal_targets": True, "allow_http": True}})
    with running() as dms:
        fake_dns(monkeypatch, {"dms.schmidt.example": ["127.0.0.2", "127.0.0.1"]})
        assert subscribe(api, f"http://dms.schmidt.example:{dms.port}/hook").status_code == 201
        forwarded(world)
        assert world.crm.outbox.dispatch().sent == 1
    assert [r.headers["host"] for r in dms.received] == [f"dms.schmidt.example:{dms.port}"]


class Recording(httpx.BaseTransport):
    """Stands in for the network: keeps the request it would have sent."""

    def __init__(self):
        self.requests: list[httpx.Request] = []

    def handle_request(self, request):
        self.requests.append(request)
        return httpx.Response(200, request=request)


def test_the_connection_goes_to_the_checked_address_with_host_and_sni_of_the_name(monkeypatch):
    """DNS rebinding: a second lookup could answer 127.0.0.1; there is none — one lookup, checked, pinned."""
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])
    lookups: list[str] = []

    def rebinding(host, port):
        lookups.append(host)
        return next(answers)

    transport = egress.pinned_transport(False, rebinding)
    transport.inner = network = Recording()
    with httpx.Client(transport=transport) as client:
        client.post("https://dms.schmidt.example/hook", content=b"{}")
    [sent] = network.requests
    assert lookups == ["dms.schmidt.example"]
    assert (sent.url.host, sent.url.path) == ("93.184.215.14", "/hook")
    assert sent.headers["host"] == "dms.schmidt.example"
    assert sent.extensions["sni_hostname"] == "dms.schmidt.example"  # TLS: SNI and certificate of the name


@pytest.mark.parametrize("url", INTERNAL)
def test_every_internal_target_is_refused_by_the_transport_too(url, monkeypatch):
    fake_dns(monkeypatch, {"localhost": ["127.0.0.1"], "LOCALHOST.": ["127.0.0.1"], "api.localhost": ["127.0.0.1"]})
    transport = egress.pinned_transport(False)
    transport.inner = network = Recording()
    with httpx.Client(transport=transport) as client, pytest.raises(egress.TargetRefused):
        client.post(url, content=b"{}")
    assert network.requests == []
