"""Naming a customer's account owner over HTTP (``crm.customers.reassign``).

When a salesperson leaves, the dealer hands their customers to a colleague: an active
person of the owning dealer. Moving a customer to another dealer hands over the whole
file; over HTTP no dealer does that on its own say — only dealercrm's system actor, in
the Python API.
"""

from __future__ import annotations

import pytest
from api_world import assigned

from dealercrm import NotPermitted, ValidationError
from dealercrm.events import AccountOwnerChanged


def reassign(api, who, customer_id, **body):
    return api.post(f"/customers/{customer_id}/owner", headers=api.as_(who), json=body)


def test_the_dealer_names_a_colleague_as_the_account_owner(api, world):
    world.crm.customers.reassign(world.customer.id, account_owner_id=world.owner.id, by=world.crm.system)
    world.log.clear()
    answer = reassign(api, "service", world.customer.id, account_owner_id=world.manager.id)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["account_owner_id"], answer.json()["owner_party_id"]) == (world.manager.id, world.dealer.id)
    view = api.get(f"/customers/{world.customer.id}", headers=api.as_("service")).json()
    assert view["account_owner"]["name"] == "Petra Schmidt"
    [event] = world.log.of(AccountOwnerChanged)
    assert (event.previous_owner_id, event.account_owner_id) == (world.owner.id, world.manager.id)
    same_party = reassign(api, "service", world.customer.id, account_owner_id=world.service.id,
                          owner_party_id=world.dealer.id)  # naming its own party is no move
    assert same_party.status_code == 200 and same_party.json()["account_owner_id"] == world.service.id


def test_the_patch_of_the_customers_fields_does_not_reassign(api, world):
    answer = api.patch(f"/customers/{world.customer.id}", headers=api.as_("service"),
                       json={"account_owner_id": world.manager.id})
    assert answer.status_code == 422 and answer.json()["field"] == "account_owner_id"


@pytest.mark.parametrize("whom", ["inactive colleague", "other dealer's person", "maker's person", "system",
                                  "nobody"])
def test_the_account_owner_must_be_an_active_person_of_the_owning_dealer(api, world, whom):
    if whom == "inactive colleague":
        world.crm.parties.set_actor_active(world.owner.id, False, by=world.crm.system)
    actor_id = {"inactive colleague": world.owner.id, "other dealer's person": world.other_dealer_service.id,
                "maker's person": world.warranty_desk.id, "system": world.crm.system_actor_id,
                "nobody": 424242}[whom]
    answer = reassign(api, "service", world.customer.id, account_owner_id=actor_id)
    assert answer.status_code == 409 and answer.json()["field"] == "account_owner_id", answer.text
    assert f"not an active person of the owning party {world.dealer.id}" in answer.json()["detail"]
    assert world.crm.customers.get(world.customer.id, by=world.crm.system).account_owner_id is None


def test_a_dealer_may_not_move_its_customer_to_another_dealer(api, world):
    answer = reassign(api, "manager", world.customer.id, account_owner_id=world.other_dealer_service.id,
                      owner_party_id=world.other_dealer.id)
    assert answer.status_code == 403 and answer.json()["type"] == "urn:dealercrm:problem:not-permitted"
    assert "whole file to another dealer" in answer.json()["detail"] and "system" in answer.json()["detail"]
    assert world.crm.customers.get(world.customer.id, by=world.crm.system).owner_party_id == world.dealer.id


@pytest.mark.parametrize("who,status", [("other_dealer", 404), ("other_maker", 404), ("warranty", 403),
                                        ("fitter", 403)])
def test_only_the_owning_dealer_names_the_account_owner(api, world, who, status):
    assigned(world)  # the manufacturer and the technician both serve the customer's case
    for body in ({"account_owner_id": world.manager.id},
                 {"account_owner_id": world.other_dealer_service.id, "owner_party_id": world.other_dealer.id}):
        answer = reassign(api, who, world.customer.id, **body)
        assert answer.status_code == status, answer.text
    erika = world.crm.customers.get(world.customer.id, by=world.crm.system)
    assert (erika.owner_party_id, erika.account_owner_id) == (world.dealer.id, None)


def test_the_system_actor_moves_a_customer_to_another_dealer_in_the_python_api(world):
    system = world.crm.as_actor(world.crm.system_actor_id)
    moved = system.customers.reassign(world.customer.id, world.other_dealer_service.id,
                                      owner_party_id=world.other_dealer.id)
    assert (moved["owner_party_id"], moved["account_owner_id"]) == (
        world.other_dealer.id, world.other_dealer_service.id)
    assert world.crm.as_actor(world.other_dealer_service.id).customers.view(world.customer.id).visibility == "full"
    with pytest.raises(NotPermitted, match="only dealercrm's system actor"):
        world.crm.as_actor(world.other_dealer_service.id).customers.reassign(
            world.customer.id, world.service.id, owner_party_id=world.dealer.id)


def test_a_customer_belongs_to_a_dealer_even_when_the_system_moves_it(world):
    system = world.crm.as_actor(world.crm.system_actor_id)
    with pytest.raises(ValidationError) as err:
        system.customers.reassign(world.customer.id, world.warranty_desk.id, owner_party_id=world.manufacturer.id)
    assert err.value.field == "owner_party_id" and "belong to a dealer" in str(err.value)
    assert world.crm.customers.get(world.customer.id, by=world.crm.system).owner_party_id == world.dealer.id
