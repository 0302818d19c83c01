"""Test helpers for features behind sign-in: users per role, sign-in through the real forms.

Imported by test suites only (like ``flask.testing``), never by the application. Passwords are
hashed once per process, so a test can create a user per role without paying argon2 each time.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sw_mis.auth.models import ROLES, Area, Office, OfficeArea, User
from sw_mis.auth.passwords import hash_password

#: The password every helper-made user has (long enough for the password policy).
PASSWORD = "correct horse battery staple"  # noqa: S105 - a test fixture, not a secret
#: Roles that see every office's households and need no office.
NO_OFFICE_ROLES = frozenset({"admin", "auditor"})

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


@functools.cache
def _password_hash(password: str) -> str:
    return hash_password(password)


def make_test_office(
    session: Session, code: str = "T-OFFICE", country: str = "SV", area_code: str = "SV-T1"
) -> Office:
    """Return an office covering one test area (both created when missing)."""
    if session.get(Area, area_code) is None:
        session.add(Area(code=area_code, country=country, level=1, name=f"Test {area_code}"))
        session.flush()
    office = session.scalar(select(Office).where(Office.code == code))
    if office is None:
        office = Office(code=code, name=f"Office {code}", country=country)
        office.areas.append(OfficeArea(area_code=area_code))
        session.add(office)
        session.flush()
    return office


def make_test_user(
    session: Session,
    role: str,
    *,
    username: str | None = None,
    office: Office | None = None,
    password: str = PASSWORD,
    active: bool = True,
) -> User:
    """Create a user of ``role`` (office-bound roles get ``office`` or the test office)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if office is None and role not in NO_OFFICE_ROLES:
        office = make_test_office(session)
    user = User(
        username=username or f"test-{role}",
        full_name=f"Test {role}",
        password_hash=_password_hash(password),
        role=role,
        office=office,
        active=active,
    )
    session.add(user)
    session.flush()
    return user


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """Return the CSRF token of the form on the page at ``path``."""
    html = client.get(path).get_data(as_text=True)
    match = _CSRF.search(html)
    if match is None:
        raise AssertionError(f"no csrf_token field on {path}")
    return match.group(1) or match.group(2)


def login(client: FlaskClient, username: str, password: str = PASSWORD, **kwargs: Any) -> Any:
    """Sign in through the real form (with its CSRF token); return the response."""
    data = {"username": username, "password": password}
    if client.application.config.get("WTF_CSRF_ENABLED", True):
        data["csrf_token"] = csrf_token(client)
    return client.post("/login", data=data, **kwargs)


def api_token(client: FlaskClient, username: str, password: str = PASSWORD) -> str:
    """Return a bearer token from ``POST /api/v1/auth/token``."""
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    if response.status_code != 201:
        raise AssertionError(f"token request failed: {response.status_code} {response.json}")
    return str(response.json["token"])


def bearer(token: str) -> dict[str, str]:
    """Return the Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}
