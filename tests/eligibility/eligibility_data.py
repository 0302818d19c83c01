"""Generate households with gaps, aimed at the thresholds of a rule book, for both back-ends.

Values are drawn near every number and text the rules mention (k-1, k, k+1; ages just below
and above each age limit), and any fact may be blank, so the differential test exercises the
unknown paths as well as the boundaries.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st
from sqlalchemy import insert
from sqlalchemy.engine import Connection

from sw_mis.eligibility import ir
from sw_mis.eligibility.book import RuleBook
from sw_mis.eligibility.sql import enrolments, households, members
from sw_mis.registry.fields import HOUSEHOLD_FIELDS, MEMBER_FIELDS, FactField

RELATIONSHIPS = ("head", "spouse", "spouse", "child", "child", "parent", "other_relative")


class Domains:
    """The interesting values of every fact for one rule book and as-of date."""

    def __init__(self, book: RuleBook, as_of: dt.date) -> None:
        self.as_of = as_of
        numbers: set[Any] = {0, 1, 2, 3, 5}
        texts: set[str] = set()
        self.enrolled: set[str] = set()
        nodes: list[ir.Node] = [v.expr for v in book.derived.values()]
        for scheme in book.schemes.values():
            params = scheme.parameters_on(as_of) or {}
            for value in params.values():
                for v in value if isinstance(value, tuple) else (value,):
                    (texts if isinstance(v, str) else numbers).add(v)
            stack = list(scheme.criteria)
            while stack:
                c = stack.pop()
                stack += c.children
                if c.expr is not None:
                    nodes.append(c.expr)
        for root in nodes:
            for n in ir.walk(root):
                if isinstance(n, ir.Const) and n.t == "num":
                    numbers.add(n.value)
                elif isinstance(n, ir.Const) and n.t == "str":
                    texts.add(n.value)
                elif isinstance(n, ir.ListConst):
                    for v in n.items:
                        (texts if isinstance(v, str) else numbers).add(v)
                elif isinstance(n, ir.Enrolled):
                    self.enrolled.add(n.scheme_id)
        for pack in book.packs.values():
            texts |= {a["code"] for a in pack.areas}
        ints = sorted({int(x) + d for x in numbers for d in (-1, 0, 1) if 0 <= int(x) + d < 10**6})
        self.ints = ints or [0]
        self.decimals = sorted({Decimal(x).quantize(Decimal("0.01")) + d for x in numbers
                                for d in (Decimal("-0.01"), Decimal(0), Decimal("0.01"))
                                if 0 <= x < 10**9} | {Decimal("0.50")})
        self.texts = sorted(texts) or ["x"]
        ages = sorted({int(x) for x in numbers if 0 <= x <= 110} | {0, 1, 4, 5, 17, 18, 60, 65})
        self.birth_dates = sorted({_years_before(as_of, a, shift) for a in ages
                                   for shift in (-1, 0, 1)} | {dt.date(2024, 2, 29)})
        self.months = sorted({_months_before(as_of, int(x)) for x in numbers if 0 <= x <= 60})

    def values(self, f: FactField) -> list[Any]:
        """Return the candidate values of one fact."""
        if f.kind == "bool":
            return [True, False]
        if f.kind == "enum":
            return list(f.choices)
        if f.kind == "int":
            hi = f.maximum if f.maximum is not None else 10**6
            lo = f.minimum if f.minimum is not None else 0
            return [v for v in self.ints if lo <= v <= hi] or [int(lo)]
        if f.kind == "decimal":
            return [v for v in self.decimals if v < 10**11]
        if f.kind == "date":
            return self.birth_dates + self.months
        if f.name in ("admin1", "admin2", "admin3", "country_of_residence",
                      "domicile_province", "disability_certified_by"):
            return [t[: f.max_length] for t in self.texts]
        return ["x"]


def _years_before(as_of: dt.date, years: int, shift_days: int) -> dt.date:
    try:
        d = as_of.replace(year=as_of.year - years)
    except ValueError:
        d = as_of.replace(year=as_of.year - years, day=28)
    return d + dt.timedelta(days=shift_days)


def _months_before(as_of: dt.date, months: int) -> dt.date:
    total = as_of.year * 12 + as_of.month - 1 - months
    return dt.date(total // 12, total % 12 + 1, min(as_of.day, 28))


def random_household(rng: random.Random, dom: Domains, country: str, blank: float = 0.3,
                     ) -> dict[str, Any]:
    """Return one household snapshot with random gaps (plain random, for bulk tests)."""
    def pick(f: FactField) -> Any:
        return None if rng.random() < blank else rng.choice(dom.values(f))

    h: dict[str, Any] = {"country": country}
    h.update({f.name: pick(f) for f in HOUSEHOLD_FIELDS})
    h["members"] = []
    for i in range(rng.choice((0, 1, 2, 3, 4, 5, 5, 6))):
        m = {f.name: pick(f) for f in MEMBER_FIELDS}
        m["relationship_to_head"] = "head" if i == 0 else rng.choice((*RELATIONSHIPS, None))
        m["status"] = "present" if rng.random() < 0.9 else "left"
        h["members"].append(m)
    h["enrolments"] = [_enrolment(rng, dom) for _ in range(rng.choice((0, 0, 1, 2)))]
    return h


def _enrolment(rng: random.Random, dom: Domains) -> dict[str, Any]:
    day = dom.as_of
    return {"scheme": rng.choice(sorted(dom.enrolled) or ["none"]),
            "status": rng.choice(("active", "active", "exited")),
            "start_date": rng.choice((None, day, day + dt.timedelta(days=1),
                                      day - dt.timedelta(days=400))),
            "end_date": rng.choice((None, None, day, day - dt.timedelta(days=1)))}


def household_strategy(dom: Domains, country: str) -> st.SearchStrategy[dict[str, Any]]:
    """Return a hypothesis strategy of household snapshots (shrinks towards blanks)."""
    def fact(f: FactField) -> st.SearchStrategy[Any]:
        return st.one_of(st.none(), st.sampled_from(dom.values(f)))

    member = st.fixed_dictionaries(
        {f.name: fact(f) for f in MEMBER_FIELDS}
        | {"relationship_to_head": st.sampled_from((*RELATIONSHIPS, None)),
           "status": st.sampled_from(("present", "present", "left"))})
    enrolment = st.builds(lambda seed: _enrolment(random.Random(seed), dom),
                          st.integers(0, 10**6))
    return st.fixed_dictionaries(
        {f.name: fact(f) for f in HOUSEHOLD_FIELDS}
        | {"country": st.just(country), "members": st.lists(member, max_size=6),
           "enrolments": st.lists(enrolment, max_size=2)})


def insert_households(conn: Connection, snapshots: list[dict[str, Any]], first_id: int = 1,
                      ) -> None:
    """Insert snapshots with ids from ``first_id``; set the ids (and member ids) they get."""
    hrows, mrows, erows = [], [], []
    mid = first_id * 10
    for i, h in enumerate(snapshots):
        hid = first_id + i
        h["id"] = hid
        hrows.append({**{f.name: h.get(f.name) for f in HOUSEHOLD_FIELDS}, "id": hid,
                      "ref": f"T{hid}", "country": h["country"], "status": "active",
                      "consent_given": True})
        for pos, m in enumerate(h["members"]):
            m["id"] = mid
            mrows.append({**{f.name: m.get(f.name) for f in MEMBER_FIELDS}, "id": mid,
                          "household_id": hid, "position": pos, "given_name": f"M{mid}",
                          "status": m["status"]})
            mid += 1
        for e in h["enrolments"]:
            erows.append({"household_id": hid, "scheme_id": e["scheme"], "status": e["status"],
                          "start_date": e["start_date"], "end_date": e["end_date"]})
    if hrows:
        conn.execute(insert(households), hrows)
    if mrows:
        conn.execute(insert(members), mrows)
    if erows:
        conn.execute(insert(enrolments), erows)
    if conn.dialect.name == "postgresql":
        # As autovacuum would: without statistics the planner picks quadratic nested loops.
        conn.exec_driver_sql("ANALYZE households, members, enrolments")
