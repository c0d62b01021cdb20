"""A second process that keeps writing, as a running server would: ``python busy_writer.py URL STOPFILE``.

It registers customers one business operation after another (each one a customer row and
its audit record, committed together) until ``STOPFILE`` appears, printing ``started``
once the first is committed and the number written when it stops. It never checkpoints
the WAL (as a server cannot while readers hold old snapshots): what it commits lives in
the ``-wal`` file, where only SQLite itself, not a copy of the database file, finds it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sqlalchemy import event

from dealercrm import connect
from dealercrm.db.engine import make_engine
from dealercrm.settings import Settings


def main(url: str, stop: Path) -> None:
    engine = make_engine(url)
    event.listen(engine, "connect", lambda dbapi_connection, _: dbapi_connection.execute("PRAGMA wal_autocheckpoint=0"))
    crm = connect(engine, settings=Settings(), load_entry_points=False)
    written, deadline = 0, time.monotonic() + 120
    while not stop.exists() and time.monotonic() < deadline:
        written += 1
        crm.customers.add(f"Kundin {written}", email=f"kundin.{written}@example.org", owner_party_id=1, by=crm.system)
        if written == 1:
            print("started", flush=True)
    print(written, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
