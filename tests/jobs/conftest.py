"""A live app on its own SQLite file: jobs run in other threads and processes, so the test
suite's rolled-back connection cannot be shared with them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from factories import default_areas, make_office, make_user
from flask import Flask

from sw_mis import create_app
from sw_mis.db import make_engine, session_scope
from sw_mis.migrate import upgrade


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[Flask]:
    url = f"sqlite:///{tmp_path / 'live.db'}"
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
    app.config["SW_MIS_FILES_DIR"] = str(tmp_path / "files")
    app.config["SW_MIS_JOBS_MODE"] = "auto"  # threads or RQ, as in production
    yield app
    engine.dispose()


@pytest.fixture
def live_manager(live_app: Flask) -> Any:
    with session_scope(live_app) as session:
        default_areas(session)
        office = make_office(session, "PB-01", ["PK-PB"], name="Punjab office")
        user = make_user(session, "data_manager", office, username="dm")
        session.expunge(user)
    return user
