"""The households API beyond create/read: removing members by PATCH, life events, enrolments.

Every write answers with what is now stored (and the new version); a refusal writes nothing,
with messages under flat field paths; a stale version is a 409; another office's household is
a 404.
"""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from factories import api_headers, default_areas, make_household, make_office, make_user
from sqlalchemy import func, select

from sw_mis.audit.models import AuditEvent
from sw_mis.registry.models import ChangeRecord, Enrolment, Household, Member


@pytest.fixture
def clerk(db_session):
    return make_user(db_session, "clerk")


@pytest.fixture
def headers(client, clerk):
    return api_headers(client, clerk)


@pytest.fixture
def household(client, headers):
    """A household of three registered through the API: head Amina, spouse Tariq, child Bilal."""
    body = {
        "consent_given": True,
        "admin1": "PK-PB",
        "admin2": "PK-PB-LHR",
        "members": [
            {
                "given_name": "Amina",
                "family_name": "Bibi",
                "sex": "female",
                "date_of_birth": "1980-05-17",
                "relationship_to_head": "head",
            },
            {
                "given_name": "Tariq",
                "family_name": "Khan",
                "sex": "male",
                "date_of_birth": "1978-02-01",
                "relationship_to_head": "spouse",
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
    response = client.post("/api/v1/households", json=body, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def ids(household: dict) -> dict[str, int]:
    return {m["given_name"]: m["id"] for m in household["members"]}


def snapshot(db_session) -> tuple[int, ...]:
    """Return counts that any write changes: versions, present members, history, enrolments."""
    db_session.expire_all()
    return (
        db_session.scalar(select(func.sum(Household.version))) or 0,
        db_session.scalar(select(func.count()).where(Member.status == "present")) or 0,
        db_session.scalar(select(func.count(Member.id))) or 0,
        db_session.scalar(select(func.count(ChangeRecord.id))) or 0,
        db_session.scalar(select(func.count(Enrolment.id))) or 0,
    )


def actions(db_session) -> list[str]:
    return list(db_session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def history(db_session, ref: str) -> list[ChangeRecord]:
    household = db_session.scalar(select(Household).where(Household.ref == ref))
    return list(
        db_session.scalars(
            select(ChangeRecord)
            .where(ChangeRecord.household_id == household.id)
            .order_by(ChangeRecord.id)
        )
    )


# --- PATCH: removing members --------------------------------------------------------------


def test_patch_removes_members_with_a_reason_and_keeps_them(client, headers, household, db_session):
    url = f"/api/v1/households/{household['ref']}"
    member = ids(household)
    patch = {
        "version": 1,
        "members_removed": [
            {"id": member["Bilal"], "reason": "left", "note": "Moved to Lahore for work"},
            {"id": member["Tariq"], "reason": "died", "date": "2025-01-03"},
        ],
    }
    response = client.patch(url, json=patch, headers=headers)
    assert response.status_code == 200, response.json
    data = response.json
    assert data["version"] == 2
    by_name = {m["given_name"]: m for m in data["members"]}
    assert by_name["Bilal"]["status"] == "left"
    assert by_name["Bilal"]["status_reason"] == "Moved to Lahore for work"
    assert by_name["Bilal"]["status_date"] == dt.date.today().isoformat()
    assert (
        by_name["Tariq"]["status"] == "deceased" and by_name["Tariq"]["status_date"] == "2025-01-03"
    )
    assert by_name["Amina"]["status"] == "present"
    records = {(r.action, r.member_id): r for r in history(db_session, household["ref"])}
    assert records[("member.leave", member["Bilal"])].reason == "Moved to Lahore for work"
    assert records[("death", member["Tariq"])].changes["status"] == ["present", "deceased"]
    event = db_session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "household.update")
        .order_by(AuditEvent.id.desc())
    )
    assert sorted(event.details["members_removed"]) == sorted([member["Bilal"], member["Tariq"]])
    # The record is kept: a later GET still lists them, with their status.
    again = client.get(url, headers=headers).json
    assert {m["given_name"]: m["status"] for m in again["members"]}["Tariq"] == "deceased"


def test_removing_the_head_needs_a_new_head_in_the_same_patch(
    client, headers, household, db_session
):
    url = f"/api/v1/households/{household['ref']}"
    member = ids(household)
    before = snapshot(db_session)
    alone = {"version": 1, "members_removed": [{"id": member["Amina"], "reason": "died"}]}
    response = client.patch(url, json=alone, headers=headers)
    assert response.status_code == 422, response.json
    assert "head of the household" in response.json["errors"]["members_removed.0.id"][0]
    assert snapshot(db_session) == before
    with_head = {
        **alone,
        "members": [{"id": member["Tariq"], "relationship_to_head": "head"}],
    }
    response = client.patch(url, json=with_head, headers=headers)
    assert response.status_code == 200, response.json
    by_name = {m["given_name"]: m for m in response.json["members"]}
    assert by_name["Amina"]["status"] == "deceased"
    assert by_name["Tariq"]["relationship_to_head"] == "head"


@pytest.mark.parametrize(
    ("removals", "path"),
    [
        ([{"id": 999999, "reason": "left"}], "members_removed.0.id"),
        ([{"id": "Bilal", "reason": "moved"}], "members_removed.0.reason"),
        ([{"id": "Bilal", "reason": "left", "date": "2999-01-01"}], "members_removed.0.date"),
        ([{"id": "Bilal", "reason": "died", "date": "2000-01-01"}], "members_removed.0.date"),
        ([{"id": "Bilal", "reason": "left", "date": "2025-02-30"}], "members_removed.0.date"),
        ([{"id": "Bilal"}], "members_removed.0.reason"),
        ([{"id": "Bilal", "reason": "left", "colour": "red"}], "members_removed.0.colour"),
        (
            [{"id": "Bilal", "reason": "left"}, {"id": "Bilal", "reason": "died"}],
            "members_removed.1.id",
        ),
        (
            [{"id": n, "reason": "left"} for n in ("Amina", "Tariq", "Bilal")],
            "members_removed",
        ),
    ],
)
def test_bad_removals_are_422_with_flat_paths_and_nothing_written(
    client, headers, household, db_session, removals, path
):
    member = ids(household)
    removals = copy.deepcopy(removals)  # the parameters serve both databases
    for removal in removals:
        if isinstance(removal.get("id"), str):
            removal["id"] = member[removal["id"]]
    before = snapshot(db_session)
    response = client.patch(
        f"/api/v1/households/{household['ref']}",
        json={"version": 1, "rooms": 3, "members_removed": removals},
        headers=headers,
    )
    assert response.status_code == 422, response.json
    assert path in response.json["errors"], response.json
    assert snapshot(db_session) == before


def test_a_member_cannot_be_changed_and_removed_at_once(client, headers, household, db_session):
    member = ids(household)
    before = snapshot(db_session)
    response = client.patch(
        f"/api/v1/households/{household['ref']}",
        json={
            "version": 1,
            "members": [{"id": member["Bilal"], "school_enrolled": True}],
            "members_removed": [{"id": member["Bilal"], "reason": "left"}],
        },
        headers=headers,
    )
    assert response.status_code == 422
    assert "members_removed.0.id" in response.json["errors"]
    assert snapshot(db_session) == before


def test_removal_on_a_stale_version_is_409_and_writes_nothing(
    client, headers, household, db_session
):
    url = f"/api/v1/households/{household['ref']}"
    member = ids(household)
    assert client.patch(url, json={"version": 1, "rooms": 2}, headers=headers).status_code == 200
    before = snapshot(db_session)
    stale = {"version": 1, "members_removed": [{"id": member["Bilal"], "reason": "left"}]}
    response = client.patch(url, json=stale, headers=headers)
    assert response.status_code == 409 and "version" in response.json["errors"]
    assert snapshot(db_session) == before


# --- life events --------------------------------------------------------------------------


def post_event(client, headers, ref, **body):
    return client.post(f"/api/v1/households/{ref}/events", json=body, headers=headers)


def test_birth_adds_a_child(client, headers, household, db_session):
    response = post_event(
        client,
        headers,
        household["ref"],
        type="birth",
        version=1,
        member={
            "given_name": "Zara",
            "family_name": "Khan",
            "sex": "female",
            "date_of_birth": "2025-01-10",
        },
    )
    assert response.status_code == 201, response.json
    data = response.json
    assert data["type"] == "birth" and data["household"]["version"] == 2
    zara = next(m for m in data["household"]["members"] if m["id"] == data["member_id"])
    assert zara["given_name"] == "Zara" and zara["relationship_to_head"] == "child"
    assert "household.birth" in actions(db_session)
    assert history(db_session, household["ref"])[-1].action == "birth"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"type": "birth", "version": 1}, "member"),
        ({"type": "birth", "version": 1, "member": {"given_name": "Zara"}}, "member.date_of_birth"),
        (
            {
                "type": "birth",
                "version": 1,
                "member": {"given_name": "Zara", "date_of_birth": "2999-01-01"},
            },
            "member.date_of_birth",
        ),
        (
            {
                "type": "birth",
                "version": 1,
                "member": {
                    "given_name": "Zara",
                    "date_of_birth": "2025-01-01",
                    "relationship_to_head": "head",
                },
            },
            "member.relationship_to_head",
        ),
        (
            {"type": "birth", "version": 1, "member_id": 1, "member": {"given_name": "Z"}},
            "member_id",
        ),
        ({"type": "death", "version": 1}, "member_id"),
        ({"type": "death", "version": 1, "member_id": 999999}, "member_id"),
        ({"type": "death", "version": 1, "member_id": "Bilal", "date": "2999-01-01"}, "date"),
        ({"type": "death", "version": 1, "member_id": "Bilal", "date": "2001-01-01"}, "date"),
        ({"type": "leave", "version": 1, "member_id": "Amina"}, "new_head_id"),
        ({"type": "leave", "version": 1, "member_id": "Bilal", "reason": "x" * 300}, "reason"),
        ({"type": "join", "version": 1}, "member"),
        (
            {"type": "join", "version": 1, "date": "2025-01-01", "member": {"given_name": "S"}},
            "date",
        ),
        (
            {"type": "join", "version": 1, "member": {"given_name": "Sana"}},
            "member.relationship_to_head",
        ),
        ({"type": "join", "version": 1, "from_ref": "PK-000000000"}, "from_member_id"),
        (
            {"type": "join", "version": 1, "from_ref": "PK-000000000", "from_member_id": 1},
            "from_ref",
        ),
        ({"type": "move", "version": 1, "admin1": "PK-PB", "admin2": "PK-XX-NOPE"}, "admin2"),
        ({"type": "move", "version": 1, "member_id": 1}, "member_id"),
        ({"type": "wedding", "version": 1}, "type"),
        ({"type": "birth"}, "version"),
    ],
)
def test_bad_events_are_422_with_flat_paths_and_nothing_written(
    client, headers, household, db_session, body, path
):
    member = ids(household)
    body = copy.deepcopy(body)  # the parameters serve both databases
    if isinstance(body.get("member_id"), str):
        body["member_id"] = member[body["member_id"]]
    before = snapshot(db_session)
    response = post_event(client, headers, household["ref"], **body)
    assert response.status_code == 422, response.json
    assert path in response.json["errors"], response.json
    assert snapshot(db_session) == before


def test_death_of_the_head_names_the_new_head(client, headers, household, db_session):
    member = ids(household)
    response = post_event(
        client,
        headers,
        household["ref"],
        type="death",
        version=1,
        member_id=member["Amina"],
        date="2025-03-01",
        new_head_id=member["Tariq"],
        reason="Illness",
    )
    assert response.status_code == 201, response.json
    by_id = {m["id"]: m for m in response.json["household"]["members"]}
    assert response.json["member_id"] == member["Amina"]
    assert by_id[member["Amina"]]["status"] == "deceased"
    assert by_id[member["Amina"]]["status_date"] == "2025-03-01"
    assert by_id[member["Tariq"]]["relationship_to_head"] == "head"
    assert "household.death" in actions(db_session)


def test_a_member_leaves_and_joins_another_household(client, headers, household, db_session, clerk):
    member = ids(household)
    other = make_household(db_session, clerk)
    response = post_event(
        client,
        headers,
        other.ref,
        type="join",
        version=other.version,
        from_ref=household["ref"],
        from_member_id=member["Bilal"],
        relationship_to_head="other_relative",
        date="2025-04-01",
    )
    assert response.status_code == 201, response.json
    joined = next(
        m for m in response.json["household"]["members"] if m["id"] == response.json["member_id"]
    )
    assert joined["given_name"] == "Bilal" and joined["relationship_to_head"] == "other_relative"
    source = client.get(f"/api/v1/households/{household['ref']}", headers=headers).json
    gone = next(m for m in source["members"] if m["id"] == member["Bilal"])
    assert gone["status"] == "left" and other.ref in gone["status_reason"]
    response = post_event(
        client,
        headers,
        other.ref,
        type="leave",
        version=response.json["household"]["version"],
        member_id=joined["id"],
    )
    assert response.status_code == 201, response.json


def test_a_new_person_joins(client, headers, household):
    response = post_event(
        client,
        headers,
        household["ref"],
        type="join",
        version=1,
        member={
            "given_name": "Sana",
            "family_name": "Bibi",
            "relationship_to_head": "other_relative",
        },
    )
    assert response.status_code == 201, response.json
    assert len(response.json["household"]["members"]) == 4


def test_move_within_the_office_and_to_another(client, headers, household, db_session):
    default_areas(db_session)
    response = post_event(
        client,
        headers,
        household["ref"],
        type="move",
        version=1,
        admin1="PK-PB",
        admin2="PK-PB-LHR",
        admin3="PK-PB-LHR-1",
        locality="Shadman",
        reason="New house",
    )
    assert response.status_code == 201, response.json
    assert response.json["member_id"] is None
    assert response.json["household"]["admin3"] == "PK-PB-LHR-1"
    assert response.json["household"]["locality"] == "Shadman"
    make_office(db_session, "SD-01", ["PK-SD"])
    before = snapshot(db_session)
    away = post_event(
        client,
        headers,
        household["ref"],
        type="move",
        version=2,
        admin1="PK-SD",
        admin2="PK-SD-KHI",
    )
    assert away.status_code == 403  # a clerk cannot hand a household to another office
    assert snapshot(db_session) == before


def test_events_on_a_stale_version_are_409_and_write_nothing(
    client, headers, household, db_session
):
    member = ids(household)
    before = snapshot(db_session)
    response = post_event(
        client, headers, household["ref"], type="leave", version=7, member_id=member["Bilal"]
    )
    assert response.status_code == 409 and "version" in response.json["errors"]
    assert snapshot(db_session) == before


def test_events_on_a_merged_household_are_409(client, headers, household, db_session):
    row = db_session.scalar(select(Household).where(Household.ref == household["ref"]))
    row.status = "merged"
    db_session.flush()
    member = ids(household)
    response = post_event(
        client,
        headers,
        household["ref"],
        type="leave",
        version=row.version,
        member_id=member["Bilal"],
    )
    assert response.status_code == 409
    assert "merged" in response.json["errors"]["version"][0]


# --- enrolments ---------------------------------------------------------------------------


def test_enrolments_are_recorded_and_listed(client, headers, household, db_session):
    url = f"/api/v1/households/{household['ref']}/enrolments"
    assert client.get(url, headers=headers).json == {"items": []}
    member = ids(household)
    body = {
        "version": 1,
        "scheme_id": "pk-bisp-kafaalat",
        "status": "active",
        "start_date": "2024-01-01",
        "end_date": "2027-12-31",
        "member_id": member["Amina"],
    }
    response = client.post(url, json=body, headers=headers)
    assert response.status_code == 201, response.json
    created = response.json
    assert created["scheme_id"] == "pk-bisp-kafaalat" and created["member_id"] == member["Amina"]
    assert created["household_version"] == 2
    household_level = {"version": 2, "scheme_id": "pk-zakat-guzara-allowance", "status": "exited"}
    assert client.post(url, json=household_level, headers=headers).status_code == 201
    listed = client.get(url, headers=headers).json["items"]
    assert [(e["scheme_id"], e["member_id"], e["status"]) for e in listed] == [
        ("pk-bisp-kafaalat", member["Amina"], "active"),
        ("pk-zakat-guzara-allowance", None, "exited"),
    ]
    assert [r.action for r in history(db_session, household["ref"])][-2:] == [
        "enrolment.add",
        "enrolment.add",
    ]
    assert actions(db_session).count("household.enrolment_add") == 2
    assert "household.view" in actions(db_session)  # the list is a read of the record
    read = client.get(f"/api/v1/households/{household['ref']}", headers=headers).json
    assert len(read["enrolments"]) == 2 and read["version"] == 3


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"scheme_id": ""}, "scheme_id"),
        ({"scheme_id": None}, "scheme_id"),
        ({"status": "pending"}, "status"),
        ({"start_date": "2025-05-01", "end_date": "2025-01-01"}, "end_date"),
        ({"start_date": "2999-01-01"}, "start_date"),
        ({"member_id": 999999}, "member_id"),
        ({"household": "x"}, "household"),
        ({"version": None}, "version"),
    ],
)
def test_bad_enrolments_are_422_and_write_nothing(
    client, headers, household, db_session, change, path
):
    body = {"version": 1, "scheme_id": "pk-bisp-kafaalat", **change}
    before = snapshot(db_session)
    response = client.post(
        f"/api/v1/households/{household['ref']}/enrolments", json=body, headers=headers
    )
    assert response.status_code == 422, response.json
    assert path in response.json["errors"], response.json
    assert snapshot(db_session) == before


def test_enrolment_on_a_stale_version_is_409(client, headers, household, db_session):
    before = snapshot(db_session)
    response = client.post(
        f"/api/v1/households/{household['ref']}/enrolments",
        json={"version": 9, "scheme_id": "pk-bisp-kafaalat"},
        headers=headers,
    )
    assert response.status_code == 409
    assert snapshot(db_session) == before


# --- roles and offices --------------------------------------------------------------------


def test_roles_match_the_counter_screens(client, db_session, household):
    officer = api_headers(client, make_user(db_session, "programme_officer"))
    auditor = api_headers(client, make_user(db_session, "auditor"))
    ref = household["ref"]
    for who in (officer, auditor):
        assert client.get(f"/api/v1/households/{ref}/enrolments", headers=who).status_code == 200
        enrol = {"version": 1, "scheme_id": "pk-bisp-kafaalat"}
        response = client.post(f"/api/v1/households/{ref}/enrolments", json=enrol, headers=who)
        assert response.status_code == 403
        birth = {
            "type": "birth",
            "version": 1,
            "member": {"given_name": "Zara", "date_of_birth": "2025-01-01"},
        }
        assert post_event(client, who, ref, **birth).status_code == 403
    assert client.get(f"/api/v1/households/{ref}/enrolments").status_code == 401


def test_another_offices_household_is_404_everywhere(client, db_session, headers):
    default_areas(db_session)
    sindh_clerk = make_user(db_session, "clerk", make_office(db_session, "SD-01", ["PK-SD"]))
    theirs = make_household(db_session, sindh_clerk)
    mine = make_household(db_session, make_user(db_session, "clerk"))
    before = snapshot(db_session)
    base = f"/api/v1/households/{theirs.ref}"
    birth = {
        "type": "birth",
        "version": 1,
        "member": {"given_name": "Zara", "date_of_birth": "2025-01-01"},
    }
    assert client.post(f"{base}/events", json=birth, headers=headers).status_code == 404
    assert client.get(f"{base}/enrolments", headers=headers).status_code == 404
    enrol = {"version": 1, "scheme_id": "pk-bisp-kafaalat"}
    assert client.post(f"{base}/enrolments", json=enrol, headers=headers).status_code == 404
    removal = {"version": 1, "members_removed": [{"id": theirs.members[1].id, "reason": "left"}]}
    assert client.patch(base, json=removal, headers=headers).status_code == 404
    # Joining someone from a household the clerk cannot see: refused like a wrong reference.
    join = {
        "type": "join",
        "version": mine.version,
        "from_ref": theirs.ref,
        "from_member_id": theirs.members[1].id,
    }
    response = client.post(f"/api/v1/households/{mine.ref}/events", json=join, headers=headers)
    assert response.status_code == 422 and "from_ref" in response.json["errors"]
    assert snapshot(db_session) == before


def test_openapi_documents_the_new_operations(client):
    spec = client.get("/api/v1/openapi.json").json
    events = spec["paths"]["/api/v1/households/{ref}/events"]["post"]
    assert set(events["responses"]) >= {"201", "401", "403", "404", "409", "422"}
    enrolments = spec["paths"]["/api/v1/households/{ref}/enrolments"]
    assert set(enrolments) >= {"get", "post"}
    schemas = spec["components"]["schemas"]
    assert {"LifeEvent", "LifeEventOut", "EnrolmentCreate", "MemberRemoval"} <= set(schemas)
    assert "members_removed" in schemas["HouseholdPatch"]["properties"]
    assert schemas["LifeEvent"]["properties"]["type"]["enum"] == [
        "birth",
        "death",
        "leave",
        "join",
        "move",
    ]
