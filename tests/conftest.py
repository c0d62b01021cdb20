"""Shared fixtures: the ``dealercrm.testing`` plugin gives ``crm``/``clock`` on SQLite;
this adds the same application on a real PostgreSQL server.

PostgreSQL tests run when ``DEALERCRM_TEST_POSTGRES_URL`` is set; CI also sets
``DEALERCRM_REQUIRE_POSTGRES=1`` so a missing server fails the run instead of
skipping silently.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from dealercrm import connect

sys.path.insert(0, str(Path(__file__).resolve().parent / "integration"))  # case_world
from case_world import with_mail  # noqa: E402

PG_URL = os.environ.get("DEALERCRM_TEST_POSTGRES_URL")


def reset_postgres(url: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        conn.execute(text("DROP FUNCTION IF EXISTS dealercrm_audit_append_only() CASCADE"))
    engine.dispose()


@pytest.fixture
def crm_factory(crm_factory):
    """dealercrm's own tests run an installation with e-mail configured (the channel is offered
    only then): whatever settings a test passes, unless they configure e-mail themselves. A test
    of an installation without e-mail connects on its own."""

    def make(url=None, **kwargs):
        kwargs["settings"] = with_mail(kwargs.get("settings"))
        return crm_factory(url, **kwargs)

    return make


@pytest.fixture
def postgres_url() -> str:
    if not PG_URL:
        if os.environ.get("DEALERCRM_REQUIRE_POSTGRES"):
            pytest.fail("DEALERCRM_REQUIRE_POSTGRES is set but DEALERCRM_TEST_POSTGRES_URL is not")
        pytest.skip("set DEALERCRM_TEST_POSTGRES_URL to run against PostgreSQL")
    reset_postgres(PG_URL)
    return PG_URL


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/crm.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def any_crm(db_url, clock):
    """The application with a home dealer, once on SQLite and once on PostgreSQL."""
    app = connect(db_url, clock=clock, settings=with_mail())
    app.parties.add("dealer", app.settings.home_dealer, by=app.system)
    yield app
    app.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def dealercrm_serve():
    """``dealercrm_serve(folder, url, *args, log=path)``: a context manager, see ``_serve``."""
    return _serve


@contextlib.contextmanager
def _serve(folder: Path, url: str, *args: str, log: Path | None = None, env: dict[str, str] | None = None,
           startup_seconds: float = 60):
    """A real ``dealercrm serve`` on 127.0.0.1 over ``url``; yields its base URL
    (``http://127.0.0.1:PORT``). Its output (uvicorn's log included) goes to ``log``, or
    to ``folder/server.log``; ``env`` adds to its environment (the caller's ``DEALERCRM_*``
    variables are not passed on)."""
    import os
    import subprocess
    import time

    import httpx

    port = free_port()
    log = log or folder / "server.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DEALERCRM_")}
    environment.update(DEALERCRM_DATABASE_URL=url, PYTHONUNBUFFERED="1", **(env or {}))
    out = open(log, "wb")
    server = subprocess.Popen([sys.executable, "-c", "from dealercrm.cli import main; main()", "serve",
                               "--host", "127.0.0.1", "--port", str(port), *args],
                              env=environment, cwd=folder, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, \
                f"dealercrm serve did not start:\n{log.read_text(errors='replace')[-5000:]}"
            time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung shutdown must not hang the suite
            server.kill()
            server.wait(timeout=10)
        out.close()
