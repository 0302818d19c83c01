"""Map a survey's columns and answer codes (ODK, Kobo, hand-made sheets) to registry fields.

A mapping is plain data, saved by name and written as YAML::

    household_key: hh_id          # the column that groups members into households
    columns:                      # source column -> registry field (or "ignore")
      group_members/name: given_name
      dob: date_of_birth
      consent: consent_given
    values:                       # per field: source answer -> registry answer
      sex: {"1": male, "2": female}
    defaults: {country: PK}       # a value for every household when the file has no column
    date_formats: ["%d/%m/%Y"]    # besides ISO dates and Excel dates
    households_sheet: households  # two-sheet workbooks (optional)
    members_sheet: members
    member_household_key: _parent_index

Columns named like a registry field (``sex``, ``group_members/date_of_birth``) or a common
alias (``dob``, ``gender``, ``hh_id``) map themselves; everything else is reported as unmapped.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from sw_mis.registry.fields import FIELDS_BY_NAME, HOUSEHOLD_FIELDS, MEMBER_FIELDS

KEY = "household_key"
IGNORE = "ignore"
HOUSEHOLD_TARGETS = frozenset(
    {f.name for f in HOUSEHOLD_FIELDS} | {"country", "consent_given", "consent_date"}
)
MEMBER_TARGETS = frozenset({f.name for f in MEMBER_FIELDS} | {"given_name", "family_name"})
TARGETS = HOUSEHOLD_TARGETS | MEMBER_TARGETS | {KEY, IGNORE}

#: Column names survey tools commonly use for our fields (after the group prefix is removed).
ALIASES = {
    "hh_id": KEY,
    "household_id": KEY,
    "hhid": KEY,
    "household_key": KEY,
    "hh_key": KEY,
    "_parent_index": KEY,
    "_index": KEY,
    "name": "given_name",
    "first_name": "given_name",
    "firstname": "given_name",
    "given": "given_name",
    "member_name": "given_name",
    "full_name": "given_name",
    "surname": "family_name",
    "last_name": "family_name",
    "lastname": "family_name",
    "dob": "date_of_birth",
    "birth_date": "date_of_birth",
    "birthdate": "date_of_birth",
    "dob_estimated": "date_of_birth_estimated",
    "gender": "sex",
    "relationship": "relationship_to_head",
    "relation": "relationship_to_head",
    "rel_to_head": "relationship_to_head",
    "nid": "national_id",
    "cnic": "national_id",
    "id_number": "national_id",
    "consent": "consent_given",
    "province": "admin1",
    "region": "admin1",
    "district": "admin2",
    "tehsil": "admin3",
    "commune": "admin3",
    "village": "locality",
    "marital": "marital_status",
    "income": "income_monthly",
    "pmt": "pmt_score",
}

TRUE_ANSWERS = frozenset({"yes", "y", "true", "1", "oui", "sim", "si", "sí", "ha", "haan", "t"})
FALSE_ANSWERS = frozenset({"no", "n", "false", "0", "non", "não", "nao", "nahin", "f"})
UNKNOWN_ANSWERS = frozenset(
    {
        "dont_know",
        "don't know",
        "dont know",
        "do not know",
        "dk",
        "refused",
        "refuse",
        "prefer_not_to_say",
        "na",
        "n/a",
        "-",
        "98",
        "99",
        "unknown",
        "not_known",
        "ne_sait_pas",
    }
)
SEX_ANSWERS = {
    "m": "male",
    "f": "female",
    "man": "male",
    "woman": "female",
    "boy": "male",
    "girl": "female",
    "homme": "male",
    "femme": "female",
    "masculino": "male",
    "feminino": "female",
    "femenino": "female",
}
EXCEL_EPOCH = dt.date(1899, 12, 30)
#: Distinct text answers remembered per field by :meth:`Mapping.cell_converter`.
MEMO_LIMIT = 50_000
_NON_WORD = re.compile(r"[^a-z0-9]+")


class MappingError(ValueError):
    """A mapping refers to fields that do not exist or is not shaped like a mapping."""


def normalise(column: str) -> str:
    """Return a column name without its group prefix, lower-case, words joined by '_'."""
    last = re.split(r"[/:.]", column.strip())[-1] if column.strip() else column
    return _NON_WORD.sub("_", last.lower()).strip("_")


@dataclass
class Mapping:
    """How one survey's columns and answers become registry fields."""

    name: str | None = None
    household_key: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    date_formats: list[str] = field(default_factory=list)
    households_sheet: str | None = None
    members_sheet: str | None = None
    member_household_key: str | None = None
    _converters: dict[str, Callable[[Any], Any]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _cells: dict[str, Callable[[Any], Any]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_spec(cls, spec: dict[str, Any] | None, name: str | None = None) -> Mapping:
        """Build a mapping from its stored or YAML form, refusing unknown keys and fields."""
        spec = dict(spec or {})
        known = {
            "name",
            "household_key",
            "columns",
            "values",
            "defaults",
            "date_formats",
            "households_sheet",
            "members_sheet",
            "member_household_key",
        }
        unknown = sorted(set(spec) - known)
        if unknown:
            raise MappingError(f"Unknown mapping setting(s): {', '.join(unknown)}.")
        columns = {str(k): str(v).strip() for k, v in (spec.get("columns") or {}).items()}
        bad = sorted({v for v in columns.values() if v not in TARGETS})
        if bad:
            raise MappingError(f"No registry field called {', '.join(bad)}.")
        values = {
            str(f): {str(k).strip().lower(): v for k, v in (m or {}).items()}
            for f, m in (spec.get("values") or {}).items()
        }
        bad = sorted(set(values) - TARGETS)
        if bad:
            raise MappingError(f"Values given for unknown field(s): {', '.join(bad)}.")
        defaults = dict(spec.get("defaults") or {})
        bad = sorted(set(defaults) - HOUSEHOLD_TARGETS - MEMBER_TARGETS)
        if bad:
            raise MappingError(f"Defaults given for unknown field(s): {', '.join(bad)}.")
        return cls(
            name=name or spec.get("name"),
            household_key=spec.get("household_key"),
            columns=columns,
            values=values,
            defaults=defaults,
            date_formats=[str(f) for f in spec.get("date_formats") or []],
            households_sheet=spec.get("households_sheet"),
            members_sheet=spec.get("members_sheet"),
            member_household_key=spec.get("member_household_key"),
        )

    @classmethod
    def from_yaml(cls, text: str, name: str | None = None) -> Mapping:
        """Parse a mapping written as YAML."""
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise MappingError(f"The mapping is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise MappingError("A mapping is a set of 'setting: value' lines.")
        return cls.from_spec(data, name)

    def spec(self) -> dict[str, Any]:
        """Return the mapping as plain data (stored as JSON, shown as YAML)."""
        out: dict[str, Any] = {
            "household_key": self.household_key,
            "columns": self.columns,
            "values": self.values,
            "defaults": self.defaults,
            "date_formats": self.date_formats,
            "households_sheet": self.households_sheet,
            "members_sheet": self.members_sheet,
            "member_household_key": self.member_household_key,
        }
        return {k: v for k, v in out.items() if v not in (None, {}, [])}

    def to_yaml(self) -> str:
        """Return the mapping as YAML for editing."""
        return yaml.safe_dump(self.spec(), allow_unicode=True, sort_keys=False)

    # --- columns ---------------------------------------------------------------------------
    def target(self, column: str, *, key_column: str | None = None) -> str | None:
        """Return the registry field ``column`` maps to (explicitly or by name), or None."""
        if key_column is not None and column == key_column:
            return KEY
        if column in self.columns:
            return self.columns[column]
        lowered = {k.lower(): v for k, v in self.columns.items()}
        if column.lower() in lowered:
            return lowered[column.lower()]
        if self.household_key and column.lower() == self.household_key.lower():
            return KEY
        if column.strip().lower() in ALIASES:  # Kobo's "_index" and "_parent_index"
            return ALIASES[column.strip().lower()]
        plain = normalise(column)
        if plain in TARGETS - {IGNORE}:
            return plain
        return ALIASES.get(plain)

    def plan(self, headers: list[str], key_column: str | None = None) -> ColumnPlan:
        """Return which header maps to which field, and the headers that map to nothing."""
        targets: list[str | None] = []
        unmapped: list[str] = []
        seen: dict[str, str] = {}
        for header in headers:
            target = self.target(header, key_column=key_column)
            if target == IGNORE:
                target = None
            elif target is None:
                unmapped.append(header)
            elif target in seen:
                # Two columns for one field (e.g. "_index" and "hh_id"): the first one wins.
                target = None
                unmapped.append(header)
            if target is not None:
                seen[target] = header
            targets.append(target)
        return ColumnPlan(
            headers, targets, unmapped, {t: h for h, t in zip(headers, targets, strict=True) if t}
        )

    # --- values ----------------------------------------------------------------------------
    def convert(self, target: str, value: Any) -> Any:
        """Return ``value`` as the registry validator expects it for ``target``."""
        if value is None or value == "":
            return None
        return self.converter(target)(value)

    def converter(self, target: str) -> Callable[[Any], Any]:
        """Return the function that converts ``target``'s cells (built once per field)."""
        cached = self._converters.get(target)
        if cached is None:
            cached = self._converters[target] = self._build_converter(target)
        return cached

    def cell_converter(self, target: str) -> Callable[[Any], Any]:
        """Return :meth:`convert` for ``target`` as one function, remembering text answers.

        A survey repeats the same few answers (codes, yes/no, village names, birth dates) on
        hundreds of thousands of rows; each distinct text is converted once. Conversions are
        pure, so a remembered answer is the answer.
        """
        cached = self._cells.get(target)
        if cached is not None:
            return cached
        convert = self.converter(target)
        memo: dict[str, Any] = {}

        def cell(value: Any) -> Any:
            if value is None or value == "":
                return None
            if value.__class__ is not str:
                return convert(value)
            try:
                return memo[value]
            except KeyError:
                result = convert(value)
                if len(memo) < MEMO_LIMIT:  # unique answers (national IDs) are not kept
                    memo[value] = result
                return result

        self._cells[target] = cell
        return cell

    def _build_converter(self, target: str) -> Callable[[Any], Any]:
        fact = FIELDS_BY_NAME.get(target)
        kind = fact.kind if fact is not None else ("bool" if target == "consent_given" else "")
        if target == "consent_date":
            kind = "date"
        if kind == "bool":
            base: Callable[[Any], Any] = _bool_answer
        elif kind == "date":
            base = self._date
        elif kind == "enum":
            base = _sex_answer if target == "sex" else _enum_answer
        elif kind in ("text", ""):
            base = _text_answer
        else:
            base = _plain
        table = self.values.get(target)
        if table is None:
            return lambda value: (
                base(value.strip() if isinstance(value, str) else value)
                if not isinstance(value, str) or value.strip()
                else None
            )

        def mapped(value: Any) -> Any:
            if isinstance(value, str):
                value = value.strip()
                if not value:
                    return None
            word = str(value).lower()
            if word in table:
                return table[word]
            return base(value)

        return mapped

    def _date(self, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            # An Excel serial day number (the cell was not formatted as a date).
            if 1 <= value < 2958466:
                return EXCEL_EPOCH + dt.timedelta(days=int(value))
            return str(value)
        text = str(value).strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ].*", text):
            return text[:10]  # ODK datetimes: the date part is what the registry keeps
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return text
        for fmt in self.date_formats:
            try:
                return dt.datetime.strptime(text, fmt).date()
            except ValueError:
                continue
        return text


def _plain(value: Any) -> Any:
    return value


def _text_answer(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value if isinstance(value, str) else str(value)


def _enum_answer(value: Any) -> Any:
    word = str(value).strip().lower()
    if word in UNKNOWN_ANSWERS:
        return None
    return _NON_WORD.sub("_", word).strip("_") or word


def _sex_answer(value: Any) -> Any:
    word = str(value).strip().lower()
    return SEX_ANSWERS.get(word) or _enum_answer(value)


def _bool_answer(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_ANSWERS:
        return True
    if word in FALSE_ANSWERS:
        return False
    if word in UNKNOWN_ANSWERS:
        return None
    return str(value)  # the validator words the problem


@dataclass
class ColumnPlan:
    """The field each header maps to (None: left out), and the unmapped headers."""

    headers: list[str]
    targets: list[str | None]
    unmapped: list[str]
    column_of: dict[str, str]

    def __post_init__(self) -> None:
        self.index_of = {t: self.headers.index(c) for t, c in self.column_of.items()}
        self.household_targets = [
            (t, i) for t, i in self.index_of.items() if t in HOUSEHOLD_TARGETS
        ]
        self.member_targets = [(t, i) for t, i in self.index_of.items() if t in MEMBER_TARGETS]

    @property
    def key_index(self) -> int | None:
        """Return the index of the household key column, if any."""
        return self.targets.index(KEY) if KEY in self.targets else None


def target_choices() -> list[tuple[str, str]]:
    """Return (value, label) pairs for the mapping form's field menus."""
    out = [("", "— not imported —"), (KEY, "Household key (groups members)")]
    out += [("country", "Household: country (two letters)")]
    out += [
        ("consent_given", "Household: consent given"),
        ("consent_date", "Household: consent date"),
    ]
    out += [(f.name, f"Household: {f.label}") for f in HOUSEHOLD_FIELDS]
    out += [("given_name", "Member: given name"), ("family_name", "Member: family name")]
    out += [(f.name, f"Member: {f.label}") for f in MEMBER_FIELDS]
    return out
