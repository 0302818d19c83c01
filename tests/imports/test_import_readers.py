"""Reading what field teams send: encodings, separators, Excel dates, merged cells, formulas."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

from sw_mis.imports import services
from sw_mis.imports.mapping import Mapping
from sw_mis.imports.readers import ReadError, read_table
from tests.imports.helpers import HEADER, csv_bytes, registry_counts, survey_rows, write


def _rows(path: Path) -> list[tuple]:
    return [values for _, values in read_table(path).sheets[0].rows]


def test_utf8_with_bom(tmp_path):
    path = write(
        tmp_path, "bom.csv", b"\xef\xbb\xbf" + csv_bytes([["H1", "Zoë"]], ["hh_id", "name"])
    )
    table = read_table(path)
    assert table.sheets[0].headers == ["hh_id", "name"]
    assert table.sheets[0].rows[0][1] == ("H1", "Zoë")
    assert "UTF-8 (with BOM)" in table.notes[0]


def test_windows_1252_is_detected_and_flagged(tmp_path):
    path = write(
        tmp_path, "w.csv", csv_bytes([["H1", "José Nuñez"]], ["hh_id", "name"], encoding="cp1252")
    )
    table = read_table(path)
    assert table.sheets[0].rows[0][1][1] == "José Nuñez"
    assert any("not UTF-8" in n for n in table.notes)


@pytest.mark.parametrize(
    ("delimiter", "word"), [(";", "semicolons"), ("\t", "tabs"), (",", "commas")]
)
def test_separators_are_detected(tmp_path, delimiter, word):
    data = csv_bytes([["H1", "Khan, Aslam", "1,5"]], ["hh_id", "name", "land"], delimiter=delimiter)
    table = read_table(write(tmp_path, "s.csv", data))
    assert table.sheets[0].rows[0][1] == ("H1", "Khan, Aslam", "1,5")
    assert word in table.notes[0]


def test_empty_rows_are_skipped_and_numbers_kept(tmp_path):
    data = b"hh_id,name\r\nH1,A\r\n,\r\n\r\n  ,  \r\nH2,B\r\n"
    rows = read_table(write(tmp_path, "e.csv", data)).sheets[0].rows
    assert [(n, v[0]) for n, v in rows] == [(2, "H1"), (6, "H2")]


def test_size_limit_is_clear(tmp_path):
    path = write(tmp_path, "big.csv", b"hh_id\r\n" + b"H1\r\n" * 1000)
    with pytest.raises(ReadError, match="limit is 0 MB"):
        read_table(path, max_bytes=100)


def test_old_xls_is_refused_with_advice(tmp_path):
    with pytest.raises(ReadError, match="save it as"):
        read_table(write(tmp_path, "old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 100))


def _workbook(tmp_path: Path, rows: list[list], name: str = "w.xlsx") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "members"
    for row in rows:
        ws.append(row)
    path = tmp_path / name
    wb.save(path)
    return path


def test_excel_dates_serials_and_merged_cells(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["hh_id", "name", "dob", "dob2"])
    ws.append(["H1", "A", dt.datetime(1980, 5, 17), 29358])  # 29358 = 1980-05-16 as a serial
    ws.append([None, "B", dt.date(2010, 1, 2), None])
    ws.append([None, None, None, None])
    ws.append(["H2", "C", dt.datetime(1990, 1, 1, 0, 0), None])
    ws.merge_cells("A2:A3")  # the household key typed once for two members
    path = tmp_path / "m.xlsx"
    wb.save(path)
    table = read_table(path)
    rows = table.sheets[0].rows
    assert [r[0] for r in rows] == [2, 3, 5]
    assert rows[1][1][0] == "H1"  # filled from the merged range's top-left cell
    assert rows[0][1][2] == dt.date(1980, 5, 17)
    assert Mapping().convert("date_of_birth", rows[0][1][3]) == dt.date(1980, 5, 17)
    assert any("merged" in n for n in table.notes)


def test_uncalculated_formulas_are_refused(tmp_path):
    path = _workbook(tmp_path, [["hh_id", "size"], ["H1", "=1+2"]])
    with pytest.raises(ReadError, match="never calculated"):
        read_table(path)


def test_formula_cached_values_are_used_and_said(tmp_path):
    path = _workbook(tmp_path, [["hh_id", "size"], ["H1", "=1+2"]])
    # What Excel saves: the formula and the value it showed.
    patched = tmp_path / "cached.xlsx"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(patched, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                data = re.sub(
                    rb"<f>1\+2</f><v\s*/>|<f>1\+2</f>(<v></v>)?", b"<f>1+2</f><v>3</v>", data
                )
            dst.writestr(item, data)
    table = read_table(patched)
    assert table.sheets[0].rows[0][1] == ("H1", 3)
    assert any("formulas" in n for n in table.notes)


def test_two_sheet_workbook(db_session, manager, new_batch, tmp_path):
    wb = openpyxl.Workbook()
    hh = wb.active
    hh.title = "households"
    hh.append(["_index", "province", "district", "consent"])
    hh.append([1, "PK-PB", "PK-PB-LHR", "yes"])
    hh.append([2, "PK-PB", "PK-PB-LHR", "yes"])
    members = wb.create_sheet("members")
    members.append(["_parent_index", "name", "gender", "dob", "relation"])
    members.append([1, "Aslam", "m", dt.datetime(1970, 1, 1), "head"])
    members.append([1, "Sara", "f", dt.datetime(2001, 1, 1), "child"])
    members.append([2, "Nadia", "f", dt.datetime(1985, 1, 1), "spouse"])  # no head
    members.append([9, "Nobody", "f", dt.datetime(1985, 1, 1), "head"])
    path = tmp_path / "kobo.xlsx"
    wb.save(path)
    batch = services.check_batch(db_session, manager, new_batch(path))
    assert batch.summary["shape"] == "two sheets"
    assert (batch.households_valid, batch.households_invalid) == (1, 2)
    problems = services.batch_problems(db_session, batch, "check")[0]
    texts = {(p.row_number, p.problem) for p in problems}
    assert any("No household with this key" in t for _, t in texts)
    assert any(r == 4 and "head" in t for r, t in texts)


def test_ten_megabyte_file_is_checked(db_session, manager, new_batch, tmp_path):
    rows = [
        [*row, "Enumerator remarks: " + "household visited twice " * 50]
        for row in survey_rows(3000)
    ]
    path = write(tmp_path, "ten.csv", csv_bytes(rows, [*HEADER, "comments"]))
    assert path.stat().st_size > 10 * 1000 * 1000
    before = registry_counts(db_session)
    batch = services.check_batch(db_session, manager, new_batch(path))
    assert (batch.households_total, batch.households_valid) == (3000, 3000)
    assert batch.summary["unmapped"] == ["comments"]
    assert registry_counts(db_session) == before
