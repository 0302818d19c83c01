"""Compile a scheme's IR to one set-based SELECT, and screen the whole registry with it.

For each scheme the SELECT yields ``(household_id, member_id, outcome)`` for every active
household of the scheme's country (and every present member, for member-level schemes).
Quantifiers become conditional aggregates over the members grouped by household: for a
condition ``c`` the number of members for which it is true (``t``), unknown (``u``) and the
number of members (``n``), from which ``any``/``all``/``count`` follow exactly as in
``evaluate.py``. ``others`` subtracts the assessed member's own contribution; ``spouses`` uses
aggregates split by relationship. SQL NULL is *unknown*: comparisons, AND/OR/NOT and CASE
already follow Kleene logic on PostgreSQL and SQLite.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    cast,
    false,
    func,
    insert,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import ColumnElement, Select
from sqlalchemy.sql.util import ClauseAdapter

from sw_mis.eligibility import ir
from sw_mis.eligibility.book import RuleBook, Scheme
from sw_mis.eligibility.engine import criterion_expr
from sw_mis.eligibility.models import ScreeningCount, ScreeningResult, ScreeningRun
from sw_mis.eligibility.sqlfuncs import AgeOn, Divide, Kleene
from sw_mis.registry.models import Enrolment, Household, Member

households = Household.__table__
members = Member.__table__
enrolments = Enrolment.__table__
runs = ScreeningRun.__table__
results = ScreeningResult.__table__
counts = ScreeningCount.__table__

SQL = ColumnElement[Any]
#: Extra columns of a scheme's SELECT, from the household and member aliases screened.
Columns = Callable[[Any, Any], list[SQL]]
#: What an unknown condition adds to its members' sum: the sum is then ``true + unknown * this``
#: (exact while a household has fewer members than this).
UNKNOWN_WEIGHT = 1 << 20
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _num(v: Any) -> SQL:
    """Inline a number: ints and Decimals have one safe text on both databases."""
    text = str(v) if isinstance(v, int) else format(Decimal(v), "f")
    return literal_column(f"({text})" if text.startswith("-") else text)


def _const(v: Any) -> SQL:
    if isinstance(v, bool):
        return true() if v else false()
    if isinstance(v, int | Decimal):
        return _num(v)
    return literal(v, String)


def _bool(c: SQL) -> SQL:
    """1 if the condition is true, else 0 (unknown counts as not true)."""
    return case((c, 1), else_=0)


def _tri(when_true: SQL, when_false: SQL) -> SQL:
    """A three-valued boolean: true, false, or NULL when neither condition holds."""
    return case((when_true, true()), (when_false, false()))


@dataclass
class _Scope:
    h: Any  # households alias
    m: Any | None  # members alias of the member in scope
    agg: Any | None = None  # the per-household aggregate subquery (outer scope only)
    enr: Any | None = None  # the per-household enrolment subquery
    #: True when every row in scope has its household's aggregate row (no NULLs to coalesce).
    dense: bool = False


@dataclass
class _Plan:
    """The aggregates and enrolments a scheme needs, numbered in order of first use."""

    conds: dict[ir.Node, int] = field(default_factory=dict)
    split: set[ir.Node] = field(default_factory=set)  # conditions quantified over spouses
    enrolled: dict[str, int] = field(default_factory=dict)


class SchemeSQL:
    """Compile one scheme's criteria to SQLAlchemy Core for a given as-of date."""

    def __init__(self, book: RuleBook, scheme: Scheme, as_of: dt.date,
                 plan: _Plan | None = None) -> None:
        params = scheme.parameters_on(as_of)
        if params is None:
            raise ValueError(f"scheme {scheme.id} is not in force on {as_of}")
        self.book, self.scheme, self.as_of, self.params = book, scheme, as_of, params
        # Parameters become constants, so schemes sharing a plan share only identical conditions.
        self.expr = ir.bind_params(
            ir.And("bool", tuple(criterion_expr(c) for c in scheme.criteria)), params)
        # A plan shared by several schemes lets them share one aggregate pass over members.
        self.plan = plan if plan is not None else _Plan()
        self._collect(self.expr)

    # planning ------------------------------------------------------------------------------
    def _expand(self, node: ir.Node) -> Iterable[ir.Node]:
        yield node
        if isinstance(node, ir.Derived):
            yield from self._expand(self.book.derived[node.name].expr)
        for c in ir.children(node):
            yield from self._expand(c)

    def _collect(self, root: ir.Node) -> None:
        for n in self._expand(root):
            if isinstance(n, ir.Quant):
                self.plan.conds.setdefault(n.cond, len(self.plan.conds))
                if n.coll == "spouses":
                    self.plan.split.add(n.cond)
            elif isinstance(n, ir.Enrolled):
                self.plan.enrolled.setdefault(n.scheme_id, len(self.plan.enrolled))

    # the statement -------------------------------------------------------------------------
    def select(self, after_id: int | None = None, up_to_id: int | None = None,
               where: Iterable[SQL] = (), columns: Columns | None = None) -> Select[Any]:
        """Return SELECT household_id, member_id, outcome for households in (after, up_to].

        ``where`` holds conditions on the ``households`` table (an area, what a user may see):
        they apply before the members are counted, so a district's list screens only that
        district. ``columns(h, m)`` adds columns of the household (and member) screened, so a
        list needs no second join to fetch them.
        """
        country = self.scheme.country

        def in_range(col: Any) -> list[SQL]:
            conds = []
            if after_id is not None:
                conds.append(col > after_id)
            if up_to_id is not None:
                conds.append(col <= up_to_id)
            return conds

        h = households.alias("h")
        enr = self._enrolment_subquery(in_range) if self.plan.enrolled else None
        where = list(where)
        agg = self._aggregate_subquery(country, in_range, enr, where) if self.plan.conds else None
        member_level = self.scheme.unit == "member"
        m0 = members.alias("m0") if member_level else None
        scope = _Scope(h=h, m=m0, agg=agg, enr=enr)
        decision = self.c(self.expr, scope)
        outcome = case({True: "eligible", False: "not_eligible"}, value=decision,
                       else_="undetermined")
        conditions = [h.c.country == country, h.c.status == "active", *in_range(h.c.id),
                      *_on(h, where)]
        if m0 is not None:
            source = m0.join(h, h.c.id == m0.c.household_id)
            conditions += [m0.c.status == "present", *in_range(m0.c.household_id)]
            member_id: SQL = m0.c.id
        else:
            source = h
            member_id = cast(null(), Integer)
        if agg is not None:
            source = source.outerjoin(agg, agg.c.hid == h.c.id)
        if enr is not None:
            source = source.outerjoin(enr, enr.c.hid == h.c.id)
        return select(h.c.id.label("household_id"), member_id.label("member_id"),
                      outcome.label("outcome"), *(columns(h, m0) if columns else ())
                      ).select_from(source).where(*conditions)

    def decision(self, scope: _Scope) -> SQL:
        """Return the scheme's criteria as one three-valued SQL condition.

        The criteria's conjunction stops at the first that fails (``Kleene``: SQLite would
        otherwise evaluate them all, and most members fail an early one). Only at the top:
        nested the same way, a long OR of ANDs grows past SQLite's parser stack.
        """
        parts = [self.c(p, scope) for p in self.expr.parts]  # type: ignore[attr-defined]
        return Kleene(parts) if len(parts) > 1 else self.c(self.expr, scope)

    def _enrolment_subquery(self, in_range: Callable[[Any], list[SQL]]) -> Any:
        return self.enrolment_select(in_range).subquery("enr")

    def enrolment_select(self, in_range: Callable[[Any], list[SQL]]) -> Select[Any]:
        """Return hid, e0, e1… : 1 if the household has that active enrolment on as-of."""
        e = enrolments.alias("e")
        d = literal(self.as_of, Date)
        cols = [func.max(case((e.c.scheme_id == sid, 1), else_=0)).label(f"e{i}")
                for sid, i in self.plan.enrolled.items()]
        return (select(e.c.household_id.label("hid"), *cols)
                .where(e.c.status == "active", e.c.scheme_id.in_(list(self.plan.enrolled)),
                       or_(e.c.start_date.is_(None), e.c.start_date <= d),
                       or_(e.c.end_date.is_(None), e.c.end_date >= d),
                       *in_range(e.c.household_id))
                .group_by(e.c.household_id))

    def _aggregate_subquery(self, country: str, in_range: Callable[[Any], list[SQL]],
                            enr: Any, where: Iterable[SQL] = ()) -> Any:
        return self.aggregate_select(country, in_range, enr, where).subquery("agg")

    def aggregate_select(self, country: str, in_range: Callable[[Any], list[SQL]],
                         enr: Any, where: Iterable[SQL] = ()) -> Select[Any]:
        """Return hid, n, q<i>_t, q<i>_u… : the quantifier counts of every household.

        ``q<i>_t`` counts the members for whom condition ``i`` is true and ``q<i>_u`` those for
        whom it is unknown. Each condition is evaluated once per member, in a subquery that
        ``OFFSET 0`` keeps the planners from merging into the aggregate (merged, each condition
        would be evaluated once per use), as 1 if true, 0 if false and ``UNKNOWN_WEIGHT`` if
        unknown: one ``sum`` then carries both counts, which halves the aggregates to compute.
        """
        mq, h2 = members.alias("mq"), households.alias("h2")
        scope = _Scope(h=h2, m=mq, enr=enr)
        inner_cols: list[SQL] = [mq.c.household_id.label("hid")]
        if self.plan.split:
            inner_cols.append(mq.c.relationship_to_head.label("rel"))
        inner_cols += [func.coalesce(cast(self.c(cond, scope), Integer), UNKNOWN_WEIGHT)
                       .label(f"x{i}") for cond, i in self.plan.conds.items()]
        source = mq.join(h2, h2.c.id == mq.c.household_id)
        if enr is not None:
            source = source.outerjoin(enr, enr.c.hid == h2.c.id)
        per_member = (select(*inner_cols).select_from(source)
                      .where(mq.c.status == "present", h2.c.country == country,
                             h2.c.status == "active", *in_range(mq.c.household_id),
                             *in_range(h2.c.id), *_on(h2, where))
                      .offset(0).subquery("per_member"))
        pm = per_member.c
        sums: list[SQL] = [func.count().label("n")]
        if self.plan.split:
            sums += [func.sum(_bool(pm.rel == r)).label(f"n_{r}") for r in ("spouse", "head")]
        sums += [func.sum(pm[f"x{i}"]).label(f"s{i}") for i in self.plan.conds.values()]
        for cond in self.plan.split:
            i = self.plan.conds[cond]
            sums += [func.coalesce(func.sum(case((pm.rel == r, pm[f"x{i}"]))), 0)
                     .label(f"s{i}_{r}") for r in ("spouse", "head")]
        summed = select(pm.hid, *sums).group_by(pm.hid).subquery("summed")
        sc = summed.c
        cols: list[SQL] = [sc.n]
        if self.plan.split:
            cols += [sc.n_spouse, sc.n_head]
        suffixes = [""] + [f"_{r}" for r in ("spouse", "head")]
        for i in self.plan.conds.values():
            for suffix in suffixes:
                if f"s{i}{suffix}" in sc:
                    total = sc[f"s{i}{suffix}"]
                    cols += [(total % UNKNOWN_WEIGHT).label(f"q{i}_t{suffix}"),
                             (total // UNKNOWN_WEIGHT).label(f"q{i}_u{suffix}")]
        return select(sc.hid, *cols)

    # expressions -----------------------------------------------------------------------------
    def c(self, node: ir.Node, s: _Scope) -> SQL:
        """Compile a non-count node to a SQL expression (NULL = unknown)."""
        if node.t == "count":
            lo, hi = self.crange(node, s)
            return case((lo == hi, lo))
        if isinstance(node, ir.Const):
            return _const(node.value)
        if isinstance(node, ir.Fact):
            table = s.h if node.level == "household" else s.m
            return table.c[node.name]
        if isinstance(node, ir.Age):
            table = s.h if node.level == "household" else s.m
            return AgeOn(table.c[node.fact], self.as_of, node.unit)
        if isinstance(node, ir.Derived):
            return self.c(self.book.derived[node.name].expr, s)
        if isinstance(node, ir.Compare):
            return self._compare(node, s)
        if isinstance(node, ir.In):
            return self._in(node, s)
        if isinstance(node, ir.And):
            return and_(*(self.c(p, s) for p in node.parts))
        if isinstance(node, ir.Or):
            return or_(*(self.c(p, s) for p in node.parts))
        if isinstance(node, ir.Not):
            return not_(self.c(node.x, s))
        if isinstance(node, ir.Arith):
            a, b = self.c(node.left, s), self.c(node.right, s)
            if node.op == "/":
                return Divide(a, b)
            return {"+": a + b, "-": a - b, "*": a * b}[node.op]
        if isinstance(node, ir.Neg):
            return -self.c(node.x, s)
        if isinstance(node, ir.IfElse):
            test = self.c(node.test, s)
            return case((test, self.c(node.body, s)), (not_(test), self.c(node.orelse, s)))
        if isinstance(node, ir.Quant):
            t, u, n = self._tun(node, s)
            if node.kind == "any":
                return _tri(t > 0, u == 0)
            return case((n - t - u > 0, false()), (u == 0, true()))
        if isinstance(node, ir.Known):
            inner = self.crange(node.x, s)[0] if node.x.t == "count" else self.c(node.x, s)
            return inner.is_not(None)
        if isinstance(node, ir.Enrolled):
            col = s.enr.c[f"e{self.plan.enrolled[node.scheme_id]}"]
            return func.coalesce(col, 0) == 1
        raise TypeError(f"cannot compile {node!r}")  # pragma: no cover

    def crange(self, node: ir.Node, s: _Scope) -> tuple[SQL, SQL]:
        """Compile a number that may be a count range to (lo, hi)."""
        if node.t != "count":
            x = self.c(node, s)
            return x, x
        if isinstance(node, ir.Quant):
            t, u, _ = self._tun(node, s)
            return t, t + u
        if isinstance(node, ir.Derived):
            return self.crange(self.book.derived[node.name].expr, s)
        if isinstance(node, ir.IfElse):
            test = self.c(node.test, s)
            (b0, b1), (o0, o1) = self.crange(node.body, s), self.crange(node.orelse, s)
            return (case((test, b0), (not_(test), o0)), case((test, b1), (not_(test), o1)))
        raise TypeError(f"not a count: {node!r}")  # pragma: no cover

    def _tun(self, node: ir.Quant, s: _Scope) -> tuple[SQL, SQL, SQL]:
        """Return (true, unknown, total) member counts of a quantifier in the outer scope."""
        agg = s.agg
        i = self.plan.conds[node.cond]

        def col(name: str) -> SQL:
            return agg.c[name] if s.dense else func.coalesce(agg.c[name], 0)

        def tun(suffix: str, n: str) -> tuple[SQL, SQL, SQL]:
            return col(f"q{i}_t{suffix}"), col(f"q{i}_u{suffix}"), col(n)

        if node.coll == "members":
            return tun("", "n")
        if node.coll == "others":
            own = self.c(node.cond, s)
            t, u, n = tun("", "n")
            return t - _bool(own), u - _bool(own.is_(None)), n - 1
        rel = s.m.c.relationship_to_head  # type: ignore[union-attr]
        # The assessed member's spouses: the head's are the spouses, a spouse's is the head.
        of_head, of_spouse = tun("_spouse", "n_spouse"), tun("_head", "n_head")
        return tuple(case((rel == "head", a), (rel == "spouse", b), else_=0)  # type: ignore[return-value]
                     for a, b in zip(of_head, of_spouse, strict=True))

    @staticmethod
    def _value(node: ir.Node) -> Any:
        """Return the value of a constant node, or None."""
        return node.value if isinstance(node, ir.Const) else None

    def _compare(self, node: ir.Compare, s: _Scope) -> SQL:
        op = node.op
        left, right = node.left, node.right
        if "count" in (left.t, right.t):
            return _range_compare(op, self.crange(left, s), self.crange(right, s))
        # age >= (55 if female else 60): compare within each branch, where the age comparison
        # becomes a date comparison (computing an age costs ~10x more). Same three values:
        # an unknown test leaves both CASE branches untaken, NULL, as the IfElse would.
        for age, choice, o in ((left, right, op), (right, left, _FLIP[op])):
            if isinstance(age, ir.Age) and isinstance(choice, ir.IfElse):
                test = self.c(choice.test, s)
                return case(
                    (test, self._compare(ir.Compare(node.t, o, age, choice.body), s)),
                    (not_(test), self._compare(ir.Compare(node.t, o, age, choice.orelse), s)))
        for age, other, o in ((left, right, op), (right, left, _FLIP[op])):
            k = self._value(other)
            if isinstance(age, ir.Age) and isinstance(k, int | Decimal) and not isinstance(
                    k, bool) and o in ("<", "<=", ">", ">="):
                fast = self._age_compare(age, o, k, s)
                if fast is not None:
                    return fast
        a, b = self.c(left, s), self.c(right, s)
        return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b,
                ">=": a >= b}[op]

    def _age_compare(self, node: ir.Age, op: str, k: Any, s: _Scope) -> SQL | None:
        """``age >= k`` as ``date_of_birth <= boundary``: no per-row arithmetic, same result."""
        # Ages are whole: age >= k <=> age >= ceil(k); age > k <=> age >= floor(k) + 1.
        n = math.ceil(k) if op in (">=", "<") else math.floor(k) + 1
        boundary = _boundary(self.as_of, n, node.unit)
        if boundary is None:
            return None
        table = s.h if node.level == "household" else s.m
        col = table.c[node.fact]  # type: ignore[union-attr]
        at_least = col <= literal(boundary, Date)
        return at_least if op in (">=", ">") else not_(at_least)

    def _in(self, node: ir.In, s: _Scope) -> SQL:
        items = node.items.items  # type: ignore[attr-defined] # parameters are bound already
        if node.left.t == "count":
            result = _range_in(self.crange(node.left, s), items)
        else:
            left = self.c(node.left, s)
            if not items:
                result = case((left.is_(None), null()), else_=false())
            else:
                result = left.in_([_const(v) for v in items])
        return not_(result) if node.negate else result


def _on(h: Any, where: Iterable[SQL]) -> list[SQL]:
    """Return conditions written on ``households`` rewritten for its alias ``h``."""
    adapter = ClauseAdapter(h)
    return [adapter.traverse(c) for c in where]


def _boundary(as_of: dt.date, n: int, unit: str) -> dt.date | None:
    """Return the last birth date at which someone is at least ``n`` years/months old."""
    if unit == "years":
        year, month = as_of.year - n, as_of.month
    else:
        months = as_of.year * 12 + (as_of.month - 1) - n
        year, month = divmod(months, 12)
        month += 1
    if not 1 <= year <= 9999:
        return None
    # A day past the end of the month (29 Feb in a common year) means the month's last day:
    # no date lies between, so the comparison is unchanged.
    day = min(as_of.day, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day)


def _range_compare(op: str, a: tuple[SQL, SQL], b: tuple[SQL, SQL]) -> SQL:
    """Compare (lo, hi) ranges exactly as ``evaluate.range_compare``."""
    (a0, a1), (b0, b1) = a, b
    if op in ("==", "!="):
        same = and_(a0 == a1, b0 == b1, a0 == b0)
        apart = or_(a1 < b0, b1 < a0)
        return _tri(same, apart) if op == "==" else _tri(apart, same)
    f = {"<": lambda x, y: x < y, "<=": lambda x, y: x <= y, ">": lambda x, y: x > y,
         ">=": lambda x, y: x >= y}[op]
    if op in ("<", "<="):
        return _tri(f(a1, b0), not_(f(a0, b1)))
    return _tri(f(a0, b1), not_(f(a1, b0)))


def _range_in(r: tuple[SQL, SQL], items: Iterable[Any]) -> SQL:
    """``count in (...)`` exactly as ``evaluate.range_in``."""
    lo, hi = r
    ks = sorted({int(v) for v in items if isinstance(v, int | Decimal)
                 and not isinstance(v, bool) and v == int(v)})
    runs_: list[tuple[int, int]] = []
    for k in ks:
        if runs_ and runs_[-1][1] == k - 1:
            runs_[-1] = (runs_[-1][0], k)
        else:
            runs_.append((k, k))
    all_in = or_(false(), *(and_(lo >= a, hi <= b) for a, b in runs_))
    none_in = and_(true(), *(not_(and_(lo <= k, hi >= k)) for k in ks))
    return _tri(all_in, none_in)


# the registry-wide run -------------------------------------------------------------------------
def scheme_select(book: RuleBook, scheme_id: str, as_of: dt.date, after_id: int | None = None,
                  up_to_id: int | None = None, where: Iterable[SQL] = (),
                  columns: Columns | None = None) -> Select[Any]:
    """Return the SELECT (household_id, member_id, outcome) of one scheme, e.g. to stream it.

    ``where`` and ``columns`` as in :meth:`SchemeSQL.select`.
    """
    return SchemeSQL(book, book.schemes[scheme_id], as_of).select(after_id, up_to_id, where,
                                                                  columns)


@dataclass
class RunSummary:
    """What a registry-wide screening did."""

    run_id: int
    households: int
    #: Households stored with at least one eligible or undetermined outcome.
    rows: int
    seconds: float
    schemes: list[str]
    #: (scheme, household) pairs found eligible / undetermined, from the run's area counts.
    eligible: int = 0
    undetermined: int = 0


#: Outcome flags, one character per scheme in ``screening_results.codes`` (see the model).
NOT_ELIGIBLE, ELIGIBLE, UNDETERMINED = 0, 1, 2
#: Member-level outcomes per base-3 number in ``screening_results.members`` (3**39 < 2**63).
MEMBER_DIGITS = 39
_OUTCOME_NAMES = {ELIGIBLE: "eligible", UNDETERMINED: "undetermined"}


def screen_all(conn: Any, book: RuleBook, as_of: dt.date, scheme_ids: Iterable[str] | None = None,
               country: str | None = None, batch_size: int = 250_000, run_id: int | None = None,
               commit: Callable[[], None] | None = None, workers: int = 1) -> RunSummary:
    """Screen every household; store its outcomes in ``screening_results`` (one row each).

    Households are taken in id order, ``batch_size`` at a time; after each batch the run's
    ``last_household_id`` is updated and ``commit`` (if given) is called, so a killed run
    started again with its ``run_id`` resumes after the last committed batch. Each batch also
    adds its per-area counts to ``screening_counts``, in the same transaction.

    With ``workers`` > 1 (and ``commit``), that many batches are screened at once on their own
    connections (each commits its rows; a batch counts, in order, only once it and those
    before it have, so a kill in between leaves rows past ``last_household_id``, which a
    resume deletes). On SQLite, which has one writer, each batch is screened into a
    temporary table and copied in a short transaction of its own.
    """
    if not isinstance(conn, Connection):  # an ORM session: use its connection, same transaction
        conn = conn.connection()
    started = time.perf_counter()
    if run_id is None:
        chosen = _chosen(book, as_of, scheme_ids, country)
        layout = _layout(book, chosen)
        run_id = conn.execute(insert(runs).values(
            as_of=as_of, rules_version=book.version, scheme_ids=chosen, layout=layout,
            status="running", last_household_id=0, households_done=0,
        ).returning(runs.c.id)).scalar_one()
        last = 0
        if commit:
            commit()
    else:
        run = conn.execute(select(runs).where(runs.c.id == run_id)).one()
        if run.rules_version != book.version or run.as_of != as_of or run.layout is None:
            raise ValueError(f"run {run_id} was started with other rules or another date")
        chosen, layout, last = list(run.scheme_ids), run.layout, run.last_household_id
        # Rows past the resume point belong to batches that never counted. Committed at once:
        # a worker writing one of them again would otherwise wait on this transaction.
        conn.execute(results.delete().where(results.c.run_id == run_id,
                                            results.c.household_id > last))
        if commit:
            commit()
    passes = {country: _CountryPass(book, [book.schemes[sid] for sid in (*units["household"],
                                                                         *units["member"])],
                                    as_of)
              for country, units in layout.items()}
    if conn.dialect.name == "sqlite":
        # Without statistics SQLite takes "country = ?" for selective and walks a country's
        # every household for each batch instead of the batch's id range (a fifth slower).
        # PostgreSQL's autovacuum keeps its own; on SQLite it takes 0.2 s a million households.
        conn.exec_driver_sql("ANALYZE households")
        if commit:
            commit()
    done = 0
    # Workers commit on their own connections: the run must be committed for them to see it,
    # and they must reach the same database (an in-memory SQLite one is per connection).
    shared = conn.dialect.name != "sqlite" or conn.engine.url.database not in (None, "", ":memory:")
    parallel = workers > 1 and commit is not None and shared
    in_scope = households.c.country.in_(sorted(layout))
    while passes:
        # Households registered while the run goes on get ranges of their own on the next turn.
        ranges = _ranges(conn, last, in_scope, batch_size)
        if not ranges:
            break
        if commit:
            # On SQLite a transaction that has read cannot write once a worker has committed.
            commit()
        screened = (_screen_in_parallel(conn, passes, run_id, ranges, workers) if parallel
                    else (_screen_range(conn, passes, run_id, a, b) for a, b, _ in ranges))
        # Ranges are recorded in order: the resume point only ever passes households whose
        # rows (and counts) are committed.
        for (_, up_to, count), tallies in zip(ranges, screened, strict=True):
            if tallies:
                conn.execute(insert(counts), tallies)
            done += count
            last = up_to
            conn.execute(update(runs).where(runs.c.id == run_id).values(
                last_household_id=last, households_done=runs.c.households_done + count))
            if commit:
                commit()
    conn.execute(update(runs).where(runs.c.id == run_id).values(status="done",
                                                               finished_at=func.now()))
    stored = conn.execute(select(func.count()).select_from(results)
                          .where(results.c.run_id == run_id)).scalar_one()
    eligible, undetermined = conn.execute(
        select(func.coalesce(func.sum(counts.c.eligible), 0),
               func.coalesce(func.sum(counts.c.undetermined), 0))
        .where(counts.c.run_id == run_id)).one()
    if commit:
        commit()
    return RunSummary(run_id, done, stored, time.perf_counter() - started, chosen,
                      int(eligible), int(undetermined))


def _ranges(conn: Connection, after_id: int, in_scope: SQL, size: int,
            ) -> list[tuple[int, int, int]]:
    """Cut the households past ``after_id`` into (after, up_to, households) of ``size`` each."""
    found: list[tuple[int, int, int]] = []
    edge = after_id
    while True:
        past = [households.c.id > edge, in_scope]
        up_to = conn.execute(select(households.c.id).where(*past).order_by(households.c.id)
                             .offset(size - 1).limit(1)).scalar()
        if up_to is not None:
            found.append((edge, up_to, size))
            edge = up_to
            continue
        count, up_to = conn.execute(select(func.count(), func.max(households.c.id))
                                    .where(*past)).one()
        if count:
            found.append((edge, up_to, count))
        return found


def _screen_range(conn: Connection, passes: dict[str, _CountryPass], run_id: int,
                  after_id: int, up_to_id: int, into: Table = results,
                  ) -> list[dict[str, Any]]:
    """Screen the households in (after, up_to] into ``into`` (by default, store them);
    return their area counts' rows."""
    tune_for_bulk(conn)
    # Only the countries with households in the range: each pass scans the range's members.
    present = sorted(conn.execute(
        select(households.c.country).distinct()
        .where(households.c.id > after_id, households.c.id <= up_to_id,
               households.c.country.in_(sorted(passes)))).scalars())
    tallies: list[dict[str, Any]] = []
    for country in present:
        passes[country].run(conn, run_id, after_id, up_to_id, into)
        tallies += passes[country].tally(conn, run_id, after_id, up_to_id, into)
    return tallies


def _screen_staged(conn: Connection, passes: dict[str, _CountryPass], run_id: int,
                   after_id: int, up_to_id: int) -> list[dict[str, Any]]:
    """Screen a range on SQLite beside other connections; commit its rows; return its counts.

    SQLite has one writer at a time: the range is screened into a temporary table (which
    takes no lock on the database), that read-only transaction ends, and a short second one
    copies the rows in. Writing straight to ``screening_results`` would hold the one write
    lock for the whole screening, and a transaction that has read cannot start writing once
    another connection has committed since.
    """
    staged = Table("elig_rows", MetaData(),
                   *(Column(c.name, c.type) for c in results.columns), prefixes=["TEMPORARY"])
    staged.drop(conn, checkfirst=True)  # left over by a range that failed on this connection
    staged.create(conn)
    tallies = _screen_range(conn, passes, run_id, after_id, up_to_id, staged)
    conn.commit()
    conn.execute(insert(results).from_select([c.name for c in results.columns],
                                             select(staged)))
    conn.commit()
    staged.drop(conn)
    conn.commit()
    return tallies


def _screen_in_parallel(conn: Connection, passes: dict[str, _CountryPass], run_id: int,
                        ranges: list[tuple[int, int, int]], workers: int,
                        ) -> Iterator[list[dict[str, Any]]]:
    """Screen the ranges ``workers`` at a time, each on its own connection; yield their
    counts' rows in the order of the ranges.

    Each worker commits its range's rows and takes the next range at once, so no worker
    waits for another. The counts are returned rather than written: the caller adds them in
    the transaction that moves the run's resume point past the range, so a run killed in
    between is resumed without counting a household twice (rows past the resume point are
    deleted on resuming).
    """

    def screen(after_id: int, up_to_id: int) -> list[dict[str, Any]]:
        with conn.engine.connect() as own:
            if own.dialect.name == "sqlite":
                return _screen_staged(own, passes, run_id, after_id, up_to_id)
            tallies = _screen_range(own, passes, run_id, after_id, up_to_id)
            own.commit()
            return tallies

    pool = ThreadPoolExecutor(workers)
    futures = [pool.submit(screen, a, b) for a, b, _ in ranges]
    try:
        for future in futures:
            yield future.result()  # re-raises a worker's error here
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _layout(book: RuleBook, chosen: list[str]) -> dict[str, dict[str, list[str]]]:
    """Return, per country, its chosen household-level then member-level schemes."""
    layout: dict[str, dict[str, list[str]]] = {}
    for sid in chosen:
        scheme = book.schemes[sid]
        units = layout.setdefault(scheme.country, {"household": [], "member": []})
        units[scheme.unit].append(sid)
    return layout


class _CountryPass:
    """Screen a batch with every scheme of one country in a few set-based statements.

    One pass over the members computes the quantifier counts of all the schemes (shared
    conditions are counted once) into a temporary table; a second pass decides every
    member-level scheme for every member and folds the outcomes into one string per household;
    one INSERT then decides the household-level schemes and writes one row per household.
    Each scheme's decision is the same SQL as its own ``scheme_select``.
    """

    def __init__(self, book: RuleBook, schemes: list[Scheme], as_of: dt.date) -> None:
        self.plan = _Plan()
        self.compiled = [SchemeSQL(book, s, as_of, self.plan) for s in schemes]
        self.country = schemes[0].country
        self.household_level = [c for c in self.compiled if c.scheme.unit == "household"]
        self.member_level = [c for c in self.compiled if c.scheme.unit == "member"]

    def run(self, conn: Connection, run_id: int, after_id: int, up_to_id: int,
            into: Table = results) -> None:
        """Screen the households in (after, up_to] and write their rows ``into`` a table with
        the columns of ``screening_results``."""

        def in_range(col: Any) -> list[SQL]:
            return [col > after_id, col <= up_to_id]

        first = self.compiled[0]
        md = MetaData()
        temps = []
        enr = agg = None
        if self.plan.enrolled:
            enr = _temp(conn, md, "elig_enr", first.enrolment_select(in_range))
            temps.append(enr)
        if self.plan.conds:
            agg = _temp(conn, md, "elig_agg", first.aggregate_select(self.country, in_range, enr))
            temps.append(agg)

        def joined(source: Any, h: Any) -> Any:
            if agg is not None:
                source = source.outerjoin(agg, agg.c.hid == h.c.id)
            if enr is not None:
                source = source.outerjoin(enr, enr.c.hid == h.c.id)
            return source

        h = households.alias("h")
        where = [h.c.country == self.country, h.c.status == "active", *in_range(h.c.id)]
        scope = _Scope(h=h, m=None, agg=agg, enr=enr)
        codes: list[SQL] = [case({True: "1", False: "0"}, value=c.decision(scope), else_="2")
                            for c in self.household_level]
        folded = None
        if self.member_level:
            folded = self._fold_members(h, where, in_range, joined, agg, enr)
            codes += [cast(func.coalesce(folded.c[f"f{i}"], 0), String)
                      for i in range(len(self.member_level))]
        source = joined(h, h)
        if folded is not None:
            source = source.outerjoin(folded, folded.c.hid == h.c.id)
        row = select(h.c.id.label("household_id"), _plus(codes).label("codes"),
                     (folded.c.members if folded is not None else cast(null(), String))
                     .label("members")).select_from(source).where(*where).offset(0).subquery("r")
        conn.execute(insert(into).from_select(
            ["run_id", "household_id", "country", "codes", "members"],
            select(literal(run_id, Integer), row.c.household_id, literal(self.country, String),
                   row.c.codes, row.c.members)
            .where(row.c.codes != "0" * len(codes))))
        for t in reversed(temps):
            t.drop(conn)

    def _fold_members(self, h: Any, where: list[SQL], in_range: Callable[[Any], list[SQL]],
                      joined: Callable[[Any, Any], Any], agg: Any, enr: Any) -> Any:
        """Return hid, members, f0, f1… : each member's codes, and each scheme's flags."""
        m0 = members.alias("m0")
        # The aggregates were counted over exactly these members: each has its row.
        scope = _Scope(h=h, m=m0, agg=agg, enr=enr, dense=True)
        per_member = (
            select(m0.c.household_id.label("hid"), m0.c.id.label("mid"),
                   *(case({True: ELIGIBLE, False: NOT_ELIGIBLE}, value=c.decision(scope),
                          else_=UNDETERMINED).label(f"s{i}")
                     for i, c in enumerate(self.member_level)))
            .select_from(joined(m0.join(h, h.c.id == m0.c.household_id), h))
            .where(*where, m0.c.status == "present", *in_range(m0.c.household_id))
            .offset(0).subquery("per_member"))
        pm = per_member.c
        flags = [pm[f"s{i}"] for i in range(len(self.member_level))]
        # Each member's flags as base-3 numbers (a digit per scheme, 39 schemes a number): one
        # cast instead of one per scheme, which halves the cost of folding.
        numbers = [cast(_plus([cast(f, BigInteger) * 3**k for k, f in enumerate(group)]), String)
                   for group in _chunks(flags, MEMBER_DIGITS)]
        listed = case((_plus(flags) > 0,
                       _plus([cast(pm.mid, String), literal(":", String), *_joined(numbers, ".")])))
        # A household's flags for a scheme: bit 1 if any member is eligible, bit 2 if any is
        # undetermined (so 3 when both).
        return (select(pm.hid, func.aggregate_strings(listed, " ").label("members"),
                       *((func.max(f.bitwise_and(ELIGIBLE))
                          + func.max(f.bitwise_and(UNDETERMINED))).label(f"f{i}")
                         for i, f in enumerate(flags)))
                .group_by(pm.hid).subquery("folded"))

    def tally(self, conn: Connection, run_id: int, after_id: int, up_to_id: int,
              source: Table = results) -> list[dict[str, Any]]:
        """Return the ``screening_counts`` rows of the households in (after, up_to] stored in
        ``source``: eligible and undetermined households per scheme and area."""
        schemes = [c.scheme.id for c in self.household_level + self.member_level]
        r, h = source.alias("r"), households.alias("h")
        postgresql = conn.dialect.name == "postgresql"
        if postgresql:
            # The rows were just written, so the planner expects none and sorts them by four
            # strings (in the database's collation) to group them: hashing is 4x faster.
            conn.exec_driver_sql("SET LOCAL enable_sort = off")
        # Few distinct (area, codes) pairs: group by them in SQL, spell the codes out here.
        by_area: dict[tuple[Any, Any, Any], list[int]] = {}
        for a1, a2, a3, codes, n in conn.execute(
                select(h.c.admin1, h.c.admin2, h.c.admin3, r.c.codes, func.count())
                .select_from(r.join(h, h.c.id == r.c.household_id))
                .where(r.c.run_id == run_id, r.c.country == self.country,
                       r.c.household_id > after_id, r.c.household_id <= up_to_id,
                       h.c.id > after_id, h.c.id <= up_to_id)
                .group_by(h.c.admin1, h.c.admin2, h.c.admin3, r.c.codes)).all():
            tally = by_area.setdefault((a1, a2, a3), [0] * (2 * len(schemes)))
            for i, code in enumerate(codes):
                flags = int(code)
                if flags & ELIGIBLE:
                    tally[2 * i] += n
                if flags & UNDETERMINED:
                    tally[2 * i + 1] += n
        if postgresql:
            conn.exec_driver_sql("SET LOCAL enable_sort = on")
        return [{"run_id": run_id, "scheme_id": sid, "admin1": a1, "admin2": a2, "admin3": a3,
                 "eligible": n[2 * i], "undetermined": n[2 * i + 1]}
                for (a1, a2, a3), n in by_area.items()
                for i, sid in enumerate(schemes) if n[2 * i] or n[2 * i + 1]]


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _joined(parts: list[SQL], separator: str) -> list[SQL]:
    out: list[SQL] = []
    for p in parts:
        if out:
            out.append(literal(separator, String))
        out.append(p)
    return out


def _plus(parts: list[SQL]) -> SQL:
    """``a + b + …`` for numbers, ``a || b || …`` for strings (SQLAlchemy picks by type)."""
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


def stored_outcomes(conn: Connection, run_id: int, scheme_id: str | None = None,
                    ) -> Iterator[tuple[str, int, int | None, str]]:
    """Yield a run's eligible and undetermined (scheme, household, member, outcome) pairs."""
    layout = conn.execute(select(runs.c.layout).where(runs.c.id == run_id)).scalar_one()
    stmt = (select(results.c.household_id, results.c.country, results.c.codes,
                   results.c.members).where(results.c.run_id == run_id)
            .order_by(results.c.household_id))
    for hid, country, codes, listed in conn.execute(stmt):
        units = layout[country]
        for sid, code in zip(units["household"], codes, strict=False):
            if code != "0" and scheme_id in (None, sid):
                yield sid, hid, None, _OUTCOME_NAMES[int(code)]
        if not listed:
            continue
        for entry in listed.split(" "):
            mid, numbers = entry.split(":")
            member_codes = [code for number in numbers.split(".")
                            for code in _base3_digits(int(number), MEMBER_DIGITS)]
            for sid, code in zip(units["member"], member_codes, strict=False):
                if code and scheme_id in (None, sid):
                    yield sid, hid, int(mid), _OUTCOME_NAMES[code]


def _base3_digits(number: int, width: int) -> list[int]:
    """Return ``width`` base-3 digits of ``number``, least significant first."""
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 3)
        digits.append(digit)
    return digits


def _temp(conn: Connection, md: MetaData, name: str, query: Select[Any],
          key: bool = True) -> Table:
    """Create a temporary table of integers filled from ``query`` (keyed by its first column)."""
    cols = [Column(c.key, Integer, primary_key=key and i == 0)
            for i, c in enumerate(query.selected_columns)]
    table = Table(name, md, *cols, prefixes=["TEMPORARY"])
    table.drop(conn, checkfirst=True)  # left over by a run killed in this session
    table.create(conn)
    conn.execute(insert(table).from_select([c.key for c in cols], query))
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {name}")  # temporary tables are never auto-analysed
    return table


def _chosen(book: RuleBook, as_of: dt.date, scheme_ids: Iterable[str] | None,
            country: str | None) -> list[str]:
    ids = list(scheme_ids) if scheme_ids is not None else list(book.schemes)
    return [sid for sid in ids
            if (country is None or book.schemes[sid].country == country.upper())
            and book.schemes[sid].parameters_on(as_of) is not None]


def tune_for_bulk(conn: Connection, hash_joins_only: bool = True) -> None:
    """Set the database up for statements over many households: PostgreSQL for this
    transaction, SQLite for this connection (memory-mapped reads, harmless elsewhere)."""
    if conn.dialect.name == "sqlite":
        # Pages read from the mapped file rather than copied by a system call each: the
        # members table is read a few times a batch, and SQLite's own cache is 2 MB.
        conn.exec_driver_sql("PRAGMA mmap_size = 8589934592")
    if conn.dialect.name == "postgresql":
        # Room for the hash aggregate (it spills to disk at 64 MB on a million households);
        # JIT costs more than it saves here; and hash joins only: with stale statistics the
        # planner may otherwise nest-loop over the aggregate, which is quadratic.
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        conn.exec_driver_sql("SET LOCAL jit = off")
        if hash_joins_only:
            conn.exec_driver_sql("SET LOCAL enable_nestloop = off")
