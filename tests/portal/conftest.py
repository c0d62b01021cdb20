"""Fixtures of the portal's tests: the world (``portal_world``), the HTTP application over it,
and — for the browser tests — a real server, Chromium and axe-core.

Browser tests (``@pytest.mark.browser``) drive Debian's Chromium (``/usr/bin/chromium``,
or ``DEALERCRM_CHROMIUM``) through Playwright against ``dealercrm serve``'s application on
127.0.0.1. Without Chromium they are skipped, unless ``DEALERCRM_REQUIRE_BROWSER=1`` (CI)
makes that a failure. axe-core comes from the npm registry at a pinned version, installed
once into a cache folder (``DEALERCRM_AXE_JS`` names a file instead). Screenshots go to
``test-artifacts/portal/`` (or ``$DEALERCRM_TEST_ARTIFACTS/portal``), which git ignores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from portal_world import LiveServer, portal_world

from dealercrm.http import create_app

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("DEALERCRM_CHROMIUM", "/usr/bin/chromium")
AXE_VERSION = "4.14.1"
ARTIFACTS = Path(os.environ.get("DEALERCRM_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "portal"


@pytest.fixture
def world(tmp_path, clock):
    w = portal_world(tmp_path, clock)
    yield w
    w.crm.close()


@pytest.fixture
def app(world):
    return create_app(world.crm)


# -- the browser ----------------------------------------------------------------------------------


def _required(what: str) -> None:
    if os.environ.get("DEALERCRM_REQUIRE_BROWSER"):
        pytest.fail(f"DEALERCRM_REQUIRE_BROWSER is set but {what}")
    pytest.skip(what)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium: Playwright's own download cannot reach its host from here."""
    if not Path(CHROMIUM).exists():
        _required(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return {**browser_type_launch_args, "executable_path": CHROMIUM}


@pytest.fixture(scope="session")
def axe_js() -> Path:
    """axe-core's ``axe.min.js`` at a pinned version, from the npm registry, kept in a cache."""
    named = os.environ.get("DEALERCRM_AXE_JS")
    if named:
        return Path(named)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dealercrm-test" / f"axe-core-{AXE_VERSION}"
    found = cache / "node_modules" / "axe-core" / "axe.min.js"
    if not found.exists():
        npm = shutil.which("npm")
        if npm is None:
            _required("npm is missing (axe-core comes from the npm registry): apt-get install -y npm")
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--silent", "--no-save", "--no-audit", "--no-fund", "--prefix", str(cache),
                        f"axe-core@{AXE_VERSION}"], check=True, timeout=300)
    return found


@pytest.fixture
def artifacts(request) -> Path:
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def live(tmp_path, clock):
    """A world served on a real socket, with links in notices pointing at it."""
    server = LiveServer()
    world = portal_world(tmp_path, clock, public_url=server.url)
    server.start(create_app(world.crm))
    server.world = world
    yield server
    server.stop()
    world.crm.close()
