"""The built-in service-case workflow, and what its transitions mean for the file.

Registered like any third-party plugin: block ``service_case`` and dealercrm runs
without it. Its effects run inside the transition's transaction
(``dealercrm_check_event``): a delivered replacement becomes a new asset linked to
the old one, with a warranty of its own from the day of delivery
(``dealercrm.services.warranty.replacement``), and the manufacturer's warranty decision —
with the RMA number authorising the old unit's return, when the data gives one — is
written on the case (``crm.cases.amend_in``, audited like every change). The
customer's agreement to a late visit slot is used up by the visit it was given for: the
next dispatch round (after parts arrived) needs the customer's word again.
"""

from __future__ import annotations

from sqlalchemy import select

from dealercrm import AssetRecorded, CaseTransitioned, hookimpl
from dealercrm.db.case_models import Case
from dealercrm.db.models import Asset, Product
from dealercrm.services import warranty
from dealercrm.services.case_returns import RETURN, clean
from dealercrm.workflows.service_case import WORKFLOWS

CASE = Case.__table__
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
def dealercrm_check_event(event, uow):
    if not isinstance(event, CaseTransitioned) or event.source == event.dest and event.trigger != "escalate":
        return
    if event.trigger in DECISIONS:
        reason = event.data.get("reason")
        decision = DECISIONS[event.trigger] + (f": {reason}" if reason else "")
        values = {"warranty_decision": decision}
        if event.data.get("rma_number") is not None:
            values.update(clean(uow.crm, RETURN, {"rma_number": str(event.data["rma_number"])}))
        uow.crm.cases.amend_in(uow, event.case_id, **values)
    elif event.trigger == "schedule_visit":
        facts = uow.connection.execute(select(CASE.c.facts).where(CASE.c.id == event.case_id)).scalar()
        if facts and LATE_SLOT_AGREED in facts:
            rest = {k: v for k, v in facts.items() if k != LATE_SLOT_AGREED}
            uow.crm.cases.amend_in(uow, event.case_id, facts=rest)
    elif event.trigger == "deliver_replacement":
        case = uow.get(Case, event.case_id, "case")
        if case.asset_id is None:
            return
        old = uow.get(Asset, case.asset_id, "asset")
        product = uow.get(Product, old.product_id, "product")
        # delivered today where the dealer works: the new unit's warranty starts then
        delivered = uow.crm.cases.local_day(uow.connection, case.dealer_party_id, uow.now)
        until, overridden = warranty.replacement(old, product.warranty_months, delivered)
        # purchased_on stays the old unit's: a free replacement is no purchase of the customer's
        new = Asset(customer_id=old.customer_id, product_id=old.product_id,
                    serial_number=str(event.data["new_serial"]), manufacturer_party_id=old.manufacturer_party_id,
                    dealer_party_id=old.dealer_party_id, purchased_on=old.purchased_on,
                    handed_over_on=delivered, warranty_until=until, warranty_overridden=overridden,
                    replaces_asset_id=old.id, created_at=uow.now)
        uow.session.add(new)
        uow.flush()
        uow.crm.cases.amend_in(uow, event.case_id, replacement_asset_id=new.id)
        uow.raise_event(AssetRecorded, asset_id=new.id, customer_id=new.customer_id, product_id=new.product_id)
