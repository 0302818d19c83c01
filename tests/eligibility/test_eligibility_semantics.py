"""Three-valued semantics of the counter back-end (docs/rules.md, rules-engines.md cases)."""

# ruff: noqa: E501 - the case tables keep one case per line, which reads best

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sw_mis.eligibility.book import RuleBook
from sw_mis.eligibility.engine import screen_household
from sw_mis.eligibility.loader import load_rules

AS_OF = dt.date(2025, 1, 1)
ABLE = {"wg_seeing": "no_difficulty", "wg_hearing": "no_difficulty",
        "wg_walking": "no_difficulty", "wg_cognition": "no_difficulty",
        "wg_selfcare": "no_difficulty", "wg_communication": "no_difficulty",
        "disability_severity": "none"}


def member(id: str, born: str | None, **facts: Any) -> dict[str, Any]:
    """A member with no disability (all Washington Group answers known)."""
    dob = dt.date.fromisoformat(born) if born else None
    return {"id": id, "relationship_to_head": "child", "date_of_birth": dob, **ABLE, **facts}


def outcome(book: RuleBook, scheme: str, household: dict[str, Any],
            as_of: dt.date = AS_OF) -> Any:
    results = screen_household(book, {"country": "ZZ", **household}, as_of, [scheme])
    return results[0] if results else None


# the cases of rules-engines.md, on the fixture pack's representative rule ---------------------
RULE = "zz-poverty-elderly"
OLD = member("old", "1950-01-01", relationship_to_head="head")
ADULT = member("adult", "1985-01-01", relationship_to_head="head")


def test_missing_pmt_is_undetermined_and_says_so(fixture_book: RuleBook) -> None:
    r = outcome(fixture_book, RULE, {"admin1": "ZZ-N", "pmt_score": None, "members": [OLD]})
    assert r.outcome == "undetermined"
    assert r.missing == [{"path": "pmt_score", "label": "Proxy means test (PMT) score"}]


def test_missing_province_is_undetermined(fixture_book: RuleBook) -> None:
    r = outcome(fixture_book, RULE, {"admin1": None, "pmt_score": 20, "members": [OLD]})
    assert (r.outcome, [m["path"] for m in r.missing]) == ("undetermined", ["admin1"])


def test_member_of_unknown_age_and_nobody_else_qualifies(fixture_book: RuleBook) -> None:
    h = {"admin1": "ZZ-N", "pmt_score": 20, "members": [ADULT, member("x", None)]}
    r = outcome(fixture_book, RULE, h)
    assert r.outcome == "undetermined"
    assert [m["path"] for m in r.missing] == ["members.x.date_of_birth"]


def test_unknown_age_then_a_member_aged_70_is_eligible(fixture_book: RuleBook) -> None:
    h = {"admin1": "ZZ-N", "pmt_score": 20, "members": [member("x", None),
                                                         member("y", "1954-06-01")]}
    r = outcome(fixture_book, RULE, h)
    assert (r.outcome, r.missing) == ("eligible", [])


def test_missing_disability_flag_is_undetermined(fixture_book: RuleBook) -> None:
    h = {"admin1": "ZZ-N", "pmt_score": 20,
         "members": [member("a", "1985-01-01", wg_walking=None)]}
    r = outcome(fixture_book, RULE, h)
    assert r.outcome == "undetermined"
    assert [m["path"] for m in r.missing] == ["members.a.wg_walking"]


def test_household_without_members_is_not_eligible(fixture_book: RuleBook) -> None:
    r = outcome(fixture_book, RULE, {"admin1": "ZZ-N", "pmt_score": 20, "members": []})
    assert r.outcome == "not_eligible"
    assert r.failing == ["vulnerable"]


def test_absent_key_is_the_same_as_blank(fixture_book: RuleBook) -> None:
    absent = outcome(fixture_book, RULE, {"admin1": "ZZ-N", "members": [OLD]})
    blank = outcome(fixture_book, RULE, {"admin1": "ZZ-N", "pmt_score": None, "members": [OLD]})
    assert absent.to_dict() == blank.to_dict()
    assert absent.outcome == "undetermined"


def test_false_criterion_decides_despite_unknowns(fixture_book: RuleBook) -> None:
    r = outcome(fixture_book, RULE, {"admin1": None, "pmt_score": 40, "members": []})
    assert (r.outcome, r.failing, r.missing) == ("not_eligible", ["poor", "vulnerable"], [])


def test_members_who_left_do_not_count(fixture_book: RuleBook) -> None:
    h = {"admin1": "ZZ-N", "pmt_score": 20, "members": [ADULT, {**OLD, "status": "left"}]}
    assert outcome(fixture_book, RULE, h).outcome == "not_eligible"


def test_explanation_lists_values_and_parameters(fixture_book: RuleBook) -> None:
    r = outcome(fixture_book, RULE, {"admin1": "ZZ-S", "pmt_score": 20, "members": [OLD]})
    d = r.to_dict()
    assert d["outcome"] == "eligible"
    poor = next(c for c in d["criteria"] if c["id"] == "poor")
    assert poor["values"] == {"pmt_score": 20, "pmt_cutoff": 32}
    group = next(c for c in d["criteria"] if c["id"] == "vulnerable")
    assert [c["id"] for c in group["children"]] == ["elderly", "disabled_member", "young_child"]
    assert d["parameters"]["covered_provinces"] == ["ZZ-N", "ZZ-S"]
    # base_amount is 1200.5 from 2025 and no child under 5: the count is exact (0).
    assert d["benefit"] == {"type": "cash", "amount": 1200.5, "currency": "ZZD",
                            "period": "month"}


def test_parameters_are_dated(fixture_book: RuleBook) -> None:
    h = {"admin1": "ZZ-S", "pmt_score": 20, "members": [OLD]}
    assert outcome(fixture_book, RULE, h, dt.date(2023, 6, 1)).outcome == "not_eligible"
    assert outcome(fixture_book, RULE, h, dt.date(2024, 1, 1)).outcome == "eligible"
    # Before the first effective date of a parameter the scheme is not screened at all.
    assert outcome(fixture_book, RULE, h, dt.date(2019, 12, 31)) is None


def test_valid_from_and_until(fixture_book: RuleBook) -> None:
    h = {"members": []}
    assert outcome(fixture_book, "zz-child-bonus", h, dt.date(2021, 12, 31)) is None
    assert outcome(fixture_book, "zz-child-bonus", h, dt.date(2030, 12, 31)) is not None
    assert outcome(fixture_book, "zz-child-bonus", h, dt.date(2031, 1, 1)) is None


# single expressions ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def expr_book(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Build a one-criterion scheme per expression, all in one pack, loaded once."""
    root = tmp_path_factory.mktemp("rules")
    pack = root / "zz"
    pack.mkdir()
    (pack / "pack.yaml").write_text("country: ZZ\nname: T\ncurrency: ZZD\n")
    (pack / "areas.yaml").write_text("areas: []\n")
    (root / "derived.yaml").write_text((Path(__file__).parent / "packs" / "derived.yaml")
                                       .read_text())
    made: dict[tuple[str, str], str] = {}

    def scheme(expr: str, unit: str = "household") -> str:
        key = (expr, unit)
        if key not in made:
            sid = f"zz-e{len(made)}"
            (pack / f"{sid}.yaml").write_text(textwrap.dedent(f"""\
                id: {sid}
                name: E
                unit: {unit}
                parameters:
                  limit: {{values: {{2020-01-01: 2}}, label: L, reference: r}}
                  codes: {{values: {{2020-01-01: [a, b]}}, label: C, reference: r}}
                criteria:
                  - id: c
                    label: C
                    when: "{expr}"
                """))
            made[key] = sid
        return made[key]

    return scheme, root


HH_EXPRS = [
    # (expression, household, expected outcome)
    ("pmt_score < 32", {}, "undetermined"),
    ("pmt_score < 32 and admin1 == 'x'", {"pmt_score": 40}, "not_eligible"),
    ("pmt_score < 32 or admin1 == 'x'", {"pmt_score": 20}, "eligible"),
    ("not pmt_score < 32", {}, "undetermined"),
    ("not (pmt_score < 32)", {"pmt_score": 40}, "eligible"),
    ("(1 if pmt_score < 32 else 2) == 1", {}, "undetermined"),
    ("(1 if pmt_score < 32 else 2) == 2", {"pmt_score": 40}, "eligible"),
    ("known(pmt_score)", {}, "not_eligible"),
    ("not known(pmt_score)", {}, "eligible"),
    ("any(members, age >= 65)", {"members": []}, "not_eligible"),
    ("all(members, age >= 65)", {"members": []}, "eligible"),
    ("all(members, age >= 65)", {"members": [{"date_of_birth": None}, {"date_of_birth": dt.date(1990, 1, 1)}]}, "not_eligible"),
    ("all(members, age >= 65)", {"members": [{"date_of_birth": None}, {"date_of_birth": dt.date(1940, 1, 1)}]}, "undetermined"),
    ("count(members, age >= 65) >= 1", {"members": [{"date_of_birth": None}, {"date_of_birth": dt.date(1990, 1, 1)}]}, "undetermined"),
    ("count(members, age >= 65) >= 1", {"members": [{"date_of_birth": None}, {"date_of_birth": dt.date(1940, 1, 1)}]}, "eligible"),
    ("count(members, age >= 65) <= 2", {"members": [{}, {}]}, "eligible"),
    ("count(members, age >= 65) < 2", {"members": [{}, {}]}, "undetermined"),
    ("count(members, age >= 65) == 0", {"members": [{}, {"date_of_birth": dt.date(1990, 1, 1)}]}, "undetermined"),
    ("count(members, age >= 65) != 3", {"members": [{}, {}]}, "eligible"),
    ("count(members, age >= 65) in (1, 2)", {"members": [{"date_of_birth": dt.date(1940, 1, 1)}, {}]}, "eligible"),
    ("count(members, age >= 65) in (0, 2)", {"members": [{"date_of_birth": dt.date(1940, 1, 1)}, {}]}, "undetermined"),
    ("count(members, age >= 65) not in (3, 4)", {"members": [{}, {}]}, "eligible"),
    ("count(members, age >= 65) * 2 >= 0", {"members": [{}]}, "undetermined"),
    ("count(members, age >= 65) * 2 >= 2", {"members": [{"date_of_birth": dt.date(1940, 1, 1)}]}, "eligible"),
    ("income_monthly / count(members, age >= 65) > 0", {"income_monthly": 10, "members": [{"date_of_birth": dt.date(1990, 1, 1)}]}, "undetermined"),
    ("income_monthly / 4 == 2.5", {"income_monthly": 10}, "eligible"),
    ("-income_monthly < 0", {"income_monthly": 10.5}, "eligible"),
    ("count(members, True) == limit", {"members": [{}, {}]}, "eligible"),
    ("admin1 in codes", {"admin1": "b"}, "eligible"),
    ("admin1 not in codes", {}, "undetermined"),
    ("enrolled('zz-x')", {"enrolments": [{"scheme": "zz-x", "status": "active", "start_date": dt.date(2024, 1, 1)}]}, "eligible"),
    ("enrolled('zz-x')", {"enrolments": [{"scheme": "zz-x", "status": "exited", "start_date": dt.date(2024, 1, 1)}]}, "not_eligible"),
    ("enrolled('zz-x')", {"enrolments": [{"scheme": "zz-x", "status": "active", "start_date": dt.date(2025, 1, 2)}]}, "not_eligible"),
    ("enrolled('zz-x')", {"enrolments": [{"scheme": "zz-x", "status": "active", "end_date": "2024-12-31"}]}, "not_eligible"),
    ("years_since(registry_survey_date) == 3", {"registry_survey_date": dt.date(2022, 1, 1)}, "eligible"),
    ("years_since(registry_survey_date) == 3", {"registry_survey_date": "2022-01-02"}, "not_eligible"),
    ("any(members, age == 65)", {"members": [{"date_of_birth": dt.date(1960, 1, 1)}]}, "eligible"),
    ("any(members, age == 65)", {"members": [{"date_of_birth": dt.date(1960, 1, 2)}]}, "not_eligible"),
    ("any(members, age_months == 10)", {"members": [{"date_of_birth": dt.date(2024, 3, 1)}]}, "eligible"),
    ("any(members, age == 0)", {"members": [{"date_of_birth": dt.date(2024, 2, 29)}]}, "eligible"),
    ("any(members, age < 0)", {"members": [{"date_of_birth": dt.date(2025, 1, 2)}]}, "eligible"),
    ("any(members, pregnant)", {"members": [{"pregnant": 1}]}, "eligible"),
    ("household_size == 2", {"members": [{}, {"status": "left"}, {}]}, "eligible"),
]


@pytest.mark.parametrize(("expr", "household", "expected"), HH_EXPRS)
def test_household_expression(expr_book: Any, expr: str, household: dict[str, Any],
                              expected: str) -> None:
    scheme, root = expr_book
    sid = scheme(expr)
    book = load_rules(root)
    assert not book.errors, book.errors
    members = [{"id": i, **m} for i, m in enumerate(household.get("members", []))]
    r = outcome(book, sid, {**household, "members": members})
    assert r.outcome == expected


MEMBER_EXPRS = [
    ("any(spouses, employment_sector == 'federal_govt')", "h", "eligible"),
    ("any(spouses, employment_sector == 'federal_govt')", "w", "undetermined"),
    ("any(spouses, employment_sector == 'federal_govt')", "c", "not_eligible"),
    ("count(others, True) == 2", "c", "eligible"),
    ("any(others, sex == 'male')", "h", "undetermined"),
]


@pytest.mark.parametrize(("expr", "who", "expected"), MEMBER_EXPRS)
def test_member_expression(expr_book: Any, expr: str, who: str, expected: str) -> None:
    scheme, root = expr_book
    sid = scheme(expr, "member")
    book = load_rules(root)
    h = {"members": [
        {"id": "h", "relationship_to_head": "head", "sex": "male"},
        {"id": "w", "relationship_to_head": "spouse", "employment_sector": "federal_govt"},
        {"id": "c", "relationship_to_head": "child", "sex": "female"},
    ]}
    r = outcome(book, sid, h)
    assert {m["id"]: m["outcome"] for m in r.members}[who] == expected


def test_member_level_household_outcome_and_missing(fixture_book: RuleBook) -> None:
    h = {"members": [
        {"id": "h", "relationship_to_head": "head", "date_of_birth": dt.date(1980, 1, 1)},
        {"id": "w", "relationship_to_head": "spouse", "date_of_birth": dt.date(1950, 1, 1)},
        {"id": "s", "relationship_to_head": "child", "date_of_birth": dt.date(2010, 1, 1),
         "wg_walking": "cannot_do_at_all"},
    ]}
    r = outcome(fixture_book, "zz-carer-grant", h)
    by_id = {m["id"]: m["outcome"] for m in r.members}
    assert by_id == {"h": "undetermined", "w": "not_eligible", "s": "not_eligible"}
    assert r.outcome == "undetermined"
    # only the undetermined member's unknown facts are listed
    assert [m["path"] for m in r.missing] == ["members.w.employment_sector"]
