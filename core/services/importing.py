"""Importing customers from CSV: every bad row reported, the good ones kept.

Rows are validated one by one, then written in chunks with set-based statements
(IN-queries for known external ids and taken e-mails/phones, one executemany insert
per table), each chunk its own transaction. An interrupted import therefore keeps what it
committed, and a re-run skips every external id already present: no duplicates.
Memory stays flat: the file is streamed and only one chunk is held at a time.
"""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
from sqlalchemy import insert, select

from ..audit import jsonable
from ..db.models import AuditRecord, Customer, Interest, Party
from ..errors import DealerCrmError, ValidationError
from ..events import CustomersImported
from .. import validation
from .base import Service
from .interests import normalize_tag

_CUSTOMER, _AUDIT, _INTEREST = Customer.__table__, AuditRecord.__table__, Interest.__table__
_PERSONAL = Customer.__personal__

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
            try:
                reader.fieldnames
            except UnicodeDecodeError:
                raise ValidationError("file", str(path), "is not UTF-8 text; save it as 'CSV UTF-8' "
                                      "and import again") from None
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise ValidationError("file", str(path), f"has no column {missing[0]!r} (header: {reader.fieldnames})")
            run = uuid.uuid4().hex  # marks this run's audit rows: a repeat later in the file is no re-run
            for chunk in _chunked(_rows(reader, path), chunk_size):
                self._import_chunk(chunk, report, by, run)
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
        fields = ("name", "email", "phone", "birthday", "street", "postcode", "city")
        data = self.crm.customers.clean({k: (row.get(k) or "").strip() or None for k in fields}
                                        | {"kind": (row.get("kind") or "person").strip()})
        data["external_id"] = validation.text("external_id", ext)
        data["_owner"] = (row.get("owner_party") or "").strip() or None
        data["_interests"] = [normalize_tag(t) for t in (row.get("interests") or "").split(";") if t.strip()]
        return data

    def _import_chunk(self, chunk: list[tuple[int, dict]], report: ImportReport, by: int | None, run: str) -> None:
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
            present = _ids_by(s, _CUSTOMER.c.external_id, exts)
            this_run = _imported_by(s, run, list(present.values())) if present else set()
            taken = {}
            for field in ("email", "phone"):
                values = [d[field] for _, d in cleaned if d[field]]
                taken.update({(field, v): i for v, i in _ids_by(s, _CUSTOMER.c[field], values).items()})
            owners = {name: pid for name, pid in s.execute(select(Party.name, Party.id))}
            home = None
            rows, seen = [], set()
            for line, d in cleaned:
                if d["external_id"] in present:
                    if present[d["external_id"]] in this_run:
                        report.rejected.append((line, f"invalid external_id {d['external_id']!r}: appears twice "
                                                      "in this file"))
                    else:
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
            # Core executemany on the tables, not ORM bulk inserts: the ORM leaves None values
            # out and batches only consecutive rows with the same columns, so a file with gaps
            # (no phone here, no birthday there) became one INSERT per row, and each RETURNING
            # result was spliced onto the previous ones (quadratic in the chunk size). No
            # RETURNING either: on SQLite it means multi-row VALUES statements whose length
            # varies with each chunk's remainder, each kept in the driver's statement cache.
            # The ids are read back by external id (unique, and unique within the chunk).
            s.execute(insert(_CUSTOMER), rows)
            by_ext = _ids_by(s, _CUSTOMER.c.external_id, [r["external_id"] for r in rows])
            ids = [by_ext[r["external_id"]] for r in rows]
            s.execute(insert(_AUDIT), [_audit(uow, cid, r, run) for cid, r in zip(ids, rows)])
            tags = [dict(customer_id=cid, tag=t, noted_by_id=uow.actor_id, noted_at=uow.now)
                    for cid, ts in zip(ids, interests) for t in ts]
            if tags:
                s.execute(insert(_INTEREST), tags)
                s.execute(insert(_AUDIT), [
                    dict(at=uow.now, actor_id=uow.actor_id, operation="import.customers", action="insert",
                         entity="interest", entity_id=iid, customer_id=cid, personal_changes={"tag": [None, tag]},
                         changes={"customer_id": [None, cid], "import_run": run})
                    for iid, cid, tag in _interests_of(s, [i for i, ts in zip(ids, interests) if ts])])
            uow.raise_event(CustomersImported, source=report.source, imported=len(ids), customer_ids=tuple(ids))
            uow.commit()
            report.imported += len(ids)


_IN_BATCH = 512


def _ids_by(s, column, values: list) -> dict:
    """``{value: customer id}`` for the customers whose ``column`` is one of ``values``.

    Asked in IN-lists of a few fixed lengths (powers of two up to 512; the last list is
    padded by repeating a value). pysqlite keeps a prepared statement per distinct SQL
    text, up to 128 per connection, at ~200 bytes per parameter: one IN-list as long as
    whatever each chunk had left would pile up to ~50 MB per connection over a long
    import, and a chunk above SQLite's 32,766 parameters would fail.
    """
    found = {}
    for part in _padded(values):
        found.update(s.execute(select(column, _CUSTOMER.c.id).where(column.in_(part))).all())
    return found


def _padded(values: list) -> Iterator[list]:
    for start in range(0, len(values), _IN_BATCH):
        part = values[start:start + _IN_BATCH]
        yield part + [part[-1]] * ((1 << (len(part) - 1).bit_length()) - len(part))


def _imported_by(s, run: str, customer_ids: list[int]) -> set[int]:
    """Which of these customers this very run imported (their audit row carries its mark)."""
    found: set[int] = set()
    mark = _AUDIT.c.changes["import_run"].as_string()
    for part in _padded(customer_ids):
        found.update(s.scalars(select(_AUDIT.c.entity_id).where(
            _AUDIT.c.entity == "customer", _AUDIT.c.operation == "import.customers",
            _AUDIT.c.entity_id.in_(part), mark == run)))
    return found


def _interests_of(s, customer_ids: list[int]) -> list[tuple[int, int, str]]:
    rows: list[tuple[int, int, str]] = []
    for part in _padded(customer_ids):
        rows.extend(s.execute(select(_INTEREST.c.id, _INTEREST.c.customer_id, _INTEREST.c.tag)
                              .where(_INTEREST.c.customer_id.in_(part))).all())
    return sorted(set(rows))


def _chunked(rows: Iterator[tuple[int, dict]], size: int) -> Iterator[list[tuple[int, dict]]]:
    chunk: list[tuple[int, dict]] = []
    for item in rows:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


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


def _audit(uow, customer_id: int, row: dict, run: str) -> dict:
    personal, plain = {}, {"import_run": run}
    for k, v in row.items():
        if v is not None:
            (personal if k in _PERSONAL else plain)[k] = [None, v if type(v) is str else jsonable(v)]
    return dict(at=uow.now, actor_id=uow.actor_id, operation="import.customers", action="insert",
                entity="customer", entity_id=customer_id, customer_id=customer_id,
                changes=plain, personal_changes=personal or None)


def _rows(reader: csv.DictReader, path: Path) -> Iterator[tuple[int, dict]]:
    """The file's rows; an undecodable or malformed file stops with the line it broke at
    (chunks before it stay imported, and a re-run after fixing the file skips them)."""
    try:
        for row in reader:
            yield reader.line_num, row
    except UnicodeDecodeError:
        raise ValidationError("file", str(path), f"is not UTF-8 text (after line {reader.line_num}); "
                              "save it as 'CSV UTF-8' and import again") from None
    except csv.Error as exc:
        raise ValidationError("file", str(path), f"line {reader.line_num + 1}: {exc}") from None

