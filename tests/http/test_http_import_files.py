"""Issue #16, item 5, over HTTP: the files spreadsheets really save, posted as they are.

The files in ``tests/data/imports`` are written byte for byte in the forms Excel and
LibreOffice save (see ``tests/data/imports/README.md``): German Excel's "CSV" (semicolons,
Windows-1252, CRLF, dates 14.02.1978, prices 349.000,00), "CSV UTF-8" (a byte-order mark,
commas), "Unicode text" (UTF-16, tabs), a tab-separated UTF-8 file, and Excel's ``sep=;``
first line. Each is posted with a plain ``Content-Type: text/csv``, as curl sends it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from dealercrm.db.models import Asset, Customer, Interest, Product

FILES = Path(__file__).resolve().parent.parent / "data" / "imports"


def post(api, path: str, body: bytes, who: str = "service", content_type: str = "text/csv", **params):
    return api.post(path, content=body, params=params,
                    headers=api.as_(who, **{"Content-Type": content_type}))


@pytest.fixture
def catalogue(world):
    """The flats of the housing project and a washing machine, in the shared catalogue."""
    crm = world.crm
    for sku, name, months in [("WHG-A", "Wohnung A, 3 Zimmer", 60), ("WHG-B", "Wohnung B, 4 Zimmer", 60),
                              ("WM-BRI-8", "Brioche Lavande 8 kg", 24)]:
        crm.products.add(sku, name, warranty_months=months, by=crm.system)
    return world


def filed(world) -> dict[str, Customer]:
    with world.crm.read(world.crm.system) as uow:
        return {c.external_id: c for c in uow.session.scalars(select(Customer).where(Customer.external_id.is_not(None)))}


def units(world) -> dict[str, tuple]:
    """serial number -> (customer external id, SKU, purchased, handed over, warranty end, price)."""
    with world.crm.read(world.crm.system) as uow:
        rows = uow.session.execute(select(Asset, Customer.external_id, Product.sku)
                                   .join(Customer, Customer.id == Asset.customer_id)
                                   .join(Product, Product.id == Asset.product_id)
                                   .where(Customer.external_id.is_not(None))).all()
    return {a.serial_number: (ext, sku, str(a.purchased_on), str(a.handed_over_on), str(a.warranty_until), a.price)
            for a, ext, sku in rows}


def test_german_excels_semicolon_windows_1252_export_imports_with_the_flats_its_buyers_bought(api, catalogue):
    body = (FILES / "excel_de_customers_semicolon_cp1252.csv").read_bytes()
    answer = post(api, "/imports/customers", body)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["read_as"] == "Windows-1252, semicolon-separated"
    [warning] = report["warnings"]
    assert "read as Windows-1252" in warning and "line 2 reads 'K-1001;Jürgen Müller;" in warning
    assert (report["rows"], report["imported"], report["assets_imported"]) == (4, 3, 2)
    # an SKU not in the catalogue rejects the row whole: Renée is not filed without her flat
    assert [(r["line"], r["field"]) for r in report["rejected"]] == [(5, "sku")]
    assert "'WHG-Z': is no product in the catalogue" in report["rejected"][0]["reason"]
    got = filed(catalogue)
    assert sorted(got) == ["K-1001", "K-1002", "K-1003"]
    assert got["K-1002"].name == "Siobhán O’Brien"  # ’ is 0x92: Windows-1252, not Latin-1
    assert (got["K-1001"].street, str(got["K-1001"].birthday)) == ("Weißdornweg 3", "1978-02-14")
    assert got["K-1003"].name == "Café König GmbH" and got["K-1003"].kind == "company"
    with catalogue.crm.read(catalogue.crm.system) as uow:
        tags = sorted(uow.session.scalars(select(Interest.tag).where(Interest.customer_id == got["K-1001"].id)))
    assert tags == ["golf", "skiing"]  # the quoted "skiing;golf" is one cell
    assert units(catalogue) == {
        "A-01": ("K-1001", "WHG-A", "2026-03-01", "2026-09-15", "2031-09-15", 349000.0),  # 60 months from handover
        "B-04": ("K-1002", "WHG-B", "2026-03-02", "None", "2031-03-02", 412500.0),  # ... or from the purchase
    }


def test_a_declared_charset_is_taken_at_its_word_and_needs_no_warning(api, catalogue):
    body = (FILES / "excel_de_customers_semicolon_cp1252.csv").read_bytes()
    answer = post(api, "/imports/customers", body, content_type="text/csv; charset=windows-1252")
    assert answer.status_code == 200 and answer.json()["warnings"] == []
    assert filed(catalogue)["K-1002"].name == "Siobhán O’Brien"
    wrong = post(api, "/imports/customers", body.replace(b"K-100", b"K-200"), content_type="text/csv; charset=utf-8")
    assert wrong.status_code == 422 and "is not UTF-8 text (line 2) although it says so" in wrong.json()["detail"]


@pytest.mark.parametrize("name,read_as,expected", [
    ("excel_utf8_bom_comma.csv", "UTF-8 with byte-order mark, comma-separated",
     {"K-2001": "Zoë Brontë", "K-2002": "Hotel Bergblick GmbH, Rezeption"}),
    ("libreoffice_utf8_tab.tsv", "UTF-8, tab-separated", {"K-3001": "Lukas Schäfer", "K-3002": "Ayşe Yılmaz"}),
    ("excel_unicode_text_utf16_tab.txt", "UTF-16, tab-separated",
     {"K-3001": "Lukas Schäfer", "K-3002": "Ayşe Yılmaz"}),
    ("excel_sep_line_semicolon.csv", "Windows-1252, semicolon-separated", {"K-4001": "Björn Ørsted"}),
])
def test_every_way_a_spreadsheet_saves_csv_is_read(api, catalogue, name, read_as, expected):
    answer = post(api, "/imports/customers", (FILES / name).read_bytes())
    assert answer.status_code == 200, answer.text
    assert answer.json()["read_as"] == read_as and answer.json()["rejected"] == []
    assert {k: c.name for k, c in filed(catalogue).items()} == expected


def test_a_second_list_of_units_files_each_once_for_the_dealers_own_customers(api, catalogue):
    assert post(api, "/imports/customers",
                (FILES / "excel_de_customers_semicolon_cp1252.csv").read_bytes()).status_code == 200
    body = (FILES / "excel_de_assets_semicolon_cp1252.csv").read_bytes()
    answer = post(api, "/imports/assets", body)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["rows"], report["imported"], report["already_present"]) == (4, 1, 1)  # A-01 came with K-1001
    assert [(r["line"], r["field"]) for r in report["rejected"]] == [(4, "external_id"), (5, "handed_over_on")]
    assert "no customer of Elektro Schmidt has it" in report["rejected"][0]["reason"]
    assert "is before the purchase on 2026-01-12" in report["rejected"][1]["reason"]
    assert units(catalogue)["BRI8-2026-004711"] == ("K-1003", "WM-BRI-8", "2026-01-10", "2026-01-12", "2028-01-12",
                                                    649.0)
    again = post(api, "/imports/assets", body).json()
    assert (again["imported"], again["already_present"]) == (0, 2)
    assert len(units(catalogue)) == 3


def test_another_dealers_customer_is_no_customer_for_a_list_of_units(api, catalogue):
    crm = catalogue.crm
    meyers = crm.customers.add("Hans Meyer", external_id="M-1", owner_party_id=catalogue.other_dealer.id,
                               by=crm.system)
    answer = post(api, "/imports/assets", b"external_id,sku,serial_number\nM-1,WM-BRI-8,X-1\n")
    [rejected] = answer.json()["rejected"]
    assert rejected["field"] == "external_id" and "no customer of Elektro Schmidt has it" in rejected["reason"]
    assert f"customer {meyers.id}" not in answer.text and "Meyer" not in answer.text
    assert units(catalogue) == {}


@pytest.mark.parametrize("who", ["warranty", "fitter"])
def test_a_manufacturer_or_technician_imports_no_units(api, catalogue, who):
    answer = post(api, "/imports/assets", b"external_id,sku\nK-1,WM-BRI-8\n", who=who)
    assert answer.status_code == 403 and "may not import assets" in answer.json()["detail"]


def test_an_unknown_column_refuses_the_list_unless_named_as_one_to_leave_out(api, catalogue):
    body = "external_id;name;E-Mail;Notiz\r\nK-1;Max Mustermann;max@example.org;ruft abends an\r\n".encode("cp1252")
    refused = post(api, "/imports/customers", body)
    assert refused.status_code == 422
    assert "'E-Mail' (did you mean 'email'?), 'Notiz'" in refused.json()["detail"]
    assert filed(catalogue) == {}
    still = post(api, "/imports/customers", body, ignore_column=["Notiz"])
    assert still.status_code == 422 and "'E-Mail'" in still.json()["detail"] and "'Notiz'" not in still.json()["detail"]
    fixed = body.replace(b"E-Mail", b"email")
    answer = post(api, "/imports/customers", fixed, ignore_column=["Notiz"])
    assert answer.status_code == 200 and answer.json()["ignored_columns"] == ["Notiz"]
    assert filed(catalogue)["K-1"].email == "max@example.org"
    absent = post(api, "/imports/customers", fixed, ignore_column=["Bemerkung"])
    assert absent.status_code == 422 and absent.json()["field"] == "ignore_columns"
