"""Issue #16, item 5: the units customers bought, imported with them or after them.

The housing project's 100 flat buyers come from the sales office's spreadsheet: each row a
buyer and the flat bought, with the purchase and the handover date — the handover starts
the warranty, and the after-sale rules key on it. A row is all or nothing: a buyer whose
flat cannot be filed (an SKU not in the catalogue, a handover before the purchase) is
rejected whole, so no buyer is filed without the flat they bought.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from dealercrm import AssetRecorded, ImportInterrupted, Vetoed, hookimpl
from dealercrm.db.models import Asset, AuditRecord, Customer

HEADER = "external_id,name,sku,serial_number,purchased_on,handed_over_on,warranty_until,price"


@pytest.fixture
def flats(crm):
    for n in ("A", "B"):
        crm.products.add(f"WHG-{n}", f"Wohnung Typ {n}", warranty_months=60, category="flat", by=crm.system)
    return crm


def write(tmp_path, lines: list[str], header: str = HEADER, name: str = "list.csv"):
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def units(crm) -> list[tuple]:
    with crm.read(crm.system) as uow:
        rows = uow.session.execute(select(Asset, Customer.external_id).join(Customer, Customer.id == Asset.customer_id)
                                   .order_by(Asset.id)).all()
    return [(ext, a.serial_number, a.purchased_on, a.handed_over_on, a.warranty_until, a.warranty_overridden, a.price)
            for a, ext in rows]


def externals(crm) -> list[str]:
    with crm.read(crm.system) as uow:
        return sorted(uow.session.scalars(select(Customer.external_id)))


def test_a_hundred_flat_buyers_come_in_with_their_flats_and_the_handover_starts_the_warranty(flats, tmp_path):
    rows = [f"K-{i:03},Käufer {i},WHG-{'AB'[i % 2]},W-{i:03},2026-03-01,2026-09-{1 + i % 28:02}" + ",,"
            for i in range(100)]
    report = flats.imports.run(write(tmp_path, rows), by=flats.system)
    assert (report.imported, report.assets_imported, report.rejected) == (100, 100, [])
    assert report.summary() == "100 rows: 100 imported, 0 already present, 0 rejected; 100 assets imported, " \
                               "0 already present"
    got = units(flats)
    assert len(got) == 100 and got[0] == ("K-000", "W-000", date(2026, 3, 1), date(2026, 9, 1), date(2031, 9, 1),
                                          False, None)


def test_a_row_whose_unit_cannot_be_filed_is_rejected_whole(flats, tmp_path):
    report = flats.imports.run(write(tmp_path, [
        "K-1,Anna Bauer,WHG-A,A-1,2026-03-01,2026-09-01,,",       # line 2: fine
        "K-2,Ben Berg,WHG-Z,Z-1,2026-03-01,,,",                   # line 3: no such product
        "K-3,Cem Can,WHG-A,A-3,2026-03-01,2026-02-01,,",          # line 4: handed over before bought
        "K-4,Dora Dahl,,A-4,2026-03-01,,,",                       # line 5: a unit without its product
        "K-5,Emil Ernst,WHG-B,B-5,,,2033-12-31,1.234,50",         # line 6: a decimal comma outside a quote
        "K-6,Frida Falk,WHG-B,B-6,,,,abc",                        # line 7: no amount
        'K-7,Gina Graf,WHG-B,B-7,,,2033-12-31,"1.234,50"',        # line 8: fine, warranty overridden
    ]), by=flats.system)
    assert externals(flats) == ["K-1", "K-7"]
    assert [(line, report.fields[line]) for line, _ in report.rejected] == [
        (3, "sku"), (4, "handed_over_on"), (5, "sku"), (6, "row"), (7, "price")]
    reasons = dict(report.rejected)
    assert "'WHG-Z': is no product in the catalogue" in reasons[3]
    assert "is before the purchase on 2026-03-01" in reasons[4]
    assert "is required for the unit this row describes (serial_number, purchased_on)" in reasons[5]
    assert units(flats)[1] == ("K-7", "B-7", None, None, date(2033, 12, 31), True, 1234.5)


def test_a_second_list_adds_units_to_customers_already_filed_once(flats, tmp_path):
    flats.imports.run(write(tmp_path, ["K-1,Anna Bauer,,,,,,", "K-2,Ben Berg,WHG-A,A-2,2026-03-01,,,"]),
                      by=flats.system)
    path = write(tmp_path, [
        "K-1,WHG-A,A-1,2026-03-01,2026-09-01",   # line 2
        "K-2,WHG-A,A-2,2026-03-01,",             # line 3: came with the customer list
        "K-1,WHG-B,,2026-03-01,",                # line 4: a parking space, no serial number
        "K-1,WHG-B,,2026-03-01,",                # line 5: the same again
        "K-3,WHG-A,A-3,,",                       # line 6: nobody has K-3
    ], header="external_id,sku,serial_number,purchased_on,handed_over_on", name="units.csv")
    report = flats.imports.assets(path, by=flats.system, chunk_size=2)  # line 5 meets line 4 in another chunk
    assert (report.rows, report.imported, report.already_present) == (5, 2, 1)
    assert [line for line, _ in report.rejected] == [5, 6]
    assert "the same unit as line 4" in dict(report.rejected)[5]
    assert "no customer of Our Dealership has it; import the customer first" in dict(report.rejected)[6]
    again = flats.imports.assets(path, by=flats.system)
    assert (again.imported, again.already_present, len(again.rejected)) == (0, 3, 2)
    assert len(units(flats)) == 3


def test_the_customer_list_adds_a_unit_to_a_customer_filed_before_and_skips_it_the_next_time(flats, tmp_path):
    flats.customers.add("Anna Bauer", external_id="K-1", by=flats.system)
    path = write(tmp_path, ["K-1,Anna Bauer,WHG-A,A-1,2026-03-01,,,"])
    first = flats.imports.run(path, by=flats.system)
    assert (first.imported, first.already_present, first.assets_imported) == (0, 1, 1)
    second = flats.imports.run(path, by=flats.system)
    assert (second.assets_imported, second.assets_already_present) == (0, 1)


def test_imported_units_are_announced_and_audited_like_units_recorded_one_by_one(flats, tmp_path, register_plugin):
    seen = []

    class Listener:
        @hookimpl
        def dealercrm_handle_event(self, event, crm):
            if isinstance(event, AssetRecorded):
                seen.append(event.customer_id)

    register_plugin(Listener(), "listener")
    flats.imports.run(write(tmp_path, ["K-1,Anna Bauer,WHG-A,A-1,2026-03-01,,,"]), by=flats.system)
    flats.imports.assets(write(tmp_path, ["K-1,WHG-B,B-1"], header="external_id,sku,serial_number", name="u.csv"),
                         by=flats.system)
    with flats.read(flats.system) as uow:
        customer = uow.session.scalar(select(Customer.id))
        audited = uow.session.execute(select(AuditRecord.operation, AuditRecord.actor_id, AuditRecord.customer_id)
                                      .where(AuditRecord.entity == "asset")).all()
    assert seen == [customer, customer]  # e.g. the interest-offer rule: skiing + a car
    assert audited == [("import.customers", flats.system, customer), ("import.assets", flats.system, customer)]


def test_a_dealer_adds_units_only_to_its_own_customers(flats, tmp_path):
    crm = flats
    berg = crm.parties.add("dealer", "Autohaus Berg", by=crm.system)
    sales = crm.parties.add_actor(berg.id, "Sabine Krüger", "sales", by=crm.system)
    crm.customers.add("Hans Meyer", external_id="K-1", by=crm.system)  # the home dealer's K-1
    crm.customers.add("Anna Bauer", external_id="K-1", owner_party_id=berg.id, by=crm.system)
    path = write(tmp_path, ["K-1,WHG-A,A-1,", "K-1,WHG-A,A-2,Our Dealership"],
                 header="external_id,sku,serial_number,owner_party", name="u.csv")
    report = crm.imports.assets(path, by=sales.id)
    assert report.imported == 1 and [line for line, _ in report.rejected] == [3]
    assert "imports its own customers only" in report.rejected[0][1]
    [unit] = units(crm)
    with crm.read(crm.system) as uow:
        owner = uow.session.scalar(select(Customer.owner_party_id).join(Asset, Asset.customer_id == Customer.id))
    assert owner == berg.id


def test_a_unit_of_a_merged_customer_names_the_customer_it_went_into(flats, tmp_path):
    keep = flats.customers.add("Anna Bauer", external_id="K-1", by=flats.system)
    other = flats.customers.add("Anna Bauer", external_id="K-2", by=flats.system)
    flats.customers.merge(keep.id, other.id, by=flats.system)
    report = flats.imports.assets(write(tmp_path, ["K-2,WHG-A,A-1"], header="external_id,sku,serial_number"),
                                  by=flats.system)
    assert f"was merged into customer {keep.id}" in report.rejected[0][1] and units(flats) == []


def test_a_veto_in_a_later_chunk_keeps_the_units_before_it_and_says_so(flats, tmp_path, register_plugin):
    flats.imports.run(write(tmp_path, [f"K-{i},Käufer {i},,,,,," for i in range(4)]), by=flats.system)

    class NoThird:
        @hookimpl
        def dealercrm_check_event(self, event, uow):
            if isinstance(event, AssetRecorded) and len(units_in(uow)) >= 3:
                raise Vetoed("no third flat today")

    def units_in(uow):
        return list(uow.session.scalars(select(Asset.id)))

    register_plugin(NoThird(), "no-third")
    path = write(tmp_path, [f"K-{i},WHG-A,A-{i}" for i in range(4)], header="external_id,sku,serial_number",
                 name="u.csv")
    with pytest.raises(ImportInterrupted) as stopped:
        flats.imports.assets(path, by=flats.system, chunk_size=2)
    assert stopped.value.line == 4 and stopped.value.report.imported == 2
    assert [u[1] for u in units(flats)] == ["A-0", "A-1"]


def test_a_german_excel_list_with_its_units_imports_alike_on_sqlite_and_postgresql(any_crm, tmp_path):
    from pathlib import Path

    files = Path(__file__).resolve().parent.parent / "data" / "imports"
    for sku in ("WHG-A", "WHG-B", "WM-BRI-8"):
        any_crm.products.add(sku, f"product {sku}", warranty_months=60, by=any_crm.system)
    report = any_crm.imports.run(files / "excel_de_customers_semicolon_cp1252.csv", by=any_crm.system, chunk_size=2)
    assert (report.imported, report.assets_imported, [line for line, _ in report.rejected]) == (3, 2, [5])
    units_report = any_crm.imports.assets(files / "excel_de_assets_semicolon_cp1252.csv", by=any_crm.system)
    assert (units_report.imported, units_report.already_present) == (1, 1)
    again = any_crm.imports.assets(files / "excel_de_assets_semicolon_cp1252.csv", by=any_crm.system)
    assert (again.imported, again.already_present) == (0, 2)
    assert sorted(u[1] for u in units(any_crm)) == ["A-01", "B-04", "BRI8-2026-004711"]


def test_a_plugins_customer_field_named_like_a_unit_column_keeps_its_column(crm_factory, tmp_path):
    """A club plugin's ``price`` is the customer's membership fee: the column is the customer's,
    not the unit's, and says so by being read once."""
    from dealercrm import hookimpl as impl
    from dealercrm.fields import field

    class Club:
        @impl
        def dealercrm_register_fields(self):
            return [field("price", "the yearly membership fee", importable=True)]

    app = crm_factory(plugins=[Club()])
    app.parties.add("dealer", app.settings.home_dealer, by=app.system)
    app.products.add("WHG-A", "Wohnung Typ A", by=app.system)
    report = app.imports.run(write(tmp_path, ["K-1,Anna Bauer,WHG-A,A-1,,,,49"]), by=app.system)
    assert (report.imported, report.assets_imported, report.rejected) == (1, 1, [])
    assert app.customers.list(by=app.system)[0]["price"] == "49"
    assert units(app)[0][-1] is None  # the unit's price: not given
