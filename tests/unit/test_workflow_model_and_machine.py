from datetime import datetime, timedelta, timezone

import attrs
import pytest
from transitions import Machine

from dealercrm.errors import NotFound, NotPermitted, TransitionNotAllowed, ValidationError, WorkflowUnsound
from dealercrm.workflow import (
    Calendars,
    CompiledWorkflow,
    DeadlinePolicy,
    Guard,
    State,
    Transition,
    may_fire,
)
from dealercrm.workflows.service_case import SERVICE_CASE, WORKFLOWS

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)  # a Monday
DEALER = {"party_kind": "dealer", "role": "clerk"}
SYSTEM = {"party_kind": "system", "role": "system"}


@pytest.fixture(scope="module")
def flow():
    return CompiledWorkflow(SERVICE_CASE)


def test_the_shipped_workflows_are_exported_once():
    assert WORKFLOWS == (SERVICE_CASE,)


def test_asking_for_an_undeclared_state_names_it():
    with pytest.raises(NotFound, match="state 'limbo' not found"):
        SERVICE_CASE.state("limbo")


def test_final_states_and_the_timeout_of_each_state_are_easy_to_find():
    assert {s.name for s in SERVICE_CASE.final_states} == {"closed", "refunded", "withdrawn"}
    assert SERVICE_CASE.timeout_from("manufacturer_review").dest == "dealer_decision"
    assert SERVICE_CASE.timeout_from("closed") is None


def test_a_plugin_extends_a_workflow_without_changing_the_original():
    audit = Guard("audit", lambda ctx: None)
    slower = attrs.evolve(SERVICE_CASE.state("dealer_repair"), deadline=DeadlinePolicy(timedelta(hours=36)))
    courtesy = State("courtesy_call", "dealer", DeadlinePolicy(timedelta(hours=2)), also_allowed={"dealer"})
    extended = SERVICE_CASE.extend(
        states=(courtesy,),
        transitions=(
            Transition("call_customer", "dealer_decision", "courtesy_call", {"dealer"}),
            Transition("called", "courtesy_call", "dealer_decision", {"dealer"}),
            Transition("escalate", "courtesy_call", "dealer_decision", {"system"}, timeout=True),
            Transition("withdraw", "courtesy_call", "withdrawn", {"dealer"}, required=("reason",)),
        ),
        guards={"refund": (audit,)},
        replace_states=(slower,),
    )
    assert extended is not SERVICE_CASE
    assert extended.state("dealer_repair").deadline.duration == timedelta(hours=36)
    assert extended.state("courtesy_call").owner == "dealer"
    refund = next(t for t in extended.transitions if t.trigger == "refund")
    assert refund.guards == (audit,)
    assert not SERVICE_CASE.has_state("courtesy_call")
    assert all(not t.guards for t in SERVICE_CASE.transitions if t.trigger == "refund")
    CompiledWorkflow(extended)  # still sound


def test_a_guard_for_a_misspelt_trigger_is_refused_rather_than_ignored():
    with pytest.raises(NotFound, match="trigger 'refnud'"):
        SERVICE_CASE.extend(guards={"refnud": (Guard("x", lambda ctx: None),)})


def test_a_role_specific_permission_admits_only_that_role():
    refund = next(t for t in SERVICE_CASE.transitions if t.trigger == "refund")
    assert may_fire(refund, "dealer", "manager")
    assert not may_fire(refund, "dealer", "clerk")
    assert not may_fire(refund, "manufacturer", "manager")


def test_every_case_shares_one_machine_that_never_keeps_a_case(flow):
    assert isinstance(flow.machine, Machine)
    for _ in range(100):
        flow.fire("reported", "start_diagnosis", now=NOW, **DEALER)
    assert flow.machine.models == []


def test_a_diagnosed_case_can_be_forwarded_to_the_manufacturer(flow):
    result = flow.fire("dealer_diagnosis", "forward_to_manufacturer", now=NOW, **DEALER)
    assert (result.source, result.dest) == ("dealer_diagnosis", "manufacturer_review")
    assert result.transition.trigger == "forward_to_manufacturer"


def test_overdue_manufacturer_review_returns_case_to_dealer(flow):
    trigger = flow.timeout_trigger("manufacturer_review")
    assert flow.fire("manufacturer_review", trigger, now=NOW, **SYSTEM).dest == "dealer_decision"


def test_a_rejection_goes_back_to_the_dealer_never_to_the_customer(flow):
    result = flow.fire("manufacturer_review", "reject", party_kind="manufacturer", role="agent",
                       data={"reason": "not covered"}, now=NOW)
    assert SERVICE_CASE.state(result.dest).owner == "dealer"


def test_an_unknown_trigger_names_the_workflow_and_what_is_allowed(flow):
    with pytest.raises(TransitionNotAllowed) as err:
        flow.fire("reported", "teleport", now=NOW, **DEALER)
    assert "unknown trigger 'teleport' for workflow 'service_case'" in str(err.value)
    assert err.value.allowed == ("start_diagnosis", "withdraw")


def test_a_trigger_from_the_wrong_state_is_refused_with_the_state_and_actor(flow):
    with pytest.raises(TransitionNotAllowed, match="'refund' cannot fire from state 'reported' .as dealer:clerk"):
        flow.fire("reported", "refund", now=NOW, **DEALER)


def test_the_manufacturer_cannot_decide_for_the_technician(flow):
    with pytest.raises(NotPermitted) as err:
        flow.fire("technician_dispatch", "decline_slot", party_kind="manufacturer", role="agent",
                  data={"reason": "busy"}, now=NOW)
    message = str(err.value)
    assert "manufacturer:agent may not fire 'decline_slot' from state 'technician_dispatch'" in message
    assert "may be fired by: technician" in message


def test_only_a_dealer_manager_may_refund(flow):
    with pytest.raises(NotPermitted, match="dealer:clerk may not fire 'refund'.*dealer:manager"):
        flow.fire("dealer_decision", "refund", now=NOW, **DEALER)
    assert flow.fire("dealer_decision", "refund", party_kind="dealer", role="manager", now=NOW).dest == "refunded"


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_rejection_without_a_reason_is_invalid(flow, reason):
    data = {} if reason is None else {"reason": reason}
    with pytest.raises(ValidationError) as err:
        flow.fire("manufacturer_review", "reject", party_kind="manufacturer", role="agent", data=data, now=NOW)
    assert err.value.field == "reason"
    assert "'reject' from state 'manufacturer_review' requires it" in str(err.value)


def test_a_visit_after_the_service_deadline_needs_the_customers_agreement(flow):
    due = flow.due_at("technician_dispatch", NOW, Calendars())
    late = {"visit_at": due + timedelta(days=20)}
    tech = {"party_kind": "technician", "role": "field"}
    with pytest.raises(TransitionNotAllowed, match="needs the customer's recorded agreement") as err:
        flow.fire("technician_dispatch", "schedule_visit", data=late, now=NOW, due_at=due, **tech)
    assert "decline_slot" in err.value.allowed
    agreed = {"customer_agreed_late_slot": True}
    result = flow.fire("technician_dispatch", "schedule_visit", data=late, now=NOW, due_at=due, facts=agreed, **tech)
    assert result.dest == "visit_scheduled"


def test_a_visit_inside_the_service_deadline_needs_no_agreement(flow):
    due = flow.due_at("technician_dispatch", NOW, Calendars())
    result = flow.fire("technician_dispatch", "schedule_visit", party_kind="technician", role="field",
                       data={"visit_at": due - timedelta(hours=1)}, now=NOW, due_at=due)
    assert result.dest == "visit_scheduled"


@pytest.mark.parametrize("visit_at", ["2026-01-06T10:00", datetime(2026, 1, 6, 10)])
def test_a_visit_time_without_a_timezone_is_refused_not_guessed(flow, visit_at):
    with pytest.raises(ValidationError, match="must be an aware date and time") as err:
        flow.fire("technician_dispatch", "schedule_visit", party_kind="technician", role="field",
                  data={"visit_at": visit_at}, now=NOW, due_at=NOW + timedelta(days=2))
    assert err.value.field == "visit_at"


def test_a_case_in_a_state_the_workflow_no_longer_declares_is_reported_not_guessed(flow):
    with pytest.raises(NotFound, match="state 'limbo' not found"):
        flow.fire("limbo", "start_diagnosis", now=NOW, **DEALER)


def test_every_refusal_can_name_the_case(flow):
    with pytest.raises(TransitionNotAllowed, match="^case 17: unknown trigger"):
        flow.fire("reported", "teleport", now=NOW, subject="case 17", **DEALER)
    with pytest.raises(NotPermitted, match="^case 17: "):
        flow.fire("manufacturer_review", "approve_visit", now=NOW, subject="case 17", **DEALER)
    with pytest.raises(ValidationError, match="^case 17: invalid new_serial None: trigger 'deliver_replacement'"):
        flow.fire("replacement", "deliver_replacement", now=NOW, subject="case 17", **DEALER)


def test_the_dealer_or_an_inbound_reply_speaks_for_the_customer(flow):
    assert flow.allowed_triggers("awaiting_confirmation", "system", "system") == ["auto_close", "confirm",
                                                                                  "still_broken"]
    assert flow.fire("awaiting_confirmation", "still_broken", now=NOW, **DEALER).dest == "dealer_diagnosis"


def test_the_dealer_can_take_a_case_back_from_a_silent_technician(flow):
    assert "take_over" in flow.allowed_triggers("visit_scheduled", "dealer", "clerk")
    result = flow.fire("visit_scheduled", "take_over", data={"reason": "customer waited enough"}, now=NOW, **DEALER)
    assert result.dest == "dealer_decision"


def test_a_closed_case_has_no_due_date_and_customer_silence_runs_on_the_wall_clock(flow):
    calendars = Calendars()
    assert flow.due_at("closed", NOW, calendars) is None
    assert flow.due_at("awaiting_confirmation", NOW, calendars) == NOW + timedelta(days=14)


def test_an_unsound_workflow_cannot_be_compiled():
    broken = attrs.evolve(SERVICE_CASE, initial="nowhere")
    with pytest.raises(WorkflowUnsound, match="initial state 'nowhere' is not declared"):
        CompiledWorkflow(broken)
