"""Beneficiary lists prepared as a background job: the same file and audit as a download."""

from __future__ import annotations

import datetime as dt
import io
import os
import zipfile
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from factories import csrf_token, login, make_household
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sw_mis.audit.models import AuditEvent
from sw_mis.db import session_scope
from sw_mis.exports import services as exports
from sw_mis.jobs import kinds, runner
from sw_mis.jobs.models import Job
from tests.conftest import service_missing
from tests.exports.conftest import AS_OF, CASH, PENSION, counter_rows, list_keys, parse_csv
from tests.jobs.conftest import wait_for_job

REDIS_URL = os.environ.get("SW_MIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def eager(list_app: Flask, tmp_path: Path) -> Flask:
    list_app.config["SW_MIS_JOBS_EAGER"] = True
    list_app.config["SW_MIS_FILES_DIR"] = str(tmp_path)
    yield list_app
    list_app.config.pop("SW_MIS_JOBS_EAGER")
    list_app.config.pop("SW_MIS_FILES_DIR")


def start(client: FlaskClient, user: Any, scheme: str = CASH, fmt: str = "csv", **form: str):
    """Sign in as ``user`` and press 'Prepare in the background' on the lists page."""
    if getattr(client, "signed_in_as", None) != user.username:
        if getattr(client, "signed_in_as", None):
            client.post("/logout", data={"csrf_token": csrf_token(client, "/lists/")})
        login(client, user)
        client.signed_in_as = user.username  # type: ignore[attr-defined]
    data = {
        "csrf_token": csrf_token(client, "/lists/"),
        "scheme": scheme,
        "outcome": "eligible",
        "as_of": AS_OF.isoformat(),
        "format": fmt,
        "admin1": "",
        "admin2": "",
        **form,
    }
    return client.post("/jobs/exports", data=data)


def job_of(db_session: Session, response: Any) -> Job:
    assert response.status_code == 302, response.get_data(as_text=True)
    job_id = int(response.headers["Location"].rsplit("/", 1)[1])
    job = db_session.get(Job, job_id)
    db_session.refresh(job)
    return job


def last_export(db_session: Session, fmt: str) -> AuditEvent:
    newest = select(AuditEvent).order_by(AuditEvent.id.desc())
    return db_session.scalars(newest.where(AuditEvent.action == f"export.{fmt}")).first()


def test_the_lists_page_offers_it(client: FlaskClient, world: SimpleNamespace) -> None:
    login(client, world.officer)
    page = client.get("/lists/").get_data(as_text=True)
    assert 'formaction="/jobs/exports"' in page and "Prepare in the background" in page


@pytest.mark.parametrize("scheme", [CASH, PENSION])
def test_csv_job_holds_the_list_and_is_audited_like_a_download(
    client: FlaskClient, db_session: Session, book, world: SimpleNamespace, eager, scheme: str
) -> None:
    job = job_of(db_session, start(client, world.officer, scheme))
    assert job.status == "done", job.error
    expected = counter_rows(db_session, book, world.officer, scheme, "eligible")
    assert job.rows_done == job.rows_total == len(expected) and job.result["rows"] == len(expected)
    status = client.get(f"/jobs/{job.id}/status").get_json()
    assert status["has_result"] and status["percent"] == 100.0
    response = client.get(f"/jobs/{job.id}/result")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith(
        f"{scheme}-eligible-{AS_OF.isoformat()}.csv"
    )
    assert list_keys(parse_csv(response.data)) == expected
    response.close()
    event = last_export(db_session, "csv")
    assert event.username == world.officer.username and event.object_ref == scheme
    assert event.details == {
        "scheme": scheme,
        "outcome": "eligible",
        "as_of": AS_OF.isoformat(),
        "admin1": None,
        "admin2": None,
        "format": "csv",
        "rows": len(expected),
        "complete": True,
        "identifiers": True,
    }
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "Back to the beneficiary lists" in page


@pytest.mark.parametrize("fmt", ["xlsx", "pdf"])
def test_xlsx_and_pdf_jobs(
    client: FlaskClient, db_session: Session, world: SimpleNamespace, eager, fmt: str
) -> None:
    job = job_of(db_session, start(client, world.officer, PENSION, fmt))
    assert job.status == "done", job.error
    data = Path(job.result_path).read_bytes()
    if fmt == "xlsx":
        assert "xl/worksheets/sheet1.xml" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    else:
        assert data.startswith(b"%PDF")
    assert last_export(db_session, fmt).details["rows"] == job.result["rows"] > 0


def test_a_supervisors_list_leaves_identifiers_out(
    client: FlaskClient, db_session: Session, world: SimpleNamespace, eager
) -> None:
    job = job_of(db_session, start(client, world.supervisor, PENSION))
    rows = parse_csv(Path(job.result_path).read_bytes())
    assert rows and not any("National ID" in heading for heading in rows[0])
    assert last_export(db_session, "csv").details["identifiers"] is False


def test_only_the_offices_households(
    client: FlaskClient, db_session: Session, world: SimpleNamespace, eager
) -> None:
    job = job_of(db_session, start(client, world.sindh_officer))
    refs = {r["Household"] for r in parse_csv(Path(job.result_path).read_bytes())}
    assert refs == {world.sindh.ref}


def test_cancelled_half_way_leaves_no_file_and_is_audited_incomplete(
    client: FlaskClient, db_session: Session, world: SimpleNamespace, eager, monkeypatch
) -> None:
    monkeypatch.setattr(exports, "YIELD_PER", 1)  # progress after every row
    original = runner.JobContext.progress
    calls: list[int] = []

    def cancel_after_first_row(self, done, total=None, message=None):
        calls.append(done)
        if done >= 1:
            with session_scope(self.app) as session:
                session.get(Job, self.job_id).cancel_requested = True
        original(self, done, total, message)

    monkeypatch.setattr(runner.JobContext, "progress", cancel_after_first_row)
    job = job_of(db_session, start(client, world.officer, PENSION))
    assert job.status == "cancelled" and calls == [0, 1]
    assert not job.result_path and not list(Path(eager.config["SW_MIS_FILES_DIR"]).rglob("*.csv*"))
    event = last_export(db_session, "csv")
    assert event.details["complete"] is False and event.details["rows"] == 1


def test_a_failed_export_says_why(
    client: FlaskClient, db_session: Session, world: SimpleNamespace, eager, monkeypatch
) -> None:
    monkeypatch.setattr(exports, "PDF_MAX_ROWS", 1)
    job = job_of(db_session, start(client, world.officer, PENSION, "pdf"))
    assert job.status == "failed" and "a printed list is limited to 1" in job.error


def test_the_form_is_checked_before_anything_starts(
    client: FlaskClient, db_session: Session, world: SimpleNamespace, eager
) -> None:
    before = db_session.query(Job).count()
    response = start(client, world.officer, "no-such-scheme")
    assert response.status_code == 422
    response = start(client, world.officer, CASH, as_of="1990-01-01")
    assert response.status_code == 422 and "not in force" in response.get_data(as_text=True)
    assert db_session.query(Job).count() == before
    client.post("/logout", data={"csrf_token": csrf_token(client, "/lists/")})
    login(client, world.clerk)
    token = csrf_token(client, "/jobs")
    assert client.post("/jobs/exports", data={"csrf_token": token}).status_code == 403


# --- the thread and RQ runners, on an app of its own ---------------------------------------------
def _live_list(live_app: Flask, live_manager: Any) -> dict[str, Any]:
    """Register two households in the live app; return an export job's parameters."""
    book = live_app.extensions["sw_mis.rulebook"]
    as_of = dt.date(2026, 6, 30)
    scheme = next(
        s for s in book.schemes.values() if s.country == "PK" and s.parameters_on(as_of) is not None
    )
    with session_scope(live_app) as session:
        user = session.merge(live_manager)
        for _ in range(2):
            make_household(session, user)
    spec = exports.list_spec(book, scheme.id, as_of, "undetermined")
    return {**spec.details(), "format": "csv"}




def _check_done(app: Flask, job: Job) -> None:
    assert job.status == "done", job.error
    rows = parse_csv(Path(job.result_path).read_bytes())
    assert len(rows) == job.result["rows"] == job.rows_done
    with session_scope(app) as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "export.csv")).one()
        assert event.details["rows"] == len(rows) and event.details["complete"] is True


def test_export_job_in_a_thread(live_app: Flask, live_manager: Any) -> None:
    params = _live_list(live_app, live_manager)
    job = wait_for_job(live_app, runner.enqueue("exports.list", params, live_manager, live_app))
    _check_done(live_app, job)


def test_export_job_with_a_real_rq_worker(live_app: Flask, live_manager: Any) -> None:
    redis = pytest.importorskip("redis")
    rq = pytest.importorskip("rq")
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError:
        service_missing(f"Redis not reachable at {REDIS_URL}")
    params = _live_list(live_app, live_manager)
    settings = live_app.config["SW_MIS"]
    live_app.config["SW_MIS"] = replace(settings, redis_url=REDIS_URL)
    queue = rq.Queue(runner.QUEUE_NAME, connection=connection)
    queue.empty()
    try:
        job_id = runner.enqueue("exports.list", params, live_manager, live_app)
        runner.set_worker_app(live_app)
        rq.SimpleWorker([queue], connection=connection).work(burst=True)
    finally:
        runner.set_worker_app(None)
        live_app.config["SW_MIS"] = settings
        queue.empty()
    _check_done(live_app, wait_for_job(live_app, job_id, timeout=5))


def test_export_kind_is_listed() -> None:
    assert kinds.KINDS["exports.list"][1] is kinds.export_list


def test_the_file_speaks_the_users_language_like_a_download(
    client: FlaskClient, db_session: Session, world: SimpleNamespace, eager
) -> None:
    world.officer.language = "fr"
    db_session.flush()
    job = job_of(db_session, start(client, world.officer, PENSION))
    from_job = Path(job.result_path).read_bytes().decode("utf-8-sig").splitlines()
    data = {
        "csrf_token": csrf_token(client, "/lists/"),
        "scheme": PENSION,
        "outcome": "eligible",
        "as_of": AS_OF.isoformat(),
        "format": "csv",
        "admin1": "",
        "admin2": "",
    }
    response = client.post("/lists/", data=data)
    downloaded = response.get_data().decode("utf-8-sig").splitlines()
    response.close()
    assert from_job[0] == downloaded[0] and "Household" not in from_job[0]
    assert sorted(from_job[1:]) == sorted(downloaded[1:])
