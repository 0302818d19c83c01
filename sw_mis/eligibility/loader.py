"""Load and validate a rules directory into a :class:`RuleBook`.

Every problem becomes a ``LoadError(file, line, message)``; all of them are collected. A pack
with any error is refused as a whole while the other packs still load. Arbitrary input never
raises: that is tested with generated YAML.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sw_mis.eligibility import ir
from sw_mis.eligibility.book import (
    Criterion,
    DerivedVar,
    LoadError,
    Pack,
    Parameter,
    RuleBook,
    Scheme,
)
from sw_mis.eligibility.expressions import AGE_NAMES, CALLS, Scope, TypeInfo, parse
from sw_mis.eligibility.yamlio import LineDict, LineList, as_date, load_yaml
from sw_mis.registry.fields import FIELDS_BY_NAME

TEST_SUFFIX = ".test.yaml"
PACK_FILES = ("pack.yaml", "areas.yaml", "parameters.yaml")
OUTCOMES = ("eligible", "not_eligible", "undetermined")
UNITS = ("household", "member")
BENEFIT_TYPES = ("cash", "in_kind", "insurance", "service", "voucher")
PERIODS = ("once", "month", "quarter", "year")

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]+)?$")
_RESERVED = set(AGE_NAMES) | set(ir.COLLECTIONS) | set(CALLS) | {"True", "False", "None"}

SCHEME_KEYS = {
    "id", "name", "name_i18n", "agency", "agency_i18n", "unit", "target_group",
    "target_group_i18n", "description", "description_i18n", "valid_from", "valid_until",
    "benefit", "documents", "referral", "references", "parameters", "criteria", "notes",
}
BENEFIT_KEYS = {"type", "amount", "currency", "period", "label", "label_i18n", "notes"}
REFERRAL_KEYS = {"office", "address", "hours", "phone", "email", "url", "notes"}
PARAM_KEYS = {"label", "label_i18n", "values", "reference", "uncertain", "unit", "notes"}
LEAF_KEYS = {"id", "label", "label_i18n", "when", "notes"}
GROUP_KEYS = {"id", "label", "label_i18n", "all", "any", "not", "notes"}
PACK_KEYS = {"country", "name", "name_i18n", "currency", "languages", "offices", "notes"}
AREA_KEYS = {"code", "name", "name_i18n", "level", "parent"}
DERIVED_KEYS = {"level", "label", "label_i18n", "expr", "notes"}
CASE_KEYS = {"name", "as_of", "household", "expect", "notes"}
EXPECT_KEYS = {"outcome", "members", "failing", "missing"}
MEMBER_EXTRA = {"id", "status", "given_name", "family_name"}
ENROLMENT_KEYS = {"scheme", "status", "start_date", "end_date", "member"}


@dataclass
class _File:
    """Errors of one file, reported against its path."""

    name: str
    errors: list[LoadError] = field(default_factory=list)

    def err(self, line: int, message: str) -> None:
        self.errors.append(LoadError(self.name, max(int(line or 1), 1), message))


def _line(d: Any, key: Any = None) -> int:
    if isinstance(d, LineDict):
        return d.lines.get(key, d.line) if key is not None else d.line
    return getattr(d, "line", 1) or 1


def _mapping(f: _File, d: Any, line: int, what: str) -> LineDict | None:
    if isinstance(d, LineDict):
        return d
    f.err(line, f"{what} must be a mapping (key: value)")
    return None


def _keys(f: _File, d: LineDict, allowed: set[str], required: Iterable[str], what: str,
          line: int | None = None) -> None:
    for key in d:
        if key not in allowed:
            f.err(_line(d, key), f"unknown key '{key}' in {what} "
                                 f"(allowed: {', '.join(sorted(allowed))})")
    for key in required:
        if key not in d or d[key] is None:
            f.err(line or d.line, f"{what} needs '{key}'")


def _text(f: _File, d: LineDict, key: str, required: bool = False) -> str:
    value = d.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or not value.strip():
        f.err(_line(d, key), f"'{key}' must be a non-empty text")
        return ""
    return value


def _i18n(f: _File, d: LineDict, key: str) -> dict[str, str]:
    value = d.get(key)
    if value is None:
        return {}
    if not isinstance(value, LineDict) or not all(
        isinstance(k, str) and _LANG.match(k) and isinstance(v, str) for k, v in value.items()
    ):
        f.err(_line(d, key), f"'{key}' must map language codes to texts, e.g. {{ur: ...}}")
        return {}
    return dict(value)


def _choice(f: _File, d: LineDict, key: str, choices: tuple[str, ...]) -> str:
    value = d.get(key)
    if value is None:
        return ""
    if value not in choices:
        f.err(_line(d, key), f"'{key}' must be one of {', '.join(choices)}, not {value!r}")
        return ""
    return str(value)


def _date(f: _File, d: LineDict, key: str) -> Any:
    value = d.get(key)
    if value is None:
        return None
    parsed = as_date(value)
    if parsed is None:
        f.err(_line(d, key), f"'{key}' must be a date YYYY-MM-DD, not {value!r}")
    return parsed


def _number(value: Any) -> Any:
    """Return ``value`` as an int or Decimal, or None if it is not a finite number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return Decimal(repr(value))
    return None


def _read(path: Path, root: Path, files: dict[str, bytes]) -> tuple[_File, Any]:
    """Read and parse one file, recording its bytes for the rules version hash."""
    rel = path.relative_to(root.parent).as_posix()
    f = _File(rel)
    try:
        raw = path.read_bytes()
        files[rel] = raw
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        f.err(1, f"cannot read the file: {exc}")
        return f, None
    data, problems = load_yaml(text)
    for line, message in problems:
        f.err(line, message)
    return f, data


# parameters ----------------------------------------------------------------------------------
def _parameters(f: _File, d: Any, line: int, taken: dict[str, Any]) -> dict[str, Parameter]:
    params: dict[str, Parameter] = {}
    d = _mapping(f, d, line, "'parameters'")
    if d is None:
        return params
    for name, spec in d.items():
        pline = _line(d, name)
        if not isinstance(name, str) or not _NAME.match(name):
            f.err(pline, f"parameter name {name!r} must be lower_case_with_underscores")
            continue
        if name in FIELDS_BY_NAME or name in _RESERVED or name in taken:
            f.err(pline, f"parameter '{name}' hides the {taken.get(name, 'fact or built-in')} "
                         f"'{name}'")
            continue
        spec = _mapping(f, spec, pline, f"parameter '{name}'")
        if spec is None:
            continue
        _keys(f, spec, PARAM_KEYS, ("label", "values", "reference"), f"parameter '{name}'",
              pline)
        values = _dated_values(f, spec, name)
        if values is None:
            continue
        if spec.get("uncertain") is not None and not isinstance(spec.get("uncertain"), bool):
            f.err(_line(spec, "uncertain"), "'uncertain' must be true or false")
        dates = sorted(values)
        params[name] = Parameter(
            name=name, label=_text(f, spec, "label"), dates=dates,
            values=[values[x] for x in dates], reference=_text(f, spec, "reference"),
            uncertain=spec.get("uncertain") is True, label_i18n=_i18n(f, spec, "label_i18n"),
            unit=_text(f, spec, "unit"),
        )
    return params


def _dated_values(f: _File, spec: LineDict, name: str) -> dict[Any, Any] | None:
    raw = spec.get("values")
    vline = _line(spec, "values")
    if raw is None:
        return None
    if not isinstance(raw, LineDict) or not raw:
        f.err(vline, f"parameter '{name}': 'values' must map effective dates to values, "
                     "e.g. {2024-01-01: 32}")
        return None
    values: dict[Any, Any] = {}
    kinds: set[str] = set()
    for when, value in raw.items():
        day = as_date(when)
        if day is None:
            f.err(_line(raw, when), f"parameter '{name}': {when!r} is not a date YYYY-MM-DD")
            continue
        converted, kind = _param_value(value)
        if kind is None:
            f.err(_line(raw, when), f"parameter '{name}': a value must be a number, a text or "
                                    f"a list of numbers or of texts, not {value!r}")
            continue
        values[day] = converted
        kinds.add(kind)
    if len(kinds) > 1:
        f.err(vline, f"parameter '{name}': values of different types ({', '.join(sorted(kinds))})")
        return None
    return values if len(values) == len(raw) else None


def _param_value(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str):
        return value, "text"
    number = _number(value)
    if number is not None:
        return number, "number"
    if isinstance(value, list):
        items = [v if isinstance(v, str) else _number(v) for v in value]
        if any(v is None for v in items):
            return None, None
        kinds = {isinstance(v, str) for v in items}
        if len(kinds) > 1:
            return None, None
        return tuple(items), "list of texts" if kinds == {True} else "list of numbers"
    return None, None


def _param_type(p: Parameter) -> TypeInfo:
    first = p.values[0]
    if isinstance(first, tuple):
        elems = [v for value in p.values for v in value]
        is_str = any(isinstance(v, str) for v in elems)
        elem = "str" if is_str else ("num" if elems else None)
        return TypeInfo("list", frozenset(elems) if is_str else None, elem)
    if isinstance(first, str):
        return TypeInfo("str", frozenset(p.values))
    return TypeInfo("num")


# expressions ---------------------------------------------------------------------------------
def _expr(f: _File, d: LineDict, key: str, scope: Scope, want: str) -> ir.Node | None:
    node, _, problems = parse(d.get(key), scope, want)
    base = _line(d, key)
    literal = d.literal.get(key, False)
    for p in problems:
        # A '|' block keeps its lines (they start below the key); other styles fold them.
        f.err(base + p.line if literal else base, p.message)
    return node


class _DerivedEnv:
    """Check derived variables on first use, so they may refer to each other in any order."""

    def __init__(self, f: _File | None, raw: LineDict | None) -> None:
        self.f = f
        self.raw = raw if raw is not None else LineDict()
        self.done: dict[str, DerivedVar | None] = {}
        self.types: dict[str, TypeInfo] = {}
        self.stack: list[str] = []

    def lookup(self, name: str) -> tuple[ir.Node, TypeInfo, bool] | str | None:
        if name not in self.raw:
            return None
        if name in self.stack:
            return f"derived variable '{name}' refers to itself"
        if name not in self.done:
            self.stack.append(name)
            try:
                self.done[name] = self._check(name)
            finally:
                self.stack.pop()
        var = self.done[name]
        if var is None:
            return f"derived variable '{name}' is invalid (see derived.yaml)"
        t = self.types[name]
        return ir.Derived(t.t, name, var.level), t, var.has_quant

    def _check(self, name: str) -> DerivedVar | None:
        f = self.f
        assert f is not None
        spec = _mapping(f, self.raw[name], _line(self.raw, name), f"derived variable '{name}'")
        if spec is None:
            return None
        n0 = len(f.errors)
        if not isinstance(name, str) or not _NAME.match(name):
            f.err(_line(self.raw, name), f"derived variable name {name!r} must be "
                                         "lower_case_with_underscores")
        elif name in FIELDS_BY_NAME or name in _RESERVED:
            f.err(_line(self.raw, name), f"derived variable '{name}' hides a fact or built-in")
        _keys(f, spec, DERIVED_KEYS, ("level", "label", "expr"), f"derived variable '{name}'")
        level = _choice(f, spec, "level", UNITS)
        if len(f.errors) > n0 or not level:
            return None
        scope = Scope(level=level, what=f"{level}-level derived variable",
                      derived=self.lookup, allow_quant=level == "household")
        node, ti, problems = parse(spec.get("expr"), scope)
        base = _line(spec, "expr")
        for p in problems:
            f.err(base + p.line if spec.literal.get("expr") else base, p.message)
        if node is None:
            return None
        if ti.t in ("list", "date"):
            f.err(base, f"derived variable '{name}' must be a number, a text or a condition")
            return None
        self.types[name] = ti
        return DerivedVar(
            name=name, level=level, label=_text(f, spec, "label"), expr=node,
            has_quant=_uses_quant(node, self), facts=frozenset(_facts(node, self.done)),
            label_i18n=_i18n(f, spec, "label_i18n"),
        )

    def all(self) -> dict[str, DerivedVar]:
        for name in list(self.raw):
            if isinstance(name, str):
                self.lookup(name)
        return {k: v for k, v in self.done.items() if v is not None}


def _uses_quant(node: ir.Node, env: _DerivedEnv) -> bool:
    for n in ir.walk(node):
        if isinstance(n, ir.Quant):
            return True
        if isinstance(n, ir.Derived):
            var = env.done.get(n.name)
            if var is not None and var.has_quant:
                return True
    return False


def _facts(node: ir.Node, derived: dict[str, DerivedVar | None]) -> set[str]:
    """Return the facts an expression reads, through derived variables too."""
    used: set[str] = set()
    for n in ir.walk(node):
        if isinstance(n, ir.Fact):
            used.add(n.name)
        elif isinstance(n, ir.Age):
            used.add(n.fact)
        elif isinstance(n, ir.Quant) and n.coll == "spouses":
            used.add("relationship_to_head")
        elif isinstance(n, ir.Derived):
            var = derived.get(n.name)
            if var is not None:
                used |= var.facts
    return used


# schemes ---------------------------------------------------------------------------------------
def _criteria(f: _File, items: Any, line: int, scope: Scope, ids: set[str],
              what: str) -> list[Criterion]:
    if not isinstance(items, LineList) or not items:
        f.err(line, f"{what} must be a non-empty list of criteria")
        return []
    return [c for i, item in enumerate(items)
            if (c := _criterion(f, item, items.lines[i], scope, ids)) is not None]


def _criterion(f: _File, item: Any, line: int, scope: Scope, ids: set[str]) -> Criterion | None:
    d = _mapping(f, item, line, "a criterion")
    if d is None:
        return None
    cid = d.get("id")
    if cid is not None:
        if not isinstance(cid, str) or not _NAME.match(cid):
            f.err(_line(d, "id"), f"criterion id {cid!r} must be lower_case_with_underscores")
        elif cid in ids:
            f.err(_line(d, "id"), f"duplicate criterion id '{cid}'")
        else:
            ids.add(cid)
    common = {"id": cid if isinstance(cid, str) else None, "label": _text(f, d, "label"),
              "label_i18n": _i18n(f, d, "label_i18n"), "line": d.line}
    if "when" in d:
        _keys(f, d, LEAF_KEYS, ("id", "label", "when"), "a criterion")
        node = _expr(f, d, "when", scope, "bool")
        source = d.get("when") if isinstance(d.get("when"), str) else str(d.get("when"))
        return Criterion(kind="when", expr=node, source=" ".join(source.split()), **common)
    groups = [k for k in ("all", "any", "not") if k in d]
    if len(groups) != 1:
        f.err(d.line, "a criterion needs 'when', or exactly one of 'all', 'any', 'not'")
        return None
    kind = groups[0]
    _keys(f, d, GROUP_KEYS, (), f"an '{kind}' group")
    if kind == "not":
        child = _criterion(f, d["not"], _line(d, "not"), scope, ids)
        children = [child] if child is not None else []
    else:
        children = _criteria(f, d[kind], _line(d, kind), scope, ids, f"'{kind}'")
    return Criterion(kind=kind, children=children, **common)


def _scheme(f: _File, d: LineDict, stem: str, pack: Pack, env: _DerivedEnv) -> Scheme | None:
    _keys(f, d, SCHEME_KEYS, ("id", "name", "unit", "criteria"), "a scheme")
    sid = d.get("id")
    if isinstance(sid, str) and not _ID.match(sid):
        f.err(_line(d, "id"), f"scheme id {sid!r} must be lower-case letters, digits and '-'")
    elif sid is not None and sid != stem:
        f.err(_line(d, "id"), f"id '{sid}' does not match the file name '{stem}.yaml'")
    unit = _choice(f, d, "unit", UNITS)
    valid_from, valid_until = _date(f, d, "valid_from"), _date(f, d, "valid_until")
    if valid_from and valid_until and valid_until < valid_from:
        f.err(_line(d, "valid_until"), "'valid_until' is before 'valid_from'")
    for key in ("name", "agency", "target_group", "description"):
        _text(f, d, key)
    for key in ("name_i18n", "agency_i18n", "target_group_i18n", "description_i18n"):
        _i18n(f, d, key)
    _text_list(f, d, "documents")
    _referral(f, d)
    _references(f, d)
    own = _parameters(f, d["parameters"], _line(d, "parameters"),
                      {n: "pack parameter" for n in pack.parameters}) if d.get(
                          "parameters") is not None else {}
    params = {**pack.parameters, **own}
    scope = Scope(level=unit or "household", what=f"{unit or 'household'}-level scheme",
                  params={n: _param_type(p) for n, p in params.items()},
                  derived=env.lookup, allow_relative=unit == "member")
    criteria = _criteria(f, d.get("criteria"), _line(d, "criteria"), scope, set(), "'criteria'")
    benefit, amount = _benefit(f, d, scope)
    if f.errors or not isinstance(sid, str) or not unit:
        return None
    nodes = [n for c in _leaves(criteria) if (n := c.expr) is not None]
    if amount is not None:
        nodes.append(amount)
    used_params = sorted({n.name for root in nodes for n in ir.walk(root)
                          if isinstance(n, ir.Param)})
    facts: set[str] = set()
    for root in nodes:
        facts |= _facts(root, env.done)
    return Scheme(
        id=sid, name=_text(f, d, "name"), country=pack.country, unit=unit, criteria=criteria,
        parameters=params, params_used=tuple(used_params), facts=frozenset(facts),
        info=_plain(d), file=f.name, valid_from=valid_from, valid_until=valid_until,
        benefit=benefit, amount=amount, name_i18n=_i18n(f, d, "name_i18n"),
    )


def top_id(c: Criterion) -> str | None:
    """Return the id naming a top-level item: its own, or for ``not: {id: x}`` the id x."""
    if c.id is None and c.kind == "not" and c.children:
        return c.children[0].id
    return c.id


def _leaves(criteria: list[Criterion]) -> Iterable[Criterion]:
    for c in criteria:
        yield c
        yield from _leaves(c.children)


def _benefit(f: _File, d: LineDict, scope: Scope) -> tuple[dict[str, Any] | None, ir.Node | None]:
    raw = d.get("benefit")
    if raw is None:
        return None, None
    b = _mapping(f, raw, _line(d, "benefit"), "'benefit'")
    if b is None:
        return None, None
    _keys(f, b, BENEFIT_KEYS, ("type",), "'benefit'")
    amount = None
    if b.get("amount") is not None:
        # In a member-level scheme the amount is each eligible member's, so it may use the
        # member's facts, exactly like the criteria.
        amount = _expr(f, b, "amount", scope, "num")
    currency = b.get("currency")
    if currency is not None and not (isinstance(currency, str) and re.match(r"^[A-Z]{3}$",
                                                                             currency)):
        f.err(_line(b, "currency"), f"'currency' must be an ISO 4217 code, not {currency!r}")
    benefit = {"type": _choice(f, b, "type", BENEFIT_TYPES),
               "currency": currency, "period": _choice(f, b, "period", PERIODS) or None,
               "label": _text(f, b, "label") or None}
    return benefit, amount


def _text_list(f: _File, d: LineDict, key: str) -> None:
    value = d.get(key)
    if value is not None and not (isinstance(value, list) and all(
            isinstance(v, str) for v in value)):
        f.err(_line(d, key), f"'{key}' must be a list of texts")


def _referral(f: _File, d: LineDict) -> None:
    if d.get("referral") is None:
        return
    r = _mapping(f, d["referral"], _line(d, "referral"), "'referral'")
    if r is not None:
        _keys(f, r, REFERRAL_KEYS, ("office",), "'referral'")
        for key in REFERRAL_KEYS & set(r):
            _text(f, r, key)


def _references(f: _File, d: LineDict) -> None:
    refs = d.get("references")
    if refs is None:
        return
    if not isinstance(refs, LineList):
        f.err(_line(d, "references"), "'references' must be a list of {url, title}")
        return
    for i, ref in enumerate(refs):
        r = _mapping(f, ref, refs.lines[i], "a reference")
        if r is not None:
            _keys(f, r, {"url", "title", "notes"}, ("url",), "a reference")
            _text(f, r, "url")
            _text(f, r, "title")


def _plain(value: Any) -> Any:
    """Return ``value`` with plain dicts and lists, for the descriptive fields of a scheme."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# pack files ----------------------------------------------------------------------------------
def _pack(f: _File, d: Any, folder: Path) -> Pack | None:
    d = _mapping(f, d, 1, "pack.yaml")
    if d is None:
        return None
    _keys(f, d, PACK_KEYS, ("country", "name", "currency"), "pack.yaml")
    country = d.get("country")
    if country is not None and country != folder.name.upper():
        f.err(_line(d, "country"), f"country {country!r} does not match the folder "
                                   f"'{folder.name}' (expected {folder.name.upper()})")
    currency = d.get("currency")
    if currency is not None and not (isinstance(currency, str) and re.match(r"^[A-Z]{3}$",
                                                                             currency)):
        f.err(_line(d, "currency"), f"'currency' must be an ISO 4217 code, not {currency!r}")
    langs = d.get("languages", ["en"])
    if not (isinstance(langs, list) and langs and all(
            isinstance(x, str) and _LANG.match(x) for x in langs)):
        f.err(_line(d, "languages"), "'languages' must be a list of language codes, e.g. [en, ur]")
        langs = ["en"]
    offices = d.get("offices")
    if offices is not None and not (isinstance(offices, list) and all(
            isinstance(o, dict) for o in offices)):
        f.err(_line(d, "offices"), "'offices' must be a list of mappings")
    _i18n(f, d, "name_i18n")
    return Pack(country=folder.name.upper(), name=_text(f, d, "name"), currency=str(currency),
                languages=list(langs), info=_plain(d), areas=[], parameters={}, schemes={},
                path=folder)


def _areas(f: _File, d: Any) -> list[dict[str, Any]]:
    d = _mapping(f, d, 1, "areas.yaml")
    if d is None:
        return []
    _keys(f, d, {"areas"}, ("areas",), "areas.yaml")
    items = d.get("areas")
    if not isinstance(items, LineList):
        if items is not None:
            f.err(_line(d, "areas"), "'areas' must be a list")
        return []
    areas: list[dict[str, Any]] = []
    levels: dict[str, int] = {}
    for i, item in enumerate(items):
        a = _mapping(f, item, items.lines[i], "an area")
        if a is None:
            continue
        _keys(f, a, AREA_KEYS, ("code", "name", "level"), "an area")
        code, level, parent = a.get("code"), a.get("level"), a.get("parent")
        if not isinstance(code, str) or not code:
            f.err(a.line, "an area code must be a text")
            continue
        if code in levels:
            f.err(a.line, f"duplicate area code '{code}'")
            continue
        if level not in (1, 2, 3):
            f.err(_line(a, "level"), f"area '{code}': level must be 1, 2 or 3")
            continue
        if parent is None and level != 1:
            f.err(a.line, f"area '{code}': a level {level} area needs a parent")
        elif parent is not None and levels.get(parent) != level - 1:
            f.err(_line(a, "parent"), f"area '{code}': parent '{parent}' is not a level "
                                      f"{level - 1} area listed above it")
        levels[code] = level
        areas.append({"code": code, "name": _text(f, a, "name"), "level": level,
                      "parent": parent, "name_i18n": _i18n(f, a, "name_i18n")})
    return areas


# test cases ----------------------------------------------------------------------------------
def _tests(f: _File, data: Any, scheme: Scheme | None) -> list[dict[str, Any]]:
    if not isinstance(data, LineList):
        f.err(_line(data), "a test file must be a list of cases")
        return []
    cases = []
    top_ids = {top_id(c) for c in scheme.criteria} if scheme else set()
    for i, item in enumerate(data):
        c = _mapping(f, item, data.lines[i], "a test case")
        if c is None:
            continue
        _keys(f, c, CASE_KEYS, ("name", "as_of", "household", "expect"), "a test case")
        as_of = _date(f, c, "as_of")
        household = _test_household(f, c.get("household"), _line(c, "household"))
        expect = _mapping(f, c.get("expect"), _line(c, "expect"), "'expect'")
        if expect is not None:
            _keys(f, expect, EXPECT_KEYS, ("outcome",), "'expect'")
            _choice(f, expect, "outcome", OUTCOMES)
            for key in ("members", "failing", "missing"):
                value = expect.get(key)
                if value is not None and not (isinstance(value, list) and all(
                        isinstance(v, str | int) and not isinstance(v, bool) for v in value)):
                    f.err(_line(expect, key), f"'{key}' must be a list")
            for cid in expect.get("failing") or ():
                if scheme and cid not in top_ids:
                    f.err(_line(expect, "failing"), f"'{cid}' is not a top-level criterion id "
                                                    f"of {scheme.id}")
        if as_of and household is not None and expect is not None:
            cases.append({"name": str(c.get("name")), "as_of": as_of, "household": household,
                          "expect": _plain(expect), "line": c.line, "file": f.name})
    return cases


def _test_household(f: _File, d: Any, line: int) -> dict[str, Any] | None:
    h = _mapping(f, d, line, "'household'")
    if h is None:
        return None
    n0 = len(f.errors)
    out: dict[str, Any] = {}
    for key, value in h.items():
        if key == "members":
            out["members"] = [_test_row(f, m, "member", h) for m in _rows(f, h, key)]
        elif key == "enrolments":
            out["enrolments"] = [_test_enrolment(f, e) for e in _rows(f, h, key)]
        elif key in ("country", "ref"):
            out[key] = value
        else:
            out[key] = _test_fact(f, h, key, "household")
    ids = [m.get("id") for m in out.get("members", [])]
    if len(set(map(str, ids))) != len(ids):
        f.err(_line(h, "members"), "member ids must be unique")
    return out if len(f.errors) == n0 else None


def _rows(f: _File, h: LineDict, key: str) -> list[LineDict]:
    rows = h[key]
    if not isinstance(rows, list) or not all(isinstance(r, LineDict) for r in rows):
        f.err(_line(h, key), f"'{key}' must be a list of mappings")
        return []
    return rows


def _test_row(f: _File, m: LineDict, level: str, h: LineDict) -> dict[str, Any]:
    if m.get("id") is None:
        f.err(m.line, "a member needs an 'id'")
    row: dict[str, Any] = {}
    for key in m:
        row[key] = m[key] if key in MEMBER_EXTRA else _test_fact(f, m, key, level)
    return row


def _test_enrolment(f: _File, e: LineDict) -> dict[str, Any]:
    _keys(f, e, ENROLMENT_KEYS, ("scheme",), "an enrolment")
    for key in ("start_date", "end_date"):
        _date(f, e, key)
    return dict(e)


def _test_fact(f: _File, d: LineDict, key: Any, level: str) -> Any:
    value = d[key]
    fact = FIELDS_BY_NAME.get(key) if isinstance(key, str) else None
    if fact is None or fact.level != level:
        f.err(_line(d, key), f"'{key}' is not a declared {level} fact")
        return None
    if value is None:
        return None
    ok = {
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "decimal": _number(value) is not None,
        "date": as_date(value) is not None,
        "enum": value in fact.choices,
        "text": isinstance(value, str),
    }[fact.kind]
    if not ok:
        expected = ("one of " + ", ".join(fact.choices)) if fact.kind == "enum" else (
            f"a {fact.kind}")
        f.err(_line(d, key), f"'{key}' must be {expected}, not {value!r}")
    if fact.kind == "decimal" and ok:
        return _number(value)
    return as_date(value) if fact.kind == "date" else value


# the whole directory -------------------------------------------------------------------------
def load_rules(root: str | Path) -> RuleBook:
    """Load every pack under ``root`` (a rules directory); never raise on bad content."""
    root = Path(root).resolve()
    files: dict[str, bytes] = {}
    errors: list[LoadError] = []
    env = _DerivedEnv(None, None)
    derived_path = root / "derived.yaml"
    if derived_path.is_file():
        f, data = _read(derived_path, root, files)
        d = _mapping(f, data, 1, "derived.yaml") if data is not None or not f.errors else None
        if d is not None:
            _keys(f, d, {"derived"}, ("derived",), "derived.yaml")
            raw = _mapping(f, d.get("derived"), _line(d, "derived"), "'derived'")
            env = _DerivedEnv(f, raw)
            env.all()
        errors += f.errors
    packs: dict[str, Pack] = {}
    refused: dict[str, list[LoadError]] = {}
    owner: dict[str, str] = {}
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not root.is_dir():
        errors.append(LoadError(str(root), 1, "no such rules directory"))
    for folder in folders:
        if folder.name.startswith((".", "_")) or not any(folder.iterdir()):
            continue  # hidden, or a pack folder someone has only just created
        pack, pack_errors = _load_pack(folder, root, env, files)
        if pack is not None:
            for sid, scheme in pack.schemes.items():
                if sid in owner:
                    pack_errors.append(LoadError(scheme.file, 1, f"scheme id '{sid}' is already "
                                                                 f"used by pack {owner[sid]}"))
        if pack_errors or pack is None:
            refused[folder.name.upper()] = pack_errors
            errors += pack_errors
            continue
        for sid in pack.schemes:
            owner[sid] = pack.country
        packs[pack.country] = pack
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return RuleBook(root=root, packs=packs, derived=env.all() if env.f else {}, errors=errors,
                    refused_packs=refused, version=digest.hexdigest())


def _load_pack(folder: Path, root: Path, env: _DerivedEnv,
               files: dict[str, bytes]) -> tuple[Pack | None, list[LoadError]]:
    errors: list[LoadError] = []
    if not re.match(r"^[a-z]{2}$", folder.name):
        return None, [LoadError(folder.relative_to(root.parent).as_posix(), 1,
                                "a pack folder is named by a lower-case ISO 3166-1 alpha-2 code")]
    pack_path = folder / "pack.yaml"
    if not pack_path.is_file():
        return None, [LoadError(pack_path.relative_to(root.parent).as_posix(), 1,
                                "the pack has no pack.yaml")]
    f, data = _read(pack_path, root, files)
    pack = _pack(f, data, folder) if not f.errors else None
    errors += f.errors
    if pack is None:
        return None, errors
    areas_path = folder / "areas.yaml"
    if areas_path.is_file():
        f, data = _read(areas_path, root, files)
        pack.areas = _areas(f, data) if not f.errors else []
        errors += f.errors
    else:
        errors.append(LoadError(areas_path.relative_to(root.parent).as_posix(), 1,
                                "the pack has no areas.yaml"))
    params_path = folder / "parameters.yaml"
    if params_path.is_file():
        f, data = _read(params_path, root, files)
        d = _mapping(f, data, 1, "parameters.yaml") if not f.errors else None
        if d is not None:
            _keys(f, d, {"parameters"}, ("parameters",), "parameters.yaml")
            if d.get("parameters") is not None:
                pack.parameters = _parameters(f, d["parameters"], _line(d, "parameters"), {})
        errors += f.errors
    tests: list[Path] = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name in PACK_FILES:
            continue
        if path.name.endswith(TEST_SUFFIX):
            tests.append(path)
            continue
        f, data = _read(path, root, files)
        d = _mapping(f, data, 1, "a scheme file") if not f.errors else None
        scheme = _scheme(f, d, path.stem, pack, env) if d is not None else None
        if scheme is not None:
            pack.schemes[scheme.id] = scheme
        errors += f.errors
    for path in tests:
        sid = path.name[: -len(TEST_SUFFIX)]
        f, data = _read(path, root, files)
        scheme = pack.schemes.get(sid)
        if scheme is None and not (folder / f"{sid}.yaml").is_file():
            f.err(1, f"no scheme file {sid}.yaml beside this test file")
        if not f.errors:
            cases = _tests(f, data, scheme)
            if scheme is not None and not f.errors:
                scheme.tests_file = path
                scheme.tests = cases
        errors += f.errors
    return pack, errors
