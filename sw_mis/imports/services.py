"""Check (dry run) and commit bulk imports, with the registry's own validation and duplicate logic.

Every household in a file is validated by :func:`sw_mis.registry.validation.clean_household`
(the validator behind the counter form and the API), its location by ``check_location``, its
national IDs by ``national_id_clashes`` and its people by ``same_person_score`` — so an import
never writes a household the registration service would refuse. Only the writing is different:
valid households go in with bulk inserts (COPY on PostgreSQL), a chunk at a time, because one
ORM registration per household would take an hour for a survey of 100,000 households.

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
from pathlib import Path
from typing import IO, Any

from sqlalchemy import delete, func, insert, select
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
from sw_mis.registry.duplicates import NAME_SIMILARITY, national_id_clashes, same_person_score
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
        return None if index is None else self.values[index]


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


def _raw_household(ctx: _Context, sh: SourceHousehold) -> dict[str, Any]:
    """Return the household as raw input for the registry validator."""
    convert = ctx.mapping.convert
    data: dict[str, Any] = {}
    first = sh.household_row
    # One row per member: the first row that answers a household question speaks for all.
    rows = [first] if not sh.members or first.sheet is not sh.members[0].sheet else sh.members
    for target, index in first.plan.household_targets:
        for row in rows:
            value = convert(target, row.values[index])
            if value is not None:
                data[target] = value
                break
    for target, value in ctx.mapping.defaults.items():
        if target in HOUSEHOLD_TARGETS and data.get(target) is None:
            data[target] = convert(target, value)
    data.setdefault("country", ctx.default_country)
    member_defaults = [(t, v) for t, v in ctx.mapping.defaults.items() if t in MEMBER_TARGETS]
    members = []
    for row in sh.members:
        member = {}
        for target, index in row.plan.member_targets:
            value = convert(target, row.values[index])
            if value is not None:
                member[target] = value
        for target, value in member_defaults:
            member.setdefault(target, convert(target, value))
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
    checked = Checked(sh, "valid", _content_hash(sh), problems=list(sh.problems))
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
    raw = _raw_household(ctx, sh)
    try:
        clean = clean_household(ctx.session, ctx.user, raw, check_area=False)
    except ValidationError as exc:
        errors = exc.errors
        clean = None
    else:
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
    for slot, _member, other in national_id_clashes(ctx.session, wanted):
        checked, index = where[slot]
        row = checked.source.members[index]
        if can_see(ctx.session, ctx.user, other):
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
class _Person:
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
    keys: set[str] = set()
    districts: set[str] = set()
    for sh in layout_.households:
        district = mapping.convert("admin2", sh.household_row.raw("admin2"))
        if district is None and sh.members:
            district = mapping.convert("admin2", sh.members[0].raw("admin2"))
        if district is None:
            district = mapping.defaults.get("admin2")
        if district:
            districts.add(str(district))
        for row in sh.members:
            given = mapping.convert("given_name", row.raw("given_name")) or ""
            family = mapping.convert("family_name", row.raw("family_name")) or ""
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
) -> Iterator[tuple[Layout, list[Checked]]]:
    """Yield the file's households checked, a chunk at a time (chunks keep memory flat)."""
    _require(user)
    layout_ = layout(table, mapping)
    office = getattr(user, "office", None)
    ctx = _Context(
        session=session,
        user=user,
        mapping=mapping,
        two_sheets=layout_.shape == "two sheets",
        source=source,
        batch_id=batch_id,
        default_country=str(
            mapping.defaults.get("country") or getattr(office, "country", "") or ""
        ),
        include_likely=include_likely,
        imported=_imported_keys(session, source),
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
) -> ImportBatch:
    """Dry run: check every household and store the problems; the registry is not touched."""
    _require(user)
    with _no_gc():
        return _check_batch(session, user, batch, progress, max_bytes)


def _check_batch(
    session: Session, user: Any, batch: ImportBatch, progress: Progress | None, max_bytes: int
) -> ImportBatch:
    table = read_batch_file(batch, max_bytes)
    mapping = batch_mapping(batch)
    counts = dict.fromkeys(("valid", "error", "duplicate", "skipped", "done"), 0)
    problems: list[Problem] = []
    done_rows = 0
    layout_: Layout | None = None
    for layout_, chunk in iter_checked(session, user, table, mapping, source=batch.source):
        for checked in chunk:
            counts[checked.status] += 1
            problems.extend(checked.problems)
            done_rows += _rows_in(checked)
        if progress:
            progress(done_rows, layout_.rows_total)
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
        out: list[str] = []
        taken: set[str] = set()
        while len(out) < len(countries):
            wanted = [
                make_ref(c, f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}")
                for c in countries[len(out) :]
            ]
            clash = set(
                self.session.scalars(select(Household.ref).where(Household.ref.in_(wanted)))
            )
            for ref in wanted:
                if ref not in clash and ref not in taken:
                    taken.add(ref)
                    out.append(ref)
        return out

    def write(self, valid: list[Checked]) -> int:
        if not valid:
            return 0
        user_id = getattr(self.user, "id", None)
        now = dt.datetime.now(dt.UTC)
        refs = self.refs([c.clean["country"] for c in valid])  # type: ignore[index]
        hh_rows = []
        for checked, ref in zip(valid, refs, strict=True):
            clean = checked.clean
            assert clean is not None
            hh_rows.append(
                {
                    **{f.name: clean["facts"].get(f.name) for f in HOUSEHOLD_FIELDS},
                    "ref": ref,
                    "country": clean["country"],
                    "status": "active",
                    "consent_given": True,
                    "consent_date": clean["consent_date"],
                    "office_id": self.office_id(clean["facts"]),
                    "registered_by_id": user_id,
                    "registered_at": now,
                    "updated_at": now,
                    "version": 1,
                }
            )
        ids = self._insert_households(hh_rows)
        member_cols = [
            "household_id",
            "position",
            "given_name",
            "family_name",
            "name_key",
            "status",
            *[f.name for f in MEMBER_FIELDS],
        ]
        members, changes, links = [], [], []
        for checked, hh_id in zip(valid, ids, strict=True):
            clean = checked.clean
            assert clean is not None
            for position, m in enumerate(clean["members"]):
                members.append(
                    (
                        hh_id,
                        position,
                        m["given_name"],
                        m["family_name"],
                        name_key(m["given_name"], m["family_name"]),
                        "present",
                        *[m.get(f.name) for f in MEMBER_FIELDS],
                    )
                )
            changes.append(
                {
                    "household_id": hh_id,
                    "user_id": user_id,
                    "action": "register",
                    "at": now,
                    "reason": f"Imported from {self.batch.filename} (batch {self.batch.id}, "
                    f"household key {checked.source.key})"[:1000],
                    "changes": {"members": [None, len(clean["members"])]},
                }
            )
            links.append(
                {
                    "source": self.batch.source,
                    "household_key": checked.source.key,
                    "household_id": hh_id,
                    "batch_id": self.batch.id,
                    "content_sha256": checked.content_sha256,
                    "imported_at": now,
                }
            )
        if self.postgres:
            from sw_mis.registry.seed import _copy_rows

            _copy_rows(self.session.connection(), "members", member_cols, members)
        else:
            self.session.execute(
                insert(Member.__table__), [dict(zip(member_cols, m, strict=True)) for m in members]
            )
        self._insert(ChangeRecord.__table__, changes)
        self._insert(ImportedHousehold.__table__, links)
        return len(valid)

    def _insert_households(self, rows: list[dict[str, Any]]) -> list[int]:
        table = Household.__table__
        if not self.postgres:
            result = self.session.execute(
                insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
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
        for row, hh_id in zip(rows, ids, strict=True):
            row["id"] = hh_id
        self._insert(table, rows)
        return ids

    def _insert(self, table: Any, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.postgres:
            from sw_mis.registry.seed import _copy_rows

            columns = list(rows[0])
            values = [tuple(_copy_value(r[c]) for c in columns) for r in rows]
            _copy_rows(self.session.connection(), table.name, columns, values)
        else:
            self.session.execute(insert(table), rows)


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
    for layout_, chunk in iter_checked(
        session,
        user,
        table,
        mapping,
        source=batch.source,
        batch_id=batch.id,
        include_likely=include_likely,
        chunk_size=chunk_size,
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


def _copy_value(value: Any) -> Any:
    # COPY has no JSON adaptation: JSON columns go in as their text.
    return json.dumps(value) if isinstance(value, dict | list) else value


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
