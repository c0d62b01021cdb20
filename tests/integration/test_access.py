"""The party-scoped access rules through the Python API: the same rules the HTTP API uses.

``dealercrm.access.as_actor(crm, actor_id)`` is what a host embedding dealercrm hands to
code acting for a party; it refuses exactly what the HTTP API refuses.
"""

from __future__ import annotations

import pytest
from case_world import copy_world

from dealercrm import NotFound, NotPermitted
from dealercrm.acting import as_actor


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
                    lambda: theirs.interests.of_customer(world.customer.id),
                    lambda: theirs.cases.fire(case.id, "start_diagnosis"),
                    lambda: theirs.interests.note(world.customer.id, "skiing")):
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
        maker.consents.history(world.customer.id)
    with pytest.raises(NotPermitted):
        maker.consents.grant(world.customer.id, "email", "marketing", source="x")
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


def test_the_application_hands_out_the_same_scoped_view_as_the_access_module(world):
    case = world.open_case()
    mine = world.crm.as_actor(world.service.id)
    assert mine.principal == as_actor(world.crm, world.service.id).principal
    assert (mine.principal.kind, mine.principal.party_id, mine.principal.role) == ("dealer", world.dealer.id, "service")
    assert [c.id for c in mine.cases.list()] == [case.id]
    with pytest.raises(NotFound):
        world.crm.as_actor(world.other_dealer_service.id).cases.get(case.id)
    with pytest.raises(NotFound):
        world.crm.as_actor(999_999)


def test_an_inactive_actor_gets_no_scoped_view(world):
    from sqlalchemy import update

    from dealercrm.db.models import Actor

    with world.crm.uow(world.crm.system, "test") as uow:
        uow.connection.execute(update(Actor).where(Actor.id == world.service.id).values(active=False))
        uow.commit()
    with pytest.raises(NotPermitted, match="inactive"):
        world.crm.as_actor(world.service.id)


def test_contact_persons_are_the_owning_dealers_to_keep(world):
    world.to_technician(world.open_case().id)  # the manufacturer and the technician serve Erika's case
    mine = world.crm.as_actor(world.service.id)
    hans = mine.customers.add_contact(world.customer.id, "Hans Musterfrau", "spouse", phone="040 5550199")
    assert mine.customers.update_contact(world.customer.id, hans.id, function="neighbour").function == "neighbour"
    for who, error in ((world.warranty_desk, NotPermitted), (world.fitter, NotPermitted),
                       (world.other_dealer_service, NotFound), (world.other_warranty_desk, NotFound)):
        theirs = world.crm.as_actor(who.id).customers
        for refused in (lambda: theirs.contacts(world.customer.id),
                        lambda: theirs.add_contact(world.customer.id, "Someone"),
                        lambda: theirs.update_contact(world.customer.id, hans.id, name="Someone"),
                        lambda: theirs.remove_contact(world.customer.id, hans.id)):
            with pytest.raises(error):
                refused()
    assert [(c.name, c.function) for c in mine.customers.contacts(world.customer.id)] == [
        ("Hans Musterfrau", "neighbour")]
    mine.customers.remove_contact(world.customer.id, hans.id)
    assert mine.customers.contacts(world.customer.id) == []


def test_merging_exporting_and_erasing_are_for_the_dealers_managers(world):
    dup = world.crm.customers.add("Erika M.", phone="040 5550100", owner_party_id=world.dealer.id, by=world.crm.system)
    desk = world.crm.as_actor(world.service.id).customers
    for refused in (lambda: desk.merge(world.customer.id, dup.id), lambda: desk.export(world.customer.id),
                    lambda: desk.erase(dup.id)):
        with pytest.raises(NotPermitted, match="owner or manager"):
            refused()
    boss = world.crm.as_actor(world.manager.id).customers
    assert boss.merge(world.customer.id, dup.id)["phone"] == "+49405550100"
    assert boss.export(world.customer.id)["merged_records"][0]["id"] == dup.id
    erased = boss.erase(world.customer.id)
    assert erased["name"] == f"erased customer #{world.customer.id}" and erased["erased_at"] is not None
    [row] = [r for r in world.crm.customers.export(world.customer.id, by=world.crm.system)["audit"] if r["action"] == "erase"]
    assert row["actor_id"] == world.manager.id


def test_the_system_actor_merges_exports_and_erases_any_customer(world):
    other = world.crm.customers.add("Max Mustermann", owner_party_id=world.other_dealer.id, by=world.crm.system)
    system = world.crm.as_actor(world.crm.system_actor_id).customers
    assert system.export(other.id)["customer"]["name"] == "Max Mustermann"
    assert system.erase(other.id)["erased_at"] is not None


def test_only_dealers_add_to_the_shared_catalogue(world):
    for who in (world.warranty_desk, world.fitter):
        with pytest.raises(NotPermitted, match="only a dealer"):
            world.crm.as_actor(who.id).products.add("X-1", "Lamp")
    lamp = world.crm.as_actor(world.other_dealer_service.id).products.add("X-1", "Lamp", category="light")
    assert [p.sku for p in world.crm.as_actor(world.fitter.id).products.list("lamp")] == ["X-1"]
    assert world.crm.as_actor(world.warranty_desk.id).products.get(lamp.id).name == "Lamp"


def test_searching_tells_a_party_nothing_of_an_address_it_may_not_read(world):
    """A technician or manufacturer finds the customers of its cases by name, never by the
    e-mail address it is not shown: a match would reveal it letter by letter."""
    case = world.open_case()
    world.to_technician(case.id)
    email = world.crm.customers.get(world.customer.id, by=world.crm.system).email
    assert email
    for party in (world.fitter, world.warranty_desk):
        scoped = as_actor(world.crm, party.id)
        assert [c["name"] for c in scoped.customers.list(world.customer.name[:4])] == [world.customer.name]
        assert scoped.customers.list(email) == [] and scoped.customers.list(email.split("@")[1]) == []
    dealer = as_actor(world.crm, world.service.id)
    assert [c["email"] for c in dealer.customers.list(email)] == [email]
