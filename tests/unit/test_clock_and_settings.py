"""The one source of time, and the one settings file."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dealercrm import ManualClock, SystemClock, ValidationError
from dealercrm.clock import UTC, as_utc
from dealercrm.settings import Settings, load_settings

# --- the clock --------------------------------------------------------------------------


def test_the_system_clock_tells_aware_utc_time():
    now = SystemClock().now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(timezone.utc)) < timedelta(seconds=5)


def test_a_manual_clock_stands_still_until_moved():
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    assert clock.now() == clock.now() == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert clock.advance(days=3, hours=2) == datetime(2026, 3, 5, 11, 0, tzinfo=UTC)
    assert clock.advance(timedelta(minutes=30)) == datetime(2026, 3, 5, 11, 30, tzinfo=UTC)
    assert clock.now() == datetime(2026, 3, 5, 11, 30, tzinfo=UTC)


def test_a_manual_clock_set_in_another_zone_reads_in_utc():
    clock = ManualClock()
    clock.set(datetime(2026, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))))
    assert clock.now() == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    assert clock.now().utcoffset() == timedelta(0)


def test_the_testing_clock_fixture_starts_on_a_monday_morning_and_moves(clock):
    start = clock.now()
    assert start.tzinfo is not None and start.weekday() == 0
    clock.advance(days=1)
    assert clock.now() - start == timedelta(days=1)


def test_naive_datetimes_are_refused_rather_than_guessed():
    with pytest.raises(ValueError, match="no timezone"):
        as_utc(datetime(2026, 3, 2, 9, 0))
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 3, 2, 9, 0))


# --- settings ---------------------------------------------------------------------------


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working directory without a dealercrm.toml."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_without_file_or_environment_the_defaults_apply(elsewhere):
    s = load_settings(env={})
    assert s == Settings()
    assert (s.database_url, s.default_region, s.home_dealer, s.block_plugins, s.source) == (
        None, "DE", "Our Dealership", (), "defaults")


def test_a_settings_file_configures_the_installation_and_each_plugin(elsewhere):
    path = elsewhere / "crm.toml"
    path.write_text('[dealercrm]\ndatabase_url = "sqlite:///shop.db"\ndefault_region = "AT"\n'
                    'home_dealer = "Autohaus Berg"\nblock_plugins = ["demo_customer_file"]\n'
                    '[plugins.birthday]\nsend_at = "08:00"\n', encoding="utf-8")
    s = load_settings(path, env={})
    assert s.database_url == "sqlite:///shop.db"
    assert s.default_region == "AT"
    assert s.home_dealer == "Autohaus Berg"
    assert s.block_plugins == ("demo_customer_file",)
    assert s.plugin("birthday") == {"send_at": "08:00"}
    assert s.plugin("unknown") == {}
    assert s.source == str(path)


def test_dealercrm_toml_in_the_working_directory_is_found(elsewhere):
    (elsewhere / "dealercrm.toml").write_text('[dealercrm]\nhome_dealer = "Elektro Schmidt"\n')
    assert load_settings(env={}).home_dealer == "Elektro Schmidt"


def test_the_environment_overrides_the_file(elsewhere):
    path = elsewhere / "crm.toml"
    path.write_text('[dealercrm]\ndatabase_url = "sqlite:///file.db"\nblock_plugins = ["x"]\n')
    s = load_settings(env={"DEALERCRM_SETTINGS": str(path), "DEALERCRM_DATABASE_URL": "sqlite:///env.db",
                           "DEALERCRM_BLOCK_PLUGINS": " a, b ,,", "DEALERCRM_DEFAULT_REGION": "ch"})
    assert s.database_url == "sqlite:///env.db"
    assert s.block_plugins == ("a", "b")
    assert s.default_region == "CH"
    assert s.source == str(path)


def test_a_single_blocked_plugin_written_as_a_string_is_one_name_not_its_letters(elsewhere):
    path = elsewhere / "crm.toml"
    path.write_text('[dealercrm]\nblock_plugins = "demo_customer_file"\n')
    assert load_settings(path, env={}).block_plugins == ("demo_customer_file",)


def test_block_plugins_that_is_not_a_list_of_names_is_refused(elsewhere):
    path = elsewhere / "crm.toml"
    path.write_text('[dealercrm]\nblock_plugins = 3\n')
    with pytest.raises(ValidationError, match="block_plugins"):
        load_settings(path, env={})


def test_the_default_workflow_and_the_manual_consent_channels_are_settings(elsewhere):
    assert (Settings().cases.default_workflow, Settings().contact.manual_channels) == (None, ("phone", "post"))
    path = elsewhere / "crm.toml"
    path.write_text('[cases]\ndefault_workflow = "callback"\n[contact]\nmanual_channels = "post"\n')
    s = load_settings(path, env={})
    assert (s.cases.default_workflow, s.contact.manual_channels) == ("callback", ("post",))
    path.write_text('[contact]\nmanual_channels = 3\n')
    with pytest.raises(ValidationError, match=r"\[contact\] manual_channels"):
        load_settings(path, env={})
    path.write_text('[cases]\ndefault = "callback"\n')
    with pytest.raises(ValidationError, match=r"\[cases\] key 'default'.*did you mean 'default_workflow'"):
        load_settings(path, env={})


def test_an_unknown_default_region_is_refused_naming_it(elsewhere):
    with pytest.raises(ValidationError) as info:
        load_settings(env={"DEALERCRM_DEFAULT_REGION": "Germany"})
    assert info.value.field == "default_region" and info.value.value == "Germany"


def test_an_unknown_key_is_refused_naming_it_and_the_file(elsewhere):
    path = elsewhere / "crm.toml"
    path.write_text('[dealercrm]\ndatabse_url = "sqlite:///typo.db"\n')
    with pytest.raises(ValidationError, match=r"databse_url.*crm\.toml"):
        load_settings(path, env={})


def test_a_missing_settings_file_is_a_clear_error(elsewhere):
    with pytest.raises(ValidationError, match="does not exist"):
        load_settings(env={"DEALERCRM_SETTINGS": str(elsewhere / "nope.toml")})


def test_a_broken_settings_file_is_a_clear_error(elsewhere):
    path = elsewhere / "crm.toml"
    path.write_text("[dealercrm\n")
    with pytest.raises(ValidationError, match="not valid TOML"):
        load_settings(path, env={})
