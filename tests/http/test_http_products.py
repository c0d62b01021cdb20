"""The product catalogue over HTTP: shared by every party, added to by dealers."""

from __future__ import annotations

import pytest


def add(api, who, **body):
    return api.post("/products", headers=api.as_(who), json=body)


def test_a_dealer_adds_a_product_and_every_party_finds_it(api, world):
    created = add(api, "service", sku="BR-DRY-8", name="Brioche Séchoir 8 kg", category="dryer",
                  warranty_months=36, manufacturer_party_id=world.manufacturer.id)
    assert created.status_code == 201, created.text
    product = created.json()
    assert created.headers["location"] == f"/products/{product['id']}"
    assert (product["sku"], product["category"], product["warranty_months"], product["manufacturer_party_id"]) == (
        "BR-DRY-8", "dryer", 36, world.manufacturer.id)
    for who in ("service", "warranty", "fitter", "other_dealer", "other_maker"):
        assert api.get(f"/products/{product['id']}", headers=api.as_(who)).json() == product, who
    found = api.get("/products?q=séchoir", headers=api.as_("fitter")).json()["items"]
    assert [p["sku"] for p in found] == ["BR-DRY-8"]


def test_products_are_listed_in_pages_and_filtered(api, world):
    for n in range(3):
        assert add(api, "service", sku=f"FK-{n}", name=f"Frostkalt Kühlschrank {n}", category="Fridge",
                   manufacturer_party_id=world.other_manufacturer.id).status_code == 201
    me = api.as_("service")
    first = api.get("/products?limit=2", headers=me).json()
    second = api.get(f"/products?limit=2&offset={first['next_offset']}", headers=me).json()
    skus = [p["sku"] for p in first["items"] + second["items"]]
    assert skus == ["BR-WM-7", "FK-0", "FK-1", "FK-2"] and second["next_offset"] is None
    assert [p["sku"] for p in api.get("/products?category=fridge&q=fk-1", headers=me).json()["items"]] == ["FK-1"]
    makers = api.get(f"/products?manufacturer_party_id={world.manufacturer.id}", headers=me).json()["items"]
    assert [p["sku"] for p in makers] == ["BR-WM-7"]


@pytest.mark.parametrize("who", ["warranty", "fitter"])
def test_manufacturers_and_technicians_do_not_add_to_the_catalogue(api, world, who):
    answer = add(api, who, sku="X-1", name="Something")
    assert answer.status_code == 403 and answer.json()["type"] == "urn:dealercrm:problem:not-permitted"
    assert [p["sku"] for p in api.get("/products", headers=api.as_("service")).json()["items"]] == ["BR-WM-7"]


@pytest.mark.parametrize("body,field,status", [
    ({"sku": "BR-WM-7", "name": "Again"}, "sku", 409),  # already in the catalogue
    ({"sku": "X-1", "name": "Lamp", "warranty_months": -1}, "warranty_months", 422),
    ({"sku": "", "name": "Lamp"}, "sku", 422),
    ({"sku": "X-1", "name": "Lamp", "price": 10}, "price", 422),
    ({"sku": "X-1", "name": "Lamp", "manufacturer_party_id": "maker"}, "manufacturer_party_id", 422),
    ({"sku": "X-1", "name": "Lamp", "manufacturer_party_id": 99999}, "manufacturer_party_id", 409),  # no such party
])
def test_bad_product_input_is_a_problem_naming_the_field(api, body, field, status):
    """Input the document refuses is a 422; input the catalogue as it stands refuses, a 409."""
    answer = api.post("/products", headers=api.as_("service"), json=body)
    assert answer.status_code == status and answer.json()["field"] == field, answer.text


def test_a_products_maker_must_be_a_manufacturer(api, world):
    answer = add(api, "service", sku="X-1", name="Lamp", manufacturer_party_id=world.technician.id)
    assert answer.status_code == 409 and answer.json()["field"] == "manufacturer_party_id"
    assert "Technik-Service Nord" in answer.json()["detail"] and "not a manufacturer" in answer.json()["detail"]


def test_an_unknown_product_is_404(api):
    answer = api.get("/products/424242", headers=api.as_("service"))
    assert answer.status_code == 404 and answer.json()["type"] == "urn:dealercrm:problem:not-found"
