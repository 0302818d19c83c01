"""Sign-in is rate-limited per address; counters go to Redis when SW_MIS_REDIS_URL is set."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy.engine import Engine

from sw_mis import create_app
from sw_mis.auth.testing import login
from sw_mis.web.setup import limiter

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def limited(app: Flask) -> Iterator[Flask]:
    app.config["RATELIMIT_ENABLED"] = True
    limiter.reset()
    try:
        yield app
    finally:
        app.config["RATELIMIT_ENABLED"] = False
        limiter.reset()


def test_login_form_is_rate_limited(limited: Flask) -> None:
    client = limited.test_client()
    statuses = [login(client, "x", "a wrong password").status_code for _ in range(11)]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429


def test_token_endpoint_is_rate_limited(limited: Flask) -> None:
    client = limited.test_client()
    statuses = [
        client.post("/api/v1/auth/token", json={"username": "x", "password": "y"}).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    # Another address has its own allowance.
    other = client.post(
        "/api/v1/auth/token",
        json={"username": "x", "password": "y"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    assert other.status_code == 401


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def test_limits_are_stored_in_redis_when_configured(engine: Engine, database_url: str) -> None:
    settings = {
        "SW_MIS_ENV": "testing",
        "SW_MIS_SECRET_KEY": "z" * 40,
        "SW_MIS_DATABASE_URL": database_url,
        "SW_MIS_REDIS_URL": REDIS_URL,
    }
    app = create_app(settings, engine=engine)
    try:
        assert app.config["RATELIMIT_STORAGE_URI"] == REDIS_URL
        assert type(limiter.storage).__name__ == "RedisStorage"
        if not _redis_up():
            pytest.skip("no Redis server at 127.0.0.1:6379 to count in")
        assert limiter.storage.check()
    finally:
        # Put the shared limiter back on process memory for the rest of the suite.
        create_app({**settings, "SW_MIS_REDIS_URL": ""}, engine=engine)
    assert type(limiter.storage).__name__ == "MemoryStorage"
