from datetime import timedelta

import attrs
import pytest

from dealercrm.errors import DealerCrmError, WorkflowUnsound
from dealercrm.workflow import DeadlinePolicy, State, Transition, Workflow, assert_sound, check_workflow
from dealercrm.workflows.service_case import SERVICE_CASE

DAY = DeadlinePolicy(timedelta(hours=9))


def without(wf, trigger, source):
    """The workflow minus one transition, as a careless plugin might leave it."""
    kept = tuple(t for t in wf.transitions if (t.trigger, t.source) != (trigger, source))
    assert len(kept) == len(wf.transitions) - 1
    return attrs.evolve(wf, transitions=kept)


def findings(wf, prop):
    return [v for v in check_workflow(wf) if v.property == prop]


def the_message(wf, prop):
    found = findings(wf, prop)
    assert found, f"expected a property {prop} violation, got {check_workflow(wf)}"
    return "\n".join(v.message for v in found)


def test_the_shipped_service_case_is_sound():
    assert check_workflow(SERVICE_CASE) == []
    assert assert_sound(SERVICE_CASE) is SERVICE_CASE


def test_a_state_declared_twice_is_refused():
    twice = SERVICE_CASE.extend(states=(State("closed", final=True),))
    assert "state 'closed' is declared more than once [declaration]" in the_message(twice, 0)


def test_two_transitions_for_the_same_trigger_and_state_are_refused():
    ambiguous = SERVICE_CASE.extend(transitions=(Transition("confirm", "awaiting_confirmation", "withdrawn",
                                                            {"dealer"}),))
    assert "trigger 'confirm' is declared more than once from state 'awaiting_confirmation'" in \
        the_message(ambiguous, 0)


def test_an_undeclared_initial_state_breaks_property_1():
    assert "initial state 'nowhere' is not declared [property 1]" in \
        the_message(attrs.evolve(SERVICE_CASE, initial="nowhere"), 1)


def test_a_transition_into_an_undeclared_state_breaks_property_1():
    lost = SERVICE_CASE.extend(transitions=(Transition("archive", "dealer_decision", "archive", {"dealer"}),))
    assert "transition 'archive' (dealer_decision -> archive) names undeclared state 'archive'" in \
        the_message(lost, 1)


def test_a_state_nobody_can_enter_breaks_property_1():
    orphan = SERVICE_CASE.extend(
        states=(State("limbo", "dealer", DAY),),
        transitions=(Transition("escalate", "limbo", "dealer_decision", {"system"}, timeout=True),),
    )
    message = the_message(orphan, 1)
    assert "state 'limbo' (owner dealer) is unreachable from the initial state 'reported' [property 1]" in message


def test_a_state_with_no_way_out_breaks_property_2():
    trap = SERVICE_CASE.extend(
        states=(State("on_hold", "dealer", DAY),),
        transitions=(
            Transition("hold", "dealer_decision", "on_hold", {"dealer"}),
            Transition("remind", "on_hold", "on_hold", {"dealer"}),
            Transition("escalate", "on_hold", "on_hold", {"system"}, timeout=True),
        ),
    )
    assert "state 'on_hold' (owner dealer) cannot reach any final state: the case would never end [property 2]" \
        in the_message(trap, 2)


def test_an_open_state_without_an_owner_breaks_property_3():
    orphaned = SERVICE_CASE.extend(replace_states=(attrs.evolve(SERVICE_CASE.state("replacement"), owner=None),))
    assert "state 'replacement' (owner None) has no owner" in the_message(orphaned, 3)


def test_the_system_cannot_own_a_case():
    robot = SERVICE_CASE.extend(replace_states=(attrs.evolve(SERVICE_CASE.state("replacement"), owner="system"),))
    assert "has owner 'system', which is not one of customer, dealer, manufacturer, technician" in \
        the_message(robot, 3)


def test_a_manufacturer_who_cannot_act_on_its_own_review_breaks_property_3():
    mute = SERVICE_CASE
    for trigger in ("approve_visit", "approve_replacement", "reject"):
        mute = without(mute, trigger, "manufacturer_review")
    assert "state 'manufacturer_review' (owner manufacturer) offers its owner no transition: the manufacturer " \
        "could not move the case [property 3]" in the_message(mute, 3)


def test_a_silent_manufacturer_without_timeout_breaks_property_4():
    forever = without(SERVICE_CASE, "escalate", "waiting_for_parts")
    assert the_message(forever, 4) == (
        "workflow 'service_case': state 'waiting_for_parts' (owner manufacturer) has no timeout transition: "
        "a silent manufacturer would keep the case waiting forever [property 4]"
    )


def test_an_open_state_without_a_deadline_breaks_property_4():
    open_ended = SERVICE_CASE.extend(replace_states=(
        attrs.evolve(SERVICE_CASE.state("dealer_repair"), deadline=None),))
    assert "state 'dealer_repair' (owner dealer) has no deadline" in the_message(open_ended, 4)


def test_a_timeout_the_system_cannot_fire_breaks_property_4():
    manual = attrs.evolve(SERVICE_CASE, transitions=tuple(
        attrs.evolve(t, allowed={"manufacturer"}) if (t.trigger, t.source) == ("escalate", "waiting_for_parts") else t
        for t in SERVICE_CASE.transitions))
    assert "transition 'escalate' (waiting_for_parts -> dealer_decision) is a timeout the system may not fire" in \
        the_message(manual, 4)


def test_a_final_state_that_can_be_left_or_has_a_deadline_breaks_property_4():
    undead = SERVICE_CASE.extend(
        replace_states=(attrs.evolve(SERVICE_CASE.state("refunded"), deadline=DAY),),
        transitions=(Transition("reopen", "closed", "dealer_diagnosis", {"dealer"}),),
    )
    message = the_message(undead, 4)
    assert "state 'closed' (owner None) is final but has outgoing transitions (reopen)" in message
    assert "state 'refunded' (owner None) is final but has a deadline" in message


def test_a_case_only_the_manufacturer_can_end_breaks_property_5():
    hostage = Workflow(
        name="warranty_only",
        initial="review",
        states=(
            State("review", "manufacturer", DAY),
            State("done", final=True),
        ),
        transitions=(
            Transition("approve", "review", "done", {"manufacturer"}),
            Transition("remind", "review", "review", {"system"}, timeout=True),
        ),
    )
    assert findings(hostage, 2) == []
    assert "workflow 'warranty_only': state 'review' (owner manufacturer) cannot reach a final state by dealer " \
        "or system transitions alone" in the_message(hostage, 5)


def test_a_party_acting_on_a_state_it_does_not_own_breaks_property_6():
    meddling = SERVICE_CASE.extend(transitions=(
        Transition("self_approve", "manufacturer_review", "technician_dispatch", {"technician"}),))
    assert "transition 'self_approve' (manufacturer_review -> technician_dispatch) lets the technician act on " \
        "state 'manufacturer_review' owned by the manufacturer" in the_message(meddling, 6)


def test_declaring_also_allowed_lets_another_party_act():
    review = SERVICE_CASE.state("manufacturer_review")
    invited = SERVICE_CASE.extend(
        replace_states=(attrs.evolve(review, also_allowed=review.also_allowed | {"technician"}),),
        transitions=(Transition("self_approve", "manufacturer_review", "technician_dispatch", {"technician"}),),
    )
    assert findings(invited, 6) == []


def test_an_unknown_party_in_a_permission_breaks_property_6():
    alien = SERVICE_CASE.extend(transitions=(Transition("beam", "dealer_decision", "closed", {"alien"}),))
    assert "allows 'alien', which is not a party kind or 'system'" in the_message(alien, 6)


def test_an_unsound_workflow_is_refused_with_every_violation_listed():
    broken = without(without(SERVICE_CASE, "escalate", "waiting_for_parts"), "escalate", "replacement")
    with pytest.raises(WorkflowUnsound) as err:
        assert_sound(broken)
    assert isinstance(err.value, DealerCrmError)
    assert len(err.value.violations) == 2
    assert "workflow 'service_case' is unsound (2 violations)" in str(err.value)
    assert "'waiting_for_parts'" in str(err.value) and "'replacement'" in str(err.value)
