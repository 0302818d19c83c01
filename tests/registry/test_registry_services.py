"""Registration, validation, edits with history, optimistic locking and life events."""

from __future__ import annotations

import datetime as dt

import pytest
from factories import (
    default_areas,
    household_data,
    make_area,
    make_household,
    make_office,
    make_user,
    member_data,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sw_mis.audit.models import AuditEvent
from sw_mis.registry import services
from sw_mis.registry.errors import ConflictError, Forbidden, NotFound, ValidationError
from sw_mis.registry.models import ChangeRecord, Enrolment, Household, Member
from sw_mis.registry.refs import is_valid_ref


def counts(session: Session) -> tuple[int, int, int]:
    """Return the number of households, members and change records."""
    return (
        session.scalar(select(func.count(Household.id))) or 0,
        session.scalar(select(func.count(Member.id))) or 0,
        session.scalar(select(func.count(ChangeRecord.id))) or 0,
    )


@pytest.fixture
def clerk(db_session: Session):
    return make_user(db_session, "clerk")


def refused(session: Session, user, data) -> dict[str, list[str]]:
    """Register ``data`` expecting a refusal; check nothing was written; return the errors."""
    before = counts(session)
    with pytest.raises(ValidationError) as info:
        services.register_household(session, user, data, check_likely=False)
    assert counts(session) == before
    return info.value.errors


def test_register_writes_household_members_history_and_audit(db_session, clerk):
    data = household_data(db_session, clerk)
    data["enrolments"] = [{"scheme_id": "pk-bisp-kafaalat", "start_date": "2024-01-01"}]
    household = services.register_household(db_session, clerk, data, check_likely=False)
    assert is_valid_ref(household.ref) and household.ref.startswith("PK-")
    assert household.version == 1
    assert [m.given_name for m in household.members] == ["Amina", "Bilal"]
    assert household.head.given_name == "Amina"
    assert household.office_id == clerk.office_id
    assert household.registered_by_id == clerk.id
    assert household.members[0].name_key
    assert household.enrolments[0].scheme_id == "pk-bisp-kafaalat"
    assert [r.action for r in services.history(db_session, household)] == ["register"]
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.object_ref == household.ref))
    assert event.action == "household.register"


def test_blank_facts_are_stored_as_unknown(db_session, clerk):
    data = household_data(db_session, clerk, has_electricity="", rooms="", pmt_score=None)
    data["members"][0].update(pregnant="", disability_percent="")
    household = services.register_household(db_session, clerk, data, check_likely=False)
    assert household.has_electricity is None and household.rooms is None
    assert household.members[0].pregnant is None
    assert household.members[0].disability_percent is None


def test_bool_facts_accept_yes_no_and_not_known(db_session, clerk):
    data = household_data(db_session, clerk, has_electricity="no", displaced=False)
    data["members"][0]["unable_to_work"] = "yes"
    household = services.register_household(db_session, clerk, data, check_likely=False)
    assert household.has_electricity is False and household.displaced is False
    assert household.members[0].unable_to_work is True


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2023-02-30", "not a real date"),
        ("17/05/1980", "YYYY-MM-DD"),
        ("1850-01-01", "too far in the past"),
    ],
)
def test_impossible_dates_are_refused(db_session, clerk, value, message):
    data = household_data(db_session, clerk)
    data["members"][1]["date_of_birth"] = value
    errors = refused(db_session, clerk, data)
    assert message in errors["members.1.date_of_birth"][0]


def test_future_date_of_birth_is_refused(db_session, clerk):
    data = household_data(db_session, clerk)
    data["members"][0]["date_of_birth"] = dt.date.today() + dt.timedelta(days=1)
    errors = refused(db_session, clerk, data)
    assert errors["members.0.date_of_birth"] == ["This date is in the future."]


def test_two_heads_are_refused(db_session, clerk):
    data = household_data(db_session, clerk)
    data["members"][1]["relationship_to_head"] = "head"
    errors = refused(db_session, clerk, data)
    assert "Exactly one member" in errors["members"][0]
    assert "members.1.relationship_to_head" in errors


def test_no_head_is_refused(db_session, clerk):
    data = household_data(db_session, clerk)
    data["members"][0]["relationship_to_head"] = "spouse"
    errors = refused(db_session, clerk, data)
    assert "none is" in errors["members"][0]


def test_household_without_members_is_refused(db_session, clerk):
    errors = refused(db_session, clerk, household_data(db_session, clerk, members=[]))
    assert errors["members"] == ["A household needs at least one member."]


def test_unknown_enum_values_and_fields_are_refused(db_session, clerk):
    data = household_data(db_session, clerk, area_type="suburban", colour="blue")
    data["members"][0]["sex"] = "robot"
    errors = refused(db_session, clerk, data)
    assert errors["area_type"] == ["Choose one of: Urban, Rural."]
    assert errors["members.0.sex"][0].startswith("Choose one of: Female, Male")
    assert errors["colour"] == ["Unknown field."]


def test_out_of_range_numbers_are_refused(db_session, clerk):
    data = household_data(db_session, clerk, pmt_score="101", rooms="two")
    errors = refused(db_session, clerk, data)
    assert errors["pmt_score"] == ["Must be at most 100."]
    assert errors["rooms"] == ["Enter a whole number."]


def test_missing_consent_is_refused(db_session, clerk):
    errors = refused(db_session, clerk, household_data(db_session, clerk, consent_given=False))
    assert "Consent to data processing is required" in errors["consent_given"][0]


def test_missing_given_name_and_relationship_are_refused(db_session, clerk):
    data = household_data(db_session, clerk)
    data["members"][1].update(given_name="  ", relationship_to_head=None)
    errors = refused(db_session, clerk, data)
    assert errors["members.1.given_name"] == ["Enter the given name."]
    assert errors["members.1.relationship_to_head"] == ["This answer is required."]


def test_html_in_names_is_stored_as_typed(db_session, clerk):
    data = household_data(db_session, clerk)
    data["members"][0]["given_name"] = "<script>alert(1)</script>"
    household = services.register_household(db_session, clerk, data, check_likely=False)
    assert household.members[0].given_name == "<script>alert(1)</script>"


def test_unknown_or_misnested_areas_are_refused(db_session, clerk):
    default_areas(db_session)
    errors = refused(db_session, clerk, household_data(db_session, clerk, admin2="PK-XX"))
    assert "is not a level-2 area of PK" in errors["admin2"][0]
    errors = refused(
        db_session, clerk, household_data(db_session, clerk, admin1="PK-PB", admin2="PK-SD-KHI")
    )
    assert "is not inside PK-PB" in errors["admin2"][0]


def test_area_outside_the_users_office_is_refused(db_session, clerk):
    default_areas(db_session)
    data = household_data(db_session, clerk, admin1="PK-SD", admin2="PK-SD-KHI")
    errors = refused(db_session, clerk, data)
    assert "not served by" in errors["admin2"][0]


def test_admin_registers_anywhere_and_the_covering_office_is_assigned(db_session):
    default_areas(db_session)
    sindh = make_office(db_session, "SD-01", ["PK-SD"])
    admin = make_user(db_session, "admin")
    household = make_household(db_session, admin, admin1="PK-SD", admin2="PK-SD-KHI")
    assert household.office_id == sindh.id


def test_read_only_roles_cannot_register(db_session):
    officer = make_user(db_session, "programme_officer")
    with pytest.raises(Forbidden):
        make_household(db_session, officer)


# --- edits, history and optimistic locking ---------------------------------------------------


def test_update_records_field_level_history(db_session, clerk):
    household = make_household(db_session, clerk, rooms=2)
    bilal = household.members[1]
    services.update_household(
        db_session,
        clerk,
        household,
        {"rooms": 3, "members": [{"id": bilal.id, "school_enrolled": True}]},
        version=1,
    )
    assert household.version == 2
    assert household.rooms == 3 and bilal.school_enrolled is True
    records = {r.action: r for r in services.history(db_session, household)}
    assert records["update"].changes == {"rooms": [2, 3]}
    assert records["member.update"].changes == {"school_enrolled": [None, True]}
    assert records["member.update"].member_id == bilal.id


def test_update_adds_and_removes_members_keeping_the_removed(db_session, clerk):
    household = make_household(db_session, clerk)
    amina, bilal = household.members
    roster = [
        {"id": amina.id},
        member_data(given_name="Sana", relationship_to_head="child", date_of_birth="2015-03-04"),
    ]
    services.update_household(
        db_session, clerk, household, {"members": roster}, version=1, replace_members=True
    )
    assert [m.given_name for m in household.current_members] == ["Amina", "Sana"]
    assert bilal.status == "left"  # never deleted
    actions = sorted(r.action for r in services.history(db_session, household))
    assert actions == ["member.add", "member.remove", "register"]


def test_update_without_changes_keeps_the_version(db_session, clerk):
    household = make_household(db_session, clerk, rooms=2)
    services.update_household(db_session, clerk, household, {"rooms": 2}, version=1)
    assert household.version == 1


def test_stale_version_is_a_conflict(db_session, clerk):
    household = make_household(db_session, clerk)
    services.update_household(db_session, clerk, household, {"rooms": 4}, version=1)
    with pytest.raises(ConflictError, match="changed by someone else"):
        services.update_household(db_session, clerk, household, {"rooms": 5}, version=1)
    assert household.rooms == 4


def test_concurrent_sessions_conflict_on_flush(db_session, clerk):
    household = make_household(db_session, clerk)
    db_session.commit()  # a SAVEPOINT release inside the test's outer transaction
    other = sessionmaker(bind=db_session.connection(), join_transaction_mode="create_savepoint")()
    theirs = other.get(Household, household.id)
    services.update_household(db_session, clerk, household, {"rooms": 4}, version=1)
    db_session.flush()
    # The other session still holds version 1 in memory: its UPDATE matches no row.
    with pytest.raises(ConflictError):
        services.update_household(other, clerk, theirs, {"rooms": 9}, version=1)
    other.close()


def test_update_validates_like_registration(db_session, clerk):
    household = make_household(db_session, clerk)
    with pytest.raises(ValidationError) as info:
        services.update_household(
            db_session,
            clerk,
            household,
            {"members": [{"id": household.members[1].id, "relationship_to_head": "head"}]},
            version=1,
        )
    assert "members.0.relationship_to_head" in info.value.errors
    assert household.version == 1


def test_location_changes_go_through_move(db_session, clerk):
    household = make_household(db_session, clerk)
    with pytest.raises(ValidationError) as info:
        services.update_household(
            db_session, clerk, household, {"admin3": "PK-PB-LHR-1"}, version=1
        )
    assert "move household" in info.value.errors["admin3"][0]


# --- visibility ----------------------------------------------------------------------------


def test_another_offices_household_is_not_found(db_session, clerk):
    default_areas(db_session)
    sindh_clerk = make_user(db_session, "clerk", make_office(db_session, "SD-01", ["PK-SD"]))
    theirs = make_household(db_session, sindh_clerk)
    with pytest.raises(NotFound) as info:
        services.get_household(db_session, clerk, theirs.ref)
    assert "No household with this reference" in str(info.value)
    assert services.get_household(db_session, make_user(db_session, "auditor"), theirs.ref)


def test_mistyped_ref_is_not_found_with_a_clear_message(db_session, clerk):
    household = make_household(db_session, clerk)
    typo = household.ref[:-1] + str((int(household.ref[-1]) + 1) % 10)
    with pytest.raises(NotFound, match="mistyped"):
        services.get_household(db_session, clerk, typo)


# --- life events ---------------------------------------------------------------------------


def test_birth_adds_a_child_with_history(db_session, clerk):
    household = make_household(db_session, clerk)
    baby = services.record_birth(
        db_session, clerk, household, {"given_name": "Zara", "date_of_birth": dt.date.today()}
    )
    assert baby.relationship_to_head == "child" and baby in household.current_members
    assert services.history(db_session, household)[0].action == "birth"
    assert household.version == 2


def test_birth_needs_a_date(db_session, clerk):
    household = make_household(db_session, clerk)
    with pytest.raises(ValidationError) as info:
        services.record_birth(db_session, clerk, household, {"given_name": "Zara"})
    assert "date_of_birth" in info.value.errors


def test_death_of_the_head_needs_a_new_head_and_keeps_the_record(db_session, clerk):
    household = make_household(db_session, clerk)
    amina, bilal = household.members
    with pytest.raises(ValidationError) as info:
        services.record_death(db_session, clerk, household, amina.id)
    assert "new_head_id" in info.value.errors
    services.record_death(
        db_session, clerk, household, amina.id, date="2025-01-05", new_head_id=bilal.id
    )
    assert amina.status == "deceased" and amina.status_date == dt.date(2025, 1, 5)
    assert household.head is bilal
    assert amina in household.members  # history kept
    assert {r.action for r in services.history(db_session, household)} >= {"death"}


def test_member_leaves_and_joins_another_household(db_session, clerk):
    first = make_household(db_session, clerk)
    second = make_household(
        db_session,
        clerk,
        members=[member_data(given_name="Rashid", family_name="Ali", sex="male")],
    )
    bilal = first.members[1]
    bilal.national_id = "35202-1234567-1"
    joined = services.member_joins(
        db_session,
        clerk,
        second,
        from_ref=first.ref,
        from_member_id=bilal.id,
        relationship="other_relative",
    )
    assert bilal.status == "left" and second.ref in bilal.status_reason
    assert joined.household_id == second.id and joined.given_name == "Bilal"
    assert joined.national_id == "35202-1234567-1"
    assert joined.id != bilal.id
    assert services.history(db_session, first)[0].changes["moved_to"] == [None, second.ref]
    leaver = services.member_leaves(db_session, clerk, second, joined.id, reason="Married")
    assert leaver.status == "left" and leaver.status_reason == "Married"


def test_move_within_office_and_to_another_office(db_session, clerk):
    default_areas(db_session)
    sindh = make_office(db_session, "SD-01", ["PK-SD"])
    household = make_household(db_session, clerk)
    services.move_household(
        db_session,
        clerk,
        household,
        {"admin1": "PK-PB", "admin2": "PK-PB-LHR", "admin3": "PK-PB-LHR-1", "locality": "Gulberg"},
    )
    assert household.admin3 == "PK-PB-LHR-1" and household.locality == "Gulberg"
    elsewhere = {"admin1": "PK-SD", "admin2": "PK-SD-KHI"}
    with pytest.raises(Forbidden, match="only a supervisor"):
        services.move_household(db_session, clerk, household, elsewhere)
    supervisor = make_user(db_session, "supervisor", clerk.office)
    services.move_household(db_session, supervisor, household, elsewhere, reason="Relocated")
    assert household.office_id == sindh.id and household.admin2 == "PK-SD-KHI"
    move = services.history(db_session, household)[0]
    assert move.action == "move" and move.changes["office_id"][1] == sindh.id


def test_merge_moves_members_and_marks_the_duplicate(db_session, clerk):
    keep = make_household(db_session, clerk, rooms=None)
    other = make_household(
        db_session,
        clerk,
        rooms=3,
        members=[
            member_data(),  # the same Amina
            member_data(
                given_name="Noor", relationship_to_head="child", date_of_birth="2018-01-01"
            ),
        ],
    )
    services.add_enrolment(db_session, clerk, other, {"scheme_id": "pk-bisp-kafaalat"})
    with pytest.raises(Forbidden):
        services.merge_households(db_session, clerk, keep, other, reason="same family")
    manager = make_user(db_session, "data_manager", clerk.office)
    services.merge_households(db_session, manager, keep, other, reason="Registered twice")
    assert other.status == "merged" and other.merged_into_id == keep.id
    assert sorted(m.given_name for m in keep.current_members) == ["Amina", "Bilal", "Noor"]
    assert other.members[0].status == "left"  # the twin keeps her record in the old household
    assert keep.rooms == 3  # unknown filled from the duplicate
    assert [e.scheme_id for e in keep.enrolments] == ["pk-bisp-kafaalat"]
    assert services.history(db_session, keep)[0].action == "merge"
    assert services.history(db_session, other)[0].action == "merged_into"


def test_enrolment_add_and_update(db_session, clerk):
    household = make_household(db_session, clerk)
    enrolment = services.add_enrolment(
        db_session, clerk, household, {"scheme_id": "pk-bisp-kafaalat", "start_date": "2024-01-01"}
    )
    services.update_enrolment(
        db_session, clerk, household, enrolment.id, {"status": "exited", "end_date": "2025-06-30"}
    )
    assert enrolment.status == "exited"
    assert services.history(db_session, household)[0].changes["status"] == ["active", "exited"]
    with pytest.raises(ValidationError):
        services.update_enrolment(
            db_session, clerk, household, enrolment.id, {"end_date": "2023-01-01"}
        )
    assert db_session.scalar(select(func.count(Enrolment.id))) == 1


def test_make_area_levels_follow_parents(db_session):
    province = make_area(db_session, "PK-KP", name="Khyber Pakhtunkhwa")
    district = make_area(db_session, "PK-KP-PEW", parent=province)
    assert (province.level, district.level) == (1, 2)
