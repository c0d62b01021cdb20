"""``crm.register`` on a running application: the plugin takes part fully at once (its
channels, rules, workflows and handlers) or is refused naming why; ``crm.unregister``
takes it out the same way."""

from __future__ import annotations

from datetime import timedelta

import pytest
from case_world import copy_world, plugin
from sqlalchemy import select

import dealercrm
from dealercrm import NotFound, PluginError, WorkflowUnsound, hookimpl
from dealercrm.channels import DeliveryResult
from dealercrm.db.models import Task
from dealercrm.db.outbox_models import OutboxMessage
from dealercrm.rules import Candidate
from dealercrm.workflow import DeadlinePolicy, State, Transition, Workflow

DAY = timedelta(hours=9)
DEALER, SYSTEM = frozenset({"dealer"}), frozenset({"system"})


class Pigeon:
    """A channel that keeps what it was given."""

    name = "pigeon"
    purposes = frozenset({"service"})
    consent_channel = "email"
    address_field = "email"
    consent_required_for = frozenset()

    def __init__(self):
        self.carried = []

    def send(self, message):
        self.carried.append(message)
        return DeliveryResult.delivered(f"pigeon-{message.id}")


class Loft:
    """A third-party plugin: a channel, an event-driven rule and an after-commit handler."""

    def __init__(self):
        self.pigeon, self.seen = Pigeon(), []

    @hookimpl
    def dealercrm_register_channels(self, crm):
        return [self.pigeon]

    @hookimpl
    def dealercrm_register_rules(self, crm):
        return [Welcome()]

    @hookimpl
    def dealercrm_handle_event(self, event):
        self.seen.append(event.name)


class Welcome:
    name, description, defaults = "loft_welcome", "a welcome call for every new customer", {}
    events = (dealercrm.CustomerRegistered,)

    def on_event(self, event, ctx):
        return [Candidate(event.customer_id, "welcome", customer_id=event.customer_id)]

    def act(self, candidate, ctx):
        ctx.task("welcome call", purpose="service")


def welcome_tasks(crm) -> list[int]:
    with crm.read(crm.system) as uow:
        return list(uow.session.scalars(select(Task.customer_id).where(Task.origin_ref == "rule:loft_welcome")))


def status_of(crm, message_id: int) -> tuple[str, str | None]:
    with crm.read(crm.system) as uow:
        row = uow.session.get(OutboxMessage, message_id)
        return row.status, row.reason


# -- registering ------------------------------------------------------------------------


def test_a_channel_registered_on_a_running_app_is_used_for_the_next_message(crm):
    anna = crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    assert "pigeon" not in crm.channels  # the channels are loaded and in use
    loft = Loft()
    crm.register(loft, "loft")
    message = crm.outbox.send("pigeon", "service", "Your washer is ready", customer_id=anna.id, by=crm.system)
    assert crm.outbox.dispatch().sent == 1
    assert [m.id for m in loft.pigeon.carried] == [message.id] and loft.pigeon.carried[0].recipient == "anna@example.org"
    assert crm.channel_owners["pigeon"] == "loft"


def test_a_rule_registered_on_a_running_app_reacts_to_the_next_event(crm):
    first = crm.customers.add("Anna", email="anna@example.org", by=crm.system)  # the rule engine has looked for listeners
    crm.register(Loft(), "loft")
    second = crm.customers.add("Ben", email="ben@example.org", by=crm.system)
    assert welcome_tasks(crm) == [second.id] and first.id != second.id
    assert crm.rules.rule("loft_welcome").name == "loft_welcome"


def test_an_after_commit_handler_registered_on_a_running_app_sees_the_next_event(crm):
    crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    loft = Loft()
    crm.register(loft, "loft")
    crm.customers.add("Ben", email="ben@example.org", by=crm.system)
    assert loft.seen.count("customer_registered") == 1  # Ben's, not Anna's


def dealercrm_register_channels_unreachable(crm):
    raise ConnectionError("loft unreachable")


def test_a_plugin_whose_channels_fail_to_load_is_refused_and_the_loaded_channels_stay(crm):
    phone = crm.channels["phone"]
    with pytest.raises(PluginError) as info:
        crm.register(plugin("shaky_loft", dealercrm_register_channels=dealercrm_register_channels_unreachable))
    assert (info.value.plugin, info.value.hook) == ("shaky_loft", "dealercrm_register_channels")
    assert not crm.plugins.has_plugin("shaky_loft") and "shaky_loft" not in crm.plugins.origins
    assert crm.channels["phone"] is phone and not list(crm.plugin_failures)


def test_a_plugin_whose_channels_fail_is_refused_even_before_any_channel_was_used(crm_factory):
    app = crm_factory()  # its channels are not loaded yet
    with pytest.raises(PluginError, match="shaky_loft.*loft unreachable"):
        app.register(plugin("shaky_loft", dealercrm_register_channels=dealercrm_register_channels_unreachable))
    assert not app.plugins.has_plugin("shaky_loft") and not list(app.plugin_failures) and "phone" in app.channels


def test_a_channel_name_another_plugin_has_is_refused_naming_both(crm):
    class FakePhone(Pigeon):
        name = "phone"

    with pytest.raises(PluginError) as info:
        crm.register(plugin("copycat", dealercrm_register_channels=lambda crm: [FakePhone()]))
    assert info.value.plugin == "copycat" and "'channel_phone' and 'copycat'" in str(info.value)
    assert not crm.plugins.has_plugin("copycat") and crm.channel_owners["phone"] == "channel_phone"


def test_a_rule_name_a_built_in_has_is_refused_naming_the_newcomer(crm):
    class Impostor(Welcome):
        name = "rule_after_sale"

    before = crm.rules.rules
    with pytest.raises(PluginError) as info:
        crm.register(plugin("impostor", dealercrm_register_rules=lambda crm: [Impostor()]))
    assert info.value.plugin == "impostor" and "rule 'rule_after_sale' is provided by both" in str(info.value)
    assert not crm.plugins.has_plugin("impostor") and crm.rules.rules is before


def test_a_wrapper_on_register_channels_must_come_at_connect_where_it_sees_each_plugins_channels(crm, crm_factory):
    seen = []

    @hookimpl(wrapper=True)
    def dealercrm_register_channels(crm):
        channels = yield
        seen.extend(channel.name for provided in channels for channel in provided or ())
        return channels

    shaper = plugin("shaper", dealercrm_register_channels=dealercrm_register_channels)
    with pytest.raises(PluginError, match=r"'shaper'.*dealercrm_register_channels.*connect\(plugins=\.\.\.\)"):
        crm.register(shaper)
    assert not crm.plugins.has_plugin("shaper")
    app = crm_factory(plugins=[shaper])
    loaded = sorted(app.channels)
    assert sorted(seen) == loaded and "phone" in seen  # called around each plugin's call


# -- unregistering ----------------------------------------------------------------------


def test_unregistering_a_plugin_takes_out_its_channel_rule_and_handler(crm):
    anna = crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    loft = Loft()
    crm.register(loft, "loft")
    queued = crm.outbox.send("pigeon", "service", "Your washer is ready", customer_id=anna.id, by=crm.system)
    seen = list(loft.seen)
    assert crm.unregister("loft") is loft
    assert "pigeon" not in crm.channels and "pigeon" not in crm.channel_owners
    with pytest.raises(NotFound, match="loft_welcome"):
        crm.rules.rule("loft_welcome")
    crm.customers.add("Ben", email="ben@example.org", by=crm.system)
    assert welcome_tasks(crm) == [] and loft.seen == seen
    assert crm.outbox.dispatch().suppressed == 1 and loft.pigeon.carried == []
    assert "'pigeon' is not loaded" in status_of(crm, queued.id)[1]
    assert not crm.plugins.has_plugin("loft") and "loft" not in crm.plugins.origins


def test_unregistering_an_unknown_plugin_names_the_registered_ones(crm):
    with pytest.raises(NotFound, match=r"plugin 'nobody.*registered: .*channel_phone"):
        crm.unregister("nobody")


def with_lab(workflow):
    if workflow.name != "service_case":
        return None
    return workflow.extend(
        states=[State("lab_inspection", "manufacturer", DeadlinePolicy(3 * DAY), also_allowed={"dealer"})],
        transitions=[Transition("send_to_lab", "dealer_decision", "lab_inspection", DEALER),
                     Transition("inspection_done", "lab_inspection", "dealer_decision", {"manufacturer"}),
                     Transition("escalate", "lab_inspection", "dealer_decision", SYSTEM, timeout=True)])


def lab_shortcut(workflow):
    if workflow.name != "service_case":
        return None
    return workflow.extend(transitions=[Transition("skip_lab", "lab_inspection", "dealer_decision", DEALER)])


def test_unregistering_a_plugin_another_extension_builds_on_is_refused_and_changes_nothing(crm):
    crm.register(plugin("lab", dealercrm_extend_workflow=with_lab))
    crm.register(plugin("lab_shortcut", dealercrm_extend_workflow=lab_shortcut))
    before = crm.workflows["service_case"]
    assert before.workflow.has_state("lab_inspection")
    with pytest.raises(WorkflowUnsound, match="lab_inspection"):
        crm.unregister("lab")
    assert crm.plugins.has_plugin("lab") and crm.workflows["service_case"] is before
    crm.unregister("lab_shortcut")
    crm.unregister("lab")
    assert not crm.workflows["service_case"].workflow.has_state("lab_inspection")


CALLBACK = Workflow("callback", "requested", states=(
    State("requested", "dealer", DeadlinePolicy(DAY), also_allowed={"dealer"}),
    State("done", final=True)), transitions=(
    Transition("call_back", "requested", "done", DEALER),
    Transition("escalate", "requested", "requested", SYSTEM, timeout=True)))


def test_unregistering_a_workflow_that_cases_are_in_is_refused_naming_them(tmp_path, clock):
    world = copy_world(tmp_path, clock)
    try:
        crm = world.crm
        crm.register(plugin("callbacks", dealercrm_register_workflows=lambda: [CALLBACK]))
        crm.cases.open(world.customer.id, "call me back", workflow="callback", by=world.service.id)
        with pytest.raises(PluginError, match=r"'callbacks'.*1 in callback/requested"):
            crm.unregister("callbacks")
        assert "callback" in crm.workflows and crm.plugins.has_plugin("callbacks")
        unused = Workflow("unused", CALLBACK.initial, CALLBACK.states, CALLBACK.transitions)
        crm.register(plugin("unused", dealercrm_register_workflows=lambda: [unused]))
        assert "unused" in crm.workflows
        crm.unregister("unused")
        assert "unused" not in crm.workflows
    finally:
        world.crm.close()
