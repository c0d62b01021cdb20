"""One refusal matrix: who may do what to whose record, asked of the Python API and over
HTTP — the two ways in must give the same answer, because they are one service layer.

The world: dealer Elektro Schmidt keeps Erika's file (``service`` is its service desk,
``manager`` its manager); her washing machine's case has gone through the manufacturer
Brioche (``warranty``) to Technik-Service Nord (``fitter``), so all three serve it.
Küchenwelt Meyer (``other_dealer``) and Frostkalt (``other_maker``) have nothing to do
with any of it. Each row says, for one operation, what each of them gets:

* ``ok`` — it happens (HTTP 2xx);
* ``NotFound`` — the record does not exist for that actor (HTTP 404, like an id never used);
* ``NotPermitted`` — seen, but not the actor's to do (HTTP 403).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest
from api_world import assigned

from dealercrm import NotFound, NotPermitted

WHO = ("service", "manager", "warranty", "fitter", "other_dealer", "other_maker")
ACTOR = {"service": "service", "manager": "manager", "warranty": "warranty_desk", "fitter": "fitter",
         "other_dealer": "other_dealer_service", "other_maker": "other_warranty_desk"}
STATUS = {"ok": range(200, 300), "NotFound": (404,), "NotPermitted": (403,)}
ERROR = {"NotFound": NotFound, "NotPermitted": NotPermitted}

#: the answer a kind of record gives each actor
KEEPER = dict(service="ok", manager="ok", warranty="NotPermitted", fitter="NotPermitted",
              other_dealer="NotFound", other_maker="NotFound")  # the whole file: the owning dealer's
SERVED = dict(KEEPER, warranty="ok", fitter="ok")  # the case and what it needs: every party serving it
MANAGER = dict(KEEPER, service="NotPermitted")  # irreversible, or the whole file at once
DEALERS = dict(service="ok", manager="ok", warranty="NotPermitted", fitter="NotPermitted", other_dealer="ok",
               other_maker="NotPermitted")  # a dealer's business, for any dealer
MAKER = dict(service="NotPermitted", manager="NotPermitted", warranty="ok", fitter="NotPermitted",
             other_dealer="NotFound", other_maker="NotFound")  # the return's authorisation and the credit
CASE_DEALER = dict(SERVED, warranty="NotPermitted", fitter="NotPermitted")  # the case's dealer's own step
OWN_PEOPLE = dict(service="ok", manager="ok", warranty="NotPermitted", fitter="NotPermitted",
                  other_dealer="NotPermitted", other_maker="NotPermitted")  # the dealer's own employees
# who comes and goes: the dealer's owner or manager; to anyone else the dealer's people are not there
PEOPLE_MANAGER = dict(service="NotPermitted", manager="ok", warranty="NotFound", fitter="NotFound",
                      other_dealer="NotFound", other_maker="NotFound")
OWN_TASKS = dict(service="ok", manager="ok", warranty="NotFound", fitter="NotFound", other_dealer="NotFound",
                 other_maker="NotFound")  # the dealer's follow-ups and its people: nobody else's business


@attrs.frozen
class Op:
    """One operation, as a Python call and as an HTTP request, with its expected answers."""

    name: str
    answers: dict[str, str]
    python: Callable[..., Any]  # (crm, world, ids, by) -> anything
    http: tuple[str, str, Any]  # method, path template, JSON body (or bytes for CSV)


def _case_python(fn):
    return lambda crm, w, ids, by: fn(crm, w, ids, by)


OPS = [
    Op("view the customer", SERVED, lambda crm, w, i, by: crm.customers.view(i["c"], by=by),
       ("GET", "/customers/{c}", None)),
    Op("list the customer's assets", SERVED, lambda crm, w, i, by: crm.assets.of_customer(i["c"], by=by),
       ("GET", "/customers/{c}/assets", None)),
    Op("read consents", KEEPER, lambda crm, w, i, by: crm.consents.history(i["c"], by=by),
       ("GET", "/customers/{c}/consents", None)),
    Op("read interests", KEEPER, lambda crm, w, i, by: crm.interests.of_customer(i["c"], by=by),
       ("GET", "/customers/{c}/interests", None)),
    Op("read the timeline", KEEPER, lambda crm, w, i, by: crm.interactions.timeline(i["c"], by=by),
       ("GET", "/customers/{c}/timeline", None)),
    Op("read contact persons", KEEPER, lambda crm, w, i, by: crm.customers.contacts(i["c"], by=by),
       ("GET", "/customers/{c}/contacts", None)),
    Op("read messages", KEEPER, lambda crm, w, i, by: crm.outbox.of_customer(i["c"], by=by),
       ("GET", "/customers/{c}/messages", None)),
    Op("change the customer", KEEPER, lambda crm, w, i, by: crm.customers.update(i["c"], city="Hamburg", by=by),
       ("PATCH", "/customers/{c}", {"city": "Hamburg"})),
    Op("note an interest", KEEPER, lambda crm, w, i, by: crm.interests.note(i["c"], "skiing", by=by),
       ("POST", "/customers/{c}/interests", {"tag": "skiing"})),
    Op("record consent", KEEPER,
       lambda crm, w, i, by: crm.consents.grant(i["c"], "email", "marketing", source="web form", by=by),
       ("POST", "/customers/{c}/consents", {"channel": "email", "purpose": "marketing", "granted": True,
                                            "source": "web form"})),
    Op("record an interaction", KEEPER,
       lambda crm, w, i, by: crm.interactions.record(i["c"], "phone", "outbound", "called", by=by),
       ("POST", "/customers/{c}/interactions", {"channel": "phone", "direction": "outbound", "summary": "called"})),
    Op("add a contact person", KEEPER, lambda crm, w, i, by: crm.customers.add_contact(i["c"], "Hans", "spouse", by=by),
       ("POST", "/customers/{c}/contacts", {"name": "Hans", "function": "spouse"})),
    Op("change a contact person", KEEPER,
       lambda crm, w, i, by: crm.customers.update_contact(i["c"], i["p"], phone="040 5550199", by=by),
       ("PATCH", "/customers/{c}/contacts/{p}", {"phone": "040 5550199"})),
    Op("remove a contact person", KEEPER, lambda crm, w, i, by: crm.customers.remove_contact(i["c"], i["p"], by=by),
       ("DELETE", "/customers/{c}/contacts/{p}", None)),
    Op("write to the customer", KEEPER,
       lambda crm, w, i, by: crm.outbox.send("email", "service", "Hallo", customer_id=i["c"], by=by),
       ("POST", "/customers/{c}/messages", {"channel": "email", "purpose": "service", "body": "Hallo"})),
    Op("name the account owner", KEEPER,
       lambda crm, w, i, by: crm.customers.reassign(i["c"], account_owner_id=i["owner"], by=by),
       ("POST", "/customers/{c}/owner", {"account_owner_id": "{owner}"})),
    Op("export the file", MANAGER, lambda crm, w, i, by: crm.customers.export(i["c"], by=by),
       ("GET", "/customers/{c}/export", None)),
    Op("merge a duplicate", MANAGER, lambda crm, w, i, by: crm.customers.merge(i["c"], i["dup"], by=by),
       ("POST", "/customers/{c}/merge", {"duplicate_id": "{dup}"})),
    Op("erase the file", MANAGER, lambda crm, w, i, by: crm.customers.erase(i["c"], by=by),
       ("POST", "/customers/{c}/erase", None)),
    Op("see the case", SERVED, lambda crm, w, i, by: crm.cases.get(i["k"], by=by), ("GET", "/cases/{k}", None)),
    Op("read the case's history", SERVED, lambda crm, w, i, by: crm.cases.history(i["k"], by=by),
       ("GET", "/cases/{k}/history", None)),
    Op("ask what may be fired", SERVED, lambda crm, w, i, by: crm.cases.allowed_triggers(i["k"], by),
       ("GET", "/cases/{k}/allowed-triggers", None)),
    Op("record a fact on the case", SERVED,
       lambda crm, w, i, by: crm.cases.record_fact(i["k"], "customer_home_mornings", True, by=by),
       ("POST", "/cases/{k}/facts", {"key": "customer_home_mornings", "value": True})),
    Op("record the return's RMA number", MAKER,
       lambda crm, w, i, by: crm.cases.record_return(i["k"], rma_number="RMA-2", by=by),
       ("POST", "/cases/{k}/return", {"rma_number": "RMA-2"})),
    Op("record the old unit shipped back", CASE_DEALER,
       lambda crm, w, i, by: crm.cases.record_return(i["k"], shipped_on=i["today"], by=by),
       ("POST", "/cases/{k}/return", {"shipped_on": "{today}"})),
    Op("record the credit to the dealer", MAKER,
       lambda crm, w, i, by: crm.cases.record_credit(i["k"], "99.90", "EUR", by=by),
       ("POST", "/cases/{k}/credit", {"amount": "99.90", "currency": "EUR"})),
    Op("read survey answers", KEEPER, lambda crm, w, i, by: crm.surveys.of_case(i["k"], by=by),
       ("GET", "/cases/{k}/survey", None)),
    Op("record a survey answer", KEEPER, lambda crm, w, i, by: crm.surveys.record(i["k"], csat=5, by=by),
       ("POST", "/cases/{k}/survey", {"csat": 5})),
    Op("open a case for the customer", dict(KEEPER, warranty="NotPermitted", fitter="NotPermitted"),
       lambda crm, w, i, by: crm.cases.open(i["c"], "door leaks", by=by),
       ("POST", "/cases", {"customer_id": "{c}", "summary": "door leaks"})),
    Op("add to the product catalogue", DEALERS, lambda crm, w, i, by: crm.products.add(f"SKU-{by}", "Dryer", by=by),
       ("POST", "/products", {"sku": "SKU-{by}", "name": "Dryer"})),
    Op("read the relationship map", KEEPER, lambda crm, w, i, by: crm.customers.relationships(i["c"], by=by),
       ("GET", "/customers/{c}/relationships", None)),
    Op("record an interaction with a contact person", KEEPER,
       lambda crm, w, i, by: crm.interactions.record(i["c"], "visit", "outbound", "met", contact_person_id=i["p"],
                                                     by=by),
       ("POST", "/customers/{c}/interactions", {"channel": "visit", "direction": "outbound", "summary": "met",
                                                "contact_person_id": "{p}"})),
    Op("make a task about a contact person", KEEPER,
       lambda crm, w, i, by: crm.tasks.create("call their buyer", crm.clock.now(), customer_id=i["c"],
                                              contact_person_id=i["p"], by=by),
       ("POST", "/tasks", {"title": "call their buyer", "due_at": "{due}", "customer_id": "{c}",
                           "contact_person_id": "{p}"})),
    Op("deactivate a person and hand over", PEOPLE_MANAGER,
       lambda crm, w, i, by: crm.parties.deactivate(i["leaver"], handover_to=i["owner"], by=by),
       ("POST", "/parties/{dealer}/actors/{leaver}/deactivate", {"handover_to": "{owner}"})),
    Op("read the single-threaded accounts", DEALERS,
       lambda crm, w, i, by: crm.reports.report("single_threaded", by=by),
       ("GET", "/reports/single_threaded", None)),
    Op("list the dealer's people", OWN_PEOPLE, lambda crm, w, i, by: crm.parties.actors(i["dealer"], by=by),
       ("GET", "/parties/{dealer}/actors", None)),
    Op("list a colleague's tasks", OWN_TASKS,
       lambda crm, w, i, by: crm.tasks.list(assigned_actor_id=i["desk"], by=by),
       ("GET", "/tasks?assigned_to={desk}", None)),
    Op("see a task", OWN_TASKS, lambda crm, w, i, by: crm.tasks.get(i["t"], by=by), ("GET", "/tasks/{t}", None)),
    Op("complete a task", OWN_TASKS, lambda crm, w, i, by: crm.tasks.complete(i["t"], by=by),
       ("POST", "/tasks/{t}/complete", None)),
    Op("snooze a task", OWN_TASKS,
       lambda crm, w, i, by: crm.tasks.snooze(i["t"], datetime.fromisoformat(i["tomorrow"]), by=by),
       ("POST", "/tasks/{t}/snooze", {"until": "{tomorrow}"})),
    Op("list duplicate suspects", DEALERS, lambda crm, w, i, by: crm.customers.duplicates(by=by),
       ("GET", "/customers/duplicates", None)),
    Op("list the customer's duplicate suspects", KEEPER,
       lambda crm, w, i, by: crm.customers.duplicates(customer_id=i["c"], by=by),
       ("GET", "/customers/duplicates?customer_id={c}", None)),
    Op("import customers", DEALERS,
       lambda crm, w, i, by: crm.imports.run_text("external_id,name\nK-9,Otto Normal\n", by=by),
       ("POST", "/imports/customers", b"external_id,name\nK-9,Otto Normal\n")),
]
ROWS = [(op, who) for op in OPS for who in WHO]


@pytest.fixture
def ids(world) -> dict[str, int]:
    case_id = assigned(world)  # at the technician: dealer, manufacturer and technician all serve it
    return world_ids(world, case_id)


def world_ids(world, case_id: int) -> dict[str, int]:
    """The ids the operations name: Erika, her case (its return authorised), a duplicate of her,
    a contact person, a salesman who is leaving (Erika's account owner); and today, for the
    days recorded, and tomorrow, for a task's due time."""
    crm = world.crm
    dup = crm.customers.add("Erika M.", owner_party_id=world.dealer.id, by=crm.system)
    contact = crm.customers.add_contact(world.customer.id, "Hans Musterfrau", "spouse", by=crm.system)
    crm.cases.record_return(case_id, rma_number="RMA-1", by=crm.system)
    leaver = crm.parties.add_actor(world.dealer.id, "Lars Abgang", "sales", by=crm.system)
    crm.customers.reassign(world.customer.id, leaver.id, by=crm.system)
    now = crm.clock.now()
    task = crm.tasks.create("call Erika back", now + timedelta(hours=2), customer_id=world.customer.id,
                            assigned_actor_id=world.service.id, by=crm.system)
    return {"c": world.customer.id, "k": case_id, "dup": dup.id, "owner": world.manager.id,
            "dealer": world.dealer.id, "p": contact.id, "today": now.date().isoformat(), "t": task.id,
            "desk": world.service.id, "tomorrow": (now + timedelta(days=1)).isoformat(),
            "leaver": leaver.id, "due": (now + timedelta(days=1)).isoformat()}


def _fill(value: Any, values: dict[str, int]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in values:
        return values[value[1:-1]]
    return value.format(**values) if isinstance(value, str) else value


def test_every_operation_has_an_answer_for_every_actor():
    assert all(set(op.answers) == set(WHO) for op in OPS)
    assert len({op.name for op in OPS}) == len(OPS) and len(ROWS) >= 150


@pytest.mark.parametrize("op,who", ROWS, ids=[f"{op.name}-{who}" for op, who in ROWS])
def test_the_python_api_answers_as_the_matrix_says(world, ids, op, who):
    by = getattr(world, ACTOR[who]).id
    expected = op.answers[who]
    if expected == "ok":
        op.python(world.crm, world, ids, by)
    else:
        with pytest.raises(ERROR[expected]) as err:
            op.python(world.crm, world, ids, by)
        assert type(err.value) is ERROR[expected]  # exactly, not a subclass answering something else


@pytest.mark.parametrize("op,who", ROWS, ids=[f"{op.name}-{who}" for op, who in ROWS])
def test_http_answers_as_the_matrix_says(api, world, ids, op, who):
    method, template, body = op.http
    values = {**ids, "by": getattr(world, ACTOR[who]).id}
    path = template.format(**values)
    if isinstance(body, bytes):
        answer = api.request(method, path, headers=api.as_(who, **{"Content-Type": "text/csv"}), content=body)
    else:
        answer = api.request(method, path, headers=api.as_(who), json=_fill(body, values))
    assert answer.status_code in STATUS[op.answers[who]], (answer.status_code, answer.text)
