"""Screen one household against the schemes of a rule book, with the reasons (counter back-end).

The household is a plain snapshot: household facts by name, ``country``, ``ref``, ``members``
(each with ``id``, optional ``status`` and member facts) and ``enrolments``. Nothing here
touches Flask or a database session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sw_mis.eligibility import ir
from sw_mis.eligibility.book import Criterion, RuleBook, Scheme
from sw_mis.eligibility.evaluate import (
    SIMPLE,
    Compiler,
    Ctx,
    Fn,
    Range,
    missing_facts,
    plain,
)
from sw_mis.eligibility.loader import top_id

ELIGIBLE, NOT_ELIGIBLE, UNDETERMINED = "eligible", "not_eligible", "undetermined"
_OUTCOME = {True: ELIGIBLE, False: NOT_ELIGIBLE, None: UNDETERMINED}


def _plain_dict(values: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``values`` with every value made plain."""
    if SIMPLE.issuperset(map(type, values.values())):
        return values.copy()
    return {k: plain(v) for k, v in values.items()}


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
        if self.kind == "when":
            return {"id": self.id, "label": self.label, "outcome": self.outcome,
                    "values": _plain_dict(self.values)}
        return {"id": self.id, "label": self.label, "outcome": self.outcome,
                "values": _plain_dict(self.values), "kind": self.kind,
                "children": [c.to_dict() for c in self.children]}


class MemberResult:
    """One member's outcome in a member-level scheme; its criteria are explained on demand."""

    __slots__ = ("_criteria", "_m", "_run", "amount", "id", "missing", "name", "outcome")

    def __init__(self, id: Any, name: Any, outcome: str, missing: list[dict[str, str]],
                 amount: Any, run: _MemberRun, m: dict[str, Any]) -> None:
        self.id, self.name, self.outcome, self.missing = id, name, outcome, missing
        self.amount, self._run, self._m = amount, run, m
        self._criteria: list[CriterionResult] | None = None

    @property
    def failing(self) -> list[str]:
        """Return the ids of the member's top-level criteria that are false."""
        return [i for i, c in zip(self._run.top_ids, self.criteria, strict=True)
                if c.outcome is False and i is not None]

    @property
    def criteria(self) -> list[CriterionResult]:
        """Return the member's criteria with the values they read (computed on first use)."""
        if self._criteria is None:
            self._criteria = self._run.explain(self._m)
        return self._criteria

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        """Return the API form."""
        return self._run.to_dicts([self])[0]


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
    #: member-level: the index in ``members`` of the member shown, if any
    _pick: int | None = field(default=None, repr=False, compare=False)

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
        """Return the API form (plain JSON types).

        Each call builds new dicts, but within one result a criterion is one dict wherever it
        appears: a household-level criterion in every member's list, the criteria of the member
        shown in ``criteria`` too (as a member's missing facts are in ``missing``). Copy a part
        before changing it.
        """
        members = self.members[0]._run.to_dicts(self.members) if self.members else []
        if callable(self._criteria):
            # The member shown was just explained: its criteria, not evaluated again.
            assert self._pick is not None
            criteria = list(members[self._pick]["criteria"])
        else:
            criteria = [c.to_dict() for c in self._criteria]
        if callable(self._failing):
            self._failing = _union(d["failing"] for d in members)
        return {
            "scheme": self.scheme, "name": self.name, "unit": self.unit,
            "outcome": self.outcome,
            "criteria": criteria,
            "failing": list(self._failing),
            "missing": list(self.missing),
            "members": members,
            "benefit": None if self.benefit is None else _plain_dict(self.benefit),
            "parameters": _plain_dict(self.parameters),
        }


# compiled form -----------------------------------------------------------------------------------
class _Crit:
    __slots__ = ("children", "emit", "fn", "fn_plain", "id", "kind", "label", "per_member", "run")

    def __init__(self, c: Criterion, compile_: Compiler) -> None:
        self.id, self.label, self.kind = c.id, c.label, c.kind
        self.children = [_Crit(x, compile_) for x in c.children]
        self.fn = compile_.recording(c.expr) if c.expr is not None else None
        # A criterion that does not read the assessed member is evaluated once per household.
        self.per_member = (compile_.member_dependent(c.expr) if c.expr is not None
                           else any(k.per_member for k in self.children))
        #: ``run(ctx, m)``: the criterion's result with the values it read
        self.run: Callable[[Ctx, Any], CriterionResult]
        #: ``emit(ctx, m)``: the same evaluation, straight to ``run(ctx, m).to_dict()``; the
        #: caller drops the blank facts it leaves in ``ctx.unk``
        self.emit: Callable[[Ctx, Any], dict[str, Any]]
        #: a condition's expression, recording the values it reads as the API shows them
        self.fn_plain = compile_.recording(c.expr, plain=True) if c.expr is not None else None
        if self.fn is not None and self.fn_plain is not None:
            self.run, self.emit = self._condition(self.fn, self.fn_plain)
        else:
            self.run, self.emit = self._group()

    def _condition(self, fn: Fn, fn_plain: Fn) -> tuple[Callable[[Ctx, Any], CriterionResult],
                                                       Callable[[Ctx, Any], dict[str, Any]]]:
        cid, label = self.id, self.label

        def run(ctx: Ctx, m: Any) -> CriterionResult:
            unk = ctx.unk
            n0 = len(unk)
            rec = ctx.rec = {}
            v = fn(ctx, m)
            if len(unk) == n0:
                return CriterionResult(cid, label, v, rec, [], "when", [])
            missing = missing_facts(unk[n0:]) if v is None else []
            del unk[n0:]
            return CriterionResult(cid, label, v, rec, [], "when", missing)

        def emit(ctx: Ctx, m: Any) -> dict[str, Any]:
            rec = ctx.rec = {}
            v = fn_plain(ctx, m)  # records the values as the API shows them
            return {"id": cid, "label": label, "outcome": v, "values": rec}
        return run, emit

    def _group(self) -> tuple[Callable[[Ctx, Any], CriterionResult],
                              Callable[[Ctx, Any], dict[str, Any]]]:
        cid, label, kind = self.id, self.label, self.kind
        runs, emits = [k.run for k in self.children], [k.emit for k in self.children]
        if kind == "not" and len(runs) == 1:  # ``not: {when: …}``, the usual exclusion
            run1, emit1 = runs[0], emits[0]

            def run_not(ctx: Ctx, m: Any) -> CriterionResult:
                k = run1(ctx, m)
                if k.outcome is None:
                    return CriterionResult(cid, label, None, {}, [k], kind, list(k.missing))
                return CriterionResult(cid, label, not k.outcome, {}, [k], kind, [])

            def emit_not(ctx: Ctx, m: Any) -> dict[str, Any]:
                k = emit1(ctx, m)
                v = k["outcome"]
                return {"id": cid, "label": label, "outcome": None if v is None else not v,
                        "values": {}, "kind": kind, "children": [k]}
            return run_not, emit_not

        def run(ctx: Ctx, m: Any) -> CriterionResult:
            kids = [r(ctx, m) for r in runs]
            v = _combine(kind, [k.outcome for k in kids])
            missing = ([p for k in kids if k.outcome is None for p in k.missing] if v is None
                       else [])
            return CriterionResult(cid, label, v, {}, kids, kind, missing)

        def emit(ctx: Ctx, m: Any) -> dict[str, Any]:
            kids = [e(ctx, m) for e in emits]
            v = _combine(kind, [k["outcome"] for k in kids])
            return {"id": cid, "label": label, "outcome": v, "values": {}, "kind": kind,
                    "children": kids}
        return run, emit


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


class _MemberRun:
    """What explaining a member of one member-level scheme needs, shared by its members."""

    __slots__ = ("crits", "ctx", "params", "shared", "top_ids")

    def __init__(self, crits: list[_Crit], ctx: Ctx, params: dict[str, Any],
                 shared: list[CriterionResult | None], top_ids: list[str | None]) -> None:
        self.crits, self.ctx, self.params, self.shared = crits, ctx, params, shared
        self.top_ids = top_ids

    def explain(self, m: dict[str, Any]) -> list[CriterionResult]:
        """Return member ``m``'s criteria, the household-level ones as already evaluated."""
        ctx = self.ctx
        ctx.params = self.params  # another scheme may have run since
        return [c.run(ctx, m) if r is None else r
                for c, r in zip(self.crits, self.shared, strict=True)]

    def to_dicts(self, members: list[MemberResult]) -> list[dict[str, Any]]:
        """Return the API form of ``members`` (of this run), explaining each one."""
        ctx = self.ctx
        ctx.params = self.params  # another scheme may have run since
        # Per criterion: its dict if household-level (the same for every member), else how to
        # build it, a condition's inline as in _Crit.emit.
        plan = [(None if r is None else r.to_dict(), c.fn_plain or c.emit, c.fn_plain is not None,
                 c.id, c.label, i)
                for c, r, i in zip(self.crits, self.shared, self.top_ids, strict=True)]
        unk = ctx.unk
        n0 = len(unk)
        found: list[dict[str, Any]] = []
        for member in members:
            criteria: list[dict[str, Any]]
            failing: list[str]
            if member._criteria is not None:
                criteria = [c.to_dict() for c in member._criteria]
                failing = member.failing
            else:
                # Straight to the API form: no CriterionResult objects for a one-off
                # explanation.
                m = member._m
                criteria, failing = [], []
                for d, fn, condition, cid, label, top in plan:
                    if d is None:
                        if condition:
                            rec = ctx.rec = {}
                            d = {"id": cid, "label": label, "outcome": fn(ctx, m), "values": rec}
                        else:
                            d = fn(ctx, m)
                    criteria.append(d)
                    if d["outcome"] is False and top is not None:
                        failing.append(top)
            amount = member.amount
            found.append({
                "id": member.id, "name": member.name, "outcome": member.outcome,
                "failing": failing, "missing": member.missing,
                "amount": amount if type(amount) in SIMPLE else plain(amount),
                "criteria": criteria})
        del unk[n0:]  # the blank facts the criteria read
        return found


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
        pick: int | None = None
        if s.unit == "household":
            v, criteria = self._assess(ctx, None)
            failing = self._failing(criteria)
            missing = _missing(criteria) if v is None else []
            amount = self._amount(ctx, None)
        else:
            members = self._members(ctx, params)
            eligible: list[MemberResult] = []
            undetermined: list[MemberResult] = []
            for m in members:  # a loop, not comprehensions: this runs for every scheme
                if m.outcome == ELIGIBLE:
                    eligible.append(m)
                elif m.outcome == UNDETERMINED:
                    undetermined.append(m)
            v = True if eligible else (None if undetermined else False)
            # The member shown at top level: the first eligible, else undetermined, else first.
            if members:
                shown = eligible[0] if eligible else (undetermined[0] if undetermined
                                                      else members[0])
                pick = members.index(shown)
                criteria = _lazy_criteria(shown)
            else:
                criteria = []
            failing: list[str] | Callable[[], list[str]] = [] if v is not False else (
                lambda: _union(m.failing for m in members))
            missing = [] if v is not None else _union_missing(m.missing for m in undetermined)
            amounts = [m.amount for m in eligible]
            amount = None if not amounts or None in amounts else sum(amounts)
        benefit = None
        if s.benefit is not None:
            benefit = {"type": s.benefit["type"], "amount": amount,
                       "currency": s.benefit.get("currency"), "period": s.benefit.get("period")}
        return SchemeResult(s.id, s.name, s.unit, _OUTCOME[v], missing, members, benefit,
                            dict(params), criteria, failing, pick)

    def _members(self, ctx: Ctx, params: dict[str, Any]) -> list[MemberResult]:
        """Decide every member quickly; explain a member's criteria only when asked."""
        # Criteria that do not read the assessed member are evaluated once for the household.
        shared: list[CriterionResult | None] = []
        common: bool | None = True
        common_missing: list[tuple[str, str]] = []
        for c in self.criteria:
            r = None if c.per_member else c.run(ctx, None)
            shared.append(r)
            if r is None:
                continue
            if r.outcome is False:
                common = False
            elif r.outcome is None:
                common_missing += r.missing
                if common is True:
                    common = None
        run = _MemberRun(self.criteria, ctx, params, shared, self.top_ids)
        member_all = self.member_all
        unk = ctx.unk
        found = []
        for m in ctx.members:
            if common is False:  # a household criterion fails: so does every member
                found.append(MemberResult(m.get("id"), m.get("given_name"), NOT_ELIGIBLE, [],
                                          None, run, m))
                continue
            n0 = len(unk)
            own = member_all(ctx, m) if member_all is not None else True
            if own is False:
                found.append(MemberResult(m.get("id"), m.get("given_name"), NOT_ELIGIBLE, [],
                                          None, run, m))
                continue
            missing: list[dict[str, str]] = []
            if own is None or common is None:
                facts = (missing_facts(unk[n0:]) if own is None else []) + common_missing
                missing = [{"path": p, "label": lab} for p, lab in dict(facts).items()]
                outcome = UNDETERMINED
            else:
                outcome = ELIGIBLE
            del unk[n0:]
            found.append(MemberResult(m.get("id"), m.get("given_name"), outcome, missing,
                                      self._amount(ctx, m), run, m))
        return found


def _lazy_criteria(member: MemberResult) -> Callable[[], list[CriterionResult]]:
    return lambda: member.criteria


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
    cache = book.cache.get("py")
    if cache is None:
        cache = book.cache["py"] = {}
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
