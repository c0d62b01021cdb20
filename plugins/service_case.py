"""The built-in service-case workflow, and what its transitions mean for the file.

Registered like any third-party plugin: block ``service_case`` and dealercrm runs
without it. What a transition decides about the case is contributed before it is
written (``dealercrm_amend_case``), so it goes into the transition's one UPDATE and one
audit row: the manufacturer's warranty decision and the RMA number authorising the old
unit's return, and for a delivered replacement the new asset (linked to the old one, with
a warranty of its own from the day of delivery, ``dealercrm.services.warranty.replacement``,
and the old unit's service contract) with the case pointing at it. The
customer's agreement to a late visit slot is used up by the visit it was given for: the
next dispatch round (after parts arrived) needs the customer's word again.
"""

from __future__ import annotations

from dealercrm import AssetRecorded, hookimpl
from dealercrm.db.models import Asset, Product
from dealercrm.services import warranty
from dealercrm.services.case_returns import RETURN, clean
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
        if event.data.get("rma_number") is not None:
            values.update(clean(uow.crm, RETURN, {"rma_number": str(event.data["rma_number"])}))
        return values
    if event.trigger == "schedule_visit":
        facts = case["facts"] or {}
        if LATE_SLOT_AGREED in facts:
            return {"facts": {k: v for k, v in facts.items() if k != LATE_SLOT_AGREED}}
        return None
    if event.trigger == "deliver_replacement" and case["asset_id"] is not None:
        old = uow.get(Asset, case["asset_id"], "asset")
        product = uow.get(Product, old.product_id, "product")
        # delivered today where the dealer works: the new unit's warranty starts then
        delivered = uow.crm.cases.local_day(uow.connection, case["dealer_party_id"], uow.now)
        until, overridden = warranty.replacement(old, product.warranty_months, delivered)
        # purchased_on stays the old unit's: a free replacement is no purchase of the customer's
        new = Asset(customer_id=old.customer_id, product_id=old.product_id,
                    serial_number=str(event.data["new_serial"]), manufacturer_party_id=old.manufacturer_party_id,
                    dealer_party_id=old.dealer_party_id, purchased_on=old.purchased_on,
                    handed_over_on=delivered, warranty_until=until, warranty_overridden=overridden,
                    replaces_asset_id=old.id, service_contract=old.service_contract, created_at=uow.now)
        uow.session.add(new)
        uow.flush()
        uow.raise_event(AssetRecorded, asset_id=new.id, customer_id=new.customer_id, product_id=new.product_id)
        return {"replacement_asset_id": new.id}
    return None
