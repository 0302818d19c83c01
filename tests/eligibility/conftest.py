"""Fixtures of the eligibility tests: rule books, and empty databases for both back-ends.

PostgreSQL tests skip with a reason when no server answers, and fail instead when
``CI=true`` or ``SW_MIS_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from sw_mis.eligibility.book import RuleBook
from sw_mis.eligibility.loader import load_rules
from sw_mis.models import Base

HERE = Path(__file__).parent
FIXTURE_RULES = HERE / "packs"
REAL_RULES = HERE.parents[1] / "rules"
PG_ADMIN_URL = os.environ.get(
    "SW_MIS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_SERVICES = (
    os.environ.get("CI", "").lower() == "true" or os.environ.get("SW_MIS_REQUIRE_SERVICES") == "1"
)


@pytest.fixture(scope="session")
def fixture_book() -> RuleBook:
    """The engine's own small pack (tests/eligibility/packs)."""
    book = load_rules(FIXTURE_RULES)
    assert not book.errors, "\n".join(map(str, book.errors))
    return book


@pytest.fixture(scope="session")
def real_book() -> RuleBook:
    """The shipped rules (rules/), as they are."""
    return load_rules(REAL_RULES)


def _postgres_engine() -> Iterator[Engine]:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"sw_mis_elig_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        reason = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.orig}"
        if REQUIRE_SERVICES:
            pytest.fail(f"required service missing: {reason}", pytrace=False)
        pytest.skip(reason)
    engine = create_engine(admin.url.set(database=name))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def elig_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                ) -> Iterator[Engine]:
    """A database with the sw-mis tables (create_all), one per back-end for the session."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("elig") / "registry.sqlite"
        engine = create_engine(f"sqlite:///{path}")
        Base.metadata.create_all(engine)
        yield engine
        engine.dispose()
        return
    gen = _postgres_engine()
    engine = next(gen)
    Base.metadata.create_all(engine)
    yield engine
    gen.close()


@pytest.fixture
def empty_db(elig_engine: Engine) -> Engine:
    """The session database emptied of registry and screening rows."""
    with elig_engine.begin() as conn:
        for table in ("screening_counts", "screening_results", "screening_runs", "enrolments",
                      "members", "households"):
            conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed table names
    return elig_engine
