"""A live app on a database of its own (a SQLite file, or a fresh PostgreSQL database): jobs run
in other threads and processes, so the test suite's rolled-back connection cannot be shared."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from factories import default_areas, make_office, make_user
from flask import Flask

from sw_mis import create_app
from sw_mis.db import make_engine, session_scope
from sw_mis.jobs.models import Job
from sw_mis.migrate import upgrade
from tests.conftest import _create_postgres_database, _drop_postgres_database

# The beneficiary lists' rule pack, app and households, for the export jobs.
from tests.exports.conftest import book, list_app, world  # noqa: F401 - shared fixtures


def _live(url: str, files: Path) -> Flask:
    engine = make_engine(url)
    upgrade(engine)
    app = create_app(
        {
            "SW_MIS_ENV": "testing",
            "SW_MIS_DATABASE_URL": url,
            "SW_MIS_SECRET_KEY": "live-" + "x" * 40,
            "SW_MIS_REFERRAL_KEYS": "k1:test-key",
        },
        engine=engine,
    )
    app.config["SW_MIS_FILES_DIR"] = str(files)
    app.config["SW_MIS_JOBS_MODE"] = "auto"  # threads or RQ, as in production
    return app


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[Flask]:
    app = _live(f"sqlite:///{tmp_path / 'live.db'}", tmp_path / "files")
    yield app
    app.extensions["sw_mis.engine"].dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_live_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """The live app on SQLite, then on a fresh PostgreSQL database (dropped afterwards)."""
    if request.param == "sqlite":
        app = _live(f"sqlite:///{tmp_path / 'live.db'}", tmp_path / "files")
        yield app
        app.extensions["sw_mis.engine"].dispose()
        return
    url, admin = _create_postgres_database()
    app = _live(url, tmp_path / "files")
    try:
        yield app
    finally:
        app.extensions["sw_mis.engine"].dispose()
        _drop_postgres_database(url, admin)


def _manager(app: Flask) -> Any:
    with session_scope(app) as session:
        default_areas(session)
        office = make_office(session, "PB-01", ["PK-PB"], name="Punjab office")
        user = make_user(session, "data_manager", office, username="dm")
        session.expunge(user)
    return user


@pytest.fixture
def live_manager(live_app: Flask) -> Any:
    return _manager(live_app)


@pytest.fixture
def any_live_manager(any_live_app: Flask) -> Any:
    return _manager(any_live_app)


def wait_for_job(app: Flask, job_id: int, timeout: float = 60) -> Job:
    """Poll until job ``job_id`` has ended (done, failed or cancelled) and return it detached."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope(app) as session:
            job = session.get(Job, job_id)
            if job.status in ("done", "failed", "cancelled"):
                session.expunge(job)
                return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")
