"""The HTTP API on PostgreSQL: the same answers, and concurrency without SQLite's single writer."""

from __future__ import annotations

import threading

import pytest
from api_world import WEBHOOK_SECRET, Api, issue_keys
from case_world import build_world, with_mail

from dealercrm import connect
from dealercrm.db.case_models import Case, CaseEvent
from dealercrm.http import create_app
from dealercrm.settings import Settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def world(postgres_url, clock):
    crm = connect(postgres_url, clock=clock,
                  settings=with_mail(Settings(plugins={"channel_webhook": {"secret": WEBHOOK_SECRET}})))
    crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
    w = build_world(crm)
    yield w
    crm.close()


@pytest.fixture
def api(world):
    client = Api(create_app(world.crm))
    client.keys = issue_keys(world)
    with client:
        yield client


def test_the_story_and_its_refusals_on_postgresql(api, world):
    opened = api.post("/cases", headers=api.as_("service"), json={
        "customer_id": world.customer.id, "summary": "washes badly", "asset_id": world.machine.id})
    case_id = opened.json()["id"]
    assert api.get(f"/cases/{case_id}", headers=api.as_("warranty")).status_code == 404
    for trigger, version in (("start_diagnosis", 1), ("forward_to_manufacturer", 2)):
        answer = api.post(f"/cases/{case_id}/transitions", headers=api.as_("service", **{"If-Match": f'"{version}"'}),
                          json={"trigger": trigger})
        assert answer.status_code == 200, answer.text
    stale = api.post(f"/cases/{case_id}/transitions", headers=api.as_("warranty", **{"If-Match": '"2"'}),
                     json={"trigger": "approve_visit", "data": {"technician_party_id": world.technician.id}})
    assert stale.status_code == 412
    view = api.get(f"/customers/{world.customer.id}", headers=api.as_("warranty")).json()
    assert view["visibility"] == "case" and "email" not in view["customer"]


def test_concurrent_fires_on_one_version_make_one_transition_on_postgresql(api, world):
    case_id = world.open_case().id
    answers: list[int] = []

    def fire(trigger, data):
        answer = api.post(f"/cases/{case_id}/transitions", headers=api.as_("service", **{"If-Match": '"1"'}),
                          json={"trigger": trigger, "data": data})
        answers.append(answer.status_code)

    threads = [threading.Thread(target=fire, args=("start_diagnosis", {})),
               threading.Thread(target=fire, args=("withdraw", {"reason": "changed his mind"}))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 412]
    assert world.count(CaseEvent, CaseEvent.case_id == case_id) == 2  # opened + the one that won


def test_concurrent_requests_with_one_idempotency_key_open_one_case_on_postgresql(api, world):
    answers: list[tuple[int, dict]] = []

    def open_case():
        answer = api.post("/cases", headers=api.as_("service", **{"Idempotency-Key": "same"}),
                          json={"customer_id": world.customer.id, "summary": "washes badly"})
        answers.append((answer.status_code, answer.json()))

    threads = [threading.Thread(target=open_case) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert world.count(Case) == 1
    statuses = sorted(status for status, _ in answers)
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}
    assert len({body["id"] for status, body in answers if status == 201}) == 1


def test_a_dealers_customer_list_is_filed_as_its_own_on_postgresql(api, world):
    world.crm.customers.add("Hans Meyer", email="hans@meyer.example", external_id="M-1",
                            owner_party_id=world.other_dealer.id, by=world.crm.system)
    body = ("external_id,name,email,owner_party\n"
            "K-1,Max Mustermann,max@example.org,\n"
            "M-1,Hans Meyer,,\n"                               # another dealer's numbering: this dealer's M-1 too
            "K-2,Hans M.,hans@meyer.example,\n"                # another dealer's customer: this dealer's too
            "K-3,Erika again,erika@example.org,\n"             # its own customer's e-mail
            "K-4,Otto Meyer,,Küchenwelt Meyer\n").encode()
    headers = api.as_("service", **{"Content-Type": "text/csv", "Idempotency-Key": "list-1"})
    first = api.post("/imports/customers", content=body, headers=headers)
    assert first.status_code == 200, first.text
    report = first.json()
    assert (report["rows"], report["imported"], report["already_present"]) == (5, 3, 0)
    reasons = {r["line"]: (r["field"], r["reason"]) for r in report["rejected"]}
    assert set(reasons) == {5, 6}  # uniqueness is per dealer: Meyer's customers neither block nor show
    assert reasons[5] == ("email", f"invalid email 'erika@example.org': already used by customer {world.customer.id}")
    assert reasons[6][0] == "owner_party"
    again = api.post("/imports/customers", content=body, headers=headers)
    assert again.json() == report and again.headers["idempotent-replayed"] == "true"
    mine = api.get("/customers?q=max", headers=api.as_("service")).json()["items"]
    assert [(c["external_id"], c["owner_party_id"]) for c in mine] == [("K-1", world.dealer.id)]


@pytest.mark.parametrize("name", [op.name for op in __import__("test_refusal_matrix").OPS])
def test_the_refusal_matrix_holds_on_postgresql(api, world, name):
    """Every refusal of the matrix both ways in, and each operation once by an actor allowed to,
    through the Python API (on SQLite, ``test_refusal_matrix`` runs every row both ways)."""
    from api_world import assigned as to_technician
    from test_refusal_matrix import ACTOR, ERROR, OPS, STATUS, _fill, world_ids

    op = next(o for o in OPS if o.name == name)
    ids = world_ids(world, to_technician(world))
    refused = [w for w, a in op.answers.items() if a != "ok"]
    for who in refused:
        by = getattr(world, ACTOR[who]).id
        with pytest.raises(ERROR[op.answers[who]]):
            op.python(world.crm, world, ids, by)
        method, template, body = op.http
        values = {**ids, "by": by}
        if isinstance(body, bytes):
            answer = api.request(method, template.format(**values), content=body,
                                 headers=api.as_(who, **{"Content-Type": "text/csv"}))
        else:
            answer = api.request(method, template.format(**values), headers=api.as_(who), json=_fill(body, values))
        assert answer.status_code in STATUS[op.answers[who]], (who, answer.text)
    first_allowed = next(w for w, a in op.answers.items() if a == "ok")  # once: some operations use up their record
    op.python(world.crm, world, ids, getattr(world, ACTOR[first_allowed]).id)


def _end_our_sessions(url: str) -> int:
    """What a server restart or an administrator does: every other session on this database ends."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            return len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).all())
    finally:
        engine.dispose()


def test_connections_killed_by_the_server_are_recovered_from_on_the_next_request(api, world, postgres_url):
    """No ping before every unit of work: a pooled connection found dead on its first statement is
    replaced (the pool with it) and the statement repeated, so the request still succeeds."""
    case_id = world.open_case().id
    assert api.get(f"/cases/{case_id}", headers=api.as_("service")).status_code == 200  # the pool holds connections
    assert _end_our_sessions(postgres_url) >= 1
    shown = api.get(f"/cases/{case_id}", headers=api.as_("service"))
    assert shown.status_code == 200, shown.text
    assert _end_our_sessions(postgres_url) >= 1
    fired = api.post(f"/cases/{case_id}/transitions", headers=api.as_("service", **{"If-Match": '"1"'}),
                     json={"trigger": "start_diagnosis"})  # its first statement reads the case with the actor
    assert fired.status_code == 200, fired.text
    assert _end_our_sessions(postgres_url) >= 1
    opened = api.post("/cases", headers=api.as_("service", **{"Idempotency-Key": "after-a-restart"}),
                      json={"customer_id": world.customer.id, "summary": "noisy again"})
    assert opened.status_code == 201, opened.text
