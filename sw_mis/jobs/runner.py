"""Run long work in the background: RQ workers in production, a thread in the embedded demo.

One code path for both: :func:`enqueue` stores a :class:`Job` row and hands its id to RQ (when
``SW_MIS_REDIS_URL`` is set) or to a thread of the app process; either way :func:`run_job` does
the work. A job function receives a :class:`JobContext`: it commits its own work batch by batch
(a job is an edge, like a request) and calls ``ctx.progress(done, total)`` between batches,
which records progress and raises :class:`JobCancelled` once someone pressed Cancel.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sw_mis.db import session_scope
from sw_mis.jobs.models import FINISHED, Job

log = logging.getLogger("sw_mis.jobs")
QUEUE_NAME = "sw-mis"
#: RQ kills a job running longer than this (a registry-wide screening of millions included).
JOB_TIMEOUT_SECONDS = 6 * 3600


class JobCancelled(Exception):
    """Someone asked for the job to stop; raised between batches."""


@dataclass
class JobContext:
    """What a job function gets: the app, its job's id, parameters and user."""

    app: Flask
    job_id: int
    params: dict[str, Any]
    user_id: int | None

    def user(self, session: Session) -> Any:
        """Return the user who started the job, loaded in ``session``."""
        from sw_mis.auth.models import User

        return session.get(User, self.user_id) if self.user_id else None

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        """Record progress in its own transaction; raise JobCancelled if a cancel was asked."""
        with session_scope(self.app) as session:
            job = session.get(Job, self.job_id)
            if job is None:
                raise JobCancelled("the job was deleted")
            job.rows_done = done
            if total is not None:
                job.rows_total = total
            if message is not None:
                job.message = message[:300]
            job.updated_at = _now()
            cancel = job.cancel_requested
        if cancel:
            raise JobCancelled()

    def result_file(self, name: str) -> Path:
        """Return a path for a result file of this job (its folder is created)."""
        folder = files_dir(self.app) / "jobs" / str(self.job_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name


@dataclass
class JobOutcome:
    """What a job function returns: an optional file to offer and a summary to show."""

    summary: dict[str, Any]
    result_path: Path | None = None
    result_name: str | None = None


JobFunction = Callable[[JobContext], JobOutcome]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def files_dir(app: Flask) -> Path:
    """Return the folder for uploads and job results (``SW_MIS_FILES_DIR`` or instance/files)."""
    configured = app.config.get("SW_MIS_FILES_DIR")
    return Path(configured) if configured else Path(app.instance_path) / "files"


def kinds() -> dict[str, tuple[str, JobFunction]]:
    """Return the job kinds: kind → (label, function). The list is explicit, no discovery."""
    from sw_mis.jobs import kinds as k

    return k.KINDS


# --- starting ---------------------------------------------------------------------------------
def enqueue(kind: str, params: dict[str, Any], user: Any, app: Flask | None = None) -> int:
    """Store a queued job and start it (RQ, or a thread without Redis); return its id."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    if kind not in kinds():
        raise ValueError(f"unknown job kind {kind!r}")
    with session_scope(app) as session:
        job = Job(
            kind=kind,
            params=params,
            status="queued",
            user_id=getattr(user, "id", None),
            rows_done=0,
            result={},
            message="Waiting to start",
        )
        session.add(job)
        session.flush()
        job_id = job.id
    dispatch(app, job_id)
    return job_id


def dispatch(app: Flask, job_id: int) -> None:
    """Hand a stored job to its runner: eager (tests), RQ, or a background thread."""
    if app.config.get("SW_MIS_JOBS_EAGER"):
        # Tests whose data lives in one rolled-back transaction: run in the caller's thread,
        # but outside the caller's request (a fresh context), as a worker would: no request,
        # no signed-in user, no request session sharing the connection.
        contextvars.Context().run(run_job, app, job_id)
        return
    mode = app.config.get("SW_MIS_JOBS_MODE") or ("manual" if app.testing else "auto")
    if mode == "manual":
        # The test suite's requests share one connection: a thread there would deadlock it.
        return
    redis_url = app.config["SW_MIS"].redis_url
    if redis_url:
        queue = rq_queue(redis_url)
        rq_job = queue.enqueue(perform, job_id, job_timeout=JOB_TIMEOUT_SECONDS)
        with session_scope(app) as session:
            session.execute(update(Job).where(Job.id == job_id).values(queue_id=rq_job.id))
        return
    thread = threading.Thread(
        target=run_job, args=(app, job_id), name=f"sw-mis-job-{job_id}", daemon=True
    )
    thread.start()


def rq_queue(redis_url: str) -> Any:
    """Return the RQ queue on ``redis_url``."""
    from redis import Redis
    from rq import Queue

    return Queue(QUEUE_NAME, connection=Redis.from_url(redis_url))


# --- running ----------------------------------------------------------------------------------
_worker_app: Flask | None = None


def set_worker_app(app: Flask | None) -> None:
    """Give RQ jobs of this process the app to run in (`sw-mis worker` and tests)."""
    global _worker_app
    _worker_app = app


def perform(job_id: int) -> None:
    """RQ entry point: run job ``job_id`` in this worker's app."""
    global _worker_app
    if _worker_app is None:
        from sw_mis.app import create_app

        _worker_app = create_app()
    run_job(_worker_app, job_id)


def run_job(app: Flask, job_id: int) -> str:
    """Run a stored job to its end; record done, failed or cancelled. Return the status."""
    with session_scope(app) as session:
        job = session.get(Job, job_id)
        if job is None or job.status in FINISHED:
            return job.status if job else "missing"
        if job.cancel_requested:
            job.status, job.finished_at = "cancelled", _now()
            return "cancelled"
        job.status, job.started_at, job.updated_at = "running", _now(), _now()
        job.message = ""
        ctx = JobContext(app, job.id, dict(job.params or {}), job.user_id)
        kind = job.kind
    _label, function = kinds()[kind]
    status, values = "done", {}
    try:
        with app.app_context():
            outcome = function(ctx)
        values = {
            "result": outcome.summary,
            "result_path": str(outcome.result_path) if outcome.result_path else None,
            "result_name": outcome.result_name,
            "message": "Finished",
        }
    except JobCancelled:
        status, values = "cancelled", {"message": "Cancelled; the work committed so far is kept"}
    except Exception as exc:  # noqa: BLE001 - a job's failure is recorded, never lost
        log.error("job %s (%s) failed: %s", job_id, kind, traceback.format_exc())
        status, values = (
            "failed",
            {"error": f"{type(exc).__name__}: {exc}"[:2000], "message": "Failed"},
        )
    with session_scope(app) as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(status=status, finished_at=_now(), updated_at=_now(), **values)
        )
    return status


# --- reading and cancelling -------------------------------------------------------------------
def request_cancel(session: Session, job: Job) -> None:
    """Ask a job to stop at its next batch (a queued job never starts)."""
    if job.status in FINISHED:
        return
    job.cancel_requested = True
    if job.status == "queued":
        job.status, job.finished_at, job.message = "cancelled", _now(), "Cancelled before start"
    session.flush()


def status_dict(job: Job, now: dt.datetime | None = None) -> dict[str, Any]:
    """Return a job's progress for the status endpoint: rows, rate (rows/s) and time left."""
    now = now or _now()
    started = _aware(job.started_at)
    until = _aware(job.finished_at) or _aware(job.updated_at) or now
    elapsed = (until - started).total_seconds() if started else 0.0
    rate = job.rows_done / elapsed if elapsed > 0 and job.rows_done else None
    left = None
    if rate and job.rows_total and job.status == "running":
        left = max(0.0, (job.rows_total - job.rows_done) / rate)
    percent = None
    if job.rows_total:
        percent = min(100.0, round(100.0 * job.rows_done / job.rows_total, 1))
    if job.status == "done":
        percent = 100.0
    return {
        "id": job.id,
        "kind": job.kind,
        "label": kinds().get(job.kind, (job.kind, None))[0],
        "status": job.status,
        "rows_done": job.rows_done,
        "rows_total": job.rows_total,
        "percent": percent,
        "rate": round(rate, 1) if rate else None,
        "seconds_left": round(left) if left is not None else None,
        "elapsed": round(elapsed, 1),
        "message": job.message,
        "error": job.error,
        "has_result": bool(job.result_path) and job.status == "done",
        "result": job.result or {},
        "finished": job.status in FINISHED,
        "cancel_requested": job.cancel_requested,
    }


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    # SQLite returns naive datetimes; they were written in UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def jobs_for(session: Session, user: Any, limit: int = 50) -> list[Job]:
    """Return the user's jobs, newest first (admins see everyone's)."""
    stmt = select(Job).order_by(Job.id.desc()).limit(limit)
    if getattr(user, "role", None) != "admin":
        stmt = stmt.where(Job.user_id == user.id)
    return list(session.scalars(stmt))


def get_job(session: Session, user: Any, job_id: int) -> Job | None:
    """Return job ``job_id`` if ``user`` started it (or is an admin), else None."""
    job = session.get(Job, job_id)
    if job is None or (getattr(user, "role", None) != "admin" and job.user_id != user.id):
        return None
    return job
