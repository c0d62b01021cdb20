"""Workflows as data over HTTP: a host system builds its screens and forms from the running flow.

Every party reads every workflow (no customer data in it). The definition is the loaded
one — a plugin's extension shows up — and says per transition who may fire it, with
which data, and whether the caller's own key may.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from case_world import plugin

from dealercrm.workflow import DeadlinePolicy, Guard, State, Transition

WHO = ["service", "manager", "warranty", "fitter", "other_dealer", "other_maker"]


@pytest.mark.parametrize("who", WHO)
def test_every_party_lists_the_workflows_and_reads_one(api, world, who):
    listed = api.get("/workflows", headers=api.as_(who))
    assert listed.status_code == 200, listed.text
    assert listed.json() == [{"name": "service_case", "description": world.crm.workflows["service_case"]
                              .workflow.description}]
    shown = api.get("/workflows/service_case", headers=api.as_(who))
    assert shown.status_code == 200, shown.text
    assert (shown.json()["name"], shown.json()["initial"]) == ("service_case", "reported")
    assert "Erika" not in shown.text


def test_states_say_who_holds_the_case_how_long_and_whether_the_clock_stops(api):
    states = {s["name"]: s for s in api.get("/workflows/service_case", headers=api.as_("service")).json()["states"]}
    assert states["reported"] == {
        "name": "reported", "description": "the customer told the dealer; nobody has looked yet", "owner": "dealer",
        "final": False, "deadline": {"seconds": 4 * 3600, "business_time": True, "text": "due within 4h working time"},
        "waits_on_customer": False, "pauses_clock": False, "also_allowed": ["dealer"]}
    assert states["manufacturer_review"]["owner"] == "manufacturer"
    asked = states["waiting_for_customer"]
    assert (asked["owner"], asked["waits_on_customer"], asked["pauses_clock"]) == ("customer", True, True)
    assert asked["deadline"] == {"seconds": 7 * 86400, "business_time": False, "text": "due within 7d wall clock"}
    # fourteen silent days close the case: it waits on the customer, but there is no time to give back
    confirming = states["awaiting_confirmation"]
    assert (confirming["waits_on_customer"], confirming["pauses_clock"]) == (True, False)
    assert states["closed"] == {"name": "closed", "description": "fixed and confirmed, or closed by agreement",
                                "owner": None, "final": True, "deadline": None, "waits_on_customer": False,
                                "pauses_clock": False, "also_allowed": []}


def test_transitions_say_who_fires_them_with_which_data(api):
    def transitions(who):
        answer = api.get("/workflows/service_case", headers=api.as_(who)).json()["transitions"]
        return {(t["trigger"], tuple(t["sources"])): t for t in answer}

    service = transitions("service")
    withdraw = service[("withdraw", ("reported", "dealer_diagnosis", "manufacturer_review", "technician_dispatch",
                                     "visit_scheduled", "waiting_for_parts", "dealer_decision", "replacement",
                                     "dealer_repair", "waiting_for_customer", "awaiting_confirmation"))]
    assert (withdraw["dest"], withdraw["allowed"], withdraw["required"], withdraw["caller_may_fire"]) == (
        "withdrawn", ["dealer"], ["reason"], True)
    approve = service[("approve_visit", ("manufacturer_review",))]
    assert (approve["allowed"], approve["names_party"], approve["caller_may_fire"]) == (
        ["manufacturer"], "technician_party_id", False)
    assert transitions("warranty")[("approve_visit", ("manufacturer_review",))]["caller_may_fire"] is True
    schedule = service[("schedule_visit", ("technician_dispatch",))]
    assert schedule["required"] == ["visit_at"] and [g["name"] for g in schedule["guards"]] == ["visit_within_deadline"]
    assert "customer agreed" in schedule["guards"][0]["description"]
    # a role-only trigger: the manager may refund, the service desk of the same dealer may not
    refund = ("refund", ("dealer_decision",))
    assert service[refund]["allowed"] == ["dealer:manager"] and service[refund]["caller_may_fire"] is False
    assert transitions("manager")[refund]["caller_may_fire"] is True
    silent = service[("customer_silent", ("waiting_for_customer",))]
    assert (silent["timeout"], silent["allowed"], silent["dest"]) == (True, ["system"], "dealer_decision")
    assert silent["description"].startswith("no answer in a week")
    assert service[("start_diagnosis", ("reported",))]["timeout"] is False


def test_the_definition_holds_every_transition_of_the_running_workflow_once(api, world):
    answer = api.get("/workflows/service_case", headers=api.as_("fitter")).json()
    listed = sorted((t["trigger"], source, t["dest"], tuple(t["allowed"]), tuple(t["required"]), t["timeout"])
                    for t in answer["transitions"] for source in t["sources"])
    wf = world.crm.workflows["service_case"].workflow
    assert listed == sorted((t.trigger, t.source, t.dest, tuple(sorted(t.allowed)), t.required, t.timeout)
                            for t in wf.transitions)
    assert [s["name"] for s in answer["states"]] == [s.name for s in wf.states]


STOCK = Guard("stock_reserved", lambda ctx: None, "a replacement unit is reserved before delivery")


def _with_lab(workflow):
    return workflow.extend(
        states=[State("lab_inspection", "manufacturer", DeadlinePolicy(timedelta(hours=27)),
                      also_allowed={"dealer"}, description="the manufacturer inspects the returned unit")],
        transitions=[Transition("send_to_lab", "dealer_decision", "lab_inspection", {"dealer"},
                                description="the unit goes to the manufacturer's lab"),
                     Transition("inspection_done", "lab_inspection", "dealer_decision", {"manufacturer"},
                                required=("finding",)),
                     Transition("escalate", "lab_inspection", "dealer_decision", {"system"}, timeout=True),
                     Transition("withdraw", "lab_inspection", "withdrawn", {"dealer"}, required=("reason",))],
        guards={"deliver_replacement": [STOCK]})


def test_a_plugins_extension_is_part_of_the_definition(api, world):
    world.crm.register(plugin("lab", dealercrm_extend_workflow=_with_lab), "lab")
    answer = api.get("/workflows/service_case", headers=api.as_("warranty")).json()
    lab = next(s for s in answer["states"] if s["name"] == "lab_inspection")
    assert (lab["owner"], lab["deadline"]["text"]) == ("manufacturer", "due within 27h working time")
    by_trigger = {t["trigger"]: t for t in answer["transitions"]}
    assert by_trigger["inspection_done"]["required"] == ["finding"]
    assert by_trigger["inspection_done"]["caller_may_fire"] is True
    assert by_trigger["send_to_lab"]["names_party"] == "manufacturer_party_id"
    assert "lab_inspection" in next(t for t in answer["transitions"] if t["trigger"] == "withdraw")["sources"]
    assert [g["name"] for g in by_trigger["deliver_replacement"]["guards"]] == ["stock_reserved"]
    drawn = api.get("/workflows/service_case?format=mermaid", headers=api.as_("warranty")).text
    assert "dealer_decision --> lab_inspection : send_to_lab by dealer" in drawn


def test_the_workflow_is_drawn_as_mermaid_or_listed_as_text(api):
    drawn = api.get("/workflows/service_case?format=mermaid", headers=api.as_("fitter"))
    assert drawn.status_code == 200 and drawn.headers["content-type"].startswith("text/plain")
    assert drawn.text.startswith("stateDiagram-v2\n    [*] --> reported\n")
    assert "dealer_decision --> refunded : refund by dealer(manager)" in drawn.text
    listed = api.get("/workflows/service_case?format=text", headers=api.as_("fitter"))
    assert listed.text.startswith("workflow service_case (initial: reported)")
    assert "needs visit_at  if visit_within_deadline" in listed.text
    assert api.get("/workflows/service_case?format=png", headers=api.as_("fitter")).json()["field"] == "format"


def test_an_unknown_workflow_is_not_found_and_no_key_reads_none(api):
    missing = api.get("/workflows/installation", headers=api.as_("service"))
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["type"] == "urn:dealercrm:problem:not-found" and "installation" in missing.json()["detail"]
    assert api.get("/workflows").status_code == 401
    assert api.get("/workflows/service_case").status_code == 401
