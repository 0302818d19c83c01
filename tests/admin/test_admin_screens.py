"""Admin screens: users, offices and areas; every change audited, role changes security-logged."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sw_mis.audit.models import AuditEvent
from sw_mis.auth.models import Area, Office, User
from sw_mis.auth.passwords import verify_password
from sw_mis.auth.services import UserError, load_areas
from sw_mis.auth.testing import PASSWORD, csrf_token, login, make_test_office, make_test_user

NEW_PASSWORD = "a brand new long password"


@pytest.fixture
def admin(db_session: Session) -> User:
    return make_test_user(db_session, "admin", username="root")


@pytest.fixture
def browser(client: FlaskClient, admin: User) -> FlaskClient:
    assert login(client, admin.username).status_code == 302
    return client


def _post(client: FlaskClient, path: str, data: dict, form_page: str | None = None):  # type: ignore[no-untyped-def]
    token = csrf_token(client, form_page or path)
    return client.post(path, data={**data, "csrf_token": token})


def _events(db: Session, action: str) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_only_admins_reach_the_admin_screens(app: Flask, db_session: Session) -> None:
    clerk = make_test_user(db_session, "clerk")
    client = app.test_client()
    login(client, clerk.username)
    assert client.get("/admin/").status_code == 403
    assert client.get("/admin/users").status_code == 403


def test_admin_lists_and_creates_a_user(browser: FlaskClient, db_session: Session) -> None:
    office = make_test_office(db_session)
    assert "root" in browser.get("/admin/users").get_data(as_text=True)
    response = _post(
        browser,
        "/admin/users/new",
        {
            "username": "clerk7",
            "full_name": "Clerk Seven",
            "role": "clerk",
            "office": office.code,
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "active": "y",
        },
    )
    assert response.status_code == 302
    user = db_session.scalar(select(User).where(User.username == "clerk7"))
    assert user is not None and user.office_id == office.id and user.role == "clerk"
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, NEW_PASSWORD)
    (event,) = _events(db_session, "user.create")
    assert event.username == "root" and event.object_ref == "clerk7"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"password": "short", "confirm": "short"}, "password", "at least 10"),
        ({"confirm": "something else entirely"}, "confirm", "The passwords differ."),
        ({"office": ""}, "office", "must belong to an office"),
        ({"username": "root"}, "username", "already taken"),
        ({"username": "bad name!"}, "username", "letters, digits"),
    ],
)
def test_a_refused_user_form_answers_422_with_the_error_next_to_the_field(
    browser: FlaskClient, db_session: Session, data: dict, field: str, message: str
) -> None:
    office = make_test_office(db_session)
    form = {
        "username": "newbie",
        "role": "clerk",
        "office": office.code,
        "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
        **data,
    }
    response = _post(browser, "/admin/users/new", form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-err"' in html and message in html
    assert db_session.scalar(select(User).where(User.username == "newbie")) is None


def test_role_change_is_audited_security_logged_and_ends_the_users_sessions(
    app: Flask, browser: FlaskClient, db_session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    office = make_test_office(db_session)
    clerk = make_test_user(db_session, "clerk", username="promoted", office=office)
    clerk_browser = app.test_client()
    login(clerk_browser, "promoted")
    assert clerk_browser.get("/admin/").status_code == 403  # signed in, but not an admin
    with caplog.at_level(logging.INFO, logger="sw_mis.security"):
        response = _post(
            browser,
            f"/admin/users/{clerk.id}",
            {"role": "supervisor", "office": office.code, "active": "y", "full_name": "P"},
        )
    assert response.status_code == 302
    db_session.refresh(clerk)
    assert clerk.role == "supervisor"
    (event,) = _events(db_session, "user.update")
    assert event.details["role"] == ["clerk", "supervisor"] and event.object_ref == "promoted"
    (line,) = [r.getMessage() for r in caplog.records if "user.role_change" in r.getMessage()]
    assert line.startswith("at=20")
    assert line.split(" ", 1)[1] == (
        "event=user.role_change user=root addr=127.0.0.1 new=supervisor old=clerk target=promoted"
    )
    # The promoted clerk's old session no longer signs anyone in: new rights need a new sign-in.
    response = clerk_browser.get("/admin/", follow_redirects=False)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_an_admin_cannot_demote_or_disable_themselves(
    browser: FlaskClient, admin: User, db_session: Session
) -> None:
    response = _post(
        browser, f"/admin/users/{admin.id}", {"role": "clerk", "office": "", "active": "y"}
    )
    assert response.status_code == 422
    assert "your own role" in response.get_data(as_text=True)
    db_session.refresh(admin)
    assert admin.role == "admin"


def test_disabling_a_user_stops_their_sign_in(
    app: Flask, browser: FlaskClient, db_session: Session
) -> None:
    user = make_test_user(db_session, "auditor", username="leaver")
    response = _post(browser, f"/admin/users/{user.id}", {"role": "auditor", "office": ""})
    assert response.status_code == 302
    db_session.refresh(user)
    assert user.active is False
    assert login(app.test_client(), "leaver").status_code == 401


def test_admin_resets_a_password(app: Flask, browser: FlaskClient, db_session: Session) -> None:
    user = make_test_user(db_session, "auditor", username="forgetful")
    response = _post(
        browser,
        f"/admin/users/{user.id}/password",
        {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        form_page=f"/admin/users/{user.id}",
    )
    assert response.status_code == 302
    assert login(app.test_client(), "forgetful", PASSWORD).status_code == 401
    assert login(app.test_client(), "forgetful", NEW_PASSWORD).status_code == 302
    assert _events(db_session, "user.password_reset")[0].object_ref == "forgetful"
    response = _post(
        browser,
        f"/admin/users/{user.id}/password",
        {"password": "short", "confirm": "short"},
        form_page=f"/admin/users/{user.id}",
    )
    assert response.status_code == 422
    assert "at least 10" in response.get_data(as_text=True)


def _two_areas(db: Session) -> None:
    load_areas(
        db,
        "SV",
        [
            {"code": "SV-X1", "name": "Provincia Uno", "level": 1},
            {"code": "SV-X1-A", "name": "Distrito A", "level": 2, "parent": "SV-X1"},
        ],
    )
    load_areas(db, "PH", [{"code": "PH-X9", "name": "Region Nine", "level": 1}])


def test_admin_creates_and_edits_an_office_with_covered_areas(
    browser: FlaskClient, db_session: Session
) -> None:
    _two_areas(db_session)
    response = _post(
        browser,
        "/admin/offices/new",
        {"code": "SV-NORTE", "name": "Norte", "country": "SV", "areas": ["SV-X1"]},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    office = db_session.scalar(select(Office).where(Office.code == "SV-NORTE"))
    assert office is not None and office.area_codes == ["SV-X1"]
    assert "SV-X1" in browser.get("/admin/offices").get_data(as_text=True)
    # An area of another country is refused next to the field, and nothing changes.
    response = _post(browser, f"/admin/offices/{office.id}", {"name": "Norte", "areas": ["PH-X9"]})
    assert response.status_code == 422
    response = _post(
        browser,
        f"/admin/offices/{office.id}",
        {"name": "Norte II", "areas": ["SV-X1", "SV-X1-A"]},
    )
    assert response.status_code == 302
    db_session.refresh(office)
    assert office.name == "Norte II" and sorted(office.area_codes) == ["SV-X1", "SV-X1-A"]
    assert [
        e.action
        for e in db_session.scalars(
            select(AuditEvent).where(AuditEvent.object_type == "office").order_by(AuditEvent.id)
        )
    ] == ["office.create", "office.update"]


def test_a_refused_office_form_answers_422(browser: FlaskClient, db_session: Session) -> None:
    _two_areas(db_session)
    response = _post(
        browser, "/admin/offices/new", {"code": "bad code", "name": "", "country": "SV"}
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="code-err"' in html and 'id="name-err"' in html


def test_areas_load_from_the_rule_book_and_list_with_names(
    app: Flask, browser: FlaskClient, db_session: Session
) -> None:
    book = app.extensions["sw_mis.rulebook"]
    countries = [c for c in sorted(book.packs) if book.areas(c)]
    if not countries:
        pytest.skip("no rule pack with an area list is loaded")
    country = countries[0].upper()
    response = _post(browser, "/admin/areas/load", {"country": country}, form_page="/admin/areas")
    assert response.status_code == 302
    expected = {str(a["code"]) for a in book.areas(country)}
    stored = set(db_session.scalars(select(Area.code).where(Area.country == country)))
    assert expected <= stored
    first = book.areas(country)[0]
    html = browser.get(f"/admin/areas?country={country}").get_data(as_text=True)
    assert str(first["name"]) in html
    assert _events(db_session, "areas.load")[0].object_ref == country
    response = _post(browser, "/admin/areas/load", {"country": "ZZ"}, form_page="/admin/areas")
    assert response.status_code == 422


def test_load_areas_is_idempotent_updates_names_and_orders_parents(db_session: Session) -> None:
    areas = [
        {"code": "SV-Q1-A", "name": "Child", "level": 2, "parent": "SV-Q1"},
        {"code": "SV-Q1", "name": "Parent", "level": 1},
    ]
    assert load_areas(db_session, "sv", areas) == (2, 0)
    assert load_areas(db_session, "SV", areas) == (0, 0)
    areas[1]["name"] = "Parent renamed"
    assert load_areas(db_session, "SV", areas) == (0, 1)
    assert db_session.get(Area, "SV-Q1").name == "Parent renamed"  # type: ignore[union-attr]
    with pytest.raises(UserError, match="unknown parent"):
        load_areas(
            db_session, "SV", [{"code": "SV-Q2", "name": "x", "level": 2, "parent": "SV-NOPE"}]
        )
