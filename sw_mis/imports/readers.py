"""Read survey exports (CSV or XLSX) into plain sheets of rows, saying how they were read.

Field teams send whatever their tools produce: CSV in UTF-8 with or without a byte-order mark,
or in a Windows code page; commas, semicolons (Excel in French or Portuguese) or tabs; XLSX
with dates, merged cells and formulas. Each is turned into a :class:`Sheet` of rows numbered as
the data manager sees them in Excel (the header is row 1), with blank rows left out.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from defusedxml.ElementTree import iterparse

#: Files above this size are refused unless the caller allows more.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
CSV_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
#: A merged range larger than this is a layout decoration, not data to fill in.
MAX_MERGED_CELLS = 100_000


class ReadError(ValueError):
    """The file cannot be read as a table; the message says what to do about it."""


@dataclass
class Sheet:
    """One table: its column names and its non-blank rows as (row number, values)."""

    name: str
    headers: list[str]
    rows: list[tuple[int, tuple[Any, ...]]] = field(default_factory=list)


@dataclass
class Table:
    """A file read into sheets, with notes on how it was read (encoding, separator, formulas)."""

    sheets: list[Sheet]
    notes: list[str] = field(default_factory=list)

    def sheet(self, name: str | None) -> Sheet | None:
        """Return the sheet called ``name`` (case-insensitive), or None."""
        if name is None:
            return None
        wanted = name.strip().lower()
        return next((s for s in self.sheets if s.name.strip().lower() == wanted), None)


def read_table(
    path: Path, filename: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Table:
    """Read ``path`` (named ``filename`` by the user) as CSV or XLSX, or raise ReadError."""
    name = filename or path.name
    size = path.stat().st_size
    if size > max_bytes:
        raise ReadError(
            f"The file is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB. "
            "Split it into several files (by district, for example) and import each."
        )
    if size == 0:
        raise ReadError("The file is empty.")
    suffix = Path(name).suffix.lower()
    with path.open("rb") as fh:
        magic = fh.read(4)
    if suffix in XLSX_SUFFIXES or magic == b"PK\x03\x04":
        return read_xlsx(path)
    if suffix == ".xls" or magic == b"\xd0\xcf\x11\xe0":
        raise ReadError(
            "This is an old Excel file (.xls). Open it in Excel or LibreOffice and save it as "
            ".xlsx or as CSV, then import that."
        )
    return read_csv(path.read_bytes())


# --- CSV ---------------------------------------------------------------------------------------
def decode(raw: bytes) -> tuple[str, str]:
    """Return (text, encoding name): UTF-8 (with or without BOM), UTF-16, else Windows-1252."""
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace"), "UTF-8 (with BOM)"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16"), "UTF-16"
    try:
        return raw.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        # Excel's "CSV" on Western European Windows; the usual non-UTF-8 export in the field.
        return raw.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:
        # Latin-1 decodes every byte: a last resort, flagged in the notes for a human to check.
        return raw.decode("latin-1"), "Latin-1"


def sniff_delimiter(text: str) -> str:
    """Return the separator of a CSV text: comma, semicolon, tab or pipe."""
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    try:
        found = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter
    except csv.Error:
        found = ""
    # The sniffer can be fooled by commas inside quoted names; the header line cannot.
    if found and counts.get(found, 0) > 0:
        return found
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(raw: bytes) -> Table:
    """Read CSV bytes: detect the encoding and the separator, skip blank rows."""
    text, encoding = decode(raw)
    delimiter = sniff_delimiter(text)
    notes = [f"Read as CSV, {encoding}, columns separated by {_SEPARATORS[delimiter]}."]
    if encoding in ("Windows-1252", "Latin-1"):
        notes.append(
            f"The file is not UTF-8: it was read as {encoding}. Check that accented names look "
            "right below; if not, save the file again as 'CSV UTF-8'."
        )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration as exc:
        raise ReadError("The file has no header row.") from exc
    headers = _headers(header)
    width = len(headers)
    rows: list[tuple[int, tuple[Any, ...]]] = []
    try:
        for number, record in enumerate(reader, start=2):
            if not any(cell.strip() for cell in record):
                continue
            if len(record) < width:
                record = record + [""] * (width - len(record))
            rows.append((number, tuple(record[:width])))
    except csv.Error as exc:
        raise ReadError(f"The CSV file is malformed near row {reader.line_num}: {exc}.") from exc
    return Table([Sheet("csv", headers, rows)], notes)


_SEPARATORS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars"}


def _headers(cells: list[Any] | tuple[Any, ...]) -> list[str]:
    headers = []
    for i, cell in enumerate(cells, start=1):
        name = str(cell).strip().lstrip("\ufeff") if cell is not None else ""
        headers.append(name or f"column_{i}")
    while headers and headers[-1].startswith("column_") and len(headers) > 1:
        headers.pop()  # trailing empty header cells are just the sheet's used range
    seen: set[str] = set()
    for name in headers:
        if name.lower() in seen:
            raise ReadError(f"Two columns are called '{name}'. Rename one of them.")
        seen.add(name.lower())
    return headers


# --- XLSX --------------------------------------------------------------------------------------
def _scan_sheet_xml(source: Any) -> tuple[list[str], int, list[str]]:
    """Return (merged ranges, formula cells with a value, formula cells never calculated)."""
    merges: list[str] = []
    cached = 0
    uncalculated: list[str] = []
    for _event, elem in iterparse(source, events=("end",)):
        tag = elem.tag
        if tag == f"{_NS}c":
            formula = elem.find(f"{_NS}f")
            if formula is not None:
                value = elem.find(f"{_NS}v")
                if value is None or value.text is None:
                    uncalculated.append(elem.get("r", "?"))
                else:
                    cached += 1
            elem.clear()
        elif tag == f"{_NS}mergeCell":
            merges.append(elem.get("ref", ""))
        elif tag == f"{_NS}row":
            elem.clear()
    return merges, cached, uncalculated


def _cell_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        # Excel has no date type: a date is a datetime at midnight.
        return value.date() if value.time() == dt.time(0) else value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)  # IDs and counts typed as numbers come back as floats
    if isinstance(value, str):
        return value.strip()
    return value


def read_xlsx(path: Path) -> Table:
    """Read every sheet of an XLSX workbook (cached formula values, merged cells filled)."""
    try:
        import openpyxl
        from openpyxl.utils.cell import range_boundaries
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ReadError("Reading XLSX needs the openpyxl package.") from exc
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ReadError(
            "This file cannot be opened as an Excel workbook. Save it again from Excel as .xlsx."
        ) from exc
    sheets: list[Sheet] = []
    notes: list[str] = []
    try:
        for ws in workbook.worksheets:
            with ws._get_source() as source:  # the sheet's XML, for what read-only mode hides
                merges, cached, uncalculated = _scan_sheet_xml(source)
            if uncalculated:
                shown = ", ".join(uncalculated[:5]) + ("…" if len(uncalculated) > 5 else "")
                raise ReadError(
                    f"Sheet '{ws.title}' has formulas that were never calculated ({shown}): the "
                    "file was not saved by a spreadsheet program. Open it in Excel or "
                    "LibreOffice, save it, and import it again (or paste the cells as values)."
                )
            if cached:
                notes.append(
                    f"Sheet '{ws.title}': {cached} cell(s) hold formulas; the values they showed "
                    "when the file was last saved were imported, not the formulas."
                )
            ws.reset_dimensions()  # a wrong <dimension> element would otherwise cut rows off
            grid = [list(r) for r in ws.iter_rows(min_row=1, values_only=True)]
            if merges:
                filled = _fill_merged(grid, merges, range_boundaries)
                notes.append(
                    f"Sheet '{ws.title}': {len(merges)} merged cell range(s); each cell of a "
                    f"range took the value of its top-left cell ({filled} cells filled)."
                )
            sheet = _grid_to_sheet(ws.title, grid)
            if sheet is not None:
                sheets.append(sheet)
    finally:
        workbook.close()
    if not sheets:
        raise ReadError("The workbook has no sheet with a header row and data.")
    notes.insert(0, f"Read as an Excel workbook: {', '.join(s.name for s in sheets)}.")
    return Table(sheets, notes)


def _fill_merged(grid: list[list[Any]], merges: list[str], boundaries: Any) -> int:
    filled = 0
    for ref in merges:
        min_col, min_row, max_col, max_row = boundaries(ref)
        if (max_col - min_col + 1) * (max_row - min_row + 1) > MAX_MERGED_CELLS:
            continue
        if min_row > len(grid):
            continue
        top = grid[min_row - 1]
        value = top[min_col - 1] if min_col - 1 < len(top) else None
        for r in range(min_row, min(max_row, len(grid)) + 1):
            row = grid[r - 1]
            if len(row) < max_col:
                row.extend([None] * (max_col - len(row)))
            for c in range(min_col, max_col + 1):
                if (r, c) != (min_row, min_col):
                    row[c - 1] = value
                    filled += 1
    return filled


def _grid_to_sheet(name: str, grid: list[list[Any]]) -> Sheet | None:
    start = next((i for i, row in enumerate(grid) if any(_present(v) for v in row)), None)
    if start is None:
        return None
    headers = _headers(grid[start])
    width = len(headers)
    rows = []
    for index in range(start + 1, len(grid)):
        values = [_cell_value(v) for v in grid[index][:width]]
        if not any(_present(v) for v in values):
            continue
        values.extend([None] * (width - len(values)))
        rows.append((index + 1, tuple(values)))
    return Sheet(name, headers, rows)


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())
