"""Every scheme's own test cases (``<scheme>.test.yaml``) pass, for the fixture and real packs."""

from __future__ import annotations

import pytest

from sw_mis.eligibility.rules_test import CaseResult, run_rule_tests
from tests.eligibility.conftest import FIXTURE_RULES, REAL_RULES


def _cases(root: object) -> list[CaseResult]:
    return run_rule_tests(root)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", _cases(FIXTURE_RULES), ids=str)
def test_fixture_pack_case(case: CaseResult) -> None:
    assert case.passed, str(case)


@pytest.mark.parametrize("case", _cases(REAL_RULES), ids=lambda c: f"{c.scheme}: {c.name}")
def test_shipped_rule_case(case: CaseResult) -> None:
    assert case.passed, str(case)


def test_runner_explains_a_wrong_expectation(fixture_book: object) -> None:
    from sw_mis.eligibility.rules_test import run_case

    book = fixture_book
    scheme = book.schemes["zz-poverty-elderly"]  # type: ignore[attr-defined]
    case = {**scheme.tests[0], "expect": {"outcome": "not_eligible", "failing": ["covered"],
                                          "missing": ["pmt_score"]}}
    result = run_case(book, scheme, case)  # type: ignore[arg-type]
    assert not result.passed
    assert "outcome: expected not_eligible, got eligible" in result.message
    assert "failing: expected ['covered'] among the false criteria, got []" in result.message
    assert "missing: expected ['pmt_score'] among the missing facts, got []" in result.message
