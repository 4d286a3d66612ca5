"""Prepared statements for the write path: Core statements compiled once, run on the DB-API cursor.

SQLAlchemy's per-execute work (cache key, execution context, result set-up) costs about three
times what SQLite itself spends on a small insert or point select. The writer's hot ops
(ingest, events) run the same few statements thousands of times a second, so each statement
is compiled once per dialect and executed straight on the cursor, with the same bind
processors (JSON) SQLAlchemy would apply; sqlite3 keeps the prepared statement in its cache.
Only SQLite uses this path: on PostgreSQL ``Prepared`` hands the statement to SQLAlchemy.
Rows come back with SQLAlchemy's result conversions applied (JSON text to objects, 0/1 to bool).

This reads two private parts of SQLAlchemy's compiled statement (``positiontup``, the order of
the parameters, and ``_bind_processors``, the types' conversions). This module is the only
place that does; ``_Plan`` refuses at once, naming the cause, when they are missing or when a
statement needs what a plain prepared statement cannot do (an expanding ``IN``), and
``tests/test_private_apis.py`` compares this path with SQLAlchemy's own on every kind of
statement the hot ops use, so an upgrade that changes them fails the suite, not production.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from sqlalchemy.engine import Connection
from sqlalchemy.sql import ClauseElement


class _Plan:
    __slots__ = ("converted", "defaults", "keys", "make_row", "processors", "row_type", "sql")

    def __init__(self, statement: ClauseElement, conn: Connection) -> None:
        compiled: Any = statement.compile(dialect=conn.dialect)  # (its private parts are read below)
        missing = [name for name in ("positiontup", "_bind_processors") if not hasattr(compiled, name)]
        if missing:
            raise RuntimeError(f"this SQLAlchemy's compiled statements have no {', '.join(missing)}: "
                               f"cti/storage/prepared.py needs updating for it")
        self.sql = str(compiled)
        if "POSTCOMPILE" in self.sql:
            raise ValueError(f"a prepared statement cannot expand IN (...) at run time; write it with OR: {self.sql}")
        self.keys: list[str] = list(compiled.positiontup or [])
        self.defaults: dict[str, Any] = dict(compiled.params)  # literal binds such as LIMIT 1
        binds = compiled._bind_processors  # the type's own conversions (JSON -> text, bool -> int)
        self.processors: list[Callable[[Any], Any] | None] = [binds.get(k) for k in self.keys]
        columns = getattr(statement, "selected_columns", None)
        names = [str(c.key) for c in columns] if columns is not None else None
        self.row_type: Any = cast(Any, namedtuple("Row", names, rename=True)) if names is not None else None
        dialect = conn.dialect
        results = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in (columns or [])]
        # Only the columns whose type converts (JSON, bool) are touched; the rest are taken as sqlite3 gave them.
        self.converted = [(index, process) for index, process in enumerate(results) if process is not None]
        self.make_row = self.row_type._make if self.row_type is not None else None

    def row(self, raw: tuple[Any, ...]) -> Any:
        assert self.make_row is not None
        if not self.converted:
            return self.make_row(raw)
        values = list(raw)
        for index, process in self.converted:
            values[index] = process(values[index])
        return self.make_row(values)

    def bind(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        values = []
        for key, process in zip(self.keys, self.processors, strict=True):
            value = params[key] if key in params else self.defaults[key]
            values.append(process(value) if process is not None and value is not None else value)
        return tuple(values)


class Result:
    """The little of a result that the hot ops need."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def first(self) -> Any:
        """The first row or None."""
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        """The first column of the first row, or None."""
        return self._rows[0][0] if self._rows else None

    def all(self) -> list[Any]:
        """Every row."""
        return self._rows


Plans = dict[int, tuple[ClauseElement, _Plan]]


class Prepared:
    """Executes Core statements for one connection, the fast way where the dialect allows."""

    def __init__(self, conn: Connection, plans: Plans) -> None:
        self.conn = conn
        self.plans = plans
        self.fast = conn.dialect.name == "sqlite"
        self._cursor = conn.connection.dbapi_connection.cursor() if self.fast else None  # type: ignore[union-attr]

    def _plan(self, statement: ClauseElement) -> _Plan:
        entry = self.plans.get(id(statement))
        if entry is None or entry[0] is not statement:
            entry = (statement, _Plan(statement, self.conn))
            self.plans[id(statement)] = entry
        return entry[1]

    def raw(self, sql: str) -> None:
        """Run a parameterless statement (SAVEPOINT and friends) on the cursor."""
        assert self._cursor is not None
        self._cursor.execute(sql)

    def execute(self, statement: ClauseElement, params: Mapping[str, Any] | None = None) -> Any:
        """Run one statement; selects return Result rows with attribute access."""
        if not self.fast:
            return self.conn.execute(statement, dict(params or {}))  # type: ignore[call-overload]
        plan = self._plan(statement)
        assert self._cursor is not None
        self._cursor.execute(plan.sql, plan.bind(params or {}))
        if plan.row_type is None:
            return Result([])
        return Result([plan.row(row) for row in self._cursor.fetchall()])

    def execute_many(self, statement: ClauseElement, rows: Iterable[Mapping[str, Any]]) -> None:
        """Run one statement for many parameter sets."""
        if not self.fast:
            self.conn.execute(statement, [dict(r) for r in rows])  # type: ignore[call-overload]
            return
        plan = self._plan(statement)
        assert self._cursor is not None
        self._cursor.executemany(plan.sql, [plan.bind(r) for r in rows])
