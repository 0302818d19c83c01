"""The admin and audit screens in the administrator's language: labels, refusals and flashes."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from sw_mis.auth.models import User
from sw_mis.auth.testing import csrf_token, login, make_test_office, make_test_user


@pytest.fixture
def admin(db_session: Session) -> User:
    user = make_test_user(db_session, "admin", username="racine")
    user.language = "fr"
    db_session.flush()
    return user


@pytest.fixture
def browser(client: FlaskClient, admin: User) -> FlaskClient:
    assert login(client, admin.username).status_code == 302
    return client


def _post(client: FlaskClient, path: str, data: dict) -> object:
    return client.post(path, data={**data, "csrf_token": csrf_token(client, path)})


def test_a_french_admin_reads_labels_and_the_flash_in_french(
    browser: FlaskClient, db_session: Session
) -> None:
    make_test_office(db_session, country="SV", area_code="SV-X1")
    page = browser.get("/admin/offices/new").get_data(as_text=True)
    assert "Heures d\u2019ouverture" in page and "Créer le bureau" in page
    assert "Opening hours" not in page
    response = _post(
        browser, "/admin/offices/new", {"code": "SV-NORTE", "name": "Norte", "country": "SV"}
    )
    assert response.status_code == 302  # type: ignore[attr-defined]
    page = browser.get(response.headers["Location"]).get_data(as_text=True)  # type: ignore[attr-defined]
    assert "Bureau SV-NORTE créé." in page


def test_refusals_are_french_next_to_their_field(
    browser: FlaskClient, admin: User, db_session: Session
) -> None:
    office = make_test_office(db_session)
    form = {"username": "newbie", "role": "clerk", "office": "", "active": "y"}
    response = _post(browser, "/admin/users/new", {**form, "password": "short", "confirm": "short"})
    html = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert response.status_code == 422  # type: ignore[attr-defined]
    password = re.search(r'id="password-err"[^>]*>(.*?)</', html, re.S)
    assert password and password.group(1) == "Utilisez au moins 10 caractères (et au plus 200)."
    # A service refusal ("field: message") keeps its field and translates its message.
    long_password = "a long enough password"
    response = _post(
        browser, "/admin/users/new", {**form, "password": long_password, "confirm": long_password}
    )
    html = response.get_data(as_text=True)  # type: ignore[attr-defined]
    office_error = re.search(r'id="office-err"[^>]*>(.*?)</', html, re.S)
    assert (
        office_error and office_error.group(1) == "un compte clerk doit être rattaché à un bureau"
    )
    response = _post(
        browser,
        f"/admin/users/{admin.id}",
        {"role": "clerk", "office": office.code, "active": "y"},
    )
    assert "vous ne pouvez pas changer votre propre rôle" in response.get_data(as_text=True)  # type: ignore[attr-defined]


def test_the_audit_screen_labels_are_french(browser: FlaskClient) -> None:
    page = browser.get("/audit/").get_data(as_text=True)
    assert "Référence de la fiche" in page and "Record reference" not in page
    bad = browser.get("/audit/?since=2026-03-09&until=2026-03-01")
    assert bad.status_code == 422
    assert "La date de fin est antérieure à la date de début." in bad.get_data(as_text=True)
