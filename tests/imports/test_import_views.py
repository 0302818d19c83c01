"""The import pages: upload, dry run shown per row, confirm, jobs page and status JSON."""

from __future__ import annotations

import io
import re

import pytest
from factories import csrf_token, login
from sqlalchemy import func, select

from sw_mis.registry.models import Household
from tests.imports.helpers import csv_bytes, survey_rows


@pytest.fixture
def eager(app, tmp_path):
    app.config["SW_MIS_JOBS_EAGER"] = True
    app.config["SW_MIS_FILES_DIR"] = str(tmp_path)
    yield app
    app.config.pop("SW_MIS_JOBS_EAGER")
    app.config.pop("SW_MIS_FILES_DIR")


def test_upload_check_confirm_and_follow_the_job(client, eager, db_session, manager):
    login(client, manager)
    rows = survey_rows(3)
    rows[0][7] = "31/31/1980"
    token = csrf_token(client, "/imports")
    response = client.post(
        "/imports",
        data={
            "csrf_token": token,
            "source": "round-1",
            "file": (io.BytesIO(csv_bytes(rows)), "survey.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "31/31/1980" in text and "Enter a date" in text
    batch_id = int(re.search(r"/imports/(\d+)", response.headers["Location"]).group(1))
    csv_text = client.get(f"/imports/{batch_id}/problems.csv").get_data(as_text=True)
    assert "2,H1,dob,31/31/1980,error" in csv_text
    before = db_session.scalar(select(func.count()).select_from(Household))
    response = client.post(f"/imports/{batch_id}/commit", data={"csrf_token": token})
    assert response.status_code == 302 and "/jobs/" in response.headers["Location"]
    job_url = response.headers["Location"]
    assert db_session.scalar(select(func.count()).select_from(Household)) == before + 2
    status = client.get(job_url + "/status").get_json()
    assert status["status"] == "done" and status["has_result"] and status["percent"] == 100.0
    page = client.get(job_url).get_data(as_text=True)
    assert "js/jobs.js" in page and "<script>" not in page
    refused = client.get(job_url + "/result")
    assert refused.status_code == 200 and b"31/31/1980" in refused.data
    refused.close()
    assert client.get("/jobs").status_code == 200


def test_clerks_may_not_import(client, db_session, manager):
    from factories import make_user

    login(client, make_user(db_session, "clerk", manager.office))
    assert client.get("/imports").status_code == 403
