"""Jobs: the in-process and RQ paths, progress, cancel, and an import killed mid-way then rerun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sw_mis.db import session_scope
from sw_mis.imports import services
from sw_mis.imports.mapping import Mapping
from sw_mis.imports.models import ImportBatch, ImportedHousehold
from sw_mis.jobs import runner
from sw_mis.jobs.models import Job
from sw_mis.registry.models import Household, Member
from tests.conftest import service_missing
from tests.imports.helpers import csv_bytes, survey_rows, write
from tests.jobs.conftest import wait_for_job

REDIS_URL = os.environ.get("SW_MIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _batch(app, user, path: Path, source: str = "survey") -> int:
    with session_scope(app) as session:
        batch = services.create_batch(
            session,
            session.merge(user),
            path,
            path.name,
            mapping=Mapping(defaults={"country": "PK"}),
            source=source,
        )
        return batch.id




def _count(app, model) -> int:
    with session_scope(app) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_thread_path_checks_then_imports(live_app, live_manager, tmp_path):
    path = write(tmp_path, "s.csv", csv_bytes(survey_rows(5)))
    batch_id = _batch(live_app, live_manager, path)
    job = wait_for_job(
        live_app, runner.enqueue("import.check", {"batch_id": batch_id}, live_manager, live_app)
    )
    assert job.status == "done" and job.result["valid"] == 5 and _count(live_app, Household) == 0
    assert job.rows_done == job.rows_total == 15
    prepared = list((Path(live_app.config["SW_MIS_FILES_DIR"]) / "imports").rglob("*.jsonl"))
    assert len(prepared) == 1  # the dry run's validation, kept for the commit
    job = wait_for_job(
        live_app, runner.enqueue("import.commit", {"batch_id": batch_id}, live_manager, live_app)
    )
    assert job.status == "done", job.error
    assert job.result["imported"] == 5 and _count(live_app, Household) == 5
    assert not prepared[0].exists()
    status = runner.status_dict(job)
    assert status["percent"] == 100.0 and status["finished"] and not status["has_result"]


def test_failed_job_records_its_error(live_app, live_manager):
    job_id = runner.enqueue("import.check", {"batch_id": 999}, live_manager, live_app)
    job = wait_for_job(live_app, job_id)
    assert job.status == "failed" and "no longer exists" in job.error


def test_cancel_between_batches_keeps_committed_work(live_app, live_manager, tmp_path, monkeypatch):
    path = write(tmp_path, "s.csv", csv_bytes(survey_rows(5)))
    batch_id = _batch(live_app, live_manager, path)
    live_app.config["SW_MIS_JOBS_EAGER"] = True
    original = runner.JobContext.progress

    def cancel_after_first(self, done, total=None, message=None):
        with session_scope(self.app) as session:
            session.get(Job, self.job_id).cancel_requested = True
        original(self, done, total, message)

    monkeypatch.setattr(runner.JobContext, "progress", cancel_after_first)
    job_id = runner.enqueue("import.commit", {"batch_id": batch_id}, live_manager, live_app)
    with session_scope(live_app) as session:
        job = session.get(Job, job_id)
        assert job.status == "cancelled"
    imported = _count(live_app, Household)
    assert 0 < imported <= 5


def test_queued_job_cancelled_never_runs(live_app, live_manager, tmp_path):
    with session_scope(live_app) as session:
        job = Job(kind="import.check", params={"batch_id": 1}, status="queued", result={})
        session.add(job)
        session.flush()
        runner.request_cancel(session, job)
        job_id = job.id
    assert runner.run_job(live_app, job_id) == "cancelled"


def test_rq_path_with_a_real_worker(live_app, live_manager, tmp_path):
    redis = pytest.importorskip("redis")
    rq = pytest.importorskip("rq")
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError:
        service_missing(f"Redis not reachable at {REDIS_URL}")
    path = write(tmp_path, "s.csv", csv_bytes(survey_rows(3)))
    batch_id = _batch(live_app, live_manager, path)
    settings = live_app.config["SW_MIS"]
    from dataclasses import replace

    live_app.config["SW_MIS"] = replace(settings, redis_url=REDIS_URL)
    queue = rq.Queue(runner.QUEUE_NAME, connection=connection)
    queue.empty()
    try:
        job_id = runner.enqueue("import.commit", {"batch_id": batch_id}, live_manager, live_app)
        with session_scope(live_app) as session:
            assert session.get(Job, job_id).status == "queued"
            assert session.get(Job, job_id).queue_id
        runner.set_worker_app(live_app)
        rq.SimpleWorker([queue], connection=connection).work(burst=True)
    finally:
        runner.set_worker_app(None)
        live_app.config["SW_MIS"] = settings
        queue.empty()
    job = wait_for_job(live_app, job_id, timeout=5)
    assert job.status == "done", job.error
    assert _count(live_app, Household) == 3


@pytest.mark.parametrize("dry_run_first", [False, True])
def test_import_killed_midway_and_rerun_ends_the_same(
    live_app, live_manager, tmp_path, dry_run_first
):
    path = write(tmp_path, "s.csv", csv_bytes(survey_rows(7)))
    batch_id = _batch(live_app, live_manager, path)
    if dry_run_first:  # the commit then reads the dry run's validation back
        with session_scope(live_app) as session:
            services.check_batch(
                session,
                session.merge(live_manager),
                session.get(ImportBatch, batch_id),
                prepared_dir=tmp_path / "prepared",
            )

    class Killed(Exception):
        pass

    calls = []

    def commit_then_die(session):
        def commit():
            session.commit()
            calls.append(1)
            if len(calls) == 3:  # status commit, then two chunks: the process dies here
                raise Killed

        return commit

    with pytest.raises(Killed), session_scope(live_app) as session:
        batch = session.get(ImportBatch, batch_id)
        services.commit_batch(
            session,
            session.merge(live_manager),
            batch,
            chunk_size=3,
            commit=commit_then_die(session),
        )
    assert _count(live_app, Household) == 6  # two chunks of three were committed
    with session_scope(live_app) as session:
        batch = session.get(ImportBatch, batch_id)
        assert batch.status == "committing"
        services.commit_batch(
            session, session.merge(live_manager), batch, chunk_size=3, commit=session.commit
        )
        assert (batch.households_imported, batch.households_skipped) == (7, 0)
    assert _count(live_app, Household) == 7 and _count(live_app, Member) == 21
    assert _count(live_app, ImportedHousehold) == 7
    assert not list((tmp_path / "prepared").glob("*"))  # used, then deleted


def test_sigkill_of_cli_import_then_rerun(any_live_app, any_live_manager, tmp_path):
    live_app = any_live_app
    count = 6000
    path = write(tmp_path, "big.csv", csv_bytes(survey_rows(count)))
    env = {
        **os.environ,
        "SW_MIS_DATABASE_URL": live_app.config["DATABASE_URL"],
        "SW_MIS_ENV": "testing",
        "SW_MIS_CLI_USER": "dm",
    }
    command = [sys.executable, "-m", "sw_mis", "import", str(path), "--commit", "--source", "field"]
    process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while _count(live_app, ImportedHousehold) == 0 and time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode())
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stderr.close()
    partial = _count(live_app, Household)
    assert 0 < partial < count
    rerun = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        command, env=env, capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr
    assert _count(live_app, Household) == count
    assert _count(live_app, Member) == 3 * count
    with session_scope(live_app) as session:
        ids = session.scalar(select(func.count(func.distinct(Member.national_id))))
    assert ids == 2 * count
