"""The application uvicorn's worker processes build: ``dealercrm serve --workers N``.

Each worker process connects on its own, to ``$DEALERCRM_DATABASE_URL`` (set by
``serve`` from ``--db``) or the settings file, with ``$DEALERCRM_HTTP_THREADS`` threads
(``serve --threads``).
"""

from __future__ import annotations

import gc
import os

from fastapi import FastAPI


def app() -> FastAPI:
    from ..app import connect
    from .app import create_app

    threads = os.environ.get("DEALERCRM_HTTP_THREADS", "")
    built = create_app(connect(migrate=False), threads=int(threads) if threads.isdigit() else None)
    settle_heap()
    return built


def settle_heap() -> None:
    """Leave what the server has built so far out of the garbage collector's full passes.

    The modules, routes, schemas and plugins made at start-up live as long as the server;
    each full collection walked them all again (a pause of some tens of milliseconds every
    few seconds under load, in which no request moved: the slowest hundredth of answers
    came from these). ``gc.freeze`` moves them to the permanent generation once they are
    built, as CPython's documentation advises for long-running servers. Only ``dealercrm
    serve`` does this: an app built into a host's process leaves the host's collector alone.
    """
    gc.collect()
    gc.freeze()
