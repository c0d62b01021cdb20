"""Settings are checked when the application starts, not when a message goes out hours later.

An installer mistypes a table or a key, or writes a word where a number belongs: dealercrm
refuses to start, naming the key, the value and what is allowed, with the closest known key.
Each plugin declares its table as an attrs class (``dealercrm_register_settings``); the core
declares its own the same way. And e-mail is offered only once it is configured.
"""

from __future__ import annotations

import attrs
import pytest
from sqlalchemy import func, select

import dealercrm
from dealercrm import PluginError, ValidationError, hookimpl
from dealercrm.db.outbox_models import OutboxMessage
from dealercrm.rules import RuleSettings
from dealercrm.settings import Settings, load_settings, secret_field
from dealercrm.settings_schema import as_table


def start(tmp_path, **settings) -> dealercrm.CRM:
    """``connect()`` as an installation starts it, with these settings."""
    return dealercrm.connect(f"sqlite:///{tmp_path}/shop.db", settings=Settings(**settings))


# -- what a settings file can get wrong ---------------------------------------------------------


def test_a_mistyped_plugin_table_is_refused_naming_the_plugin_it_was_meant_for(tmp_path):
    with pytest.raises(ValidationError) as info:
        start(tmp_path, plugins={"channel_emial": {"host": "mail.example.org"}})
    said = str(info.value)
    assert "[plugins.channel_emial]" in said and "no loaded plugin declares it" in said
    assert "did you mean 'channel_email'?" in said


def test_a_mistyped_key_is_refused_with_the_closest_known_one(tmp_path):
    with pytest.raises(ValidationError) as info:
        start(tmp_path, plugins={"rule_loyal_quiet": {"quiet_dayz": 90}})
    assert info.value.field == "[plugins.rule_loyal_quiet] key" and info.value.value == "quiet_dayz"
    assert "did you mean 'quiet_days'?" in str(info.value) and "min_purchases" in str(info.value)  # the known keys


def test_a_word_where_a_number_belongs_is_refused_before_anything_is_sent(tmp_path):
    (tmp_path / "dealercrm.toml").write_text('[contact]\nbudget = "four"\n', encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        load_settings(tmp_path / "dealercrm.toml", env={})
    assert (info.value.field, info.value.value) == ("[contact] budget", "four")
    assert "must be a whole number (default 4), not a text" in str(info.value)
    assert "dealercrm.toml" in str(info.value)  # which file


@pytest.mark.parametrize("table, said", [
    ({"low_csat": True}, "low_csat True: must be a whole number (default 2), not true"),  # true is no number
    ({"channels": "email"}, "channels 'email': must be a list of texts in quotes"),  # a bare word is no list
    ({"final_states": ["closed", 3]}, "final_states[1] 3: must be a text in quotes, not a number"),
    ({"enabled": "no"}, "enabled 'no': must be true or false"),
])
def test_each_value_is_checked_against_the_type_its_plugin_declared(tmp_path, table, said):
    with pytest.raises(ValidationError) as info:
        start(tmp_path, plugins={"rule_satisfaction": table})
    assert str(info.value).startswith(f"invalid [plugins.rule_satisfaction] {said}")


def test_a_whole_number_is_a_number_and_the_table_reads_as_its_class(tmp_path):
    crm = start(tmp_path, plugins={"rule_satisfaction": {"follow_up_in_hours": 12, "low_nps": 5}})
    declared = crm.settings.of("rule_satisfaction")
    assert (declared.follow_up_in_hours, declared.low_nps, declared.low_csat) == (12.0, 5, 2)  # the default
    assert crm.settings.plugin("rule_satisfaction") == {"follow_up_in_hours": 12, "low_nps": 5}  # as written
    assert crm.rules.settings_for(crm.rules.rules["rule_satisfaction"])["low_nps"] == 5


def test_every_problem_is_named_at_once_by_settings_check(tmp_path, monkeypatch, capsys):
    from dealercrm.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEALERCRM_SETTINGS", raising=False)
    (tmp_path / "dealercrm.toml").write_text(
        '[contcat]\nbudget = 3\n\n[contact]\nbudget = "four"\n\n[inbound]\nunknown_case = "tasks"\n\n'
        '[plugins.channel_emial]\nhost = "mail.example.org"\n\n[plugins.rule_loyal_quiet]\nquiet_dayz = 90\n',
        encoding="utf-8")
    assert main(["settings", "check"]) == 1
    out = capsys.readouterr().out
    for named in ("[contcat]': is not a settings table; did you mean [contact]?", "[contact] budget 'four'",
                  "unknown_case 'tasks'", "did you mean 'task'?", "did you mean 'channel_email'?",
                  "did you mean 'quiet_days'?", "5 problems"):
        assert named in out, named
    with pytest.raises(ValidationError, match="and 2 more problems: run 'dealercrm settings check'"):
        dealercrm.connect(f"sqlite:///{tmp_path}/x.db")  # starting stops at the first of the core's three


def test_settings_check_passes_a_good_file_and_checks_what_is_otherwise_checked_late(tmp_path, monkeypatch, capsys):
    from dealercrm.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEALERCRM_SETTINGS", raising=False)
    (tmp_path / "dealercrm.toml").write_text('[plugins.rule_loyal_quiet]\nquiet_days = 90\n', encoding="utf-8")
    assert main(["settings", "check"]) == 0
    assert "ok:" in capsys.readouterr().out
    (tmp_path / "dealercrm.toml").write_text('[cases]\ndefault_workflow = "callbak"\n', encoding="utf-8")
    assert main(["settings", "check"]) == 1  # right type, but no such workflow: found now, not at the first case
    assert "callbak" in capsys.readouterr().out


# -- settings show ------------------------------------------------------------------------------


def test_settings_show_prints_what_is_in_effect_with_every_secret_masked(tmp_path, monkeypatch, capsys):
    import tomllib

    from dealercrm.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEALERCRM_SETTINGS", raising=False)
    monkeypatch.setenv("DEALERCRM_DATABASE_URL", "postgresql+psycopg://crm:pg-s3cret@db.internal/crm")
    (tmp_path / "dealercrm.toml").write_text(
        f'[dealercrm]\nsecret_key = "{"k" * 40}"\n\n[unsubscribe]\nsecret = "unsub-s3cret-0123456789"\n\n'
        '[inbound.email]\nsecret = "relay-s3cret-0123456789"\n\n'
        '[plugins.channel_email]\nhost = "mail.example.org"\npassword = "smtp-s3cret"\n\n'
        '[plugins.channel_sms]\nurl = "https://sms.example/send"\ntoken = "sms-s3cret"\n', encoding="utf-8")
    assert main(["settings", "show"]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out and "kkkk" not in out
    shown = tomllib.loads(out)  # the settings file's own form
    assert shown["dealercrm"]["database_url"] == "postgresql+psycopg://crm:***@db.internal/crm"
    assert shown["dealercrm"]["secret_key"] == "***" and shown["unsubscribe"]["secret"] == "***"
    assert shown["inbound"]["email"]["secret"] == "***"
    assert shown["plugins"]["channel_email"]["host"] == "mail.example.org"
    assert shown["plugins"]["channel_email"]["password"] == "***"
    assert shown["plugins"]["channel_sms"]["token"] == "***"
    assert shown["plugins"]["channel_sms"]["inbound"]["from"] == "from"  # a nested table, its default
    assert shown["contact"]["budget"] == 4 and shown["plugins"]["rule_loyal_quiet"]["quiet_days"] == 180  # defaults

    assert main(["settings", "show", "--format", "json"]) == 0
    assert "s3cret" not in capsys.readouterr().out


# -- plugins declaring their settings -----------------------------------------------------------


@attrs.frozen
class RoofboxSettings(RuleSettings):
    interest: str = "skiing"
    due_in_days: int = 3
    shop_token: str = secret_field()


def roofbox_plugin(declared=None):
    class Roofbox:
        @hookimpl
        def dealercrm_register_settings(self):
            return declared if declared is not None else {"roofbox": RoofboxSettings}
    return Roofbox()


def test_a_plugins_declared_table_is_checked_at_connect_and_read_as_its_class(tmp_path):
    with pytest.raises(ValidationError, match=r"\[plugins.roofbox\] due_in_days 'soon'"):
        dealercrm.connect(f"sqlite:///{tmp_path}/a.db", plugins=[roofbox_plugin()],
                          settings=Settings(plugins={"roofbox": {"due_in_days": "soon"}}))
    crm = dealercrm.connect(f"sqlite:///{tmp_path}/b.db", plugins=[roofbox_plugin()],
                            settings=Settings(plugins={"roofbox": {"shop_token": "t0ken"}}))
    assert crm.settings.of("roofbox") == RoofboxSettings(shop_token="t0ken")
    assert "t0ken" not in repr(crm.settings.of("roofbox")) and as_table(crm.settings.of("roofbox"))["shop_token"] == "***"


def test_a_plugin_registered_on_a_running_application_has_its_table_checked_or_is_refused(crm_factory):
    crm = crm_factory(settings=Settings(plugins={"roofbox": {"intrest": "cycling"}}), block=["roofbox"])
    with pytest.raises(ValidationError, match="did you mean 'interest'"):
        crm.register(roofbox_plugin(), name="roofbox_plugin")
    assert crm.plugins.get_plugin("roofbox_plugin") is None  # out again, nothing else changed


@attrs.frozen
class RoofboxByLevel(RuleSettings):
    """A table whose ``level`` must be one of the installation's ``[relationships] levels``."""

    level: str = "sales"

    def check_against(self, settings) -> None:
        names = [level.name for level in settings.relationships.levels]
        if self.level not in names:
            raise ValidationError("[plugins.roofbox] level", self.level, f"is no level of [relationships] levels: "
                                  f"{', '.join(names)}")


def test_a_value_that_must_agree_with_another_table_is_checked_against_it_at_start_and_on_register(crm_factory):
    plugin = roofbox_plugin({"roofbox": RoofboxByLevel})
    with pytest.raises(ValidationError, match=r"\[plugins.roofbox\] level 'golf': is no level .*: sales, service"):
        crm_factory(plugins={"roofbox_plugin": plugin}, settings=Settings(plugins={"roofbox": {"level": "golf"}}))
    assert crm_factory(plugins={"roofbox_plugin": plugin}, settings=Settings(
        plugins={"roofbox": {"level": "service"}})).settings.of("roofbox").level == "service"
    running = crm_factory(settings=Settings(plugins={"roofbox": {"level": "golf"}}), block=["roofbox"])
    with pytest.raises(ValidationError, match="'golf': is no level"):
        running.register(plugin, name="roofbox_plugin")


@pytest.mark.parametrize("declared, said", [
    ({"roofbox": dict}, "is not an attrs class"),
    ({"roofbox": attrs.make_class("NoDefault", {"days": attrs.field()})}, "'days' of NoDefault has no default"),
    ({"Roof Box": RoofboxSettings}, "table name 'Roof Box'"),
])
def test_a_declaration_that_cannot_be_checked_is_refused_naming_the_plugin(crm_factory, declared, said):
    with pytest.raises(PluginError, match=said) as info:
        crm_factory(plugins={"roofbox_plugin": roofbox_plugin(declared)})
    assert info.value.plugin == "roofbox_plugin"


def test_two_plugins_declaring_one_table_are_both_named(crm_factory):
    with pytest.raises(PluginError, match="is declared by both") as info:
        crm_factory(plugins={"first": roofbox_plugin(), "second": roofbox_plugin()})
    assert "'first'" in str(info.value) and "'second'" in str(info.value)


def test_the_table_of_a_blocked_plugin_or_of_one_that_declares_nothing_is_taken_as_written(tmp_path):
    crm = dealercrm.connect(f"sqlite:///{tmp_path}/shop.db", block=["rule_loyal_quiet"],
                            settings=Settings(plugins={"rule_loyal_quiet": {"quiet_dayz": 1},
                                                       "demo_customer_file": {"anything": True}}))
    assert crm.settings.plugin("rule_loyal_quiet") == {"quiet_dayz": 1}


# -- e-mail only once configured ------------------------------------------------------------------


def test_email_is_offered_only_once_configured_and_consent_to_it_can_be_recorded_before(tmp_path, monkeypatch):
    for var in ("DEALERCRM_SMTP_HOST", "DEALERCRM_SMTP_PORT", "DEALERCRM_SMTP_USER", "DEALERCRM_SMTP_PASSWORD",
                "DEALERCRM_SMTP_FROM"):
        monkeypatch.delenv(var, raising=False)
    plain = start(tmp_path)
    assert "email" not in plain.channels  # localhost:25 is a guess, and a wrong one keeps messages retrying
    plain.parties.add("dealer", plain.settings.home_dealer, by=plain.system)
    max_ = plain.customers.add("Max", email="max@example.org", by=plain.system)
    plain.consents.grant(max_.id, "email", "marketing", source="form", by=plain.system)  # recorded all the same

    configured = dealercrm.connect(f"sqlite:///{tmp_path}/b.db", settings=Settings(
        plugins={"channel_email": {"host": "mail.example.org"}}))
    assert "email" in configured.channels
    monkeypatch.setenv("DEALERCRM_SMTP_HOST", "mail.example.org")
    assert "email" in start(tmp_path).channels  # the environment configures it too


def test_the_demo_queues_no_mail_that_could_only_retry(tmp_path, monkeypatch, capsys):
    from dealercrm.cli import main

    monkeypatch.chdir(tmp_path)
    for var in ("DEALERCRM_SETTINGS", "DEALERCRM_SMTP_HOST", "DEALERCRM_BLOCK_PLUGINS", "DEALERCRM_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    url = f"sqlite:///{tmp_path}/demo.db"
    assert main(["--db", url, "demo"]) == 0
    crm = dealercrm.connect(url)
    with crm.read(crm.system) as uow:
        waiting = uow.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status.in_(("pending", "retry"))))
        mail = uow.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.channel == "email"))
    assert (waiting, mail) == (0, 0)
