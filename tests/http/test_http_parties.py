"""The parties directory over HTTP: every party finds every party; each lists only its own people.

The workflow asks for party ids — a manufacturer approving a visit names the technician
company — so a host system must be able to look them up without an operator at hand.
"""

from __future__ import annotations

import pytest

from dealercrm.services.api_keys import ApiKeyService

PARTY_NAMES = ["Our Dealership", "Elektro Schmidt", "Brioche Hausgeräte", "Technik-Service Nord",
               "Küchenwelt Meyer", "Frostkalt GmbH"]


@pytest.mark.parametrize("who", ["service", "warranty", "fitter", "other_dealer", "other_maker"])
def test_every_party_reads_the_whole_directory(api, world, who):
    answer = api.get("/parties", headers=api.as_(who))
    assert answer.status_code == 200, answer.text
    parties = answer.json()["items"]
    assert [p["name"] for p in parties] == PARTY_NAMES
    assert set(parties[0]) == {"id", "kind", "name", "region", "time_zone", "hours", "closed"}  # its calendar too
    brioche = next(p for p in parties if p["id"] == world.manufacturer.id)
    assert (brioche["kind"], brioche["name"], brioche["region"]) == ("manufacturer", "Brioche Hausgeräte", "DE")


def test_the_directory_is_filtered_by_kind_and_name_and_paged(api, world):
    me = api.as_("warranty")
    technicians = api.get("/parties?kind=technician", headers=me).json()["items"]
    assert [(p["id"], p["kind"]) for p in technicians] == [(world.technician.id, "technician")]
    assert [p["name"] for p in api.get("/parties?kind=dealer&q=MEYER", headers=me).json()["items"]] == [
        "Küchenwelt Meyer"]
    first = api.get("/parties?limit=4", headers=me).json()
    rest = api.get(f"/parties?limit=4&offset={first['next_offset']}", headers=me).json()
    assert first["next_offset"] == 4 and rest["next_offset"] is None
    assert [p["name"] for p in first["items"] + rest["items"]] == PARTY_NAMES
    assert api.get("/parties?kind=customer", headers=me).json()["field"] == "kind"
    assert api.get(f"/parties/{world.technician.id}", headers=me).json()["name"] == "Technik-Service Nord"
    assert api.get("/parties/424242", headers=me).status_code == 404


def test_a_manufacturer_finds_the_technician_company_and_approves_the_visit_with_its_id(api, world):
    case = world.open_case()
    world.to_manufacturer(case.id)
    me = api.as_("warranty")
    [technician] = api.get("/parties?kind=technician&q=technik", headers=me).json()["items"]
    approved = api.post(f"/cases/{case.id}/transitions", headers=me,
                        json={"trigger": "approve_visit", "data": {"technician_party_id": technician["id"]}})
    assert approved.status_code == 200, approved.text
    assert world.crm.cases.get(case.id, by=world.crm.system).technician_party_id == world.technician.id
    assert [c["id"] for c in api.get("/cases", headers=api.as_("fitter")).json()["items"]] == [case.id]


def test_a_party_lists_its_own_people_with_their_email_and_whether_they_are_active(api, world):
    world.crm.parties.set_actor_active(world.owner.id, False, by=world.crm.system)
    dealers = world.crm.parties.add_actor(world.dealer.id, "Mia Sommer", "sales", email="mia@schmidt.example", by=world.crm.system)
    answer = api.get(f"/parties/{world.dealer.id}/actors", headers=api.as_("service"))
    assert answer.status_code == 200, answer.text
    people = {p["name"]: p for p in answer.json()["items"]}
    assert {"Hans Schmidt", "Petra Schmidt", "Jonas Weber", "Mia Sommer"} <= set(people)
    assert people["Mia Sommer"] == {"id": dealers.id, "name": "Mia Sommer", "role": "sales",
                                    "party_id": world.dealer.id, "active": True, "email": "mia@schmidt.example"}
    assert people["Hans Schmidt"]["active"] is False
    active = api.get(f"/parties/{world.dealer.id}/actors?active=true", headers=api.as_("service")).json()["items"]
    assert "Hans Schmidt" not in {p["name"] for p in active} and "Mia Sommer" in {p["name"] for p in active}
    assert all(p["party_id"] == world.dealer.id for p in answer.json()["items"])


@pytest.mark.parametrize("who,party", [("service", "manufacturer"), ("service", "other_dealer"),
                                       ("warranty", "dealer"), ("warranty", "technician"), ("fitter", "dealer"),
                                       ("other_dealer", "dealer"), ("other_maker", "manufacturer")])
def test_another_partys_people_are_not_listed(api, world, who, party):
    world.crm.parties.add_actor(getattr(world, party).id, "Secret Person", "sales", email="secret@example.org", by=world.crm.system)
    answer = api.get(f"/parties/{getattr(world, party).id}/actors", headers=api.as_(who))
    assert answer.status_code == 403 and answer.json()["type"] == "urn:dealercrm:problem:not-permitted"
    assert "Secret" not in answer.text and "secret@" not in answer.text


def test_the_people_of_an_unknown_party_are_not_found(api):
    answer = api.get("/parties/424242/actors", headers=api.as_("service"))
    assert answer.status_code == 404 and answer.json()["type"] == "urn:dealercrm:problem:not-found"


def test_the_system_actor_lists_any_partys_people(world):
    system = world.crm.as_actor(world.crm.system_actor_id)
    assert {a.name for a in system.parties.actors(world.technician.id)} == {"Ole Hansen"}


def test_a_key_made_for_the_party_is_one_of_its_people(api, world):
    issued = world.crm.api_keys.create(world.technician.id, "dispatch", label="DMS Nord", by=world.crm.system)
    people = api.get(f"/parties/{world.technician.id}/actors", headers=api.as_("fitter")).json()["items"]
    assert [(p["id"], p["name"], p["role"]) for p in people] == [
        (world.fitter.id, "Ole Hansen", "fitter"), (issued.actor_id, "DMS Nord", "dispatch")]
