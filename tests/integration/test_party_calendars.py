"""A New York dealer sells a Bavarian-made washer; a technician in Bavaria repairs it.
Each party's deadline counts in its own calendar — its time zone, its opening hours, its
region's holidays, its own closing days — across the March clock changes on both sides of
the Atlantic, and every person reads the times in their own zone, with the zone's name."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from dealercrm import NotPermitted, ValidationError

UTC = timezone.utc


@pytest.fixture
def atlantic(crm, clock):
    s = crm.system
    hudson = crm.parties.add("dealer", "Hudson Appliances", region="US-NY", time_zone="America/New_York",
                             hours={"mon-fri": "09:00-17:00"}, by=s)
    maker = crm.parties.add("manufacturer", "Brioche Hausgeräte", region="DE-BY", by=s)
    bavaria = crm.parties.add("technician", "Technik Bayern", region="DE-BY", by=s)
    hamburg = crm.parties.add("technician", "Technik Hamburg", region="DE-HH", by=s)
    people = {name: crm.parties.add_actor(party.id, name, role, by=s).id
              for name, party, role in (("Ann", hudson, "manager"), ("Claire", maker, "warranty"),
                                        ("Sepp", bavaria, "fitter"))}
    washer = crm.products.add("BR-7", "Lavande 7 kg", manufacturer_party_id=maker.id, by=s)
    joe = crm.customers.add("Joe Miller", owner_party_id=hudson.id, by=s)
    machine = crm.assets.record(joe.id, washer.id, purchased_on="2026-01-10", by=s)
    return dict(crm=crm, clock=clock, hudson=hudson, bavaria=bavaria, hamburg=hamburg, joe=joe, machine=machine,
                **people)


def at(clock, text: str) -> None:
    clock.set(datetime.fromisoformat(text).astimezone(UTC))


def test_the_new_york_dealers_deadline_falls_in_new_york_working_hours_across_the_clock_change(atlantic):
    crm, clock = atlantic["crm"], atlantic["clock"]
    at(clock, "2026-03-06T15:00:00-05:00")  # Friday 3 pm in New York (EST); the clocks go forward on Sunday
    case = crm.cases.open(atlantic["joe"].id, "washes badly", asset_id=atlantic["machine"].id, by=atlantic["Ann"])
    # four working hours: two on Friday, two from Monday 9 am — now EDT
    assert case.due_at.astimezone(UTC) == datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
    assert crm.cases.calendar(atlantic["hudson"].id).zone.key == "America/New_York"


def test_lincolns_birthday_is_a_holiday_for_the_new_york_dealer(atlantic):
    crm, clock = atlantic["crm"], atlantic["clock"]
    at(clock, "2026-02-11T16:00:00-05:00")  # Wednesday 4 pm; Thursday is Lincoln's Birthday in New York
    case = crm.cases.open(atlantic["joe"].id, "door leaks", asset_id=atlantic["machine"].id, by=atlantic["Ann"])
    assert case.due_at.astimezone(UTC) == datetime(2026, 2, 13, 17, 0, tzinfo=UTC)  # Friday noon EST


def dispatched(atlantic, technician, when: str):
    crm, clock = atlantic["crm"], atlantic["clock"]
    at(clock, "2026-03-02T10:00:00-05:00")
    case = crm.cases.open(atlantic["joe"].id, "drum noise", asset_id=atlantic["machine"].id, by=atlantic["Ann"])
    crm.cases.fire(case.id, "start_diagnosis", by=atlantic["Ann"])
    crm.cases.fire(case.id, "forward_to_manufacturer", by=atlantic["Ann"])
    at(clock, when)
    return crm.cases.fire(case.id, "approve_visit", by=atlantic["Claire"],
                          data={"technician_party_id": technician.id})


def test_the_bavarian_technicians_two_days_run_across_the_european_clock_change(atlantic):
    fired = dispatched(atlantic, atlantic["bavaria"], "2026-03-27T15:00:00+01:00")  # Friday 3 pm CET
    # 18 working hours: 2 on Friday, 9 on Monday (CEST from Sunday), 7 on Tuesday: 3 pm CEST
    assert fired.due_at == datetime(2026, 3, 31, 13, 0, tzinfo=UTC)


def test_corpus_christi_is_a_holiday_in_bavaria_but_not_in_hamburg(atlantic):
    in_bavaria = dispatched(atlantic, atlantic["bavaria"], "2026-06-03T15:00:00+02:00")  # Wednesday
    assert in_bavaria.due_at == datetime(2026, 6, 8, 13, 0, tzinfo=UTC)  # Monday 3 pm: Thursday was a holiday
    in_hamburg = dispatched(atlantic, atlantic["hamburg"], "2026-06-03T15:00:00+02:00")
    assert in_hamburg.due_at == datetime(2026, 6, 5, 13, 0, tzinfo=UTC)  # Friday 3 pm


def test_a_partys_own_closing_days_and_opening_hours_count_too(atlantic):
    crm = atlantic["crm"]
    crm.parties.set_calendar(atlantic["bavaria"].id, hours={"mon-thu": "07:00-16:00"}, closed=["2026-03-30"],
                             by=crm.system)
    fired = dispatched(atlantic, atlantic["bavaria"], "2026-03-26T14:00:00+01:00")  # Thursday 2 pm CET
    # 2 h Thursday, Friday not a working day, Monday closed, Tuesday 9 h (11), Wednesday 7 h: 2 pm CEST
    assert fired.due_at == datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


def test_a_calendar_is_set_by_the_partys_manager_and_refused_when_it_cannot_be_worked_by(atlantic):
    crm = atlantic["crm"]
    hudson = atlantic["hudson"].id
    crm.parties.set_calendar(hudson, hours={"mon-fri": "08:00-16:00", "sat": "09:00-12:00"}, by=atlantic["Ann"])
    assert crm.parties.get(hudson, by=atlantic["Ann"]).hours["sat"] == "09:00-12:00"
    with pytest.raises(NotPermitted):
        crm.parties.set_calendar(hudson, time_zone="Europe/Paris", by=atlantic["Sepp"])
    for bad in (dict(time_zone="Mars/Olympus"), dict(hours={"mon": "17:00-09:00"}), dict(hours={"funday": "9-5"}),
                dict(closed=["someday"]), dict(region="XX")):
        with pytest.raises(ValidationError):
            crm.parties.set_calendar(hudson, by=crm.system, **bad)
    assert crm.parties.get(hudson, by=crm.system).time_zone == "America/New_York"


def test_the_command_line_shows_each_reader_the_times_in_their_own_zone(atlantic, tmp_path):
    from dealercrm.cli import main
    crm, clock = atlantic["crm"], atlantic["clock"]
    at(clock, "2026-03-06T15:00:00-05:00")
    case = crm.cases.open(atlantic["joe"].id, "washes badly", asset_id=atlantic["machine"].id, by=atlantic["Ann"])
    url = str(crm.engine.url)
    import contextlib
    import io
    for who, expected in (("Ann", "2026-03-09 11:00 EDT"), ("Claire", None)):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["--db", url, "--as", str(atlantic[who]), "cases", "show", str(case.id)])
        if expected:
            assert code == 0 and expected in out.getvalue() and "EST" in out.getvalue()
        else:
            assert code == 1  # the manufacturer does not see a case still at the dealer


def test_the_calendar_is_set_over_http_and_on_the_command_line(atlantic):
    from fastapi.testclient import TestClient

    from dealercrm.cli import main
    from dealercrm.http import create_app
    crm = atlantic["crm"]
    hudson = atlantic["hudson"].id
    key = crm.api_keys.create(hudson, actor_id=atlantic["Ann"], by=crm.system).key
    with TestClient(create_app(crm)) as api:
        done = api.put(f"/parties/{hudson}/calendar", headers={"Authorization": f"Bearer {key}"},
                       json={"hours": {"mon-fri": "10:00-18:00"}, "closed": ["2026-11-27"]})
        assert done.status_code == 200, done.text
        assert done.json()["hours"] == {"mon": "10:00-18:00", "tue": "10:00-18:00", "wed": "10:00-18:00",
                                        "thu": "10:00-18:00", "fri": "10:00-18:00"}
        refused = api.put(f"/parties/{hudson}/calendar", headers={"Authorization": f"Bearer {key}"},
                          json={"time_zone": "Mars/Olympus"})
        assert refused.status_code == 422 and refused.json()["field"] == "time_zone"
    code = main(["--db", str(crm.engine.url), "parties", "calendar", str(hudson), "--tz", "America/Chicago",
                 "--hours", "mon-sat=08:00-16:00"])
    assert code == 0
    party = crm.parties.get(hudson, by=crm.system)
    assert party.time_zone == "America/Chicago" and party.hours["sat"] == "08:00-16:00"
    assert party.closed == ["2026-11-27"]  # what was not given stays
