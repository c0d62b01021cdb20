"""Guards and the proof: what the checker may assume of a callable it cannot read.

A guard that always refuses must not be able to undo what the load-time proof
promises: it may not sit on a timeout (property 4), and it may not close every way the
dealer has to make it right (property 5) unless it declares the data that satisfies it
— and then it sees only that data, so the declaration cannot quietly depend on more.
"""

from datetime import datetime, timedelta

import attrs
import pytest

from dealercrm.clock import UTC
from dealercrm.errors import TransitionNotAllowed, WorkflowUnsound
from dealercrm.workflow import CompiledWorkflow, Guard, assert_sound, check_workflow
from dealercrm.workflows.service_case import SERVICE_CASE

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)
NEVER = Guard("never", lambda ctx: "no, never", "refuses whatever happens")
DEALER_EXITS = ("offer_replacement", "refund", "retry_manufacturer", "repair_at_dealer", "close_by_agreement",
                "withdraw")


def messages(wf, prop):
    return [v.message for v in check_workflow(wf) if v.property == prop]


def guarded(wf, trigger, source, *guards, **changes):
    """``wf`` with guards (and other changes) on one transition only, as a plugin could return it."""
    found = [t for t in wf.transitions if (t.trigger, t.source) == (trigger, source)]
    assert len(found) == 1
    return attrs.evolve(wf, transitions=tuple(
        attrs.evolve(t, guards=t.guards + guards, **changes) if t is found[0] else t for t in wf.transitions))


def test_the_shipped_service_case_needs_no_guard_to_be_trusted():
    assert check_workflow(SERVICE_CASE) == []
    # its guards sit on the manufacturer's approvals (the RMA number's form) and the technician's
    # own booking, which the proof never leans on
    assert [(t.trigger, t.source, t.allowed) for t in SERVICE_CASE.transitions if t.guards] == [
        ("approve_visit", "manufacturer_review", {"manufacturer"}),
        ("approve_replacement", "manufacturer_review", {"manufacturer"}),
        ("schedule_visit", "technician_dispatch", {"technician"})]


def test_a_guard_on_the_manufacturers_timeout_breaks_property_4_naming_state_trigger_and_guard():
    stuck = SERVICE_CASE.extend(guards={"escalate": [NEVER]})  # every escalate, as extend attaches by trigger
    found = messages(stuck, 4)
    assert ("workflow 'service_case': transition 'escalate' (manufacturer_review -> dealer_decision) is the timeout "
            "of state 'manufacturer_review' and carries guard 'never': the system's escalation is unconditional, "
            "or a silent manufacturer could keep the case for ever [property 4]") in found
    assert len(found) == sum(1 for t in SERVICE_CASE.transitions if t.trigger == "escalate")


def test_even_a_guard_that_declares_its_data_may_not_sit_on_a_timeout():
    polite = Guard("reason", lambda ctx: None, satisfied_by=("reason",))
    [message] = messages(guarded(SERVICE_CASE, "escalate", "waiting_for_parts", polite), 4)
    assert "'escalate' (waiting_for_parts -> dealer_decision)" in message and "carries guard 'reason'" in message


def test_a_timeout_that_requires_data_breaks_property_4():
    [message] = messages(guarded(SERVICE_CASE, "escalate", "technician_dispatch", required=("approval",)), 4)
    assert "is the timeout of state 'technician_dispatch' and requires approval: the system supplies no data" \
        in message


def test_refusing_guards_on_every_dealer_exit_of_the_safety_net_break_property_5():
    trapped = SERVICE_CASE.extend(guards={t: [NEVER] for t in DEALER_EXITS})
    found = messages(trapped, 5)
    [message] = [m for m in found if "state 'dealer_decision'" in m]
    assert message.startswith("workflow 'service_case': state 'dealer_decision' (owner dealer) cannot reach a final "
                              "state by dealer or system transitions alone: every way there passes a guard that may "
                              "refuse for ever (")
    for trigger, dest in (("refund", "refunded"), ("close_by_agreement", "closed"), ("withdraw", "withdrawn"),
                          ("offer_replacement", "replacement"), ("repair_at_dealer", "dealer_repair")):
        assert f"'never' on {trigger!r} (dealer_decision -> {dest})" in message
    assert "satisfied_by" in message and message.endswith("[property 5]")
    with pytest.raises(WorkflowUnsound, match="dealer_decision"):
        assert_sound(trapped)


def test_one_guard_free_way_out_keeps_the_dealer_able_to_make_it_right():
    assert messages(SERVICE_CASE.extend(guards={t: [NEVER] for t in DEALER_EXITS if t != "refund"}), 5) == []


def test_withdrawing_is_no_way_to_make_it_right_so_it_alone_leaves_no_promise():
    # the customer withdrawing ends the case, but resolves nothing (State(resolves=False))
    only_withdraw = SERVICE_CASE.extend(guards={t: [NEVER] for t in DEALER_EXITS if t != "withdraw"})
    found = [m for m in messages(only_withdraw, 5) if "state 'dealer_decision'" in m]
    assert found == ["workflow 'service_case': state 'dealer_decision' (owner dealer) cannot reach a final state "
                     "that resolves the customer's matter (not 'withdrawn') with the manufacturer, technician and "
                     "customer silent, their states ending by their timeout, and only the dealer and the system "
                     "acting: no promise could be made to the customer [property 5]"]


def test_guards_that_declare_the_data_satisfying_them_keep_the_proof():
    def with_reason(ctx):
        return None if len(str(ctx.data.get("audit_reason", ""))) >= 10 else "give a reason of ten letters or more"

    reasoned = Guard("audit_reason", with_reason, satisfied_by=("audit_reason",))
    assert check_workflow(SERVICE_CASE.extend(guards={t: [reasoned] for t in DEALER_EXITS})) == []
    # one guard without a declaration on each exit is enough to close them all again
    mixed = SERVICE_CASE.extend(guards={t: [reasoned, NEVER] for t in DEALER_EXITS})
    [message] = [m for m in messages(mixed, 5) if "state 'dealer_decision'" in m]
    assert "'never' on 'refund'" in message and "audit_reason" not in message


def test_a_declared_guard_on_a_transition_only_the_system_fires_does_not_count():
    # the system supplies no data, so "the data satisfies it" is no way out for the dealer
    polite = Guard("reply_text", lambda ctx: None, satisfied_by=("text",))
    only_system = attrs.evolve(SERVICE_CASE, transitions=tuple(
        attrs.evolve(t, allowed={"system"}, guards=(polite,))
        if (t.trigger, t.source) == ("customer_replied", "waiting_for_customer") else t
        for t in SERVICE_CASE.transitions if (t.trigger, t.source) != ("withdraw", "waiting_for_customer")))
    # the timeout still leads to the dealer: the state is not trapped, the guard is not needed
    assert messages(only_system, 5) == []
    trapped = guarded(only_system, "customer_silent", "waiting_for_customer", NEVER)
    [message] = [m for m in messages(trapped, 5) if "state 'waiting_for_customer'" in m]
    assert "'reply_text' on 'customer_replied'" in message and "'never' on 'customer_silent'" in message


def test_a_declared_guard_sees_only_the_data_it_declared_and_says_what_to_supply():
    seen = []

    def careful(ctx):
        seen.append((dict(ctx.data), dict(ctx.facts)))
        return None if ctx.data.get("audit_reason") else "the audit needs a reason"

    flow = CompiledWorkflow(SERVICE_CASE.extend(guards={"refund": [Guard("audit", careful,
                                                                         satisfied_by=("audit_reason",))]}))
    with pytest.raises(TransitionNotAllowed, match=r"refused by guard 'audit': the audit needs a reason "
                                                   r"\(supply audit_reason to satisfy it\)"):
        flow.fire("dealer_decision", "refund", party_kind="dealer", role="manager", data={"note": "x"}, now=NOW,
                  facts={"stock_reserved": True})
    result = flow.fire("dealer_decision", "refund", party_kind="dealer", role="manager", now=NOW,
                       data={"note": "x", "audit_reason": "customer waited three weeks"}, facts={"vip": True})
    assert result.dest == "refunded"
    assert seen == [({}, {}), ({"audit_reason": "customer waited three weeks"}, {})]


def test_an_undeclared_guard_still_sees_the_whole_context():
    seen = []
    flow = CompiledWorkflow(SERVICE_CASE.extend(guards={"deliver_replacement": [
        Guard("stock", lambda ctx: seen.append((dict(ctx.data), dict(ctx.facts))))]}))
    flow.fire("replacement", "deliver_replacement", party_kind="dealer", data={"new_serial": "BR7-2"}, now=NOW,
              due_at=NOW + timedelta(days=1), facts={"stock_reserved": True})
    assert seen == [({"new_serial": "BR7-2"}, {"stock_reserved": True})]


def test_a_transition_with_a_guard_is_still_counted_reachable():
    # properties 1 and 2 keep assuming a guard can pass: a guarded way in is still a way in
    assert check_workflow(guarded(SERVICE_CASE, "forward_to_manufacturer", "dealer_diagnosis", NEVER)) == []
