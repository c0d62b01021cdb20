"""Whose score is it? (issue #13, item 8)

Erika answers the survey once her washing machine case is closed. Her verdict counts for
her dealer, always, and for the party that resolved the case — the technician who fixed
it, or the dealer who swapped the machine after the manufacturer fell silent — never
for a manufacturer that only passed the case on. One answer per case, counted once.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from case_world import copy_world

from dealercrm.services.reports import satisfaction


@pytest.fixture
def world(tmp_path, clock):
    world = copy_world(tmp_path, clock)
    yield world
    world.crm.close()


def rows(world):
    return {row["party"]: (row["kind"], row["responses"], row["resolved"], row["csat"], row["nps"])
            for row in satisfaction(world.crm)}


def fixed_by_the_technician(world, clock) -> int:
    case = world.open_case()
    world.to_technician(case.id)
    world.fire(case.id, "schedule_visit", world.fitter, visit_at=clock.now() + timedelta(days=1))
    clock.advance(days=1)
    world.fire(case.id, "report_fixed", world.fitter)
    return case.id


def test_a_technicians_fix_is_credited_to_the_dealer_and_the_technician_not_the_manufacturer(world, clock):
    case_id = fixed_by_the_technician(world, clock)
    world.fire(case_id, "confirm", world.service)
    world.crm.surveys.record(case_id, csat=5, nps=10, by=world.service.id)
    assert rows(world) == {"Elektro Schmidt": ("dealer", 1, 0, 5.0, 100.0),
                           "Technik-Service Nord": ("technician", 1, 1, 5.0, 100.0)}
    # each party reads its own row; the manufacturer has none
    assert [r["party"] for r in world.crm.reports.report("satisfaction", by=world.fitter.id)] == [
        "Technik-Service Nord"]
    assert world.crm.reports.report("satisfaction", by=world.warranty_desk.id) == []


def test_the_dealer_who_swapped_the_machine_after_the_manufacturer_fell_silent_gets_the_score_alone(world, clock):
    case = world.open_case()
    forwarded = world.to_manufacturer(case.id)
    clock.set(forwarded.due_at + timedelta(minutes=5))
    assert world.crm.cases.tick().fired == 1  # back with the dealer
    world.fire(case.id, "offer_replacement", world.service)
    world.fire(case.id, "deliver_replacement", world.service, new_serial="BR7-0002")
    clock.advance(days=15)
    assert world.crm.cases.tick().fired == 1  # fourteen quiet days: confirmed by the clock
    world.crm.surveys.record(case.id, csat=2, nps=4, by=world.service.id)
    assert rows(world) == {"Elektro Schmidt": ("dealer", 1, 1, 2.0, -100.0)}


def test_a_reopened_case_is_credited_to_whoever_resolved_it_last(world, clock):
    case_id = fixed_by_the_technician(world, clock)
    world.fire(case_id, "still_broken", world.service)  # back at the dealer
    world.fire(case_id, "repair_at_dealer", world.service)
    world.fire(case_id, "report_fixed", world.service)
    world.fire(case_id, "confirm", world.service)
    world.crm.surveys.record(case_id, csat=4, by=world.service.id)
    assert rows(world) == {"Elektro Schmidt": ("dealer", 1, 1, 4.0, None)}


def test_a_rejected_case_closed_by_the_dealer_is_the_dealers_and_a_case_nobody_resolved_too(world):
    rejected = world.open_case()
    world.to_manufacturer(rejected.id)
    world.fire(rejected.id, "reject", world.warranty_desk, reason="not covered")
    world.fire(rejected.id, "close_by_agreement", world.service, note="goodwill voucher")
    still_open = world.open_case()
    world.to_technician(still_open.id)
    world.crm.surveys.record(rejected.id, nps=9, by=world.service.id)
    world.crm.surveys.record(still_open.id, nps=3, by=world.service.id)  # answered early: nobody resolved it yet
    assert rows(world) == {"Elektro Schmidt": ("dealer", 2, 1, None, 0.0)}


def test_answers_revised_for_one_case_count_once(world, clock):
    case_id = fixed_by_the_technician(world, clock)
    world.fire(case_id, "confirm", world.service)
    for scores in ({"csat": 1, "nps": 0}, {"csat": 4}, {"nps": 9}):
        world.crm.surveys.record(case_id, **scores, by=world.service.id)
    assert rows(world)["Elektro Schmidt"] == ("dealer", 1, 0, 4.0, 100.0)
