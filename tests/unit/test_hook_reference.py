"""The hook reference stays true: every hook documented with its exact signature, and
really called by dealercrm, through pluggy, with the arguments it documents (as datasette
keeps its plugin docs honest).

For each hook a test plugin implementing it with exactly the specification's arguments is
registered next to a ``wrapper=True`` plugin; the operation that calls the hook is run the
way a user runs it, and the test checks the call: every argument of the documented type,
and the wrapper around it. A hook added to ``core/hookspecs.py`` without an operation here
fails ``test_every_hook_has_an_operation_that_calls_it``.
"""

from __future__ import annotations

import inspect
import random
import re
import types
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import typer

from dealercrm import CRM, PluginError, hookimpl, hookspecs
from dealercrm.events import Event
from dealercrm.uow import UnitOfWork
from dealercrm.workflow import Workflow

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
HOOKS = {name: fn for name, fn in vars(hookspecs).items() if name.startswith("dealercrm_") and callable(fn)}
HISTORIC = {name for name, fn in HOOKS.items() if getattr(fn, "dealercrm_spec", {}).get("historic")}

#: what each documented argument must be when dealercrm calls a hook
ARGUMENT_TYPES: dict[str, type] = {"crm": CRM, "cli": typer.Typer, "event": Event, "uow": UnitOfWork,
                                   "customer_id": int, "rng": random.Random, "workflow": Workflow,
                                   "case": Mapping, "events": list}


def test_hook_names_follow_the_verb_noun_convention():
    assert HOOKS, "no hooks found"
    for name in HOOKS:
        assert re.fullmatch(r"dealercrm_[a-z]+_[a-z_]+", name), name


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_is_documented_with_its_exact_arguments(name):
    params = ", ".join(inspect.signature(HOOKS[name]).parameters)
    assert f"### {name}({params})" in DOC, f"docs/hooks.md lacks the heading '### {name}({params})'"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_has_a_docstring_for_plugin_authors(name):
    assert (HOOKS[name].__doc__ or "").strip(), f"{name} has no docstring in core/hookspecs.py"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_says_how_it_is_called_as_the_plugin_manager_calls_it(name):
    each = name in hookspecs.EACH_PLUGIN
    said = "for each plugin on its own" if each else "once for all plugins"
    docstring = " ".join((HOOKS[name].__doc__ or "").split())
    section = " ".join(DOC.split(f"### {name}(", 1)[-1].split("\n### ", 1)[0].split())
    assert f"Called: {said}" in docstring, f"core/hookspecs.py: {name} should say 'Called: {said}'"
    assert f"Called: {said}" in section, f"docs/hooks.md: {name} should say 'Called: {said}'"


def test_no_documented_hook_is_missing_from_the_specification():
    documented = set(re.findall(r"^### (dealercrm_\w+)\(", DOC, flags=re.M))
    assert documented == set(HOOKS)


# -- every hook really called --------------------------------------------------------------


def recording_plugin(name: str, log: list) -> types.ModuleType:
    """A plugin implementing ``name`` with exactly the specification's arguments (pluggy passes
    arguments by the names in the signature, so the function is written out for each hook)."""
    params = list(inspect.signature(HOOKS[name]).parameters)
    source = (f"def {name}({', '.join(params)}):\n"
              f"    log.append(('called', dict({', '.join(f'{p}={p}' for p in params)})))\n")
    namespace: dict = {"log": log}
    exec(source, namespace)  # noqa: S102 - a test helper building a signature
    module = types.ModuleType(f"reference_{name}")
    setattr(module, name, hookimpl(namespace[name]))
    return module


def wrapping_plugin(name: str, log: list) -> types.ModuleType:
    def around():
        log.append("before")
        result = yield
        log.append("after")
        return result

    module = types.ModuleType(f"wrapper_{name}")
    module.around = hookimpl(wrapper=True, specname=name)(around)
    return module


def with_a_customer(crm_factory, plugins) -> tuple[CRM, int]:
    app = crm_factory(plugins=plugins)
    app.parties.add("dealer", app.settings.home_dealer, by=app.system)
    return app, app.customers.add("Anna", email="anna@example.org", by=app.system).id


def with_a_transition(crm_factory, plugins) -> CRM:
    """A case of the customer's, opened and moved on by the dealer's service desk."""
    app, customer_id = with_a_customer(crm_factory, plugins)
    dealer = app.parties.list(kind="dealer", by=app.system)[0]
    desk = app.parties.add_actor(dealer.id, "Lea", "service", by=app.system)
    case = app.cases.open(customer_id, "washes badly", by=desk.id)
    app.cases.fire(case.id, "start_diagnosis", by=desk.id)
    return app


def run_demo(crm_factory, plugins, monkeypatch) -> None:
    """``dealercrm demo`` on an empty database, the built-in demo plugins blocked."""
    from dealercrm.cli import demo, main
    app = crm_factory(plugins=plugins, block=["demo_customer_file", "demo_service_case"])
    monkeypatch.setattr(demo, "open_crm", lambda: app)
    assert main(["--db", str(app.engine.url), "demo"]) == 0


def build_http_api(make, plugins) -> None:
    from dealercrm.http import create_app
    create_app(make(plugins=plugins))


def run_command_line(plugins) -> None:
    from dealercrm.cli import build_cli
    build_cli(plugins=tuple(plugins))


def serve(app: CRM) -> None:
    """What ``dealercrm serve`` does with the application: build the HTTP application over it."""
    from dealercrm.http import create_app
    create_app(app)


#: for each hook, the operation that calls it, run as a user would
OPERATIONS: dict[str, Callable] = {
    "dealercrm_start_app": lambda make, plugins, mp: make(plugins=plugins),
    "dealercrm_register_commands": lambda make, plugins, mp: run_command_line(plugins),
    "dealercrm_check_event": lambda make, plugins, mp: with_a_customer(make, plugins),
    "dealercrm_handle_event": lambda make, plugins, mp: with_a_customer(make, plugins),
    "dealercrm_amend_case": lambda make, plugins, mp: with_a_transition(make, plugins),
    "dealercrm_queue_notices": lambda make, plugins, mp: with_a_transition(make, plugins).outbox.dispatch(),
    "dealercrm_export_customer": lambda make, plugins, mp: (lambda app, c: app.customers.export(c, by=app.system))(
        *with_a_customer(make, plugins)),
    "dealercrm_erase_customer": lambda make, plugins, mp: (lambda app, c: app.customers.erase(c, by=app.system))(
        *with_a_customer(make, plugins)),
    "dealercrm_seed_demo": run_demo,
    "dealercrm_register_workflows": lambda make, plugins, mp: make(plugins=plugins),
    "dealercrm_extend_workflow": lambda make, plugins, mp: make(plugins=plugins),
    "dealercrm_register_channels": lambda make, plugins, mp: make(plugins=plugins).channels,
    "dealercrm_register_rules": lambda make, plugins, mp: make(plugins=plugins).rules.rules,
    "dealercrm_register_fields": lambda make, plugins, mp: make(plugins=plugins).fields,
    "dealercrm_register_consent_channels": lambda make, plugins, mp: make(plugins=plugins).consents.channels(),
    "dealercrm_register_routes": lambda make, plugins, mp: build_http_api(make, plugins),
    "dealercrm_register_settings": lambda make, plugins, mp: make(plugins=plugins),
}


def test_every_hook_has_an_operation_that_calls_it():
    assert set(OPERATIONS) == set(HOOKS)
    documented = {p for fn in HOOKS.values() for p in inspect.signature(fn).parameters}
    assert documented <= set(ARGUMENT_TYPES), f"no expected type for {documented - set(ARGUMENT_TYPES)}"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_is_called_through_pluggy_with_its_documented_arguments(name, crm_factory, monkeypatch):
    log: list = []
    plugins = [recording_plugin(name, log)]
    if name not in HISTORIC:
        plugins.append(wrapping_plugin(name, log))
    OPERATIONS[name](crm_factory, plugins, monkeypatch)
    calls = [(i, entry[1]) for i, entry in enumerate(log) if isinstance(entry, tuple)]
    assert calls, f"{name} was never called"
    params = list(inspect.signature(HOOKS[name]).parameters)
    for i, kwargs in calls:
        assert list(kwargs) == params
        for arg, value in kwargs.items():
            assert isinstance(value, ARGUMENT_TYPES[arg]), f"{name}: {arg}={value!r}"
        if name not in HISTORIC:  # the wrapper ran around this very call
            assert log[i - 1] == "before" and log[i + 1] == "after", log


@pytest.mark.parametrize("name", sorted(HISTORIC))
def test_a_wrapper_on_a_historic_hook_is_refused_naming_the_plugin_and_the_hook(name, crm_factory):
    with pytest.raises(PluginError) as info:
        crm_factory(plugins=[wrapping_plugin(name, [])])
    assert info.value.plugin == f"wrapper_{name}" and name in str(info.value)
