"""Statements compiled once per dialect and run straight on the driver's cursor.

The hot paths (firing a transition, queueing its notification, deciding consent) run a
dozen small statements per business operation. Through ``Connection.execute`` each of
them costs about 80 µs of SQLAlchemy bookkeeping (execution context, events, result
metadata) on top of about 15 µs in SQLite: the bookkeeping, not the database, set the
pace. A ``Prepared`` statement keeps what SQLAlchemy compiled — the SQL text for this
dialect, the bind names in order, the type processors for parameters and results — and
executes it on the connection's DBAPI cursor, inside the same transaction.

What it gives up, deliberately: connection events (dealercrm listens to none below
``begin``) and the disconnect handling of ``Connection.execute`` (a unit of work that
loses its connection fails either way; the pool checks connections out with a ping on
PostgreSQL). Driver errors come back wrapped as SQLAlchemy's ``DBAPIError`` subclasses,
as from ``Connection.execute``, so callers catch ``IntegrityError`` as usual.

Only plain statements qualify: no expanding IN parameters, no parameters rendered or
computed at execution, no Python-callable column defaults (scalar defaults and onupdate
values are filled in), no two result columns of one name; each is refused when the
statement is first compiled, naming what is not supported. Outside a transaction it
begins one, as ``Connection.execute`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
from sqlalchemy import Connection, exc
from sqlalchemy.sql.dml import UpdateBase


@attrs.define
class _Plan:
    sql: str
    positional: bool
    names: tuple[str, ...]  # bind names, in order when positional
    params_out: tuple[str, ...]  # the names the driver sees (escaped for pyformat)
    binds: tuple[Callable[[Any], Any] | None, ...]
    fixed: Mapping[str, Any]  # scalar column defaults the caller did not give
    keys: tuple[str, ...]  # result column names
    types: tuple  # result column types for this dialect
    #: result processors, made on the first fetch: some need the driver's type code
    #: (PostgreSQL numerics), which only the cursor's description gives
    results: tuple[Callable[[Any], Any] | None, ...] | None = None

    def result_processors(self, dialect, description) -> tuple:
        if self.results is None:
            self.results = tuple(t.result_processor(dialect, d[1]) for t, d in zip(self.types, description))
        return self.results


class Prepared:
    """One Core statement, executed with a parameter dict on a unit of work's connection."""

    __slots__ = ("statement", "_plans", "_table")

    def __init__(self, statement) -> None:
        self.statement = statement
        self._table = statement.table if isinstance(statement, UpdateBase) else None
        self._plans: dict[tuple, _Plan] = {}

    # -- running ------------------------------------------------------------------------
    def execute(self, conn: Connection, params: Mapping[str, Any] | None = None):
        """The driver's cursor after executing (``rowcount``, ``fetchone`` of raw rows)."""
        params, dialect = params or {}, conn.dialect
        plan = self._plan_for(dialect, params)
        hide = conn.engine.hide_parameters
        try:
            args = self._arguments(plan, params)
        except Exception as error:  # a value its column type cannot take, e.g. a naive datetime
            raise exc.StatementError(str(error), plan.sql, None if hide else dict(params), error,
                                     hide_parameters=hide) from error
        if not conn.in_transaction():
            conn.begin()  # as Connection.execute would: never an autocommitted write
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(plan.sql, args)
        except dialect.loaded_dbapi.Error as error:
            cursor.close()
            raise exc.DBAPIError.instance(plan.sql, args, error, dialect.loaded_dbapi.Error, hide_parameters=hide,
                                          dialect=dialect) from error
        return _Done(cursor, plan, dialect)

    def first(self, conn: Connection, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """The first row as a dict of typed values, or None."""
        return self.execute(conn, params).first()

    def all(self, conn: Connection, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every row, each a dict of typed values."""
        return self.execute(conn, params).all()

    def scalar(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        row = self.execute(conn, params).one_or_none()
        return None if row is None else row[0]

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None) -> int:
        """Execute a statement that returns no rows; the number of rows it touched."""
        done = self.execute(conn, params)
        count = done.cursor.rowcount
        done.cursor.close()
        return count

    # -- compiling, once per dialect and parameter set -------------------------------------
    def _plan_for(self, dialect, params: Mapping[str, Any]) -> _Plan:
        # by the dialect's kind, not its identity: every connect() makes a new dialect object
        # (tests make hundreds), and an id can be reused by a dialect of another database
        key = (type(dialect), dialect.paramstyle, dialect.server_version_info,
               getattr(dialect, "_json_serializer", None), getattr(dialect, "_json_deserializer", None),
               tuple(params))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._compile(dialect, params)
        return plan

    def _compile(self, dialect, params: Mapping[str, Any]) -> _Plan:
        table = self._table
        column_keys = [k for k in params if k in table.c] if table is not None else None
        compiled = self.statement.compile(dialect=dialect, column_keys=column_keys)
        if compiled.positional:
            names = tuple(compiled.positiontup)
        else:
            names = tuple(compiled.binds)
        fixed: dict[str, Any] = {}
        # column defaults (INSERT) and onupdate values (UPDATE) SQLAlchemy computes in Python
        prefetch = [(c, c.default) for c in compiled.insert_prefetch] + \
                   [(c, c.onupdate) for c in compiled.update_prefetch]
        for column, default in prefetch:
            if default is None or not default.is_scalar:
                raise TypeError(f"Prepared({self.statement}): column {column.name!r} has a Python-callable "
                                "default; pass a value for it")
            fixed[column.key] = default.arg
        for name in names:
            bind = compiled.binds[name]
            if bind.expanding or bind.literal_execute or bind.callable is not None:
                raise TypeError(f"Prepared: parameter {name!r} is expanding, rendered at execution or computed "
                                "per execution, which is not supported; use Connection.execute")
            if name not in params and name not in fixed:
                if bind.value is None and bind.required:
                    raise TypeError(f"Prepared({self.statement}): no value for parameter {name!r}")
                fixed[name] = bind.value
        escaped = getattr(compiled, "escaped_bind_names", None) or {}
        binds = tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
        columns = list(self.statement.exported_columns)  # selected, or RETURNING; none for plain DML
        keys = [c.key for c in columns]
        if len(set(keys)) < len(keys):
            raise TypeError(f"Prepared: result columns {sorted({k for k in keys if keys.count(k) > 1})} share a "
                            "name; label them (rows are dicts)")
        return _Plan(compiled.string, compiled.positional, names, tuple(escaped.get(n, n) for n in names), binds,
                     fixed, tuple(c.key for c in columns), tuple(c.type.dialect_impl(dialect) for c in columns))

    @staticmethod
    def _arguments(plan: _Plan, params: Mapping[str, Any]):
        fixed = plan.fixed
        values = [params[n] if n in params else fixed[n] for n in plan.names]
        values = [p(v) if p is not None and v is not None else v for p, v in zip(plan.binds, values)]
        return tuple(values) if plan.positional else dict(zip(plan.params_out, values))

    def __repr__(self) -> str:
        return f"Prepared({str(self.statement)[:60]!r}…)"


class _Done:
    """What an executed prepared statement gives back: typed rows, and the cursor."""

    __slots__ = ("cursor", "plan", "dialect")

    def __init__(self, cursor, plan: _Plan, dialect) -> None:
        self.cursor, self.plan, self.dialect = cursor, plan, dialect

    def _processors(self) -> tuple:
        return self.plan.results or self.plan.result_processors(self.dialect, self.cursor.description)

    def one_or_none(self) -> tuple | None:
        try:
            raw, processors = self.cursor.fetchone(), self._processors()
        finally:
            self.cursor.close()
        return None if raw is None else tuple(p(v) if p is not None else v for p, v in zip(processors, raw))

    def first(self) -> dict[str, Any] | None:
        row = self.one_or_none()
        return None if row is None else dict(zip(self.plan.keys, row))

    def all(self) -> list[dict[str, Any]]:
        try:
            rows, processors = self.cursor.fetchall(), self._processors()
        finally:
            self.cursor.close()
        keys = self.plan.keys
        return [dict(zip(keys, (p(v) if p is not None else v for p, v in zip(processors, raw)))) for raw in rows]
