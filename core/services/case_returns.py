"""The replaced unit's way back and the dealer's credit, step by step on the case.

When the manufacturer approves a replacement it authorises the old unit's return with an
RMA number (``approve_replacement`` with ``data={"rma_number": "RMA-77"}``, or later with
``record_return``); the dealer ships the old unit back, the manufacturer confirms that it
arrived and credits the dealer. Each step is recorded by the party that knows it
(``dealercrm.access.RETURN_RECORDERS``), on an open or a closed case alike: the return
usually follows the customer's confirmation.

The order is kept: no shipment without an RMA number, no receipt before the shipment, an
amount always with its currency; no day before the case was opened or after today where
the recording party works. A step already recorded may be corrected by its party.
Every change bumps the case's version (an ``ETag`` shown before is stale), is a line in
the case's history (kind ``return`` or ``credit``), an audited before/after, and raises
``CaseReturnRecorded``; recording what is already there changes nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import insert, update

from ..access import records_return, sees_case
from ..audit import jsonable
from ..db.case_models import Case, CaseEvent
from ..db.models import AuditRecord
from ..errors import Conflict, NotFound, StateConflict, ValidationError
from ..events import CaseReturnRecorded
from ..fields import CleanContext

#: parameter of ``record_return`` / ``record_credit`` -> the case's column
RETURN = {"rma_number": "rma_number", "shipped_on": "return_shipped_on", "received_on": "return_received_on"}
CREDIT = {"amount": "credit_amount", "currency": "credit_currency", "on": "credited_on"}
PARAM = {column: param for param, column in (*RETURN.items(), *CREDIT.items())}
CASE = Case.__table__


def record(service, case_id: int, kind: str, given: dict[str, Any], *, by: int, note: str | None = None,
           expected_version: int | None = None) -> Case:
    """Record the ``kind`` ("return" or "credit") step(s) ``given`` (by parameter name) on a case."""
    names = RETURN if kind == "return" else CREDIT
    values = clean(service.crm, names, given)
    if not values:
        raise ValidationError(kind, None, f"case {case_id}: nothing to record; give "
                              f"{', '.join(p for p in names if not (kind == 'credit' and p == 'on'))}")
    with service.crm.uow(by, f"cases.record_{kind}") as uow:
        conn, actor = uow.connection, uow.principal
        case = service.load(conn, case_id, lock=True)
        if not sees_case(uow, case):
            raise NotFound("case", case_id)
        records_return(actor, case, values)
        if expected_version is not None and case["version"] != expected_version:
            raise Conflict(f"case {case_id}: version {expected_version} is no longer current (now {case['version']}); "
                           "reload the case and decide again")
        today = service.local_day(conn, actor.party_id, uow.now)
        if kind == "credit" and values.get("credit_amount") is not None and case["credited_on"] is None:
            values.setdefault("credited_on", today)
        check(case, values, opened=service.local_day(conn, case["dealer_party_id"], case["opened_at"]), today=today)
        changes = {k: [jsonable(case[k]), jsonable(v)] for k, v in values.items() if case[k] != v}
        if changes:
            version = case["version"] + 1
            done = conn.execute(update(CASE).where(CASE.c.id == case_id, CASE.c.version == case["version"])
                                .values({**{k: values[k] for k in changes}, "version": version}))
            if done.rowcount != 1:
                raise Conflict(f"case {case_id}: version {case['version']} was changed concurrently")
            recorded = {k: after for k, (_, after) in changes.items()}
            conn.execute(insert(CaseEvent.__table__).values(
                case_id=case_id, kind=kind, to_state=case["state"], actor_id=actor.id, party_id=actor.party_id,
                owner_party_id=case["owner_party_id"], due_at=case["due_at"], at=uow.now, note=note,
                data=recorded, version=version))
            conn.execute(insert(AuditRecord.__table__).values(
                at=uow.now, actor_id=actor.id, operation=f"cases.record_{kind}", action="update",
                entity="service_case", entity_id=case_id, changes={**changes, "version": [version - 1, version]},
                personal_changes=None, customer_id=case["customer_id"]))
            uow.raise_event(CaseReturnRecorded, case_id=case_id, customer_id=case["customer_id"], values=recorded)
        result = uow.get(Case, case_id, "case")
        uow.commit()
        return result


def clean(crm, names: dict[str, str], given: dict[str, Any]) -> dict[str, Any]:
    """The given values by column, cleaned as the case's fields declare (``dealercrm.fields``);
    errors name the parameter the caller used."""
    fields, ctx = crm.fields.case, CleanContext(crm.settings.default_region)
    out = {}
    for param, value in given.items():
        f = fields[names[param]]
        if isinstance(value, str) and f.max_length and len(value.strip()) > f.max_length:
            raise ValidationError(param, value[:40] + "…", f"is longer than {f.max_length} characters")
        cleaned = f.clean(param, value, ctx)
        if cleaned is not None:
            out[f.name] = cleaned
    return out


def check(case, values: dict[str, Any], *, opened: date, today: date) -> None:
    """The steps in their order and inside the case's life; refusals say what is missing."""
    after = {**{k: case[k] for k in (*RETURN.values(), *CREDIT.values())}, **values}
    subject = f"case {case['id']}"
    for column, day in values.items():
        if isinstance(day, date) and not opened <= day <= today:
            raise StateConflict(PARAM[column], day.isoformat(), f"{subject}: must lie between the day the case was "
                                  f"opened ({opened}) and today ({today})")
    if after["return_shipped_on"] is not None and after["rma_number"] is None:
        raise StateConflict("shipped_on", after["return_shipped_on"].isoformat(),
                              f"{subject}: the old unit goes back under an RMA number, and the case has none yet; "
                              "the manufacturer gives it (approve_replacement with rma_number, or record_return)")
    if after["return_received_on"] is not None:
        if after["return_shipped_on"] is None:
            raise StateConflict("received_on", after["return_received_on"].isoformat(),
                                  f"{subject}: the old unit has not been shipped yet (the dealer records shipped_on)")
        if after["return_received_on"] < after["return_shipped_on"]:
            raise StateConflict("received_on", after["return_received_on"].isoformat(),
                                  f"{subject}: is before the shipment on {after['return_shipped_on']}")
    if (after["credit_amount"] is None) != (after["credit_currency"] is None):
        missing = "currency" if after["credit_currency"] is None else "amount"
        raise ValidationError(missing, None, f"{subject}: a credit needs an amount and its currency")


def describe(case) -> str | None:
    """For people: 'RMA RMA-7; old unit shipped 2026-03-03, received —; credit 449.90 EUR on
    2026-03-05', or None while nothing of the kind was recorded."""
    parts = []
    if case.rma_number:
        parts.append(f"RMA {case.rma_number}")
    if case.return_shipped_on or case.return_received_on:
        parts.append(f"old unit shipped {case.return_shipped_on or '—'}, received {case.return_received_on or '—'}")
    if case.credit_amount is not None:
        parts.append(f"credit {case.credit_amount} {case.credit_currency} on {case.credited_on}")
    return "; ".join(parts) or None
