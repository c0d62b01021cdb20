"""Relationships from the command line (issue 17): record a call with whom, a task about whom,
read the map (table and JSON), let someone go with a hand-over, the report's new section."""

from __future__ import annotations

import csv
import io
import json

import pytest

import dealercrm
from dealercrm.cli import common, main
from dealercrm.settings import Settings

ENV_KEYS = ("DEALERCRM_DATABASE_URL", "DEALERCRM_SETTINGS", "DEALERCRM_BLOCK_PLUGINS", "DEALERCRM_DEFAULT_REGION")


@pytest.fixture
def shop(tmp_path, monkeypatch, capsys):
    """A dealer with a company customer and its buyer; ``shop.run(*args)`` -> (code, out, err)."""
    monkeypatch.chdir(tmp_path)
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(common.console, "_width", 220)
    monkeypatch.setattr(common.err, "_width", 220)
    url = f"sqlite:///{tmp_path}/rel.db"
    crm = dealercrm.connect(url, settings=Settings(), load_entry_points=False)
    berg = crm.parties.add("dealer", "Autohaus Berg", by=crm.system)
    s = type("Shop", (), {})()
    s.sabine = crm.parties.add_actor(berg.id, "Sabine Krüger", "sales", by=crm.system)
    s.jonas = crm.parties.add_actor(berg.id, "Jonas Weber", "service", by=crm.system)
    s.petra = crm.parties.add_actor(berg.id, "Petra Schmidt", "manager", by=crm.system)
    s.kraus = crm.customers.add("Spedition Kraus GmbH", kind="company", owner_party_id=berg.id,
                                account_owner_id=s.sabine.id, by=crm.system)
    s.buyer = crm.customers.add_contact(s.kraus.id, "Bernd Bauer", "buyer", email="bauer@kraus.example",
                                        by=crm.system)
    s.workshop = crm.customers.add_contact(s.kraus.id, "Petra Koch", "technician", by=crm.system)
    s.crm = crm

    def run(*args: str):
        capsys.readouterr()
        try:
            code = main(["--db", url, *args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    s.run = run
    yield s
    crm.close()


def test_a_call_with_the_buyer_and_a_task_about_her_show_on_the_file_and_the_map(shop):
    code, out, err = shop.run("--as", str(shop.sabine.id), "customers", "interaction", str(shop.kraus.id), "phone",
                              "spring order discussed", "--contact", str(shop.buyer.id))
    assert code == 0, err
    assert out.strip().endswith(f"with contact person {shop.buyer.id}")
    code, out, err = shop.run("--as", str(shop.sabine.id), "customers", "task", str(shop.kraus.id),
                              "send Bauer the offer", "--contact", str(shop.buyer.id), "--due-in-days", "2")
    assert code == 0 and out.startswith("task "), err

    code, out, _ = shop.run("--as", str(shop.petra.id), "customers", "show", str(shop.kraus.id))
    assert "Bernd Bauer (buyer)" in out and "spring order discussed" in out and "send Bauer the offer" in out
    assert "Relationships by level" in out and "our Jonas Weber has never met their Petra Koch (technician)" in out

    code, out, _ = shop.run("--as", str(shop.petra.id), "customers", "relationships", str(shop.kraus.id))
    assert code == 0
    assert "Sabine Krüger (sales), account owner" in out and "1× · phone" in out
    assert "sales: " not in out and "Sabine Krüger ↔ Bernd Bauer (buyer), last touch" in out

    code, out, _ = shop.run("--as", str(shop.petra.id), "customers", "relationships", str(shop.kraus.id),
                            "--format", "json")
    m = json.loads(out)
    assert m["single_threaded"] == "both" and m["threads"][0]["contact_id"] == shop.buyer.id
    assert "bauer@kraus.example" not in out


def test_mistakes_are_one_line_each(shop):
    code, _, err = shop.run("customers", "interaction", str(shop.kraus.id), "phone", "x", "--contact", "999")
    assert code == 1 and err.strip() == "error: contact person 999 not found"
    code, _, err = shop.run("customers", "relationships", str(shop.kraus.id), "--format", "xml")
    assert code == 2 and "--format" in err  # the parser refuses it, as for every command
    code, _, err = shop.run("--as", str(shop.jonas.id), "parties", "deactivate-actor", str(shop.sabine.id),
                            "--handover-to", str(shop.petra.id))
    assert code == 1 and "may not deactivate people of party" in err


def test_letting_sabine_go_hands_her_account_to_jonas_in_one_command(shop):
    shop.crm.interactions.record(shop.kraus.id, "phone", "outbound", "order", contact_person_id=shop.buyer.id,
                                 by=shop.sabine.id)
    code, out, err = shop.run("--as", "Petra Schmidt", "parties", "deactivate-actor", str(shop.sabine.id),
                              "--handover-to", str(shop.jonas.id))
    assert code == 0, err
    assert "Sabine Krüger deactivated, handed over to actor" in out and "1 account(s)" in out
    row = next(line for line in out.splitlines() if "Spedition Kraus GmbH" in line)
    assert "account owner, only relationship" in row and "Bernd Bauer (buyer)" in row
    assert shop.crm.customers.get(shop.kraus.id, by=shop.petra.id).account_owner_id == shop.jonas.id
    code, out, _ = shop.run("--as", str(shop.petra.id), "customers", "relationships", str(shop.kraus.id))
    assert "Jonas Weber (service), account owner" in out and "Sabine Krüger (sales), left" in out


def test_the_report_has_a_single_threaded_section_in_json_and_csv(shop):
    code, out, _ = shop.run("report", "--only", "single_threaded", "--format", "json")
    assert code == 0 and json.loads(out) == {"single_threaded": []}  # nobody touched anyone yet
    code, out, _ = shop.run("report", "--format", "csv")
    assert "# single_threaded" in out.splitlines()
    code, out, _ = shop.run("report", "--only", "single_threaded")
    assert "Single-threaded accounts" in out


def test_the_csv_section_carries_the_accounts_rows(tmp_path, monkeypatch, capsys, clock):
    """With a thread old enough to count: the rows in CSV, under their section's line."""
    monkeypatch.chdir(tmp_path)
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    url = f"sqlite:///{tmp_path}/csv.db"
    # the command line runs on the real clock: the story is set in the last 100 days
    from datetime import UTC, datetime, timedelta
    clock.set(datetime.now(UTC) - timedelta(days=100))
    crm = dealercrm.connect(url, clock=clock, settings=Settings(), load_entry_points=False)
    berg = crm.parties.add("dealer", "Autohaus Berg", by=crm.system)
    sabine = crm.parties.add_actor(berg.id, "Sabine Krüger", "sales", by=crm.system)
    kraus = crm.customers.add("=HYPERLINK(\"x\") Kraus GmbH", kind="company", owner_party_id=berg.id, by=crm.system)
    buyer = crm.customers.add_contact(kraus.id, "Bernd Bauer", "buyer", by=crm.system)
    clock.advance(days=95)
    crm.interactions.record(kraus.id, "phone", "outbound", "order", contact_person_id=buyer.id, by=sabine.id)
    crm.close()
    assert main(["--db", url, "report", "--only", "single_threaded", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["# single_threaded"] and rows[1][:3] == ["customer_id", "name", "account_owner"]
    assert rows[2][0] == str(kraus.id) and rows[2][1].startswith("'=HYPERLINK")  # formula-safe, like every section
    assert "Sabine Krüger (sales) ↔ buyer" in rows[2]
