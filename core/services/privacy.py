"""The data subject's rights: access (export everything) and erasure.

Erasure removes or anonymises personal data in every table but keeps the business
records (assets, cases, consents as proof, the timeline's dates and channels), blanks
the personal half of audit rows, lets plugins erase what they hold, and is itself
audited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import case, delete, insert, select, update
from sqlmodel import SQLModel

from ..audit import jsonable
from ..db.outbox_models import InboundMessage, OutboxMessage
from ..db.rule_models import SurveyResponse
from ..db.models import AuditRecord, ContactPerson, Customer, Interaction, Interest, Task
from ..errors import ValidationError
from ..events import CustomerErased
from .merge import customer_links

if TYPE_CHECKING:
    from .customers import CustomerService

ERASED = "[erased]"


def _row(obj: Any) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in obj.model_dump().items()}


def export_customer(service: CustomerService, customer_id: int) -> dict[str, Any]:
    """Everything held about a customer, as JSON-ready data (right of access)."""
    with service.read() as uow:
        customer = uow.get(Customer, customer_id, "customer")
        merged = list(uow.session.scalars(
            select(Customer).where(Customer.merged_into_id == customer_id).order_by(Customer.id)))
        ids = [customer_id, *(m.id for m in merged)]
        # the tombstones of merged duplicates still hold what they held (name, birthday…)
        out: dict[str, Any] = {"customer": _row(customer), "merged_records": [_row(m) for m in merged]}
        for table, column in customer_links():
            if table.name == "customer":
                continue
            model = _model_for(table.name)
            rows = uow.session.scalars(select(model).where(column.in_(ids)).order_by(model.id)) if model else []
            out.setdefault(table.name, []).extend(_row(r) for r in rows)
        out["audit"] = [_row(r) for r in uow.session.scalars(
            select(AuditRecord).where(AuditRecord.customer_id.in_(ids)).order_by(AuditRecord.id))]
        for section in service.crm.plugins.checked_call("dealercrm_export_customer", customer_id=customer_id, uow=uow):
            out.update(section)
        return out


def erase_customer(service: CustomerService, customer_id: int, by: int | None) -> None:
    with service.uow(by, "customers.erase") as uow:
        customer = uow.get(Customer, customer_id, "customer")
        if customer.erased_at is not None:
            raise ValidationError("customer", customer_id, f"was already erased at {customer.erased_at.isoformat()}")
        ids = [customer_id, *uow.session.scalars(select(Customer.id).where(Customer.merged_into_id == customer_id))]
        s = uow.session
        for c in s.scalars(select(Customer).where(Customer.id.in_(ids))):
            c.name, c.email, c.phone, c.birthday = f"erased customer #{c.id}", None, None, None
            c.street = c.postcode = c.city = None
            c.erased_at = c.updated_at = uow.now
        # plugins first: the audit rows their changes write are blanked with the others below
        service.crm.plugins.checked_call("dealercrm_erase_customer", customer_id=customer_id, uow=uow)
        uow.flush()
        counts = {
            "contact_person": s.execute(update(ContactPerson).where(ContactPerson.customer_id.in_(ids))
                                        .values(name=ERASED, email=None, phone=None)).rowcount,
            "interest": s.execute(delete(Interest).where(Interest.customer_id.in_(ids))).rowcount,
            "interaction": s.execute(update(Interaction).where(Interaction.customer_id.in_(ids))
                                     .values(summary=ERASED)).rowcount,
            "task": s.execute(update(Task).where(Task.customer_id.in_(ids)).values(title=ERASED, note=None)).rowcount,
            "outbox_message": s.execute(update(OutboxMessage).where(OutboxMessage.customer_id.in_(ids)).values(
                recipient="", subject=None, body=ERASED,
                status=case((OutboxMessage.status.in_(("pending", "sending")), "cancelled"),
                            else_=OutboxMessage.status))).rowcount,
            "survey_response": s.execute(update(SurveyResponse).where(SurveyResponse.customer_id.in_(ids))
                                         .values(comment=None)).rowcount,
            "inbound_message": s.execute(update(InboundMessage).where(InboundMessage.customer_id.in_(ids))
                                         .values(raw=ERASED, sender=None, subject=None)).rowcount,
            "audit_record": s.execute(update(AuditRecord).where(AuditRecord.customer_id.in_(ids),
                                                                AuditRecord.personal_changes.is_not(None))
                                      .values(personal_changes=None)).rowcount,
        }
        s.execute(insert(AuditRecord), [dict(
            at=uow.now, actor_id=uow.actor_id, operation="customers.erase", action="erase", entity="customer",
            entity_id=customer_id, customer_id=customer_id, changes={"rows": counts, "records": ids},
            personal_changes=None)])
        uow.raise_event(CustomerErased, customer_id=customer_id)
        uow.commit()


def _model_for(table_name: str):
    for mapper in SQLModel._sa_registry.mappers:
        if mapper.local_table is not None and mapper.local_table.name == table_name:
            return mapper.class_
    return None
