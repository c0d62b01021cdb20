"""SQLite's one writer, handed over fairly among the writing requests of this process.

SQLite has one writer; concurrent writers otherwise wait in its busy handler, which
sleeps in growing steps (up to 100 ms) however soon the lock is free. Queueing the
writing requests of this process on one fair lock keeps the writer busy instead; reads
still run side by side, and other processes are still handled by the busy timeout.

The lock is held only while the server works on a request whose caller is already
authenticated and whose body is already in memory: never while a client sends or
receives anything, so a slow or stalled client holds nothing but its own socket. A
long operation (a CSV import) takes it once per chunk from its worker thread
(``held_from_thread``), so other writers get in between the chunks. On PostgreSQL
the gate does nothing: the database orders its own writers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio.from_thread

#: routes that take the gate themselves, in steps, instead of around the whole request
PACED_PREFIXES = ("/imports/",)
#: the request scope's ``state`` key saying whether the request holds the gate right now
HELD = "dealercrm_write_gate_held"


class WriteGate:
    def __init__(self, serialised: bool):
        self.serialised = serialised
        self._lock: asyncio.Lock | None = None

    def _the_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()  # FIFO: a waiter is not overtaken by a later arrival
        return self._lock

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Hold the gate (on the event loop)."""
        if not self.serialised:
            yield
            return
        async with self._the_lock():
            yield

    @contextmanager
    def held_from_thread(self) -> Iterator[None]:
        """Hold the gate from a worker thread of the request (``run_in_threadpool``): queued on the event
        loop like every other writer, released before the next chunk queues again."""
        if not self.serialised:
            yield
            return
        lock = self._the_lock()
        anyio.from_thread.run(lock.acquire)
        try:
            yield
        finally:
            anyio.from_thread.run_sync(lock.release)


def paced(path: str) -> bool:
    return path.startswith(PACED_PREFIXES)
