"""The data subject's rights: access (export everything) and erasure.

Erasure removes or anonymises personal data in every table but keeps the business
records (assets, cases, consents as proof, the timeline's dates and channels), blanks
the personal half of audit rows, drops the HTTP answers kept for ``Idempotency-Key``
repeats that concern the customer, lets plugins erase what they hold, and is itself
audited.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, delete, func, insert, or_, select, update
from sqlmodel import SQLModel

from ..access import managed_customer
from ..audit import jsonable
from ..db.api_models import IdempotencyRecord
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


def export_customer(service: CustomerService, customer_id: int, by: int) -> dict[str, Any]:
    """Everything held about a customer, as JSON-ready data (right of access)."""
    with service.read(by) as uow:
        customer = managed_customer(uow, customer_id, "export")
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


def erase_customer(service: CustomerService, customer_id: int, by: int):
    """Blank the customer's personal data; returns what remains of the record."""
    with service.uow(by, "customers.erase") as uow:
        customer = managed_customer(uow, customer_id, "erase")
        if customer.erased_at is not None:
            raise ValidationError("customer", customer_id, f"was already erased at {customer.erased_at.isoformat()}")
        ids = [customer_id, *uow.session.scalars(select(Customer.id).where(Customer.merged_into_id == customer_id))]
        s = uow.session
        known = set()  # what identifies them in a kept answer, once the record no longer says it
        for c in s.scalars(select(Customer).where(Customer.id.in_(ids))):
            known |= {v.lower() for v in (c.email, c.phone) if v}
            _blank_personal_fields(service.fields, c)
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
            "idempotency_record": _scrub_kept_answers(s, ids, known),
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
        return service.record(uow, customer)


def _blank_personal_fields(fields, customer: Customer) -> None:
    """Every field declared personal (``dealercrm.fields``), plugins' custom ones included."""
    custom = dict(customer.custom or {})
    for f in fields.where(personal=True):
        if f.custom:
            custom.pop(f.name, None)
        elif f.name == "name":
            customer.name = f"erased customer #{customer.id}"
        else:
            setattr(customer, f.name, f.erased_value)
    customer.custom = custom or None


def _scrub_kept_answers(s, ids: list[int], known: set[str]) -> int:
    """Drop the kept answers to keyed POSTs that concern the customer; keep the records.

    An answer concerns them when its path is under ``/customers/<id>``, it names them as
    ``customer_id`` (cases, tasks, inbound messages) or is their record (``POST
    /customers``), or it holds their e-mail or phone (a duplicate refused). The record
    stays, marked with status 410 and no body, so a repeat of the request still runs
    nothing again and is told the answer was erased.
    """
    rec = IdempotencyRecord.__table__
    lowered = func.lower(rec.c.body)
    near = [rec.c.path == f"/customers/{i}" for i in ids] + [rec.c.path.like(f"/customers/{i}/%") for i in ids]
    near += [rec.c.body.contains(str(i)) for i in ids] + [lowered.contains(v, autoescape=True) for v in known]
    rows = s.execute(select(rec.c.id, rec.c.path, rec.c.body).where(rec.c.body.is_not(None), or_(*near)))
    hits = [row.id for row in rows if _concerns(row.path, row.body, set(ids), known)]
    if hits:
        s.execute(update(rec).where(rec.c.id.in_(hits)).values(status=410, headers=None, body=None))
    return len(hits)


def _concerns(path: str, body: str, ids: set[int], known: set[str]) -> bool:
    return bool(customers_in_answer(path, body) & ids) or any(value in body.lower() for value in known)


def customers_in_answer(path: str, body: str | None) -> set[int]:
    """The customers a kept HTTP answer is about: the one its path is under
    (``/customers/<id>``), every ``customer_id`` in it, and the record ``POST /customers``
    created. Also used when an answer is stored, to keep none about an erased customer."""
    found: set[int] = set()
    parts = path.split("/")
    if len(parts) > 2 and parts[1] == "customers" and parts[2].isascii() and parts[2].isdigit():
        found.add(int(parts[2][:20]))
    try:
        answer = json.loads(body) if body else None
    except ValueError:
        return found
    if path == "/customers" and isinstance(answer, dict) and isinstance(answer.get("id"), int):
        found.add(answer["id"])
    _collect_customer_ids(answer, found)
    return {i for i in found if 0 < i < 2**63}  # a path can name any number; ids are 64-bit


def _collect_customer_ids(value: Any, found: set[int]) -> None:
    if isinstance(value, dict):
        if isinstance(value.get("customer_id"), int):
            found.add(value["customer_id"])
        for inner in value.values():
            _collect_customer_ids(inner, found)
    elif isinstance(value, list):
        for inner in value:
            _collect_customer_ids(inner, found)


def _model_for(table_name: str):
    for mapper in SQLModel._sa_registry.mappers:
        if mapper.local_table is not None and mapper.local_table.name == table_name:
            return mapper.class_
    return None
