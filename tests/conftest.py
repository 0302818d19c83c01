"""Test harness: the same suite on SQLite and PostgreSQL, each test rolled back.

Migrations run once per database per session (the real Alembic scripts, not create_all); every
test then runs inside a transaction whose writes vanish when it ends. PostgreSQL tests skip with
a reason on a laptop without a server, and fail in CI (``CI=true`` or
``SW_MIS_REQUIRE_SERVICES=1``), where a missing service must never pass silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from sw_mis import create_app
from sw_mis.db import make_engine
from sw_mis.migrate import upgrade

PG_ADMIN_URL = os.environ.get(
    "SW_MIS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_SERVICES = (
    os.environ.get("CI", "").lower() == "true" or os.environ.get("SW_MIS_REQUIRE_SERVICES") == "1"
)
BACKENDS = [
    b.strip()
    for b in os.environ.get("SW_MIS_TEST_DATABASES", "sqlite,postgresql").split(",")
    if b.strip()
]


def service_missing(reason: str) -> None:
    """Skip on a laptop; fail in CI, where every service must be there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _create_postgres_database() -> tuple[str, Engine]:
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"sw_mis_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means "no usable server"
        admin.dispose()
        service_missing(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    return url, admin


def _drop_postgres_database(url: str, admin: Engine) -> None:
    name = make_url(url).database
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A freshly migrated database of each backend, for the whole session."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "sw_mis_test.db"
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    url, admin = _create_postgres_database()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    _drop_postgres_database(url, admin)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def base_app(database_url: str, engine: Engine) -> Flask:
    """One app per backend; tests swap in a rolled-back session (see ``db_session``)."""
    app = create_app(
        {
            "SW_MIS_ENV": "testing",
            "SW_MIS_DATABASE_URL": database_url,
            "SW_MIS_SECRET_KEY": "test-secret-key-" + "x" * 32,
            "SW_MIS_REFERRAL_KEYS": "k1:test-referral-signing-key",
        },
        engine=engine,
    )
    app.config["WTF_CSRF_ENABLED"] = True
    app.config["RATELIMIT_ENABLED"] = False
    return app


@pytest.fixture
def db_session(base_app: Flask, engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back after the test.

    The app's session factory is pointed at the same connection, so data the test creates is
    visible to requests, and everything the requests commit is a SAVEPOINT that vanishes.
    """
    connection = engine.connect()
    outer = connection.begin()
    factory = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    saved = base_app.extensions["sw_mis.sessionmaker"]
    base_app.extensions["sw_mis.sessionmaker"] = factory
    session = factory()
    try:
        yield session
    finally:
        session.close()
        base_app.extensions["sw_mis.sessionmaker"] = saved
        outer.rollback()
        connection.close()


@pytest.fixture
def app(base_app: Flask, db_session: Session) -> Flask:
    return base_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def backend(engine: Engine) -> str:
    return engine.dialect.name
