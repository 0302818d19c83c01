"""Backups are only as good as their restore: pg_dump -Fc, pg_restore into a new database."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from sw_mis.db import make_engine
from tests.conftest import _create_postgres_database, _drop_postgres_database
from tests.faults.conftest import run_command

pytestmark = pytest.mark.slow

TABLES = ("households", "members", "enrolments", "change_records", "users", "areas", "offices")


def _libpq_args(url: str) -> list[str]:
    u = make_url(url)
    return ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres"]


def _snapshot(url: str, ref: str) -> dict[str, object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            counts = {
                t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()  # noqa: S608 - fixed names
                for t in TABLES
            }
            household = (
                conn.execute(text("SELECT * FROM households WHERE ref = :r"), {"r": ref})
                .mappings()
                .one()
            )
            members = (
                conn.execute(
                    text("SELECT * FROM members WHERE household_id = :h ORDER BY id"),
                    {"h": household["id"]},
                )
                .mappings()
                .all()
            )
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        return {
            "counts": counts,
            "household": dict(household),
            "members": [dict(m) for m in members],
            "schema": version,
        }
    finally:
        engine.dispose()


def test_pg_dump_and_restore_round_trip(pg_url: str, tmp_path: Path) -> None:
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore not installed")
    run_command(pg_url, "seed", "--households", "500")
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        ref = conn.execute(text("SELECT ref FROM households ORDER BY id DESC LIMIT 1")).scalar_one()
    engine.dispose()

    dump = tmp_path / "sw_mis.dump"
    source = make_url(pg_url)
    subprocess.run(  # noqa: S603 - fixed tool, arguments from the test's own URL
        ["pg_dump", "-Fc", "-f", str(dump), *_libpq_args(pg_url), source.database or ""],  # noqa: S607
        check=True,
        timeout=120,
    )
    assert dump.stat().st_size > 0

    restored_url, admin = _create_postgres_database()
    try:
        restore = [
            shutil.which("pg_restore") or "pg_restore",
            "--no-owner",
            "--exit-on-error",
            "-d",
            make_url(restored_url).database or "",
            *_libpq_args(restored_url),
            str(dump),
        ]
        subprocess.run(  # noqa: S603 - fixed tool, arguments from the test's own URL
            restore,
            check=True,
            timeout=120,
        )
        assert _snapshot(restored_url, ref) == _snapshot(pg_url, ref)
        # The restored registry is usable: the sequence carries on past the restored rows.
        engine = make_engine(restored_url)
        with engine.connect() as conn:
            last = conn.execute(text("SELECT last_value FROM households_id_seq")).scalar_one()
            top = conn.execute(text("SELECT max(id) FROM households")).scalar_one()
        engine.dispose()
        assert last >= top
    finally:
        _drop_postgres_database(restored_url, admin)
