"""Service cases from the command line: the dealer's view of who has the case, until when."""

from __future__ import annotations

import textwrap

import pytest

import dealercrm
from dealercrm.cli import main
from dealercrm.settings import Settings


@pytest.fixture
def world(tmp_path, clock):
    url = f"sqlite:///{tmp_path}/cli-cases.db"
    crm = dealercrm.connect(url, clock=clock, settings=Settings())
    dealer = crm.parties.add("dealer", "Elektro Schmidt", by=crm.system)
    maker = crm.parties.add("manufacturer", "Brioche Hausgeräte", by=crm.system)
    lea = crm.parties.add_actor(dealer.id, "Lea Yilmaz", "service", by=crm.system)
    agent = crm.parties.add_actor(maker.id, "Brioche Kundendienst", "service", by=crm.system)
    customer = crm.customers.add("Familie Hoffmann", email="hoffmann@example.org", owner_party_id=dealer.id, by=crm.system)
    washer = crm.products.add("WM-8", "WashPro 8kg", manufacturer_party_id=maker.id, by=crm.system)
    asset = crm.assets.record(customer.id, washer.id, serial_number="BRI8-1", handed_over_on="2026-03-02", by=crm.system)
    case = crm.cases.open(customer.id, "washes badly", asset_id=asset.id, by=lea.id)
    crm.close()
    return dict(url=url, case=case.id, lea=lea.id, agent=agent.id, customer=customer.id)


def run(capsys, url, *args):
    code = main(["--db", url, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_dealer_fires_triggers_by_actor_name_and_sees_the_new_owner(world, capsys):
    code, out, _ = run(capsys, world["url"], "cases", "fire", str(world["case"]), "start_diagnosis", "--as", "Lea Yilmaz")
    assert code == 0 and "reported -> dealer_diagnosis" in out and "Elektro Schmidt" in out
    code, out, _ = run(capsys, world["url"], "cases", "fire", str(world["case"]), "forward_to_manufacturer",
                       "--as", str(world["lea"]), "--note", "not a dosage problem")
    assert code == 0 and "now with Brioche Hausgeräte" in out and "version 3" in out


def test_a_trigger_the_actor_may_not_fire_is_one_line_naming_what_is_allowed(world, capsys):
    code, out, err = run(capsys, world["url"], "cases", "fire", str(world["case"]), "approve_visit",
                         "--as", str(world["lea"]))
    assert code == 1
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert f"case {world['case']}" in err and "approve_visit" in err and "reported" in err


def test_a_manufacturer_does_not_see_a_case_still_at_the_dealer_from_the_command_line_either(world, capsys):
    code, out, err = run(capsys, world["url"], "cases", "fire", str(world["case"]), "approve_visit",
                         "--as", "Brioche Kundendienst")
    assert code == 1 and err.strip() == f"error: case {world['case']!r} not found"


def test_missing_required_data_names_the_field(world, capsys):
    run(capsys, world["url"], "cases", "fire", str(world["case"]), "start_diagnosis", "--as", "Lea Yilmaz")
    code, _, err = run(capsys, world["url"], "cases", "fire", str(world["case"]), "withdraw", "--as", "Lea Yilmaz")
    assert code == 1 and "reason" in err
    code, out, _ = run(capsys, world["url"], "cases", "fire", str(world["case"]), "withdraw", "--as", "Lea Yilmaz",
                       "-d", "reason=customer keeps the machine as it is")
    assert code == 0 and "withdrawn" in out


def test_a_stale_expected_version_is_a_conflict(world, capsys):
    code, _, err = run(capsys, world["url"], "cases", "fire", str(world["case"]), "start_diagnosis",
                       "--as", "Lea Yilmaz", "--expect-version", "7")
    assert code == 1 and "version 7" in err and f"case {world['case']}" in err


def test_tick_escalates_the_silent_manufacturer_and_show_tells_who_held_the_case(world, capsys, clock):
    crm = dealercrm.connect(world["url"], clock=clock, settings=Settings())
    for trigger in ("start_diagnosis", "forward_to_manufacturer"):
        crm.cases.fire(world["case"], trigger, by=world["lea"])
    crm.close()
    # the world was built in March 2026 on a manual clock; the CLI runs on the real clock,
    # long after the manufacturer's two working days ran out
    code, out, _ = run(capsys, world["url"], "tick")
    assert code == 0 and out.startswith("1 overdue cases escalated")
    code, out, _ = run(capsys, world["url"], "tick")
    assert out.startswith("0 overdue cases escalated")
    code, out, _ = run(capsys, world["url"], "cases", "list")
    assert "dealer_de" in out and "Elektro" in out
    code, out, _ = run(capsys, world["url"], "cases", "show", str(world["case"]))
    assert code == 0 and "deadline passed" in out and "customer waited" in out
    code, out, _ = run(capsys, world["url"], "report", "--only", "cases")
    row = next(line for line in out.splitlines() if "Brioche" in line)
    assert row.rstrip(" │").endswith("1")  # one deadline missed by the manufacturer


def test_allowed_lists_what_the_actor_may_fire_now(world, capsys):
    code, out, _ = run(capsys, world["url"], "cases", "allowed", str(world["case"]), "--as", "Lea Yilmaz")
    assert code == 0 and "start_diagnosis" in out and "withdraw" in out
    code, _, err = run(capsys, world["url"], "cases", "allowed", str(world["case"]), "--as", "Brioche Kundendienst")
    assert code == 1 and "not found" in err  # the manufacturer does not see a case still at the dealer


def test_workflow_check_passes_for_the_shipped_workflow_and_show_renders_mermaid(capsys):
    assert main(["workflow", "check"]) == 0
    assert "all six properties hold" in capsys.readouterr().out
    assert main(["workflow", "show", "service_case", "--format", "mermaid"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("stateDiagram-v2") and "manufacturer_review --> dealer_decision" in out
    assert main(["workflow", "show", "--format", "text"]) == 0
    assert "waiting_for_parts" in capsys.readouterr().out


def test_workflow_check_names_the_broken_property_of_a_plugins_extension(tmp_path, monkeypatch, capsys):
    info = tmp_path / "dealercrm_trap-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dealercrm-trap\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[dealercrm]\ntrap = trap_plugin_for_cli\n")
    (tmp_path / "trap_plugin_for_cli.py").write_text(textwrap.dedent("""
        from datetime import timedelta
        import dealercrm
        from dealercrm.workflow import DeadlinePolicy, State, Transition

        @dealercrm.hookimpl
        def dealercrm_extend_workflow(workflow):
            return workflow.extend(
                states=[State("waiting_for_courier", "manufacturer", DeadlinePolicy(timedelta(hours=9)))],
                transitions=[Transition("ship", "waiting_for_parts", "waiting_for_courier", {"manufacturer"})])
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["workflow", "check"]) == 1
    err = capsys.readouterr().err
    assert "waiting_for_courier" in err and "4" in err and "timeout" in err


def test_the_case_shows_its_warranty_and_the_return_step_by_step(world, capsys):
    url, case = world["url"], str(world["case"])
    code, out, _ = run(capsys, url, "cases", "show", case)
    assert code == 0 and "in warranty (until 2028-03-02) when opened" in out  # handed over 2026-03-02
    for trigger in ("start_diagnosis", "forward_to_manufacturer"):
        run(capsys, url, "cases", "fire", case, trigger, "--as", "Lea Yilmaz")
    run(capsys, url, "cases", "fire", case, "approve_replacement", "--as", "Brioche Kundendienst",
        "-d", "rma_number=RMA-[7]")
    code, out, err = run(capsys, url, "cases", "return", case, "--shipped-on", "2026-03-02", "--as", "Lea Yilmaz")
    assert code == 0 and "RMA RMA-[7]; old unit shipped 2026-03-02, received —" in out, err
    code, _, err = run(capsys, url, "cases", "credit", case, "449.90", "EUR", "--as", "Lea Yilmaz")
    assert code == 1 and "may not record credit_amount" in err and err.strip().count("\n") == 0
    code, out, _ = run(capsys, url, "cases", "credit", case, "449.90", "eur", "--on", "2026-03-05",
                       "--as", "Brioche Kundendienst")
    assert code == 0 and "credit 449.90 EUR on 2026-03-05 (version 6)" in out
    code, out, _ = run(capsys, url, "cases", "show", case)
    assert "RMA RMA-[7]; old unit shipped 2026-03-02" in out and "credit 449.90 EUR" in out
    assert "return" in out and "credit" in out  # the steps in the history
