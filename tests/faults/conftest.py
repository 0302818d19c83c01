"""Fault tests run on a real, committed PostgreSQL database of their own (no savepoint fixture).

Each test gets a freshly created and migrated database that is dropped afterwards. Without a
server they skip on a laptop and fail in CI (``service_missing``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.engine import Engine

from sw_mis import create_app
from sw_mis.db import make_engine
from sw_mis.migrate import upgrade
from tests.conftest import _create_postgres_database, _drop_postgres_database

ROOT = Path(__file__).resolve().parents[2]

#: Every statement and lock wait is bounded: a deadlock or a stuck lock fails the test, never
#: hangs it (PostgreSQL also detects deadlocks itself after deadlock_timeout, 1 s).
BOUNDED = (
    "-c lock_timeout=10000 -c statement_timeout=30000 -c idle_in_transaction_session_timeout=60000"
)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database (dropped afterwards)."""
    url, admin = _create_postgres_database()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        _drop_postgres_database(url, admin)


def app_settings(url: str) -> dict[str, str]:
    """The environment of an app (or ``sw-mis`` command) on ``url``."""
    return {
        "SW_MIS_ENV": "testing",
        "SW_MIS_DATABASE_URL": url,
        "SW_MIS_SECRET_KEY": "faults-secret-key-" + "x" * 32,
        "SW_MIS_REFERRAL_KEYS": "k1:faults-referral-signing-key",
        "SW_MIS_RULE_PACKS": "pk",
    }


def make_pg_app(url: str, **engine_kwargs: object) -> tuple[Flask, Engine]:
    """An app on ``url`` with bounded statements and a pool for many threads."""
    engine_kwargs.setdefault("pool_size", 20)
    engine_kwargs.setdefault("max_overflow", 40)
    engine_kwargs.setdefault("pool_timeout", 30)
    engine = make_engine(url, connect_args={"options": BOUNDED}, **engine_kwargs)
    app = create_app(app_settings(url), engine=engine)
    app.config["RATELIMIT_ENABLED"] = False
    return app, engine


def sw_mis_command(url: str, *args: str) -> list[str]:
    """The argv of ``sw-mis ARGS`` in this interpreter (see :func:`command_env`)."""
    return [sys.executable, "-m", "sw_mis", *args]


def command_env(url: str) -> dict[str, str]:
    """The environment for a ``sw-mis`` subprocess on ``url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SW_MIS_")}
    env.update(app_settings(url))
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_command(url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``sw-mis ARGS`` to the end; fail the test on a non-zero exit."""
    result = subprocess.run(  # noqa: S603 - our own interpreter and command
        sw_mis_command(url, *args),
        env=command_env(url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"sw-mis {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result
