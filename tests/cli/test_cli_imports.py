"""Issue #16, item 5, from the command line: the spreadsheets' own files, imported as they are.

The files are those of ``tests/data/imports`` (how each was saved: its README). A German
Excel export imports, with a warning on stderr that it was read as Windows-1252 and the
line to check; the flats its buyers bought come with them; a second list of units files
each once. Exit codes: 0 all filed, 3 some rows rejected (listed on stderr), 1 a file that
cannot be read at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dealercrm.cli import common, main

FILES = Path(__file__).resolve().parent.parent / "data" / "imports"
ENV_KEYS = ("DEALERCRM_DATABASE_URL", "DEALERCRM_SETTINGS", "DEALERCRM_BLOCK_PLUGINS", "DEALERCRM_DEFAULT_REGION")


@pytest.fixture
def shop(tmp_path, monkeypatch, capsys):
    """``dealercrm --db <a fresh SQLite file> ARGS`` after ``init`` and the catalogue, made with the CLI too."""
    monkeypatch.chdir(tmp_path)
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(common.console, "_width", 200)
    monkeypatch.setattr(common.err, "_width", 400)
    url = f"sqlite:///{tmp_path}/shop.db"

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(["--db", url, *args])
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    assert run("init")[0] == 0
    for sku, name, months, category in [("WHG-A", "Wohnung Typ A", "60", "flat"), ("WHG-B", "Wohnung Typ B", "60", "flat"),
                                         ("WM-BRI-8", "Brioche Lavande 8 kg", "24", "washing machine")]:
        assert run("products", "add", sku, name, "--warranty-months", months, "--category", category)[0] == 0
    return run


def customers(shop) -> dict[str, dict]:
    code, out, _ = shop("customers", "list", "--format", "json")
    return {c["external_id"]: c for c in json.loads(out)["items"]}


def test_a_german_excel_export_imports_with_a_warning_and_its_one_bad_row_named(shop):
    code, out, err = shop("customers", "import", str(FILES / "excel_de_customers_semicolon_cp1252.csv"))
    assert code == 3  # one row rejected
    assert out.strip() == "4 rows: 3 imported, 0 already present, 1 rejected; 2 assets imported, 0 already present"
    warning, rejected = err.strip().splitlines()
    assert warning.startswith("warning: ") and "is not UTF-8: read as Windows-1252" in warning
    assert "line 2 reads 'K-1001;Jürgen Müller;" in warning
    assert rejected.startswith("line 5: invalid sku 'WHG-Z': is no product in the catalogue")
    got = customers(shop)
    assert sorted(got) == ["K-1001", "K-1002", "K-1003"]
    assert got["K-1002"]["name"] == "Siobhán O’Brien" and got["K-1001"]["birthday"] == "1978-02-14"
    code, out, _ = shop("customers", "show", str(got["K-1001"]["id"]))
    assert "A-01" in out and "2026-09-15" in out and "2031-09-15" in out  # the flat, its handover, its warranty


def test_a_second_list_of_units_is_filed_once(shop):
    shop("customers", "import", str(FILES / "excel_de_customers_semicolon_cp1252.csv"))
    units = str(FILES / "excel_de_assets_semicolon_cp1252.csv")
    code, out, err = shop("assets", "import", units)
    assert code == 3 and out.strip() == "4 rows: 1 assets imported, 1 already present, 2 rejected"
    assert "line 4: invalid external_id 'K-9999': no customer of Our Dealership has it" in err
    assert "line 5: invalid handed_over_on '2026-01-10': is before the purchase on 2026-01-12" in err
    code, out, _ = shop("assets", "import", units, "--show-rejected", "0")
    assert out.strip() == "4 rows: 0 assets imported, 2 already present, 2 rejected"


@pytest.mark.parametrize("name,expected", [
    ("excel_utf8_bom_comma.csv", {"K-2001": "Zoë Brontë", "K-2002": "Hotel Bergblick GmbH, Rezeption"}),
    ("libreoffice_utf8_tab.tsv", {"K-3001": "Lukas Schäfer", "K-3002": "Ayşe Yılmaz"}),
    ("excel_unicode_text_utf16_tab.txt", {"K-3001": "Lukas Schäfer", "K-3002": "Ayşe Yılmaz"}),
])
def test_utf8_with_a_byte_order_mark_tabs_and_utf16_import_without_a_word_of_warning(shop, name, expected):
    code, out, err = shop("customers", "import", str(FILES / name))
    assert (code, err) == (0, "")
    assert {k: c["name"] for k, c in customers(shop).items()} == expected


def test_a_column_the_import_does_not_read_refuses_the_file_unless_named_to_ignore(shop, tmp_path):
    path = tmp_path / "kunden.csv"
    path.write_bytes("external_id;name;Notiz\r\nK-1;Max Müller;ruft abends an\r\n".encode("cp1252"))
    code, _, err = shop("customers", "import", str(path))
    assert code == 1 and "has columns the import does not read: 'Notiz'" in err and customers(shop) == {}
    code, out, err = shop("customers", "import", str(path), "--ignore-column", "Notiz")
    assert code == 0 and out.strip().endswith("(ignored columns: Notiz)")
    assert customers(shop)["K-1"]["name"] == "Max Müller" and "Windows-1252" in err


def test_quiet_keeps_the_warning_and_the_bad_rows_but_not_the_summary(shop):
    code, out, err = shop("--quiet", "customers", "import", str(FILES / "excel_de_customers_semicolon_cp1252.csv"))
    assert (code, out) == (3, "") and "warning:" in err and "line 5:" in err
