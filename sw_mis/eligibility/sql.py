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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import (
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
    union_all,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import ColumnElement, Select

from sw_mis.eligibility import ir
from sw_mis.eligibility.book import RuleBook, Scheme
from sw_mis.eligibility.engine import criterion_expr
from sw_mis.eligibility.models import ScreeningOutcome, ScreeningRun
from sw_mis.eligibility.sqlfuncs import AgeOn, Divide
from sw_mis.registry.models import Enrolment, Household, Member

households = Household.__table__
members = Member.__table__
enrolments = Enrolment.__table__
runs = ScreeningRun.__table__
outcomes = ScreeningOutcome.__table__

SQL = ColumnElement[Any]
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
    def select(self, after_id: int | None = None, up_to_id: int | None = None) -> Select[Any]:
        """Return SELECT household_id, member_id, outcome for households in (after, up_to]."""
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
        agg = self._aggregate_subquery(country, in_range, enr) if self.plan.conds else None
        member_level = self.scheme.unit == "member"
        m0 = members.alias("m0") if member_level else None
        scope = _Scope(h=h, m=m0, agg=agg, enr=enr)
        decision = self.c(self.expr, scope)
        outcome = case({True: "eligible", False: "not_eligible"}, value=decision,
                       else_="undetermined")
        where = [h.c.country == country, h.c.status == "active", *in_range(h.c.id)]
        if m0 is not None:
            source = m0.join(h, h.c.id == m0.c.household_id)
            where += [m0.c.status == "present", *in_range(m0.c.household_id)]
            member_id: SQL = m0.c.id
        else:
            source = h
            member_id = cast(null(), Integer)
        if agg is not None:
            source = source.outerjoin(agg, agg.c.hid == h.c.id)
        if enr is not None:
            source = source.outerjoin(enr, enr.c.hid == h.c.id)
        return select(h.c.id.label("household_id"), member_id.label("member_id"),
                      outcome.label("outcome")).select_from(source).where(*where)

    def decision(self, scope: _Scope) -> SQL:
        """Return the scheme's criteria as one three-valued SQL condition."""
        return self.c(self.expr, scope)

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
                            enr: Any) -> Any:
        return self.aggregate_select(country, in_range, enr).subquery("agg")

    def aggregate_select(self, country: str, in_range: Callable[[Any], list[SQL]],
                         enr: Any) -> Select[Any]:
        """Return hid, n, q<i>_t, q<i>_u… : the quantifier counts of every household."""
        mq, h2 = members.alias("mq"), households.alias("h2")
        scope = _Scope(h=h2, m=mq, enr=enr)
        rel = mq.c.relationship_to_head
        cols: list[SQL] = [func.count().label("n")]
        if self.plan.split:
            cols += [func.sum(_bool(rel == "spouse")).label("n_spouse"),
                     func.sum(_bool(rel == "head")).label("n_head")]
        for cond, i in self.plan.conds.items():
            c = self.c(cond, scope)
            cols += [func.sum(_bool(c)).label(f"q{i}_t"),
                     func.sum(_bool(c.is_(None))).label(f"q{i}_u")]
            if cond in self.plan.split:
                for r in ("spouse", "head"):
                    cols += [func.sum(_bool(and_(rel == r, c))).label(f"q{i}_t_{r}"),
                             func.sum(_bool(and_(rel == r, c.is_(None)))).label(f"q{i}_u_{r}")]
        source = mq.join(h2, h2.c.id == mq.c.household_id)
        if enr is not None:
            source = source.outerjoin(enr, enr.c.hid == h2.c.id)
        return (select(mq.c.household_id.label("hid"), *cols).select_from(source)
                .where(mq.c.status == "present", h2.c.country == country,
                       h2.c.status == "active", *in_range(mq.c.household_id))
                .group_by(mq.c.household_id))

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
            return func.coalesce(agg.c[name], 0)

        if node.coll == "members":
            return col(f"q{i}_t"), col(f"q{i}_u"), col("n")
        if node.coll == "others":
            own = self.c(node.cond, s)
            return (col(f"q{i}_t") - _bool(own), col(f"q{i}_u") - _bool(own.is_(None)),
                    col("n") - 1)
        rel = s.m.c.relationship_to_head  # type: ignore[union-attr]

        def pick(spouse: str, head: str) -> SQL:
            return case((rel == "head", col(spouse)), (rel == "spouse", col(head)), else_=0)

        return (pick(f"q{i}_t_spouse", f"q{i}_t_head"), pick(f"q{i}_u_spouse", f"q{i}_u_head"),
                pick("n_spouse", "n_head"))

    @staticmethod
    def _value(node: ir.Node) -> Any:
        """Return the value of a constant node, or None."""
        return node.value if isinstance(node, ir.Const) else None

    def _compare(self, node: ir.Compare, s: _Scope) -> SQL:
        op = node.op
        left, right = node.left, node.right
        if "count" in (left.t, right.t):
            return _range_compare(op, self.crange(left, s), self.crange(right, s))
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
                  up_to_id: int | None = None) -> Select[Any]:
    """Return the SELECT (household_id, member_id, outcome) of one scheme, e.g. to stream it."""
    return SchemeSQL(book, book.schemes[scheme_id], as_of).select(after_id, up_to_id)


@dataclass
class RunSummary:
    """What a registry-wide screening did."""

    run_id: int
    households: int
    rows: int
    seconds: float
    schemes: list[str]


def screen_all(conn: Any, book: RuleBook, as_of: dt.date, scheme_ids: Iterable[str] | None = None,
               country: str | None = None, batch_size: int = 250_000, run_id: int | None = None,
               commit: Callable[[], None] | None = None) -> RunSummary:
    """Screen every household, writing eligible and undetermined rows to screening_outcomes.

    Households are taken in id order, ``batch_size`` at a time; after each batch the run's
    ``last_household_id`` is updated and ``commit`` (if given) is called, so a killed run
    started again with its ``run_id`` resumes after the last committed batch.
    """
    if not isinstance(conn, Connection):  # an ORM session: use its connection, same transaction
        conn = conn.connection()
    started = time.perf_counter()
    if run_id is None:
        chosen = _chosen(book, as_of, scheme_ids, country)
        run_id = conn.execute(insert(runs).values(
            as_of=as_of, rules_version=book.version, scheme_ids=chosen, status="running",
            last_household_id=0, households_done=0).returning(runs.c.id)).scalar_one()
        last = 0
        if commit:
            commit()
    else:
        run = conn.execute(select(runs).where(runs.c.id == run_id)).one()
        if run.rules_version != book.version or run.as_of != as_of:
            raise ValueError(f"run {run_id} was started with other rules or another date")
        chosen, last = list(run.scheme_ids), run.last_household_id
        # Rows past the resume point belong to a batch that never finished.
        conn.execute(outcomes.delete().where(outcomes.c.run_id == run_id,
                                             outcomes.c.household_id > last))
    by_country: dict[str, list[Scheme]] = {}
    for sid in chosen:
        by_country.setdefault(book.schemes[sid].country, []).append(book.schemes[sid])
    passes = [_CountryPass(book, group, as_of) for group in by_country.values()]
    done = 0
    while passes:
        _tune(conn)
        ids = (select(households.c.id).where(households.c.id > last,
                                             households.c.country.in_(sorted(by_country)))
               .order_by(households.c.id).limit(batch_size).subquery())
        count, up_to = conn.execute(select(func.count(), func.max(ids.c.id))).one()
        if not count:
            break
        for p in passes:
            p.run(conn, run_id, last, up_to)
        done += count
        last = up_to
        conn.execute(update(runs).where(runs.c.id == run_id).values(
            last_household_id=last, households_done=runs.c.households_done + count))
        if commit:
            commit()
    conn.execute(update(runs).where(runs.c.id == run_id).values(status="done",
                                                               finished_at=func.now()))
    rows = conn.execute(select(func.count()).select_from(outcomes)
                        .where(outcomes.c.run_id == run_id)).scalar_one()
    if commit:
        commit()
    return RunSummary(run_id, done, rows, time.perf_counter() - started, chosen)


class _CountryPass:
    """Screen a batch with every scheme of one country in a few set-based statements.

    One pass over the members computes the quantifier counts of all the schemes (shared
    conditions are counted once) into a temporary table; one statement per unit (household,
    member) then decides every scheme at once into a wide temporary table of outcome codes,
    and one INSERT turns its non-zero codes into rows. Each scheme's decision is the same SQL
    as its own ``scheme_select``.
    """

    def __init__(self, book: RuleBook, schemes: list[Scheme], as_of: dt.date) -> None:
        self.plan = _Plan()
        self.compiled = [SchemeSQL(book, s, as_of, self.plan) for s in schemes]
        self.country = schemes[0].country

    def run(self, conn: Connection, run_id: int, after_id: int, up_to_id: int) -> None:
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
        for unit in ("household", "member"):
            group = [c for c in self.compiled if c.scheme.unit == unit]
            if not group:
                continue
            h = households.alias("h")
            m0 = members.alias("m0") if unit == "member" else None
            scope = _Scope(h=h, m=m0, agg=agg, enr=enr)
            codes = [case({True: 1, False: 0}, value=c.decision(scope), else_=2).label(f"s{i}")
                     for i, c in enumerate(group)]
            where = [h.c.country == self.country, h.c.status == "active", *in_range(h.c.id)]
            if m0 is not None:
                source: Any = m0.join(h, h.c.id == m0.c.household_id)
                where += [m0.c.status == "present", *in_range(m0.c.household_id)]
                member_id: SQL = m0.c.id
            else:
                source, member_id = h, cast(null(), Integer)
            if agg is not None:
                source = source.outerjoin(agg, agg.c.hid == h.c.id)
            if enr is not None:
                source = source.outerjoin(enr, enr.c.hid == h.c.id)
            wide = _temp(conn, md, f"elig_{unit}", select(
                h.c.id.label("hid"), member_id.label("member_id"), *codes,
            ).select_from(source).where(*where), key=False)
            temps.append(wide)
            # One scan of the wide table for all its schemes: cross it with the list of schemes
            # and pick each row's code of that scheme (most codes are 0, not eligible).
            schemes = union_all(*(select(literal(i, Integer).label("i"),
                                         literal(c.scheme.id, String).label("sid"))
                                  for i, c in enumerate(group))).subquery("v")
            code = case({i: wide.c[f"s{i}"] for i in range(len(group))}, value=schemes.c.i)
            conn.execute(insert(outcomes).from_select(
                ["run_id", "scheme_id", "household_id", "member_id", "outcome"],
                select(literal(run_id, Integer), schemes.c.sid, wide.c.hid, wide.c.member_id,
                       case((code == 1, "eligible"), else_="undetermined"))
                .select_from(wide.join(schemes, true())).where(code != 0)))
        for t in reversed(temps):
            t.drop(conn)


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


def _tune(conn: Connection) -> None:
    """Set PostgreSQL up for set-based statements over a whole batch of households."""
    if conn.dialect.name == "postgresql":
        # Room for the hash aggregate (it spills to disk at 64 MB on a million households);
        # JIT costs more than it saves here; and hash joins only: with stale statistics the
        # planner may otherwise nest-loop over the aggregate, which is quadratic.
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        conn.exec_driver_sql("SET LOCAL jit = off")
        conn.exec_driver_sql("SET LOCAL enable_nestloop = off")
