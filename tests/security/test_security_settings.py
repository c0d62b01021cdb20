"""The settings the security fixes of issue #14 add: ``[http]`` bounds and ``[inbound.<channel>]`` tables."""

from __future__ import annotations

import pytest

from dealercrm import ValidationError
from dealercrm.http.inbound_auth import InboundAuthenticators
from dealercrm.settings import HttpSettings, load_settings


def test_the_bounds_and_the_inbound_tables_come_from_the_settings_file(tmp_path):
    path = tmp_path / "crm.toml"
    path.write_text('[http]\nmax_body_bytes = 65536\nbody_timeout_seconds = 2.5\nimport_chunk_rows = 100\n\n'
                    '[inbound]\ntriggers = [{contains = "kaputt", trigger = "still_broken"}]\n\n'
                    '[inbound.email]\nsecret = "relay-secret-5f0c2a9e81d7"\n', encoding="utf-8")
    settings = load_settings(path, env={})
    assert settings.http == HttpSettings(max_body_bytes=65536, body_timeout_seconds=2.5, import_chunk_rows=100)
    assert settings.inbound["triggers"] == [{"contains": "kaputt", "trigger": "still_broken"}]
    auth = InboundAuthenticators(settings.inbound, environ={}).configured["email"]
    assert (auth.scheme, auth.header, auth.secrets) == ("secret", "X-Dealercrm-Inbound-Secret",
                                                         ("relay-secret-5f0c2a9e81d7",))


def test_the_defaults_bound_every_request():
    assert HttpSettings() == HttpSettings(max_body_bytes=1 << 20, body_timeout_seconds=30.0, import_chunk_rows=500)


@pytest.mark.parametrize("table", ["max_body_bytes = 0", "body_timeout_seconds = -1", "import_chunk_rows = 1.5",
                                   'body_timeout_seconds = "30"', "max_body_bytes = true", "timeout = 3"])
def test_a_wrong_bound_is_refused_naming_it(tmp_path, table):
    path = tmp_path / "crm.toml"
    path.write_text(f"[http]\n{table}\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=table.split(" ")[0]):
        load_settings(path, env={})


def test_a_short_secret_from_the_environment_stops_the_start():
    with pytest.raises(ValidationError, match="shorter than 16"):
        InboundAuthenticators({}, environ={"DEALERCRM_INBOUND_EMAIL_SECRET": "short"})
