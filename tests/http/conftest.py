"""The HTTP API against the service-case world: one API key per person who calls.

``api`` is a ``fastapi.testclient.TestClient`` (httpx underneath) over the app on the
world's database; ``api.as_(name)`` gives the headers of that person's key:

=================  ============================================  ==================
name               who                                           party
=================  ============================================  ==================
service            Jonas Weber, the dealer's service desk        Elektro Schmidt
manager            Petra Schmidt, the dealer's manager           Elektro Schmidt
warranty           Claire Dubois, warranty desk                  Brioche (maker)
fitter             Ole Hansen                                    Technik-Service
other_dealer       Uwe Meyer                                     Küchenwelt Meyer
other_maker        Greta Frost                                   Frostkalt GmbH
=================  ============================================  ==================
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))  # case_world

from api_world import WEBHOOK_SECRET, Api, issue_keys  # noqa: E402
from case_world import copy_world  # noqa: E402

from dealercrm.http import create_app  # noqa: E402
from dealercrm.settings import Settings  # noqa: E402


@pytest.fixture(autouse=True)
def no_secrets_from_the_environment(monkeypatch):
    monkeypatch.delenv("DEALERCRM_WEBHOOK_SECRET", raising=False)


@pytest.fixture
def world(tmp_path, clock):
    # the receivers of these tests listen on 127.0.0.1: allowed for local development only (dealercrm.egress)
    settings = Settings(plugins={"channel_webhook": {"secret": WEBHOOK_SECRET, "timeout": 2},
                                 "http_subscriptions": {"allow_internal_targets": True}})
    w = copy_world(tmp_path, clock, settings=settings)
    yield w
    w.crm.close()


@pytest.fixture
def api(world) -> Api:
    client = Api(create_app(world.crm), raise_server_exceptions=True)
    client.keys = issue_keys(world)
    with client:
        yield client
