"""Dry run, commit, idempotency and problem reporting, through the import services."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select

from sw_mis.imports import services
from sw_mis.imports.mapping import Mapping
from sw_mis.imports.models import ImportProblem
from sw_mis.registry.models import Household, Member
from tests.imports.helpers import (
    HEADER,
    csv_bytes,
    member_rows,
    registry_counts,
    survey_rows,
    write,
)


def _problems(db_session, batch, phase="check"):
    return list(
        db_session.scalars(
            select(ImportProblem)
            .where(ImportProblem.batch_id == batch.id, ImportProblem.phase == phase)
            .order_by(ImportProblem.row_number)
        )
    )


def test_dry_run_writes_nothing_and_reports_rows(db_session, manager, new_batch, tmp_path):
    rows = survey_rows(3)
    rows[4][7] = "2031-02-30"  # H2's spouse: impossible date
    rows[6][8] = "boss"  # H3's head: unknown relationship
    path = write(tmp_path, "survey.csv", csv_bytes(rows))
    before = registry_counts(db_session)
    batch = services.check_batch(db_session, manager, new_batch(path))
    assert registry_counts(db_session) == before
    assert (batch.households_valid, batch.households_invalid) == (1, 2)
    problems = _problems(db_session, batch)
    by_row = {p.row_number: p for p in problems}
    assert by_row[6].column == "dob" and by_row[6].value == "2031-02-30"
    assert "not a real date" in by_row[6].problem
    assert by_row[8].column == "relation" and "Choose one of" in by_row[8].problem
    assert batch.summary["unmapped"] == []


def test_commit_imports_valid_and_keeps_invalid_aside(db_session, manager, new_batch, tmp_path):
    rows = survey_rows(4)
    rows[3][7] = "not a date"
    path = write(tmp_path, "survey.csv", csv_bytes(rows))
    batch = new_batch(path)
    errors = tmp_path / "refused.csv"
    services.commit_batch(db_session, manager, batch, errors_path=errors)
    assert batch.households_imported == 3 and batch.households_invalid == 1
    households = db_session.scalars(
        select(Household).join(Member).where(Member.national_id == "3520200000010")
    ).all()
    assert len(households) == 1
    h = households[0]
    assert h.admin2 == "PK-PB-LHR" and len(h.members) == 3 and h.head.given_name == "Aslam"
    assert h.members[0].name_key and h.office_id == manager.office_id
    with errors.open(encoding="utf-8-sig") as fh:
        refused = list(csv.DictReader(fh))
    assert {r["hh_id"] for r in refused} == {"H2"} and len(refused) == 3
    assert "Enter a date" in refused[0]["import_problems"]


def test_importing_twice_creates_no_duplicates(db_session, manager, new_batch, tmp_path):
    path = write(tmp_path, "survey.csv", csv_bytes(survey_rows(5)))
    services.commit_batch(db_session, manager, new_batch(path))
    before = registry_counts(db_session)
    again = services.check_batch(db_session, manager, new_batch(path))
    assert again.households_skipped == 5 and again.households_valid == 0
    assert any("imported before" in n for n in again.summary["notes"])
    second = services.commit_batch(db_session, manager, new_batch(path))
    assert second.households_imported == 0 and second.households_skipped == 5
    assert registry_counts(db_session)["households"] == before["households"]


def test_national_id_duplicates_in_file_and_registry(db_session, manager, new_batch, tmp_path):
    path = write(tmp_path, "a.csv", csv_bytes(survey_rows(1)))
    services.commit_batch(db_session, manager, new_batch(path, source="a"))
    rows = member_rows("X1", nid_base=10, family="Other")  # same IDs as H1, other source
    rows += member_rows("X2", nid_base=500, family="Third")
    rows += member_rows("X3", nid_base=500, family="Fourth")
    batch = services.check_batch(
        db_session, manager, new_batch(write(tmp_path, "b.csv", csv_bytes(rows)), source="b")
    )
    assert batch.households_invalid == 2 and batch.households_valid == 1
    texts = [p.problem for p in _problems(db_session, batch)]
    assert any("already registered in household PK-" in t for t in texts)
    assert any("same national ID is on row 5" in t for t in texts)


def test_likely_duplicates_against_registry_and_file(db_session, manager, new_batch, tmp_path):
    first = member_rows("A1", nid_base=100, family="Qureshi")
    services.commit_batch(
        db_session, manager, new_batch(write(tmp_path, "a.csv", csv_bytes(first)), source="a")
    )
    rows = [[*r[:9], "", *r[10:]] for r in member_rows("B1", nid_base=0, family="Qureshi")]
    rows += [[*r[:9], "", *r[10:]] for r in member_rows("B2", nid_base=0, family="Kureshi")]
    batch = services.check_batch(
        db_session, manager, new_batch(write(tmp_path, "b.csv", csv_bytes(rows)), source="b")
    )
    assert batch.households_duplicate == 2
    texts = [p.problem for p in _problems(db_session, batch) if p.kind == "duplicate"]
    assert any("in the registry" in t for t in texts)
    assert any("this file" in t for t in texts)
    confirmed = services.commit_batch(
        db_session,
        manager,
        new_batch(write(tmp_path, "b.csv", csv_bytes(rows)), source="c"),
        include_likely=True,
    )
    assert confirmed.households_imported == 2


def test_mapping_values_and_unmapped_columns(db_session, manager, new_batch, tmp_path):
    header = [
        "_index",
        "prov",
        "district",
        "agree",
        "member/first",
        "gender",
        "dob",
        "relation",
        "colour",
    ]
    rows = [
        ["7", "PK-PB", "PK-PB-LHR", "1", "Aisha", "2", "1990-01-01", "1", "blue"],
        ["7", "PK-PB", "PK-PB-LHR", "1", "Omar", "1", "2015-01-01", "3", "red"],
    ]
    mapping = Mapping.from_yaml(
        """
columns: {prov: admin1, agree: consent_given, member/first: given_name}
values:
  sex: {"1": male, "2": female}
  relationship_to_head: {"1": head, "3": child}
defaults: {country: PK}
""",
        name="kobo",
    )
    batch = services.check_batch(
        db_session, manager, new_batch(write(tmp_path, "k.csv", csv_bytes(rows, header)), mapping)
    )
    assert batch.households_valid == 1, _problems(db_session, batch)
    assert batch.summary["unmapped"] == ["colour"]
    services.save_mapping(db_session, manager, "kobo", mapping)
    assert services.get_mapping(db_session, "kobo").values["sex"]["1"] == "male"


def test_area_outside_the_office_is_refused(db_session, manager, new_batch, tmp_path):
    rows = member_rows("S1", nid_base=1, province="PK-SD", district="PK-SD-KHI")
    batch = services.check_batch(
        db_session, manager, new_batch(write(tmp_path, "s.csv", csv_bytes(rows)))
    )
    problem = _problems(db_session, batch)[0]
    assert batch.households_invalid == 1
    assert problem.column == "district" and "not served by" in problem.problem


def test_missing_key_column_is_explained(db_session, manager, new_batch, tmp_path):
    header = ["family", *HEADER[1:]]
    path = write(tmp_path, "nokey.csv", csv_bytes(survey_rows(1), header))
    try:
        services.check_batch(db_session, manager, new_batch(path))
    except services.ImportError_ as exc:
        assert "household key" in str(exc)
    else:
        raise AssertionError("expected ImportError_")


def test_problems_csv_lists_rows(db_session, manager, new_batch, tmp_path: Path):
    rows = survey_rows(1)
    rows[0][6] = "x"
    batch = services.check_batch(
        db_session, manager, new_batch(write(tmp_path, "p.csv", csv_bytes(rows)))
    )
    text = services.problems_csv(db_session, batch, "check")
    assert text.startswith("\ufeffrow,household_key,column")
    assert "2,H1,gender,x,error" in text
