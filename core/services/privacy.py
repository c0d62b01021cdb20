"""The data subject's rights: access (export everything) and erasure.

Erasure (``erase_customer``) blanks every personal value linked to the customer and to
the duplicates merged into them, in one transaction, and is itself audited. Blanked:

* the customer rows: every field declared personal (``dealercrm.fields``), plugins'
  fields included (name becomes "erased customer #<id>"), and their contact persons
  (interactions and tasks that name one keep the link to the blanked row, so the
  relationship map shows "[erased]"); their interests are deleted;
* the timeline's summaries; survey comments; how their consents were given (``source``,
  free text such as "e-mail from max@…");
* their service cases' summaries and facts, and their case events' notes and data
  (the string values of facts and data; keys, numbers, yes/no and timestamps stay);
* outbox messages to them — by their customer id, or to one of their (or their contact
  persons') addresses without one: recipient, subject, text, the data travelling with the message, and the
  delivery errors (which echo addresses and texts); pending ones are cancelled;
* inbound messages from them — attached to them or their cases, or waiting in triage
  from one of their addresses or their contact persons': the raw message, sender,
  subject, parse error;
* tasks about them, their cases, or those messages (dead letters, triage): title, note;
* the personal half (``personal_changes``) of every audit row about any of these
  records, also rows written before the customer was known (``customer_id`` NULL:
  a message stored before it was read, a task linked only through a case);
* the HTTP answers kept for ``Idempotency-Key`` repeats that concern them, their cases
  or those tasks (kept as 410 without a body, so a repeat still runs nothing again);
* what plugins hold (``dealercrm_erase_customer``, e.g. rule firings naming an interest);
* the customer's links to their cases (``case_links``) are revoked: a link in an old
  notice no longer shows anything.

Kept, as the law allows: the business records — customer ids and tombstones, assets and
serial numbers, consents as proof (channel, purpose, answer, time, actor), cases with their states, owners, dates, versions,
warranty decision and RMA number, every case event's kind, trigger and time, messages'
channel, purpose, status, dates and suppression reasons (templated, never personal),
the timeline's dates and channels, survey scores — and the anonymised audit trail: who
changed what and when, with the plain half of each change.

On SQLite the engine sets ``PRAGMA secure_delete`` so the blanked text does not linger in
freed pages; a checkpoint and ``VACUUM`` then leave no copy in the file.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import (CursorResult, Result, Table, and_, bindparam, case, delete, func, insert, or_, select,
                        update)

from .. import validation
from ..access import managed_customer
from ..audit import jsonable
from ..db.api_models import IdempotencyRecord
from ..db.case_models import Case, CaseEvent
from ..db.outbox_models import InboundMessage, OutboxMessage
from ..db.rule_models import SurveyResponse
from ..db.models import AuditRecord, Consent, ContactPerson, Customer, Interaction, Interest, Task
from ..errors import DealerCrmError, StateConflict
from ..events import CustomerErased
from .merge import customer_links

if TYPE_CHECKING:
    from .customers import CustomerService

ERASED = "[erased]"
CASE_TABLE = Case.__tablename__


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
        fields = service.fields
        out: dict[str, Any] = {"customer": _declared(fields, customer),
                               "merged_records": [_declared(fields, m) for m in merged],
                               "personal_fields": list(fields.personal)}
        for table, column in customer_links():
            if table.name == "customer":
                continue
            model = _model_for(table.name)
            rows: Iterable[Any] = uow.session.scalars(select(model).where(column.in_(ids)).order_by(model.id)) if model else []
            out.setdefault(table.name, []).extend(_row(r) for r in rows)
        out["audit"] = [_row(r) for r in uow.session.scalars(
            select(AuditRecord).where(AuditRecord.customer_id.in_(ids)).order_by(AuditRecord.id))]
        for section in service.crm.plugins.checked_call("dealercrm_export_customer", customer_id=customer_id, uow=uow):
            out.update(section)
        return out


def _declared(fields, customer: Customer) -> dict[str, Any]:
    """The customer's exported fields as declared (``dealercrm.fields``), plugins' included."""
    return {"id": customer.id, **{f.name: jsonable(f.read(customer)) for f in fields.values() if f.exported}}


def erase_customer(service: CustomerService, customer_id: int, by: int):
    """Blank the customer's personal data; returns what remains of the record."""
    with service.uow(by, "customers.erase") as uow:
        customer = managed_customer(uow, customer_id, "erase")
        if customer.erased_at is not None:
            raise StateConflict("customer", customer_id, f"was already erased at {customer.erased_at.isoformat()}")
        ids = [customer_id, *uow.session.scalars(select(Customer.id).where(Customer.merged_into_id == customer_id))]
        s = uow.session
        known = set()  # what identifies them in a kept answer, once the record no longer says it
        for c in s.scalars(select(Customer).where(Customer.id.in_(ids))):
            known |= {v.lower() for v in (c.email, c.phone) if v}
            _blank_personal_fields(service.fields, c)
            c.erased_at = c.updated_at = uow.now
        # a company's contact persons write from their own addresses: their messages are theirs too
        for email, phone in s.execute(select(ContactPerson.email, ContactPerson.phone)
                                      .where(ContactPerson.customer_id.in_(ids))):
            known |= {v.lower() for v in (email, phone) if v}
        # plugins first: the audit rows their changes write are blanked with the others below
        service.crm.plugins.checked_call("dealercrm_erase_customer", customer_id=customer_id, uow=uow)
        uow.flush()
        counts = {
            "contact_person": _rowcount(s.execute(update(ContactPerson).where(ContactPerson.customer_id.in_(ids))
                                                  .values(name=ERASED, email=None, phone=None))),
            "interest": _rowcount(s.execute(delete(Interest).where(Interest.customer_id.in_(ids)))),
            "interaction": _rowcount(s.execute(update(Interaction).where(Interaction.customer_id.in_(ids))
                                               .values(summary=ERASED))),
            # the answers stay as proof (channel, purpose, granted, when, by whom); how they
            # were given is what people typed, often an address or a name
            "consent": _rowcount(s.execute(update(Consent).where(Consent.customer_id.in_(ids))
                                           .values(source=ERASED))),
        }
        # the customer's links to their cases stop working (their cases too, merged ones included)
        counts["case_link"] = sum(service.crm.case_links.revoke_customer_in(uow, i, "the customer's data was erased")
                                  for i in ids)
        linked = Linked(ids, known, service.crm.settings.default_region)
        # each step finds its records through the customer and what earlier steps found
        counts |= _erase_cases(s, linked)
        counts |= _erase_outbox(s, linked)
        counts |= _erase_inbound(s, linked)
        counts |= _erase_tasks(s, linked)
        counts |= _erase_surveys(s, linked)
        counts["idempotency_record"] = _scrub_kept_answers(s, ids, known) + _scrub_answers_about_cases(s, linked)
        counts["audit_record"] = _erase_audit(s, linked)  # last: after every step above wrote what it did
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


# --- what is linked to the customer, and how each kind of record is blanked ----------------


@dataclass
class Linked:
    """The customer's records (and merged duplicates'), and those found through them."""

    ids: list[int]
    known: set[str]  # their e-mail addresses and phone numbers, lower case
    region: str  # for reading phone numbers written without a country code
    #: ids per audited entity (``audit_record.entity``) of records reached through the customer
    #: that their audit rows may not name (``customer_id`` NULL)
    records: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    task_refs: set[str] = field(default_factory=set)  # ``task.origin_ref`` of tasks made for their messages

    @property
    def case_ids(self) -> set[int]:
        return self.records[CASE_TABLE]

    def addressed_to_them(self, s, table, column, *where) -> set[int]:
        """Rows of ``table`` whose ``column`` is one of their addresses (as given: any spelling
        of the phone number), among those matching ``where``."""
        emails = {v for v in self.known if "@" in v}
        phones = {v for v in self.known if "@" not in v}
        if not emails and not phones:
            return set()
        plain = column  # the digits alone, as a number may be written with separators
        for separator in (" ", "-", "/", ".", "(", ")"):
            plain = func.replace(plain, separator, "")
        near = ([func.lower(column).in_(sorted(emails))] if emails else []) + [
            plain.contains(p[-6:], autoescape=True) for p in sorted(phones)]  # a cheap pre-filter
        rows = s.execute(select(table.c.id, column).where(column.is_not(None), or_(*near), *where))
        return {row[0] for row in rows if self._is_theirs(row[1])}

    def _is_theirs(self, value: str) -> bool:
        if value.strip().lower() in self.known:
            return True
        for read in (validation.email, lambda v: validation.phone(v, self.region)):
            try:
                if read(value) in self.known:
                    return True
            except DealerCrmError:
                pass
        return False


CASE, CASE_EVENT = Case.__table__, CaseEvent.__table__
OUT, IN, TASK, SURVEY = OutboxMessage.__table__, InboundMessage.__table__, Task.__table__, SurveyResponse.__table__
AUDIT = AuditRecord.__table__


def _erase_cases(s, linked: Linked) -> dict[str, int]:
    """Service cases: the summary and the facts; every case event's note and data.

    The case itself stays (state, owner, dates, version, warranty decision): only string
    values in facts and data are blanked (``blank_values``)."""
    linked.case_ids.update(s.scalars(select(CASE.c.id).where(CASE.c.customer_id.in_(linked.ids))))
    if not linked.case_ids:
        return {CASE_TABLE: 0, "case_event": 0}
    cases = sorted(linked.case_ids)
    done = s.execute(update(CASE).where(CASE.c.id.in_(cases)).values(summary=ERASED)).rowcount
    _blank_json(s, CASE, CASE.c.facts, CASE.c.id.in_(cases))
    events = s.scalars(select(CASE_EVENT.c.id).where(CASE_EVENT.c.case_id.in_(cases))).all()
    linked.records["case_event"].update(events)
    s.execute(update(CASE_EVENT).where(CASE_EVENT.c.case_id.in_(cases), CASE_EVENT.c.note.is_not(None))
              .values(note=None))
    _blank_json(s, CASE_EVENT, CASE_EVENT.c.data, CASE_EVENT.c.case_id.in_(cases))
    return {CASE_TABLE: done, "case_event": len(events)}


def _erase_outbox(s, linked: Linked) -> dict[str, int]:
    """Messages to them: what was said and to whom, and the delivery errors, which echo both
    (``RCPT TO <address>: 550``, a gateway repeating the text). Pending ones are cancelled;
    a suppression reason (written by dealercrm from a template) stays."""
    mine = set(s.scalars(select(OUT.c.id).where(OUT.c.customer_id.in_(linked.ids))))
    mine |= linked.addressed_to_them(s, OUT, OUT.c.recipient, OUT.c.customer_id.is_(None))
    if not mine:
        return {"outbox_message": 0}
    rows = sorted(mine)
    linked.records["outbox_message"].update(rows)
    for key in s.scalars(select(OUT.c.idempotency_key).where(OUT.c.id.in_(rows))):
        linked.task_refs.add(f"outbox:{key}")  # the phone channel's call tasks
    linked.task_refs.update(f"outbox:{i}" for i in rows)  # dead letters
    done = s.execute(update(OUT).where(OUT.c.id.in_(rows)).values(
        recipient="", subject=None, body=ERASED,
        reason=case((OUT.c.status == "suppressed", OUT.c.reason), (OUT.c.reason.is_(None), None), else_=ERASED),
        status=case((OUT.c.status.in_(("pending", "sending")), "cancelled"), else_=OUT.c.status))).rowcount
    _blank_json(s, OUT, OUT.c.data, OUT.c.id.in_(rows))
    return {"outbox_message": done}


def _erase_inbound(s, linked: Linked) -> dict[str, int]:
    """Messages from them: attached to them or to one of their cases, or waiting in triage
    from one of their addresses. The raw text, sender, subject and parse error go."""
    about = [IN.c.customer_id.in_(linked.ids)]
    if linked.case_ids:
        about.append(IN.c.case_id.in_(sorted(linked.case_ids)))
    mine = set(s.scalars(select(IN.c.id).where(or_(*about))))
    mine |= linked.addressed_to_them(s, IN, IN.c.sender, IN.c.customer_id.is_(None))
    if not mine:
        return {"inbound_message": 0}
    rows = sorted(mine)
    linked.records["inbound_message"].update(rows)
    linked.task_refs.update(f"inbound:{i}" for i in rows)  # triage tasks
    done = s.execute(update(IN).where(IN.c.id.in_(rows)).values(
        raw=ERASED, sender=None, subject=None, parse_error=None)).rowcount
    return {"inbound_message": done}


def _erase_tasks(s, linked: Linked) -> dict[str, int]:
    """Tasks about them, about one of their cases (a reminder to the case's owner), or made
    for one of their messages (a dead letter, a call, a triage): title and note."""
    about = [TASK.c.customer_id.in_(linked.ids)]
    if linked.case_ids:
        about.append(TASK.c.case_id.in_(sorted(linked.case_ids)))
    if linked.task_refs:
        about.append(TASK.c.origin_ref.in_(sorted(linked.task_refs)))
    rows = sorted(s.scalars(select(TASK.c.id).where(or_(*about))))
    if not rows:
        return {"task": 0}
    linked.records["task"].update(rows)
    done = s.execute(update(TASK).where(TASK.c.id.in_(rows)).values(title=ERASED, note=None)).rowcount
    return {"task": done}


def _erase_surveys(s, linked: Linked) -> dict[str, int]:
    """Survey answers: the comment goes, the scores stay (they are about the service)."""
    done = s.execute(update(SURVEY).where(SURVEY.c.customer_id.in_(linked.ids)).values(comment=None)).rowcount
    return {"survey_response": done}


def _erase_audit(s, linked: Linked) -> int:
    """The personal half of every audit row about them or a record found through them.

    Rows written before the customer was known name no customer (an inbound message is
    stored before it is read; a task may hang on a case only); they are found by entity
    and id. The plain half stays: the audit trail, anonymised."""
    about = [AUDIT.c.customer_id.in_(linked.ids)]
    about += [and_(AUDIT.c.entity == entity, AUDIT.c.entity_id.in_(sorted(rows)))
              for entity, rows in sorted(linked.records.items()) if rows]
    return s.execute(update(AUDIT).where(AUDIT.c.personal_changes.is_not(None), or_(*about))
                     .values(personal_changes=None)).rowcount


def _blank_json(s, table, column, where) -> None:
    """Blank the values inside a JSON column (``blank_values``) of the rows ``where`` selects."""
    rows = s.execute(select(table.c.id, column).where(where, column.is_not(None))).all()
    changed = [{"b_id": row[0], "b_value": blank_values(row[1])} for row in rows]
    changed = [c for c, row in zip(changed, rows) if c["b_value"] != row[1]]
    if changed:
        s.connection().execute(update(table).where(table.c.id == bindparam("b_id"))
                               .values({column.name: bindparam("b_value")}), changed)


def blank_values(value: Any) -> Any:
    """``value`` with every string in it blanked, except timestamps with a zone (when a visit
    was booked is a business date, and cannot carry a name). Keys, numbers, yes/no and the
    shape stay: a guard asking ``customer_agreed_late_slot`` still gets its answer."""
    if isinstance(value, dict):
        return {k: blank_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [blank_values(v) for v in value]
    if isinstance(value, str) and not _is_timestamp(value):
        return ERASED
    return value


def _is_timestamp(text: str) -> bool:
    try:
        return len(text) <= 40 and datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def _scrub_answers_about_cases(s, linked: Linked) -> int:
    """Like ``_scrub_kept_answers``, for answers about one of their cases or the tasks found
    through them that need not name the customer: a task on their case (``case_id``), an
    answer under ``/cases/<id>`` or ``/tasks/<id>``."""
    cases, tasks = linked.case_ids, linked.records["task"]
    if not cases and not tasks:
        return 0
    rec = IdempotencyRecord.__table__
    near = []
    for resource, ids in (("cases", cases), ("tasks", tasks)):
        near += [rec.c.path == f"/{resource}/{i}" for i in sorted(ids)]
        near += [rec.c.path.like(f"/{resource}/{i}/%") for i in sorted(ids)]
    near += [rec.c.body.contains(str(i)) for i in sorted(cases | tasks)]
    rows = s.execute(select(rec.c.id, rec.c.path, rec.c.body).where(
        rec.c.body.is_not(None), or_(*near)))
    hits = [row.id for row in rows if _records_in_answer(row.path, row.body, "cases", "case_id") & cases
            or _records_in_answer(row.path, row.body, "tasks", "task_id") & tasks]
    if hits:
        s.execute(update(rec).where(rec.c.id.in_(hits)).values(status=410, headers=None, body=None))
    return len(hits)


def _records_in_answer(path: str, body: str, resource: str, key: str) -> set[int]:
    """The records of ``/resource`` a kept answer is about: the one its path is under, the
    one ``POST /resource`` made, and every ``key`` in it."""
    found: set[int] = set()
    parts = path.split("/")
    if len(parts) > 2 and parts[1] == resource and parts[2].isascii() and parts[2].isdigit():
        found.add(int(parts[2][:20]))
    try:
        answer = json.loads(body)
    except ValueError:
        return found
    if path == f"/{resource}" and isinstance(answer, dict) and isinstance(answer.get("id"), int):
        found.add(answer["id"])
    _collect(answer, key, found)
    return found


def _collect(value: Any, key: str, found: set[int]) -> None:
    if isinstance(value, dict):
        if isinstance(value.get(key), int):
            found.add(value[key])
        for inner in value.values():
            _collect(inner, key, found)
    elif isinstance(value, list):
        for inner in value:
            _collect(inner, key, found)


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


def _rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched: ``Session.execute`` returns a ``CursorResult`` for those."""
    return cast(CursorResult[Any], result).rowcount


def _model_for(table_name: str):
    """The mapped class of a table that links to customers, plugins' included: read from the
    registry every dealercrm model is mapped in (``inspect(Customer).registry``, SQLAlchemy's
    public mapper API)."""
    for mapper in sa_inspect(Customer).registry.mappers:
        if isinstance(mapper.local_table, Table) and mapper.local_table.name == table_name:
            return mapper.class_
    return None
