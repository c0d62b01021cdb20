"""The party-scoped access rules through the Python API: the same rules the HTTP API uses.

``dealercrm.access.as_actor(crm, actor_id)`` is what a host embedding dealercrm hands to
code acting for a party; it refuses exactly what the HTTP API refuses.
"""

from __future__ import annotations

import pytest
from case_world import copy_world

from dealercrm import NotFound, NotPermitted
from dealercrm.access import as_actor


@pytest.fixture
def world(tmp_path, clock):
    w = copy_world(tmp_path, clock)
    yield w
    w.crm.close()


def test_a_dealer_sees_its_own_customers_and_cases_and_nothing_of_another_dealers(world):
    case = world.open_case()
    mine, theirs = as_actor(world.crm, world.service.id), as_actor(world.crm, world.other_dealer_service.id)
    assert [c.id for c in mine.cases.list()] == [case.id]
    assert mine.customers.view(world.customer.id).visibility == "full"
    assert theirs.cases.list() == [] and theirs.customers.list() == []
    for refused in (lambda: theirs.cases.get(case.id), lambda: theirs.cases.history(case.id),
                    lambda: theirs.cases.allowed_triggers(case.id), lambda: theirs.customers.view(world.customer.id),
                    lambda: theirs.customers.interests(world.customer.id),
                    lambda: theirs.cases.fire(case.id, "start_diagnosis"),
                    lambda: theirs.customers.note_interest(world.customer.id, "skiing")):
        with pytest.raises(NotFound):
            refused()


def test_a_manufacturer_sees_a_case_once_forwarded_and_a_minimised_customer(world):
    case = world.open_case()
    maker = as_actor(world.crm, world.warranty_desk.id)
    with pytest.raises(NotFound):
        maker.cases.get(case.id)
    world.to_manufacturer(case.id)
    assert maker.cases.get(case.id).state == "manufacturer_review"
    view = maker.customers.view(world.customer.id)
    assert view.visibility == "case" and "email" not in view.customer and view.interests is None
    with pytest.raises(NotPermitted):
        maker.customers.consents(world.customer.id)
    with pytest.raises(NotPermitted):
        maker.customers.set_consent(world.customer.id, "email", "marketing", True, source="x")
    assert maker.cases.fire(case.id, "approve_visit", data={"technician_party_id": world.technician.id}).version == 4
    with pytest.raises(NotFound):
        as_actor(world.crm, world.other_warranty_desk.id).cases.get(case.id)


def test_a_technician_sees_only_its_assigned_cases(world):
    waiting, mine = world.open_case(), world.open_case()
    world.to_manufacturer(waiting.id)
    world.to_technician(mine.id)
    fitter = as_actor(world.crm, world.fitter.id)
    assert [c.id for c in fitter.cases.list()] == [mine.id]
    with pytest.raises(NotFound):
        fitter.cases.get(waiting.id)


def test_the_system_actor_sees_everything(world):
    case = world.open_case()
    system = as_actor(world.crm, world.crm.system_actor_id)
    assert system.cases.get(case.id).id == case.id
    assert system.customers.view(world.customer.id).visibility == "full"


def test_an_unknown_actor_is_not_found(world):
    with pytest.raises(NotFound):
        as_actor(world.crm, 999_999)
