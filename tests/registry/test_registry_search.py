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


def test_query_prefixes_try_both_word_orders_then_one_family_name():
    assert query_prefixes("Mohammad Khan") == [
        name_key("Muhammad", "Khan"),
        name_key("Khan", "Muhammad"),
        name_key("", "Muhammad Khan"),
    ]
    assert query_prefixes("Khan") == [name_key("", "Khan")]
    assert query_prefixes("") == []


@pytest.mark.parametrize(
    ("given", "family", "same_as"),
    [
        ("Maria", "Dela Cruz", ("Maria", "Cruz")),
        ("Maria", "de la Cruz", ("Maria", "Cruz")),
        ("Pieter", "Van der Berg", ("Pieter", "Berg")),
        ("Aisha", "Abdul Rahman", ("Aisha", "Rahman")),
        ("Maria", "de Souza Lima", ("Maria", "Souza Lima")),
        ("Ahmad", "Al-Rashid", ("Ahmad", "Rashid")),
        ("Hoa", "Lê", ("Hoa", "Le")),  # a family name made only of a particle keeps it
    ],
)
def test_family_particles_are_left_out_of_the_key(given, family, same_as):
    assert name_key(given, family) == name_key(*same_as)


def test_single_field_names_keep_their_key():
    # "The last word is the family name" is unchanged: no backfill for these rows.
    assert name_key("Maria Dela Cruz", "") == "KRS MRTL"
    assert name_key("Abdul Rahman", "") == "RMN ABTL"


@pytest.mark.parametrize(
    "query", ["Maria Dela Cruz", "Dela Cruz", "maria delacruz", "Cruz", "dela cruz maria"]
)
def test_multi_word_family_names_are_found(db_session, clerk, query):
    target = make_household(db_session, clerk, members=family("Maria", "Dela Cruz"))
    make_household(db_session, clerk, members=family("Jose", "Santos"))
    result = search_households(db_session, clerk, query)
    assert [h.ref for h in result.items] == [target.ref], query


@pytest.mark.parametrize(
    ("stored", "queries"),
    [
        (("Pieter", "Van der Berg"), ["Pieter van der Berg", "Van der Berg", "vanderberg", "Berg"]),
        (
            ("Aisha", "Abdul Rahman"),
            ["Aisha Abdul Rahman", "Abdul Rahman", "abdulrahman", "Rahman"],
        ),
        (("Maria", "de Souza Lima"), ["Maria de Souza Lima", "Souza Lima", "desouza lima"]),
        (("Maria Dela Cruz", ""), ["Maria Dela Cruz", "Dela Cruz", "Cruz", "maria delacruz"]),
    ],
)
def test_other_multi_word_family_names_are_found(db_session, clerk, stored, queries):
    target = make_household(db_session, clerk, members=family(*stored))
    for query in queries:
        refs = [h.ref for h in search_households(db_session, clerk, query).items]
        assert refs == [target.ref], query


def test_particle_and_plain_family_names_rank_by_closeness(db_session, clerk):
    plain = make_household(db_session, clerk, members=family("Maria", "Cruz"))
    particle = make_household(db_session, clerk, members=family("Maria", "Dela Cruz"))
    found = search_households(db_session, clerk, "Maria Dela Cruz").items
    assert [h.ref for h in found] == [particle.ref, plain.ref]
    found = search_households(db_session, clerk, "Maria Cruz").items
    assert [h.ref for h in found] == [plain.ref, particle.ref]


def test_rekey_brings_old_keys_up_to_date(db_session, clerk):
    household = make_household(db_session, clerk, members=family("Maria", "Dela Cruz"))
    member = household.members[0]
    member.name_key = "TLKRS MR"  # as computed before particles were left out
    db_session.flush()
    assert search_households(db_session, clerk, "Cruz").items == []
    first = min(m.id for m in household.members) - 1
    read, changed, last = services.rekey_members(db_session, after_id=first, limit=10)
    assert (read, changed, last) == (1, 1, member.id)
    db_session.expire_all()
    assert member.name_key == name_key("Maria", "Dela Cruz")
    assert [h.ref for h in search_households(db_session, clerk, "Cruz").items] == [household.ref]
    assert services.rekey_members(db_session, after_id=first, limit=10)[:2] == (1, 0)
    assert services.rekey_members(db_session, after_id=member.id) == (0, 0, None)


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


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        (("Fatima", "Bibi"), ("Fathima", "Bibi")),
        (("Usman", "Khan"), ("Osman", "Khan")),
        (("Ibrahim", "Shah"), ("Ebrahim", "Shah")),
        (("Shazia", "Malik"), ("Sazia", "Malik")),
        (("Waseem", "Abbasi"), ("Vaseem", "Abbasi")),
        (("Fatima", ""), ("Fathima", "")),
        (("Muhammad", "Khan"), ("Mohammed", "Khan")),
        (("Fatima", "Bibi"), ("Fatma", "Bibi")),
        (("Bilal", "Osmani"), ("Bilal", "Usmani")),  # in the family name
        (("Khan", "Usman"), ("Osman", "Khan")),  # typed the other way round
    ],
)
@pytest.mark.parametrize("estimated", ["stored", "typed"])
def test_estimated_birth_date_with_another_spelling_is_a_likely_duplicate(
    db_session, clerk, stored, typed, estimated
):
    # An estimated date is good to its year: 1 July 1970 (estimated) and 20 December 1971
    # are more than 366 days apart, yet a year apart.
    existing = make_household(
        db_session,
        clerk,
        members=family(
            *stored,
            date_of_birth=dt.date(1970, 7, 1) if estimated == "stored" else dt.date(1971, 12, 20),
            date_of_birth_estimated=estimated == "stored",
        ),
    )
    data = household_data(
        db_session,
        clerk,
        members=family(
            *typed,
            date_of_birth=dt.date(1971, 12, 20) if estimated == "stored" else dt.date(1970, 7, 1),
            date_of_birth_estimated=estimated == "typed",
        ),
    )
    with pytest.raises(LikelyDuplicates) as info:
        services.register_household(db_session, clerk, data)
    [candidate] = info.value.candidates
    assert candidate["household_ref"] == existing.ref and candidate["score"] >= 85


def test_the_spellings_tested_above_change_the_key():
    # Guard for the test above: these pairs are the gap (same key pairs were found before).
    for stored, typed in [
        (("Fatima", "Bibi"), ("Fathima", "Bibi")),
        (("Usman", "Khan"), ("Osman", "Khan")),
    ]:
        assert name_key(*stored) != name_key(*typed)


@pytest.mark.parametrize(
    ("stored_dob", "stored_est", "typed_dob", "typed_est"),
    [
        (dt.date(1970, 7, 1), True, dt.date(1972, 1, 1), False),  # two years apart
        (dt.date(1970, 7, 1), False, dt.date(1970, 7, 2), False),  # exact dates differ
    ],
)
def test_birth_dates_that_disagree_are_not_likely_duplicates(
    db_session, clerk, stored_dob, stored_est, typed_dob, typed_est
):
    make_household(
        db_session,
        clerk,
        members=family(
            "Usman", "Khan", date_of_birth=stored_dob, date_of_birth_estimated=stored_est
        ),
    )
    typed = family("Osman", "Khan", date_of_birth=typed_dob, date_of_birth_estimated=typed_est)
    assert services.register_household(
        db_session, clerk, household_data(db_session, clerk, members=typed)
    )


def test_likely_duplicates_stay_within_the_district(db_session):
    default_areas(db_session)
    admin = make_user(db_session, "admin")
    make_household(
        db_session,
        admin,
        admin1="PK-SD",
        admin2="PK-SD-KHI",
        members=family(
            "Usman", "Khan", date_of_birth=dt.date(1970, 7, 1), date_of_birth_estimated=True
        ),
    )
    typed = family("Osman", "Khan", date_of_birth=dt.date(1970, 3, 3))
    data = household_data(db_session, admin, admin1="PK-PB", admin2="PK-PB-LHR", members=typed)
    assert services.register_household(db_session, admin, data)


def test_birth_dates_agree_by_year_when_estimated():
    from sw_mis.registry.duplicates import birth_dates_agree

    d = dt.date
    assert birth_dates_agree(d(1970, 1, 1), True, d(1971, 12, 31), False)
    assert birth_dates_agree(d(1970, 1, 1), False, d(1969, 1, 1), True)
    assert not birth_dates_agree(d(1970, 12, 31), True, d(1972, 1, 1), True)
    assert birth_dates_agree(d(1970, 5, 5), False, d(1970, 5, 5), None)
    assert not birth_dates_agree(d(1970, 5, 5), False, d(1970, 5, 6), False)


# --- the queries stay on the indexes (PostgreSQL plans) -----------------------------------


def _plan(session, stmt) -> str:
    """Return PostgreSQL's plan for ``stmt`` with sequential scans priced out of reach.

    The test tables are tiny, so the planner would rightly read them whole; with sequential
    scans disabled it still shows one where no index can answer the query.
    """
    from sqlalchemy import text

    session.execute(text("SET LOCAL enable_seqscan = off"))
    sql = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    return "\n".join(session.execute(text(f"EXPLAIN {sql}")).scalars())


def test_name_search_and_duplicate_check_use_indexes(db_session, clerk, backend):
    if backend != "postgresql":
        pytest.skip("query plans are PostgreSQL's")
    from sqlalchemy import select

    from sw_mis.registry import duplicates
    from sw_mis.registry.duplicates import candidates_query
    from sw_mis.registry.models import Member
    from sw_mis.registry.search import name_candidates_query

    make_household(db_session, clerk, members=family("Maria", "Dela Cruz"))
    for query in ("maria delacruz", "Cruz"):
        stmt = name_candidates_query(db_session, clerk, query_prefixes(query))
        plan = _plan(db_session, stmt)
        assert "ix_members_name_key" in plan and "Seq Scan on members" not in plan, plan
    rows = [
        (
            0,
            member_data(
                given_name="Osman",
                family_name="Khan",
                date_of_birth=dt.date(1970, 1, 1),
                date_of_birth_estimated=True,
            ),
        ),
        (1, member_data(given_name="Bilal", family_name="Khan", date_of_birth=dt.date(2001, 1, 1))),
    ]
    # On tiny tables the planner picks whichever index is cheapest (at a million households
    # it is ix_members_name_key and ix_members_date_of_birth, as EXPLAIN ANALYZE shows); what
    # must hold is that no part of the query needs a whole table read, nets included.
    plan = _plan(db_session, candidates_query(db_session, clerk, "PK", "PK-PB-LHR", rows))
    assert "Seq Scan" not in plan, plan
    plan = _plan(db_session, select(Member.id).where(duplicates._candidate_clause(rows)))
    assert "Seq Scan" not in plan, plan
