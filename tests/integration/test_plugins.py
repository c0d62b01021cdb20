"""Plugins extend dealercrm through hooks; a broken plugin is named and never costs data."""

from __future__ import annotations

import json
import sys
import textwrap
import types

import pytest
from sqlalchemy import func, select

import dealercrm
from dealercrm import PluginError, Vetoed, hookimpl
from dealercrm.cli import main
from dealercrm.db.models import Customer, Task
from dealercrm.settings import Settings


def plugin(name: str, **hooks) -> types.ModuleType:
    """An inline plugin, a module made on the spot: ``plugin("x", dealercrm_handle_event=fn)``."""
    ns = types.ModuleType(name)
    for hook, fn in hooks.items():
        setattr(ns, hook, fn if hasattr(fn, "dealercrm_impl") else hookimpl(fn))  # already marked: kept
    return ns


def customer_count(crm) -> int:
    with crm.read(crm.system) as uow:
        return uow.session.scalar(select(func.count()).select_from(Customer))


class Recorder:
    def __init__(self):
        self.seen = []
        self.crm = None

    @hookimpl
    def dealercrm_start_app(self, crm):
        self.crm = crm

    @hookimpl
    def dealercrm_handle_event(self, event, crm):
        self.seen.append(event)


def test_a_plugin_registered_after_connect_still_sees_startup(crm):
    recorder = Recorder()
    crm.register(recorder, "recorder")
    assert recorder.crm is crm


def test_events_reach_plugins_after_commit_with_what_happened(crm, register_plugin):
    recorder = Recorder()
    register_plugin(recorder, "recorder")
    c = crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)
    crm.interests.note(c.id, "Skiing", by=crm.system)
    names = [e.name for e in recorder.seen]
    assert names == ["customer_registered", "interest_noted"]
    assert recorder.seen[1].tag == "skiing" and recorder.seen[1].customer_id == c.id


def test_a_veto_inside_the_transaction_leaves_nothing_written(crm, register_plugin):
    def dealercrm_check_event(event, uow):
        if isinstance(event, dealercrm.CustomerRegistered):
            raise Vetoed("no_walkins", "walk-in customers are registered at the front desk")

    register_plugin(plugin("no_walkins", dealercrm_check_event=dealercrm_check_event))
    with pytest.raises(Vetoed, match="no_walkins.*front desk"):
        crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    assert customer_count(crm) == 0
    with crm.read(crm.system) as uow:  # the audit rows of the refused insert went too
        assert uow.session.scalar(select(func.count()).select_from(Customer)) == 0


def test_a_plugin_raising_inside_the_transaction_is_named_and_rolls_back(crm, register_plugin):
    def dealercrm_check_event(event, uow):
        raise KeyError("boom")

    register_plugin(plugin("clumsy", dealercrm_check_event=dealercrm_check_event))
    with pytest.raises(PluginError) as info:
        crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    assert info.value.plugin == "clumsy" and info.value.hook == "dealercrm_check_event"
    assert "clumsy" in str(info.value) and "dealercrm_check_event" in str(info.value)
    assert customer_count(crm) == 0


def test_rows_a_checking_plugin_adds_commit_atomically_with_the_operation(crm, register_plugin):
    def dealercrm_check_event(event, uow):
        if isinstance(event, dealercrm.CustomerRegistered):
            uow.session.add(Task(customer_id=event.customer_id, title="welcome call", due_at=uow.now,
                                 assigned_party_id=1, created_at=uow.now))

    register_plugin(plugin("welcome", dealercrm_check_event=dealercrm_check_event))
    c = crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    assert [t.title for t in crm.tasks.open(customer_id=c.id, by=crm.system)] == ["welcome call"]


def test_a_failing_after_commit_plugin_loses_nothing_and_does_not_silence_the_others(crm, register_plugin):
    recorder = Recorder()
    register_plugin(recorder, "recorder")

    def dealercrm_handle_event(event, crm):
        raise RuntimeError("mail server down")

    register_plugin(plugin("flaky_mailer", dealercrm_handle_event=dealercrm_handle_event))
    c = crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    assert crm.customers.get(c.id, by=crm.system).name == "Anna"  # committed
    assert [e.name for e in recorder.seen] == ["customer_registered"]
    failure = crm.plugin_failures[-1]
    assert (failure.plugin, failure.hook) == ("flaky_mailer", "dealercrm_handle_event")
    assert "mail server down" in str(failure)


def test_after_commit_plugins_can_start_their_own_unit_of_work(crm, register_plugin):
    home = crm.parties.list(kind="dealer", by=crm.system)[0].id

    def dealercrm_handle_event(event, crm):
        if isinstance(event, dealercrm.CustomerRegistered):
            crm.tasks.create("welcome call", crm.clock.now(), customer_id=event.customer_id,
                             assigned_party_id=home, origin="rule", origin_ref="welcome", by=crm.system)

    register_plugin(plugin("welcome", dealercrm_handle_event=dealercrm_handle_event))
    c = crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    assert [t.origin_ref for t in crm.tasks.open(customer_id=c.id, by=crm.system)] == ["welcome"]


def test_plugins_add_sections_to_the_right_of_access_export(crm, register_plugin):
    def dealercrm_export_customer(customer_id, uow):
        return {"loyalty": {"customer": customer_id, "points": 120}}

    register_plugin(plugin("loyalty", dealercrm_export_customer=dealercrm_export_customer))
    c = crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    assert crm.customers.export(c.id, by=crm.system)["loyalty"] == {"customer": c.id, "points": 120}


def test_a_plugin_failing_during_erasure_aborts_the_whole_erasure(crm, register_plugin):
    calls = []

    def dealercrm_erase_customer(customer_id, uow):
        calls.append(customer_id)
        raise OSError("loyalty backend unreachable")

    register_plugin(plugin("loyalty", dealercrm_erase_customer=dealercrm_erase_customer))
    c = crm.customers.add("Anna", email="anna@example.org", by=crm.system)
    with pytest.raises(PluginError, match="loyalty.*dealercrm_erase_customer"):
        crm.customers.erase(c.id, by=crm.system)
    assert calls == [c.id]
    assert crm.customers.get(c.id, by=crm.system).email == "anna@example.org"  # nothing half-erased


def test_built_in_plugins_are_registered_by_name_and_can_be_blocked(crm_factory, monkeypatch):
    app = crm_factory()
    assert "demo_customer_file" in app.plugins.origins
    assert app.plugins.origins["demo_customer_file"].startswith("built-in")
    blocked = crm_factory(block=["demo_customer_file"])
    assert "demo_customer_file" not in blocked.plugins.origins
    monkeypatch.setenv("DEALERCRM_BLOCK_PLUGINS", "demo_customer_file")
    from dealercrm.settings import load_settings
    assert "demo_customer_file" not in crm_factory(settings=load_settings()).plugins.origins


def test_each_application_has_its_own_plugin_manager(crm_factory):
    a, b = crm_factory(), crm_factory()
    a.register(Recorder(), "recorder")
    assert a.plugins is not b.plugins
    assert a.plugins.has_plugin("recorder") and not b.plugins.has_plugin("recorder")


def test_a_hook_implementation_with_a_typo_is_refused_naming_the_plugin(crm):
    typo = plugin("typo", dealercrm_handle_evnt=lambda event: None)
    with pytest.raises(PluginError, match="typo"):
        crm.register(typo)


@pytest.fixture
def installed_distribution(tmp_path, monkeypatch):
    """A real (unpacked) distribution on sys.path whose entry points name plugin modules."""

    def install(dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
        site = tmp_path
        # named as installers name it: importlib.metadata takes the name before the first "-" and keeps
        # one distribution per name ("dealercrm-x-1.0" would pass for dealercrm itself)
        info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
        (info / "entry_points.txt").write_text(f"[dealercrm]\n{lines}\n")
        for mod, source in modules.items():
            (site / f"{mod}.py").write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(site))

    yield install
    for mod in [m for m in sys.modules if m.startswith("thirdparty_")]:
        del sys.modules[mod]


def test_third_party_plugins_load_from_the_entry_point_group(installed_distribution, crm_factory):
    installed_distribution("dealercrm-roofbox", {"roofbox": "thirdparty_roofbox"}, {"thirdparty_roofbox": """
        import dealercrm
        seen = []
        @dealercrm.hookimpl
        def dealercrm_handle_event(event, crm):
            seen.append(event.name)
    """})
    app = crm_factory(load_entry_points=True)
    assert app.plugins.origins["roofbox"] == "entry point (dealercrm-roofbox 1.0: thirdparty_roofbox)"
    app.parties.add("dealer", "Autohaus Berg", by=app.system)
    assert sys.modules["thirdparty_roofbox"].seen == []  # parties raise no events
    app.customers.add("Max", email="max@example.org", by=app.system)
    assert sys.modules["thirdparty_roofbox"].seen == ["customer_registered"]


def test_a_plugin_that_fails_to_import_is_named_with_how_to_block_it(installed_distribution, crm_factory):
    installed_distribution("dealercrm-broken", {"broken": "thirdparty_broken"},
                           {"thirdparty_broken": "import not_a_module_anywhere\n"})
    with pytest.raises(PluginError) as info:
        crm_factory(load_entry_points=True)  # every installed plugin, as connect() loads them by default
    assert info.value.plugin == "broken" and info.value.hook == "import"
    assert "not_a_module_anywhere" in str(info.value) and "DEALERCRM_BLOCK_PLUGINS=broken" in str(info.value)
    assert crm_factory(load_entry_points=True, block=["broken"]).plugins.origins.get("broken") is None


def test_plugins_add_commands_to_the_command_line(tmp_path, capsys):
    def dealercrm_register_commands(cli):
        @cli.command("hello")
        def hello(name: str) -> None:
            print(f"hello {name}, from a plugin")

    from dealercrm.cli import build_cli
    import typer
    cli = build_cli(plugins=(plugin("greeter", dealercrm_register_commands=dealercrm_register_commands),))
    command = typer.main.get_command(cli)
    with pytest.raises(SystemExit) as done:
        command.main(["hello", "Max"], prog_name="dealercrm")
    assert done.value.code == 0
    assert "hello Max, from a plugin" in capsys.readouterr().out


def test_the_demo_is_seeded_by_plugins_and_built_ins_run_last(crm_factory):
    order = []

    def dealercrm_seed_demo(crm, rng):
        order.append("mine")
        crm.parties.add("technician", f"Kältetechnik Süd {rng.randint(1, 9)}", by=crm.system)
        return ["one more service partner"]

    def late(crm, rng):
        order.append("late")
        return ["built-in style plugin"]

    late_plugin = types.ModuleType("late")
    late_plugin.dealercrm_seed_demo = hookimpl(trylast=True)(late)
    mine = plugin("extra_demo", dealercrm_seed_demo=dealercrm_seed_demo)
    app = crm_factory(plugins=[late_plugin, mine], block=["demo_customer_file"])
    import random
    lines = app.plugins.checked_call("dealercrm_seed_demo", crm=app, rng=random.Random(1))
    assert order == ["mine", "late"] and lines[0] == ["one more service partner"]
    assert any("Kältetechnik" in p.name for p in app.parties.list(kind="technician", by=app.system))


# -- a broken plugin installed next to others ------------------------------------------------


@pytest.fixture
def broken_next_to_roofbox(installed_distribution):
    """Two installed plugins: the roof box one works, the other fails to import."""
    installed_distribution("dealercrm-roofbox", {"roofbox": "thirdparty_roofbox"}, {"thirdparty_roofbox": """
        import dealercrm
        @dealercrm.hookimpl
        def dealercrm_handle_event(event, crm):
            pass
    """})
    installed_distribution("dealercrm-broken", {"broken": "thirdparty_broken"},
                           {"thirdparty_broken": "import not_a_module_anywhere\n"})


def test_the_crm_fixture_leaves_other_installed_plugins_out_so_a_broken_one_fails_no_test(broken_next_to_roofbox, crm):
    assert "broken" not in crm.plugins.origins and "roofbox" not in crm.plugins.origins
    assert "service_case" in crm.plugins.origins  # dealercrm's own plugins are there


def test_the_crm_fixture_loads_the_installed_plugins_under_test_by_name(broken_next_to_roofbox, crm_factory):
    app = crm_factory(load_entry_points=["roofbox"])  # what dealercrm_plugins = ["roofbox"] asks for
    assert app.plugins.origins["roofbox"].startswith("entry point (dealercrm-roofbox 1.0")
    assert "broken" not in app.plugins.origins
    with pytest.raises(PluginError, match="no installed plugin has the entry point 'rooftop'.*roofbox"):
        crm_factory(load_entry_points=["rooftop"])


class TestAGroupOfTestsChoosesItsInstalledPlugins:
    @pytest.fixture
    def crm_plugins(self):
        """Overrides the dealercrm_plugins setting for these tests (as a conftest.py or a module can)."""
        return ["roofbox"]

    def test_overriding_crm_plugins_loads_those_plugins(self, broken_next_to_roofbox, crm):
        assert "roofbox" in crm.plugins.origins and "broken" not in crm.plugins.origins


def test_with_a_broken_plugin_installed_the_commands_that_need_none_still_work(broken_next_to_roofbox, tmp_path,
                                                                               capsys, monkeypatch):
    monkeypatch.delenv("DEALERCRM_SETTINGS", raising=False)
    monkeypatch.chdir(tmp_path)
    db = ["--db", f"sqlite:///{tmp_path}/shop.db"]
    assert main([*db, "db", "upgrade"]) == 0
    out = capsys.readouterr()
    assert "failed in import" in out.err and "DEALERCRM_BLOCK_PLUGINS=broken" in out.err  # reported on every run

    assert main([*db, "plugins", "list"]) == 0
    listed = capsys.readouterr().out
    assert "roofbox" in listed and "FAILED TO LOAD" in listed and "not_a_module_anywhere" in listed
    assert main([*db, "plugins", "list", "--format", "json"]) == 0
    failed = {p["plugin"]: p["failed"] for p in json.loads(capsys.readouterr().out)["items"]}
    assert failed["roofbox"] is None and "not_a_module_anywhere" in failed["broken"]

    for command in (["--help"], ["settings", "check"], ["db", "current"], ["db", "backup", str(tmp_path / "b.db")]):
        code = main([*db, *command])
        assert code == (1 if command == ["settings", "check"] else 0), command  # check counts it as a problem
    assert "DEALERCRM_BLOCK_PLUGINS=broken" in capsys.readouterr().out  # settings check says how to block it

    assert main([*db, "customers", "list"]) == 1  # a command that needs the plugins refuses, naming it
    said = capsys.readouterr().err.strip().splitlines()[-1]
    assert said.startswith("error: plugin 'broken' failed in import") and "DEALERCRM_BLOCK_PLUGINS=broken" in said

    monkeypatch.setenv("DEALERCRM_BLOCK_PLUGINS", "broken")
    assert main([*db, "customers", "list"]) == 0 and "broken" not in capsys.readouterr().err


def test_the_operator_allows_only_the_installed_plugins_named_in_load_plugins(broken_next_to_roofbox, crm_factory,
                                                                              monkeypatch):
    """DEALERCRM_LOAD_PLUGINS, an allow-list as datasette's: the broken one stays out without blocking it."""
    monkeypatch.setenv("DEALERCRM_LOAD_PLUGINS", "roofbox")
    app = crm_factory(load_entry_points=True)
    assert "roofbox" in app.plugins.origins and "broken" not in app.plugins.origins
    assert "service_case" in app.plugins.origins  # dealercrm's own plugins are not affected
    monkeypatch.setenv("DEALERCRM_LOAD_PLUGINS", "")
    assert "roofbox" not in crm_factory(load_entry_points=True).plugins.origins
    monkeypatch.setenv("DEALERCRM_LOAD_PLUGINS", "rooftop")
    with pytest.raises(PluginError, match="no installed plugin has the entry point 'rooftop'.*DEALERCRM_LOAD_PLUGINS"):
        crm_factory(load_entry_points=True)
