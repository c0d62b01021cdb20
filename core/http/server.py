"""The application uvicorn's worker processes build: ``dealercrm serve --workers N``.

Each worker process connects on its own, to ``$DEALERCRM_DATABASE_URL`` (set by
``serve`` from ``--db``) or the settings file, with ``$DEALERCRM_HTTP_THREADS`` threads
(``serve --threads``).
"""

from __future__ import annotations

import os

from fastapi import FastAPI


def app() -> FastAPI:
    from ..app import connect
    from .app import create_app

    threads = os.environ.get("DEALERCRM_HTTP_THREADS", "")
    return create_app(connect(migrate=False), threads=int(threads) if threads.isdigit() else None)
