"""Warranty and the replaced unit's return over HTTP: the case says whether the machine is
covered, the manufacturer's desk and the dealer record their steps of the return, and
the credit comes back as an exact amount."""

from __future__ import annotations

from api_world import forwarded


def test_the_case_says_in_warranty_and_the_return_and_credit_are_recorded_step_by_step(api, world):
    case_id = forwarded(world)
    shown = api.get(f"/cases/{case_id}", headers=api.as_("warranty")).json()
    assert (shown["warranty_status"], shown["warranty_until"]) == ("in", "2028-02-24")
    approved = api.post(f"/cases/{case_id}/transitions", headers=api.as_("warranty"),
                        json={"trigger": "approve_replacement", "data": {"rma_number": "RMA-2026-0042"}})
    assert approved.status_code == 200, approved.text
    tag = approved.headers["etag"]
    today = world.crm.clock.now().date().isoformat()

    shipped = api.post(f"/cases/{case_id}/return", headers=api.as_("service", **{"If-Match": tag}),
                       json={"shipped_on": today, "note": "DHL 00340434"})
    assert shipped.status_code == 200, shipped.text
    assert (shipped.json()["rma_number"], shipped.json()["return_shipped_on"]) == ("RMA-2026-0042", today)
    assert shipped.headers["etag"] == f'"{int(tag.strip(chr(34))) + 1}"'
    stale = api.post(f"/cases/{case_id}/return", headers=api.as_("warranty", **{"If-Match": tag}),
                     json={"received_on": today})
    assert stale.status_code == 412
    received = api.post(f"/cases/{case_id}/return", headers=api.as_("warranty"), json={"received_on": today})
    assert received.json()["return_received_on"] == today
    credited = api.post(f"/cases/{case_id}/credit", headers=api.as_("warranty"),
                        json={"amount": "449.90", "currency": "eur"})
    assert credited.status_code == 200, credited.text
    assert (credited.json()["credit_amount"], credited.json()["credit_currency"], credited.json()["credited_on"]) == (
        "449.90", "EUR", today)
    kinds = [e["kind"] for e in api.get(f"/cases/{case_id}/history", headers=api.as_("service")).json()]
    assert kinds[-3:] == ["return", "return", "credit"]


def test_a_step_of_another_party_is_403_and_a_step_out_of_order_is_a_problem_naming_it(api, world):
    case_id = forwarded(world)
    refused = api.post(f"/cases/{case_id}/credit", headers=api.as_("service"), json={"amount": 10, "currency": "EUR"})
    assert refused.status_code == 403 and "may not record credit_amount" in refused.json()["detail"]
    early = api.post(f"/cases/{case_id}/return", headers=api.as_("service"),
                     json={"shipped_on": world.crm.clock.now().date().isoformat()})
    assert early.status_code == 409 and "has none yet" in early.json()["detail"]
    assert api.post(f"/cases/{case_id}/credit", headers=api.as_("warranty"),
                    json={"amount": "1.005", "currency": "EUR"}).status_code == 422
    assert api.post(f"/cases/{case_id}/return", headers=api.as_("other_dealer"),
                    json={"shipped_on": "2026-03-02"}).status_code == 404
