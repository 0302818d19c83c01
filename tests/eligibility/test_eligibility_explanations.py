"""The counter back-end's explanations: the fast API form agrees with the CriterionResult objects.

``SchemeResult.to_dict()`` builds a member's criteria straight from the closures, without
CriterionResult objects; ``.criteria`` and ``.failing`` build the objects. Both must say the same
thing, in the same order, with the same values, whichever is asked first.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

import pytest
from eligibility_data import Domains, random_household

from sw_mis.eligibility.book import RuleBook
from sw_mis.eligibility.engine import SchemeResult, screen_household
from sw_mis.eligibility.service import jsonable

DATES = (dt.date(2025, 3, 1), dt.date(2024, 1, 1))


def households(book: RuleBook, as_of: dt.date, per_country: int) -> list[dict[str, Any]]:
    """Random households with gaps for every pack, some as JSON would give them."""
    rng = random.Random(f"explanations-{as_of}")
    dom = Domains(book, as_of)
    found = []
    for country in sorted(book.packs):
        for k in range(per_country):
            h = random_household(rng, dom, country, blank=rng.choice((0.0, 0.1, 0.3, 0.6)))
            for i, m in enumerate(h["members"]):
                m["id"], m["given_name"] = rng.choice((f"m{k}-{i}", i + 1, None)), "Amina"
            found.append(jsonable(h) if k % 3 == 0 else h)
    return found


def from_objects(r: SchemeResult) -> dict[str, Any]:
    """The API form built from the CriterionResult objects (asked for before ``to_dict``)."""
    failing, criteria = r.failing, [c.to_dict() for c in r.criteria]
    members = [(m.failing, [c.to_dict() for c in m.criteria]) for m in r.members]
    d = r.to_dict()
    assert (d["failing"], d["criteria"]) == (failing, criteria)
    assert [(m["failing"], m["criteria"]) for m in d["members"]] == members
    return d


@pytest.mark.parametrize("as_of", DATES)
@pytest.mark.parametrize("which", ["fixture_book", "real_book"])
def test_to_dict_agrees_with_the_criterion_objects(which: str, as_of: dt.date,
                                                   request: pytest.FixtureRequest) -> None:
    book = request.getfixturevalue(which)
    for h in households(book, as_of, per_country=8 if which == "real_book" else 60):
        fast = [r.to_dict() for r in screen_household(book, h, as_of)]
        slow = [from_objects(r) for r in screen_household(book, h, as_of)]
        assert fast == slow
        assert json.dumps(fast) == json.dumps(slow)  # plain JSON types, in the same order


def test_a_member_alone_reads_as_in_its_scheme(real_book: RuleBook) -> None:
    for h in households(real_book, DATES[0], per_country=4):
        for r in screen_household(real_book, h, DATES[0]):
            members = [m.to_dict() for m in r.members]
            assert r.to_dict()["members"] == members


def test_each_call_builds_its_own_dicts(fixture_book: RuleBook) -> None:
    for h in households(fixture_book, DATES[0], per_country=30):
        for r in screen_household(fixture_book, h, DATES[0]):
            first = r.to_dict()
            kept = json.dumps(first)
            for c in first["criteria"] + [c for m in first["members"] for c in m["criteria"]]:
                c["values"]["changed"] = True
                c["outcome"] = "changed"
            first["parameters"].clear()
            assert json.dumps(r.to_dict()) == kept
