"""The commit reads the dry run's validation back, and only when it is the same file's, today."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from factories import make_household, member_data
from sqlalchemy import delete, select

from sw_mis.imports import services
from sw_mis.imports.models import ImportedHousehold, ImportProblem
from sw_mis.registry import validation
from sw_mis.registry.duplicates import national_id_clashes
from sw_mis.registry.fields import HOUSEHOLD_FIELDS
from sw_mis.registry.models import ChangeRecord, Household, Member
from tests.imports.helpers import HEADER, csv_bytes, member_rows, survey_rows, write

PREPARED = "prepared"


def _rows() -> tuple[list[str], list[list[str]]]:
    """Return a file of six households, two refused, with an income in money."""
    header = [*HEADER, "income"]
    rows = [[*r, "1234.5"] for r in survey_rows(6)]
    rows[3][7] = "not a date"  # H2
    rows[9][8] = "boss"  # H4
    return header, rows


def _problems(db_session, batch, phase):
    return sorted(
        (p.row_number, p.household_key, p.column, p.value, p.kind, p.problem)
        for p in db_session.scalars(
            select(ImportProblem).where(
                ImportProblem.batch_id == batch.id, ImportProblem.phase == phase
            )
        )
    )


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the registry validator's calls made by the import services."""
    calls: list[int] = []
    original = services.clean_household

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(services, "clean_household", counted)
    return calls


def test_commit_reads_the_dry_run_back(db_session, manager, new_batch, tmp_path, validations):
    header, rows = _rows()
    batch = new_batch(write(tmp_path, "s.csv", csv_bytes(rows, header)))
    services.check_batch(db_session, manager, batch, prepared_dir=tmp_path / PREPARED)
    prepared = Path(batch.summary["prepared"])
    assert prepared.parent == tmp_path / PREPARED and prepared.is_file()
    assert len(validations) == 6
    services.commit_batch(db_session, manager, batch)
    assert len(validations) == 6, "the commit validated again"
    assert (batch.households_imported, batch.households_invalid) == (4, 2)
    assert _problems(db_session, batch, "commit") == _problems(db_session, batch, "check")
    h1 = db_session.scalar(
        select(Household).join(Member).where(Member.national_id == "3520200000010")
    )
    assert h1.income_monthly == Decimal("1234.50") and h1.consent_date == dt.date.today()
    assert [m.date_of_birth for m in h1.members][:1] == [dt.date(1960, 3, 5)]
    assert h1.members[0].name_key and h1.head.given_name == "Aslam"
    # It holds personal data and is of no further use once the batch is in.
    assert not prepared.exists() and batch.summary["prepared"] is None


def test_same_result_with_or_without_the_dry_run(db_session, manager, new_batch, tmp_path):
    header, rows = _rows()
    rows += member_rows("D1", nid_base=9000, born=1)  # H1's people again: likely duplicates
    data = csv_bytes(rows, header)
    checked = new_batch(write(tmp_path, "a.csv", data), source="a")
    services.check_batch(db_session, manager, checked, prepared_dir=tmp_path / PREPARED)
    services.commit_batch(db_session, manager, checked)
    facts = [f.name for f in HOUSEHOLD_FIELDS]

    def imported(batch):
        ids = select(ImportedHousehold.household_id).where(ImportedHousehold.batch_id == batch.id)
        households = db_session.scalars(
            select(Household).where(Household.id.in_(ids)).order_by(Household.id)
        )
        return [
            (
                [getattr(h, f) for f in facts],
                [(m.given_name, m.date_of_birth, m.sex, m.name_key) for m in h.members],
            )
            for h in households
        ]

    first = imported(checked)
    # The registry as it was, and the same file again without a dry run.
    for model in (Member, ImportedHousehold, ChangeRecord, Household):
        db_session.execute(delete(model))
    db_session.expire_all()
    unchecked = new_batch(write(tmp_path, "b.csv", data), source="b")
    services.commit_batch(db_session, manager, unchecked)
    assert (unchecked.households_imported, unchecked.households_duplicate) == (
        checked.households_imported,
        checked.households_duplicate,
    )
    assert imported(unchecked) == first
    assert _problems(db_session, unchecked, "commit") == _problems(db_session, checked, "commit")


def test_another_day_or_mapping_validates_again(
    db_session, manager, new_batch, tmp_path, validations, monkeypatch
):
    """The validator refuses dates in the future: yesterday's answers may differ today."""
    header, rows = _rows()
    batch = new_batch(write(tmp_path, "s.csv", csv_bytes(rows, header)))
    yesterday, real_today = dt.date.today() - dt.timedelta(days=1), validation.today
    monkeypatch.setattr(validation, "today", lambda: yesterday)
    services.check_batch(db_session, manager, batch, prepared_dir=tmp_path / PREPARED)
    monkeypatch.setattr(validation, "today", real_today)
    validations.clear()
    services.commit_batch(db_session, manager, batch)
    assert len(validations) == 6 and batch.households_imported == 4

    other = new_batch(write(tmp_path, "t.csv", csv_bytes(rows, header)), source="other")
    services.check_batch(db_session, manager, other, prepared_dir=tmp_path / PREPARED)
    other.mapping_spec = {**other.mapping_spec, "date_formats": ["%d/%m/%Y"]}
    validations.clear()
    services.commit_batch(db_session, manager, other)
    assert len(validations) == 6


def test_a_prepared_file_out_of_step_is_left(db_session, manager, new_batch, tmp_path, validations):
    header, rows = _rows()
    batch = new_batch(write(tmp_path, "s.csv", csv_bytes(rows, header)))
    services.check_batch(db_session, manager, batch, prepared_dir=tmp_path / PREPARED)
    prepared = Path(batch.summary["prepared"])
    lines = prepared.read_text(encoding="utf-8").splitlines()
    entry = json.loads(lines[3])  # the third household's line claims another key
    lines[3] = json.dumps({**entry, "k": "H99"})
    prepared.write_text("\n".join(lines) + "\n", encoding="utf-8")
    validations.clear()
    services.commit_batch(db_session, manager, batch)
    assert len(validations) == 4  # the third household and every one after it
    assert (batch.households_imported, batch.households_invalid) == (4, 2)


def test_rows_without_a_household_key_are_reported(db_session, manager, new_batch, tmp_path):
    rows = survey_rows(2)
    rows[1][0] = ""  # H1's spouse has lost the key
    batch = services.check_batch(
        db_session,
        manager,
        new_batch(write(tmp_path, "k.csv", csv_bytes(rows))),
        prepared_dir=tmp_path / PREPARED,
    )
    assert (batch.households_valid, batch.households_invalid) == (2, 1)
    services.commit_batch(db_session, manager, batch)
    assert batch.households_imported == 2
    problems = _problems(db_session, batch, "commit")
    assert [(p[0], p[5]) for p in problems if p[4] == "error"] == [
        (3, "The household key is empty: this row belongs to no household.")
    ]


def test_registered_ids_agree_with_registration(db_session, manager):
    def household(n: int) -> Household:
        members = [
            member_data(national_id=f"61101{n:08d}"),
            member_data(given_name="Bilal", relationship_to_head="child", national_id=f"6{n:012d}"),
        ]
        return make_household(db_session, manager, members=members)

    kept, left, gone = household(1), household(2), household(3)
    left.members[0].status = "left"
    gone.status = "merged"
    db_session.flush()
    people = [*kept.members, *left.members, *gone.members]
    ids = {i: m.national_id for i, m in enumerate(people)} | {9: "nobody-has-this"}
    expected = [(slot, h.ref) for slot, _m, h in national_id_clashes(db_session, ids)]
    found = [(slot, h.ref) for slot, h in services._registered_ids(db_session, ids)]
    assert found == expected and len(found) == 3
