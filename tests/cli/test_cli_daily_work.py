"""Lea's morning at the command line: her tasks for today, her desk's overdue cases, a
customer's file with their cases and where each went, and the duplicates to clean up.

The command line runs on the real clock, so the world is made on it too."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

import dealercrm
from dealercrm.cli import main
from dealercrm.settings import Settings

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def shop(tmp_path):
    url = f"sqlite:///{tmp_path}/cli-day.db"
    crm = dealercrm.connect(url, settings=Settings())
    s, now = crm.system, datetime.now(timezone.utc)
    dealer = crm.parties.add("dealer", "Elektro Schmidt", by=s)
    maker = crm.parties.add("manufacturer", "Brioche Hausgeräte", by=s)
    fitters = crm.parties.add("technician", "Technik-Service Nord", by=s)
    lea = crm.parties.add_actor(dealer.id, "Lea Yilmaz", "service", by=s)
    petra = crm.parties.add_actor(dealer.id, "Petra Schmidt", "manager", by=s)
    ole = crm.parties.add_actor(fitters.id, "Ole Hansen", "fitter", by=s)
    erika = crm.customers.add("Erika Musterfrau", postcode="20095", owner_party_id=dealer.id, by=s)
    again = crm.customers.add("Musterfrau, Erika", postcode="20095", owner_party_id=dealer.id, by=s)
    washer = crm.products.add("WM-8", "WashPro 8kg", manufacturer_party_id=maker.id, by=s)
    machine = crm.assets.record(erika.id, washer.id, serial_number="BRI8-1", by=s)
    case = crm.cases.open(erika.id, "washes badly", asset_id=machine.id, by=lea.id)
    crm.cases.fire(case.id, "start_diagnosis", by=lea.id)
    crm.cases.fire(case.id, "forward_to_manufacturer", by=lea.id)
    desk = crm.cases.open(erika.id, "door leaks", by=lea.id)
    overdue = crm.tasks.create("call Erika back", now - timedelta(hours=1), customer_id=erika.id,
                               assigned_actor_id=lea.id, by=s)
    later = crm.tasks.create("order the drum seal", now + timedelta(days=3), assigned_actor_id=lea.id, by=s)
    crm.tasks.create("review the price list", now - timedelta(hours=2), assigned_actor_id=petra.id, by=s)
    crm.tasks.create("bring the spare part", now - timedelta(hours=2), assigned_actor_id=ole.id, by=s)
    crm.close()
    return dict(url=url, lea=lea.id, erika=erika.id, again=again.id, case=case.id, desk=desk.id,
                overdue=overdue.id, later=later.id)


def run(capsys, url, *args):
    code = main(["--db", url, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_lea_lists_her_tasks_for_today_and_nobody_elses(shop, capsys):
    code, out, _ = run(capsys, shop["url"], "tasks", "--mine", "--as", "Lea Yilmaz", "--due", "today")
    assert code == 0 and "call Erika back" in out and "overdue" in out
    assert "drum seal" not in out and "price list" not in out and "spare part" not in out
    assert " CET" in out or " CEST" in out  # her times, with her zone's name
    code, out, _ = run(capsys, shop["url"], "tasks", "list", "--as", "Lea Yilmaz", "--format", "json")
    page = json.loads(out)
    assert [t["title"] for t in page["items"]] == ["review the price list", "call Erika back", "order the drum seal"]
    assert page["next_offset"] is None and page["items"][0]["due_at"].endswith("Z")  # as GET /tasks answers


def test_mine_needs_to_know_whose(shop, capsys):
    code, _, err = run(capsys, shop["url"], "tasks", "--mine")
    assert code == 1 and err.strip().count("\n") == 0 and "--as" in err


def test_lea_snoozes_a_task_to_tomorrow_morning_and_marks_another_done(shop, capsys):
    code, out, _ = run(capsys, shop["url"], "tasks", "snooze", str(shop["overdue"]), "--until", "tomorrow",
                       "--as", "Lea Yilmaz")
    tomorrow = datetime.now(BERLIN).date() + timedelta(days=1)
    assert code == 0 and f"snoozed until {tomorrow:%Y-%m-%d} 08:00 CE" in out
    code, out, _ = run(capsys, shop["url"], "tasks", "done", str(shop["later"]), "--as", "Lea Yilmaz",
                       "--note", "ordered")
    assert code == 0 and "done: order the drum seal" in out
    code, out, _ = run(capsys, shop["url"], "tasks", "--as", "Lea Yilmaz", "--mine", "--due", "overdue")
    assert "call Erika back" not in out and "drum seal" not in out
    code, _, err = run(capsys, shop["url"], "tasks", "snooze", str(shop["overdue"]), "--until", "someday",
                       "--as", "Lea Yilmaz")
    assert code == 1 and "tomorrow, next-week" in err


def test_a_technician_cannot_touch_the_dealers_task(shop, capsys):
    code, _, err = run(capsys, shop["url"], "tasks", "done", str(shop["overdue"]), "--as", "Ole Hansen")
    assert code == 1 and f"task {shop['overdue']!r} not found" in err


def test_cases_on_leas_desk_and_the_overdue_ones(shop, capsys):
    code, out, _ = run(capsys, shop["url"], "cases", "list", "--mine", "--as", "Lea Yilmaz", "--format", "csv")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("id,workflow,customer_id") and len(lines) == 2
    assert lines[1].startswith(f"{shop['desk']},")  # the case at the manufacturer is not on her desk
    code, out, _ = run(capsys, shop["url"], "cases", "list", "--overdue", "--as", "Lea Yilmaz", "-f", "json")
    assert code == 0 and json.loads(out)["items"] == []  # both were opened just now
    code, _, err = run(capsys, shop["url"], "cases", "list", "--mine")
    assert code == 1 and "--as" in err


def test_the_customers_file_shows_her_cases_and_where_they_went(shop, capsys):
    code, out, _ = run(capsys, shop["url"], "--as", "Lea Yilmaz", "customers", "show", str(shop["erika"]))
    assert code == 0 and "Cases" in out and "washes badly" in out and "door leaks" in out
    assert "forward_to_manufacturer -> bei Brioche Hausgeräte (manufacturer)" in out  # [dealercrm] language = "de"
    assert f"Fall {shop['case']} eröffnet" in out


def test_duplicates_name_the_pair_why_and_the_command_that_merges_it(shop, capsys):
    code, out, _ = run(capsys, shop["url"], "--as", "Lea Yilmaz", "customers", "duplicates")
    assert code == 0 and "same postcode 20095" in out
    assert f"dealercrm --as 'Lea Yilmaz' customers merge {shop['erika']} {shop['again']}" in out
    code, out, _ = run(capsys, shop["url"], "customers", "duplicates", "--as", "Lea Yilmaz", "-f", "json")
    [suspect] = json.loads(out)["items"]
    assert suspect["merge"]["href"] == f"/customers/{shop['erika']}/merge" and suspect["score"] == 70
    code, out, _ = run(capsys, shop["url"], "customers", "duplicates", "--as", "Lea Yilmaz",
                       "--customer", str(shop["again"]), "-f", "csv")
    assert out.splitlines()[0].startswith("owner_party_id,keep_id,keep_name") and len(out.splitlines()) == 2
