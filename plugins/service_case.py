"""The built-in service-case workflow, and what its transitions mean for the file.

Registered like any third-party plugin: block ``service_case`` and dealercrm runs
without it. Its effects run inside the transition's transaction
(``dealercrm_check_event``): a delivered replacement becomes a new asset linked to
the old one, and the manufacturer's warranty decision is written on the case.
"""

from __future__ import annotations

from sqlalchemy import update

from dealercrm import CaseTransitioned, hookimpl
from dealercrm.db.case_models import Case
from dealercrm.db.models import Asset
from dealercrm.workflows.service_case import WORKFLOWS

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
        if event.data.get("rma_number"):
            values["rma_number"] = str(event.data["rma_number"])
        uow.connection.execute(update(Case.__table__).where(Case.__table__.c.id == event.case_id).values(values))
    elif event.trigger == "deliver_replacement":
        case = uow.get(Case, event.case_id, "case")
        if case.asset_id is None:
            return
        old = uow.get(Asset, case.asset_id, "asset")
        new = Asset(customer_id=old.customer_id, product_id=old.product_id,
                    serial_number=str(event.data["new_serial"]), manufacturer_party_id=old.manufacturer_party_id,
                    dealer_party_id=old.dealer_party_id, purchased_on=old.purchased_on,
                    handed_over_on=uow.now.date(), warranty_until=old.warranty_until,
                    warranty_overridden=old.warranty_overridden, replaces_asset_id=old.id, created_at=uow.now)
        uow.session.add(new)
        uow.flush()
        uow.connection.execute(update(Case.__table__).where(Case.__table__.c.id == event.case_id)
                               .values(replacement_asset_id=new.id))
