"""Issue #14, finding 12: opening a case with someone else's asset told whose it was.

``POST /cases`` for one customer with another customer's asset id answered "belongs to
customer 3, not 1": a way to learn which customer owns which appliance, and that ids
exist. It is now the same 404 as an asset id never used (fixed on the way to the one
service layer, #10); this keeps it so — for another customer of the same dealer and for
another dealer's customer alike, over HTTP and in the Python API.
"""

from __future__ import annotations

from datetime import date

import pytest

from dealercrm import NotFound
from dealercrm.db.case_models import Case

NEVER_USED = 424242


@pytest.fixture
def other_asset(api):
    """``other_asset(whose)`` -> (asset id, its customer's id): an asset of another customer of the same
    dealer, or of another dealer's customer."""
    world = api.world

    def make(whose: str) -> int:
        owner = world.dealer if whose == "same dealer" else world.other_dealer
        hans = world.crm.customers.add("Hans Meyer", email="hans@meyer.example", owner_party_id=owner.id,
                                       by=world.crm.system)
        return world.crm.assets.record(hans.id, world.product_id, serial_number="BR7-0002",
                                       purchased_on=date(2026, 1, 5), by=world.crm.system).id, hans.id

    return make


def open_case(api, asset_id: int):
    return api.post("/cases", headers=api.as_("service"), json={
        "customer_id": api.world.customer.id, "summary": "washes badly", "asset_id": asset_id})


@pytest.mark.parametrize("whose", ["same dealer", "another dealer"])
def test_another_customers_asset_is_the_same_404_as_one_never_used(api, other_asset, whose):
    asset_id, _ = other_asset(whose)
    theirs, missing = open_case(api, asset_id), open_case(api, NEVER_USED)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["type"] == missing.json()["type"] == "urn:dealercrm:problem:not-found"
    assert theirs.json()["detail"] == missing.json()["detail"].replace(str(NEVER_USED), str(asset_id))
    assert "customer" not in theirs.json()["detail"]  # nobody named
    assert api.world.count(Case) == 0


def test_the_python_api_gives_the_same_answer(api, other_asset):
    world = api.world
    asset_id, _ = other_asset("same dealer")
    with pytest.raises(NotFound) as theirs:
        world.crm.cases.open(world.customer.id, "washes badly", asset_id=asset_id, by=world.service.id)
    with pytest.raises(NotFound) as missing:
        world.crm.cases.open(world.customer.id, "washes badly", asset_id=NEVER_USED, by=world.service.id)
    assert (theirs.value.kind, str(theirs.value).replace(str(asset_id), "N")) == (
        missing.value.kind, str(missing.value).replace(str(NEVER_USED), "N"))
