"""SQLite's one writer, handed over in arrival order among the threads of this process.

SQLite admits one write transaction at a time. A writer that finds the lock taken waits
in SQLite's busy handler, which sleeps in growing steps (up to 100 ms) however soon the
lock is free: with a few dozen concurrent writers in one process, throughput falls while
the CPU idles and the unlucky wait for seconds. So every writing unit of work of this
process takes one ``FairLock`` per database file first — before it checks a connection out
of the pool, released as soon as its transaction committed or rolled back — and the
lock is handed straight to the writer that has waited longest: no sleeping, no
overtaking. Nothing else is inside it: a request's body is parsed, its caller
authenticated and its answer serialised outside, and readers never take it (WAL: they
read the last committed state while a writer writes).

Other processes on the same file (a second server, ``dealercrm worker``, a CLI command)
are still ordered by SQLite itself, through ``busy_timeout``; within this process a writer
waits at most as long as that timeout too, then fails as SQLite would: "database is
locked" (HTTP 503).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import deque

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

_LOCKS: dict[str, FairLock] = {}
_REGISTRY = threading.Lock()


class FairLock:
    """First come, first served; on release the lock passes directly to the longest waiter."""

    def __init__(self, name: str = ""):
        self.name = name
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self, timeout: float | None = None) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
            return True  # handed over by release(): the lock is ours
        with self._mutex:
            try:
                self._waiters.remove(turn)
            except ValueError:  # handed over just as the wait ran out: ours after all
                return True
        return False

    def release(self) -> None:
        with self._mutex:
            if not self._held:
                raise RuntimeError(f"write lock {self.name!r} released but not held")
            if self._waiters:
                self._waiters.popleft().release()  # still held: it changes hands without a gap
            else:
                self._held = False

    @property
    def waiting(self) -> int:
        """How many writers wait for it now."""
        return len(self._waiters)

    def hold(self, timeout: float) -> None:
        """Acquire within ``timeout`` seconds, or fail as SQLite's busy timeout would."""
        if not self.acquire(timeout):
            raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(
                f"database is locked: waited {timeout:g}s for this process's other writers"))

    def __repr__(self) -> str:
        return f"<FairLock {self.name} {'held' if self._held else 'free'}, {len(self._waiters)} waiting>"


def write_lock(engine: Engine) -> FairLock | None:
    """The lock of the database file ``engine`` writes to (shared by every engine of this
    process on that file); None where the database orders its writers itself (PostgreSQL)."""
    if engine.dialect.name != "sqlite":
        return None
    path = os.path.realpath(engine.url.database or "")
    with _REGISTRY:
        lock = _LOCKS.get(path)
        if lock is None:
            lock = _LOCKS[path] = FairLock(path)
        return lock
