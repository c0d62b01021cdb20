"""Hooks are called by pluggy itself: wrappers run, monitoring and tracing see every call,
one failing after-commit plugin silences no other, and every failure names its plugin."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import types

import pytest

import dealercrm
from dealercrm import PluginError, Vetoed, hookimpl


def plugin(name: str, **hooks) -> types.ModuleType:
    """An inline plugin, a module made on the spot: ``plugin("x", dealercrm_handle_event=fn)``."""
    module = types.ModuleType(name)
    for hook, fn in hooks.items():
        setattr(module, hook, fn if hasattr(fn, "dealercrm_impl") else hookimpl(fn))
    return module


def wrapper(seen: list, tag: str = "wrapper"):
    """A ``wrapper=True`` implementation usable on any hook: notes each call around the others."""

    def wrap():
        seen.append(f"{tag} before")
        result = yield
        seen.append(f"{tag} after")
        return result

    return hookimpl(wrapper=True)(wrap)


# -- wrappers ---------------------------------------------------------------------------


def test_a_wrapper_on_check_event_sees_every_event(crm, register_plugin):
    seen = []

    @hookimpl(wrapper=True)
    def dealercrm_check_event(event, uow):
        seen.append(event.name)
        return (yield)

    register_plugin(plugin("auditor", dealercrm_check_event=dealercrm_check_event))
    c = crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    crm.interests.note(c.id, "Skiing", by=crm.system)
    assert seen == ["customer_registered", "interest_noted"]


def test_a_wrapper_runs_around_the_plain_checkers_and_sees_what_they_return(crm, register_plugin):
    order = []

    @hookimpl(wrapper=True)
    def dealercrm_check_event(event):
        order.append("wrapper before")
        result = yield
        order.append(f"wrapper after, {len(result)} result")
        return result

    def checker(event):
        order.append("checker")
        return "checked"

    register_plugin(plugin("outer", dealercrm_check_event=dealercrm_check_event))
    register_plugin(plugin("inner", dealercrm_check_event=checker))
    crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    assert order == ["wrapper before", "checker", "wrapper after, 1 result"]


def test_a_wrapper_can_veto_inside_the_transaction(crm, register_plugin):
    @hookimpl(wrapper=True)
    def dealercrm_check_event(event):
        result = yield
        if isinstance(event, dealercrm.CustomerRegistered):
            raise Vetoed("front_desk", "walk-ins are registered at the front desk")
        return result

    register_plugin(plugin("front_desk", dealercrm_check_event=dealercrm_check_event))
    with pytest.raises(Vetoed, match="front desk"):
        crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    assert crm.customers.count(by=crm.system) == 0


def test_a_checker_failing_under_a_wrapper_is_named_not_the_wrapper(crm, register_plugin):
    passed_on = []

    @hookimpl(wrapper=True)
    def dealercrm_check_event(event):
        try:
            return (yield)
        except Exception as exc:
            passed_on.append(type(exc).__name__)
            raise

    def clumsy(event):
        raise KeyError("boom")

    register_plugin(plugin("observer", dealercrm_check_event=dealercrm_check_event))
    register_plugin(plugin("clumsy", dealercrm_check_event=clumsy))
    with pytest.raises(PluginError) as info:
        crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    assert (info.value.plugin, info.value.hook) == ("clumsy", "dealercrm_check_event")
    assert passed_on == ["KeyError"]  # the wrapper saw the failure on its way out


def test_a_wrapper_that_raises_on_its_way_out_is_named_itself(crm, register_plugin):
    @hookimpl(wrapper=True)
    def dealercrm_check_event(event):
        yield
        raise RuntimeError("wrapper bug")

    register_plugin(plugin("buggy_wrapper", dealercrm_check_event=dealercrm_check_event))
    register_plugin(plugin("fine", dealercrm_check_event=lambda event: None))
    with pytest.raises(PluginError) as info:
        crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    assert info.value.plugin == "buggy_wrapper" and "wrapper bug" in str(info.value)


def test_two_instances_of_one_plugin_class_are_told_apart_when_one_fails(crm, register_plugin):
    class Gate:
        def __init__(self, fail: bool):
            self.fail = fail

        @hookimpl
        def dealercrm_check_event(self, event):
            if self.fail:
                raise OSError("gate closed")

    register_plugin(Gate(fail=True), "north_gate")
    register_plugin(Gate(fail=False), "south_gate")
    with pytest.raises(PluginError) as info:
        crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    assert info.value.plugin == "north_gate"


def test_a_wrapper_on_a_historic_hook_is_refused_naming_plugin_and_hook(crm):
    seen = []
    late = plugin("late_starter", dealercrm_start_app=wrapper(seen))
    with pytest.raises(PluginError) as info:
        crm.register(late)
    assert info.value.plugin == "late_starter"
    assert "dealercrm_start_app" in str(info.value) and "historic" in str(info.value)
    assert not crm.plugins.has_plugin("late_starter") and seen == []


def test_an_old_style_hookwrapper_runs_too(crm, register_plugin):
    seen = []

    @hookimpl(hookwrapper=True)
    def dealercrm_check_event(event):
        outcome = yield
        seen.append((event.name, outcome.exception))

    register_plugin(plugin("old_style", dealercrm_check_event=dealercrm_check_event))
    crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    assert seen == [("customer_registered", None)]


# -- after commit: one plugin never silences another ------------------------------------


def test_a_failing_after_commit_handler_silences_neither_the_others_nor_a_wrapper(crm, register_plugin):
    seen = []

    def broken(event):
        raise RuntimeError("mail server down")

    register_plugin(plugin("around", dealercrm_handle_event=wrapper(seen)))
    register_plugin(plugin("flaky_mailer", dealercrm_handle_event=broken))
    register_plugin(plugin("notifier", dealercrm_handle_event=lambda event: seen.append(f"notified {event.name}")))
    crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    # the wrapper runs around each plugin's handler on its own: the failure ends only its own call
    assert seen == ["wrapper before", "notified customer_registered", "wrapper after", "wrapper before"]
    assert [(f.plugin, f.hook) for f in crm.plugin_failures] == [("flaky_mailer", "dealercrm_handle_event")]


def test_an_after_commit_handler_registered_later_sees_the_next_event_and_none_once_unregistered(
        crm, register_plugin):
    seen = []
    register_plugin(plugin("around", dealercrm_handle_event=wrapper(seen)))
    crm.customers.add("Anna", email="anna@example.org", by=crm.system)  # no handler to wrap; the callers are built and kept
    assert seen == []
    register_plugin(plugin("late", dealercrm_handle_event=lambda event: seen.append(event.name)))
    crm.customers.add("Ben", email="ben@example.org", by=crm.system)
    assert seen == ["wrapper before", "customer_registered", "wrapper after"]
    crm.unregister("late")
    crm.customers.add("Carla", email="carla@example.org", by=crm.system)
    assert seen == ["wrapper before", "customer_registered", "wrapper after"]


def test_a_wrapper_next_to_a_plain_handler_in_one_plugin_is_refused_naming_plugin_and_hook(crm, register_plugin):
    class Both:
        @hookimpl
        def dealercrm_handle_event(self, event):
            pass

        @hookimpl(wrapper=True, specname="dealercrm_handle_event")
        def around(self):
            return (yield)

    with pytest.raises(PluginError) as info:
        crm.register(Both(), "both")
    assert (info.value.plugin, info.value.hook) == ("both", "dealercrm_handle_event")
    assert "plugin of its own" in str(info.value) and not crm.plugins.has_plugin("both")

    class BothChecks:  # called once for all plugins: a wrapper next to a checker is fine
        @hookimpl
        def dealercrm_check_event(self, event):
            pass

        @hookimpl(wrapper=True, specname="dealercrm_check_event")
        def around(self):
            return (yield)

    register_plugin(BothChecks(), "both_checks")
    crm.customers.add("Anna", email="anna@example.org", by=crm.system)


def test_plugin_failures_keep_the_last_hundred_and_count_and_log_every_one(crm, register_plugin, caplog):
    failed = iter(range(1000))

    def dealercrm_handle_event(event):
        raise RuntimeError(f"failure {next(failed)}")

    register_plugin(plugin("flaky", dealercrm_handle_event=dealercrm_handle_event))
    event = dealercrm.CustomerRegistered(at=crm.clock.now(), customer_id=1)
    with caplog.at_level(logging.ERROR, logger="dealercrm.plugin_manager"):
        crm.publish([event] * 150)
    kept = list(crm.plugin_failures)
    assert len(kept) == 100 and "failure 50" in str(kept[0]) and "failure 149" in str(kept[-1])
    assert crm.plugin_failures.counts[("flaky", "dealercrm_handle_event")] == 150 == crm.plugin_failures.total
    assert len([r for r in caplog.records if "'flaky' failed in dealercrm_handle_event" in r.getMessage()]) == 150


def test_a_plugin_that_pluggy_cannot_tell_apart_is_refused_naming_it(crm):
    unhashable = types.SimpleNamespace(dealercrm_handle_event=hookimpl(lambda event: None))
    with pytest.raises(PluginError, match=r"'ns'.*unhashable.*module, a class"):
        crm.register(unhashable, "ns")
    assert not crm.plugins.has_plugin("ns")


# -- monitoring and tracing -------------------------------------------------------------


def test_hook_call_monitoring_sees_each_call_of_an_operation(crm):
    calls = []
    undo = crm.plugins.add_hookcall_monitoring(lambda name, impls, kwargs: calls.append(name),
                                               lambda outcome, name, impls, kwargs: None)
    try:
        crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    finally:
        undo()
    assert calls.count("dealercrm_check_event") == 1
    assert "dealercrm_handle_event" not in calls  # no plugin handles it: nothing to call


def test_tracing_writes_each_hook_call_to_the_hooks_logger(crm_factory, monkeypatch, caplog):
    monkeypatch.setenv("DEALERCRM_TRACE_HOOKS", "1")
    app = crm_factory()
    app.parties.add("dealer", app.settings.home_dealer, by=app.system)
    with caplog.at_level(logging.INFO, logger="dealercrm.hooks"):
        app.customers.add("Anna", email="anna@example.org", by=app.system)
    lines = [r.getMessage() for r in caplog.records if r.name == "dealercrm.hooks"]
    assert any("dealercrm_check_event [hook]" in line for line in lines)
    assert any("finish dealercrm_check_event" in line for line in lines)


def test_tracing_is_off_unless_asked(crm_factory, monkeypatch, caplog):
    monkeypatch.setenv("DEALERCRM_TRACE_HOOKS", "0")
    app = crm_factory()
    app.parties.add("dealer", app.settings.home_dealer, by=app.system)
    with caplog.at_level(logging.DEBUG, logger="dealercrm.hooks"):
        app.customers.add("Anna", email="anna@example.org", by=app.system)
    assert not [r for r in caplog.records if r.name == "dealercrm.hooks"]


def test_tracing_goes_to_stderr_when_logging_is_not_set_up(tmp_path):
    code = ("import dealercrm\n"
            "from dealercrm.settings import Settings\n"
            f"crm = dealercrm.connect('sqlite:///{tmp_path}/t.db', settings=Settings(), load_entry_points=False)\n"
            "crm.parties.add('dealer', crm.settings.home_dealer, by=crm.system)\n"
            "crm.customers.add('Anna', email='anna@example.org', by=crm.system)\n")
    env = {**os.environ, "DEALERCRM_TRACE_HOOKS": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "dealercrm_start_app [hook]" in done.stderr and "dealercrm_check_event [hook]" in done.stderr
