"""The security suite (issue #14): what an attacker with a key, or without one, must not be able to do.

``inbound_api(inbound={...}, env={...})`` gives an in-process API client over the
service-case world (``tests/integration/case_world.py``) with the given
``[inbound.<channel>]`` tables (and ``plugins={...}``: plugin tables, e.g.
``http_subscriptions``; ``http={...}``: the ``[http]`` bounds); ``api`` is that client
at default settings. ``served`` (in ``test_slow_clients.py``) is a real ``dealercrm
serve`` on 127.0.0.1; the ``dealercrm_serve`` fixture (tests/conftest.py) starts others.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))  # case_world
sys.path.insert(0, str(HERE.parent / "http"))  # api_world

from api_world import Api, issue_keys  # noqa: E402
from case_world import copy_world  # noqa: E402

from dealercrm.http import create_app  # noqa: E402
from dealercrm.settings import HttpSettings, Settings  # noqa: E402


@pytest.fixture(autouse=True)
def no_secrets_from_the_environment(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("DEALERCRM_INBOUND_") or name.startswith("DEALERCRM_WEBHOOK_"):
            monkeypatch.delenv(name)


@pytest.fixture
def inbound_api(tmp_path, clock):
    """``inbound_api(inbound=...)``: (client, world) with those ``[inbound]`` tables; closed after the test."""
    opened = []

    def make(inbound: dict | None = None, webhook: dict | None = None,
             plugins: dict | None = None, http: dict | None = None) -> tuple[Api, object]:
        settings = Settings(inbound=inbound or {},
                            plugins={**({"channel_webhook": webhook} if webhook is not None else {}), **(plugins or {})},
                            http=HttpSettings(**(http or {})))
        world = copy_world(tmp_path, clock, settings=settings)
        client = Api(create_app(world.crm), raise_server_exceptions=True)
        client.keys = issue_keys(world)
        client.__enter__()
        opened.append((client, world))
        return client, world

    yield make
    for client, world in opened:
        client.__exit__(None, None, None)
        world.crm.close()


@pytest.fixture
def api(inbound_api):
    """The API over the service-case world at default settings: the installation as shipped."""
    client, world = inbound_api()
    client.world = world
    return client
