"""How a CSV file was saved: its encoding and delimiter are found, not assumed.

A dealer's list comes out of a spreadsheet, and what Excel calls "CSV" depends on the
machine: on a German Windows "CSV (Trennzeichen-getrennt)" is Windows-1252 with semicolons
(a comma is the decimal separator there), "CSV UTF-8" adds a byte-order mark, "Unicode
text" is UTF-16 with tabs, and LibreOffice asks. Refusing all but comma-separated UTF-8
sent people to a text editor; guessing wrong would file "MÃ¼ller". So:

- the encoding: a byte-order mark (UTF-8 or UTF-16) says it; else the whole document must
  decode as UTF-8, else as Windows-1252 — with a warning that names the first line with a
  non-ASCII character as read, so a person can see whether "Müller" came out right;
  anything else is refused naming the line;
- the delimiter: the one of comma, semicolon and tab that splits the header line into the
  most columns the import knows (Excel's ``sep=;`` first line, if present, decides instead);
- values as a German spreadsheet writes them: a date ``14.02.1978`` (dotted dates are day
  first wherever they are used) and an amount ``449,90`` (decimal comma) are read, for the
  fields declared as dates and amounts (``dealercrm.fields``). A slashed date (``02/03/2026``)
  stays refused: it means different days in different countries.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import attrs

from ..errors import ValidationError
from ..fields import Field

DELIMITERS = (",", ";", "\t")
NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_CHUNK = 1 << 20
_SEP_LINE = re.compile(r'^"?sep=(.)"?\s*$')
_DOTTED = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_SLASHED = re.compile(r"^\d{1,2}/\d{1,2}/\d{2,4}$")
_DECIMAL_COMMA = re.compile(r"^-?\d{1,3}(\.\d{3})*,\d{1,2}$|^-?\d+,\d{1,2}$")


@attrs.frozen
class Dialect:
    """What was found: ``encoding`` (a Python codec name), ``delimiter``, whether the first
    line was Excel's ``sep=`` hint (skipped), and warnings to pass on to the person importing."""

    encoding: str
    delimiter: str = ","
    sep_line: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def described(self) -> str:
        """``"Windows-1252, semicolon-separated"``: for the report."""
        return f"{ENCODING_NAMES.get(self.encoding, self.encoding)}, {NAMES[self.delimiter]}-separated"


ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with byte-order mark", "utf-16": "UTF-16",
                  "cp1252": "Windows-1252"}


def bom_encoding(head: bytes) -> str | None:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _decodes(chunks: Iterable[bytes], encoding: str) -> tuple[bool, int]:
    """(whether every byte decodes, the line of the first that does not)."""
    decoder, line = codecs.getincrementaldecoder(encoding)(), 1
    for chunk in chunks:
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            return False, line + chunk.count(b"\n", 0, exc.start)
        line += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False, line
    return True, line


def _first_non_ascii(chunks: Iterable[bytes], encoding: str) -> tuple[int, str] | None:
    """The first line holding a non-ASCII byte, decoded (shortened): what the warning shows."""
    line = 1
    for chunk in chunks:
        at = next((i for i, b in enumerate(chunk) if b > 0x7F), None)
        if at is None:
            line += chunk.count(b"\n")
            continue
        start = chunk.rfind(b"\n", 0, at) + 1
        end = chunk.find(b"\n", at)
        text = chunk[start:end if end >= 0 else len(chunk)].decode(encoding, errors="replace").strip()
        return line + chunk.count(b"\n", 0, at), text[:80] + ("…" if len(text) > 80 else "")
    return None


def encoding_of(chunks, what: str, source: str) -> tuple[str, tuple[str, ...]]:
    """The encoding of the bytes ``chunks()`` yields (a function: called once per pass).

    UTF-8 when every byte is; else Windows-1252, with a warning; else refused naming the line.
    """
    head = next(iter(chunks()), b"")
    bom = bom_encoding(head)
    if bom:
        return bom, ()
    ok, _ = _decodes(chunks(), "utf-8")
    if ok:
        return "utf-8", ()
    ok, line = _decodes(chunks(), "cp1252")
    if not ok:
        raise ValidationError(what, source, f"is neither UTF-8 nor Windows-1252 text (line {line}); save it as "
                              "'CSV UTF-8' and import again")
    first = _first_non_ascii(chunks(), "cp1252")
    shown = f"; line {first[0]} reads {first[1]!r}" if first else ""
    return "cp1252", (f"{source} is not UTF-8: read as Windows-1252, the encoding Excel gives 'CSV' on Windows. "
                      f"Check that accents and umlauts came out right{shown}; if not, save the file as "
                      "'CSV UTF-8' and import again",)


def file_chunks(path: Path):
    def chunks() -> Iterator[bytes]:
        with path.open("rb") as fh:
            yield from iter(lambda: fh.read(_CHUNK), b"")
    return chunks


def bytes_chunks(data: bytes):
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), _CHUNK):
            yield data[start:start + _CHUNK]
    return chunks


def sep_hint(first_line: str) -> str | None:
    """The delimiter Excel's ``sep=;`` first line names, if the line is one."""
    found = _SEP_LINE.match(first_line.strip("\r\n\ufeff"))
    return found.group(1) if found and found.group(1) in DELIMITERS else None


def delimiter_of(header: str, known: Iterable[str]) -> str:
    """The delimiter that splits ``header`` into the most known column names; among equals,
    the one giving more columns; a header with none of them is comma-separated."""
    names = {k.lower() for k in known}

    def score(delimiter: str) -> tuple[int, int, int]:
        cells = next(csv.reader([header], delimiter=delimiter), [])
        return (sum(c.strip().lower() in names for c in cells), len(cells), -DELIMITERS.index(delimiter))

    return max(DELIMITERS, key=score)


def dialect_of(lines: Iterable[str], encoding: str, warnings: tuple[str, ...], known: Iterable[str]) -> Dialect:
    """The dialect from the document's first lines (decoded): a ``sep=`` line, else the header."""
    for line in lines:
        if not line.strip("\r\n"):
            continue
        hint = sep_hint(line)
        if hint is not None:
            return Dialect(encoding, hint, True, warnings)
        return Dialect(encoding, delimiter_of(line.rstrip("\r\n"), known), False, warnings)
    return Dialect(encoding, ",", False, warnings)


# -- values as a spreadsheet writes them ------------------------------------------------


def spreadsheet_value(f: Field, value: str) -> str:
    """``value`` of a CSV cell in the form the field's cleaner reads: a dotted date
    (``14.02.1978``, day first) as ``1978-02-14``, a decimal comma (``1.234,50``) as
    ``1234.50``; anything else as it is, for the cleaner to judge."""
    if f.type is date:
        found = _DOTTED.match(value)
        if found:
            day, month, year = (int(g) for g in found.groups())
            try:
                return date(year, month, day).isoformat()
            except ValueError:
                raise ValidationError(f.name, value, "is no date: write YYYY-MM-DD, or DD.MM.YYYY as a German "
                                      "spreadsheet does") from None
        if _SLASHED.match(value):
            raise ValidationError(f.name, value, "is ambiguous: 02/03/2026 is the 2nd of March in Germany and "
                                  "February 3rd in the US; write YYYY-MM-DD or DD.MM.YYYY")
    elif f.type in (float, Decimal) and _DECIMAL_COMMA.match(value):
        return value.replace(".", "").replace(",", ".")
    return value
