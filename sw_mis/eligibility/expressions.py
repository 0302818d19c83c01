"""Parse a rule expression once with ``ast`` and check it into the typed IR of ``ir.py``.

Only the grammar of docs/rules.md is accepted; every other construct, unknown name or type
mismatch becomes a message (with the line inside the expression) instead of an exception.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sw_mis.eligibility import ir
from sw_mis.registry.fields import FIELDS_BY_NAME

CALLS = ("any", "all", "count", "known", "enrolled", "years_since")
AGE_NAMES = {"age": "years", "age_months": "months"}
_CMP_OPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_ARITH_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_KIND_TYPE = {"bool": "bool", "int": "num", "decimal": "num", "date": "date", "enum": "str",
              "text": "str"}
_DESCRIBE = {
    ast.Attribute: "attribute access ('.')",
    ast.Subscript: "subscripts ('[...]')",
    ast.Lambda: "lambda",
    ast.Dict: "dictionaries",
    ast.Set: "sets",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.JoinedStr: "f-strings",
    ast.Starred: "'*'",
    ast.NamedExpr: "':='",
    ast.Slice: "slices",
}


class ExprError(Exception):
    """One problem in an expression; ``line`` counts from 1 inside the expression text."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class TypeInfo:
    """A node's type plus what is known of its values (enum choices, parameter values)."""

    t: str
    values: frozenset[Any] | None = None  # the possible string values, when known
    elem: str | None = None  # element type of a list
    closed: bool = False  # values are an enum's choices (anything else is a mistake)


ANY = TypeInfo("any")  # the type of an erroneous node: accepted everywhere to avoid noise


@dataclass
class Scope:
    """Where an expression is written, which decides the names and collections it may use."""

    level: str  # household | member: the level of the thing assessed
    what: str  # e.g. "household-level scheme", for messages
    params: dict[str, TypeInfo] = field(default_factory=dict)
    #: name -> (node, type, uses a quantifier), None if not a derived variable, or a message
    derived: Callable[[str], tuple[ir.Node, TypeInfo, bool] | str | None] = lambda name: None
    allow_quant: bool = True
    allow_relative: bool = False  # others / spouses
    in_quant: bool = False


def parse(text: Any, scope: Scope, want: str | None = None,
          ) -> tuple[ir.Node | None, TypeInfo, list[ExprError]]:
    """Parse and check ``text``; return the IR (or None), its type and every problem found."""
    if isinstance(text, bool):
        text = str(text)
    elif isinstance(text, int | float) and not isinstance(text, bool):
        text = repr(text)
    if not isinstance(text, str) or not text.strip():
        return None, ANY, [ExprError(1, "expected an expression (a text)")]
    try:
        # Parenthesised so that a '|' block may break lines anywhere; line numbers are kept.
        tree = ast.parse("(" + text.strip() + "\n)", mode="eval")
    except SyntaxError as exc:
        return None, ANY, [ExprError(exc.lineno or 1, f"syntax error: {exc.msg}")]
    except (ValueError, RecursionError, MemoryError):
        return None, ANY, [ExprError(1, "expression cannot be parsed")]
    checker = _Checker(scope)
    try:
        node, ti = checker.check(tree.body)
    except RecursionError:
        return None, ANY, [ExprError(1, "expression is nested too deeply")]
    if want and ti.t != "any" and not _fits(ti.t, want):
        checker.err(tree.body, f"expected {_WANT[want]}, got {_TNAME[ti.t]}")
    return (None if checker.errors else node), ti, checker.errors


_WANT = {"bool": "a condition (true/false)", "num": "a number"}
_TNAME = {"bool": "a condition", "num": "a number", "count": "a number", "str": "a text",
          "list": "a list", "date": "a date", "any": "an error"}


def _fits(t: str, want: str) -> bool:
    return t == want or (want == "num" and t == "count")


def _is_num(t: str) -> bool:
    return t in ("num", "count", "any")


class _Checker:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.errors: list[ExprError] = []

    def err(self, node: ast.AST, message: str) -> tuple[ir.Node, TypeInfo]:
        self.errors.append(ExprError(getattr(node, "lineno", 1), message))
        return ir.Const("any", None), ANY

    def check(self, node: ast.AST) -> tuple[ir.Node, TypeInfo]:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            what = _DESCRIBE.get(type(node), f"'{type(node).__name__}'")
            return self.err(node, f"{what} not allowed in a rule expression")
        return method(node)

    # literals --------------------------------------------------------------------------
    def _Constant(self, node: ast.Constant) -> tuple[ir.Node, TypeInfo]:
        v = node.value
        if isinstance(v, bool):
            return ir.Const("bool", v), TypeInfo("bool")
        if isinstance(v, int):
            return ir.Const("num", v), TypeInfo("num")
        if isinstance(v, float):
            if not math.isfinite(v):
                return self.err(node, "numbers must be finite")
            return ir.Const("num", Decimal(repr(v))), TypeInfo("num")
        if isinstance(v, str):
            return ir.Const("str", v), TypeInfo("str", frozenset([v]))
        return self.err(node, f"constant {v!r} not allowed (use numbers, 'text', True, False)")

    def _Tuple(self, node: ast.AST) -> tuple[ir.Node, TypeInfo]:
        return self.err(node, "a list is only allowed after 'in'")

    _List = _Tuple

    def _literal_list(self, node: ast.Tuple | ast.List) -> tuple[ir.Node, TypeInfo]:
        items: list[Any] = []
        types: set[str] = set()
        for elt in node.elts:
            value: Any = None
            if isinstance(elt, ast.UnaryOp) and isinstance(elt.op, ast.USub):
                inner = elt.operand
                if isinstance(inner, ast.Constant) and type(inner.value) in (int, float):
                    value = -inner.value
            elif isinstance(elt, ast.Constant) and type(elt.value) in (int, float, str):
                value = elt.value
            if value is None:
                return self.err(elt, "a list after 'in' may only hold numbers or texts")
            if isinstance(value, float):
                value = Decimal(repr(value))
            types.add("str" if isinstance(value, str) else "num")
            items.append(value)
        if len(types) > 1:
            return self.err(node, "a list may not mix numbers and texts")
        elem = types.pop() if types else None
        strs = frozenset(items) if elem == "str" else None
        return ir.ListConst("list", tuple(items)), TypeInfo("list", strs, elem)

    # names -----------------------------------------------------------------------------
    def _Name(self, node: ast.Name) -> tuple[ir.Node, TypeInfo]:
        name = node.id
        scope = self.scope
        if name in ir.COLLECTIONS:
            return self.err(node, f"'{name}' can only be the first argument of any(), all() "
                                  "or count()")
        if name in AGE_NAMES:
            self._member_scope(node, name)
            return ir.Age("num", "date_of_birth", "member", AGE_NAMES[name]), TypeInfo("num")
        fact = FIELDS_BY_NAME.get(name)
        if fact is not None:
            if fact.level == "member":
                self._member_scope(node, name)
            t = _KIND_TYPE[fact.kind]
            values = frozenset(fact.choices) if fact.kind == "enum" else None
            return ir.Fact(t, name, fact.level, fact.kind), TypeInfo(t, values, None, bool(values))
        derived = scope.derived(name)
        if isinstance(derived, str):
            return self.err(node, derived)
        if derived is not None:
            dnode, ti, has_quant = derived
            assert isinstance(dnode, ir.Derived)
            if dnode.level == "member":
                self._member_scope(node, name)
            if has_quant and scope.in_quant:
                return self.err(node, f"derived variable '{name}' counts members itself; "
                                      "quantifiers do not nest")
            if has_quant and not scope.allow_quant:
                return self.err(node, f"derived variable '{name}' counts members; not allowed "
                                      f"in a {scope.what}")
            return dnode, ti
        if name in scope.params:
            ti = scope.params[name]
            return ir.Param(ti.t, name), ti
        return self.err(node, f"unknown name '{name}' (not a declared fact, derived variable "
                              "or parameter)")

    def _member_scope(self, node: ast.AST, name: str) -> None:
        if self.scope.level != "member" and not self.scope.in_quant:
            self.err(node, f"member fact '{name}' used outside any(), all() or count() in a "
                           f"{self.scope.what}")

    # operators -------------------------------------------------------------------------
    def _BoolOp(self, node: ast.BoolOp) -> tuple[ir.Node, TypeInfo]:
        parts = []
        for v in node.values:
            n, ti = self.check(v)
            self._want_bool(v, ti, "and" if isinstance(node.op, ast.And) else "or")
            parts.append(n)
        cls = ir.And if isinstance(node.op, ast.And) else ir.Or
        return cls("bool", tuple(parts)), TypeInfo("bool")

    def _want_bool(self, node: ast.AST, ti: TypeInfo, where: str) -> None:
        if ti.t not in ("bool", "any"):
            self.err(node, f"'{where}' needs conditions, got {_TNAME[ti.t]}")

    def _UnaryOp(self, node: ast.UnaryOp) -> tuple[ir.Node, TypeInfo]:
        if isinstance(node.op, ast.Not):
            n, ti = self.check(node.operand)
            self._want_bool(node.operand, ti, "not")
            return ir.Not("bool", n), TypeInfo("bool")
        if isinstance(node.op, ast.USub):
            n, ti = self.check(node.operand)
            if not _is_num(ti.t):
                return self.err(node, f"'-' needs a number, got {_TNAME[ti.t]}")
            if isinstance(n, ir.Const) and n.t == "num":
                return ir.Const("num", -n.value), TypeInfo("num")
            return ir.Neg("num", n), TypeInfo("num")
        return self.err(node, "only unary '-' and 'not' are allowed")

    def _BinOp(self, node: ast.BinOp) -> tuple[ir.Node, TypeInfo]:
        op = _ARITH_OPS.get(type(node.op))
        if op is None:
            return self.err(node, "operator not allowed (use + - * /)")
        left, lt = self.check(node.left)
        right, rt = self.check(node.right)
        for side, ti in ((node.left, lt), (node.right, rt)):
            if not _is_num(ti.t):
                return self.err(side, f"'{op}' needs numbers, got {_TNAME[ti.t]}")
        return ir.Arith("num", op, left, right), TypeInfo("num")

    def _IfExp(self, node: ast.IfExp) -> tuple[ir.Node, TypeInfo]:
        test, tt = self.check(node.test)
        self._want_bool(node.test, tt, "if")
        body, bt = self.check(node.body)
        orelse, ot = self.check(node.orelse)
        if "any" in (bt.t, ot.t):
            return ir.IfElse("any", test, body, orelse), ANY
        if _is_num(bt.t) and _is_num(ot.t):
            t = "count" if "count" in (bt.t, ot.t) else "num"
            return ir.IfElse(t, test, body, orelse), TypeInfo(t)
        if bt.t != ot.t or bt.t in ("list", "date"):
            return self.err(node, f"both branches of 'if' must have the same type "
                                  f"({_TNAME[bt.t]} vs {_TNAME[ot.t]})")
        values = bt.values | ot.values if bt.values and ot.values else None
        closed = bt.closed and ot.closed
        return ir.IfElse(bt.t, test, body, orelse), TypeInfo(bt.t, values, None, closed)

    def _Compare(self, node: ast.Compare) -> tuple[ir.Node, TypeInfo]:
        parts: list[ir.Node] = []
        left_ast = node.left
        left, lt = self.check(left_ast)
        for op, right_ast in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                if isinstance(right_ast, ast.Tuple | ast.List):
                    right, rt = self._literal_list(right_ast)
                else:
                    right, rt = self.check(right_ast)
                parts.append(self._in(node, left, lt, right, rt, isinstance(op, ast.NotIn)))
            elif type(op) in _CMP_OPS:
                right, rt = self.check(right_ast)
                parts.append(self._cmp(node, _CMP_OPS[type(op)], left, lt, right, rt))
            else:
                self.err(node, "'is' / 'is not' are not allowed (use == or known())")
                return ir.Const("any", None), ANY
            left, lt = right, rt
        if len(parts) == 1:
            return parts[0], TypeInfo("bool")
        return ir.And("bool", tuple(parts)), TypeInfo("bool")

    def _cmp(self, node: ast.AST, op: str, left: ir.Node, lt: TypeInfo, right: ir.Node,
             rt: TypeInfo) -> ir.Node:
        if "any" in (lt.t, rt.t):
            return ir.Compare("bool", op, left, right)
        if "date" in (lt.t, rt.t):
            self.err(node, "a date can only be used in years_since() or known()")
        elif "list" in (lt.t, rt.t):
            self.err(node, f"a list can only be used after 'in', not with '{op}'")
        elif op in ("<", "<=", ">", ">="):
            if not (_is_num(lt.t) and _is_num(rt.t)):
                self.err(node, f"'{op}' compares numbers, got {_TNAME[lt.t]} and {_TNAME[rt.t]}")
        elif _is_num(lt.t) != _is_num(rt.t) or (not _is_num(lt.t) and lt.t != rt.t):
            self.err(node, f"cannot compare {_TNAME[lt.t]} with {_TNAME[rt.t]}")
        elif lt.t == "str":
            self._check_choices(node, lt, rt)
        return ir.Compare("bool", op, left, right)

    def _check_choices(self, node: ast.AST, a: TypeInfo, b: TypeInfo) -> None:
        """An enum fact compared with a literal or parameter must use one of its choices."""
        for x, y in ((a, b), (b, a)):
            if x.closed and not y.closed and x.values is not None and y.values is not None:
                self._subset(node, y.values, x.values)

    def _subset(self, node: ast.AST, used: frozenset[Any], choices: frozenset[Any]) -> None:
        bad = sorted(repr(v) for v in used - choices)
        if bad:
            self.err(node, f"{', '.join(bad)} {'is' if len(bad) == 1 else 'are'} not among the "
                           f"choices ({', '.join(sorted(choices))})")

    def _in(self, node: ast.AST, left: ir.Node, lt: TypeInfo, right: ir.Node, rt: TypeInfo,
            negate: bool) -> ir.Node:
        result = ir.In("bool", left, right, negate)
        if "any" in (lt.t, rt.t):
            return result
        if rt.t != "list":
            self.err(node, f"'in' needs a list on its right, got {_TNAME[rt.t]}")
        elif lt.t in ("list", "date", "bool"):
            self.err(node, f"cannot look up {_TNAME[lt.t]} in a list")
        elif rt.elem is not None and (rt.elem == "num") != _is_num(lt.t):
            self.err(node, f"cannot look up {_TNAME[lt.t]} in a list of "
                           f"{'numbers' if rt.elem == 'num' else 'texts'}")
        elif lt.closed and lt.values is not None and rt.values is not None:
            self._subset(node, rt.values, lt.values)
        return result

    # calls -----------------------------------------------------------------------------
    def _Call(self, node: ast.Call) -> tuple[ir.Node, TypeInfo]:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in CALLS:
            return self.err(node, f"calling {name or 'this'} is not allowed "
                                  f"(only {', '.join(CALLS)})")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            return self.err(node, f"{name}() takes plain arguments only")
        if name in ("any", "all", "count"):
            return self._quant(node, name)
        if len(node.args) != 1:
            return self.err(node, f"{name}() takes exactly one argument")
        arg = node.args[0]
        if name == "enrolled":
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                return self.err(node, "enrolled() takes a scheme id in quotes")
            return ir.Enrolled("bool", arg.value), TypeInfo("bool")
        if not isinstance(arg, ast.Name):
            return self.err(node, f"{name}() takes a fact name")
        if name == "known":
            inner, _ = self.check(arg)
            if isinstance(inner, ir.Param):
                return self.err(node, "known() takes a fact or derived variable, not a parameter")
            return ir.Known("bool", inner), TypeInfo("bool")
        fact = FIELDS_BY_NAME.get(arg.id)
        if fact is None or fact.kind != "date":
            return self.err(node, f"years_since() takes a date fact, not '{arg.id}'")
        if fact.level == "member":
            self._member_scope(node, arg.id)
        return ir.Age("num", fact.name, fact.level, "years"), TypeInfo("num")

    def _quant(self, node: ast.Call, name: str) -> tuple[ir.Node, TypeInfo]:
        scope = self.scope
        if len(node.args) != 2:
            return self.err(node, f"{name}() takes a collection and a condition")
        coll_ast, cond_ast = node.args
        if not (isinstance(coll_ast, ast.Name) and coll_ast.id in ir.COLLECTIONS):
            return self.err(node, f"the first argument of {name}() must be one of "
                                  f"{', '.join(ir.COLLECTIONS)}")
        coll = coll_ast.id
        if scope.in_quant:
            return self.err(node, "quantifiers do not nest")
        if not scope.allow_quant:
            return self.err(node, f"{name}() is not allowed in a {scope.what}")
        if coll != "members" and not scope.allow_relative:
            return self.err(node, f"'{coll}' is only allowed in member-level schemes")
        scope.in_quant = True
        try:
            cond, ct = self.check(cond_ast)
        finally:
            scope.in_quant = False
        self._want_bool(cond_ast, ct, name)
        if name == "count":
            return ir.Quant("count", "count", coll, cond), TypeInfo("count")
        return ir.Quant("bool", name, coll, cond), TypeInfo("bool")
