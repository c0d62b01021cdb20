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

A file is read as it was saved (``csv_dialect``): comma, semicolon or tab, UTF-8 with or
without a byte-order mark, UTF-16, or Windows-1252 with a warning. A row may carry the unit
the customer bought (``sku`` and the asset columns); ``assets``/``assets_text`` import a
list of units for customers already filed (``import_assets``). Each row is all or nothing:
a customer whose unit cannot be filed is rejected with it.
"""

from __future__ import annotations

from typing import Any

import csv
import io
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path

import attrs
from sqlalchemy import insert, select

from ..audit import jsonable
from ..db.models import Asset, AuditRecord, Customer, Interest, Party
from ..errors import DealerCrmError, ImportInterrupted, ValidationError
from ..events import CustomersImported
from ..access import require
from ..fields import ASSET, CUSTOMER, CleanContext, FieldSet
from . import import_assets
from .base import Service
from .csv_dialect import (ENCODING_NAMES, Dialect, bytes_chunks, dialect_of, encoding_of, file_chunks,
                          spreadsheet_value)
from .interests import normalize_tag

_CUSTOMER, _AUDIT, _INTEREST, _ASSET = Customer.__table__, AuditRecord.__table__, Interest.__table__, Asset.__table__

REQUIRED_COLUMNS = ("external_id", "name")
#: columns that are no field of the customer: where the file goes and what it mentions
EXTRA_COLUMNS = ("owner_party", "interests")
#: the asset import: the customer by its external id (and dealer), the unit by its product's SKU
ASSET_REQUIRED_COLUMNS = ("external_id", import_assets.SKU)


def import_columns(fields: FieldSet, assets: FieldSet = ASSET) -> tuple[str, ...]:
    """Every column the customer import reads: the importable fields', plugins' included, and
    those of the unit the customer bought (a customer field of the same name wins)."""
    own = (*fields.columns, *EXTRA_COLUMNS)
    return (*own, *(c for c in import_assets.asset_columns(assets) if c not in own))


def asset_import_columns(assets: FieldSet = ASSET) -> tuple[str, ...]:
    """Every column the asset import reads."""
    return ("external_id", "owner_party", *import_assets.asset_columns(assets))


KNOWN_COLUMNS = import_columns(CUSTOMER)
ASSET_COLUMNS = asset_import_columns()


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
    #: "customers" (a customer list, perhaps with a unit per row) or "assets" (a list of units)
    kind: str = "customers"
    #: how the file was read: ``Dialect.described`` ("Windows-1252, semicolon-separated")
    read_as: str | None = None
    #: what the person importing should check (a file read as Windows-1252)
    warnings: list[str] = attrs.field(factory=list)
    #: columns left out because the caller said so (``ignore_columns``)
    ignored_columns: list[str] = attrs.field(factory=list)
    #: a customer list with asset columns: units filed, and units the customer already had
    assets_imported: int = 0
    assets_already_present: int = 0
    has_assets: bool = False

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
        if self.kind == "assets":
            return (f"{self.rows} rows: {self.imported} assets imported, {self.already_present} already present, "
                    f"{len(self.rejected)} rejected")
        units = (f"; {self.assets_imported} assets imported, {self.assets_already_present} already present"
                 if self.has_assets else "")
        return (f"{self.rows} rows: {self.imported} imported, {self.already_present} already present, "
                f"{len(self.rejected)} rejected" + units + (f", {len(self.suspects)} suspected duplicates (shared "
                                                            "phone)" if self.suspects else ""))

    def _counts(self) -> tuple:
        return (self.rows, self.imported, self.already_present, list(self.rejected), dict(self.fields),
                list(self.suspects), self.assets_imported, self.assets_already_present)

    def _restore(self, counts: tuple) -> None:
        (self.rows, self.imported, self.already_present, self.rejected, self.fields, self.suspects,
         self.assets_imported, self.assets_already_present) = counts


def count_rows(path: Path) -> int:
    with path.open("rb") as fh:
        return max(0, sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b"")) - 1)


@attrs.frozen
class _Kind:
    """What differs between the customer list and the asset list."""

    name: str
    required: tuple[str, ...]
    known: tuple[str, ...]
    operation: str
    doing: str


class CustomerImport(Service):
    """Importing lists: customers (``run``, ``run_text``) and their units (``assets``, ``assets_text``)."""

    def run(self, path: str | os.PathLike, *, by: int, chunk_size: int = 2000,
            on_progress: Callable[[int], None] | None = None,
            ignore_columns: Iterable[str] = ()) -> ImportReport:
        r"""Import a customer list from a file, streamed (``dealercrm customers import``).

        The file may be comma-, semicolon- or tab-separated, UTF-8 (with or without a
        byte-order mark), UTF-16 or Windows-1252 (with a warning in the report). A row may
        carry the unit the customer bought (``sku`` and the asset columns). Every row is
        checked; the good ones are filed in chunks, each chunk its own transaction, the bad
        ones reported with their line and field. A re-run skips the external ids already
        there, so an interrupted import is simply run again. A dealer files its own
        customers (a row naming another ``owner_party`` is rejected), the system any dealer's.
        Any column the import does not read refuses the file (its values would be lost)
        unless ``ignore_columns`` names it. Raises ``CustomersImported`` per chunk.

        Args:
            path: The file: a header naming at least ``external_id`` and ``name``.
            by: The acting actor's id: a dealer's person, or the system.
            chunk_size: Rows per transaction.
            on_progress: Called with each chunk's number of rows (a progress bar).
            ignore_columns: Columns to leave out on purpose (listed in the report).

        Returns:
            What happened (``ImportReport``): ``rows``, ``imported``, ``already_present``,
            ``rejections`` (line, field, reason), ``suspects``, ``read_as``, ``warnings``,
            ``ignored_columns``, ``assets_imported``.

        Raises:
            NotFound: ``by`` is no actor.
            NotPermitted: The actor is no dealer's (nor the system), or ``by`` is deactivated.
            ValidationError: The file is missing, no regular file, in no readable encoding or
                empty, lacks a required column, or has a column the import does not read.
            ImportInterrupted: A chunk failed after earlier ones were committed (its ``report``
                says what was filed; running it again files the rest).
            Vetoed: A plugin refused the first chunk (nothing was written).

        Examples:
            >>> from pathlib import Path
            >>> _ = Path("customers.csv").write_text("external_id;name\nDMS-7;Dora Lind\n", encoding="utf-8")
            >>> report = crm.imports.run("customers.csv", by=lea)
            >>> (report.rows, report.imported)
            (1, 1)
        """
        return self._file(path, self._customers_kind(), by, chunk_size, on_progress, ignore_columns)

    def run_text(self, content: str | bytes, *, by: int, source: str = "upload", chunk_size: int = 2000,
                 encoding: str | None = None, ignore_columns: Iterable[str] = ()) -> ImportReport:
        r"""Import a customer list held in memory (an upload), checked whole before any row
        is written; errors about the document as a whole name it as field ``body``.

        Otherwise as ``run``: rows reported one by one, chunks committed one by one, a re-run
        skips what is there.

        Args:
            content: The document, text or bytes.
            by: The acting actor's id: a dealer's person, or the system.
            source: What to call it in the report and errors (a file name).
            chunk_size: Rows per transaction.
            encoding: What the sender declared (bytes are decoded with it); without one the
                encoding is found as for a file.
            ignore_columns: Columns to leave out on purpose.

        Returns:
            What happened (``ImportReport``).

        Raises:
            NotFound: ``by`` is no actor.
            NotPermitted: The actor is no dealer's (nor the system), or ``by`` is deactivated.
            ValidationError: The document is in no readable encoding, not readable CSV, empty,
                lacks a required column, or has a column the import does not read (nothing is
                written).
            ImportInterrupted: A chunk failed after earlier ones were committed.
            Vetoed: A plugin refused the first chunk (nothing was written).

        Examples:
            >>> report = crm.imports.run_text("external_id,name,email\n"
            ...                               "DMS-1,Bea Kurz,bea@example.org\n"
            ...                               "DMS-2,Cem Oz,not-an-address\n", by=lea)
            >>> (report.imported, [(r["line"], r["field"]) for r in report.rejections])
            (1, [(3, 'email')])
            >>> crm.imports.run_text("external_id,name\nDMS-1,Bea Kurz\n", by=lea).already_present
            1
        """
        return self._text(content, self._customers_kind(), by, source, chunk_size, encoding, ignore_columns)

    def assets(self, path: str | os.PathLike, *, by: int, chunk_size: int = 2000,
               on_progress: Callable[[int], None] | None = None,
               ignore_columns: Iterable[str] = ()) -> ImportReport:
        r"""Import a list of units customers bought (``dealercrm assets import``).

        One row per unit: the customer by its ``external_id`` (and ``owner_party``, as in the
        customer list), the product by its ``sku``, with ``serial_number``, ``purchased_on``,
        ``handed_over_on``, ``warranty_until`` and ``price``. A row is all or nothing. A unit
        the customer already has (same product and serial number, or same dates) is skipped:
        a re-run is harmless. A dealer records units of its own customers only.

        Args:
            path: The file: a header naming at least ``external_id`` and ``sku``.
            by: The acting actor's id: a dealer's person, or the system.
            chunk_size: Rows per transaction.
            on_progress: Called with each chunk's number of rows (a progress bar).
            ignore_columns: Columns to leave out on purpose.

        Returns:
            What happened (``ImportReport``): ``imported`` (units), ``already_present``,
            ``rejections``.

        Raises:
            NotFound: ``by`` is no actor.
            NotPermitted: The actor is no dealer's (nor the system), or ``by`` is deactivated.
            ValidationError: The file is missing, unreadable or empty, lacks a required column,
                or has a column the import does not read.
            ImportInterrupted: A chunk failed after earlier ones were committed.
            Vetoed: A plugin refused the first chunk (nothing was written).

        Examples:
            >>> from pathlib import Path
            >>> _ = crm.imports.run_text("external_id,name\nDMS-9,Ida Berg\n", by=lea)
            >>> _ = crm.products.add("WM-9", "Washer 9", by=crm.system)
            >>> _ = Path("units.csv").write_text("external_id,sku,purchased_on\nDMS-9,WM-9,2026-01-05\n")
            >>> crm.imports.assets("units.csv", by=lea).imported
            1
        """
        return self._file(path, self._assets_kind(), by, chunk_size, on_progress, ignore_columns)

    def assets_text(self, content: str | bytes, *, by: int, source: str = "upload", chunk_size: int = 2000,
                    encoding: str | None = None, ignore_columns: Iterable[str] = ()) -> ImportReport:
        r"""``assets`` for a list held in memory (an upload), checked whole first (as ``run_text``).

        Args:
            content: The document, text or bytes.
            by: The acting actor's id: a dealer's person, or the system.
            source: What to call it in the report and errors (a file name).
            chunk_size: Rows per transaction.
            encoding: What the sender declared; without one the encoding is found.
            ignore_columns: Columns to leave out on purpose.

        Returns:
            What happened (``ImportReport``).

        Raises:
            NotFound: ``by`` is no actor.
            NotPermitted: The actor is no dealer's (nor the system), or ``by`` is deactivated.
            ValidationError: The document is unreadable, empty, lacks a required column, or
                has a column the import does not read (nothing is written).
            ImportInterrupted: A chunk failed after earlier ones were committed.
            Vetoed: A plugin refused the first chunk (nothing was written).

        Examples:
            >>> _ = crm.imports.run_text("external_id,name\nDMS-8,Jon Falk\n", by=lea)
            >>> _ = crm.products.add("WM-8", "Washer 8", by=crm.system)
            >>> crm.imports.assets_text("external_id;sku;serial_number\nDMS-8;WM-8;SN-1\n", by=lea).imported
            1
        """
        return self._text(content, self._assets_kind(), by, source, chunk_size, encoding, ignore_columns)

    def _customers_kind(self) -> _Kind:
        return _Kind("customers", REQUIRED_COLUMNS, import_columns(self.crm.customers.fields, self.crm.fields.asset),
                     "import.customers", "import customers")

    def _assets_kind(self) -> _Kind:
        return _Kind("assets", ASSET_REQUIRED_COLUMNS, asset_import_columns(self.crm.fields.asset),
                     "import.assets", "import assets")

    def _file(self, path, kind: _Kind, by: int, chunk_size: int, on_progress, ignore_columns) -> ImportReport:
        self._importer(by, kind)
        path = Path(path)
        try:
            if path.exists() and not path.is_file():  # a directory; a device (/dev/zero) or pipe that never ends
                raise ValidationError("file", str(path), "is not a regular file: save the list as a file and "
                                      "import that (an upload: run_text)")
            encoding, warnings = encoding_of(file_chunks(path), "file", str(path))
            with path.open(newline="", encoding=encoding) as head:
                dialect = dialect_of(head, encoding, warnings, kind.known)
            fh = path.open(newline="", encoding=encoding)
        except OSError as exc:
            raise ValidationError("file", str(path), exc.strerror or str(exc)) from None
        with fh:
            return self._run(fh, ImportReport(source=str(path), kind=kind.name), "file", by, kind, dialect,
                             chunk_size, on_progress, ignore_columns)

    def _text(self, content, kind: _Kind, by: int, source: str, chunk_size: int, encoding: str | None,
              ignore_columns) -> ImportReport:
        self._importer(by, kind)
        text, encoding, warnings = _decoded(content, source, encoding)
        dialect = dialect_of(io.StringIO(text, newline=""), encoding, warnings, kind.known)
        for _ in _rows(csv.reader(io.StringIO(text, newline=""), delimiter=dialect.delimiter), source, "body"):
            pass  # a malformed line refuses the whole document before anything is written
        return self._run(io.StringIO(text, newline=""), ImportReport(source=source, kind=kind.name), "body", by,
                         kind, dialect, chunk_size, None, ignore_columns)

    def _importer(self, by: int, kind: _Kind) -> None:
        """Importing customers is registering them in bulk, importing units recording them: a
        dealer files its own (a row without ``owner_party`` is that dealer's, a row naming
        another party is rejected), the system for any dealer. Checked again in every chunk's
        own transaction."""
        with self.read(by) as uow:
            require(uow.principal, "dealer", doing=kind.doing)

    def _run(self, stream, report: ImportReport, what: str, by: int, kind: _Kind, dialect: Dialect,
             chunk_size: int, on_progress: Callable[[int], None] | None, ignore_columns) -> ImportReport:
        source = report.source
        report.read_as, report.warnings = dialect.described, list(dialect.warnings)
        lines = _Lines(stream)
        if dialect.sep_line:
            next(lines)  # Excel's "sep=;": no row, and no header either
        reader = csv.DictReader(lines, delimiter=dialect.delimiter)
        try:
            header = reader.fieldnames
            lines.start()  # rows begin after the header
        except UnicodeDecodeError:
            raise ValidationError(what, source, "is not UTF-8 text; save it as 'CSV UTF-8' and import again") from None
        except csv.Error as exc:
            raise ValidationError(what, source, f"line 1: {exc}") from None
        if not header:
            raise ValidationError(what, source, "is empty: its first line must name the columns, at least "
                                  f"{','.join(kind.required)}")
        missing = [c for c in kind.required if c not in header]
        if missing:
            raise ValidationError(what, source, f"has no column {missing[0]!r} (header: {header}; read as "
                                  f"{dialect.described})")
        report.ignored_columns = _check_header(header, kind.known, what, source, tuple(ignore_columns))
        report.has_assets = kind.name == "customers" and import_assets.SKU in header
        run = uuid.uuid4().hex  # marks this run's audit rows: a repeat later in the file is no re-run
        seen_units: dict[tuple, int] = {}  # the asset list: each unit of this run, by the line that filed it
        pacing = PACING.get()
        committed = False
        for chunk in _chunked(_rows(reader, source, what, lines), pacing.rows if pacing is not None else chunk_size):
            before = report._counts()
            try:
                if kind.name == "customers":
                    cleaned = self._cleaned(chunk, report)  # checking rows needs no database: outside the transaction
                    self._import_chunk(cleaned, report, by, run)
                else:
                    cleaned = self._cleaned_units(chunk, report)
                    self._import_units(cleaned, report, by, seen_units)
            except Exception as exc:
                if not committed:
                    raise  # nothing was written: the error as it is
                # the chunks before this one stay: say so, with what they filed (not this chunk's counts)
                report._restore(before)
                report.rejected.sort()
                raise ImportInterrupted(report, chunk[0][0], exc) from exc
            committed = True
            if on_progress:
                on_progress(len(chunk))
        report.rejected.sort()
        return report

    def _context(self) -> CleanContext:
        return CleanContext(self.crm.settings.default_region, today=self.crm.clock.now().date())

    def _plain(self, line: int, row: dict[str | None, Any]) -> None:  # None: csv's key for extra fields
        """A row of as many fields as the header, none running over a line break."""
        if None in row:
            raise ValidationError("row", line, f"has {len(row[None]) + len(row) - 1} fields, the header has {len(row) - 1}")
        broken = next((column for column, value in row.items() if value and ("\n" in value or "\r" in value)), None)
        if broken is not None:
            # no field of a customer list holds a line break: a quote opened and not closed has taken the
            # lines after it into this field (they would have been filed as one name, silently)
            raise ValidationError("row", line, f"field {broken!r} runs over the lines after line {line}: a quote "
                                  "(\") opened there is not closed where the field ends, so the rows after it were "
                                  "read into it; close or remove the quote and import again")

    def _clean(self, line: int, row: dict[str | None, Any]) -> dict:
        self._plain(line, row)
        ext = (row.get("external_id") or "").strip()
        if not ext:
            raise ValidationError("external_id", ext, "is required: it makes a re-run import skip this row")
        fields = self.crm.customers.fields
        values = {f.name: spreadsheet_value(f, value) if (value := (row.get(column) or "").strip()) else None
                  for column, f in fields.columns.items()}
        data, custom = fields.split(self.crm.customers.clean(values | {"kind": (row.get("kind") or "person").strip(),
                                                                       "external_id": ext}, only_editable=False))
        data["custom"] = custom or None
        data["_owner"] = (row.get("owner_party") or "").strip() or None
        data["_interests"] = [normalize_tag(t) for t in (row.get("interests") or "").split(";") if t.strip()]
        data["_asset"] = import_assets.asset_values(row, self.crm.fields.asset, self._context(), fields.columns)
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

    def _cleaned_units(self, chunk: list[tuple[int, dict]], report: ImportReport) -> list[tuple[int, dict]]:
        """The asset list's rows validated: the customer's external id and dealer, and the unit."""
        report.rows += len(chunk)
        cleaned: list[tuple[int, dict]] = []
        ctx = self._context()
        for line, row in chunk:
            try:
                self._plain(line, row)
                ext = (row.get("external_id") or "").strip()
                if not ext:
                    raise ValidationError("external_id", ext, "is required: the external id of the customer "
                                          "who owns the unit")
                unit = import_assets.asset_values(row, self.crm.fields.asset, ctx)
                if unit is None:
                    raise ValidationError(import_assets.SKU, "", "is required: the product's SKU in the catalogue")
                cleaned.append((line, {"external_id": ext, "_owner": (row.get("owner_party") or "").strip() or None,
                                       "_asset": unit}))
            except DealerCrmError as exc:
                report.reject(line, getattr(exc, "field", "row"), str(exc))
        return cleaned

    def _placed(self, uow, cleaned: list[tuple[int, dict]], report: ImportReport) -> list[tuple[int, dict]]:
        """Each row with the dealer whose file it is about (``owner_party_id``); a row whose
        ``owner_party`` cannot be that (unknown, no dealer, not the importing dealer) is rejected."""
        party = None if uow.principal.is_system else uow.principal.party_id
        owners = {name: (pid, kind) for name, pid, kind in uow.session.execute(select(Party.name, Party.id, Party.kind))}
        home = party  # the importing dealer's; for the system, the home dealer (looked up if a row needs it)
        placed = []
        for line, d in cleaned:
            problem = _owner_problem(d["_owner"], owners, party)
            if problem:
                report.reject(line, *problem)
                continue
            if d["_owner"] is None and home is None:
                home = self.crm.parties.home_dealer(uow)
            d["owner_party_id"] = owners[d["_owner"]][0] if d["_owner"] else home
            placed.append((line, d))
        return placed

    def _import_chunk(self, cleaned: list[tuple[int, dict]], report: ImportReport, by: int,
                      run: str) -> None:
        with self.uow(by, "import.customers") as uow:
            require(uow.principal, "dealer", doing="import customers")
            s = uow.session
            placed = self._placed(uow, cleaned, report)
            # each row's unit checked before anything is written: a customer is not filed without it
            products = import_assets.products_by_sku(s, {d["_asset"][import_assets.SKU] for _, d in placed
                                                         if d["_asset"]})
            units: dict[int, dict] = {}  # asset rows by line; the customer's id is set once it is known
            for line, d in placed:
                if d["_asset"]:
                    unit = import_assets.try_built(line, report, 0, d["owner_party_id"], d["_asset"], products,
                                                   uow.now)
                    if unit is not None:
                        units[line] = unit
            placed = [(line, d) for line, d in placed if not d["_asset"] or line in units]
            # uniqueness is per dealer: another dealer's customers are neither found nor named
            present = _ids_by(s, _CUSTOMER.c.external_id, [(d["owner_party_id"], d["external_id"]) for _, d in placed])
            this_run = _imported_by(s, run, list(present.values())) if present else set()
            taken = {("email", k): i for k, i in _ids_by(
                s, _CUSTOMER.c.email, [(d["owner_party_id"], d["email"]) for _, d in placed if d["email"]]).items()}
            phones = {("phone", k): i for k, i in _ids_by(
                s, _CUSTOMER.c.phone, [(d["owner_party_id"], d["phone"]) for _, d in placed if d["phone"]]).items()}
            rows: list[dict] = []
            lines: list[int] = []
            seen: set = set()
            kept_units: list[dict] = []  # units of customers already filed
            for line, d in placed:
                ext, owner = d["external_id"], d["owner_party_id"]
                if (owner, ext) in present:
                    if present[(owner, ext)] in this_run:
                        report.reject(line, "external_id", f"invalid external_id {ext!r}: appears twice in this file")
                    else:
                        report.already_present += 1
                        if line in units:
                            units[line]["customer_id"] = present[(owner, ext)]
                            kept_units.append(units[line])
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
                lines.append(line)
            ids = self._insert_customers(uow, rows, run, report) if rows else []
            new_units = [units[line] for line in lines if line in units]
            for cid, line in zip(ids, lines):
                if line in units:
                    units[line]["customer_id"] = cid
            had = _unit_keys(s, {u["customer_id"] for u in kept_units})
            fresh = [u for u in kept_units if import_assets.key(u) not in had]
            report.assets_already_present += len(kept_units) - len(fresh)
            _file_units(uow, new_units + fresh, "import.customers")
            uow.commit()
            report.imported += len(ids)
            report.assets_imported += len(new_units) + len(fresh)

    def _insert_customers(self, uow, rows: list[dict], run: str, report: ImportReport) -> list[int]:
        """File the new customers with their audit rows and interests; their ids, in order."""
        s = uow.session
        interests = [r.pop("_interests") for r in rows]
        for r in rows:
            r.pop("_owner")
            r.pop("_asset")
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
        return ids

    def _import_units(self, cleaned: list[tuple[int, dict]], report: ImportReport, by: int,
                      seen: dict[tuple, int]) -> None:
        """One chunk of the asset list: each unit filed for its customer, once."""
        with self.uow(by, "import.assets") as uow:
            require(uow.principal, "dealer", doing="import assets")
            s = uow.session
            placed = self._placed(uow, cleaned, report)
            found = _ids_by(s, _CUSTOMER.c.external_id, [(d["owner_party_id"], d["external_id"]) for _, d in placed])
            merged: dict[int, int | None] = dict(s.execute(select(Customer.id, Customer.merged_into_id).where(
                Customer.id.in_(sorted(set(found.values())) or [-1]), Customer.merged_into_id.is_not(None))).all())
            names: dict[int, str] = dict(s.execute(select(Party.id, Party.name)).all())
            products = import_assets.products_by_sku(s, {d["_asset"][import_assets.SKU] for _, d in placed})
            units: list[tuple[int, dict]] = []
            for line, d in placed:
                customer = found.get((d["owner_party_id"], d["external_id"]))
                if customer is None:
                    report.reject(line, "external_id", f"invalid external_id {d['external_id']!r}: no customer of "
                                  f"{names.get(d['owner_party_id'], 'the dealer')} has it; import the customer first")
                    continue
                if customer in merged:
                    report.reject(line, "external_id", f"invalid external_id {d['external_id']!r}: customer "
                                  f"{customer} was merged into customer {merged[customer]}; name that one's")
                    continue
                unit = import_assets.try_built(line, report, customer, d["owner_party_id"], d["_asset"], products,
                                               uow.now)
                if unit is not None:
                    units.append((line, unit))
            had = _unit_keys(s, {u["customer_id"] for _, u in units})
            fresh = []
            for line, unit in units:
                k = import_assets.key(unit)
                if k in seen:
                    report.reject(line, "row", f"invalid row {line}: the same unit as line {seen[k]} (same customer, "
                                  "product and serial number or dates); give each unit its serial number")
                    continue
                seen[k] = line
                if k in had:
                    report.already_present += 1
                else:
                    fresh.append(unit)
            _file_units(uow, fresh, "import.assets")
            uow.commit()
            report.imported += len(fresh)


def _unit_keys(s, customer_ids: set[int]) -> set[tuple]:
    """What makes each unit these customers already have itself (``import_assets.key``)."""
    found: set[tuple] = set()
    for part in _padded(sorted(customer_ids)):
        found.update(import_assets.key(r) for r in s.execute(select(*import_assets.KEY_COLUMNS).where(
            _ASSET.c.customer_id.in_(part))).mappings())
    return found


def _file_units(uow, rows: list[dict], operation: str) -> None:
    """Insert the units with their audit rows and announce each (``import_assets``).

    Core executemany, as for the customers (building an ORM object per unit and auditing it
    in the flush listener took three times as long). The ids are read back by what makes
    each unit itself among the rows of this transaction's instant: a chunk holds no two
    units alike (a repeat is rejected, a unit the customer had is skipped).
    """
    if not rows:
        return
    s = uow.session
    s.execute(insert(_ASSET), rows)
    ids: dict[tuple, int] = {}
    for part in _padded(sorted({r["customer_id"] for r in rows})):
        for found in s.execute(select(_ASSET.c.id, *import_assets.KEY_COLUMNS).where(
                _ASSET.c.customer_id.in_(part), _ASSET.c.created_at == uow.now)).mappings():
            ids[import_assets.key(found)] = max(found["id"], ids.get(import_assets.key(found), 0))
    filed = [ids[import_assets.key(r)] for r in rows]
    s.execute(insert(_AUDIT), [import_assets.audit_row(uow, i, r, operation) for i, r in zip(filed, rows)])
    import_assets.announce(uow, filed, rows)


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
    personal: dict[str, Any] = {}
    plain: dict[str, Any] = {"import_run": run}
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


def _decoded(content: str | bytes, source: str, encoding: str | None) -> tuple[str, str, tuple[str, ...]]:
    """(the text, its encoding, warnings): decoded as declared, else as found (``csv_dialect``)."""
    if isinstance(content, str):
        return content.removeprefix("\ufeff"), "utf-8", ()
    warnings: tuple[str, ...] = ()
    if encoding is None:
        encoding, warnings = encoding_of(bytes_chunks(content), "body", source)
    try:
        return content.decode(encoding).removeprefix("\ufeff"), encoding, warnings
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise ValidationError("body", source, f"is not {ENCODING_NAMES.get(encoding, encoding)} text (line {line}) "
                              "although it says so; send it in the charset the Content-Type names") from None


def _comparable(column: str) -> str:
    """``E-Mail``, ``External ID`` and ``email``, ``external_id`` compare alike: for hints."""
    return "".join(ch for ch in column.lower() if ch.isalnum())


def _check_header(header: Sequence[str], known: tuple[str, ...], what: str, source: str,
                  ignore: tuple[str, ...] = ()) -> list[str]:
    """Every column is one the import reads, named once, or one the caller said to leave out
    (returned): a column it does not know would be dropped without a word (``Email``,
    ``Telefon``), and of a column named twice only the last value would be kept."""
    seen: set[str] = set()
    for position, column in enumerate(header, 1):
        if column in seen:
            raise ValidationError(what, source, f"names the column {column!r} twice (column {position}); a value "
                                  "of one of them would be lost")
        seen.add(column)
    absent = [c for c in ignore if c not in header]
    if absent:
        raise ValidationError("ignore_columns", absent[0], f"is no column of {source} (its columns: "
                              f"{', '.join(header)})")
    unknown = [c for c in header if c not in known and c not in ignore]
    if unknown:
        hints = {c: k for c in unknown for k in known if _comparable(c) == _comparable(k)}
        named = ", ".join(repr(c) + (f" (did you mean {hints[c]!r}?)" if c in hints else "") if c.strip()
                          else f"an unnamed column {header.index(c) + 1}" for c in unknown)
        raise ValidationError(what, source, f"has columns the import does not read: {named}; their values would "
                              f"be lost. Known columns: {', '.join(known)}; to leave a column out on purpose, name "
                              "it as one to ignore")
    return [c for c in header if c in ignore]


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
