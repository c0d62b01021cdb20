"""Importing customers from CSV: every bad row reported, the good ones kept.

Rows are validated one by one, then written in chunks with set-based statements
(one query for known external ids, one for taken e-mails/phones, one multi-row insert),
each chunk its own transaction. An interrupted import therefore keeps what it
committed, and a re-run skips every external id already present: no duplicates.
Memory stays flat: the file is streamed and only one chunk is held at a time.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
from sqlalchemy import insert, select

from ..audit import jsonable
from ..db.models import AuditRecord, Customer, Interest, Party
from ..errors import DealerCrmError, ValidationError
from ..events import CustomersImported
from .base import Service
from .interests import normalize_tag

REQUIRED_COLUMNS = ("external_id", "name")
KNOWN_COLUMNS = (*REQUIRED_COLUMNS, "kind", "email", "phone", "birthday", "street", "postcode", "city",
                 "owner_party", "interests")


@attrs.define
class ImportReport:
    source: str
    rows: int = 0
    imported: int = 0
    already_present: int = 0
    rejected: list[tuple[int, str]] = attrs.field(factory=list)

    def summary(self) -> str:
        return (f"{self.rows} rows: {self.imported} imported, {self.already_present} already present, "
                f"{len(self.rejected)} rejected")


def count_rows(path: Path) -> int:
    with path.open("rb") as fh:
        return max(0, sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b"")) - 1)


class CustomerImport(Service):
    def run(self, path: str | os.PathLike, *, by: int | None = None, chunk_size: int = 2000,
            on_progress: Callable[[int], None] | None = None) -> ImportReport:
        path = Path(path)
        report = ImportReport(source=str(path))
        try:
            fh = path.open(newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise ValidationError("file", str(path), exc.strerror or str(exc)) from None
        with fh:
            reader = csv.DictReader(fh)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise ValidationError("file", str(path), f"has no column {missing[0]!r} (header: {reader.fieldnames})")
            for chunk in _chunks(reader, chunk_size):
                self._import_chunk(chunk, report, by)
                if on_progress:
                    on_progress(len(chunk))
        report.rejected.sort()
        return report

    def _clean(self, line: int, row: dict[str, str]) -> dict:
        if None in row:
            raise ValidationError("row", line, f"has {len(row[None]) + len(row) - 1} fields, the header has {len(row) - 1}")
        ext = (row.get("external_id") or "").strip()
        if not ext:
            raise ValidationError("external_id", ext, "is required: it makes a re-run import skip this row")
        data = self.crm.customers.clean({k: (row.get(k) or None) for k in ("name", "email", "phone", "birthday")}
                                        | {"kind": (row.get("kind") or "person").strip()})
        data.update(external_id=ext, **{k: (row.get(k) or "").strip() or None for k in ("street", "postcode", "city")})
        data["_owner"] = (row.get("owner_party") or "").strip() or None
        data["_interests"] = [normalize_tag(t) for t in (row.get("interests") or "").split(";") if t.strip()]
        return data

    def _import_chunk(self, chunk: list[tuple[int, dict]], report: ImportReport, by: int | None) -> None:
        report.rows += len(chunk)
        with self.uow(by, "import.customers") as uow:
            s = uow.session
            cleaned: list[tuple[int, dict]] = []
            for line, row in chunk:
                try:
                    cleaned.append((line, self._clean(line, row)))
                except DealerCrmError as exc:
                    report.rejected.append((line, str(exc)))
            exts = [d["external_id"] for _, d in cleaned]
            present = set(s.scalars(select(Customer.external_id).where(Customer.external_id.in_(exts))))
            taken = {}
            for field in ("email", "phone"):
                values = [d[field] for _, d in cleaned if d[field]]
                column = getattr(Customer, field)
                taken.update({(field, v): i for v, i in s.execute(select(column, Customer.id).where(column.in_(values)))})
            owners = {name: pid for name, pid in s.execute(select(Party.name, Party.id))}
            home = None
            rows, seen = [], set()
            for line, d in cleaned:
                if d["external_id"] in present:
                    report.already_present += 1
                    continue
                problem = _duplicate(d, taken, seen)
                if not problem and d["_owner"] and d["_owner"] not in owners:
                    problem = f"invalid owner_party {d['_owner']!r}: no such party"
                if problem:
                    report.rejected.append((line, problem))
                    continue
                if d["_owner"] is None and home is None:
                    home = self.crm.parties.home_dealer(uow)
                d["owner_party_id"] = owners[d["_owner"]] if d["_owner"] else home
                seen.update({("email", d["email"]), ("phone", d["phone"]), ("external_id", d["external_id"])})
                rows.append(d)
            if not rows:
                uow.commit()
                return
            interests = [r.pop("_interests") for r in rows]
            for r in rows:
                r.pop("_owner")
                r.update(created_at=uow.now, updated_at=uow.now)
            ids = list(s.scalars(insert(Customer).returning(Customer.id, sort_by_parameter_order=True), rows))
            s.execute(insert(AuditRecord), [_audit(uow, cid, r) for cid, r in zip(ids, rows)])
            tags = [dict(customer_id=cid, tag=t, noted_by_id=uow.actor_id, noted_at=uow.now)
                    for cid, ts in zip(ids, interests) for t in ts]
            if tags:
                s.execute(insert(Interest), tags)
            uow.raise_event(CustomersImported, source=report.source, imported=len(ids), customer_ids=tuple(ids))
            uow.commit()
            report.imported += len(ids)


def _duplicate(d: dict, taken: dict, seen: set) -> str | None:
    if ("external_id", d["external_id"]) in seen:
        return f"invalid external_id {d['external_id']!r}: appears twice in this file"
    for field in ("email", "phone"):
        value = d[field]
        if value and (field, value) in taken:
            return f"invalid {field} {value!r}: already used by customer {taken[(field, value)]}"
        if value and (field, value) in seen:
            return f"invalid {field} {value!r}: appears twice in this file"
    return None


def _audit(uow, customer_id: int, row: dict) -> dict:
    personal = {k: [None, jsonable(v)] for k, v in row.items() if k in Customer.__personal__ and v is not None}
    plain = {k: [None, jsonable(v)] for k, v in row.items() if k not in Customer.__personal__ and v is not None}
    return dict(at=uow.now, actor_id=uow.actor_id, operation="import.customers", action="insert",
                entity="customer", entity_id=customer_id, customer_id=customer_id,
                changes=plain, personal_changes=personal or None)


def _chunks(reader: csv.DictReader, size: int) -> Iterator[list[tuple[int, dict]]]:
    chunk: list[tuple[int, dict]] = []
    for row in reader:
        chunk.append((reader.line_num, row))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
