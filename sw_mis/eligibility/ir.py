"""The typed intermediate form of a rule expression, shared by the Python and SQL back-ends.

Every node carries ``t``, its type: ``bool``, ``num``, ``count`` (a number that may be a range,
see docs/rules.md), ``str``, ``list`` or ``date``. Nodes are frozen and hashable so the SQL
compiler can share one aggregate between identical quantifier conditions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from typing import Any

COLLECTIONS = ("members", "others", "spouses")


@dataclass(frozen=True)
class Node:
    t: str


@dataclass(frozen=True)
class Const(Node):
    value: Any


@dataclass(frozen=True)
class ListConst(Node):
    """A literal list after ``in``: ``items`` are plain Python values."""

    items: tuple[Any, ...]


@dataclass(frozen=True)
class Fact(Node):
    name: str
    level: str  # household | member
    kind: str  # the declared kind: bool, int, decimal, date, enum, text


@dataclass(frozen=True)
class Age(Node):
    """Whole years (or months) from a date fact to the as-of date."""

    fact: str
    level: str
    unit: str  # years | months


@dataclass(frozen=True)
class Derived(Node):
    name: str
    level: str


@dataclass(frozen=True)
class Param(Node):
    name: str


@dataclass(frozen=True)
class Compare(Node):
    op: str  # == != < <= > >=
    left: Node
    right: Node


@dataclass(frozen=True)
class In(Node):
    left: Node
    items: Node  # ListConst or a list Param
    negate: bool


@dataclass(frozen=True)
class And(Node):
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Or(Node):
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not(Node):
    x: Node


@dataclass(frozen=True)
class Arith(Node):
    op: str  # + - * /
    left: Node
    right: Node


@dataclass(frozen=True)
class Neg(Node):
    x: Node


@dataclass(frozen=True)
class IfElse(Node):
    test: Node
    body: Node
    orelse: Node


@dataclass(frozen=True)
class Quant(Node):
    kind: str  # any | all | count
    coll: str  # members | others | spouses
    cond: Node


@dataclass(frozen=True)
class Known(Node):
    x: Node


@dataclass(frozen=True)
class Enrolled(Node):
    scheme_id: str


def children(node: Node) -> tuple[Node, ...]:
    """Return the direct sub-expressions of ``node``."""
    if isinstance(node, Compare | Arith):
        return (node.left, node.right)
    if isinstance(node, In):
        return (node.left, node.items)
    if isinstance(node, And | Or):
        return node.parts
    if isinstance(node, Not | Neg | Known):
        return (node.x,)
    if isinstance(node, IfElse):
        return (node.test, node.body, node.orelse)
    if isinstance(node, Quant):
        return (node.cond,)
    return ()


def bind_params(node: Node, values: dict[str, Any]) -> Node:
    """Return ``node`` with every parameter replaced by its value (a constant)."""
    if isinstance(node, Param):
        v = values[node.name]
        return ListConst("list", tuple(v)) if isinstance(v, tuple) else Const(node.t, v)
    changes = {}
    for f in fields(node):
        v = getattr(node, f.name)
        if isinstance(v, Node):
            changes[f.name] = bind_params(v, values)
        elif isinstance(v, tuple) and v and isinstance(v[0], Node):
            changes[f.name] = tuple(bind_params(x, values) for x in v)
    return replace(node, **changes) if changes else node


def walk(node: Node) -> Iterator[Node]:
    """Yield ``node`` and every node below it (derived variables are not expanded)."""
    yield node
    for c in children(node):
        yield from walk(c)


def to_text(n: Node) -> str:
    """Return readable source text for an IR node."""
    if isinstance(n, Const):
        return repr(n.value) if isinstance(n.value, str) else str(n.value)
    if isinstance(n, ListConst):
        return "(" + ", ".join(repr(v) if isinstance(v, str) else str(v) for v in n.items) + ")"
    if isinstance(n, Fact | Derived | Param):
        return n.name
    if isinstance(n, Age):
        if n.fact == "date_of_birth":
            return "age" if n.unit == "years" else "age_months"
        return f"years_since({n.fact})"
    if isinstance(n, Compare | Arith):
        return f"{to_text(n.left)} {n.op} {to_text(n.right)}"
    if isinstance(n, In):
        return f"{to_text(n.left)} {'not in' if n.negate else 'in'} {to_text(n.items)}"
    if isinstance(n, And | Or):
        sep = " and " if isinstance(n, And) else " or "
        return sep.join(_paren(p) for p in n.parts)
    if isinstance(n, Not):
        return f"not {_paren(n.x)}"
    if isinstance(n, Neg):
        return f"-{_paren(n.x)}"
    if isinstance(n, IfElse):
        return f"{to_text(n.body)} if {to_text(n.test)} else {to_text(n.orelse)}"
    if isinstance(n, Quant):
        return f"{n.kind}({n.coll}, {to_text(n.cond)})"
    if isinstance(n, Known):
        return f"known({to_text(n.x)})"
    if isinstance(n, Enrolled):
        return f"enrolled({n.scheme_id!r})"
    return "?"  # pragma: no cover


def _paren(n: Node) -> str:
    text = to_text(n)
    return f"({text})" if isinstance(n, And | Or | IfElse | Compare | In) else text
