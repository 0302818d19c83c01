"""Search (reference, national ID, spelling-tolerant names), paging, visibility, duplicates."""

from __future__ import annotations

import datetime as dt

import pytest
from factories import (
    default_areas,
    household_data,
    make_household,
    make_office,
    make_user,
    member_data,
)
from hypothesis import given
from hypothesis import strategies as st

from sw_mis.registry import services
from sw_mis.registry.errors import LikelyDuplicates, ValidationError
from sw_mis.registry.names import name_key, query_prefixes
from sw_mis.registry.refs import RefError, make_ref, parse_ref
from sw_mis.registry.search import list_households, search_households


@pytest.fixture
def clerk(db_session):
    return make_user(db_session, "clerk")


def family(given_name: str, family_name: str, nid: str | None = None, **kw):
    """Return a one-member household's data."""
    return [member_data(given_name=given_name, family_name=family_name, national_id=nid, **kw)]


# --- references ----------------------------------------------------------------------------


@given(st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_every_single_digit_typo_is_caught(body):
    ref = make_ref("PK", body)
    assert parse_ref(ref) == ref
    digits = ref[3:]
    for i, ch in enumerate(digits):
        typo = digits[:i] + str((int(ch) + 1) % 10) + digits[i + 1 :]
        with pytest.raises(RefError):
            parse_ref("PK-" + typo)


@given(st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_every_adjacent_swap_is_caught(body):
    digits = make_ref("PK", body)[3:]
    for i in range(len(digits) - 1):
        if digits[i] != digits[i + 1]:
            swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
            with pytest.raises(RefError):
                parse_ref("PK-" + swapped)


def test_refs_are_read_leniently():
    ref = make_ref("PK", "12345678")
    assert parse_ref(" pk 1234 5678 " + ref[-1]) == ref
    with pytest.raises(RefError, match="two letters"):
        parse_ref("12345")


# --- name keys -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("Mohammad", "Khan"), ("Muhammad", "Kahn")),
        (("Ayesha", "Hussain"), ("Aisha", "Husain")),
        (("Mohammed", "Chaudhry"), ("Muhamad", "Choudhary")),
        (("Fatima", ""), ("Fatma", "")),
    ],
)
def test_spelling_variants_share_a_key(a, b):
    assert name_key(*a) == name_key(*b)


def test_query_prefixes_try_both_word_orders():
    assert query_prefixes("Mohammad Khan") == [
        name_key("Muhammad", "Khan"),
        name_key("Khan", "Muhammad"),
    ]
    assert query_prefixes("") == []


# --- search --------------------------------------------------------------------------------


def test_name_search_tolerates_spelling(db_session, clerk):
    target = make_household(db_session, clerk, members=family("Muhammad", "Khan"))
    make_household(db_session, clerk, members=family("Bilal", "Ahmed"))
    for query in ("Mohammad Khan", "mohammed kahn", "Khan Muhammad", "Khan"):
        result = search_households(db_session, clerk, query)
        assert [h.ref for h in result.items] == [target.ref], query
        assert result.kind == "name"


def test_name_search_ranks_closer_names_first(db_session, clerk):
    far = make_household(db_session, clerk, members=family("Muhammad Ali", "Khan"))
    near = make_household(db_session, clerk, members=family("Muhammad", "Khan"))
    result = search_households(db_session, clerk, "Muhammad Khan")
    assert [h.ref for h in result.items] == [near.ref, far.ref]


def test_search_by_reference_and_national_id(db_session, clerk):
    household = make_household(
        db_session, clerk, members=family("Sara", "Malik", "35202-7654321-2")
    )
    assert search_households(db_session, clerk, household.ref.lower()).items == [household]
    result = search_households(db_session, clerk, "35202-7654321-2")
    assert result.kind == "national_id" and result.items == [household]
    typo = household.ref[:-2] + household.ref[-1] + household.ref[-2]
    if typo != household.ref:
        result = search_households(db_session, clerk, typo)
        assert result.items == [] and "mistyped" in result.message


def test_search_and_list_hide_other_offices(db_session, clerk):
    default_areas(db_session)
    sindh_clerk = make_user(db_session, "clerk", make_office(db_session, "SD-01", ["PK-SD"]))
    theirs = make_household(
        db_session, sindh_clerk, members=family("Muhammad", "Khan", "4210112345671")
    )
    mine = make_household(db_session, clerk, members=family("Muhammad", "Khan"))
    assert [h.ref for h in search_households(db_session, clerk, "Muhammad Khan").items] == [
        mine.ref
    ]
    assert search_households(db_session, clerk, theirs.ref).items == []
    assert search_households(db_session, clerk, "4210112345671").items == []
    assert [h.ref for h in list_households(db_session, clerk).items] == [mine.ref]
    auditor = make_user(db_session, "auditor")
    assert list_households(db_session, auditor).total == 2


def test_list_pages(db_session, clerk):
    refs = [
        make_household(db_session, clerk, members=family(f"Person{i}", "Shah")).ref
        for i in range(5)
    ]
    first = list_households(db_session, clerk, page=1, per_page=2)
    third = list_households(db_session, clerk, page=3, per_page=2)
    assert first.total == 5 and len(first.items) == 2 and len(third.items) == 1
    assert [h.ref for h in first.items] == refs[::-1][:2]
    assert list_households(db_session, clerk, page="x", per_page=10_000).per_page == 100


# --- duplicates ----------------------------------------------------------------------------


def test_national_id_clash_blocks_and_names_the_household(db_session, clerk):
    existing = make_household(db_session, clerk, members=family("Sara", "Malik", "35202-7654321-2"))
    data = household_data(db_session, clerk, members=family("Sarah", "Malick", "35202-7654321-2"))
    with pytest.raises(ValidationError) as info:
        services.register_household(db_session, clerk, data, check_likely=False)
    message = info.value.errors["members.0.national_id"][0]
    assert existing.ref in message and "supervisor may override" in message


def test_national_id_clash_in_another_office_reveals_only_the_office(db_session, clerk):
    default_areas(db_session)
    sindh = make_office(db_session, "SD-01", ["PK-SD"], name="Karachi South office")
    theirs = make_household(
        db_session, make_user(db_session, "clerk", sindh), members=family("Sara", "Malik", "999")
    )
    data = household_data(db_session, clerk, members=family("Zainab", "Qureshi", "999"))
    with pytest.raises(ValidationError) as info:
        services.register_household(db_session, clerk, data, check_likely=False)
    message = info.value.errors["members.0.national_id"][0]
    assert "Karachi South office (SD-01)" in message
    assert theirs.ref not in message and "Sara" not in message


def test_supervisor_overrides_a_clash_with_a_reason(db_session, clerk):
    make_household(db_session, clerk, members=family("Sara", "Malik", "777"))
    data = household_data(db_session, clerk, members=family("Sara", "Malik", "777"))
    with pytest.raises(ValidationError) as info:
        services.register_household(
            db_session, clerk, data, check_likely=False, override_reason="ID card reissued"
        )
    assert "Only a supervisor" in info.value.errors["override_reason"][0]
    supervisor = make_user(db_session, "supervisor", clerk.office)
    household = services.register_household(
        db_session, supervisor, data, check_likely=False, override_reason="ID card reissued"
    )
    record = services.history(db_session, household)[0]
    assert record.reason == "ID card reissued"


def test_likely_duplicate_is_shown_until_confirmed(db_session, clerk):
    existing = make_household(
        db_session, clerk, members=family("Muhammad", "Khan", date_of_birth=dt.date(1970, 3, 1))
    )
    data = household_data(
        db_session,
        clerk,
        members=family("Mohammad", "Kahn", date_of_birth=dt.date(1970, 3, 1)),
    )
    with pytest.raises(LikelyDuplicates) as info:
        services.register_household(db_session, clerk, data)
    [candidate] = info.value.candidates
    assert candidate["household_ref"] == existing.ref and candidate["row"] == 0
    household = services.register_household(db_session, clerk, data, confirm_not_duplicate=True)
    assert household.ref != existing.ref


def test_estimated_birth_dates_match_within_a_year(db_session, clerk):
    make_household(
        db_session, clerk, members=family("Muhammad", "Khan", date_of_birth=dt.date(1970, 1, 1))
    )
    near = family(
        "Muhammad", "Khan", date_of_birth=dt.date(1970, 9, 1), date_of_birth_estimated=True
    )
    with pytest.raises(LikelyDuplicates):
        services.register_household(
            db_session, clerk, household_data(db_session, clerk, members=near)
        )
    exact = family("Muhammad", "Khan", date_of_birth=dt.date(1970, 9, 1))
    assert services.register_household(
        db_session, clerk, household_data(db_session, clerk, members=exact)
    )


def test_different_name_same_birthday_is_not_a_duplicate(db_session, clerk):
    make_household(
        db_session, clerk, members=family("Muhammad", "Khan", date_of_birth=dt.date(1970, 1, 1))
    )
    other = family("Zainab", "Qureshi", date_of_birth=dt.date(1970, 1, 1))
    assert services.register_household(
        db_session, clerk, household_data(db_session, clerk, members=other)
    )
