"""Fixtures for plugin authors, registered through the ``pytest11`` entry point.

``crm`` is a fresh application on a temporary SQLite file with a ``clock`` the test can
move; ``register_plugin`` adds a plugin inline; ``crm_factory`` builds more
applications (e.g. with a plugin blocked). Nothing here touches the user's database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import pytest

from .app import CRM, connect
from .clock import UTC, ManualClock
from .settings import Settings

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning


@pytest.fixture
def clock() -> ManualClock:
    """A clock that stands still until the test moves it: ``clock.advance(days=3)``."""
    return ManualClock(START)


@pytest.fixture
def crm_factory(tmp_path, clock) -> Iterator[Callable[..., CRM]]:
    """Build applications on fresh SQLite files; keyword arguments go to ``connect``."""
    made: list[CRM] = []

    def make(url: str | None = None, **kwargs) -> CRM:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("settings", Settings())
        app = connect(url or f"sqlite:///{tmp_path}/crm-{len(made)}.db", **kwargs)
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


@pytest.fixture
def crm(crm_factory) -> CRM:
    """A fresh, migrated application with a home dealer party."""
    app = crm_factory()
    app.parties.add("dealer", app.settings.home_dealer)
    return app


@pytest.fixture
def register_plugin(crm) -> Callable[..., str]:
    """Register a plugin object or module on ``crm`` for this test only."""

    def register(plugin: object, name: str | None = None) -> str:
        return crm.register(plugin, name)

    return register
