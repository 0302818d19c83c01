"""The criteria's conjunction as SQL: three-valued AND that stops at the first false operand.

SQLite gets it as nested CASEs (it would otherwise evaluate every operand); PostgreSQL as a
plain AND. Every combination of true, false and unknown must give Kleene's answer on both.
"""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import Boolean, literal, select
from sqlalchemy.engine import Engine

from sw_mis.eligibility.sqlfuncs import Kleene


def kleene_and(values: tuple[bool | None, ...]) -> bool | None:
    if False in values:
        return False
    return None if None in values else True


@pytest.mark.parametrize("width", [2, 3, 4])
def test_every_combination_gives_kleenes_answer(empty_db: Engine, width: int) -> None:
    combos = list(itertools.product((True, False, None), repeat=width))
    with empty_db.connect() as conn:
        for values in combos:
            parts = [literal(v, Boolean) for v in values]
            got = conn.execute(select(Kleene(parts))).scalar()
            assert (None if got is None else bool(got)) == kleene_and(values), values



def test_sqlite_gets_nested_cases_and_postgresql_a_plain_and(empty_db: Engine) -> None:
    expr = Kleene([literal(True, Boolean), literal(None, Boolean)])
    text = str(expr.compile(dialect=empty_db.dialect))
    assert ("CASE" in text) == (empty_db.dialect.name == "sqlite")
    assert (" AND " in text) == (empty_db.dialect.name != "sqlite")
