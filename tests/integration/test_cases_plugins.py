"""Plugins add workflows and extend the service case — and cannot sneak in a dead end.

A plugin may declare its own workflow (an installation check) and extend the shipped
service case with a guard and a new state owned by the manufacturer; both run end to
end through the public API. An extension that could strand a customer stops
``connect()`` with the workflow, the state and the property it breaks.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from case_world import build_world, copy_world, plugin, timeouts_of

from dealercrm import (
    CaseEscalated,
    CaseHandedOver,
    NotFound,
    NotPermitted,
    PluginError,
    TransitionNotAllowed,
    ValidationError,
    WorkflowUnsound,
    hookimpl,
)
from dealercrm.settings import CaseSettings, Settings
from dealercrm.workflow import DeadlinePolicy, Guard, State, Transition, Workflow

DAY = timedelta(hours=9)
DEALER, SYSTEM = frozenset({"dealer"}), frozenset({"system"})


# --- a workflow of its own -------------------------------------------------------------------

INSTALLATION = Workflow(
    name="installation",
    initial="requested",
    states=(
        State("requested", "dealer", DeadlinePolicy(2 * DAY), description="the dealer books a fitter"),
        State("with_fitter", "technician", DeadlinePolicy(DAY), also_allowed={"dealer"},
              description="the fitter connects the machine"),
        State("installed", final=True),
        State("cancelled", final=True),
    ),
    transitions=(
        Transition("book_fitter", "requested", "with_fitter", DEALER),
        Transition("remind", "requested", "requested", SYSTEM, timeout=True),
        Transition("report_installed", "with_fitter", "installed", {"technician"}),
        Transition("take_back", "with_fitter", "requested", DEALER, required=("reason",)),
        Transition("escalate", "with_fitter", "requested", SYSTEM, timeout=True),
        Transition("cancel", "requested", "cancelled", DEALER, required=("reason",)),
        Transition("cancel", "with_fitter", "cancelled", DEALER, required=("reason",)),
    ),
)


def _stock_reserved(ctx):
    return None if ctx.facts.get("stock_reserved") else "no replacement unit is reserved in stock yet"


STOCK_RESERVED = Guard("stock_reserved", _stock_reserved, "a replacement unit is reserved before delivery")


def extend_with_inspection(workflow):
    """A manufacturer's lab inspection before a replacement, and a stock guard on delivery."""
    if workflow.name != "service_case":
        return None
    return workflow.extend(
        states=[State("lab_inspection", "manufacturer", DeadlinePolicy(3 * DAY), also_allowed={"dealer"},
                      description="the manufacturer inspects the returned unit")],
        transitions=[
            Transition("send_to_lab", "dealer_decision", "lab_inspection", DEALER),
            Transition("inspection_done", "lab_inspection", "dealer_decision", {"manufacturer"},
                       required=("finding",)),
            Transition("escalate", "lab_inspection", "dealer_decision", SYSTEM, timeout=True),
            Transition("take_over", "lab_inspection", "dealer_decision", DEALER, required=("reason",)),
            Transition("withdraw", "lab_inspection", "withdrawn", DEALER, required=("reason",)),
        ],
        guards={"deliver_replacement": [STOCK_RESERVED]},
    )


class Installer:
    """What a third-party plugin would ship: its own workflow and an extension of the built-in one."""

    @hookimpl
    def dealercrm_register_workflows(self):
        return [INSTALLATION]

    @hookimpl
    def dealercrm_extend_workflow(self, workflow):
        return extend_with_inspection(workflow)


@pytest.fixture
def world(tmp_path, clock):
    """Two workflows: a case opened without naming one follows the installation's default."""
    world = copy_world(tmp_path, clock, plugins={"installer": Installer()},
                       settings=Settings(cases=CaseSettings(default_workflow="service_case")))
    yield world
    world.crm.close()


def test_a_plugins_own_workflow_runs_end_to_end(world, clock):
    crm, w = world.crm, world
    assert set(crm.workflows) == {"service_case", "installation"}
    case = crm.cases.open(w.customer.id, "connect the new machine", asset_id=w.machine.id,
                          workflow="installation", by=w.service.id)
    assert (case.workflow, case.state, case.owner_party_id) == ("installation", "requested", w.dealer.id)
    assert crm.cases.allowed_triggers(case.id, w.service.id) == ["book_fitter", "cancel"]
    booked = w.fire(case.id, "book_fitter", w.service, technician_party_id=w.technician.id)
    assert (booked.dest, booked.owner_kind, booked.owner_party_id) == ("with_fitter", "technician", w.technician.id)
    clock.set(booked.due_at)
    assert crm.cases.tick().fired == 1  # the fitter stayed silent: back to the dealer
    assert crm.cases.get(case.id, by=crm.system).state == "requested"
    again = w.fire(case.id, "book_fitter", w.service)
    assert again.owner_party_id == w.technician.id  # the case remembers its technician
    done = w.fire(case.id, "report_installed", w.fitter)
    assert done.dest == "installed" and crm.cases.get(case.id, by=crm.system).closed_at == clock.now()
    assert [h.trigger for h in crm.cases.history(case.id, by=crm.system)] == [
        None, "book_fitter", "escalate", "book_fitter", "report_installed"]
    other = crm.cases.open(w.customer.id, "connect the dryer", workflow="installation", by=w.service.id)
    with pytest.raises(TransitionNotAllowed, match="unknown trigger 'forward_to_manufacturer'"):
        w.fire(other.id, "forward_to_manufacturer", w.service)  # service-case triggers stay there
    service_case = w.open_case()
    with pytest.raises(TransitionNotAllowed, match="unknown trigger 'book_fitter'"):
        w.fire(service_case.id, "book_fitter", w.service)


def test_a_plugins_new_state_is_owned_timed_and_escalates_like_the_built_in_ones(world, clock):
    crm, w = world.crm, world
    case = w.open_case()
    w.to_manufacturer(case.id)
    w.fire(case.id, "reject", w.warranty_desk, reason="user error")
    assert "send_to_lab" in crm.cases.allowed_triggers(case.id, w.service.id)
    sent = w.fire(case.id, "send_to_lab", w.service)
    assert (sent.dest, sent.owner_kind, sent.owner_party_id) == ("lab_inspection", "manufacturer", w.manufacturer.id)
    assert w.log.of(CaseHandedOver, case.id)[-1].to_party_id == w.manufacturer.id
    with pytest.raises(NotFound):  # another manufacturer's case does not exist for it
        w.fire(case.id, "inspection_done", w.other_warranty_desk, finding="fine")
    clock.set(sent.due_at)
    assert crm.cases.tick().fired == 1
    [escalated] = [e for e in w.log.of(CaseEscalated, case.id) if e.source == "lab_inspection"]
    assert (escalated.dest, escalated.missed_by_party_id) == ("dealer_decision", w.manufacturer.id)
    w.fire(case.id, "send_to_lab", w.service)
    w.fire(case.id, "inspection_done", w.warranty_desk, finding="bearing worn out")
    assert crm.cases.get(case.id, by=crm.system).state == "dealer_decision"
    assert len(timeouts_of(crm, case.id)) == 1


def test_a_plugins_guard_holds_the_replacement_until_stock_is_reserved(world):
    crm, w = world.crm, world
    case = w.open_case()
    w.fire(case.id, "start_diagnosis", w.service)
    w.fire(case.id, "offer_replacement", w.service)
    before = w.snapshot(case.id)
    with pytest.raises(TransitionNotAllowed, match="stock_reserved.*no replacement unit is reserved"):
        w.fire(case.id, "deliver_replacement", w.service, new_serial="BR7-0003")
    assert w.snapshot(case.id) == before
    crm.cases.record_fact(case.id, "stock_reserved", True, by=w.service.id)
    assert w.fire(case.id, "deliver_replacement", w.service, new_serial="BR7-0003").dest == "awaiting_confirmation"


# --- extensions that would strand a customer are refused at connect() ----------------------


def _connect_with(crm_factory, extend):
    return crm_factory(plugins={"careless": plugin("careless", dealercrm_extend_workflow=extend)})


def test_a_new_state_without_a_timeout_stops_connect_naming_workflow_state_and_property(crm_factory):
    def extend(workflow):
        return workflow.extend(
            states=[State("courier_pickup", "dealer", DeadlinePolicy(DAY), description="waiting for the courier")],
            transitions=[Transition("book_courier", "replacement", "courier_pickup", DEALER),
                         Transition("picked_up", "courier_pickup", "awaiting_confirmation", DEALER)])

    with pytest.raises(WorkflowUnsound) as err:
        _connect_with(crm_factory, extend)
    assert err.value.workflow == "service_case"
    [violation] = err.value.violations
    assert (violation.subject, violation.property) == ("state 'courier_pickup' (owner dealer)", 4)
    assert "workflow 'service_case'" in str(err.value) and "courier_pickup" in str(err.value)
    assert "has no timeout transition" in str(err.value) and "property 4" in str(err.value)


def test_a_manufacturer_owned_trap_stops_connect(crm_factory):
    def extend(workflow):
        return workflow.extend(
            states=[State("lab", "manufacturer", DeadlinePolicy(DAY))],
            transitions=[Transition("send_to_lab", "dealer_decision", "lab", DEALER),
                         Transition("lab_done", "lab", "dealer_decision", {"manufacturer"}),
                         Transition("remind", "lab", "lab", SYSTEM, timeout=True)])

    with pytest.raises(WorkflowUnsound) as err:
        _connect_with(crm_factory, extend)
    props = {(v.subject, v.property) for v in err.value.violations}
    assert ("state 'lab' (owner manufacturer)", 5) in props
    assert "another party's refusal or silence could trap the customer" in str(err.value)


def test_a_party_acting_on_a_state_it_does_not_own_stops_connect(crm_factory):
    def extend(workflow):
        return workflow.extend(transitions=[Transition("approve_refund", "dealer_decision", "refunded",
                                                       {"manufacturer"})])

    with pytest.raises(WorkflowUnsound, match=r"approve_refund.*dealer_decision.*property 6"):
        _connect_with(crm_factory, extend)


def test_declaring_the_service_case_workflow_twice_is_a_plugin_error_naming_the_copycat(crm_factory):
    from dealercrm.workflows.service_case import SERVICE_CASE

    copycat = plugin("copycat", dealercrm_register_workflows=lambda: [SERVICE_CASE])
    with pytest.raises(PluginError, match="workflow 'service_case' is declared by both") as err:
        crm_factory(plugins={"copycat": copycat})
    assert (err.value.plugin, err.value.hook) == ("copycat", "dealercrm_register_workflows")


def test_a_plugin_returning_something_else_than_a_workflow_is_named(crm_factory):
    odd = plugin("odd", dealercrm_register_workflows=lambda: [{"name": "dict_flow"}])
    with pytest.raises(PluginError, match="plugin 'odd'.*not a Workflow"):
        crm_factory(plugins={"odd": odd})


def test_without_the_built_in_plugin_there_is_no_service_case(crm_factory):
    crm = crm_factory(block=["service_case"])
    world = build_world(crm, log=False)
    assert "service_case" not in crm.workflows
    with pytest.raises(ValidationError, match="no workflow is registered"):
        world.open_case()
    with pytest.raises(NotFound, match="workflow 'service_case'"):
        crm.cases.open(world.customer.id, "washes badly", workflow="service_case", by=world.service.id)


def test_a_workflow_plugin_registered_after_connect_takes_effect(tmp_path, clock):
    world = copy_world(tmp_path, clock)
    try:
        assert "installation" not in world.crm.workflows
        world.crm.register(Installer(), "installer")
        case = world.crm.cases.open(world.customer.id, "connect it", workflow="installation", by=world.service.id)
        assert world.fire(case.id, "book_fitter", world.service, technician_party_id=world.technician.id).dest == \
            "with_fitter"
    finally:
        world.crm.close()


def test_an_unsound_extension_registered_after_connect_is_refused_and_changes_nothing(crm):
    before = crm.workflows["service_case"]

    def extend(workflow):
        return workflow.extend(states=[State("limbo", "manufacturer", DeadlinePolicy(DAY))],
                               transitions=[Transition("to_limbo", "dealer_decision", "limbo", DEALER)])

    with pytest.raises(WorkflowUnsound, match="limbo"):
        crm.register(plugin("careless", dealercrm_extend_workflow=extend), "careless")
    assert crm.workflows["service_case"] is before
    assert not crm.plugins.has_plugin("careless")
