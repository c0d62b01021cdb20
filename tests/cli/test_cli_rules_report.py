"""Rules and reports from the command line: what would happen, what happened, in numbers."""

from __future__ import annotations

import json

import pytest

import dealercrm
from dealercrm.cli import main
from dealercrm.settings import Settings


@pytest.fixture
def shop(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/rules.db"
    crm = dealercrm.connect(url, clock=clock, settings=Settings())
    dealer = crm.parties.add("dealer", "Autohaus Berg", by=crm.system)
    sabine = crm.parties.add_actor(dealer.id, "Sabine", "sales", by=crm.system)
    car = crm.products.add("CAR-T", "Touring estate", category="car", by=crm.system)
    max_ = crm.customers.add("Max Mustermann", email="max@example.org", owner_party_id=dealer.id,
                             account_owner_id=sabine.id, by=crm.system)
    crm.assets.record(max_.id, car.id, serial_number="W1", purchased_on="2026-02-20", handed_over_on="2026-02-27", by=crm.system)
    crm.interests.note(max_.id, "skiing", by=sabine.id)
    crm.close()
    return url


def run(capsys, url, *args):
    code = main(["--db", url, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_rules_list_shows_every_built_in_rule_with_its_settings(shop, capsys):
    code, out, _ = run(capsys, shop, "rules", "list")
    assert code == 0
    for rule in ("rule_interest_offer", "rule_after_sale", "rule_loyal_quiet", "rule_lost_customers",
                 "rule_single_threaded", "rule_satisfaction", "rule_case_reminders"):
        assert rule in out
    assert "roof" in out  # the offer table is shown with the settings
    assert "1" in out  # the skiing car buyer's offer already fired when the interest was noted


def test_a_dry_run_shows_what_a_rule_would_do_and_changes_nothing(shop, capsys):
    code, out, _ = run(capsys, shop, "rules", "run", "rule_after_sale", "--dry-run")
    assert code == 0 and "would act on" in out
    code, again, _ = run(capsys, shop, "rules", "run", "rule_after_sale", "--dry-run")
    assert again == out


def test_an_unknown_rule_is_one_line_naming_the_known_ones(shop, capsys):
    code, _, err = run(capsys, shop, "rules", "run", "no_such_rule")
    assert code == 1 and "no_such_rule" in err and "rule_loyal_quiet" in err


def test_the_report_comes_as_json_and_csv_and_draws_charts(shop, capsys, tmp_path):
    code, out, _ = run(capsys, shop, "report", "--format", "json")
    data = json.loads(out)
    assert code == 0 and set(data) == {"satisfaction", "cases", "loyal_at_risk", "contacts", "single_threaded"}
    assert sum(row["customers"] for row in data["contacts"]) == 1
    code, out, _ = run(capsys, shop, "report", "--format", "csv", "--only", "contacts")
    assert out.splitlines()[0] == "# contacts" and out.splitlines()[1].startswith("marketing_contacts_in_window")
    code, out, _ = run(capsys, shop, "report", "--chart", str(tmp_path / "charts"))
    assert code == 0
    pngs = sorted(p.name for p in (tmp_path / "charts").iterdir())
    assert pngs == ["nps_over_time.png", "time_held_per_party.png"]
    assert all((tmp_path / "charts" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_a_bad_report_format_is_a_usage_error_naming_the_formats(shop, capsys):
    code, _, err = run(capsys, shop, "report", "--format", "xml")
    assert code == 2 and "'xml' is not one of 'table', 'json', 'csv'" in err
