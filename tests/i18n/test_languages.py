"""Pages in the user's language: choosing it, switching it, right-to-left Urdu, local formats."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from factories import csrf_token, login, make_user
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale, format_date, format_decimal
from sqlalchemy.orm import Session

from sw_mis.auth.models import User
from sw_mis.eligibility.service import rulebook


def _switch(client: FlaskClient, language: str, back: str = "/login") -> object:
    token = csrf_token(client, back)
    return client.post("/language", data={"language": language, "next": back, "csrf_token": token})


def test_pages_follow_the_users_language(client: FlaskClient, db_session: Session) -> None:
    user = make_user(db_session, "clerk")
    user.language = "fr"
    db_session.flush()
    login(client, user)
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="fr" dir="ltr">' in page
    assert "Ménages" in page and "Se déconnecter" in page
    assert "Households" not in page


def test_switching_language_is_kept_on_the_user(client: FlaskClient, db_session: Session) -> None:
    user = make_user(db_session, "clerk")
    login(client, user)
    response = _switch(client, "pt", back="/")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    db_session.expire_all()
    assert db_session.get(User, user.id).language == "pt"  # type: ignore[union-attr]
    assert "Agregados" in client.get("/").get_data(as_text=True)
    # The next sign-in starts in the chosen language.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert "Iniciar sessão" in client.get("/login").get_data(as_text=True)


def test_anyone_may_switch_the_sign_in_page(client: FlaskClient) -> None:
    response = _switch(client, "ur")
    assert response.status_code == 302
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="ur" dir="rtl">' in page
    assert "bootstrap.rtl.min.css" in page and "bootstrap.min.css" not in page
    assert "سائن ان کریں" in page


def test_the_switcher_refuses_unknown_languages_and_foreign_urls(client: FlaskClient) -> None:
    response = _switch(client, "xx")
    assert response.status_code == 302
    assert '<html lang="en"' in client.get("/login").get_data(as_text=True)
    token = csrf_token(client, "/login")
    response = client.post(
        "/language", data={"language": "fr", "next": "https://evil.example/", "csrf_token": token}
    )
    assert response.headers["Location"] == "/login"


def test_the_switcher_needs_a_csrf_token(client: FlaskClient) -> None:
    assert client.post("/language", data={"language": "fr", "next": "/login"}).status_code == 400


def test_browser_language_is_the_default_before_sign_in(client: FlaskClient) -> None:
    page = client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).get_data(
        as_text=True
    )
    assert '<html lang="fr"' in page and "Se connecter" in page


@pytest.mark.parametrize(
    ("lang", "date_text", "number_text"),
    [
        ("en", "Nov 27, 2026", "1,234,567.5"),
        ("fr", "27 nov. 2026", "1\u202f234\u202f567,5"),
        ("pt", "27 de nov. de 2026", "1.234.567,5"),
        ("ur", "27 نومبر، 2026", "1,234,567.5"),
    ],
)
def test_dates_and_numbers_follow_the_locale(
    app: Flask, lang: str, date_text: str, number_text: str
) -> None:
    with app.test_request_context(), force_locale(lang):
        assert format_date(dt.date(2026, 11, 27)) == date_text
        assert format_decimal(1234567.5) == number_text


def test_pages_format_dates_for_the_locale(client: FlaskClient, db_session: Session) -> None:
    from factories import make_household

    user = make_user(db_session, "clerk")
    user.language = "fr"
    household = make_household(db_session, user)
    db_session.flush()
    login(client, user)
    page = client.get(f"/households/{household.ref}").get_data(as_text=True)
    registered = household.registered_at.date()  # type: ignore[union-attr]
    with client.application.test_request_context(), force_locale("fr"):
        assert format_date(registered) in page
    assert registered.isoformat() not in page


def test_scheme_names_use_the_rule_files_translations(
    client: FlaskClient, db_session: Session
) -> None:
    with client.application.app_context():
        schemes = rulebook().schemes.values()
    translated = [s for s in schemes if "ur" in s.name_i18n]
    if not translated:
        pytest.skip("no rule file carries an Urdu scheme name")
    scheme = translated[0]
    user = make_user(db_session, "clerk")
    user.language = "ur"
    db_session.flush()
    login(client, user)
    page = client.get(f"/schemes/{scheme.id}").get_data(as_text=True)
    assert re.search(rf"<h1[^>]*>{re.escape(scheme.name_i18n['ur'])}</h1>", page)
    user.language = "en"
    db_session.flush()
    assert f">{scheme.name}</h1>" in client.get(f"/schemes/{scheme.id}").get_data(as_text=True)


def test_fact_labels_are_translated_on_the_counter_form(
    client: FlaskClient, db_session: Session
) -> None:
    user = make_user(db_session, "clerk")
    user.language = "fr"
    db_session.flush()
    login(client, user)
    page = client.get("/households/new").get_data(as_text=True)
    assert "Date de naissance" in page and "Enregistrer le ménage" in page
    assert "Date of birth" not in page
