"""Compile IR to Python closures implementing the three-valued semantics of docs/rules.md.

A closure takes ``(ctx, m)``: the per-call :class:`Ctx` and the member in scope (None at
household level). Unknown is ``None``; a count that is not exact is a :class:`Range`. Reading
a blank fact records it in ``ctx.unk``; a sub-expression whose value is known drops what its
operands recorded, so only the facts that could change an unknown answer remain. Most of those
records are dropped, so one is ``(member or None, fact, label)`` and its path is only spelt out,
by :func:`missing_facts`, for an answer that stays unknown.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from sw_mis.eligibility import ir
from sw_mis.eligibility.yamlio import as_date
from sw_mis.registry.fields import FIELDS_BY_NAME

Fn = Callable[["Ctx", Any], Any]
_MISS = object()


class Range:
    """A count known only to lie between ``lo`` and ``hi`` (inclusive)."""

    __slots__ = ("hi", "lo")

    def __init__(self, lo: int, hi: int) -> None:
        self.lo = lo
        self.hi = hi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Range) and (self.lo, self.hi) == (other.lo, other.hi)

    def __hash__(self) -> int:
        return hash((self.lo, self.hi))

    def __repr__(self) -> str:
        return f"Range({self.lo}, {self.hi})"


class Ctx:
    """Everything one screening call shares: the household, the date and the caches."""

    __slots__ = ("as_of", "colls", "enrolled", "h", "hcache", "mcache", "members", "params", "rec",
                 "unk")

    def __init__(self, household: dict[str, Any], as_of: dt.date) -> None:
        self.h = household
        self.as_of = as_of
        self.members = [m for m in household.get("members") or ()
                        if m.get("status", "present") == "present"]
        self.params: dict[str, Any] = {}
        self.unk: list[Blank] = []
        self.hcache: dict[str, tuple[Any, tuple[Blank, ...]]] = {}
        self.mcache: dict[tuple[str, int], tuple[Any, tuple[Blank, ...]]] = {}
        self.enrolled: set[str] | None = None
        #: (collection, id of the assessed member) -> the members a quantifier ranges over
        self.colls: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.rec: dict[str, Any] = {}  # values read by the criterion being evaluated

    def enrolled_in(self, scheme_id: str) -> bool:
        """Return whether the household has an active enrolment in ``scheme_id`` on as-of."""
        if self.enrolled is None:
            self.enrolled = {e.get("scheme") for e in self.h.get("enrolments") or ()
                             if _active(e, self.as_of)}
        return scheme_id in self.enrolled


def _active(e: dict[str, Any], as_of: dt.date) -> bool:
    if e.get("status", "active") != "active":
        return False
    start, end = as_date(e.get("start_date")), as_date(e.get("end_date"))
    return (start is None or start <= as_of) and (end is None or end >= as_of)


def member_path(m: dict[str, Any], name: str) -> str:
    """Return the path of a member fact in a ``missing`` list."""
    return f"members.{m.get('id')}.{name}"


#: A blank fact read: the member (None for a household fact), the fact's name and its label.
Blank = tuple[dict[str, Any] | None, str, str]


def missing_facts(blanks: Iterable[Blank]) -> list[tuple[str, str]]:
    """Return the ``(path, label)`` of each blank fact recorded in ``ctx.unk``."""
    return [(name if m is None else member_path(m, name), label) for m, name, label in blanks]


def age(d: dt.date, as_of: dt.date, unit: str) -> int:
    """Return whole years (or months) from ``d`` to ``as_of``; negative if ``d`` is later."""
    if unit == "years":
        return as_of.year - d.year - ((as_of.month, as_of.day) < (d.month, d.day))
    return (as_of.year - d.year) * 12 + as_of.month - d.month - (as_of.day < d.day)


# values ------------------------------------------------------------------------------------------
#: Types that are already JSON-friendly: most values an explanation shows (checked first).
SIMPLE = frozenset((str, int, bool, float, type(None)))


def plain(value: Any) -> Any:
    """Return ``value`` as JSON-friendly data (Decimal -> int/float, Range -> [lo, hi])."""
    if type(value) in SIMPLE:
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Range):
        return [value.lo, value.hi]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        if SIMPLE.issuperset(map(type, value)):
            return list(value)
        return [plain(v) for v in value]
    return value


#: What a leaf compared with a constant does with the value it read: ``(f, b, swap)`` returns
#: ``f(b, v)`` if swap else ``f(v, b)`` (None stays None). Fusing the comparison into the leaf
#: saves a call on the commonest conditions (``sex == 'female'``, ``age >= 60``, ``x in (…)``).
Test = tuple[Callable[[Any, Any], Any], Any, bool]


def _not_contains(items: Any, v: Any) -> bool:
    return v not in items


def _normaliser(kind: str) -> tuple[Callable[[Any], Any] | None, type | None]:
    """Return the normaliser of a fact kind and the type it leaves as it is (not worth a call)."""
    if kind == "bool":
        return (lambda v: v if v is True or v is False else bool(v)), bool
    if kind in ("int", "decimal"):
        # Counter input may come from JSON floats; mixing float and Decimal would raise.
        return (lambda v: Decimal(repr(v)) if type(v) is float else v), int
    if kind == "date":
        return as_date, dt.date
    return None, None


def _fact(node: ir.Fact, key: str | None = None, plain_: bool = False,
          test: Test | None = None) -> Fn:
    """Read a fact; with ``key``, record the value in ``ctx.rec`` (made plain if ``plain_``)."""
    name, label = node.name, FIELDS_BY_NAME[node.name].label
    norm, plain_type = _normaliser(node.kind)
    conv = plain if plain_ and node.kind != "bool" else None  # a bool fact is read as a bool
    f, b, swap = test or (None, None, False)
    if node.level == "household":
        blank = (None, name, label)

        def read_h(ctx: Ctx, m: Any) -> Any:
            v = ctx.h.get(name)
            if v is not None and norm is not None and type(v) is not plain_type:
                v = norm(v)
            if v is None:
                ctx.unk.append(blank)
            if key is not None:
                ctx.rec[key] = v if conv is None or type(v) in SIMPLE else conv(v)
            if f is None or v is None:
                return v
            return f(b, v) if swap else f(v, b)
        return read_h

    def read_m(ctx: Ctx, m: Any) -> Any:
        v = m.get(name)
        if v is None:
            ctx.unk.append((m, name, label))
        elif norm is not None and type(v) is not plain_type:
            v = norm(v)
            if v is None:
                ctx.unk.append((m, name, label))
        if key is not None:
            ctx.rec[key] = v if conv is None or type(v) in SIMPLE else conv(v)
        if f is None or v is None:
            return v
        return f(b, v) if swap else f(v, b)
    return read_m


def _age(node: ir.Age, key: str | None = None, plain_: bool = False,
         test: Test | None = None) -> Fn:
    """Read an age (or a time since); with ``key``, also record it in ``ctx.rec``."""
    del plain_  # an age is a whole number: already plain
    name, label = node.fact, FIELDS_BY_NAME[node.fact].label
    household, years = node.level == "household", node.unit == "years"
    f, b, swap = test or (None, None, False)
    blank_h = (None, name, label)

    def read(ctx: Ctx, m: Any) -> Any:
        v = (ctx.h if household else m).get(name)
        if v is not None and type(v) is not dt.date:
            v = as_date(v)
        if v is None:
            ctx.unk.append(blank_h if household else (m, name, label))
            if key is not None:
                ctx.rec[key] = None
            return None
        # age(v, ctx.as_of, unit), inlined: it is read for every member by many criteria
        as_of = ctx.as_of
        if years:
            v = as_of.year - v.year - ((as_of.month, as_of.day) < (v.month, v.day))
        else:
            v = (as_of.year - v.year) * 12 + as_of.month - v.month - (as_of.day < v.day)
        if key is not None:
            ctx.rec[key] = v
        if f is None:
            return v
        return f(b, v) if swap else f(v, b)
    return read


def _param(name: str, key: str | None = None, plain_: bool = False) -> Fn:
    """Read a parameter; with ``key``, also record it in ``ctx.rec``."""
    if key is None:
        return lambda ctx, m: ctx.params[name]

    def read(ctx: Ctx, m: Any) -> Any:
        v = ctx.params[name]
        ctx.rec[key] = v if not plain_ or type(v) in SIMPLE else plain(v)
        return v
    return read


def exact(v: Any) -> Any:
    """Return a count's single value, or None when it is a range."""
    return None if type(v) is Range else v


# comparisons -------------------------------------------------------------------------------------
_OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
        ">": operator.gt, ">=": operator.ge}


def range_compare(op: str, a: Any, b: Any) -> bool | None:
    """Compare where either side may be a Range: decided only if it holds or fails throughout."""
    a0, a1 = (a.lo, a.hi) if type(a) is Range else (a, a)
    b0, b1 = (b.lo, b.hi) if type(b) is Range else (b, b)
    if op in ("==", "!="):
        if a0 == a1 == b0 == b1:
            eq: bool | None = True
        elif a1 < b0 or b1 < a0:
            eq = False
        else:
            eq = None
        return eq if op == "==" or eq is None else not eq
    f = _OPS[op]
    if op in ("<", "<="):
        if f(a1, b0):
            return True
        return False if not f(a0, b1) else None
    if f(a0, b1):
        return True
    return False if not f(a1, b0) else None


def range_in(v: Any, items: tuple[Any, ...]) -> bool | None:
    """``count in (...)``: true if every value of the range is listed, false if none is."""
    if type(v) is not Range:
        return v in items
    hits = sum(1 for k in range(v.lo, v.hi + 1) if k in items)
    if hits == v.hi - v.lo + 1:
        return True
    return False if hits == 0 else None


def _compare(node: ir.Compare, c: Callable[[ir.Node], Fn],
             leaf: Callable[[ir.Node, Test], Fn | None], rec: str | None) -> Fn:
    if "count" in (node.left.t, node.right.t):
        left, right, op = c(node.left), c(node.right), node.op

        def cmp_range(ctx: Ctx, m: Any) -> Any:
            n0 = len(ctx.unk)
            a, b = left(ctx, m), right(ctx, m)
            if a is None or b is None:
                return None
            r = range_compare(op, a, b)
            if r is not None:
                del ctx.unk[n0:]
            return r
        return cmp_range
    f = _OPS[node.op]
    # A fact or an age against a constant: one closure reads and compares.
    if _is_const(node.right):
        fused = leaf(node.left, (f, node.right.value, False))  # type: ignore[attr-defined]
        if fused is not None:
            return fused
    if _is_const(node.left):
        fused = leaf(node.right, (f, node.left.value, True))  # type: ignore[attr-defined]
        if fused is not None:
            return fused
    if isinstance(node.left, ir.Param) or isinstance(node.right, ir.Param):
        return _compare_param(node, f, c, rec)
    left, right = c(node.left), c(node.right)

    def cmp(ctx: Ctx, m: Any) -> Any:
        a, b = left(ctx, m), right(ctx, m)
        if a is None or b is None:
            return None
        return f(a, b)
    return cmp


def _compare_param(node: ir.Compare, f: Callable[[Any, Any], Any], c: Callable[[ir.Node], Fn],
                   rec: str | None) -> Fn:
    """Compare with a parameter (``age >= min_age``), read (and recorded) inline."""
    first = isinstance(node.left, ir.Param)
    param, other = (node.left, node.right) if first else (node.right, node.left)
    name = param.name  # type: ignore[attr-defined]
    x = c(other)
    key = value_key(param) if rec is not None else None
    as_plain = rec == "plain"
    if first:
        def param_cmp(ctx: Ctx, m: Any) -> Any:
            b = ctx.params[name]
            if key is not None:
                ctx.rec[key] = b if not as_plain or type(b) in SIMPLE else plain(b)
            a = x(ctx, m)
            if a is None or b is None:
                return None
            return f(b, a)
        return param_cmp

    def cmp_param(ctx: Ctx, m: Any) -> Any:
        a = x(ctx, m)
        b = ctx.params[name]
        if key is not None:
            ctx.rec[key] = b if not as_plain or type(b) in SIMPLE else plain(b)
        if a is None or b is None:
            return None
        return f(a, b)
    return cmp_param


def _is_const(n: ir.Node) -> bool:
    return isinstance(n, ir.Const) and n.value is not None


def _in(node: ir.In, c: Callable[[ir.Node], Fn],
        leaf: Callable[[ir.Node, Test], Fn | None]) -> Fn:
    negate = node.negate
    if isinstance(node.items, ir.ListConst):
        const = node.items.items
        # A fact in a literal list: one closure reads and looks up (a fact is never a range).
        fused = leaf(node.left, (_not_contains if negate else operator.contains, const, True))
        if fused is not None:
            return fused
    left = c(node.left)
    if isinstance(node.items, ir.ListConst):
        items: Fn = lambda ctx, m: const  # noqa: E731 - a closure over a constant
    else:
        items = c(node.items)

    def look_up(ctx: Ctx, m: Any) -> Any:
        n0 = len(ctx.unk)
        v = left(ctx, m)
        if v is None:
            return None
        r = range_in(v, items(ctx, m)) if type(v) is Range else v in items(ctx, m)
        if r is None:
            return None
        del ctx.unk[n0:]
        return not r if negate else r
    return look_up


# logic -------------------------------------------------------------------------------------------
def _and(parts: list[Fn]) -> Fn:
    if len(parts) == 2:  # the usual case, without the loop
        p, q = parts

        def conj2(ctx: Ctx, m: Any) -> Any:
            unk = ctx.unk
            n0 = len(unk)
            v = p(ctx, m)
            if v is False:
                del unk[n0:]
                return False
            w = q(ctx, m)
            if w is False:
                del unk[n0:]
                return False
            if v is None or w is None:
                return None
            del unk[n0:]
            return True
        return conj2

    def conj(ctx: Ctx, m: Any) -> Any:
        n0 = len(ctx.unk)
        unknown = False
        for p in parts:
            v = p(ctx, m)
            if v is False:
                del ctx.unk[n0:]
                return False
            if v is None:
                unknown = True
        if unknown:
            return None
        del ctx.unk[n0:]
        return True
    return conj


def _or(parts: list[Fn]) -> Fn:
    if len(parts) == 2:  # the usual case, without the loop
        p, q = parts

        def disj2(ctx: Ctx, m: Any) -> Any:
            unk = ctx.unk
            n0 = len(unk)
            v = p(ctx, m)
            if v is True:
                del unk[n0:]
                return True
            w = q(ctx, m)
            if w is True:
                del unk[n0:]
                return True
            if v is None or w is None:
                return None
            del unk[n0:]
            return False
        return disj2

    def disj(ctx: Ctx, m: Any) -> Any:
        n0 = len(ctx.unk)
        unknown = False
        for p in parts:
            v = p(ctx, m)
            if v is True:
                del ctx.unk[n0:]
                return True
            if v is None:
                unknown = True
        if unknown:
            return None
        del ctx.unk[n0:]
        return False
    return disj


def _not(x: Fn) -> Fn:
    def neg(ctx: Ctx, m: Any) -> Any:
        v = x(ctx, m)
        return None if v is None else not v
    return neg


def _arith(node: ir.Arith, c: Callable[[ir.Node], Fn]) -> Fn:
    left, right, op = c(node.left), c(node.right), node.op

    def calc(ctx: Ctx, m: Any) -> Any:
        a, b = left(ctx, m), right(ctx, m)
        if a is None or b is None or type(a) is Range or type(b) is Range:
            return None
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if b == 0:
            return None
        try:
            return Decimal(a) / Decimal(b)
        except InvalidOperation:  # pragma: no cover - finite numbers only
            return None
    return calc


def _negate(x: Fn) -> Fn:
    def neg(ctx: Ctx, m: Any) -> Any:
        v = x(ctx, m)
        return None if v is None or type(v) is Range else -v
    return neg


def _if(node: ir.IfElse, c: Callable[[ir.Node], Fn]) -> Fn:
    test, body, orelse = c(node.test), c(node.body), c(node.orelse)

    def choose(ctx: Ctx, m: Any) -> Any:
        t = test(ctx, m)
        if t is None:
            return None
        return body(ctx, m) if t else orelse(ctx, m)
    return choose


# quantifiers -------------------------------------------------------------------------------------
def collection(ctx: Ctx, m0: Any, coll: str) -> list[dict[str, Any]]:
    """Return the members a quantifier ranges over for the assessed member ``m0``."""
    if coll == "members":
        return ctx.members
    if coll == "others":
        return [x for x in ctx.members if x is not m0]
    rel = m0.get("relationship_to_head")
    if rel == "head":
        return [x for x in ctx.members if x is not m0
                and x.get("relationship_to_head") == "spouse"]
    if rel == "spouse":
        return [x for x in ctx.members if x is not m0 and x.get("relationship_to_head") == "head"]
    return []


def _quant(node: ir.Quant, c: Callable[[ir.Node], Fn]) -> Fn:
    cond, kind, coll = c(node.cond), node.kind, node.coll
    if kind == "any":  # the commonest, e.g. any(spouses, income_tax_payer): its own loop
        def exists(ctx: Ctx, m0: Any) -> Any:
            if coll == "members":
                members = ctx.members
            else:
                members = ctx.colls.get((coll, id(m0)))
                if members is None:
                    members = ctx.colls[coll, id(m0)] = collection(ctx, m0, coll)
            if not members:
                return False
            unk = ctx.unk
            n0 = len(unk)
            unknown = False
            for x in members:
                v = cond(ctx, x)
                if v is True:
                    del unk[n0:]
                    return True
                if v is None:
                    unknown = True
            if unknown:
                return None
            del unk[n0:]
            return False
        return exists

    def quantify(ctx: Ctx, m0: Any) -> Any:
        n0 = len(ctx.unk)
        if coll == "members":
            members = ctx.members
        else:  # the same member's spouses are asked for by several criteria and schemes
            members = ctx.colls.get((coll, id(m0)))
            if members is None:
                members = ctx.colls[coll, id(m0)] = collection(ctx, m0, coll)
        t = u = 0
        for x in members:
            v = cond(ctx, x)
            if v is True:
                if kind == "any":
                    del ctx.unk[n0:]
                    return True
                t += 1
            elif v is None:
                u += 1
            elif kind == "all":
                del ctx.unk[n0:]
                return False
        if kind == "count":
            return t if not u else Range(t, t + u)
        if u:
            return None
        del ctx.unk[n0:]
        return kind == "all"
    return quantify


def _known(x: Fn) -> Fn:
    def known(ctx: Ctx, m: Any) -> bool:
        n0 = len(ctx.unk)
        v = x(ctx, m)
        del ctx.unk[n0:]
        return v is not None
    return known


def _cached_h(name: str, inner: Fn) -> Fn:
    def derived_h(ctx: Ctx, m: Any) -> Any:
        hit = ctx.hcache.get(name, _MISS)
        if hit is _MISS:
            n0 = len(ctx.unk)
            v = inner(ctx, None)
            ctx.hcache[name] = (v, tuple(ctx.unk[n0:]))
            return v
        v, unk = hit  # type: ignore[misc]
        if unk:
            ctx.unk.extend(unk)
        return v
    return derived_h


def _cached_m(name: str, inner: Fn) -> Fn:
    def derived_m(ctx: Ctx, m: Any) -> Any:
        key = (name, id(m))
        hit = ctx.mcache.get(key, _MISS)
        if hit is _MISS:
            n0 = len(ctx.unk)
            v = inner(ctx, m)
            ctx.mcache[key] = (v, tuple(ctx.unk[n0:]))
            return v
        v, unk = hit  # type: ignore[misc]
        if unk:
            ctx.unk.extend(unk)
        return v
    return derived_m


def value_key(n: ir.Node) -> str:
    """Return the name under which a criterion's explanation shows the value of ``n``."""
    if isinstance(n, ir.Age):
        if n.fact == "date_of_birth":
            return "age" if n.unit == "years" else "age_months"
        return f"years_since({n.fact})"
    if isinstance(n, ir.Quant):
        return ir.to_text(n)
    return n.name  # type: ignore[attr-defined, no-any-return]


_RECORDED = (ir.Fact, ir.Derived, ir.Param, ir.Age, ir.Quant)


class Compiler:
    """Turn IR into closures; derived variables are compiled once and cached per call."""

    def __init__(self, derived: dict[str, Any]) -> None:
        self.derived = derived  # name -> DerivedVar
        self.derived_fns: dict[str, Fn] = {}

    def __call__(self, node: ir.Node) -> Fn:
        return self.compile(node, None)

    def recording(self, node: ir.Node, plain: bool = False) -> Fn:
        """Compile ``node`` so that the values it reads (outside quantifiers) go to ctx.rec.

        With ``plain``, they are recorded as :func:`plain` makes them, ready for the API.
        """
        return self.compile(node, "plain" if plain else "raw")

    def compile(self, node: ir.Node, rec: str | None) -> Fn:
        """Compile ``node``; ``rec`` is None, or how to record what it reads: raw or plain."""
        if rec is None or not isinstance(node, _RECORDED):
            return self.build(node, lambda n: self.compile(n, rec), rec)
        key, as_plain = value_key(node), rec == "plain"
        if isinstance(node, ir.Fact):
            return _fact(node, key, as_plain)
        if isinstance(node, ir.Age):
            return _age(node, key, as_plain)
        if isinstance(node, ir.Param):
            return _param(node.name, key, as_plain)
        inner = self(node)  # a quantifier's condition is about other members: not recorded
        if as_plain:
            def record_plain(ctx: Ctx, m: Any) -> Any:
                v = inner(ctx, m)
                ctx.rec[key] = v if type(v) in SIMPLE else plain(v)
                return v
            return record_plain

        def record(ctx: Ctx, m: Any) -> Any:
            v = inner(ctx, m)
            ctx.rec[key] = v
            return v
        return record

    def _leaf(self, node: ir.Node, test: Test, rec: str | None) -> Fn | None:
        """Return a fact or age reader that applies ``test`` to the value, or None."""
        if not isinstance(node, ir.Fact | ir.Age):
            return None
        key = value_key(node) if rec is not None else None
        if isinstance(node, ir.Fact):
            return _fact(node, key, rec == "plain", test)
        return _age(node, key, rec == "plain", test)

    def build(self, node: ir.Node, c: Callable[[ir.Node], Fn], rec: str | None = None) -> Fn:
        """Compile one node, compiling its operands with ``c`` (recording as ``rec`` says)."""
        if isinstance(node, ir.Const):
            value = node.value
            return lambda ctx, m: value
        if isinstance(node, ir.Fact):
            return _fact(node)
        if isinstance(node, ir.Age):
            return _age(node)
        if isinstance(node, ir.Param):
            return _param(node.name)
        if isinstance(node, ir.Derived):
            return self._derived(node)
        if isinstance(node, ir.Compare):
            return _compare(node, c, lambda n, test: self._leaf(n, test, rec), rec)
        if isinstance(node, ir.In):
            return _in(node, c, lambda n, test: self._leaf(n, test, rec))
        if isinstance(node, ir.And):
            return _and([c(p) for p in node.parts])
        if isinstance(node, ir.Or):
            return _or([c(p) for p in node.parts])
        if isinstance(node, ir.Not):
            return _not(c(node.x))
        if isinstance(node, ir.Arith):
            return _arith(node, c)
        if isinstance(node, ir.Neg):
            return _negate(c(node.x))
        if isinstance(node, ir.IfElse):
            return _if(node, c)
        if isinstance(node, ir.Quant):
            return _quant(node, self)
        if isinstance(node, ir.Known):
            return _known(c(node.x))
        if isinstance(node, ir.Enrolled):
            sid = node.scheme_id
            return lambda ctx, m: ctx.enrolled_in(sid)
        raise TypeError(f"cannot compile {node!r}")  # pragma: no cover - the checker prevents it

    def _derived(self, node: ir.Derived) -> Fn:
        fn = self.derived_fns.get(node.name)
        if fn is None:
            var = self.derived[node.name]
            inner = self(var.expr)
            fn = (_cached_h if var.level == "household" else _cached_m)(node.name, inner)
            self.derived_fns[node.name] = fn
        return fn

    def member_dependent(self, node: ir.Node) -> bool:
        """Return whether ``node`` reads the assessed member (else it is the same for all)."""
        if isinstance(node, ir.Quant):
            return node.coll != "members"  # the condition is about the quantified member
        if isinstance(node, ir.Fact | ir.Age):
            return node.level == "member"
        if isinstance(node, ir.Derived):
            return node.level == "member" or self.member_dependent(self.derived[node.name].expr)
        return any(self.member_dependent(c) for c in ir.children(node))
