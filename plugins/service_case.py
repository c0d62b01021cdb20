"""The built-in service-case workflow, and what its transitions mean for the file.

Registered like any third-party plugin: block ``service_case`` and dealercrm runs
without it. What a transition decides about the case is contributed before it is
written (``dealercrm_amend_case``), so it goes into the transition's one UPDATE and one
audit row: the manufacturer's warranty decision and RMA number, and for a delivered
replacement the new asset (linked to the old one) with the case pointing at it. The
customer's agreement to a late visit slot is used up by the visit it was given for: the
next dispatch round (after parts arrived) needs the customer's word again.
"""

from __future__ import annotations

from dealercrm import AssetRecorded, hookimpl
from dealercrm.db.models import Asset
from dealercrm.workflows.service_case import WORKFLOWS

LATE_SLOT_AGREED = "customer_agreed_late_slot"

DECISIONS = {
    "approve_visit": "warranty: technician visit approved",
    "approve_replacement": "warranty: replacement approved",
    "reject": "warranty: rejected",
}


@hookimpl(trylast=True)
def dealercrm_register_workflows():
    return list(WORKFLOWS)


@hookimpl
def dealercrm_amend_case(event, case, uow):
    if event.trigger in DECISIONS:
        reason = event.data.get("reason")
        values = {"warranty_decision": DECISIONS[event.trigger] + (f": {reason}" if reason else "")}
        if event.data.get("rma_number"):
            values["rma_number"] = str(event.data["rma_number"])
        return values
    if event.trigger == "schedule_visit":
        facts = case["facts"] or {}
        if LATE_SLOT_AGREED in facts:
            return {"facts": {k: v for k, v in facts.items() if k != LATE_SLOT_AGREED}}
        return None
    if event.trigger == "deliver_replacement" and case["asset_id"] is not None:
        old = uow.get(Asset, case["asset_id"], "asset")
        new = Asset(customer_id=old.customer_id, product_id=old.product_id,
                    serial_number=str(event.data["new_serial"]), manufacturer_party_id=old.manufacturer_party_id,
                    dealer_party_id=old.dealer_party_id, purchased_on=old.purchased_on,
                    handed_over_on=uow.now.date(), warranty_until=old.warranty_until,
                    warranty_overridden=old.warranty_overridden, replaces_asset_id=old.id, created_at=uow.now)
        uow.session.add(new)
        uow.flush()
        uow.raise_event(AssetRecorded, asset_id=new.id, customer_id=new.customer_id, product_id=new.product_id)
        return {"replacement_asset_id": new.id}
    return None
