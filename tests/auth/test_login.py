"""Sign-in: argon2 hashes, one message for every failure, safe redirects, audit of attempts."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from sw_mis.audit.models import AuditEvent
from sw_mis.auth.passwords import hash_password, password_problem, verify_password
from sw_mis.auth.services import UserError, authenticate, create_user
from sw_mis.auth.testing import PASSWORD, login, make_test_user


def test_passwords_are_argon2id_and_verified() -> None:
    digest = hash_password("a long enough password")
    assert digest.startswith("$argon2id$")
    assert verify_password(digest, "a long enough password")
    assert not verify_password(digest, "another password!")
    assert not verify_password(None, "anything at all")
    assert not verify_password("not-a-hash", "anything at all")
    assert password_problem("short") and password_problem("long enough!") is None


def test_create_user_refuses_weak_passwords_and_missing_offices(db_session: Session) -> None:
    with pytest.raises(UserError, match="password"):
        create_user(db_session, username="u1", password="short", role="auditor")
    with pytest.raises(UserError, match="office"):
        create_user(db_session, username="u2", password=PASSWORD, role="clerk")
    user = create_user(db_session, username="u3", password=PASSWORD, role="auditor")
    assert authenticate(db_session, "u3", PASSWORD) is user
    assert authenticate(db_session, "u3", "wrong password") is None


@pytest.mark.parametrize("username", ["known", "nobody-by-that-name"])
def test_every_failed_sign_in_looks_the_same(
    app: Flask, db_session: Session, username: str
) -> None:
    make_test_user(db_session, "auditor", username="known")
    response = login(app.test_client(), username, "definitely wrong")
    assert response.status_code == 401
    assert "Wrong username or password." in response.get_data(as_text=True)
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "login.failure"))
    assert event is not None and event.details["username"] == username


def test_disabled_users_cannot_sign_in(app: Flask, db_session: Session) -> None:
    make_test_user(db_session, "auditor", username="gone", active=False)
    assert login(app.test_client(), "gone").status_code == 401


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/audit/?page=2", "/audit/?page=2"),
        ("https://evil.example/phish", None),
        ("//evil.example/phish", None),
        ("/\\evil.example", None),
    ],
)
def test_sign_in_returns_only_to_pages_of_this_site(
    app: Flask, db_session: Session, target: str, expected: str | None
) -> None:
    make_test_user(db_session, "auditor", username="back")
    client = app.test_client()
    client.get("/login")
    response = login(client, "back", query_string={"next": target})
    assert response.status_code == 302
    location = response.headers["Location"]
    if expected:
        assert location == expected
    else:
        assert "evil.example" not in location


def test_the_login_form_needs_both_fields(app: Flask) -> None:
    response = login(app.test_client(), "", "")
    assert response.status_code == 422
    assert 'id="username-err"' in response.get_data(as_text=True)
