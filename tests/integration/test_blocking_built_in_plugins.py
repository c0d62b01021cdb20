"""Every built-in feature is an ordinary plugin a host can block: with any one of them
blocked, dealercrm still runs its day — a customer filed, a case opened on whichever
workflow is registered, the tick, the dispatch, the HTTP API. Where an installation relies
on a plugin (its settings name the default workflow), ``connect`` refuses clearly instead
of failing later."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dealercrm import PluginError, ValidationError, hookimpl
from dealercrm.plugin_manager import DEFAULT_PLUGINS
from dealercrm.settings import CaseSettings, Settings
from dealercrm.workflow import DeadlinePolicy, State, Transition, Workflow

BUILT_IN = [name.rsplit(".", 1)[-1] for name in DEFAULT_PLUGINS]


class Callback:
    """A third party's one-step workflow: the dealer calls the customer back."""

    @staticmethod
    @hookimpl
    def dealercrm_register_workflows():
        day = DeadlinePolicy(timedelta(hours=9))
        return [Workflow("callback", "requested", states=(
            State("requested", "dealer", day, also_allowed={"dealer"}),
            State("done", final=True)), transitions=(
            Transition("call_back", "requested", "done", {"dealer"}),
            Transition("escalate", "requested", "requested", {"system"}, timeout=True)))]


def a_day_at_the_dealers(crm, clock) -> str | None:
    """The smoke: file a customer who allows every channel, open a case, a month passes
    (ticks, rules, dispatch), the HTTP API is built. Returns the case's workflow."""
    from dealercrm.http import create_app

    crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
    anna = crm.customers.add("Anna Berg", email="anna@example.org", phone="+49 171 5550100", street="Lindenweg 4",
                             by=crm.system)
    for channel in crm.consents.channels():
        crm.consents.grant(anna.id, channel, "marketing", source="the smoke test", by=crm.system)
    crm.interests.note(anna.id, "skiing", by=crm.system)
    workflow = None
    if crm.workflows:
        workflow = crm.cases.open(anna.id, "the door squeaks", by=crm.system).workflow
    else:
        with pytest.raises(ValidationError, match="no workflow is registered"):
            crm.cases.open(anna.id, "the door squeaks", by=crm.system)
    for _ in range(4):
        clock.advance(days=8)
        assert crm.cases.tick().failed == []
        assert [(o.rule, o.failed) for o in crm.rules.run() if o.failed] == []
        crm.outbox.dispatch()
    create_app(crm)
    assert list(crm.plugin_failures) == []
    return workflow


@pytest.mark.parametrize("blocked", BUILT_IN)
def test_dealercrm_runs_its_day_with_any_one_built_in_plugin_blocked(crm_factory, clock, blocked):
    crm = crm_factory(block=[blocked])
    assert blocked not in crm.plugins.origins and crm.plugins.is_blocked(blocked)
    workflow = a_day_at_the_dealers(crm, clock)
    assert workflow == (None if blocked == "service_case" else "service_case")


def test_with_the_service_case_blocked_a_case_follows_the_one_workflow_registered(crm_factory, clock):
    crm = crm_factory(block=["service_case"], plugins=[Callback])
    assert a_day_at_the_dealers(crm, clock) == "callback"


def test_with_two_workflows_a_case_names_its_own_or_the_setting_chooses(crm_factory, clock):
    crm = crm_factory(plugins=[Callback])
    crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
    anna = crm.customers.add("Anna Berg", by=crm.system)
    with pytest.raises(ValidationError, match="name the workflow the case follows, one of callback, service_case"):
        crm.cases.open(anna.id, "call me back", by=crm.system)
    assert crm.cases.open(anna.id, "call me back", workflow="callback", by=crm.system).workflow == "callback"

    chosen = crm_factory(plugins=[Callback], settings=Settings(cases=CaseSettings(default_workflow="callback")))
    chosen.parties.add("dealer", chosen.settings.home_dealer, by=chosen.system)
    ben = chosen.customers.add("Ben Roth", by=chosen.system)
    assert chosen.cases.open(ben.id, "call me back", by=chosen.system).workflow == "callback"


def test_an_installation_that_relies_on_a_blocked_workflow_is_refused_at_connect(crm_factory):
    settings = Settings(cases=CaseSettings(default_workflow="service_case"))
    with pytest.raises(ValidationError) as refused:
        crm_factory(block=["service_case"], settings=settings)
    assert str(refused.value) == ("invalid [cases] default_workflow 'service_case': is no registered workflow; "
                                  "registered: none")


def test_the_plugin_of_the_default_workflow_cannot_be_taken_out_of_a_running_app(crm_factory):
    crm = crm_factory(block=["service_case"], plugins=[Callback],
                      settings=Settings(cases=CaseSettings(default_workflow="callback")))
    with pytest.raises(PluginError, match=r"provides the workflow 'callback' that \[cases\] default_workflow names"):
        crm.unregister("Callback")
    assert "callback" in crm.workflows
