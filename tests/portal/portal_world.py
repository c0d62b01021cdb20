"""The portal's world, as the tests use it: the service-case world with e-mail addresses,
a person's browser without a browser, and a real server on 127.0.0.1.

``signed_in(app, crm, actor)`` is a test client with the person's session cookie, signed in
through a one-time link as the operator hands them out. (A module of its own, not the
conftest: test modules import from it by name.)
"""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
import warnings
from pathlib import Path

from sqlalchemy import update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))  # case_world

from case_world import copy_world  # noqa: E402

from dealercrm.db.models import Actor  # noqa: E402
from dealercrm.settings import Settings  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

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
