"""Check (dry run) and commit bulk imports, with the registry's own validation and duplicate logic.

Every household in a file is validated by :func:`sw_mis.registry.validation.clean_household`
(the validator behind the counter form and the API), its location by ``check_location``, its
national IDs by the rule of ``national_id_clashes`` (one lookup per chunk) and its people by
``same_person_score`` — so an import never writes a household the registration service would
refuse. Only the writing is different: valid households go in with bulk inserts (COPY on
PostgreSQL), a chunk at a time, because one ORM registration per household would take an hour
for a survey of 100,000 households.

The dry run keeps what the validator said about each household (:class:`Prepared`), and the
commit of the same file reads it back instead of validating every row a second time; what
depends on the registry (areas, national IDs, likely duplicates, keys imported) is checked
again at commit.

Services flush; the caller commits. :func:`commit_batch` takes a ``commit`` callable (like
``eligibility.sql.screen_all``) and calls it after each chunk, so a killed import resumes where it
stopped: a household key already imported from the same source is never imported twice.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gc
import hashlib
import io
import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, NamedTuple

from sqlalchemy import String, any_, bindparam, delete, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from sw_mis.audit.services import record_event
from sw_mis.imports.mapping import (
    HOUSEHOLD_TARGETS,
    MEMBER_TARGETS,
    ColumnPlan,
    Mapping,
    MappingError,
)
from sw_mis.imports.models import ImportBatch, ImportedHousehold, ImportMapping, ImportProblem
from sw_mis.imports.readers import DEFAULT_MAX_BYTES, ReadError, Sheet, Table, read_table
from sw_mis.registry import validation
from sw_mis.registry.duplicates import NAME_SIMILARITY, same_person_score
from sw_mis.registry.errors import ErrorBag, Forbidden, ValidationError
from sw_mis.registry.fields import HOUSEHOLD_FIELDS, MEMBER_FIELDS
from sw_mis.registry.models import ChangeRecord, Household, Member
from sw_mis.registry.names import name_key as _name_key
from sw_mis.registry.refs import DIGITS, make_ref
from sw_mis.registry.validation import check_location, clean_household
from sw_mis.registry.visibility import can_see

IMPORT_ROLES = frozenset({"data_manager", "admin"})
CHUNK_HOUSEHOLDS = 2000
MAX_PROBLEMS_SHOWN = 500
LOCATION_KEYS = ("admin1", "admin2", "admin3")
#: Names repeat a lot in a survey: compute each distinct name's phonetic key once.
name_key = functools.lru_cache(maxsize=65536)(_name_key)

__all__ = [
    "IMPORT_ROLES",
    "ImportError_",
    "MappingError",
    "ReadError",
    "check_batch",
    "commit_batch",
    "create_batch",
    "get_mapping",
    "save_mapping",
    "save_upload",
]


class ImportError_(ValueError):
    """The import cannot go ahead (no household key, batch in the wrong state…)."""


Progress = Callable[[int, int], None]


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a file's rows are held in memory.

    Half a million row tuples make every full collection walk them all; the work here creates
    no reference cycles worth collecting, so pausing it roughly halves the time of an import.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- files, batches and mappings ----------------------------------------------------------------
def save_upload(
    folder: Path, stream: IO[bytes], filename: str, max_bytes: int
) -> tuple[Path, str, int]:
    """Store an uploaded file under ``folder`` by its SHA-256; return (path, sha256, size)."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    tmp = folder / f".upload-{secrets.token_hex(8)}"
    size = 0
    with tmp.open("wb") as out:
        while chunk := stream.read(1024 * 1024):
            size += len(chunk)
            if size > max_bytes:
                out.close()
                tmp.unlink(missing_ok=True)
                raise ReadError(
                    f"The file is larger than {max_bytes / 1e6:.0f} MB. Split it into several "
                    "files (by district, for example) and import each."
                )
            digest.update(chunk)
            out.write(chunk)
    sha = digest.hexdigest()
    suffix = Path(filename).suffix.lower()[:8]
    path = folder / f"{sha}{suffix}"
    tmp.replace(path)
    return path, sha, size


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _require(user: Any) -> None:
    if getattr(user, "role", None) not in IMPORT_ROLES:
        raise Forbidden("Your role may not import households.")


def get_mapping(session: Session, name: str) -> Mapping:
    """Return the saved mapping ``name`` or raise MappingError."""
    row = session.scalar(select(ImportMapping).where(ImportMapping.name == name))
    if row is None:
        raise MappingError(f"No saved mapping called '{name}'.")
    return Mapping.from_spec(row.spec, name)


def list_mappings(session: Session) -> list[ImportMapping]:
    """Return the saved mappings by name."""
    return list(session.scalars(select(ImportMapping).order_by(ImportMapping.name)))


def save_mapping(session: Session, user: Any, name: str, mapping: Mapping) -> ImportMapping:
    """Create or replace the saved mapping ``name``."""
    _require(user)
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise MappingError("Give the mapping a name of 1 to 80 characters.")
    row = session.scalar(select(ImportMapping).where(ImportMapping.name == name))
    if row is None:
        row = ImportMapping(name=name, created_by_id=getattr(user, "id", None))
        session.add(row)
    row.spec = mapping.spec()
    session.flush()
    record_event(
        session, "import.mapping_save", object_type="import_mapping", object_ref=name, user=user
    )
    return row


def create_batch(
    session: Session,
    user: Any,
    path: Path,
    filename: str,
    *,
    mapping: Mapping,
    source: str | None = None,
    sha256: str | None = None,
) -> ImportBatch:
    """Record an uploaded file as a new import batch (nothing is checked yet)."""
    _require(user)
    sha = sha256 or file_sha256(path)
    batch = ImportBatch(
        filename=Path(filename).name[:255],
        file_path=str(path),
        file_sha256=sha,
        size_bytes=path.stat().st_size,
        source=(source or mapping.name or Path(filename).stem or "file")[:120],
        mapping_name=mapping.name,
        mapping_spec=mapping.spec(),
        status="uploaded",
        created_by_id=getattr(user, "id", None),
        summary={},
    )
    session.add(batch)
    session.flush()
    return batch


def batch_mapping(batch: ImportBatch) -> Mapping:
    """Return the mapping snapshot a batch was checked with."""
    return Mapping.from_spec(batch.mapping_spec, batch.mapping_name)


# --- from sheets to households ------------------------------------------------------------------
@dataclass
class SourceRow:
    """One row of the file: its sheet, number and values."""

    sheet: Sheet
    plan: ColumnPlan
    number: int
    values: tuple[Any, ...]

    def raw(self, target: str) -> Any:
        """Return the cell mapped to ``target`` (None when no column maps to it)."""
        index = self.plan.index_of.get(target)
        # The placeholder row of orphan rows (no household key) has no values.
        return None if index is None or index >= len(self.values) else self.values[index]


@dataclass
class SourceHousehold:
    """The rows of one household key: a household row (maybe shared) and member rows."""

    key: str
    household_row: SourceRow
    members: list[SourceRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Problem:
    """One problem with a row, in the words shown to the data manager."""

    kind: str  # error, duplicate, skipped
    row: int | None
    column: str
    value: str
    problem: str
    key: str = ""


@dataclass
class Layout:
    """The sheets a file's households come from, and how their columns map."""

    households: list[SourceHousehold]
    rows_total: int
    unmapped: list[str]
    shape: str


def _key_text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).strip()[:120]


def _column_label(row: SourceRow, target: str, two_sheets: bool) -> str:
    column = row.plan.column_of.get(target, "")
    return f"{column} (sheet {row.sheet.name})" if two_sheets and column else column


def layout(table: Table, mapping: Mapping) -> Layout:
    """Group the file's rows into households: one sheet with a key column, or two sheets."""
    hh_sheet = table.sheet(mapping.households_sheet)
    m_sheet = table.sheet(mapping.members_sheet)
    if hh_sheet is None and m_sheet is None and len(table.sheets) >= 2:
        # Kobo and ODK put repeat groups (the members) on the second sheet.
        second = table.sheets[1]
        m_plan = mapping.plan(second.headers, mapping.member_household_key)
        if (
            m_plan.key_index is not None
            and mapping.plan(table.sheets[0].headers).key_index is not None
        ):
            hh_sheet, m_sheet = table.sheets[0], second
    if hh_sheet is not None and m_sheet is not None:
        return _two_sheets(hh_sheet, m_sheet, mapping)
    sheet = m_sheet or hh_sheet or table.sheets[0]
    plan = mapping.plan(sheet.headers)
    if plan.key_index is None:
        raise ImportError_(
            "No column holds the household key (the value that groups members into households, "
            "like hh_id). Name it in the mapping: household_key: <column>."
        )
    households: dict[str, SourceHousehold] = {}
    orphans: list[Problem] = []
    key_at = plan.key_index
    for number, values in sheet.rows:
        key = _key_text(values[key_at])
        row = SourceRow(sheet, plan, number, values)
        if not key:
            orphans.append(
                Problem(
                    "error",
                    number,
                    plan.headers[key_at],
                    "",
                    "The household key is empty: this row belongs to no household.",
                )
            )
            continue
        household = households.get(key)
        if household is None:
            household = households[key] = SourceHousehold(key, row)
        household.members.append(row)
    result = list(households.values())
    if orphans:
        result.insert(
            0, SourceHousehold("", SourceRow(sheet, plan, orphans[0].row or 0, ()), [], orphans)
        )
    return Layout(result, len(sheet.rows), plan.unmapped, "one row per member")


def _two_sheets(hh_sheet: Sheet, m_sheet: Sheet, mapping: Mapping) -> Layout:
    hh_plan = mapping.plan(hh_sheet.headers)
    m_plan = mapping.plan(m_sheet.headers, mapping.member_household_key)
    if hh_plan.key_index is None or m_plan.key_index is None:
        raise ImportError_(
            f"Sheets '{hh_sheet.name}' and '{m_sheet.name}' must both have a household key column; "
            "name them in the mapping (household_key and member_household_key)."
        )
    households: dict[str, SourceHousehold] = {}
    result: list[SourceHousehold] = []
    for number, values in hh_sheet.rows:
        key = _key_text(values[hh_plan.key_index])
        row = SourceRow(hh_sheet, hh_plan, number, values)
        household = SourceHousehold(key, row)
        if not key:
            household.problems.append(
                Problem(
                    "error",
                    number,
                    hh_plan.headers[hh_plan.key_index],
                    "",
                    "The household key is empty.",
                )
            )
        elif key in households:
            first = households[key].household_row.number
            household.problems.append(
                Problem(
                    "error",
                    number,
                    hh_plan.headers[hh_plan.key_index],
                    key,
                    f"The same household key is already used on row {first} of sheet "
                    f"{hh_sheet.name}.",
                )
            )
        else:
            households[key] = household
        result.append(household)
    for number, values in m_sheet.rows:
        key = _key_text(values[m_plan.key_index])
        row = SourceRow(m_sheet, m_plan, number, values)
        if key in households:
            households[key].members.append(row)
        else:
            orphan = SourceHousehold(key, row)
            orphan.problems.append(
                Problem(
                    "error",
                    number,
                    f"{m_plan.headers[m_plan.key_index]} (sheet {m_sheet.name})",
                    key,
                    f"No household with this key in sheet {hh_sheet.name}.",
                )
            )
            result.append(orphan)
    unmapped = [f"{c} (sheet {hh_sheet.name})" for c in hh_plan.unmapped]
    unmapped += [f"{c} (sheet {m_sheet.name})" for c in m_plan.unmapped]
    return Layout(result, len(m_sheet.rows), unmapped, "two sheets")


# --- checking -----------------------------------------------------------------------------------
@dataclass
class Checked:
    """A household after checking: its clean values (when valid) and its problems."""

    source: SourceHousehold
    status: str  # valid, error, duplicate, skipped, done (imported earlier by this batch)
    content_sha256: str = ""
    clean: dict[str, Any] | None = None
    problems: list[Problem] = field(default_factory=list)
    #: What the registry validator said, as a line of the prepared file (None: not validated).
    entry: dict[str, Any] | None = None


# --- the dry run's validation, kept for the commit ------------------------------------------------
PREPARED_FORMAT = 1
_HH_NAMES = tuple(f.name for f in HOUSEHOLD_FIELDS)
_M_NAMES = ("given_name", "family_name", *(f.name for f in MEMBER_FIELDS))
_CLEAN_KEYS = frozenset(
    {"country", "consent_given", "consent_date", "facts", "members", "enrolments"}
)
_HH_KEYS, _M_KEYS = frozenset(_HH_NAMES), frozenset(_M_NAMES)
_HH_VALUES, _M_VALUES = itemgetter(*_HH_NAMES), itemgetter(*_M_NAMES)
_DECODERS: dict[str, Callable[[Any], Any]] = {"date": dt.date.fromisoformat, "decimal": Decimal}
#: The fields JSON cannot hold as they are: (name, function that reads them back).
_HH_TYPED = tuple((f.name, _DECODERS[f.kind]) for f in HOUSEHOLD_FIELDS if f.kind in _DECODERS)
_M_TYPED = tuple((f.name, _DECODERS[f.kind]) for f in MEMBER_FIELDS if f.kind in _DECODERS)


def _encode_clean(clean: dict[str, Any]) -> list[Any] | None:
    """Return the validator's clean household as plain lists (None if shaped unexpectedly)."""
    if clean.keys() != _CLEAN_KEYS or clean["enrolments"] or clean["consent_given"] is not True:
        return None
    facts, members = clean["facts"], clean["members"]
    if facts.keys() != _HH_KEYS or any(m.keys() != _M_KEYS for m in members):
        return None
    return [clean["country"], clean["consent_date"], _HH_VALUES(facts), [*map(_M_VALUES, members)]]


def _decode_clean(data: list[Any]) -> dict[str, Any]:
    """Return the clean household :func:`_encode_clean` wrote, with its dates and decimals."""
    country, consent_date, facts, members = data
    household = dict(zip(_HH_NAMES, facts, strict=True))
    for name, decode in _HH_TYPED:
        if household[name] is not None:
            household[name] = decode(household[name])
    people = []
    for values in members:
        member = dict(zip(_M_NAMES, values, strict=True))
        for name, decode in _M_TYPED:
            if member[name] is not None:
                member[name] = decode(member[name])
        people.append(member)
    return {
        "country": country,
        "consent_given": True,
        "consent_date": dt.date.fromisoformat(consent_date),
        "facts": household,
        "members": people,
        "enrolments": [],
    }


def _json_value(value: Any) -> str:
    if isinstance(value, dt.date | Decimal):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a prepared import")


def _fingerprint(batch: ImportBatch, default_country: str) -> str:
    """Return what a prepared file must have been made with to be reused.

    The file and mapping (the same batch), the default country, the fields (their order is the
    file's), and the day: the validator refuses dates in the future, so another day's answers
    are checked again.
    """
    fields = [(f.name, f.kind) for f in (*HOUSEHOLD_FIELDS, *MEMBER_FIELDS)]
    data = [
        PREPARED_FORMAT,
        batch.id,
        batch.file_sha256,
        batch.mapping_spec,
        default_country,
        validation.today().isoformat(),
        fields,
    ]
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


class Prepared:
    """The dry run's validation of each household, read back in order by the commit.

    The dry run validates every household with the registry validator; what the validator
    says depends on the file alone, so the commit reads it back instead of validating half a
    million rows again. One JSON line per household of the file, in order: ``{"k": key}``
    (validate again), ``{"k": key, "h": content hash, "e": {path: [message]}}`` (refused) or
    ``{"k", "h", "c": [country, consent date, facts, members]}`` (clean values in the order of
    ``HOUSEHOLD_FIELDS`` / ``MEMBER_FIELDS``). The location, already-imported keys, national IDs
    and likely duplicates depend on the registry: the commit checks them again, as it is then.
    """

    def __init__(self, fh: IO[str]) -> None:
        self._fh = fh

    @classmethod
    def open(cls, batch: ImportBatch, default_country: str) -> Prepared | None:
        """Return the batch's prepared file if it was made for this very check, else None."""
        name = (batch.summary or {}).get("prepared")
        if not name or not Path(name).is_file():
            return None
        path = Path(name)
        fh = path.open(encoding="utf-8")
        try:
            header = json.loads(fh.readline() or "null") or {}
        except ValueError:
            header = {}
        if header.get("fingerprint") != _fingerprint(batch, default_country):
            fh.close()
            return None
        return cls(fh)

    def next(self, key: str) -> dict[str, Any] | None:
        """Return the next household's line if it is ``key``'s, else stop reading (None)."""
        if self._fh.closed:
            return None
        line = self._fh.readline()
        try:
            entry = json.loads(line) if line else None
        except ValueError:
            entry = None
        if not isinstance(entry, dict) or entry.get("k") != key:
            self.close()  # out of step with the file: everything after is validated again
            return None
        return entry if "h" in entry else None

    def close(self) -> None:
        """Stop reading."""
        self._fh.close()


def _forget_prepared(batch: ImportBatch) -> None:
    """Delete the batch's prepared file (it holds personal data and is needed no more)."""
    path = (batch.summary or {}).get("prepared")
    if path:
        Path(path).unlink(missing_ok=True)
        batch.summary = {**batch.summary, "prepared": None}


class _PreparedWriter:
    """Write a prepared file beside the dry run, renamed into place only when complete."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self._part = path, path.with_name(path.name + ".part")
        self._fh = self._part.open("w", encoding="utf-8")
        self._fh.write(json.dumps({"format": PREPARED_FORMAT, "fingerprint": fingerprint}) + "\n")

    def write(self, chunk: list[Checked]) -> None:
        dumps = functools.partial(json.dumps, separators=(",", ":"), default=_json_value)
        self._fh.write("".join(dumps(c.entry or {"k": c.source.key}) + "\n" for c in chunk))

    def finish(self) -> None:
        self._fh.close()
        self._part.replace(self.path)

    def abort(self) -> None:
        self._fh.close()
        self._part.unlink(missing_ok=True)


@dataclass
class _Context:
    """What checking needs across chunks: caches and the file's own people so far."""

    session: Session
    user: Any
    mapping: Mapping
    two_sheets: bool
    source: str
    batch_id: int | None
    default_country: str
    include_likely: bool
    imported: dict[str, tuple[str, int | None, str]]
    locations: dict[tuple[Any, ...], dict[str, list[str]]] = field(default_factory=dict)
    ids_seen: dict[str, tuple[int, str]] = field(default_factory=dict)
    people: dict[tuple[str, str, int], list[tuple[Any, ...]]] = field(default_factory=dict)
    registry_people: dict[tuple[str, str, int], list[Any]] = field(default_factory=dict)
    #: Converters per column plan, and the mapping's defaults converted once.
    plans: dict[int, tuple[_Cells, _Cells]] = field(default_factory=dict)
    defaults: tuple[list[tuple[str, Any]], list[tuple[str, Any]]] | None = None
    #: The dry run's validation of each household (see :class:`Prepared`), when reused.
    prepared: Prepared | None = None


_Cells = list[tuple[str, int, Callable[[Any], Any]]]


def _cells(ctx: _Context, plan: ColumnPlan) -> tuple[_Cells, _Cells]:
    """Return a plan's (household, member) columns as (target, index, converter)."""
    found = ctx.plans.get(id(plan))
    if found is None:
        cell = ctx.mapping.cell_converter
        found = ctx.plans[id(plan)] = (
            [(t, i, cell(t)) for t, i in plan.household_targets],
            [(t, i, cell(t)) for t, i in plan.member_targets],
        )
    return found


def _raw_household(ctx: _Context, sh: SourceHousehold) -> dict[str, Any]:
    """Return the household as raw input for the registry validator."""
    if ctx.defaults is None:
        convert, defaults = ctx.mapping.convert, ctx.mapping.defaults
        ctx.defaults = (
            [(t, convert(t, v)) for t, v in defaults.items() if t in HOUSEHOLD_TARGETS],
            [(t, convert(t, v)) for t, v in defaults.items() if t in MEMBER_TARGETS],
        )
    household_defaults, member_defaults = ctx.defaults
    data: dict[str, Any] = {}
    first = sh.household_row
    # One row per member: the first row that answers a household question speaks for all.
    rows = [first] if not sh.members or first.sheet is not sh.members[0].sheet else sh.members
    for target, index, cell in _cells(ctx, first.plan)[0]:
        for row in rows:
            value = cell(row.values[index])
            if value is not None:
                data[target] = value
                break
    for target, value in household_defaults:
        if data.get(target) is None:
            data[target] = value
    data.setdefault("country", ctx.default_country)
    members = []
    for row in sh.members:
        member = {}
        for target, index, cell in _cells(ctx, row.plan)[1]:
            value = cell(row.values[index])
            if value is not None:
                member[target] = value
        for target, value in member_defaults:
            member.setdefault(target, value)
        members.append(member)
    data["members"] = members
    return data


def _content_hash(sh: SourceHousehold) -> str:
    rows = [sh.household_row.values] + [r.values for r in sh.members if r is not sh.household_row]
    # repr of str/int/float/date tuples is stable across runs, and far cheaper than JSON.
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def _problem_for_path(ctx: _Context, sh: SourceHousehold, path: str, message: str) -> Problem:
    """Say which row, column and value a validator path (``members.2.sex``) points at."""
    parts = path.split(".")
    row = sh.household_row
    target = parts[0]
    if parts[0] == "members" and len(parts) >= 2 and parts[1].isdigit():
        index = int(parts[1])
        if index < len(sh.members):
            row = sh.members[index]
        target = parts[2] if len(parts) > 2 else ""
    elif parts[0] == "members":
        target = "relationship_to_head" if "head" in message else ""
        row = sh.members[0] if sh.members else row
    elif target in HOUSEHOLD_TARGETS and row.plan.column_of.get(target) is None and sh.members:
        row = sh.members[0]
    column = _column_label(row, target, ctx.two_sheets) if target else ""
    if target and not column:
        column = f"({target})"
    value = row.raw(target) if target else None
    if target == "country" and value is None:
        value = ctx.default_country
    return Problem(
        "error", row.number, column, "" if value is None else str(value), message, sh.key
    )


def _check_location(ctx: _Context, clean: dict[str, Any]) -> dict[str, list[str]]:
    facts = clean["facts"]
    key = (clean["country"], *(facts.get(k) for k in LOCATION_KEYS))
    found = ctx.locations.get(key)
    if found is None:
        # The registry's own check, once per distinct area: a survey has thousands of households
        # per village, and the answer is the same for all of them.
        bag = ErrorBag()
        check_location(ctx.session, ctx.user, clean["country"], facts, bag)
        found = ctx.locations[key] = bag.errors
    return found


def _validate(ctx: _Context, sh: SourceHousehold) -> Checked:
    entry = ctx.prepared.next(sh.key) if ctx.prepared is not None else None
    digest = entry["h"] if entry is not None else _content_hash(sh)
    checked = Checked(sh, "valid", digest, problems=list(sh.problems))
    if sh.problems:
        checked.status = "error"
        return checked
    previous = ctx.imported.get(sh.key)
    if previous is not None:
        ref, batch_id, digest = previous
        if batch_id is not None and batch_id == ctx.batch_id:
            checked.status = "done"  # imported by this batch before it was interrupted
            return checked
        changed = (
            ""
            if digest == checked.content_sha256
            else (
                " The file's values differ from that import; they were not applied: change the "
                "household in the registry if needed."
            )
        )
        checked.status = "skipped"
        checked.problems.append(
            Problem(
                "skipped",
                sh.household_row.number,
                "",
                sh.key,
                f"Household key {sh.key} was already imported from {ctx.source} as household "
                f"{ref}; it is left as it is.{changed}",
                sh.key,
            )
        )
        return checked
    clean: dict[str, Any] | None = None
    errors: dict[str, list[str]] = {}
    if entry is not None and "e" in entry:
        errors = entry["e"]
    elif entry is not None:
        clean = _decode_clean(entry["c"])
    else:
        raw = _raw_household(ctx, sh)
        try:
            clean = clean_household(ctx.session, ctx.user, raw, check_area=False)
        except ValidationError as exc:
            errors = exc.errors
            entry = {"k": sh.key, "h": digest, "e": errors}
        else:
            encoded = _encode_clean(clean)
            entry = None if encoded is None else {"k": sh.key, "h": digest, "c": encoded}
    checked.entry = entry
    if clean is not None:
        # Areas and offices change: the location is checked again at commit.
        errors = _check_location(ctx, clean)
    if errors:
        checked.status = "error"
        for path, messages in errors.items():
            for message in messages:
                checked.problems.append(_problem_for_path(ctx, sh, path, message))
        return checked
    checked.clean = clean
    return checked


def _national_ids(ctx: _Context, chunk: list[Checked]) -> None:
    """Refuse national IDs already in the registry or earlier in the file."""
    wanted: dict[int, str] = {}
    where: dict[int, tuple[Checked, int]] = {}
    for checked in chunk:
        if checked.clean is None:
            continue
        for index, member in enumerate(checked.clean["members"]):
            nid = member.get("national_id")
            if not nid:
                continue
            row = checked.source.members[index]
            seen = ctx.ids_seen.get(nid)
            if seen is not None:
                checked.problems.append(
                    Problem(
                        "error",
                        row.number,
                        _column_label(row, "national_id", ctx.two_sheets),
                        nid,
                        f"The same national ID is on row {seen[0]} (household key {seen[1]}) of "
                        "this file.",
                        checked.source.key,
                    )
                )
                continue
            ctx.ids_seen[nid] = (row.number, checked.source.key)
            slot = len(wanted)
            wanted[slot] = nid
            where[slot] = (checked, index)
    for slot, other in _registered_ids(ctx.session, wanted):
        checked, index = where[slot]
        row = checked.source.members[index]
        if can_see(ctx.session, ctx.user, other):  # type: ignore[arg-type]
            text = f"A person with this national ID is already registered in household {other.ref}."
        else:
            text = (
                "A person with this national ID is already registered in an area served by "
                "another office."
            )
        checked.problems.append(
            Problem(
                "error",
                row.number,
                _column_label(row, "national_id", ctx.two_sheets),
                wanted[slot],
                text,
                checked.source.key,
            )
        )
    for checked in chunk:
        if checked.clean is not None and any(p.kind == "error" for p in checked.problems):
            checked.status, checked.clean = "error", None


@dataclass(frozen=True)
class _Holder:
    """The household of a registered national ID: what the message and ``can_see`` read."""

    ref: str
    admin1: str | None
    admin2: str | None
    admin3: str | None


def _registered_ids(session: Session, national_ids: dict[int, str]) -> list[tuple[int, _Holder]]:
    """Return (slot, household) for the IDs present members of active households hold.

    The predicate of ``registry.duplicates.national_id_clashes`` (what registration refuses),
    reading four columns instead of whole rows; on PostgreSQL the IDs go as one array.
    """
    if not national_ids:
        return []
    ids = list(set(national_ids.values()))
    if session.get_bind().dialect.name == "postgresql":
        matches = Member.national_id == any_(bindparam("ids", ids, type_=ARRAY(String)))
    else:
        matches = Member.national_id.in_(ids)
    rows = session.execute(
        select(
            Member.national_id, Household.ref, Household.admin1, Household.admin2, Household.admin3
        )
        .join(Household, Member.household_id == Household.id)
        .where(matches, Member.status == "present", Household.status == "active")
    )
    found = {nid: _Holder(ref, a1, a2, a3) for nid, ref, a1, a2, a3 in rows}
    return [(slot, found[nid]) for slot, nid in national_ids.items() if nid in found]


class _Person(NamedTuple):
    """The fields ``same_person_score`` reads, for a person of the file or the registry."""

    given_name: str
    family_name: str
    date_of_birth: dt.date
    date_of_birth_estimated: bool | None
    name_key: str
    label: str


def _load_registry_people(ctx: _Context, layout_: Layout) -> None:
    """Load registry people who share a district and a phonetic name key with the file's."""
    mapping = ctx.mapping
    admin2, given_name, family_name = (
        mapping.cell_converter(t) for t in ("admin2", "given_name", "family_name")
    )
    keys: set[str] = set()
    districts: set[str] = set()
    for sh in layout_.households:
        district = admin2(sh.household_row.raw("admin2"))
        if district is None and sh.members:
            district = admin2(sh.members[0].raw("admin2"))
        if district is None:
            district = mapping.defaults.get("admin2")
        if district:
            districts.add(str(district))
        for row in sh.members:
            given = given_name(row.raw("given_name")) or ""
            family = family_name(row.raw("family_name")) or ""
            if given:
                keys.add(name_key(str(given), str(family)))
    if not keys or not districts:
        return
    stmt = (
        select(
            Member.given_name,
            Member.family_name,
            Member.date_of_birth,
            Member.date_of_birth_estimated,
            Member.name_key,
            Household.ref,
            Household.admin2,
        )
        .join(Household, Member.household_id == Household.id)
        .where(
            Household.status == "active",
            Member.status == "present",
            Member.date_of_birth.is_not(None),
        )
    )
    # A small file asks the name index; a survey-sized one reads its districts once instead of
    # asking the index thousands of times.
    if len(keys) <= 2000:
        stmt = stmt.where(Member.name_key.in_(keys))
    if len(districts) <= 2000:
        stmt = stmt.where(Household.admin2.in_(districts))
    result = ctx.session.execute(stmt.execution_options(yield_per=20000))
    for given, family, dob, estimated, key, ref, admin2 in result:
        if key not in keys or admin2 not in districts:
            continue
        person = _Person(given, family, dob, estimated, key, f"household {ref}")
        ctx.registry_people.setdefault((admin2, key, dob.year), []).append(person)


def _likely_duplicates(ctx: _Context, chunk: list[Checked]) -> None:
    """Flag people like someone in the registry or earlier in the file (name, birth, district)."""
    for checked in chunk:
        if checked.clean is None:
            continue
        district = checked.clean["facts"].get("admin2")
        found: list[Problem] = []
        mine: list[tuple[tuple[str, str, int], _Person]] = []
        for index, member in enumerate(checked.clean["members"]):
            dob = member.get("date_of_birth")
            if dob is None or not district:
                continue
            key = name_key(member["given_name"], member["family_name"])
            row = checked.source.members[index]
            for year in (dob.year - 1, dob.year, dob.year + 1):
                for pool, where in ((ctx.registry_people, "in the registry"), (ctx.people, "")):
                    for other in pool.get((district, key, year), ()):
                        score = same_person_score(
                            member["given_name"],
                            member["family_name"],
                            dob,
                            member.get("date_of_birth_estimated"),
                            other,
                        )  # type: ignore[arg-type]
                        if score >= NAME_SIMILARITY:
                            found.append(
                                Problem(
                                    "duplicate",
                                    row.number,
                                    _column_label(row, "given_name", ctx.two_sheets),
                                    f"{member['given_name']} {member['family_name']}".strip(),
                                    f"Possibly the same person as {other.given_name} "
                                    f"{other.family_name} (born {other.date_of_birth}) in "
                                    f"{other.label}{' ' + where if where else ''}.",
                                    checked.source.key,
                                )
                            )
                            break
            label = f"row {row.number} of this file (household key {checked.source.key})"
            mine.append(
                (
                    (district, key, dob.year),
                    _Person(
                        member["given_name"],
                        member["family_name"],
                        dob,
                        member.get("date_of_birth_estimated"),
                        key,
                        label,
                    ),
                )
            )
        for slot, person in mine:
            ctx.people.setdefault(slot, []).append(person)
        if found:
            checked.problems.extend(found)
            if not ctx.include_likely:
                checked.status, checked.clean = "duplicate", None


def _imported_keys(session: Session, source: str) -> dict[str, tuple[str, int | None, str]]:
    rows = session.execute(
        select(
            ImportedHousehold.household_key,
            Household.ref,
            ImportedHousehold.batch_id,
            ImportedHousehold.content_sha256,
        )
        .outerjoin(Household, Household.id == ImportedHousehold.household_id)
        .where(ImportedHousehold.source == source)
    )
    return {
        key: (ref or "(since removed)", batch_id, digest) for key, ref, batch_id, digest in rows
    }


def default_country(user: Any, mapping: Mapping) -> str:
    """Return the country of households whose file says none: the mapping's, else the office's."""
    office = getattr(user, "office", None)
    return str(mapping.defaults.get("country") or getattr(office, "country", "") or "")


def iter_checked(
    session: Session,
    user: Any,
    table: Table,
    mapping: Mapping,
    *,
    source: str,
    batch_id: int | None = None,
    include_likely: bool = False,
    chunk_size: int = CHUNK_HOUSEHOLDS,
    prepared: Prepared | None = None,
) -> Iterator[tuple[Layout, list[Checked]]]:
    """Yield the file's households checked, a chunk at a time (chunks keep memory flat).

    With ``prepared`` (the dry run's validation of this very file) the registry validator's
    answers are read back instead of computed again; everything that depends on the registry
    is checked as usual.
    """
    _require(user)
    layout_ = layout(table, mapping)
    ctx = _Context(
        session=session,
        user=user,
        mapping=mapping,
        two_sheets=layout_.shape == "two sheets",
        source=source,
        batch_id=batch_id,
        default_country=default_country(user, mapping),
        include_likely=include_likely,
        imported=_imported_keys(session, source),
        prepared=prepared,
    )
    _load_registry_people(ctx, layout_)
    households = layout_.households
    for start in range(0, len(households), chunk_size):
        chunk = [_validate(ctx, sh) for sh in households[start : start + chunk_size]]
        _national_ids(ctx, chunk)
        _likely_duplicates(ctx, chunk)
        yield layout_, chunk


# --- the dry run --------------------------------------------------------------------------------
def read_batch_file(batch: ImportBatch, max_bytes: int = DEFAULT_MAX_BYTES) -> Table:
    """Read the batch's stored file."""
    return read_table(Path(batch.file_path), batch.filename, max_bytes=max_bytes)


def _store_problems(
    session: Session, batch: ImportBatch, phase: str, problems: list[Problem]
) -> None:
    if not problems:
        return
    session.execute(
        insert(ImportProblem),
        [
            {
                "batch_id": batch.id,
                "phase": phase,
                "kind": p.kind,
                "household_key": p.key[:120],
                "row_number": p.row,
                "column": p.column[:120],
                "value": p.value[:500],
                "problem": p.problem,
            }
            for p in problems
        ],
    )


def _rows_in(checked: Checked) -> int:
    return max(1, len(checked.source.members))


def check_batch(
    session: Session,
    user: Any,
    batch: ImportBatch,
    *,
    progress: Progress | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    prepared_dir: Path | None = None,
) -> ImportBatch:
    """Dry run: check every household and store the problems; the registry is not touched.

    With ``prepared_dir`` the registry validator's answers are also saved there (personal data:
    the folder is the app's files folder), so that :func:`commit_batch` need not repeat them.
    """
    _require(user)
    with _no_gc():
        return _check_batch(session, user, batch, progress, max_bytes, prepared_dir)


def prepared_path(folder: Path, batch: ImportBatch) -> Path:
    """Return where the dry run of ``batch`` keeps its validation for the commit."""
    return folder / f"import-{batch.id}-checked.jsonl"


def _check_batch(
    session: Session,
    user: Any,
    batch: ImportBatch,
    progress: Progress | None,
    max_bytes: int,
    prepared_dir: Path | None,
) -> ImportBatch:
    table = read_batch_file(batch, max_bytes)
    mapping = batch_mapping(batch)
    counts = dict.fromkeys(("valid", "error", "duplicate", "skipped", "done"), 0)
    problems: list[Problem] = []
    done_rows = 0
    layout_: Layout | None = None
    _forget_prepared(batch)
    writer = None
    if prepared_dir is not None:
        writer = _PreparedWriter(
            prepared_path(prepared_dir, batch),
            _fingerprint(batch, default_country(user, mapping)),
        )
    try:
        for layout_, chunk in iter_checked(session, user, table, mapping, source=batch.source):
            if writer is not None:
                writer.write(chunk)
            for checked in chunk:
                counts[checked.status] += 1
                problems.extend(checked.problems)
                done_rows += _rows_in(checked)
            if progress:
                progress(done_rows, layout_.rows_total)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is not None:
        writer.finish()
    # Written only now: on SQLite a write would lock out the job's progress updates meanwhile.
    session.execute(delete(ImportProblem).where(ImportProblem.batch_id == batch.id))
    _store_problems(session, batch, "check", problems)
    earlier = session.scalar(
        select(ImportBatch.id).where(
            ImportBatch.file_sha256 == batch.file_sha256,
            ImportBatch.id != batch.id,
            ImportBatch.status == "committed",
        )
    )
    notes = list(table.notes)
    if earlier:
        notes.append(
            f"This very file was imported before (batch {earlier}): the households it "
            "brought in are skipped, not duplicated."
        )
    batch.rows_total = layout_.rows_total if layout_ else 0
    batch.households_total = sum(counts.values())
    batch.households_valid = counts["valid"]
    batch.households_invalid = counts["error"]
    batch.households_duplicate = counts["duplicate"]
    batch.households_skipped = counts["skipped"] + counts["done"]
    batch.summary = {
        "notes": notes,
        "unmapped": layout_.unmapped if layout_ else [],
        "shape": layout_.shape if layout_ else "",
        "prepared": str(writer.path) if writer is not None else None,
    }
    batch.status = "checked"
    batch.checked_at = dt.datetime.now(dt.UTC)
    session.flush()
    record_event(
        session,
        "import.check",
        object_type="import_batch",
        object_ref=str(batch.id),
        details={"file": batch.filename, **counts},
        user=user,
    )
    return batch


# --- the commit ---------------------------------------------------------------------------------
class _Writer:
    """Bulk-insert valid households the way ``register_household`` would have stored them."""

    def __init__(self, session: Session, user: Any, batch: ImportBatch) -> None:
        from sw_mis.registry.services import _office_for_area, can_see_codes

        self.session, self.user, self.batch = session, user, batch
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self._office_for_area, self._can_see_codes = _office_for_area, can_see_codes
        self._offices: dict[tuple[Any, ...], int | None] = {}

    def office_id(self, facts: dict[str, Any]) -> int | None:
        key = tuple(facts.get(k) for k in LOCATION_KEYS)
        if key not in self._offices:
            # The same rule as register_household: the user's office when it serves the area,
            # else the office covering the most specific area code.
            office = getattr(self.user, "office", None)
            if office is None or not self._can_see_codes(self.session, self.user, facts):
                office = self._office_for_area(self.session, list(key))
            self._offices[key] = office.id if office else None
        return self._offices[key]

    def refs(self, countries: list[str]) -> list[str]:
        """Return a new random reference per household (in the order of ``countries``)."""
        out: list[str | None] = [None] * len(countries)
        taken: set[str] = set()
        pending = list(range(len(countries)))
        while pending:
            wanted = {
                i: make_ref(countries[i], f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}")
                for i in pending
            }
            refs = list(wanted.values())
            if self.postgres:
                matches = Household.ref == any_(bindparam("refs", refs, type_=ARRAY(String)))
            else:
                matches = Household.ref.in_(refs)
            clash = set(self.session.scalars(select(Household.ref).where(matches)))
            pending = []
            for i, ref in wanted.items():
                if ref in clash or ref in taken:
                    pending.append(i)  # drawn again, for the same household and country
                else:
                    taken.add(ref)
                    out[i] = ref
        return out  # type: ignore[return-value]

    def write(self, valid: list[Checked]) -> int:
        """Insert the households, their members, change records and source keys; flush."""
        if not valid:
            return 0
        user_id = getattr(self.user, "id", None)
        now = dt.datetime.now(dt.UTC)
        cleans = [c.clean for c in valid]
        refs = self.refs([c["country"] for c in cleans])  # type: ignore[index]
        hh_rows = [
            (
                *_facts_of(clean["facts"], _HH_NAMES),
                ref,
                clean["country"],
                "active",
                True,
                clean["consent_date"],
                self.office_id(clean["facts"]),
                user_id,
                now,
                now,
                1,
            )
            for clean, ref in zip(cleans, refs, strict=True)  # type: ignore[union-attr]
        ]
        ids = self._insert_households(hh_rows)
        members, changes, links = [], [], []
        source, batch_id, filename = self.batch.source, self.batch.id, self.batch.filename
        for checked, hh_id in zip(valid, ids, strict=True):
            clean = checked.clean
            assert clean is not None
            for position, m in enumerate(clean["members"]):
                given, family = m["given_name"], m["family_name"]
                members.append(
                    (
                        hh_id,
                        position,
                        given,
                        family,
                        name_key(given, family),
                        "present",
                        *_facts_of(m, _MEMBER_FACT_NAMES),
                    )
                )
            key = checked.source.key
            changes.append(
                (
                    hh_id,
                    user_id,
                    "register",
                    now,
                    f"Imported from {filename} (batch {batch_id}, household key {key})"[:1000],
                    {"members": [None, len(clean["members"])]},
                )
            )
            links.append((source, key, hh_id, batch_id, checked.content_sha256, now))
        self._insert(Member.__table__, _MEMBER_COLUMNS, members)
        if self.postgres:  # COPY has no JSON adaptation: JSON columns go in as their text
            changes = [(*row[:-1], json.dumps(row[-1])) for row in changes]
        self._insert(ChangeRecord.__table__, _CHANGE_COLUMNS, changes)
        self._insert(ImportedHousehold.__table__, _LINK_COLUMNS, links)
        return len(valid)

    def _insert_households(self, rows: list[tuple[Any, ...]]) -> list[int]:
        table = Household.__table__
        if not self.postgres:
            result = self.session.execute(
                insert(table).returning(table.c.id, sort_by_parameter_order=True),
                [dict(zip(_HOUSEHOLD_COLUMNS, r, strict=True)) for r in rows],
            )
            return list(result.scalars())
        # COPY needs the ids up front: take them from the sequence, as INSERT would have.
        ids = list(
            self.session.scalars(
                select(func.nextval(func.pg_get_serial_sequence("households", "id"))).select_from(
                    func.generate_series(1, len(rows))
                )
            )
        )
        self._insert(
            table,
            ("id", *_HOUSEHOLD_COLUMNS),
            [(hh_id, *row) for hh_id, row in zip(ids, rows, strict=True)],
        )
        return ids

    def _insert(self, table: Any, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        """Insert rows: COPY on PostgreSQL, one executemany elsewhere."""
        if not rows:
            return
        if self.postgres:
            from sw_mis.registry.seed import _copy_rows

            # A survey fills a few of the registry's many facts: columns that are empty in
            # every row are left to their default (NULL) instead of being sent row by row.
            values = list(zip(*rows, strict=True))
            used = [
                i
                for i, column in enumerate(values)
                if column.count(None) != len(column) or table.c[columns[i]].server_default
            ]
            _copy_rows(
                self.session.connection(),
                table.name,
                [columns[i] for i in used],
                zip(*(values[i] for i in used), strict=True),
            )
        else:
            self.session.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in rows])


_MEMBER_FACT_NAMES = tuple(f.name for f in MEMBER_FIELDS)
_HOUSEHOLD_COLUMNS = (
    *_HH_NAMES,
    "ref",
    "country",
    "status",
    "consent_given",
    "consent_date",
    "office_id",
    "registered_by_id",
    "registered_at",
    "updated_at",
    "version",
)
_MEMBER_COLUMNS = (
    "household_id",
    "position",
    "given_name",
    "family_name",
    "name_key",
    "status",
    *_MEMBER_FACT_NAMES,
)
_CHANGE_COLUMNS = ("household_id", "user_id", "action", "at", "reason", "changes")
_LINK_COLUMNS = (
    "source",
    "household_key",
    "household_id",
    "batch_id",
    "content_sha256",
    "imported_at",
)


def commit_batch(
    session: Session,
    user: Any,
    batch: ImportBatch,
    *,
    include_likely: bool = False,
    errors_path: Path | None = None,
    commit: Callable[[], None] | None = None,
    progress: Progress | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    chunk_size: int = CHUNK_HOUSEHOLDS,
) -> ImportBatch:
    """Import the batch's valid households; keep the others aside with their problems.

    After each chunk ``commit`` (if given) is called: a run stopped half-way and started again
    skips the keys already imported and ends in the same state as an uninterrupted run.
    """
    _require(user)
    if batch.status == "committed":
        raise ImportError_(f"Batch {batch.id} is already imported.")
    with _no_gc():
        return _commit_batch(
            session,
            user,
            batch,
            include_likely,
            errors_path,
            commit,
            progress,
            max_bytes,
            chunk_size,
        )


def _commit_batch(
    session: Session,
    user: Any,
    batch: ImportBatch,
    include_likely: bool,
    errors_path: Path | None,
    commit: Callable[[], None] | None,
    progress: Progress | None,
    max_bytes: int,
    chunk_size: int,
) -> ImportBatch:
    table = read_batch_file(batch, max_bytes)
    mapping = batch_mapping(batch)
    session.execute(
        delete(ImportProblem).where(
            ImportProblem.batch_id == batch.id, ImportProblem.phase == "commit"
        )
    )
    batch.status = "committing"
    session.flush()
    if commit:
        commit()
    writer = _Writer(session, user, batch)
    counts = dict.fromkeys(("valid", "error", "duplicate", "skipped", "done"), 0)
    refused: list[Checked] = []
    done_rows = 0
    layout_: Layout | None = None
    prepared = Prepared.open(batch, default_country(user, mapping))
    try:
        for layout_, chunk in iter_checked(
            session,
            user,
            table,
            mapping,
            source=batch.source,
            batch_id=batch.id,
            include_likely=include_likely,
            chunk_size=chunk_size,
            prepared=prepared,
        ):
            valid = [c for c in chunk if c.status == "valid"]
            writer.write(valid)
            problems = [p for c in chunk for p in c.problems if c.status != "valid"]
            _store_problems(session, batch, "commit", problems)
            for checked in chunk:
                counts[checked.status] += 1
                done_rows += _rows_in(checked)
                if checked.status in ("error", "duplicate"):
                    refused.append(checked)
            session.flush()
            if commit:
                commit()
            if progress:
                progress(done_rows, layout_.rows_total)
    finally:
        if prepared is not None:
            prepared.close()
    if errors_path is not None:
        write_refused_csv(errors_path, refused)
    batch.households_imported = counts["valid"] + counts["done"]
    batch.households_invalid = counts["error"]
    batch.households_duplicate = counts["duplicate"]
    batch.households_skipped = counts["skipped"]
    batch.households_total = sum(counts.values())
    batch.rows_total = layout_.rows_total if layout_ else 0
    batch.status = "committed"
    batch.committed_at = dt.datetime.now(dt.UTC)
    _forget_prepared(batch)
    summary = dict(batch.summary or {})
    summary["refused_file"] = str(errors_path) if errors_path and refused else None
    batch.summary = summary
    session.flush()
    record_event(
        session,
        "import.commit",
        object_type="import_batch",
        object_ref=str(batch.id),
        details={
            "file": batch.filename,
            "imported": batch.households_imported,
            "refused": counts["error"],
            "duplicates": counts["duplicate"],
            "skipped": counts["skipped"],
        },
        user=user,
    )
    if commit:
        commit()
    return batch


def _facts_of(values: dict[str, Any], names: tuple[str, ...]) -> tuple[Any, ...]:
    """Return ``values[name]`` for each name (None for a name the dict lacks)."""
    try:
        return itemgetter(*names)(values)  # type: ignore[no-any-return]
    except KeyError:
        return tuple(values.get(name) for name in names)


# --- downloads ----------------------------------------------------------------------------------
def write_refused_csv(path: Path, refused: list[Checked]) -> None:
    """Write the refused households' rows with their problems, ready to correct and re-import."""
    path.parent.mkdir(parents=True, exist_ok=True)
    headers: list[str] = []
    for checked in refused:
        for row in [checked.source.household_row, *checked.source.members]:
            for h in row.plan.headers:
                if h not in headers:
                    headers.append(h)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["import_row", "import_sheet", "import_problems", *headers])
        for checked in refused:
            by_row: dict[int | None, list[str]] = {}
            for p in checked.problems:
                by_row.setdefault(p.row, []).append(
                    f"{p.column}: {p.problem}" if p.column else p.problem
                )
            rows = [checked.source.household_row, *checked.source.members]
            seen: set[int] = set()
            for row in rows:
                if id(row) in seen or not row.values:
                    continue
                seen.add(id(row))
                cells = dict(zip(row.plan.headers, row.values, strict=True))
                out.writerow(
                    [
                        row.number,
                        row.sheet.name,
                        " | ".join(by_row.get(row.number, [])),
                        *[_csv_cell(cells.get(h)) for h in headers],
                    ]
                )


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    # A cell starting with = + - @ would run as a formula when the CSV is opened in Excel.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def problems_csv(session: Session, batch: ImportBatch, phase: str) -> str:
    """Return the batch's problems of ``phase`` as CSV text (row, column, value, problem)."""
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(["row", "household_key", "column", "value", "kind", "problem"])
    for p in session.scalars(
        select(ImportProblem)
        .where(ImportProblem.batch_id == batch.id, ImportProblem.phase == phase)
        .order_by(ImportProblem.row_number, ImportProblem.id)
    ):
        out.writerow(
            [
                p.row_number or "",
                _csv_cell(p.household_key),
                _csv_cell(p.column),
                _csv_cell(p.value),
                p.kind,
                p.problem,
            ]
        )
    return "\ufeff" + buffer.getvalue()


def batch_problems(
    session: Session, batch: ImportBatch, phase: str, limit: int = MAX_PROBLEMS_SHOWN
) -> tuple[list[ImportProblem], int]:
    """Return the first ``limit`` problems of a phase, and how many there are."""
    where = (ImportProblem.batch_id == batch.id, ImportProblem.phase == phase)
    total = session.scalar(select(func.count()).select_from(ImportProblem).where(*where)) or 0
    items = session.scalars(
        select(ImportProblem)
        .where(*where)
        .order_by(ImportProblem.row_number, ImportProblem.id)
        .limit(limit)
    )
    return list(items), total


def latest_job(session: Session, batch: ImportBatch) -> Any:
    """Return the latest check or commit job of ``batch`` (None if it has none)."""
    from sw_mis.jobs.models import Job

    jobs = session.scalars(
        select(Job)
        .where(Job.kind.in_(("import.check", "import.commit")))
        .order_by(Job.id.desc())
        .limit(200)
    )
    return next((j for j in jobs if (j.params or {}).get("batch_id") == batch.id), None)


def list_batches(session: Session, limit: int = 50) -> list[ImportBatch]:
    """Return the latest batches, newest first."""
    return list(session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc()).limit(limit)))


def load_mapping_arg(session: Session, value: str | None) -> Mapping:
    """Return a mapping from a saved name or a YAML file path (CLI); empty → automatic."""
    if not value:
        return Mapping()
    path = Path(value)
    if path.suffix.lower() in (".yaml", ".yml") and path.exists():
        return Mapping.from_yaml(path.read_text(encoding="utf-8"), name=path.stem)
    return get_mapping(session, value)
