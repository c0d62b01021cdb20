"""The portal's world: the service-case world with e-mail addresses, the HTTP application
over it, people signed in, and — for the browser tests — a real server and Chromium.

``signed_in(app, crm, actor)`` is a person's browser without a browser (a test client with
their session cookie), signed in through a one-time link as the operator hands them out.

Browser tests (``@pytest.mark.browser``) drive Debian's Chromium (``/usr/bin/chromium``,
or ``DEALERCRM_CHROMIUM``) through Playwright against ``dealercrm serve``'s application on
127.0.0.1. Without Chromium they are skipped, unless ``DEALERCRM_REQUIRE_BROWSER=1`` (CI)
makes that a failure. axe-core comes from the npm registry at a pinned version, installed
once into a cache folder (``DEALERCRM_AXE_JS`` names a file instead). Screenshots go to
``test-artifacts/portal/`` (or ``$DEALERCRM_TEST_ARTIFACTS/portal``), which git ignores.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
from sqlalchemy import update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))  # case_world

from case_world import copy_world  # noqa: E402

from dealercrm.db.models import Actor  # noqa: E402
from dealercrm.http import create_app  # noqa: E402
from dealercrm.settings import Settings  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("DEALERCRM_CHROMIUM", "/usr/bin/chromium")
AXE_VERSION = "4.14.1"
ARTIFACTS = Path(os.environ.get("DEALERCRM_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "portal"
EMAILS = {"service": "jonas.weber@schmidt.example", "manager": "petra.schmidt@schmidt.example",
          "warranty_desk": "claire.dubois@brioche.example", "fitter": "ole.hansen@technik-nord.example",
          "other_dealer_service": "uwe@kuechenwelt.example"}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def portal_world(folder: Path, clock, **portal_settings):
    world = copy_world(folder, clock, settings=Settings(plugins={"portal": portal_settings} if portal_settings else {}))
    with world.crm.engine.begin() as conn:
        for who, email in EMAILS.items():
            conn.execute(update(Actor).where(Actor.id == getattr(world, who).id).values(email=email))
    return world


@pytest.fixture
def world(tmp_path, clock):
    w = portal_world(tmp_path, clock)
    yield w
    w.crm.close()


@pytest.fixture
def app(world):
    return create_app(world.crm)


class Person(TestClient):
    """A browser without a browser: keeps cookies, knows the last page's anti-forgery token."""

    page: str = ""

    def open(self, path: str, **kw):
        answer = self.get(path, **kw)
        self.page = answer.text
        return answer

    @property
    def csrf(self) -> str:
        found = CSRF.search(self.page)
        assert found, "the last page has no form"
        return found.group(1)

    def submit(self, path: str, data: dict | None = None, **kw):
        kw.setdefault("follow_redirects", False)
        answer = self.post(path, data={"csrf": self.csrf, **(data or {})}, **kw)
        if answer.status_code != 303:
            self.page = answer.text
        return answer


def visitor(app) -> Person:
    return Person(app, base_url="http://testserver", raise_server_exceptions=True)


def signed_in(app, crm, actor) -> Person:
    person = visitor(app)
    token = crm.sign_in.issue_link(actor.id, by=crm.system)
    person.open(f"/portal/sign-in/link/{token}")
    answer = person.submit(f"/portal/sign-in/link/{token}")
    assert answer.status_code == 303, answer.text
    return person


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


class LiveServer:
    """``dealercrm serve``'s application in uvicorn on 127.0.0.1, in a thread of this process
    (so the test's clock is the server's)."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.server = None

    def start(self, app) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)
        thread.start()
        for _ in range(200):
            if self.server.started:
                return
            time.sleep(0.02)
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            for _ in range(200):
                if not self.server.started or getattr(self.server, "_stopped", False):
                    break
                time.sleep(0.02)
        self.socket.close()


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
