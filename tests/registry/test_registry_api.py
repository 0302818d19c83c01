"""The households API contract: status codes, shapes, flat 422 paths, 409, visibility."""

from __future__ import annotations

import json

import pytest
from factories import api_headers, default_areas, make_household, make_office, make_user
from sqlalchemy import func, select

from sw_mis.registry.models import Household, Member


@pytest.fixture
def clerk(db_session):
    return make_user(db_session, "clerk")


@pytest.fixture
def headers(client, clerk):
    return api_headers(client, clerk)


def body(**overrides):
    """Return a valid JSON household body for the default Punjab office."""
    data = {
        "consent_given": True,
        "admin1": "PK-PB",
        "admin2": "PK-PB-LHR",
        "area_type": "rural",
        "pmt_score": 28.5,
        "has_electricity": None,
        "members": [
            {
                "given_name": "Amina",
                "family_name": "Bibi",
                "sex": "female",
                "date_of_birth": "1980-05-17",
                "relationship_to_head": "head",
                "unable_to_work": True,
            },
            {
                "given_name": "Bilal",
                "family_name": "Khan",
                "sex": "male",
                "date_of_birth": "2012-01-02",
                "relationship_to_head": "child",
            },
        ],
    }
    data.update(overrides)
    return data


def households(db_session) -> tuple[int, int]:
    return (
        db_session.scalar(select(func.count(Household.id))),
        db_session.scalar(select(func.count(Member.id))),
    )


def test_post_answers_201_with_the_household_read_back(client, headers, db_session):
    response = client.post("/api/v1/households", json=body(), headers=headers)
    assert response.status_code == 201, response.json
    data = response.json
    assert data["ref"].startswith("PK-") and data["version"] == 1
    assert [m["given_name"] for m in data["members"]] == ["Amina", "Bilal"]
    assert all(isinstance(m["id"], int) for m in data["members"])
    assert data["pmt_score"] == 28.5 and data["has_electricity"] is None
    assert data["members"][0]["unable_to_work"] is True and data["members"][0]["age"] >= 40
    assert data["country"] == "PK" and data["office_code"] == "PB-01"
    again = client.get(f"/api/v1/households/{data['ref']}", headers=headers)
    assert again.status_code == 200 and again.json["members"] == data["members"]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"members.0.date_of_birth": "2023-02-30"}, "members.0.date_of_birth"),
        ({"members.1.date_of_birth": "2999-01-01"}, "members.1.date_of_birth"),
        ({"members.1.relationship_to_head": "head"}, "members"),
        ({"members.0.relationship_to_head": "child"}, "members"),
        ({"members.0.sex": "robot"}, "members.0.sex"),
        ({"members.0.colour": "blue"}, "members.0.colour"),
        ({"area_type": "suburb"}, "area_type"),
        ({"consent_given": False}, "consent_given"),
        ({"pmt_score": 400}, "pmt_score"),
        ({"rooms": "three"}, "rooms"),
        ({"admin2": "PK-SD-KHI"}, "admin2"),
        ({"members": []}, "members"),
    ],
)
def test_invalid_input_is_422_with_flat_paths_and_nothing_written(
    client, headers, db_session, change, path
):
    data = body()
    for key, value in change.items():
        target = data
        *parents, last = key.split(".")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    before = households(db_session)
    response = client.post("/api/v1/households", json=data, headers=headers)
    assert response.status_code == 422, response.json
    assert path in response.json["errors"], response.json
    assert all(isinstance(m, str) for msgs in response.json["errors"].values() for m in msgs)
    assert households(db_session) == before


def test_missing_consent_field_is_422(client, headers):
    data = body()
    del data["consent_given"]
    response = client.post("/api/v1/households", json=data, headers=headers)
    assert response.status_code == 422
    assert "consent_given" in response.json["errors"]


def test_malformed_and_huge_bodies_are_refused(client, headers, db_session):
    before = households(db_session)
    response = client.post(
        "/api/v1/households",
        data="{not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.json["errors"]
    huge = json.dumps(body(address="x" * (3 * 1024 * 1024)))
    response = client.post(
        "/api/v1/households", data=huge, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413 and "errors" in response.json
    response = client.post("/api/v1/households", json=[1, 2], headers=headers)
    assert response.status_code == 422
    assert households(db_session) == before


def test_html_in_names_is_returned_as_data(client, headers):
    data = body()
    data["members"][0]["given_name"] = "<script>alert(1)</script>"
    response = client.post("/api/v1/households", json=data, headers=headers)
    assert response.status_code == 201
    assert response.json["members"][0]["given_name"] == "<script>alert(1)</script>"
    assert response.content_type == "application/json"


def test_patch_with_current_version_then_stale_version(client, headers):
    created = client.post("/api/v1/households", json=body(), headers=headers).json
    ref, bilal = created["ref"], created["members"][1]["id"]
    url = f"/api/v1/households/{ref}"
    patch = {"version": 1, "rooms": 2, "members": [{"id": bilal, "school_enrolled": True}]}
    response = client.patch(url, json=patch, headers=headers)
    assert response.status_code == 200, response.json
    assert response.json["version"] == 2 and response.json["rooms"] == 2
    assert response.json["members"][1]["school_enrolled"] is True
    assert response.json["pmt_score"] == 28.5  # absent means unchanged
    stale = client.patch(url, json={"version": 1, "rooms": 5}, headers=headers)
    assert stale.status_code == 409
    assert "changed by someone else" in stale.json["errors"]["version"][0]
    assert client.get(url, headers=headers).json["rooms"] == 2


def test_patch_errors(client, headers):
    ref = client.post("/api/v1/households", json=body(), headers=headers).json["ref"]
    url = f"/api/v1/households/{ref}"
    assert client.patch(url, json={"rooms": 2}, headers=headers).status_code == 422
    response = client.patch(
        url, json={"version": 1, "members": [{"id": 999999, "sex": "male"}]}, headers=headers
    )
    assert response.status_code == 422 and "members.0.id" in response.json["errors"]
    response = client.patch(url, json={"version": 1, "pregnant": "maybe"}, headers=headers)
    assert response.status_code == 422 and "pregnant" in response.json["errors"]


def test_list_and_search(client, headers, db_session, clerk):
    for given in ("Muhammad", "Zainab"):
        data = body()
        data["members"][0]["given_name"] = given
        data["members"][0]["family_name"] = "Khan"
        data["members"] = data["members"][:1]
        assert client.post("/api/v1/households", json=data, headers=headers).status_code == 201
    page = client.get("/api/v1/households?page=1&per_page=1", headers=headers).json
    assert page["total"] == 2 and page["per_page"] == 1 and len(page["items"]) == 1
    assert set(page["items"][0]) >= {"ref", "version", "head_name", "members_count"}
    found = client.post(
        "/api/v1/households/search", json={"q": "Mohammad Khan"}, headers=headers
    ).json
    assert [i["head_name"] for i in found["items"]] == ["Muhammad Khan"]
    assert found["page"] == 1 and found["per_page"] == 25 and found["total"] == 1
    bad = client.post("/api/v1/households/search", json={"q": ""}, headers=headers)
    assert bad.status_code == 422 and "q" in bad.json["errors"]
    assert client.get("/api/v1/households?per_page=1000", headers=headers).status_code == 422


def test_another_offices_household_is_404(client, db_session, headers):
    default_areas(db_session)
    sindh_clerk = make_user(db_session, "clerk", make_office(db_session, "SD-01", ["PK-SD"]))
    theirs = make_household(db_session, sindh_clerk)
    response = client.get(f"/api/v1/households/{theirs.ref}", headers=headers)
    assert response.status_code == 404
    missing = client.get("/api/v1/households/PK-000000000", headers=headers)
    assert missing.json == response.json  # the same answer: refs cannot be probed
    patch = client.patch(f"/api/v1/households/{theirs.ref}", json={"version": 1}, headers=headers)
    assert patch.status_code == 404


def test_roles_and_tokens(client, db_session):
    assert client.get("/api/v1/households").status_code == 401
    officer = api_headers(client, make_user(db_session, "programme_officer"))
    assert client.get("/api/v1/households", headers=officer).status_code == 200
    assert client.post("/api/v1/households", json=body(), headers=officer).status_code == 403


def test_national_id_clash_is_422_and_a_supervisor_may_override(client, db_session, headers, clerk):
    data = body()
    data["members"][0]["national_id"] = "35202-1111111-1"
    assert client.post("/api/v1/households", json=data, headers=headers).status_code == 201
    again = client.post("/api/v1/households", json=data, headers=headers)
    assert again.status_code == 422 and "members.0.national_id" in again.json["errors"]
    supervisor = api_headers(client, make_user(db_session, "supervisor", clerk.office))
    data["override_reason"] = "Card reissued after a data-entry mistake"
    assert client.post("/api/v1/households", json=data, headers=supervisor).status_code == 201


def test_openapi_documents_every_status_with_a_schema(client):
    spec = client.get("/api/v1/openapi.json").json
    operations = {
        (path, method): op
        for path, item in spec["paths"].items()
        if path in ("/api/v1/households", "/api/v1/households/search", "/api/v1/households/{ref}")
        for method, op in item.items()
        if method != "parameters"
    }
    assert ("/api/v1/households", "post") in operations
    for (path, method), op in operations.items():
        for code, response in op["responses"].items():
            if code in ("204", "default"):
                continue
            resolved = response
            if "$ref" in response:
                resolved = spec["components"]["responses"][response["$ref"].split("/")[-1]]
            assert "content" in resolved, (path, method, code)


def test_reads_are_audited_without_search_terms(client, headers, db_session):
    from sw_mis.audit.models import AuditEvent

    created = client.post("/api/v1/households", json=body(), headers=headers).json
    client.get(f"/api/v1/households/{created['ref']}", headers=headers)
    client.post("/api/v1/households/search", json={"q": "35202-1234567-1"}, headers=headers)
    events = db_session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    actions = [e.action for e in events]
    assert "household.view" in actions and "household.search" in actions
    search = next(e for e in events if e.action == "household.search")
    assert search.details == {"kind": "national_id", "results": 0}
