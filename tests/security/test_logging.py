"""Security log: events with time, user and address; no secrets; no forged lines."""

from __future__ import annotations

import logging
import re

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from sw_mis.audit.services import log_security
from sw_mis.auth.testing import PASSWORD, api_token, bearer, login, make_test_user

NATIONAL_ID = "0614-1990-00123-7"
#: One ``key=value`` field of a security log line: a plain value or a JSON-quoted string.
FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"]*)(?: |$)')


def _all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)


def test_sign_in_and_api_calls_log_events_but_never_secrets(
    app: Flask, db_session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    make_test_user(db_session, "clerk", username="logclerk")
    client = app.test_client()
    with caplog.at_level(logging.DEBUG):
        login(client, "logclerk", "wrong password " + NATIONAL_ID)
        login(client, "logclerk", environ_base={"REMOTE_ADDR": "10.9.8.7"})
        token = api_token(app.test_client(), "logclerk")
        api = app.test_client()
        api.post(
            "/api/v1/households/search",
            json={"q": NATIONAL_ID, "page": 1, "per_page": 5},
            headers=bearer(token),
        )
        api.delete("/api/v1/auth/token", headers=bearer(token))
    text = _all_log_text(caplog)
    for secret in (PASSWORD, token, NATIONAL_ID):
        assert secret not in text
    security = [r.getMessage() for r in caplog.records if r.name == "sw_mis.security"]
    failure = next(m for m in security if "event=login.failure" in m)
    success = next(m for m in security if "event=login.success" in m)
    assert "user=logclerk" in failure and "addr=127.0.0.1" in failure
    assert "user=logclerk" in success and "addr=10.9.8.7" in success and "at=20" in success
    assert any("event=api.login.success" in m for m in security)


def test_denied_access_is_logged(
    app: Flask, db_session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    make_test_user(db_session, "clerk", username="nosy")
    client = app.test_client()
    login(client, "nosy")
    with caplog.at_level(logging.INFO, logger="sw_mis.security"):
        assert client.get("/admin/users").status_code == 403
    (line,) = [r.getMessage() for r in caplog.records if "access.denied" in r.getMessage()]
    assert "user=nosy" in line and "endpoint=admin.users" in line


@pytest.mark.parametrize(
    "username",
    [
        "mallory\r\nat=2026-01-01 event=login.success user=admin addr=10.0.0.1",
        "mallory\nevent=login.success",
        "mallory\u2028event=login.success",
        "mallory event=login.success",
    ],
)
def test_user_input_cannot_forge_a_log_line(
    app: Flask, db_session: Session, caplog: pytest.LogCaptureFixture, username: str
) -> None:
    with caplog.at_level(logging.INFO, logger="sw_mis.security"):
        login(app.test_client(), username[:80], "whatever password")
        log_security("test.event", username=username)
    lines = [r.getMessage() for r in caplog.records if r.name == "sw_mis.security"]
    assert lines
    for line in lines:
        assert "\r" not in line and "\n" not in line and "\u2028" not in line
        # Only the real fields exist; the forged ones stay inside the quoted user value.
        keys = [key for key, _ in FIELD.findall(line)]
        assert FIELD.sub("", line) == "", line
        assert len(keys) == len(set(keys)), line
