"""A guard cannot undo the promise that no workflow strands a customer (#13).

Tried as a plugin author would: a guard that always refuses, put on the system's
timeout out of ``manufacturer_review``, would let a silent manufacturer keep the case
for ever; guards that always refuse on every dealer exit of ``dealer_decision`` would
take away the dealer's safety net. Both are refused when the plugin is loaded, naming
what they broke. A guard that says which data satisfies it is fine: the dealer can
always supply data. And when an escalation is refused at run time anyway (a plugin's
veto, a plugin's crash), ``tick`` does not leave the overdue case in silence: its
dealer gets one task naming it, and the log says so.
"""

from __future__ import annotations

import logging

import pytest
from case_world import build_world, copy_world, plugin, timeouts_of
from sqlalchemy import select

from dealercrm import CaseEscalated, TaskCreated, TransitionNotAllowed, Vetoed, WorkflowUnsound
from dealercrm.db.models import Interaction, Task
from dealercrm.workflow import Guard

NEVER = Guard("manufacturer_must_answer", lambda ctx: "the manufacturer has not answered yet")
DEALER_EXITS = ("offer_replacement", "refund", "retry_manufacturer", "repair_at_dealer", "close_by_agreement",
                "withdraw")


def guarding(**guards):
    """A plugin that attaches guards through ``workflow.extend(guards=...)``."""
    def extend(workflow):
        if workflow.name == "service_case":
            return workflow.extend(guards=guards)
        return None

    return plugin("strict_warranty", dealercrm_extend_workflow=extend)


def tasks_of(crm, case_id):
    with crm.read(crm.system) as uow:
        return list(uow.session.scalars(select(Task).where(Task.case_id == case_id).order_by(Task.id)))


# --- refused at load ------------------------------------------------------------------------


def test_a_plugin_that_guards_the_manufacturers_timeout_is_refused_at_load(crm_factory):
    with pytest.raises(WorkflowUnsound) as err:
        crm_factory(plugins={"strict_warranty": guarding(escalate=[NEVER])})
    assert err.value.workflow == "service_case"
    [review] = [v for v in err.value.violations if "manufacturer_review ->" in v.subject]
    assert review.property == 4
    assert review.message == (
        "workflow 'service_case': transition 'escalate' (manufacturer_review -> dealer_decision) is the timeout of "
        "state 'manufacturer_review' and carries guard 'manufacturer_must_answer': the system's escalation is "
        "unconditional, or a silent manufacturer could keep the case for ever [property 4]")


def test_a_timeout_guard_registered_after_connect_is_refused_and_changes_nothing(crm):
    before = crm.workflows["service_case"]
    with pytest.raises(WorkflowUnsound, match=r"'escalate' \(manufacturer_review -> dealer_decision\).*"
                                              r"manufacturer_must_answer.*\[property 4\]"):
        crm.register(guarding(escalate=[NEVER]), "strict_warranty")
    assert crm.workflows["service_case"] is before
    assert not crm.plugins.has_plugin("strict_warranty")


def test_a_plugin_that_closes_every_dealer_exit_of_the_safety_net_is_refused_at_load(crm_factory):
    with pytest.raises(WorkflowUnsound) as err:
        crm_factory(plugins={"strict_warranty": guarding(**{t: [NEVER] for t in DEALER_EXITS})})
    # extend attaches by trigger: withdraw is guarded everywhere, so the handed-off states are trapped too
    trapped_states = {v.subject for v in err.value.violations if v.property == 5}
    assert "state 'manufacturer_review' (owner manufacturer)" in trapped_states
    [trapped] = [v for v in err.value.violations if v.subject == "state 'dealer_decision' (owner dealer)"]
    assert trapped.property == 5
    assert "cannot reach a final state by dealer or system transitions alone" in trapped.message
    for trigger in DEALER_EXITS:
        assert f"'manufacturer_must_answer' on {trigger!r} (dealer_decision -> " in trapped.message
    assert "[property 5]" in str(err.value)


def test_a_plugin_that_leaves_the_dealer_one_unguarded_exit_loads(crm_factory):
    crm = crm_factory(plugins={"strict_warranty": guarding(**{t: [NEVER] for t in DEALER_EXITS if t != "refund"})})
    assert "service_case" in crm.workflows


# --- a guard that says what satisfies it --------------------------------------------------------


def _audit_reason(ctx):
    reason = str(ctx.data.get("audit_reason") or "")
    return None if len(reason) >= 10 else "the auditor needs a reason of ten letters or more"


AUDITED = Guard("audit_reason", _audit_reason, "every decision of the safety net is explained",
                satisfied_by=("audit_reason",))


def test_a_plugin_whose_guards_ask_the_dealer_for_data_loads_and_the_dealer_still_makes_it_right(tmp_path, clock):
    world = copy_world(tmp_path, clock, plugins={"audited": guarding(**{t: [AUDITED] for t in DEALER_EXITS})})
    try:
        case = world.open_case()
        world.to_manufacturer(case.id)
        world.fire(case.id, "reject", world.warranty_desk, reason="not a warranty case")
        with pytest.raises(TransitionNotAllowed, match="refused by guard 'audit_reason'.*supply audit_reason"):
            world.fire(case.id, "close_by_agreement", world.service, note="credit note agreed")
        done = world.fire(case.id, "close_by_agreement", world.service, note="credit note agreed",
                          audit_reason="customer accepted a credit note")
        assert done.dest == "closed"
    finally:
        world.crm.close()


# --- refused at run time anyway: the dealer is told, once ----------------------------------------


def _veto_escalation_of(case_ids, switch):
    def check(event, uow):
        if isinstance(event, CaseEscalated) and event.case_id in case_ids and switch["on"]:
            raise Vetoed("erp_bridge", "the ERP is down for this customer")

    return plugin("erp_bridge", dealercrm_check_event=check)


def test_a_vetoed_escalation_leaves_one_alert_task_for_the_dealer_naming_the_case(any_crm, clock, caplog):
    world = build_world(any_crm)
    stuck, other = world.open_case("washes badly"), world.open_case("door does not lock")
    for case in (stuck, other):
        world.to_manufacturer(case.id)
    switch = {"on": True}
    any_crm.register(_veto_escalation_of({stuck.id}, switch), "erp_bridge")
    caplog.set_level(logging.WARNING, logger="dealercrm.deadlines")

    clock.advance(days=7)  # the manufacturer stayed silent; its deadline passed days ago
    report = any_crm.cases.tick()
    assert report.fired == 1 and [case_id for case_id, _ in report.failed] == [stuck.id]
    assert any_crm.cases.get(stuck.id, by=any_crm.system).state == "manufacturer_review"
    [task] = tasks_of(any_crm, stuck.id)
    assert report.alerted == [(stuck.id, task.id)] and "1 dealers alerted" in report.summary()
    assert (task.assigned_party_id, task.customer_id, task.status) == (world.dealer.id, world.customer.id, "open")
    assert task.title.startswith(f"case {stuck.id} is overdue since ")
    assert "could not escalate it (state manufacturer_review)" in task.title
    assert "the ERP is down" in task.note
    assert tasks_of(any_crm, other.id) == []
    [alert] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert f"case {stuck.id} is overdue" in alert.getMessage() and f"task {task.id}" in alert.getMessage()

    for _ in range(3):  # the veto lasts: tried again on every tick, but no second task
        clock.advance(hours=1)
        assert any_crm.cases.tick().alerted == []
    assert len(tasks_of(any_crm, stuck.id)) == 1
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 3

    switch["on"] = False  # the ERP is back: the next tick escalates, as the deadline said
    clock.advance(hours=1)
    assert any_crm.cases.tick().fired == 1
    assert any_crm.cases.get(stuck.id, by=any_crm.system).state == "dealer_decision" and len(timeouts_of(any_crm, stuck.id)) == 1

    switch["on"] = True  # a new deadline missed and refused is a new situation: a new task
    clock.advance(days=7)
    report = any_crm.cases.tick()
    assert [case_id for case_id, _ in report.alerted] == [stuck.id] and report.fired == 1  # the other escalates
    titles = [t.title for t in tasks_of(any_crm, stuck.id)]
    assert len(titles) == 2 and "(state dealer_decision)" in titles[1]


def test_a_plugin_that_crashes_on_the_escalation_alerts_the_dealer_too(tmp_path, clock):
    def check(event, uow):
        if isinstance(event, CaseEscalated):
            raise RuntimeError("connection reset by the ERP")

    world = copy_world(tmp_path, clock, plugins={"erp_bridge": plugin("erp_bridge", dealercrm_check_event=check)})
    try:
        case = world.open_case()
        world.to_manufacturer(case.id)
        clock.advance(days=7)
        report = world.crm.cases.tick()
        [task] = tasks_of(world.crm, case.id)
        assert report.alerted == [(case.id, task.id)]
        assert "erp_bridge" in task.note and "connection reset by the ERP" in task.note
    finally:
        world.crm.close()


def _note(event, uow):
    uow.session.add(Interaction(customer_id=event.customer_id, channel="system", direction="internal",
                                summary=f"ERP: {type(event).__name__} noted", at=uow.now))


def test_when_even_the_alert_is_refused_the_tick_logs_it_as_critical_and_goes_on(tmp_path, clock, caplog):
    def check(event, uow):
        if isinstance(event, (CaseEscalated, TaskCreated)):
            raise Vetoed("erp_bridge", "nothing moves while the ERP is down")

    def note(event, uow):
        if isinstance(event, (CaseEscalated, TaskCreated)):
            _note(event, uow)

    # the later-registered plugin is asked first: each note is written, then the veto comes
    world = copy_world(tmp_path, clock, plugins={"erp_bridge": plugin("erp_bridge", dealercrm_check_event=check),
                                                 "erp_notes": plugin("erp_notes", dealercrm_check_event=note)})
    try:
        case = world.open_case()
        world.to_manufacturer(case.id)
        clock.advance(days=7)
        caplog.set_level(logging.WARNING, logger="dealercrm.deadlines")
        report = world.crm.cases.tick()
        assert ([c for c, _ in report.failed], report.alerted) == ([case.id], [])
        assert tasks_of(world.crm, case.id) == []
        [critical] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
        assert f"case {case.id} is overdue" in critical.getMessage() and "the alert" in critical.getMessage()
        assert world.count(Interaction, Interaction.summary.startswith("ERP:")) == 0  # went with the refusals
    finally:
        world.crm.close()


def test_what_a_plugin_wrote_for_a_refused_escalation_is_not_kept(tmp_path, clock):
    def note_escalation(event, uow):
        if isinstance(event, CaseEscalated):
            _note(event, uow)

    def veto(event, uow):
        if isinstance(event, CaseEscalated):
            raise Vetoed("erp_bridge", "the ERP is down")

    # the later-registered plugin is asked first: the note is written, then the veto comes
    world = copy_world(tmp_path, clock, plugins={"erp_bridge": plugin("erp_bridge", dealercrm_check_event=veto),
                                                 "erp_notes": plugin("erp_notes",
                                                                     dealercrm_check_event=note_escalation)})
    try:
        case = world.open_case()
        world.to_manufacturer(case.id)
        clock.advance(days=7)
        assert len(world.crm.cases.tick().alerted) == 1
        assert world.count(Interaction, Interaction.summary == "ERP: CaseEscalated noted") == 0
    finally:
        world.crm.close()
