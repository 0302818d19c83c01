"""Registry refusals in the user's language: next to the form's fields and in API 422 bodies.

The field paths and the shape of the API's errors never change with the language; outside a
request (the CLI, background jobs) the messages stay English.
"""

from __future__ import annotations

import re

import pytest
from factories import api_headers, csrf_token, login, make_user
from flask import Flask
from sqlalchemy.orm import Session

from sw_mis.auth.models import User
from sw_mis.registry.validation import clean_date


def speaking(db_session: Session, language: str, role: str = "clerk") -> User:
    user = make_user(db_session, role)
    user.language = language
    db_session.flush()
    return user


def register_form(client, **extra: str) -> dict[str, str]:
    data = {
        "csrf_token": csrf_token(client, "/households/new"),
        "admin1": "PK-PB",
        "admin2": "PK-PB-LHR",
        "admin3": "",
        "area_type": "urban",
        "locality": "Model Town",
        "members-0-given_name": "Amina",
        "members-0-family_name": "Bibi",
        "members-0-sex": "female",
        "members-0-date_of_birth": "1980-05-17",
        "members-0-relationship_to_head": "head",
        "members-1-given_name": "Bilal",
        "members-1-family_name": "Khan",
        "members-1-sex": "male",
        "members-1-date_of_birth": "2999-01-01",
        "members-1-relationship_to_head": "child",
        "save": "Save household",
    }
    data.update(extra)
    return data


def field_error(html: str, field_id: str) -> str:
    """Return the text of the error shown next to the field ``field_id``."""
    found = re.search(rf'id="{re.escape(field_id)}-err"[^>]*>(.*?)</', html, re.S)
    assert found, f"no error next to {field_id}"
    return found.group(1).strip()


def test_a_french_clerk_reads_registration_errors_in_french_next_to_the_fields(
    client, db_session
) -> None:
    login(client, speaking(db_session, "fr"))
    response = client.post("/households/new", data=register_form(client))  # no consent
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error(html, "members-1-date_of_birth") == "Cette date est dans le futur."
    assert "Le consentement au traitement des données est obligatoire" in html
    assert "This date is in the future." not in html and "Consent to data" not in html


@pytest.fixture
def french_api(client, db_session) -> dict[str, str]:
    return api_headers(client, speaking(db_session, "fr"))


def household_body(**member: object) -> dict[str, object]:
    head = {
        "given_name": "Amina",
        "family_name": "Bibi",
        "sex": "female",
        "date_of_birth": "1980-05-17",
        "relationship_to_head": "head",
        **member,
    }
    return {"consent_given": True, "admin1": "PK-PB", "admin2": "PK-PB-LHR", "members": [head]}


def test_api_422_bodies_keep_their_paths_and_speak_french(client, french_api) -> None:
    # A service message, built in the request.
    response = client.post(
        "/api/v1/households", json=household_body(date_of_birth="2999-01-01"), headers=french_api
    )
    assert response.status_code == 422
    assert response.json == {
        "errors": {"members.0.date_of_birth": ["Cette date est dans le futur."]}
    }
    # Schema messages are defined at import (lazy): they come out as text, under the same paths.
    body = household_body(sex="robot")
    del body["members"][0]["given_name"]  # type: ignore[index]
    response = client.post("/api/v1/households", json=body, headers=french_api)
    assert response.status_code == 422
    errors = response.json["errors"]
    assert errors["members.0.given_name"] == ["Saisissez le prénom."]
    (choose,) = errors["members.0.sex"]
    assert choose.startswith("Choisissez parmi : ") and "Femme" in choose
    assert all(isinstance(m, str) for messages in errors.values() for m in messages)


def test_business_rules_and_conflicts_speak_french(client, french_api) -> None:
    created = client.post("/api/v1/households", json=household_body(), headers=french_api)
    assert created.status_code == 201, created.json
    url = f"/api/v1/households/{created.json['ref']}"
    head = created.json["members"][0]["id"]
    response = client.patch(
        url, json={"version": 1, "members_removed": [{"id": head, "reason": "died"}]},
        headers=french_api,
    )  # fmt: skip
    assert response.status_code == 422
    assert response.json["errors"] == {
        "members_removed": ["Au moins un membre doit rester dans le ménage."]
    }
    assert client.patch(url, json={"version": 1, "rooms": 2}, headers=french_api).status_code == 200
    stale = client.patch(url, json={"version": 1, "rooms": 3}, headers=french_api)
    assert stale.status_code == 409
    (conflict,) = stale.json["errors"]["version"]
    assert conflict.startswith("Ce ménage a été modifié par quelqu\u2019un d\u2019autre")
    assert "version 1" in conflict and "version 2" in conflict


def test_urdu_clerks_read_urdu(client, db_session) -> None:
    headers = api_headers(client, speaking(db_session, "ur"))
    response = client.post(
        "/api/v1/households", json=household_body(date_of_birth="2999-01-01"), headers=headers
    )
    assert response.json["errors"]["members.0.date_of_birth"] == ["یہ تاریخ مستقبل میں ہے\u06d4"]


def test_without_a_request_the_messages_stay_english(app: Flask) -> None:
    assert clean_date("2999-01-01")[1] == "This date is in the future."
    with app.app_context():  # as the CLI and background jobs run
        assert clean_date("2999-01-01")[1] == "This date is in the future."
