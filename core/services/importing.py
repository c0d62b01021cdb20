"""Importing customers from CSV: every bad row reported, the good ones kept.

Rows are validated one by one, then written in chunks with set-based statements
(IN-queries for known external ids and taken e-mails/phones, one executemany insert
per table), each chunk its own transaction. An interrupted import therefore keeps what it
committed, and a re-run skips every external id already present: no duplicates.
Memory stays flat: the file is streamed and only one chunk is held at a time.

An upload (``run_text``) is already in memory, so it is checked whole first: a
document that is not UTF-8 or not readable CSV imports nothing, instead of stopping
half-way. Imported for a dealer (``party``), its rows belong to that dealer, and
another party's customers are not named in the reasons a row is refused for.
"""

from __future__ import annotations

from typing import Any

import csv
import io
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from pathlib import Path

import attrs
from sqlalchemy import insert, select

from ..audit import jsonable
from ..db.batches import in_chunks
from ..db.models import AuditRecord, Customer, Interest, Party
from ..errors import DealerCrmError, ImportInterrupted, ValidationError
from ..events import CustomersImported
from .. import validation
from ..access import require
from ..fields import CUSTOMER, FieldSet
from .base import Service
from .interests import normalize_tag

_CUSTOMER, _AUDIT, _INTEREST = Customer.__table__, AuditRecord.__table__, Interest.__table__

REQUIRED_COLUMNS = ("external_id", "name")
#: columns that are no field of the customer: where the file goes and what it mentions
EXTRA_COLUMNS = ("owner_party", "interests")


def import_columns(fields: FieldSet) -> tuple[str, ...]:
    """Every column the customer import reads: the importable fields', plugins' included."""
    return (*fields.columns, *EXTRA_COLUMNS)


KNOWN_COLUMNS = import_columns(CUSTOMER)


@attrs.frozen
class Pacing:
    """How an import shares the database with other writers: ``rows`` per chunk, each chunk its
    own transaction (on SQLite the write lock is let go between chunks, ``dealercrm.db.write_lock``)."""

    rows: int


#: set by a caller whose import must not keep other writers out for its whole run (the HTTP API)
PACING: ContextVar[Pacing | None] = ContextVar("dealercrm_import_pacing", default=None)


@attrs.define
class ImportReport:
    source: str
    rows: int = 0
    imported: int = 0
    already_present: int = 0
    rejected: list[tuple[int, str]] = attrs.field(factory=list)
    #: the field each rejected line was refused for ("row": the line as a whole), by line
    fields: dict[int, str] = attrs.field(factory=dict)

    #: lines imported but suspected to duplicate a customer (a shared phone), with why
    suspects: list[tuple[int, str]] = attrs.field(factory=list)

    def suspect(self, line: int, reason: str) -> None:
        self.suspects.append((line, reason))

    def reject(self, line: int, field: str, reason: str) -> None:
        self.rejected.append((line, reason))
        self.fields[line] = field

    @property
    def rejections(self) -> list[dict]:
        """Each rejected line with its field and reason, in line order."""
        return [{"line": line, "field": self.fields.get(line, "row"), "reason": reason}
                for line, reason in sorted(self.rejected)]

    def summary(self) -> str:
        return (f"{self.rows} rows: {self.imported} imported, {self.already_present} already present, "
                f"{len(self.rejected)} rejected" + (f", {len(self.suspects)} suspected duplicates (shared phone)"
                                                    if self.suspects else ""))


def count_rows(path: Path) -> int:
    with path.open("rb") as fh:
        return max(0, sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b"")) - 1)


class CustomerImport(Service):
    def run(self, path: str | os.PathLike, *, by: int, chunk_size: int = 2000,
            on_progress: Callable[[int], None] | None = None) -> ImportReport:
        """Import a file, streamed (``dealercrm import customers``)."""
        self._importer(by)
        path = Path(path)
        try:
            if path.exists() and not path.is_file():  # a directory; a device (/dev/zero) or pipe that never ends
                raise ValidationError("file", str(path), "is not a regular file: save the list as a file and "
                                      "import that (an upload: run_text)")
            fh = path.open(newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise ValidationError("file", str(path), exc.strerror or str(exc)) from None
        with fh:
            return self._run(fh, ImportReport(source=str(path)), "file", by, None, chunk_size, on_progress)

    def run_text(self, content: str | bytes, *, by: int, source: str = "upload",
                 chunk_size: int = 2000) -> ImportReport:
        """Import a CSV document held in memory (an upload), checked whole before any row
        is written; errors about the document as a whole name it as field ``body``.
        """
        self._importer(by)
        text = _decoded(content, source)
        for _ in _rows(csv.reader(io.StringIO(text, newline="")), source, "body"):
            pass  # a malformed line refuses the whole document before anything is written
        return self._run(io.StringIO(text, newline=""), ImportReport(source=source), "body", by, None,
                         chunk_size, None)

    def _importer(self, by: int) -> None:
        """Importing customers is registering them in bulk: a dealer files its own (a row
        without ``owner_party`` is that dealer's, a row naming another party is rejected),
        the system for any dealer. Checked again in every chunk's own transaction."""
        with self.read(by) as uow:
            require(uow.principal, "dealer", doing="import customers")

    def _run(self, stream, report: ImportReport, what: str, by: int | None, party: int | None, chunk_size: int,
             on_progress: Callable[[int], None] | None) -> ImportReport:
        source = report.source
        lines = _Lines(stream)
        reader = csv.DictReader(lines)
        try:
            header = reader.fieldnames
            lines.start()  # rows begin after the header
        except UnicodeDecodeError:
            raise ValidationError(what, source, "is not UTF-8 text; save it as 'CSV UTF-8' and import again") from None
        except csv.Error as exc:
            raise ValidationError(what, source, f"line 1: {exc}") from None
        if not header:
            raise ValidationError(what, source, "is empty: its first line must name the columns, at least "
                                  f"{','.join(REQUIRED_COLUMNS)}")
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ValidationError(what, source, f"has no column {missing[0]!r} (header: {header})")
        _check_header(header, import_columns(self.crm.customers.fields), what, source)
        run = uuid.uuid4().hex  # marks this run's audit rows: a repeat later in the file is no re-run
        pacing = PACING.get()
        committed = False
        for chunk in _chunked(_rows(reader, source, what, lines), pacing.rows if pacing is not None else chunk_size):
            before = (report.rows, report.imported, report.already_present, list(report.rejected), dict(report.fields))
            try:
                cleaned = self._cleaned(chunk, report)  # checking rows needs no database: outside the transaction
                self._import_chunk(cleaned, report, by, run, party)
            except Exception as exc:
                if not committed:
                    raise  # nothing was written: the error as it is
                # the chunks before this one stay: say so, with what they filed (not this chunk's counts)
                report.rows, report.imported, report.already_present, report.rejected, report.fields = before
                report.rejected.sort()
                raise ImportInterrupted(report, chunk[0][0], exc) from exc
            committed = True
            if on_progress:
                on_progress(len(chunk))
        report.rejected.sort()
        return report

    def _clean(self, line: int, row: dict[str, str]) -> dict:
        if None in row:
            raise ValidationError("row", line, f"has {len(row[None]) + len(row) - 1} fields, the header has {len(row) - 1}")
        broken = next((column for column, value in row.items() if value and ("\n" in value or "\r" in value)), None)
        if broken is not None:
            # no field of a customer list holds a line break: a quote opened and not closed has taken the
            # lines after it into this field (they would have been filed as one name, silently)
            raise ValidationError("row", line, f"field {broken!r} runs over the lines after line {line}: a quote "
                                  "(\") opened there is not closed where the field ends, so the rows after it were "
                                  "read into it; close or remove the quote and import again")
        ext = (row.get("external_id") or "").strip()
        if not ext:
            raise ValidationError("external_id", ext, "is required: it makes a re-run import skip this row")
        fields = self.crm.customers.fields
        values = {f.name: (row.get(column) or "").strip() or None for column, f in fields.columns.items()}
        data, custom = fields.split(self.crm.customers.clean(values | {"kind": (row.get("kind") or "person").strip(),
                                                                       "external_id": ext}, only_editable=False))
        data["custom"] = custom or None
        data["_owner"] = (row.get("owner_party") or "").strip() or None
        data["_interests"] = [normalize_tag(t) for t in (row.get("interests") or "").split(";") if t.strip()]
        return data

    def _cleaned(self, chunk: list[tuple[int, dict]], report: ImportReport) -> list[tuple[int, dict]]:
        """The chunk's rows validated and normalised; the bad ones go to the report."""
        report.rows += len(chunk)
        cleaned: list[tuple[int, dict]] = []
        for line, row in chunk:
            try:
                cleaned.append((line, self._clean(line, row)))
            except DealerCrmError as exc:
                report.reject(line, getattr(exc, "field", "row"), str(exc))
        return cleaned

    def _import_chunk(self, cleaned: list[tuple[int, dict]], report: ImportReport, by: int | None, run: str,
                      party: int | None) -> None:
        with self.uow(by, "import.customers") as uow:
            require(uow.principal, "dealer", doing="import customers")
            party = None if uow.principal.is_system else uow.principal.party_id
            s = uow.session
            owners = {name: (pid, kind) for name, pid, kind in s.execute(select(Party.name, Party.id, Party.kind))}
            home = party  # the importing dealer's; for the system, the home dealer (looked up if a row needs it)
            placed = []  # each row with the dealer whose file it goes into
            for line, d in cleaned:
                problem = _owner_problem(d["_owner"], owners, party)
                if problem:
                    report.reject(line, *problem)
                    continue
                if d["_owner"] is None and home is None:
                    home = self.crm.parties.home_dealer(uow)
                d["owner_party_id"] = owners[d["_owner"]][0] if d["_owner"] else home
                placed.append((line, d))
            # uniqueness is per dealer: another dealer's customers are neither found nor named
            present = _ids_by(s, _CUSTOMER.c.external_id, [(d["owner_party_id"], d["external_id"]) for _, d in placed])
            this_run = _imported_by(s, run, list(present.values())) if present else set()
            taken = {("email", k): i for k, i in _ids_by(
                s, _CUSTOMER.c.email, [(d["owner_party_id"], d["email"]) for _, d in placed if d["email"]]).items()}
            phones = {("phone", k): i for k, i in _ids_by(
                s, _CUSTOMER.c.phone, [(d["owner_party_id"], d["phone"]) for _, d in placed if d["phone"]]).items()}
            rows, seen = [], set()
            for line, d in placed:
                ext, owner = d["external_id"], d["owner_party_id"]
                if (owner, ext) in present:
                    if present[(owner, ext)] in this_run:
                        report.reject(line, "external_id", f"invalid external_id {ext!r}: appears twice in this file")
                    else:
                        report.already_present += 1
                    continue
                problem = _duplicate(d, taken, seen)
                if problem:
                    report.reject(line, *problem)
                    continue
                if d["phone"] and (("phone", (owner, d["phone"])) in phones or ("phone", owner, d["phone"]) in seen):
                    other = phones.get(("phone", (owner, d["phone"])))
                    report.suspect(line, f"shares phone {d['phone']} with "
                                   f"{f'customer {other}' if other else 'an earlier line of this file'}")
                seen.update({("email", owner, d["email"]), ("phone", owner, d["phone"]), ("external_id", owner, ext)})
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
            by_ext = _ids_by(s, _CUSTOMER.c.external_id, [(r["owner_party_id"], r["external_id"]) for r in rows])
            ids = [by_ext[(r["owner_party_id"], r["external_id"])] for r in rows]
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


def _ids_by(s, column, keys: list[tuple[int, Any]]) -> dict:
    """``{(dealer, value): customer id}`` for the dealers' customers whose ``column`` has a value.

    Asked in IN-lists of a few fixed lengths (powers of two up to 512; the last list is
    padded by repeating a value). pysqlite keeps a prepared statement per distinct SQL
    text, up to 128 per connection, at ~200 bytes per parameter: one IN-list as long as
    whatever each chunk had left would pile up to ~50 MB per connection over a long
    import, and a chunk above SQLite's 32,766 parameters would fail.
    """
    wanted, found = set(keys), {}
    for part in _padded(sorted({value for _, value in keys})):
        for value, owner, cid in s.execute(select(column, _CUSTOMER.c.owner_party_id, _CUSTOMER.c.id)
                                           .where(column.in_(part))):
            if (owner, value) in wanted:
                found[(owner, value)] = cid
    return found


def _padded(values: list) -> Iterator[list]:
    return in_chunks(values, _IN_BATCH)


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


def _duplicate(d: dict, taken: dict, seen: set) -> tuple[str, str] | None:
    """(field, reason) if the row repeats an external id of this file, or an e-mail of its
    dealer's file or of this file for the same dealer. A shared phone is no refusal."""
    owner = d["owner_party_id"]
    if ("external_id", owner, d["external_id"]) in seen:
        return "external_id", f"invalid external_id {d['external_id']!r}: appears twice in this file"
    email = d["email"]
    if email and ("email", (owner, email)) in taken:
        return "email", f"invalid email {email!r}: already used by customer {taken[('email', (owner, email))]}"
    if email and ("email", owner, email) in seen:
        return "email", f"invalid email {email!r}: appears twice in this file"
    return None


def _owner_problem(owner: str | None, owners: dict[str, tuple[int, str]], party: int | None) -> tuple[str, str] | None:
    """(field, reason) if the row's owner_party cannot own it: unknown, no dealer, or not the importing dealer."""
    if owner is None:
        return None
    if owner not in owners:
        return "owner_party", f"invalid owner_party {owner!r}: no such party"
    owner_id, kind = owners[owner]
    if kind != "dealer":
        return "owner_party", f"invalid owner_party {owner!r}: is a {kind}; customers belong to a dealer"
    if party is not None and owner_id != party:
        return "owner_party", (f"invalid owner_party {owner!r}: a dealer imports its own customers only; "
                               "leave the column empty or name your own party")
    return None


def _audit(uow, customer_id: int, row: dict, run: str) -> dict:
    personal, plain = {}, {"import_run": run}
    fields = uow.crm.customers.fields
    for k, v in row.items():
        if k == "custom" and v:
            for name, value in v.items():
                (personal if fields[name].personal else plain)[name] = [None, jsonable(value)]
        elif v is not None and k != "custom":
            (personal if k in fields and fields[k].personal else plain)[k] = [None, v if type(v) is str else jsonable(v)]
    return dict(at=uow.now, actor_id=uow.actor_id, operation="import.customers", action="insert",
                entity="customer", entity_id=customer_id, customer_id=customer_id,
                changes=plain, personal_changes=personal or None)


def _decoded(content: str | bytes, source: str) -> str:
    if isinstance(content, str):
        return content.removeprefix("\ufeff")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise ValidationError("body", source, f"is not UTF-8 text (line {line}); save it as 'CSV UTF-8' and "
                              "import again") from None


def _check_header(header: list[str], known: tuple[str, ...], what: str, source: str) -> None:
    """Every column is one the import reads, named once: a column it does not know would be
    dropped without a word (``Email``, ``Telefon``), and of a column named twice only the last
    value would be kept."""
    seen: set[str] = set()
    for position, column in enumerate(header, 1):
        if column in seen:
            raise ValidationError(what, source, f"names the column {column!r} twice (column {position}); a value "
                                  "of one of them would be lost")
        seen.add(column)
    unknown = [c for c in header if c not in known]
    if unknown:
        hints = {c: k for c in unknown for k in known if c.strip().lower() == k}
        named = ", ".join(repr(c) + (f" (did you mean {hints[c]!r}?)" if c in hints else "") if c.strip()
                          else f"an unnamed column {header.index(c) + 1}" for c in unknown)
        raise ValidationError(what, source, f"has columns the import does not read: {named}; their values would "
                              f"be lost. Known columns: {', '.join(known)}")


class _Lines:
    """The document's lines for the csv reader, noting where each record begins (the reader
    says only where one ends, and a quoted field may span lines)."""

    def __init__(self, stream):
        self._lines, self._served, self._first = iter(stream), 0, None

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self._served += 1
        if self._first is None and line.strip("\r\n"):  # blank lines are skipped, not rows
            self._first = self._served
        return line

    def start(self) -> int | None:
        """The first line of the record read since the last call."""
        first, self._first = self._first, None
        return first


def _rows(reader, source: str, what: str, lines: _Lines | None = None) -> Iterator[tuple[int, dict]]:
    """The document's rows with the line each starts on; an undecodable or malformed file stops
    with the line it broke at (chunks before it stay imported, and a re-run after fixing the
    file skips them)."""
    try:
        for row in reader:
            start = lines.start() if lines is not None else None
            yield start or reader.line_num, row
    except UnicodeDecodeError:
        raise ValidationError(what, source, f"is not UTF-8 text (after line {reader.line_num}); "
                              "save it as 'CSV UTF-8' and import again") from None
    except csv.Error as exc:
        line = getattr(reader, "reader", reader).line_num  # a DictReader counts only the rows it returned
        raise ValidationError(what, source, f"line {line}: {exc}") from None
