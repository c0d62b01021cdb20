"""The promise and service levels on the command line: `workflow check` prints per level by when
a case is resolved at the latest, `cases show` the case's own promise, `cases priority`
changes how urgent a case is, and the settings' levels are checked like the rest."""

from __future__ import annotations

import textwrap

import pytest

import dealercrm
from dealercrm.cli import main
from dealercrm.settings import Settings


@pytest.fixture
def world(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/cli-levels.db"
    crm = dealercrm.connect(url, clock=clock, settings=Settings())
    dealer = crm.parties.add("dealer", "Elektro Schmidt", by=crm.system)
    lea = crm.parties.add_actor(dealer.id, "Lea Yilmaz", "service", by=crm.system)
    customer = crm.customers.add("Familie Hoffmann", owner_party_id=dealer.id, by=crm.system)
    crm.close()
    return dict(url=url, customer=customer.id, lea=lea.id)


def run(capsys, url, *args):
    code = main(["--db", url, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_workflow_check_prints_the_promise_of_every_service_level(capsys):
    assert main(["workflow", "check", "service_case"]) == 0
    out = capsys.readouterr().out
    assert "all six properties hold on 4 service levels" in out
    assert ("standard   resolved within 22h working time (2 working days of 9h + 4h) at the latest "
            "(every other case)") in out
    assert "urgent     resolved within 9h working time (1 working day of 9h) at the latest (priority urgent)" in out
    assert ("premium    resolved within 10h working time (1 working day of 9h + 1h) at the latest "
            "(contract premium)") in out
    assert "essential  resolved within 14h working time" in out
    assert "reported -start_diagnosis-> dealer_diagnosis -escalate-> dealer_decision -refund-> refunded" in out


def test_workflow_check_takes_the_settings_levels_and_names_a_broken_one(tmp_path, monkeypatch, capsys):
    settings = tmp_path / "dealercrm.toml"
    settings.write_text(textwrap.dedent("""
        [cases.service_levels.service_case.fleet]
        contracts = ["fleet"]
        deadlines = { reported = "30m", dealer_diagnosis = "2h", dealer_decision = "2h" }
    """))
    monkeypatch.setenv("DEALERCRM_SETTINGS", str(settings))
    assert main(["workflow", "check"]) == 0
    assert "fleet      resolved within 4h30m working time at the latest (contract fleet)" in capsys.readouterr().out
    settings.write_text(textwrap.dedent("""
        [cases.service_levels.service_case.fleet]
        contracts = ["fleet"]
        deadlines = { dealer_decision = "0m" }
    """))
    assert main(["workflow", "check"]) == 1
    err = capsys.readouterr().err
    assert "fleet" in err and "dealer_decision" in err and "non-positive" in err
    settings.write_text('[cases.service_levels.service_case.fleet]\ndeadlines = { dealer_decison = "2h" }\n')
    assert main(["workflow", "check"]) == 1
    err = capsys.readouterr().err
    assert "dealer_decison" in err and err.strip().count("\n") == 0 and "Traceback" not in err


def test_a_case_opened_urgent_shows_its_level_and_by_when_it_is_resolved(world, capsys):
    code, out, err = run(capsys, world["url"], "cases", "open", str(world["customer"]), "--summary", "no hot water",
                         "--priority", "urgent", "--as", "Lea Yilmaz")
    assert code == 0, err
    assert "service level urgent; resolved by 20" in out and "at the latest" in out
    code, out, _ = run(capsys, world["url"], "cases", "show", "1")
    assert code == 0 and "resolved by" in out and "service level urgent, priority urgent" in out
    code, out, err = run(capsys, world["url"], "cases", "priority", "1", "normal", "--as", "Lea Yilmaz",
                         "--note", "hot water is back")
    assert code == 0, err
    assert "priority normal, service level standard" in out
    code, _, err = run(capsys, world["url"], "cases", "priority", "1", "asap", "--as", "Lea Yilmaz")
    assert code == 1 and "must be one of low, normal, high, urgent" in err
