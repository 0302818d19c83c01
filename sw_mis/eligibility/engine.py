"""Screen one household against the schemes of a rule book, with the reasons (counter back-end).

The household is a plain snapshot: household facts by name, ``country``, ``ref``, ``members``
(each with ``id``, optional ``status`` and member facts) and ``enrolments``. Nothing here
touches Flask or a database session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sw_mis.eligibility import ir
from sw_mis.eligibility.book import Criterion, RuleBook, Scheme
from sw_mis.eligibility.evaluate import Compiler, Ctx, Fn, Range
from sw_mis.eligibility.loader import top_id

ELIGIBLE, NOT_ELIGIBLE, UNDETERMINED = "eligible", "not_eligible", "undetermined"
_OUTCOME = {True: ELIGIBLE, False: NOT_ELIGIBLE, None: UNDETERMINED}


def plain(value: Any) -> Any:
    """Return ``value`` as JSON-friendly data (Decimal -> int/float, Range -> [lo, hi])."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Range):
        return [value.lo, value.hi]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


class CriterionResult:
    """The outcome of one criterion (or group), the values it read and its sub-criteria."""

    __slots__ = ("children", "id", "kind", "label", "missing", "outcome", "values")

    def __init__(self, id: str | None, label: str, outcome: bool | None, values: dict[str, Any],
                 children: list[CriterionResult], kind: str,
                 missing: list[tuple[str, str]]) -> None:
        self.id, self.label, self.outcome, self.values = id, label, outcome, values
        self.children, self.kind, self.missing = children, kind, missing

    def __repr__(self) -> str:
        return f"CriterionResult({self.id!r}, {self.outcome!r}, {self.values!r})"

    def to_dict(self) -> dict[str, Any]:
        """Return the API form."""
        d: dict[str, Any] = {"id": self.id, "label": self.label, "outcome": self.outcome,
                             "values": {k: plain(v) for k, v in self.values.items()}}
        if self.kind != "when":
            d["kind"] = self.kind
            d["children"] = [c.to_dict() for c in self.children]
        return d


class MemberResult:
    """One member's outcome in a member-level scheme; its criteria are explained on demand."""

    __slots__ = ("_criteria", "_explain", "_top_ids", "amount", "id", "missing", "name",
                 "outcome")

    def __init__(self, id: Any, name: Any, outcome: str, missing: list[dict[str, str]],
                 amount: Any, explain: Callable[[], list[CriterionResult]],
                 top_ids: list[str | None]) -> None:
        self.id, self.name, self.outcome, self.missing = id, name, outcome, missing
        self.amount, self._explain, self._top_ids = amount, explain, top_ids
        self._criteria: list[CriterionResult] | None = None

    @property
    def failing(self) -> list[str]:
        """Return the ids of the member's top-level criteria that are false."""
        return [i for i, c in zip(self._top_ids, self.criteria, strict=True)
                if c.outcome is False and i is not None]

    @property
    def criteria(self) -> list[CriterionResult]:
        """Return the member's criteria with the values they read (computed on first use)."""
        if self._criteria is None:
            self._criteria = self._explain()
        return self._criteria

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        """Return the API form."""
        return {"id": self.id, "name": self.name, "outcome": self.outcome,
                "failing": self.failing, "missing": self.missing, "amount": plain(self.amount),
                "criteria": [c.to_dict() for c in self.criteria]}


@dataclass
class SchemeResult:
    """The screening of one household for one scheme."""

    scheme: str
    name: str
    unit: str
    outcome: str
    missing: list[dict[str, str]]
    members: list[MemberResult]
    benefit: dict[str, Any] | None
    parameters: dict[str, Any]
    #: household-level: the criteria; member-level: those of the member shown (see docs)
    _criteria: list[CriterionResult] | Callable[[], list[CriterionResult]]
    _failing: list[str] | Callable[[], list[str]]

    @property
    def failing(self) -> list[str]:
        """Return the ids of the false top-level criteria (member-level: of any member)."""
        if callable(self._failing):
            self._failing = self._failing()
        return self._failing

    @property
    def criteria(self) -> list[CriterionResult]:
        """Return the top-level criteria with their values (computed on first use)."""
        if callable(self._criteria):
            self._criteria = self._criteria()
        return self._criteria

    def to_dict(self) -> dict[str, Any]:
        """Return the API form (plain JSON types)."""
        return {
            "scheme": self.scheme, "name": self.name, "unit": self.unit,
            "outcome": self.outcome,
            "criteria": [c.to_dict() for c in self.criteria],
            "failing": list(self.failing),
            "missing": list(self.missing),
            "members": [m.to_dict() for m in self.members],
            "benefit": None if self.benefit is None else {
                k: plain(v) for k, v in self.benefit.items()},
            "parameters": {k: plain(v) for k, v in self.parameters.items()},
        }


# compiled form -----------------------------------------------------------------------------------
class _Crit:
    __slots__ = ("children", "fn", "id", "kind", "label", "per_member")

    def __init__(self, c: Criterion, compile_: Compiler) -> None:
        self.id, self.label, self.kind = c.id, c.label, c.kind
        self.children = [_Crit(x, compile_) for x in c.children]
        self.fn = compile_.recording(c.expr) if c.expr is not None else None
        # A criterion that does not read the assessed member is evaluated once per household.
        self.per_member = (compile_.member_dependent(c.expr) if c.expr is not None
                           else any(k.per_member for k in self.children))

    def run(self, ctx: Ctx, m: Any) -> CriterionResult:
        if self.fn is not None:
            unk = ctx.unk
            n0 = len(unk)
            rec = ctx.rec = {}
            v = self.fn(ctx, m)
            missing: list[tuple[str, str]] = []
            if len(unk) != n0:
                if v is None:
                    missing = unk[n0:]
                del unk[n0:]
            return CriterionResult(self.id, self.label, v, rec, [], "when", missing)
        kids = [k.run(ctx, m) for k in self.children]
        v = _combine(self.kind, [k.outcome for k in kids])
        missing = [p for k in kids if k.outcome is None for p in k.missing] if v is None else []
        return CriterionResult(self.id, self.label, v, {}, kids, self.kind, missing)


def _combine(kind: str, outcomes: list[bool | None]) -> bool | None:
    if kind == "not":
        v = outcomes[0] if outcomes else None
        return None if v is None else not v
    if kind == "any":
        if True in outcomes:
            return True
        return None if None in outcomes else False
    if False in outcomes:
        return False
    return None if None in outcomes else True


class CompiledScheme:
    """A scheme's criteria and amount as closures, built once per rule book."""

    def __init__(self, scheme: Scheme, compile_: Compiler) -> None:
        self.scheme = scheme
        self.criteria = [_Crit(c, compile_) for c in scheme.criteria]
        self.amount: Fn | None = compile_(scheme.amount) if scheme.amount is not None else None
        self.top_ids = [top_id(c) for c in scheme.criteria]
        # Member-level schemes: one short-circuiting closure decides a member's own criteria.
        own = [criterion_expr(c) for c, k in zip(scheme.criteria, self.criteria, strict=True)
               if k.per_member]
        self.member_all: Fn | None = compile_(ir.And("bool", tuple(own))) if own else None

    def _assess(self, ctx: Ctx, m: Any) -> tuple[bool | None, list[CriterionResult]]:
        results = [c.run(ctx, m) for c in self.criteria]
        return _combine("all", [r.outcome for r in results]), results

    def _failing(self, results: list[CriterionResult]) -> list[str]:
        return [i for i, r in zip(self.top_ids, results, strict=True)
                if r.outcome is False and i is not None]

    def _amount(self, ctx: Ctx, m: Any) -> Any:
        if self.amount is None:
            return None
        n0 = len(ctx.unk)
        v = self.amount(ctx, m)
        del ctx.unk[n0:]
        return None if isinstance(v, Range) else v

    def run(self, ctx: Ctx, params: dict[str, Any]) -> SchemeResult:
        s = self.scheme
        ctx.params = params
        members: list[MemberResult] = []
        criteria: list[CriterionResult] | Callable[[], list[CriterionResult]]
        if s.unit == "household":
            v, criteria = self._assess(ctx, None)
            failing = self._failing(criteria)
            missing = _missing(criteria) if v is None else []
            amount = self._amount(ctx, None)
        else:
            members = self._members(ctx, params)
            outcomes = [m.outcome for m in members]
            v = True if ELIGIBLE in outcomes else (None if UNDETERMINED in outcomes else False)
            # The member shown at top level: the first eligible, else undetermined, else first.
            pick = next((m for m in members if m.outcome == ELIGIBLE), None) or next(
                (m for m in members if m.outcome == UNDETERMINED), None) or (
                members[0] if members else None)
            criteria = (lambda: pick.criteria) if pick is not None else []
            failing: list[str] | Callable[[], list[str]] = [] if v is not False else (
                lambda: _union(m.failing for m in members))
            missing = [] if v is not None else _union_missing(
                m.missing for m in members if m.outcome == UNDETERMINED)
            amounts = [m.amount for m in members if m.outcome == ELIGIBLE]
            amount = None if not amounts or None in amounts else sum(amounts)
        benefit = None
        if s.benefit is not None:
            benefit = {"type": s.benefit["type"], "amount": amount,
                       "currency": s.benefit.get("currency"), "period": s.benefit.get("period")}
        return SchemeResult(
            scheme=s.id, name=s.name, unit=s.unit, outcome=_OUTCOME[v], missing=missing,
            members=members, benefit=benefit, parameters=dict(params), _criteria=criteria,
            _failing=failing,
        )

    def _members(self, ctx: Ctx, params: dict[str, Any]) -> list[MemberResult]:
        """Decide every member quickly; explain a member's criteria only when asked."""
        # Criteria that do not read the assessed member are evaluated once for the household.
        shared = [None if c.per_member else c.run(ctx, None) for c in self.criteria]
        pairs = list(zip(self.criteria, shared, strict=True))
        common = _combine("all", [r.outcome for r in shared if r is not None])
        common_missing = [p for r in shared if r is not None and r.outcome is None
                          for p in r.missing]
        unk = ctx.unk
        found = []
        for m in ctx.members:
            if common is False:  # a household criterion fails: so does every member
                v: bool | None = False
            else:
                n0 = len(unk)
                own = self.member_all(ctx, m) if self.member_all is not None else True
                v = _combine("all", [common, own])
            missing: list[dict[str, str]] = []
            if v is None:
                facts = (unk[n0:] if own is None else []) + common_missing
                missing = [{"path": p, "label": lab} for p, lab in dict(facts).items()]
            if v is not False:
                del unk[n0:]
            found.append(MemberResult(
                m.get("id"), m.get("given_name"), _OUTCOME[v], missing,
                self._amount(ctx, m) if v is not False else None,
                self._explainer(ctx, m, params, pairs), self.top_ids))
        return found

    @staticmethod
    def _explainer(ctx: Ctx, m: Any, params: dict[str, Any],
                   pairs: list[tuple[_Crit, CriterionResult | None]],
                   ) -> Callable[[], list[CriterionResult]]:
        def explain() -> list[CriterionResult]:
            ctx.params = params  # another scheme may have run since
            return [c.run(ctx, m) if r is None else r for c, r in pairs]
        return explain


def criterion_expr(c: Criterion) -> ir.Node:
    """Fold a criterion tree into one expression: groups are and/or/not of their children."""
    if c.kind == "when":
        assert c.expr is not None
        return c.expr
    kids = tuple(criterion_expr(k) for k in c.children)
    if c.kind == "not":
        return ir.Not("bool", kids[0])
    return (ir.And if c.kind == "all" else ir.Or)("bool", kids)


def _missing(results: list[CriterionResult]) -> list[dict[str, str]]:
    seen: dict[str, str] = {}
    for r in results:
        if r.outcome is None:
            for path, label in r.missing:
                seen.setdefault(path, label)
    return [{"path": p, "label": lab} for p, lab in seen.items()]


def _union(lists: Iterable[list[str]]) -> list[str]:
    return list(dict.fromkeys(x for lst in lists for x in lst))


def _union_missing(lists: Iterable[list[dict[str, str]]]) -> list[dict[str, str]]:
    seen: dict[str, dict[str, str]] = {}
    for lst in lists:
        for item in lst:
            seen.setdefault(item["path"], item)
    return list(seen.values())


def compiled(book: RuleBook, scheme: Scheme) -> CompiledScheme:
    """Return the closures of ``scheme``, compiling them on first use."""
    cache = book.cache.setdefault("py", {})
    cs = cache.get(scheme.id)
    if cs is None:
        compiler = book.cache.get("py_compiler")
        if compiler is None:
            compiler = book.cache["py_compiler"] = Compiler(book.derived)
        cs = cache[scheme.id] = CompiledScheme(scheme, compiler)
    return cs


def screen_household(book: RuleBook, household: dict[str, Any], as_of: dt.date,
                     schemes: Iterable[str | Scheme] | None = None) -> list[SchemeResult]:
    """Screen one household snapshot against its country's schemes (or ``schemes``) on ``as_of``."""
    if schemes is None:
        chosen = book.schemes_for(household.get("country") or "")
    else:
        chosen = [s if isinstance(s, Scheme) else book.schemes[s] for s in schemes]
    ctx = Ctx(household, as_of)
    results = []
    for scheme in chosen:
        params = scheme.parameters_on(as_of)
        if params is None:  # not in force on that date
            continue
        results.append(compiled(book, scheme).run(ctx, params))
    return results
