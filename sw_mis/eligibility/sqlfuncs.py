"""SQL constructs whose text differs between PostgreSQL and SQLite: ages, division, AND.

On SQLite a DATE column holds ISO text ('YYYY-MM-DD'); on PostgreSQL a real date. Both are
turned into an integer YYYYMMDD so whole years and months follow the same arithmetic as the
Python back-end (``evaluate.age``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Integer, Numeric
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.type_api import TypeEngine


class DateAsInt(ColumnElement[int]):
    """A DATE column as the integer YYYYMMDD (NULL stays NULL)."""

    inherit_cache = False  # constructor arguments are not cache keys
    type: TypeEngine[Any] = Integer()

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column


@compiles(DateAsInt, "sqlite")
def _date_int_sqlite(element: DateAsInt, compiler: Any, **kw: Any) -> str:
    return f"CAST(replace({compiler.process(element.column, **kw)}, '-', '') AS INTEGER)"


@compiles(DateAsInt)
def _date_int_default(element: DateAsInt, compiler: Any, **kw: Any) -> str:
    return f"CAST(to_char({compiler.process(element.column, **kw)}, 'YYYYMMDD') AS INTEGER)"


class AgeOn(ColumnElement[int]):
    """Whole years (or months) from a DATE column to a fixed as-of date."""

    inherit_cache = False  # the as-of date and unit are part of the text
    type: TypeEngine[Any] = Integer()

    def __init__(self, column: ColumnElement[Any], as_of: dt.date, unit: str) -> None:
        self.column = column
        self.as_of = as_of
        self.unit = unit


@compiles(AgeOn)
def _age(element: AgeOn, compiler: Any, **kw: Any) -> str:
    d = compiler.process(DateAsInt(element.column), **kw)
    a = element.as_of
    year, month_day = f"(({d}) / 10000)", f"(({d}) - (({d}) / 10000) * 10000)"
    # Integers only (from a date), so inlining them is safe; the formula mirrors evaluate.age.
    # No '%' operator: it would clash with the pyformat parameter style of psycopg.
    if element.unit == "years":
        return (f"({a.year} - {year} - "
                f"CASE WHEN {a.month * 100 + a.day} < {month_day} THEN 1 ELSE 0 END)")
    month = f"(({d}) / 100 - {year} * 100)"
    day = f"(({d}) - (({d}) / 100) * 100)"
    return (f"(({a.year} - {year}) * 12 + {a.month} - {month} - "
            f"CASE WHEN {a.day} < {day} THEN 1 ELSE 0 END)")


class Divide(ColumnElement[Any]):
    """``a / b`` as a fraction (never integer division), NULL when ``b`` is zero."""

    inherit_cache = False  # constructor arguments are not cache keys
    type: TypeEngine[Any] = Numeric()

    def __init__(self, a: ColumnElement[Any], b: ColumnElement[Any]) -> None:
        self.a = a
        self.b = b


@compiles(Divide, "sqlite")
def _divide_sqlite(element: Divide, compiler: Any, **kw: Any) -> str:
    a, b = compiler.process(element.a, **kw), compiler.process(element.b, **kw)
    return f"(CAST({a} AS REAL) / NULLIF({b}, 0))"


@compiles(Divide)
def _divide_default(element: Divide, compiler: Any, **kw: Any) -> str:
    a, b = compiler.process(element.a, **kw), compiler.process(element.b, **kw)
    return f"(CAST({a} AS NUMERIC) / NULLIF({b}, 0))"


class Kleene(ColumnElement[bool]):
    """``a AND b AND …`` in three-valued logic, stopping at the first false operand.

    PostgreSQL stops there already. SQLite evaluates every operand outside a WHERE clause, so
    there each operand becomes a CASE that decides or goes on: member-level decisions are a
    CASE value, and most members fail one of the first criteria.
    """

    inherit_cache = False  # constructor arguments are not cache keys
    type: TypeEngine[Any] = Boolean()

    def __init__(self, parts: list[ColumnElement[Any]]) -> None:
        self.parts = parts


@compiles(Kleene)
def _kleene_default(element: Kleene, compiler: Any, **kw: Any) -> str:
    return "(" + " AND ".join(
        compiler.process(p.self_group(against=operators.and_), **kw) for p in element.parts) + ")"


@compiles(Kleene, "sqlite")
def _kleene_sqlite(element: Kleene, compiler: Any, **kw: Any) -> str:
    # Once an operand is unknown the result can only be false or unknown: a second chain.
    def unknown_so_far(parts: list[ColumnElement[Any]]) -> str:
        head = compiler.process(parts[0], **kw)
        rest = f" ELSE {unknown_so_far(parts[1:])}" if parts[1:] else ""
        return f"CASE ({head}) WHEN 0 THEN 0{rest} END"

    def true_so_far(parts: list[ColumnElement[Any]]) -> str:
        head = compiler.process(parts[0], **kw)
        if not parts[1:]:
            return f"({head})"
        return (f"CASE ({head}) WHEN 1 THEN {true_so_far(parts[1:])} "
                f"WHEN 0 THEN 0 ELSE {unknown_so_far(parts[1:])} END")

    return f"({true_so_far(element.parts)})"
