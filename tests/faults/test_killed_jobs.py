"""Long jobs killed with SIGKILL half-way: nothing half-written, and a rerun finishes the same.

``sw-mis screen-all`` commits batch by batch and records where it stopped; ``--resume RUN_ID``
carries on from there, and its outcome rows must equal those of a run never interrupted.
``sw-mis seed`` writes each chunk (households, members, enrolments) in one transaction.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from sqlalchemy import text

from sw_mis.db import make_engine
from sw_mis.eligibility.sql import stored_outcomes
from tests.faults.conftest import ROOT, command_env, run_command, sw_mis_command

pytestmark = pytest.mark.slow

AS_OF = "2026-06-30"
HOUSEHOLDS = 3000
BATCH = 100


def _start(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and command
        sw_mis_command(url, *args),
        env=command_env(url),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(engine, sql: str, until: float, proc: subprocess.Popen[str]) -> None:  # type: ignore[no-untyped-def]
    """Poll ``sql`` (a boolean query) until it is true; fail if the process ends first."""
    while time.monotonic() < until:
        with engine.connect() as conn:
            if conn.execute(text(sql)).scalar():
                return
        if proc.poll() is not None:
            pytest.fail(f"the job ended before it could be killed:\n{proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
        time.sleep(0.02)
    proc.kill()
    pytest.fail("the job never reached the point where it is killed")


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    proc.stdout.close()  # type: ignore[union-attr]
    proc.stderr.close()  # type: ignore[union-attr]


def _outcomes(engine, run_id: int) -> list[tuple[object, ...]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return sorted(stored_outcomes(conn, run_id), key=repr)


def _counts(engine, run_id: int) -> list[tuple[object, ...]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                text(
                    "SELECT scheme_id, admin1, admin2, admin3, sum(eligible), sum(undetermined) "
                    "FROM screening_counts WHERE run_id = :r "
                    "GROUP BY scheme_id, admin1, admin2, admin3 ORDER BY 1, 2, 3, 4"
                ),
                {"r": run_id},
            )
        ]


def test_screen_all_killed_then_resumed_equals_uninterrupted(pg_url: str) -> None:
    run_command(pg_url, "seed", "--households", str(HOUSEHOLDS))
    engine = make_engine(pg_url)
    try:
        # Killed with two workers per batch; the uninterrupted run below uses one.
        proc = _start(
            pg_url, "screen-all", "--as-of", AS_OF, "--batch-size", str(BATCH), "--workers", "2"
        )
        # Killed once a few batches are committed, long before the last one.
        _wait_for(
            engine,
            "SELECT bool_or(households_done >= 300) FROM screening_runs",  # 3 batches
            time.monotonic() + 90,
            proc,
        )
        _kill(proc)
        with engine.connect() as conn:
            run_id, status, done = conn.execute(
                text("SELECT id, status, households_done FROM screening_runs")
            ).one()
        assert status == "running" and 0 < done < HOUSEHOLDS, (status, done)

        resumed = json.loads(
            run_command(
                pg_url,
                "screen-all",
                "--as-of",
                AS_OF,
                "--resume",
                str(run_id),
                "--batch-size",
                str(BATCH),
            ).stdout
        )
        assert resumed["run"] == run_id
        whole = json.loads(
            run_command(
                pg_url, "screen-all", "--as-of", AS_OF, "--batch-size", "1000", "--workers", "1"
            ).stdout
        )
        assert whole["run"] != run_id
        with engine.connect() as conn:
            statuses = dict(conn.execute(text("SELECT id, status FROM screening_runs")).all())
        assert statuses == {run_id: "done", whole["run"]: "done"}
        killed_rows, whole_rows = _outcomes(engine, run_id), _outcomes(engine, whole["run"])
        assert whole_rows, "the screening produced no outcome at all"
        assert killed_rows == whole_rows
        assert _counts(engine, run_id) == _counts(engine, whole["run"])
        assert resumed["rows"] == whole["rows"] == len({h for _, h, _, _ in whole_rows})
    finally:
        engine.dispose()


ORPHANS = (
    "SELECT count(*) FROM households h "
    "WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.household_id = h.id)"
)


def test_seed_killed_leaves_whole_households(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        proc = _start(pg_url, "seed", "--households", "200000")
        _wait_for(engine, "SELECT count(*) >= 1 FROM households", time.monotonic() + 90, proc)
        _kill(proc)
        with engine.connect() as conn:
            written = conn.execute(text("SELECT count(*) FROM households")).scalar_one()
            assert 0 < written < 200_000
            assert conn.execute(text(ORPHANS)).scalar_one() == 0
            # Every member belongs to a household that exists (foreign key), and the id
            # sequence is past the rows written, so the next registration gets a free id.
            next_id = conn.execute(text("SELECT last_value FROM households_id_seq")).scalar_one()
            top = conn.execute(text("SELECT max(id) FROM households")).scalar_one()
            assert next_id >= top
        run_command(pg_url, "seed", "--households", "500")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM households")).scalar_one() == (
                written + 500
            )
            assert conn.execute(text(ORPHANS)).scalar_one() == 0
    finally:
        engine.dispose()
