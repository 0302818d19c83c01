"""Run the ``<scheme>.test.yaml`` cases of a rule book and explain every difference."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sw_mis.eligibility.book import RuleBook, Scheme
from sw_mis.eligibility.engine import ELIGIBLE, NOT_ELIGIBLE, UNDETERMINED, screen_household
from sw_mis.eligibility.loader import load_rules


@dataclass(frozen=True)
class CaseResult:
    """One test case (or one load error, or one missing kind of case) and whether it passed."""

    scheme: str
    name: str
    file: str
    line: int
    passed: bool
    message: str = ""

    def __str__(self) -> str:
        status = "ok" if self.passed else "FAIL"
        text = f"{self.file}:{self.line}: {status} {self.scheme}: {self.name}"
        return text + (f"\n    {self.message}" if self.message else "")


def run_rule_tests(book: RuleBook | str | Path) -> list[CaseResult]:
    """Run every test case of ``book`` (a RuleBook or a rules directory); load errors fail."""
    if not isinstance(book, RuleBook):
        book = load_rules(book)
    results = [CaseResult(e.file.split("/")[-1].split(".")[0], "loads without errors", e.file,
                          e.line, False, e.message) for e in book.errors]
    for scheme in book.schemes.values():
        results += [run_case(book, scheme, case) for case in scheme.tests]
        results.append(_coverage(scheme))
    return results


def _coverage(scheme: Scheme) -> CaseResult:
    have = {c["expect"].get("outcome") for c in scheme.tests}
    lacking = [o for o in (ELIGIBLE, NOT_ELIGIBLE, UNDETERMINED) if o not in have]
    file = str(scheme.tests_file or scheme.file)
    message = f"no {', no '.join(lacking)} case" if lacking else ""
    return CaseResult(scheme.id, "has eligible, not eligible and undetermined cases", file, 1,
                      not lacking, message)


def run_case(book: RuleBook, scheme: Scheme, case: dict[str, Any]) -> CaseResult:
    """Screen one test household and compare with its ``expect`` block."""
    household = {"country": scheme.country, **case["household"]}
    results = screen_household(book, household, case["as_of"], [scheme])
    expect = case["expect"]
    problems: list[str] = []
    if not results:
        problems.append(f"the scheme is not in force on {case['as_of']} (valid_from, "
                        "valid_until or a parameter without a value on that date)")
    else:
        r = results[0]
        if r.outcome != expect["outcome"]:
            problems.append(f"outcome: expected {expect['outcome']}, got {r.outcome}")
        if expect.get("members") is not None:
            want = sorted(str(x) for x in expect["members"])
            got = sorted(str(m["id"]) for m in r.members if m["outcome"] == ELIGIBLE)
            if want != got:
                problems.append(f"eligible members: expected {want}, got {got}")
        lacking = [x for x in expect.get("failing") or () if x not in r.failing]
        if lacking:
            problems.append(f"failing: expected {lacking} among the false criteria, "
                            f"got {r.failing}")
        paths = [m["path"] for m in r.missing]
        names = set(paths) | {p.rsplit(".", 1)[-1] for p in paths}
        lacking = [x for x in expect.get("missing") or () if str(x) not in names]
        if lacking:
            problems.append(f"missing: expected {lacking} among the missing facts, got {paths}")
        if problems:
            false = [c.id for c in r.criteria if c.outcome is False]
            unknown = [c.id for c in r.criteria if c.outcome is None]
            problems.append(f"(criteria false: {false}; unknown: {unknown})")
    return CaseResult(scheme.id, case["name"], case["file"], case["line"], not problems,
                      "; ".join(problems))
