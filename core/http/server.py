"""The application uvicorn's worker processes build: ``dealercrm serve --workers N``.

Each worker process connects on its own, to ``$DEALERCRM_DATABASE_URL`` (set by
``serve`` from ``--db``) or the settings file.
"""

from __future__ import annotations

from fastapi import FastAPI


def app() -> FastAPI:
    from ..app import connect
    from .app import create_app

    return create_app(connect(migrate=False))
