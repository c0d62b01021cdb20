"""Fixtures for plugin authors, registered through the ``pytest11`` entry point.

``crm`` is a fresh application on a temporary SQLite file with a ``clock`` the test can
move; ``register_plugin`` adds a plugin inline; ``crm_factory`` builds more
applications (e.g. with a plugin blocked). Nothing here touches the user's database.

Which plugins take part: dealercrm's built-in ones and, of the installed plugins (the
``dealercrm`` entry-point group), only those under test — named in the project's pytest
settings::

    [tool.pytest.ini_options]
    dealercrm_plugins = ["roofbox"]        # "*": every installed plugin

or by overriding the ``crm_plugins`` fixture (in a conftest.py, a module or a class).
Another plugin installed in the same environment, broken or not, stays out of these
tests. ``crm_factory(load_entry_points=True)`` loads every installed plugin for one
application.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest

from .app import CRM, connect
from .clock import UTC, ManualClock
from .db.engine import make_engine
from .db.migrate import upgrade
from .settings import Settings

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("dealercrm_plugins", type="args", default=[],
                  help="installed dealercrm plugins (entry-point names) the crm fixtures load; '*' for all")


@pytest.fixture
def crm_plugins(request: pytest.FixtureRequest) -> Sequence[str] | bool:
    """The installed plugins (entry-point names) ``crm`` and ``crm_factory`` load: the
    ``dealercrm_plugins`` setting of pytest (``["*"]``: every one). Override this fixture to
    choose per test module: ``return ["roofbox"]``."""
    names = list(request.config.getini("dealercrm_plugins"))
    return True if "*" in names else tuple(names)


@pytest.fixture
def crm_settings() -> Settings:
    """The settings ``crm`` and ``crm_factory`` use unless given others: the defaults, which
    configure no plugin. Override it to configure plugins for a test module::

        @pytest.fixture
        def crm_settings():
            return Settings(plugins={"roofbox": {"folder": "letters"}})
    """
    return Settings()


@pytest.fixture
def clock() -> ManualClock:
    """A clock that stands still until the test moves it: ``clock.advance(days=3)``."""
    return ManualClock(START)


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory) -> Path:
    """One migrated SQLite file per test session; each test gets a copy (migrating is the
    slow part of a fresh database, copying a file is not)."""
    path = tmp_path_factory.mktemp("dealercrm-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection closing folds the WAL into the file
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def crm_factory(tmp_path, clock, _migrated_template, crm_plugins, crm_settings) -> Iterator[Callable[..., CRM]]:
    """Build applications on fresh SQLite files; keyword arguments go to ``connect`` (by
    default: the test's clock, ``crm_settings``, and only the installed plugins under test,
    ``crm_plugins``)."""
    made: list[CRM] = []

    def make(url: str | None = None, **kwargs) -> CRM:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("settings", crm_settings)
        kwargs.setdefault("load_entry_points", crm_plugins or False)
        if url is None:
            target = tmp_path / f"crm-{len(made)}.db"
            shutil.copyfile(_migrated_template, target)
            url = f"sqlite:///{target}"
        app = connect(url, **kwargs)
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


@pytest.fixture
def crm(crm_factory) -> CRM:
    """A fresh, migrated application with a home dealer party."""
    app = crm_factory()
    app.parties.add("dealer", app.settings.home_dealer, by=app.system)
    return app


@pytest.fixture
def register_plugin(crm) -> Callable[..., str]:
    """Register a plugin object or module on ``crm`` for this test only."""

    def register(plugin: object, name: str | None = None) -> str:
        return crm.register(plugin, name)

    return register
