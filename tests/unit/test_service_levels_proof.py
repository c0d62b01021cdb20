"""Service levels as data: which level a case runs on, and the proof that covers every level.

A level changes deadlines only, so the six properties hold on it once its deadlines are
sound; a level that would leave a state without a deadline, or give it none worth the
name, is refused at load, naming the level and the state. The settings change levels or
add their own, and what they say is checked with the same care, naming the setting.
"""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from dealercrm.errors import ValidationError, WorkflowUnsound
from dealercrm.settings import CaseSettings, Settings
from dealercrm.workflow import DeadlinePolicy, assert_sound, check_workflow
from dealercrm.workflow.levels import apply_settings, parse_duration
from dealercrm.workflow.model import ServiceLevel
from dealercrm.workflows.service_case import DAY, SERVICE_CASE

HOUR = timedelta(hours=1)


def messages(wf) -> list[str]:
    return [v.message for v in check_workflow(wf)]


def with_level(*levels: ServiceLevel):
    return SERVICE_CASE.extend(levels=levels)


# -- which level a case runs on ---------------------------------------------------------------

def test_a_case_runs_on_the_first_declared_level_that_applies_and_says_why():
    assert SERVICE_CASE.level_for("normal", "washing machine", []) == ("standard", "no service level applies")
    assert SERVICE_CASE.level_for("normal", "washing machine", ["premium"]) == ("premium", "contract 'premium'")
    # urgent is declared before premium: an urgent case of a premium customer runs on urgent
    assert SERVICE_CASE.level_for("urgent", "washing machine", ["premium"]) == ("urgent", "priority 'urgent'")
    # the product's category, compared ignoring case
    assert SERVICE_CASE.level_for("high", "Refrigerator", []) == ("essential", "product category 'Refrigerator'")
    # one contract of several (the asset's and the customer's) suffices
    assert SERVICE_CASE.level_for("low", None, ["fleet", "premium"])[0] == "premium"


def test_a_level_needs_every_condition_it_names():
    both = ServiceLevel("heating_premium", {"reported": HOUR}, categories=("heating",), contracts=("premium",))
    assert not both.applies("normal", "heating", [])
    assert not both.applies("normal", "washer", ["premium"])
    assert both.applies("normal", "HEATING", ["premium"])
    assert both.because("normal", "HEATING", ["premium"]) == "contract 'premium', product category 'HEATING'"


def test_a_level_changes_the_deadlines_it_names_and_nothing_else():
    premium = SERVICE_CASE.at_level("premium")
    assert premium.state("manufacturer_review").deadline == DeadlinePolicy(DAY, True)
    assert SERVICE_CASE.state("manufacturer_review").deadline == DeadlinePolicy(2 * DAY, True)
    # a state the level does not name keeps the workflow's own deadline, and its kind of time
    assert premium.state("awaiting_confirmation").deadline == SERVICE_CASE.state("awaiting_confirmation").deadline
    assert premium.transitions == SERVICE_CASE.transitions
    assert [s.owner for s in premium.states] == [s.owner for s in SERVICE_CASE.states]


def test_a_plugin_replaces_a_level_in_its_place_and_adds_new_ones_after():
    faster = ServiceLevel("premium", {"manufacturer_review": 4 * HOUR}, contracts=("premium",))
    fleet = ServiceLevel("fleet", {"reported": HOUR}, contracts=("fleet",))
    wf = SERVICE_CASE.extend(levels=[faster, fleet])
    assert wf.level_names == ("standard", "urgent", "premium", "essential", "fleet")
    assert wf.at_level("premium").state("manufacturer_review").deadline.duration == 4 * HOUR
    assert check_workflow(wf) == []


# -- the proof covers every level ----------------------------------------------------------------

def test_every_declared_level_of_the_service_case_is_sound():
    assert check_workflow(SERVICE_CASE) == []
    for name in SERVICE_CASE.level_names:
        assert check_workflow(SERVICE_CASE.at_level(name)) == []


def test_a_level_that_makes_a_deadline_zero_is_refused_at_load_naming_level_and_state():
    broken = with_level(ServiceLevel("gold", {"manufacturer_review": timedelta(0)}, contracts=("gold",)))
    with pytest.raises(WorkflowUnsound) as err:
        assert_sound(broken)
    [message] = [str(v) for v in err.value.violations]
    assert message == ("workflow 'service_case': level 'gold': state 'manufacturer_review' (owner manufacturer) has "
                       "a non-positive deadline 0:00:00 on this level [property 4]")


def test_a_negative_deadline_on_a_level_is_refused_too():
    [message] = messages(with_level(ServiceLevel("gold", {"dealer_decision": -HOUR}, contracts=("gold",))))
    assert "level 'gold': state 'dealer_decision' (owner dealer) has a non-positive deadline" in message


def test_a_level_that_leaves_a_state_without_a_deadline_is_refused():
    [message] = messages(with_level(ServiceLevel("gold", {"technician_dispatch": None}, contracts=("gold",))))
    assert message == ("workflow 'service_case': level 'gold': state 'technician_dispatch' (owner technician) has no "
                       "deadline on this level: nobody would have to act by any date [property 4]")


def test_a_level_naming_a_state_that_does_not_exist_or_is_final_is_refused():
    found = messages(with_level(ServiceLevel("gold", {"manufacturer_reveiw": HOUR, "closed": HOUR},
                                             contracts=("gold",))))
    assert ("workflow 'service_case': level 'gold' sets a deadline for state 'manufacturer_reveiw', which the "
            "workflow does not declare [declaration]") in found
    assert ("workflow 'service_case': level 'gold': state 'closed' (owner None) is final and can have no deadline "
            "on any level [property 4]") in found


def test_a_level_without_a_condition_or_with_an_impossible_one_is_refused():
    found = messages(with_level(ServiceLevel("everyone", {"reported": HOUR}),
                                ServiceLevel("asap", {"reported": HOUR}, priorities=("asap",))))
    assert any("level 'everyone' names no priority, product category or contract: it would apply to every case"
               in m for m in found)
    assert any("level 'asap' names priority 'asap', which no case can have (one of low, normal, high, urgent)"
               in m for m in found)


def test_a_level_declared_twice_or_named_standard_is_refused():
    # (extend would replace the first gold by the second: declared so, both are there)
    found = messages(attrs.evolve(SERVICE_CASE, levels=(
        ServiceLevel("standard", {"reported": HOUR}, contracts=("x",)),
        ServiceLevel("gold", {"reported": HOUR}, contracts=("gold",)),
        ServiceLevel("gold", {"reported": 2 * HOUR}, contracts=("gold",)))))
    assert any("level 'standard' is the name of the workflow's own deadlines" in m for m in found)
    assert any("level 'gold' is declared more than once" in m for m in found)


# -- levels from the settings ----------------------------------------------------------------------

def test_durations_in_the_settings_count_working_days_in_working_time_and_days_on_the_wall_clock():
    assert parse_duration("x", "4h", True) == 4 * HOUR
    assert parse_duration("x", "1h30m", True) == timedelta(minutes=90)
    assert parse_duration("x", "2d", True) == 18 * HOUR  # two working days of 9 hours
    assert parse_duration("x", "2d", False) == timedelta(days=2)
    with pytest.raises(ValidationError, match=r'give a duration like "4h", "30m", "1h30m" or "2d"'):
        parse_duration("[cases.service_levels.service_case.premium] deadlines.reported", "two hours", True)


def test_the_settings_change_a_declared_level_and_add_one_that_is_tried_first():
    table = {"service_case": {
        "premium": {"contracts": ["premium", "premium_plus"], "deadlines": {"manufacturer_review": "4h"}},
        "fleet": {"contracts": "fleet", "deadlines": {"reported": "30m", "awaiting_confirmation": "3d"}},
        "standard": {"deadlines": {"reported": "2h"}},
    }}
    wf = apply_settings({"service_case": SERVICE_CASE}, table)["service_case"]
    assert wf.level_names == ("standard", "fleet", "urgent", "premium", "essential")
    premium = wf.at_level("premium")
    assert premium.state("manufacturer_review").deadline == DeadlinePolicy(4 * HOUR, True)
    assert premium.state("reported").deadline.duration == 2 * HOUR  # the declared premium deadline stays
    assert wf.level("premium").contracts == {"premium", "premium_plus"}
    fleet = wf.at_level("fleet")
    assert fleet.state("awaiting_confirmation").deadline == DeadlinePolicy(timedelta(days=3), False)  # wall clock
    assert wf.state("reported").deadline.duration == 2 * HOUR  # the standard level is the workflow's own
    assert check_workflow(wf) == []


@pytest.mark.parametrize("table, where, why", [
    ({"service_cas": {}}, "[cases.service_levels.service_cas]", "names no registered workflow"),
    ({"service_case": {"gold": {"deadlines": {"manufacturer_reveiw": "4h"}}}},
     "[cases.service_levels.service_case.gold] deadlines.manufacturer_reveiw",
     "workflow 'service_case' has no state 'manufacturer_reveiw'"),
    ({"service_case": {"gold": {"deadlines": {"closed": "4h"}}}},
     "[cases.service_levels.service_case.gold] deadlines.closed", "'closed' is a final state"),
    ({"service_case": {"gold": {"deadlines": {"reported": 4}}}},
     "[cases.service_levels.service_case.gold] deadlines.reported", "give a duration like"),
    ({"service_case": {"gold": {"contracts": [""]}}}, "[cases.service_levels.service_case.gold] contracts",
     "must be a list of names"),
    ({"service_case": {"standard": {"contracts": ["gold"]}}}, "[cases.service_levels.service_case.standard]",
     "can have no conditions"),
])
def test_a_mistake_in_the_settings_names_the_setting(table, where, why):
    with pytest.raises(ValidationError) as err:
        apply_settings({"service_case": SERVICE_CASE}, table)
    assert err.value.field == where and why in str(err.value)


@pytest.mark.parametrize("level, named, why", [
    ({"contract": ["gold"]}, "[cases.service_levels.service_case.gold] key", "did you mean 'contracts'?"),
    ({"deadlines": {"reported": 4}}, "[cases.service_levels.service_case.gold] deadlines.reported",
     "must be a text in quotes, not a number"),
    ({"description": 3}, "[cases.service_levels.service_case.gold] description", "must be a text in quotes"),
])
def test_a_level_of_the_wrong_shape_is_refused_by_its_declaration_naming_the_key(level, named, why):
    """Keys and types are declared once (ServiceLevelTable): refused however the settings are made."""
    with pytest.raises(ValidationError) as err:
        CaseSettings(service_levels={"service_case": {"gold": level}})
    assert err.value.field == named and why in str(err.value)


def test_a_level_from_the_settings_that_breaks_the_proof_stops_the_application_from_starting(crm_factory):
    settings = Settings(cases=CaseSettings(service_levels={
        "service_case": {"gold": {"contracts": ["gold"], "deadlines": {"technician_dispatch": "0h"}}}}))
    with pytest.raises(WorkflowUnsound, match=r"level 'gold': state 'technician_dispatch' \(owner technician\) has "
                                              r"a non-positive deadline 0:00:00 on this level \[property 4\]"):
        crm_factory(settings=settings)


def test_the_settings_levels_are_the_running_ones(crm_factory):
    settings = Settings(cases=CaseSettings(service_levels={
        "service_case": {"premium": {"deadlines": {"manufacturer_review": "4h"}}}}))
    crm = crm_factory(settings=settings)
    premium = crm.workflows["service_case"].at_level("premium")
    assert premium.state("manufacturer_review").deadline.duration == 4 * HOUR
    assert crm.cases.contracts() == {"premium"}
