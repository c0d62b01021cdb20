"""Alembic environment: always run programmatically with a connection handed in.

``dealercrm db upgrade`` and ``connect()`` pass their own connection through
``config.attributes["connection"]`` so migrations run on exactly the engine (and the
SQLite pragmas) the application uses.
"""

from alembic import context
from sqlmodel import SQLModel

from dealercrm.db import models  # noqa: F401  (registers the tables)

target_metadata = SQLModel.metadata
connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
