"""Browser sessions: fixation, logout, idle and absolute timeouts, cookie flags, secret key."""

from __future__ import annotations

import datetime as dt
from http.cookies import SimpleCookie

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sw_mis import create_app
from sw_mis.auth.models import ApiToken, User
from sw_mis.auth.testing import csrf_token, login, make_test_user
from sw_mis.config import ConfigError, Settings

PAGE = "/audit/"  # any page an auditor may see


@pytest.fixture
def auditor(db_session: Session) -> User:
    return make_test_user(db_session, "auditor", username="aud")


def _signed_in(client: FlaskClient) -> bool:
    response = client.get(PAGE)
    return response.status_code == 200


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_sign_in_starts_a_new_session_fixation_fails(client: FlaskClient, auditor: User) -> None:
    client.get("/login")
    with client.session_transaction() as session:
        session["sid"] = "attacker-chosen"
        session["planted"] = "by an attacker"
    before = _cookie(client)
    assert login(client, "aud").status_code == 302
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["sid"] != "attacker-chosen"
    assert _cookie(client) != before
    assert _signed_in(client)


def test_two_sign_ins_get_different_session_ids(app: Flask, auditor: User) -> None:
    ids = []
    for _ in range(2):
        client = app.test_client()
        login(client, "aud")
        with client.session_transaction() as session:
            ids.append(session["sid"])
    assert ids[0] != ids[1]


def test_logout_invalidates_the_session_on_the_server(
    app: Flask, client: FlaskClient, auditor: User
) -> None:
    login(client, "aud")
    stolen = _cookie(client)
    response = client.post("/logout", data={"csrf_token": csrf_token(client, PAGE)})
    assert response.status_code == 302
    assert not _signed_in(client)
    # Replaying a copy of the cookie taken before sign-out signs no one in.
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    response = thief.get(PAGE)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def _age_session(client: FlaskClient, *, idle: float = 0, since_sign_in: float = 0) -> None:
    now = dt.datetime.now(dt.UTC).timestamp()
    with client.session_transaction() as session:
        session["last_seen"] = now - idle
        session["signed_in_at"] = now - since_sign_in


def test_idle_timeout_after_30_minutes(
    app: Flask, client: FlaskClient, auditor: User, db_session: Session
) -> None:
    assert app.config["SW_MIS"].session_idle_minutes == 30
    login(client, "aud")
    _age_session(client, idle=29 * 60)
    assert _signed_in(client)  # 29 idle minutes: still in, and the clock restarts
    _age_session(client, idle=30 * 60 + 5)
    response = client.get(PAGE)
    assert response.status_code == 302
    assert "expired=1" in response.headers["Location"]
    assert not _signed_in(client)
    # The server-side session ended too.
    rows = db_session.scalars(select(ApiToken).where(ApiToken.user_id == auditor.id)).all()
    assert rows and all(r.revoked_at is not None for r in rows)


def test_keepalive_keeps_an_idle_clerk_signed_in(client: FlaskClient, auditor: User) -> None:
    login(client, "aud")
    token = csrf_token(client, PAGE)
    _age_session(client, idle=29 * 60)
    response = client.post("/session/keepalive", headers={"X-CSRFToken": token})
    assert response.status_code == 200 and response.json["idle_minutes"] == 30
    with client.session_transaction() as session:
        assert dt.datetime.now(dt.UTC).timestamp() - session["last_seen"] < 60


def test_absolute_limit_ends_even_an_active_session(client: FlaskClient, auditor: User) -> None:
    login(client, "aud")
    _age_session(client, idle=10, since_sign_in=12 * 3600 + 5)
    response = client.get(PAGE)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_page_warns_a_minute_before_the_idle_timeout(
    client: FlaskClient, auditor: User
) -> None:
    login(client, "aud")
    html = client.get(PAGE).get_data(as_text=True)
    assert 'data-idle-minutes="30"' in html and 'id="idle-warning"' in html
    assert 'data-keepalive-url="/session/keepalive"' in html


def _set_cookie_header(client: FlaskClient, auditor: User) -> SimpleCookie:
    response = login(client, "aud")
    header = next(v for k, v in response.headers.items() if k == "Set-Cookie")
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    return jar


def test_session_cookie_is_httponly_and_samesite(client: FlaskClient, auditor: User) -> None:
    morsel = _set_cookie_header(client, auditor)["session"]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert not morsel["secure"]  # testing runs over plain HTTP


PRODUCTION = {
    "SW_MIS_ENV": "production",
    "SW_MIS_SECRET_KEY": "p" * 48,
    "SW_MIS_REFERRAL_KEYS": "k1:production-signing-key",
}


def test_production_cookies_are_secure(engine, database_url: str) -> None:  # type: ignore[no-untyped-def]
    app = create_app({**PRODUCTION, "SW_MIS_DATABASE_URL": database_url}, engine=engine)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


@pytest.mark.parametrize("secret", ["", "too-short"])
def test_production_refuses_to_start_without_a_secret_key(secret: str) -> None:
    env = {**PRODUCTION, "SW_MIS_SECRET_KEY": secret}
    with pytest.raises(ConfigError, match="SW_MIS_SECRET_KEY"):
        Settings.from_env(env)
    with pytest.raises(ConfigError, match="SW_MIS_SECRET_KEY"):
        create_app(env)


def test_a_disabled_user_is_signed_out_at_once(
    client: FlaskClient, auditor: User, db_session: Session
) -> None:
    login(client, "aud")
    auditor.active = False
    db_session.flush()
    assert not _signed_in(client)
