"""How a CSV file was saved is found from its bytes (``dealercrm.services.csv_dialect``)."""

from __future__ import annotations

import pytest

from dealercrm import ValidationError
from dealercrm.fields import ASSET, CUSTOMER
from dealercrm.services.csv_dialect import _CHUNK, bytes_chunks, delimiter_of, dialect_of, encoding_of, \
    spreadsheet_value

KNOWN = ("external_id", "name", "email", "interests")


@pytest.mark.parametrize("header,expected", [
    ("external_id;name;email", ";"),
    ("external_id,name,email", ","),
    ("external_id\tname\temail", "\t"),
    ('"external_id";"name, as written";"email"', ";"),  # a comma inside a quoted header cell
    ("external_id,name;email", ","),  # as many known columns either way: the comma, first among equals
    ("Kundennummer;Name;E-Mail", ";"),  # one known column, but the semicolon gives more cells
    ("external_id", ","),
])
def test_the_delimiter_is_the_one_that_splits_the_header_into_known_columns(header, expected):
    assert delimiter_of(header, KNOWN) == expected


def test_excels_sep_line_names_the_delimiter_and_is_no_header():
    dialect = dialect_of(["sep=;\r\n", "external_id,name\r\n"], "cp1252", (), KNOWN)
    assert (dialect.delimiter, dialect.sep_line) == (";", True)
    assert dialect_of(["\n", "external_id;name\n"], "utf-8", (), KNOWN).delimiter == ";"  # blank lines before it


def test_utf8_wins_when_every_byte_is_utf8_even_across_a_chunk_boundary():
    """A two-byte ü split between two 1 MiB reads is still UTF-8: decoding chunk by chunk
    without carrying the half character over would have called the file Windows-1252."""
    body = b"external_id,name\n" + b"x" * (_CHUNK - 18) + "ü".encode() + b"\n"
    assert body[_CHUNK - 1:_CHUNK + 1] == "ü".encode()
    assert encoding_of(bytes_chunks(body), "body", "upload") == ("utf-8", ())


def test_windows_1252_is_read_with_a_warning_showing_the_first_line_to_check():
    body = "external_id;name\r\nK-1;Max\r\nK-2;Siobhán O’Brien\r\n".encode("cp1252")
    encoding, [warning] = encoding_of(bytes_chunks(body), "body", "list.csv")
    assert encoding == "cp1252"
    assert "list.csv is not UTF-8: read as Windows-1252" in warning and "line 3 reads 'K-2;Siobhán O’Brien'" in warning


@pytest.mark.parametrize("body,encoding", [
    (b"\xef\xbb\xbfexternal_id,name\n", "utf-8-sig"),
    ("\ufeffexternal_id\tname\n".encode("utf-16-le"), "utf-16"),
    ("\ufeffexternal_id\tname\n".encode("utf-16-be"), "utf-16"),
])
def test_a_byte_order_mark_says_the_encoding(body, encoding):
    assert encoding_of(bytes_chunks(body), "body", "upload") == (encoding, ())


def test_bytes_neither_utf8_nor_windows_1252_are_refused_naming_the_line():
    with pytest.raises(ValidationError, match=r"neither UTF-8 nor Windows-1252 text \(line 2\)"):
        encoding_of(bytes_chunks(b"external_id,name\nK-1,\x9d\n"), "body", "upload")


@pytest.mark.parametrize("field,value,expected", [
    (CUSTOMER["birthday"], "14.02.1978", "1978-02-14"),
    (CUSTOMER["birthday"], "1.2.1978", "1978-02-01"),
    (CUSTOMER["birthday"], "1978-02-14", "1978-02-14"),
    (ASSET["price"], "349.000,00", "349000.00"),
    (ASSET["price"], "649,9", "649.9"),
    (ASSET["price"], "649.90", "649.90"),
    (ASSET["price"], "1,234", "1,234"),  # three digits after a comma: a thousands separator? left to be refused
    (CUSTOMER["name"], "14.02.1978", "14.02.1978"),  # only dates are dates
    (CUSTOMER["postcode"], "1,50", "1,50"),
])
def test_a_german_spreadsheets_dates_and_amounts_are_read_for_date_and_amount_fields(field, value, expected):
    assert spreadsheet_value(field, value) == expected


@pytest.mark.parametrize("value,words", [("30.02.1978", "is no date"), ("02/03/2026", "is ambiguous")])
def test_a_date_that_is_none_or_could_be_two_is_refused(value, words):
    with pytest.raises(ValidationError, match=words):
        spreadsheet_value(CUSTOMER["birthday"], value)
