"""The loader: every kind of mistake is reported as file:line, and bad input never crashes."""

# ruff: noqa: E501 - the case tables keep one case per line, which reads best

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sw_mis.eligibility.book import LoadError
from sw_mis.eligibility.loader import load_rules

PACK = "country: ZZ\nname: Testland\ncurrency: ZZD\nlanguages: [en]\n"
AREAS = "areas:\n  - {code: ZZ-N, name: North, level: 1}\n"
SCHEME = """\
id: zz-a
name: A
unit: household
parameters:
  cutoff:
    label: Cut-off
    values: {2020-01-01: 32}
    reference: https://example.org
criteria:
  - id: poor
    label: Poor
    when: pmt_score < cutoff
"""
DERIVED = """\
derived:
  household_size:
    level: household
    label: Size
    expr: count(members, True)
  disabled:
    level: member
    label: Disabled
    expr: wg_walking == 'cannot_do_at_all'
"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content))


def make(tmp_path: Path, overrides: dict[str, str] | None = None) -> Path:
    """A valid rules dir (pack zz, scheme zz-a), with files replaced or added by name."""
    files = {"derived.yaml": DERIVED, "zz/pack.yaml": PACK, "zz/areas.yaml": AREAS,
             "zz/zz-a.yaml": SCHEME}
    files.update(overrides or {})
    write(tmp_path / "rules", files)
    return tmp_path / "rules"


def errors(root: Path) -> list[str]:
    return [str(e) for e in load_rules(root).errors]


def test_valid_pack_loads(tmp_path: Path) -> None:
    book = load_rules(make(tmp_path))
    assert book.errors == []
    assert list(book.packs) == ["ZZ"]
    assert book.schemes["zz-a"].params_used == ("cutoff",)
    assert book.fields_used("zz") == {"pmt_score"}
    assert book.areas("ZZ")[0]["code"] == "ZZ-N"
    assert len(book.version) == 64


def with_when(expr: str) -> str:
    return SCHEME.replace("when: pmt_score < cutoff", f"when: {expr}")


CASES = [
    # (file name, content, expected error text)
    ("zz/zz-a.yaml", SCHEME + "colour: red\n", "rules/zz/zz-a.yaml:13: unknown key 'colour' in a scheme"),
    ("zz/zz-a.yaml", with_when("pmt_scor < cutoff"), "rules/zz/zz-a.yaml:12: unknown name 'pmt_scor'"),
    ("zz/zz-a.yaml", with_when("area_type == 'town'"), "rules/zz/zz-a.yaml:12: 'town' is not among the choices (rural, urban)"),
    ("zz/zz-a.yaml", with_when("area_type in ('urban', 'city')"), "rules/zz/zz-a.yaml:12: 'city' is not among the choices"),
    ("zz/zz-a.yaml", with_when("has_electricity == 1"), "rules/zz/zz-a.yaml:12: cannot compare a condition with a number"),
    ("zz/zz-a.yaml", with_when("pmt_score < 'low'"), "rules/zz/zz-a.yaml:12: '<' compares numbers, got a number and a text"),
    ("zz/zz-a.yaml", with_when("admin1 == cutoff"), "rules/zz/zz-a.yaml:12: cannot compare a text with a number"),
    ("zz/zz-a.yaml", with_when("pmt_score"), "rules/zz/zz-a.yaml:12: expected a condition (true/false), got a number"),
    ("zz/zz-a.yaml", with_when("registry_survey_date < 3"), "rules/zz/zz-a.yaml:12: a date can only be used in years_since() or known()"),
    ("zz/zz-a.yaml", SCHEME.replace("unit: household", "unit: household\nvalid_from: 2024-02-30"), "rules/zz/zz-a.yaml:4: 'valid_from' must be a date YYYY-MM-DD, not '2024-02-30'"),
    ("zz/zz-a.yaml", SCHEME.replace("2020-01-01: 32", "2020-13-01: 32"), "rules/zz/zz-a.yaml:7: parameter 'cutoff': '2020-13-01' is not a date YYYY-MM-DD"),
    ("zz/zz-a.yaml", SCHEME.replace("    reference: https://example.org\n", ""), "rules/zz/zz-a.yaml:5: parameter 'cutoff' needs 'reference'"),
    ("zz/zz-a.yaml", SCHEME.replace("id: zz-a", "id: zz-b"), "rules/zz/zz-a.yaml:1: id 'zz-b' does not match the file name 'zz-a.yaml'"),
    ("zz/zz-a.yaml", SCHEME + "  - id: poor\n    label: Again\n    when: True\n", "rules/zz/zz-a.yaml:13: duplicate criterion id 'poor'"),
    ("zz/zz-a.yaml", with_when("age >= 65"), "rules/zz/zz-a.yaml:12: member fact 'age' used outside any(), all() or count() in a household-level scheme"),
    ("zz/zz-a.yaml", with_when("disabled"), "rules/zz/zz-a.yaml:12: member fact 'disabled' used outside"),
    ("zz/zz-a.yaml", with_when("any(members, count(members, True) > 1)"), "rules/zz/zz-a.yaml:12: quantifiers do not nest"),
    ("zz/zz-a.yaml", with_when("any(members, household_size > 1)"), "derived variable 'household_size' counts members itself; quantifiers do not nest"),
    ("zz/zz-a.yaml", with_when("any(others, True)"), "'others' is only allowed in member-level schemes"),
    ("zz/zz-a.yaml", with_when("pmt_score.real < 3"), "rules/zz/zz-a.yaml:12: attribute access ('.') not allowed"),
    ("zz/zz-a.yaml", with_when("members[0] == 1"), "subscripts ('[...]') not allowed"),
    ("zz/zz-a.yaml", with_when("'(lambda: True)()'"), "calling this is not allowed"),
    ("zz/zz-a.yaml", with_when("max(pmt_score, 1) > 0"), "calling max is not allowed"),
    ("zz/zz-a.yaml", with_when("pmt_score ** 2 > 0"), "operator not allowed (use + - * /)"),
    ("zz/zz-a.yaml", with_when("pmt_score is None"), "'is' / 'is not' are not allowed"),
    ("zz/zz-a.yaml", with_when("pmt_score < < 3"), "rules/zz/zz-a.yaml:12: syntax error"),
    ("zz/zz-a.yaml", with_when("enrolled(pmt_score)"), "enrolled() takes a scheme id in quotes"),
    ("zz/zz-a.yaml", with_when("years_since(pmt_score) > 1"), "years_since() takes a date fact, not 'pmt_score'"),
    ("zz/zz-a.yaml", with_when("known(cutoff)"), "known() takes a fact or derived variable, not a parameter"),
    ("zz/zz-a.yaml", SCHEME.replace("unit: household", "unit: household\nunit: member"), "rules/zz/zz-a.yaml:4: duplicate key 'unit'"),
    ("zz/zz-a.yaml", SCHEME + "criteria: [\n", "rules/zz/zz-a.yaml:"),
    ("zz/zz-a.yaml", SCHEME.replace("    values: {2020-01-01: 32}", "    values: {2020-01-01: 32, 2021-01-01: abc}"), "values of different types"),
    ("zz/zz-a.yaml", SCHEME.replace("  cutoff:", "  pmt_score:").replace("< cutoff", "< 3"), "rules/zz/zz-a.yaml:5: parameter 'pmt_score' hides the fact or built-in"),
    ("zz/zz-a.yaml", SCHEME.replace("unit: household", "unit: family"), "rules/zz/zz-a.yaml:3: 'unit' must be one of household, member"),
    ("zz/zz-a.yaml", SCHEME.replace("criteria:\n", "criteria:\n  - any: []\n"), "'any' must be a non-empty list of criteria"),
    ("zz/zz-a.yaml", SCHEME.replace("name: A\n", "name: A\nname_i18n: {ur: 3}\n"), "rules/zz/zz-a.yaml:3: 'name_i18n' must map language codes to texts"),
    ("zz/pack.yaml", PACK.replace("ZZ\n", "ZY\n"), "rules/zz/pack.yaml:1: country 'ZY' does not match the folder 'zz'"),
    ("zz/areas.yaml", AREAS + "  - {code: ZZ-N-1, name: X, level: 2, parent: ZZ-Q}\n", "rules/zz/areas.yaml:3: area 'ZZ-N-1': parent 'ZZ-Q' is not a level 1 area"),
    ("zz/parameters.yaml", "parameters:\n  cutoff:\n    label: X\n    values: {2020-01-01: 1}\n    reference: r\n", "rules/zz/zz-a.yaml:5: parameter 'cutoff' hides the pack parameter 'cutoff'"),
    ("derived.yaml", DERIVED + "  bad:\n    level: member\n    label: B\n    expr: any(members, True)\n", "rules/derived.yaml:13: any() is not allowed in a member-level derived variable"),
    ("derived.yaml", DERIVED + "  loop:\n    level: household\n    label: L\n    expr: loop > 1\n", "rules/derived.yaml:13: derived variable 'loop' refers to itself"),
    ("zz/zz-a.test.yaml", "- name: x\n  as_of: 2025-01-01\n  household: {pmt_scor: 3}\n  expect: {outcome: eligible}\n", "rules/zz/zz-a.test.yaml:3: 'pmt_scor' is not a declared household fact"),
    ("zz/zz-a.test.yaml", "- name: x\n  as_of: 2025-01-01\n  household:\n    members: [{id: a, sex: woman}]\n  expect: {outcome: eligible}\n", "rules/zz/zz-a.test.yaml:4: 'sex' must be one of female, male, transgender, not 'woman'"),
    ("zz/zz-a.test.yaml", "- name: x\n  as_of: 2025-01-01\n  household: {}\n  expect: {outcome: maybe, failing: [rich]}\n", "rules/zz/zz-a.test.yaml:4: 'outcome' must be one of eligible, not_eligible, undetermined"),
    ("zz/zz-b.test.yaml", "[]\n", "rules/zz/zz-b.test.yaml:1: no scheme file zz-b.yaml beside this test file"),
]


@pytest.mark.parametrize(("name", "content", "expected"), CASES,
                         ids=[c[2][:60] for c in CASES])
def test_error_is_reported_with_file_and_line(tmp_path: Path, name: str, content: str,
                                              expected: str) -> None:
    root = make(tmp_path, {name: content})
    found = errors(root)
    assert any(expected in e for e in found), found


def test_literal_block_reports_the_line_inside_the_expression(tmp_path: Path) -> None:
    scheme = SCHEME.replace("when: pmt_score < cutoff",
                            "when: |\n      pmt_score < cutoff\n      and pmt_scor > 1")
    root = make(tmp_path, {"zz/zz-a.yaml": scheme})
    assert errors(root) == ["rules/zz/zz-a.yaml:14: unknown name 'pmt_scor' (not a declared "
                            "fact, derived variable or parameter)"]


def test_all_errors_are_collected(tmp_path: Path) -> None:
    scheme = SCHEME.replace("unit: household", "unit: family\ncolour: red").replace(
        "pmt_score < cutoff", "pmt_scor < cutof")
    found = errors(make(tmp_path, {"zz/zz-a.yaml": scheme}))
    assert len(found) >= 4, found


def test_broken_pack_is_refused_and_others_load(tmp_path: Path) -> None:
    root = make(tmp_path)
    write(root, {"zy/pack.yaml": PACK.replace("ZZ", "ZY"), "zy/areas.yaml": AREAS,
                 "zy/zy-a.yaml": with_when("nonsense > 1").replace("zz-a", "zy-a")})
    book = load_rules(root)
    assert list(book.packs) == ["ZZ"]
    assert list(book.refused_packs) == ["ZY"]
    assert [e.file for e in book.refused_packs["ZY"]] == ["rules/zy/zy-a.yaml"]
    assert book.schemes_for("ZY") == []


def test_duplicate_scheme_id_across_packs(tmp_path: Path) -> None:
    root = make(tmp_path)
    write(root, {"zy/pack.yaml": PACK.replace("ZZ", "ZY"), "zy/areas.yaml": AREAS,
                 "zy/zz-a.yaml": SCHEME})
    book = load_rules(root)
    assert "rules/zz/zz-a.yaml:1: scheme id 'zz-a' is already used by pack ZY" in map(
        str, book.errors)
    assert list(book.packs) == ["ZY"]


def test_version_changes_with_content(tmp_path: Path) -> None:
    root = make(tmp_path)
    before = load_rules(root).version
    (root / "zz" / "zz-a.yaml").write_text(SCHEME.replace("name: A", "name: B"))
    assert load_rules(root).version != before


def test_parameter_value_as_of(tmp_path: Path) -> None:
    root = make(tmp_path, {"zz/zz-a.yaml": SCHEME.replace(
        "{2020-01-01: 32}", "{2020-01-01: 32, 2024-07-01: 35.5}")})
    scheme = load_rules(root).schemes["zz-a"]
    assert scheme.parameters_on(dt.date(2024, 6, 30)) == {"cutoff": 32}
    assert str(scheme.parameters_on(dt.date(2024, 7, 1))["cutoff"]) == "35.5"
    assert scheme.parameters_on(dt.date(2019, 1, 1)) is None


def test_real_rules_load_without_errors(real_book: object) -> None:
    assert [str(e) for e in real_book.errors] == []  # type: ignore[attr-defined]


# arbitrary input never crashes the loader ----------------------------------------------------
yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | st.dates().map(str),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["id", "name", "unit", "criteria", "when", "any", "not",
                                       "all", "values", "parameters", "label", "reference",
                                       "benefit", "amount", "expr", "level", "areas", "code",
                                       "derived", "household", "members", "expect", "outcome",
                                       "x"]) | st.text(max_size=5), children, max_size=5),
    max_leaves=20)
TARGETS = ["zz/zz-a.yaml", "zz/pack.yaml", "zz/areas.yaml", "zz/parameters.yaml",
           "derived.yaml", "zz/zz-a.test.yaml"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(TARGETS), text=st.text(max_size=300))
def test_arbitrary_text_never_crashes(tmp_path: Path, target: str, text: str) -> None:
    root = make(tmp_path)
    (root / target).write_text(text, encoding="utf-8", errors="surrogatepass")
    book = load_rules(root)
    assert all(isinstance(e, LoadError) and e.line >= 1 for e in book.errors)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(TARGETS), data=yaml_values)
def test_arbitrary_yaml_never_crashes(tmp_path: Path, target: str, data: object) -> None:
    root = make(tmp_path)
    (root / target).write_text(yaml.safe_dump(data, allow_unicode=True))
    book = load_rules(root)
    assert all(isinstance(e, LoadError) for e in book.errors)


@pytest.mark.parametrize("text", [
    "a: &x [*x]\n", "? [a]\n: 1\n", "a: !!python/object:os.system x\n", "--- 1\n--- 2\n",
    "a: 1e400\n", "<<: 5\n", "\t", "a: !!binary xx\n", "[" * 500, "id: 2024-02-30\n",
])
def test_nasty_yaml_is_an_error_not_a_crash(tmp_path: Path, text: str) -> None:
    root = make(tmp_path)
    for target in TARGETS:
        (root / target).write_text(text)
    assert all(isinstance(e, LoadError) for e in load_rules(root).errors)
