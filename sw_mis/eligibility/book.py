"""The loaded rules: packs, schemes, criteria, dated parameters and derived variables."""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sw_mis.eligibility import ir


@dataclass(frozen=True)
class LoadError:
    """One problem in a rule file, shown as ``file:line: message``."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


_NOT_IN_FORCE = object()


@dataclass
class Parameter:
    """A named value with effective dates and the legal reference behind it."""

    name: str
    label: str
    dates: list[dt.date]
    values: list[Any]
    reference: str
    uncertain: bool = False
    label_i18n: dict[str, str] = field(default_factory=dict)
    unit: str = ""

    def value_on(self, as_of: dt.date) -> Any:
        """Return the value in force on ``as_of`` (the latest date <= as_of), or NOT_IN_FORCE."""
        i = bisect.bisect_right(self.dates, as_of)
        return self.values[i - 1] if i else _NOT_IN_FORCE


NOT_IN_FORCE = _NOT_IN_FORCE


@dataclass
class Criterion:
    """A condition (``kind == 'when'``) or a group (``all``, ``any``, ``not``) of criteria."""

    id: str | None
    label: str
    kind: str
    expr: ir.Node | None = None
    source: str = ""
    children: list[Criterion] = field(default_factory=list)
    label_i18n: dict[str, str] = field(default_factory=dict)
    line: int = 0


@dataclass
class DerivedVar:
    """A variable computed from facts, usable by every scheme like a fact."""

    name: str
    level: str
    label: str
    expr: ir.Node
    has_quant: bool
    facts: frozenset[str]
    label_i18n: dict[str, str] = field(default_factory=dict)


@dataclass
class Scheme:
    """One scheme of a pack: its criteria, benefit, parameters and descriptive fields."""

    id: str
    name: str
    country: str
    unit: str
    criteria: list[Criterion]
    parameters: dict[str, Parameter]  # its own and its pack's, by name
    params_used: tuple[str, ...]
    facts: frozenset[str]
    info: dict[str, Any]  # the file as written (agency, documents, referral, references…)
    file: str
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    benefit: dict[str, Any] | None = None
    amount: ir.Node | None = None
    name_i18n: dict[str, str] = field(default_factory=dict)
    tests_file: Path | None = None
    tests: list[dict[str, Any]] = field(default_factory=list)  # the cases of <id>.test.yaml
    _params_cache: dict[dt.date, dict[str, Any] | None] = field(default_factory=dict, repr=False)

    def parameters_on(self, as_of: dt.date) -> dict[str, Any] | None:
        """Return the parameter values used on ``as_of``, or None if the scheme is not in force."""
        try:
            return self._params_cache[as_of]
        except KeyError:
            pass
        values: dict[str, Any] | None = {}
        if (self.valid_from and as_of < self.valid_from) or (
            self.valid_until and as_of > self.valid_until
        ):
            values = None
        else:
            for name in self.params_used:
                v = self.parameters[name].value_on(as_of)
                if v is NOT_IN_FORCE:
                    values = None
                    break
                values[name] = v  # type: ignore[index]
        if len(self._params_cache) > 64:  # as-of dates are few; keep the cache bounded anyway
            self._params_cache.clear()
        self._params_cache[as_of] = values
        return values


@dataclass
class Pack:
    """A country pack: its description, area list, shared parameters and schemes."""

    country: str
    name: str
    currency: str
    languages: list[str]
    info: dict[str, Any]
    areas: list[dict[str, Any]]
    parameters: dict[str, Parameter]
    schemes: dict[str, Scheme]
    path: Path


@dataclass
class RuleBook:
    """Every pack that loaded, the errors of those that did not, and a content hash."""

    root: Path
    packs: dict[str, Pack]
    derived: dict[str, DerivedVar]
    errors: list[LoadError]
    refused_packs: dict[str, list[LoadError]]
    version: str
    schemes: dict[str, Scheme] = field(default_factory=dict)
    #: compiled forms of the schemes, built by the back-ends on first use
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for pack in self.packs.values():
            self.schemes.update(pack.schemes)

    def schemes_for(self, country: str) -> list[Scheme]:
        """Return the schemes of ``country``'s pack (none if it has no pack)."""
        pack = self.packs.get((country or "").upper())
        return list(pack.schemes.values()) if pack else []

    def fields_used(self, country: str) -> set[str]:
        """Return the fact names read by ``country``'s schemes, derived variables included."""
        used: set[str] = set()
        for scheme in self.schemes_for(country):
            used |= scheme.facts
        return used

    def areas(self, country: str) -> list[dict[str, Any]]:
        """Return ``country``'s area list (code, name, level, parent)."""
        pack = self.packs.get((country or "").upper())
        return list(pack.areas) if pack else []
