"""The append-only audit log, written for every change.

ORM changes are captured automatically after each flush from SQLAlchemy's attribute
history, so no service can forget to audit. Bulk paths that bypass the ORM (imports,
the case hot path) call ``audit_rows`` themselves with the same shape.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

from .db.models import AuditRecord

SKIP = {"audit_record"}


def jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def split_changes(obj: Any, fields: dict[str, tuple[Any, Any]]) -> tuple[dict | None, dict | None]:
    personal_fields = getattr(type(obj), "__personal__", frozenset())
    plain, personal = {}, {}
    for name, (before, after) in fields.items():
        (personal if name in personal_fields else plain)[name] = [jsonable(before), jsonable(after)]
    return plain or None, personal or None


def _customer_of(obj: Any) -> int | None:
    if obj.__tablename__ == "customer":
        return obj.id
    return getattr(obj, "customer_id", None)


def _row(session: Session, obj: Any, action: str) -> dict | None:
    state = inspect(obj)
    fields: dict[str, tuple[Any, Any]] = {}
    for attr in state.mapper.column_attrs:
        hist = state.attrs[attr.key].history
        if action == "insert":
            value = getattr(obj, attr.key)
            if value is not None and attr.key != "id":
                fields[attr.key] = (None, value)
        elif action == "delete":
            fields[attr.key] = (getattr(obj, attr.key), None)
        elif hist.has_changes():
            before = hist.deleted[0] if hist.deleted else None
            after = hist.added[0] if hist.added else None
            if before != after:
                fields[attr.key] = (before, after)
    if action == "update" and not fields:
        return None
    plain, personal = split_changes(obj, fields)
    info = session.info
    return dict(
        at=info["now"], actor_id=info.get("actor_id"), operation=info.get("operation", "?"),
        action=action, entity=obj.__tablename__, entity_id=obj.id,
        changes=plain, personal_changes=personal, customer_id=_customer_of(obj),
    )


def _after_flush(session: Session, _context) -> None:
    if "now" not in session.info:
        return
    rows = []
    for action, objs in (("insert", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objs:
            if getattr(obj, "__tablename__", None) in SKIP or not hasattr(obj, "__tablename__"):
                continue
            row = _row(session, obj, action)
            if row:
                rows.append(row)
    if rows:
        session.connection().execute(insert(AuditRecord), rows)


class AuditedSession(Session):
    """The session every unit of work uses; its flushes write audit rows."""


event.listen(AuditedSession, "after_flush", _after_flush)


def inserted(model: Any, values: dict[str, Any], entity_id: int, *, at: Any, actor_id: int | None,
             operation: str) -> dict:
    """The audit row of a record of ``model`` inserted with ``values`` through Core: the row the
    ORM listener writes for an inserted object (every column set, but ``id``, from nothing)."""
    fields = {name: (None, values[name]) for name in model.__table__.columns.keys()
              if name != "id" and values.get(name) is not None}
    personal_fields = getattr(model, "__personal__", frozenset())
    plain = {k: [None, jsonable(after)] for k, (_, after) in fields.items() if k not in personal_fields}
    personal = {k: [None, jsonable(after)] for k, (_, after) in fields.items() if k in personal_fields}
    table = model.__tablename__
    return dict(at=at, actor_id=actor_id, operation=operation, action="insert", entity=table, entity_id=entity_id,
                changes=plain or None, personal_changes=personal or None,
                customer_id=entity_id if table == "customer" else values.get("customer_id"))


def audit_rows(rows: list[dict]) -> list[dict]:
    """Fill defaults for rows written by bulk paths (same shape as the ORM listener)."""
    for row in rows:
        row.setdefault("personal_changes", None)
        row.setdefault("changes", None)
        row.setdefault("customer_id", None)
    return rows
