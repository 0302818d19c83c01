"""The API trusts bearer tokens only: expiring, revocable, stored as a digest; never a cookie."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sw_mis.auth.models import ApiToken, User
from sw_mis.auth.services import issue_token
from sw_mis.auth.testing import PASSWORD, api_token, bearer, login, make_test_user

TOKEN_URL = "/api/v1/auth/token"


@pytest.fixture
def clerk(db_session: Session) -> User:
    return make_test_user(db_session, "clerk", username="apiclerk")


def test_token_is_issued_with_expiry_and_only_its_digest_is_stored(
    client: FlaskClient, clerk: User, db_session: Session
) -> None:
    response = client.post(TOKEN_URL, json={"username": "apiclerk", "password": PASSWORD})
    assert response.status_code == 201
    token = response.json["token"]
    expires = dt.datetime.fromisoformat(response.json["expires_at"])
    assert dt.timedelta(hours=7) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=8)
    assert "Set-Cookie" not in response.headers
    rows = db_session.scalars(select(ApiToken).where(ApiToken.user_id == clerk.id)).all()
    assert [r.token_hash for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert all(token not in (r.token_hash or "") for r in rows)


def test_wrong_password_gets_no_token(client: FlaskClient, clerk: User) -> None:
    response = client.post(TOKEN_URL, json={"username": "apiclerk", "password": "wrong" * 3})
    assert response.status_code == 401 and "token" not in response.json


def test_revoked_token_is_refused(client: FlaskClient, clerk: User) -> None:
    token = api_token(client, "apiclerk")
    assert client.delete(TOKEN_URL, headers=bearer(token)).status_code == 204
    assert client.delete(TOKEN_URL, headers=bearer(token)).status_code == 401


def test_expired_token_is_refused(client: FlaskClient, clerk: User, db_session: Session) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=9)
    token, _ = issue_token(db_session, clerk, now=long_ago)
    assert client.delete(TOKEN_URL, headers=bearer(token)).status_code == 401
    fresh, _ = issue_token(db_session, clerk)
    assert client.delete(TOKEN_URL, headers=bearer(fresh)).status_code == 204


def test_a_browser_session_cookie_never_authenticates_the_api(
    app: Flask, client: FlaskClient, clerk: User
) -> None:
    assert login(client, "apiclerk").status_code == 302
    # State-changing and read requests alike: the cookie rides along, and is ignored.
    response = client.delete(TOKEN_URL)
    assert response.status_code == 401
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and "<" not in rule.rule:
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                if rule.endpoint.startswith("api-docs.") or (method, rule.rule) == (
                    "POST",
                    TOKEN_URL,
                ):
                    continue  # public
                response = client.open(rule.rule, method=method, json={})
                assert response.status_code == 401, f"{method} {rule.rule} took the cookie"
                assert "Set-Cookie" not in response.headers


def test_a_session_id_is_not_a_bearer_token(client: FlaskClient, clerk: User) -> None:
    login(client, "apiclerk")
    with client.session_transaction() as session:
        sid = session["sid"]
    assert client.delete(TOKEN_URL, headers=bearer(sid)).status_code == 401


def test_a_token_is_not_a_browser_session(app: Flask, clerk: User) -> None:
    token = api_token(app.test_client(), "apiclerk")
    browser = app.test_client()
    login(browser, "apiclerk")
    with browser.session_transaction() as session:
        session["sid"] = token
    response = browser.get("/audit/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_disabling_a_user_kills_their_tokens(
    client: FlaskClient, clerk: User, db_session: Session
) -> None:
    token = api_token(client, "apiclerk")
    clerk.active = False
    db_session.flush()
    assert client.delete(TOKEN_URL, headers=bearer(token)).status_code == 401


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer ", "Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Bearer not-a-token"]
)
def test_malformed_authorization_is_refused(client: FlaskClient, header: str) -> None:
    assert client.delete(TOKEN_URL, headers={"Authorization": header}).status_code == 401
