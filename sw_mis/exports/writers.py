"""Write a beneficiary list as CSV, XLSX, a printable PDF, or a JSON page.

Every writer consumes the rows as they stream from the database and holds no more than a
batch of them. Spreadsheet cells that a spreadsheet would run as a formula are neutralised.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

#: A cell starting with one of these is a formula to Excel, LibreOffice or Google Sheets
#: (tab and CR too, since some importers strip them and then see the formula).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_CHARS = "".join(FORMULA_START)
CSV_BOM = "\ufeff"  # Excel reads a CSV as UTF-8 only with it (Urdu names, accents)
CSV_BATCH = 2000
XLSX_MAX_ROW = 1_048_575  # data rows per sheet: Excel's 1,048,576 less the heading


@dataclass(frozen=True)
class Column:
    """One column of a list: its key, its heading, and whether it is a personal identifier."""

    key: str
    label: str
    identifier: bool = False
    kind: str = "text"  # text, int or date: how writers format the cell


#: Shorter headings where the spreadsheet's would not fit a printed column (English).
PDF_LABELS = {
    "head_name": "Head",
    "head_national_id": "Head's ID",
    "member_name": "Beneficiary",
    "date_of_birth": "Born",
    "relationship_to_head": "Relation",
    "national_id": "National ID",
    "admin3_name": "Sub-district",
}


@dataclass(frozen=True)
class Words:
    """The words the writers print of their own: sheet names, page numbers, totals.

    The writers know no language: English unless the caller passes them translated (plain
    ``str``; ``%(name)d`` placeholders are filled here).
    """

    list_sheet: str = "List"
    about_sheet: str = "About"
    rows: str = "Rows"
    page: str = "Page %(page)d"
    total: str = "Total: %(rows)d row(s)"
    total_households: str = "Total: %(rows)d row(s), %(households)d household(s)"
    #: Printed (PDF) headings by column key; other columns print their own label.
    short_labels: Mapping[str, str] = field(default_factory=lambda: dict(PDF_LABELS))


ENGLISH = Words()


def _sheet_name(name: str) -> str:
    """Return ``name`` as Excel accepts it: none of ``[]:*?/\\``, at most 31 characters."""
    return "".join(" " if ch in "[]:*?/\\" else ch for ch in name).strip()[:31] or "List"


def neutralise(value: Any) -> Any:
    """Return ``value`` with a leading apostrophe when a spreadsheet would run it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class Counted:
    """Wrap an iterable of rows and count them as they pass (for totals and the audit)."""

    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self._rows = iter(rows)
        self.count = 0

    def __iter__(self) -> Iterator[Sequence[Any]]:
        for row in self._rows:
            self.count += 1
            yield row


# --- CSV -----------------------------------------------------------------------------------------
def csv_chunks(
    cols: Sequence[Column], rows: Iterable[Sequence[Any]], batch_size: int = CSV_BATCH
) -> Iterator[bytes]:
    """Yield the list as UTF-8 CSV (with BOM), ``batch_size`` rows per chunk."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([c.label for c in cols])
    text = [i for i, c in enumerate(cols) if c.kind == "text"]
    yield (CSV_BOM + buf.getvalue()).encode("utf-8")
    buf.seek(0)
    buf.truncate()
    batch: list[Sequence[Any]] = []
    for row in rows:
        for i in text:
            value = row[i]
            # value[0] in a str is the cheapest test; only the rare hit pays for a copy.
            if value and value[0] in _FORMULA_CHARS:
                row = list(row)
                row[i] = "'" + value
        batch.append(row)
        if len(batch) == batch_size:
            writer.writerows(batch)
            batch.clear()
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    if batch:
        writer.writerows(batch)
        yield buf.getvalue().encode("utf-8")


def write_csv(cols: Sequence[Column], rows: Iterable[Sequence[Any]], out: IO[bytes]) -> None:
    """Write the list as CSV to the binary file ``out``."""
    for chunk in csv_chunks(cols, rows):
        out.write(chunk)


# --- XLSX ----------------------------------------------------------------------------------------
# Written directly as SpreadsheetML in a zip, one row at a time: XlsxWriter (even with
# constant_memory) spends ~20 µs a cell in Python, 5-10 times too slow for a million-row list.
# Every text cell is an inline string (t="inlineStr"), never a formula; dates are real dates.
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_EPOCH = dt.date(1899, 12, 30)  # Excel's day 0 (1900 date system, past its leap-year bug)
#: XML 1.0 forbids these control characters anywhere, even escaped.
_XML_FORBIDDEN = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32), 0xFFFE, 0xFFFF])
_STYLES = (
    f'{_HEAD}<styleSheet xmlns="{_MAIN}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
XLSX_ROWS_PER_WRITE = 500
BOLD = ' s="2"'  # the third cell format of _STYLES


def _xml_text(value: str) -> str:
    if not value.isprintable():  # a cheap test first: translate costs more than it
        value = value.translate(_XML_FORBIDDEN)
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    return value


def _column_letter(i: int) -> str:
    letters = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _inline(ref: str, text: str, style: str = "") -> str:
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f'<c r="{ref}" t="inlineStr"{style}><is><t{space}>{_xml_text(text)}</t></is></c>'


def write_xlsx(
    cols: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    out: IO[bytes] | str,
    about: Sequence[tuple[str, str]] = (),
    words: Words = ENGLISH,
) -> int:
    """Write the list as XLSX to ``out`` (a path or binary file), a row at a time; return rows."""
    import zipfile

    letters = [_column_letter(i) for i in range(len(cols))]
    kinds = [c.kind for c in cols]
    widths = "".join(
        f'<col min="{i}" max="{i}" width="{_xlsx_width(c)}" customWidth="1"/>'
        for i, c in enumerate(cols, start=1)
    )
    sheet_start = (
        f'{_HEAD}<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}"><sheetViews>'
        '<sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft"'
        ' state="frozen"/></sheetView></sheetViews>'
        f"<cols>{widths}</cols><sheetData>"
        '<row r="1">'
        + "".join(_inline(f"{letters[i]}1", c.label, BOLD) for i, c in enumerate(cols))
        + "</row>"
    )
    names: list[str] = []
    n = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        iterator = iter(rows)
        exhausted = False
        while not exhausted or not names:
            # Excel stops at 1,048,576 rows: a longer list goes on in a new sheet.
            sheet = _sheet_name(words.list_sheet)
            names.append(sheet if not names else f"{sheet[:25]} ({len(names) + 1})")
            with zf.open(f"xl/worksheets/sheet{len(names)}.xml", "w", force_zip64=True) as fh:
                fh.write(sheet_start.encode())
                r = 1
                parts: list[str] = []
                for row in iterator:
                    r += 1
                    n += 1
                    cells = []
                    for i, value in enumerate(row):
                        if value is None:
                            continue
                        ref = f"{letters[i]}{r}"
                        kind = kinds[i]
                        if kind == "int" and isinstance(value, int):
                            cells.append(f'<c r="{ref}"><v>{value}</v></c>')
                        elif kind == "date" and isinstance(value, dt.date):
                            serial = (value - _EPOCH).days
                            cells.append(f'<c r="{ref}" s="1"><v>{serial}</v></c>')
                        else:
                            cells.append(_inline(ref, neutralise(str(value))))
                    parts.append(f'<row r="{r}">{"".join(cells)}</row>')
                    if len(parts) == XLSX_ROWS_PER_WRITE:
                        fh.write("".join(parts).encode())
                        parts.clear()
                    if r > XLSX_MAX_ROW:
                        break
                else:
                    exhausted = True
                fh.write(("".join(parts) + "</sheetData></worksheet>").encode())
        names.append(_sheet_name(words.about_sheet))
        lines = [*about, (words.rows, str(n))]
        zf.writestr(
            f"xl/worksheets/sheet{len(names)}.xml",
            (
                f'{_HEAD}<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}"><cols>'
                '<col min="1" max="1" width="18" customWidth="1"/>'
                '<col min="2" max="2" width="60" customWidth="1"/></cols><sheetData>'
                + "".join(
                    f'<row r="{i}">{_inline(f"A{i}", k, BOLD)}'
                    f"{_inline(f'B{i}', neutralise(v))}</row>"
                    for i, (k, v) in enumerate(lines, start=1)
                )
                + "</sheetData></worksheet>"
            ),
        )
        _xlsx_package(zf, names)
    return n


def _xlsx_package(zf: Any, names: list[str]) -> None:
    """Write the parts that tie the sheets into a workbook."""
    count = len(names)
    # Sheet names may come translated: escape them as the attribute values they are.
    quoted = [_xml_text(name).replace('"', "&quot;") for name in names]
    zf.writestr(
        "[Content_Types].xml",
        (
            f'{_HEAD}<Types xmlns="{_PKG}/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.sheet.main+xml"/>'
            + "".join(
                f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                for i in range(1, count + 1)
            )
            + '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.styles+xml"/></Types>'
        ),
    )
    zf.writestr(
        "_rels/.rels",
        (
            f'{_HEAD}<Relationships xmlns="{_PKG}/relationships">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
    )
    zf.writestr(
        "xl/workbook.xml",
        (
            f'{_HEAD}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
            + "".join(
                f'<sheet name="{name}" sheetId="{i}" r:id="rId{i}"/>'
                for i, name in enumerate(quoted, start=1)
            )
            + "</sheets></workbook>"
        ),
    )
    zf.writestr(
        "xl/_rels/workbook.xml.rels",
        (
            f'{_HEAD}<Relationships xmlns="{_PKG}/relationships">'
            + "".join(
                f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" '
                f'Target="worksheets/sheet{i}.xml"/>'
                for i in range(1, count + 1)
            )
            + f'<Relationship Id="rId{count + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
            "</Relationships>"
        ),
    )
    zf.writestr("xl/styles.xml", _STYLES)


def _xlsx_width(col: Column) -> int:
    if col.key.endswith("_name") or col.key == "locality":
        return 24
    return {"date": 12, "int": 10}.get(col.kind, 14)


# --- PDF -----------------------------------------------------------------------------------------
#: Columns printed on paper (codes stay in the spreadsheets): fixed widths (points) for values
#: of known length, relative shares of the rest of the line for names and places.
PDF_FIXED = {
    "household": 72,
    "head_national_id": 80,
    "national_id": 80,
    "date_of_birth": 60,
    "sex": 42,
    "relationship_to_head": 62,
}
PDF_SHARES = {
    "admin2_name": 1.0,
    "admin3_name": 1.0,
    "locality": 1.1,
    "head_name": 1.6,
    "member_name": 1.6,
}
PDF_FONT_SIZE = 8


def _pdf_fonts() -> tuple[str, str, bool]:
    """Return (regular, bold, unicode): DejaVu/Noto when installed, else Helvetica (Latin-1)."""
    from sw_mis.referrals.slips import SlipFontError, font_runs

    try:
        font_runs("a")  # registers the slip fonts once per process
    except SlipFontError:
        return "Helvetica", "Helvetica-Bold", False
    return "SwSans", "SwSans-Bold", True


class _PdfText:
    """Draw one line of text clipped to a width, in the font that has each character."""

    def __init__(self, canvas: Any, size: float) -> None:
        self.canvas = canvas
        self.size = size
        self.regular, self.bold, self.unicode = _pdf_fonts()

    def _runs(self, text: str, bold: bool) -> list[tuple[str, str]]:
        from sw_mis.referrals.slips import font_runs, shape

        font = self.bold if bold else self.regular
        if text.isascii():
            return [(font, text)]
        if not self.unicode:
            return [(font, text.encode("latin-1", "replace").decode("latin-1"))]
        # Urdu and other right-to-left names: joined and put in display order for reportlab.
        return font_runs(shape(text), bold)

    def width(self, text: str, bold: bool = False) -> float:
        """Return the width ``text`` takes when drawn."""
        from reportlab.pdfbase.pdfmetrics import stringWidth

        from sw_mis.referrals.slips import font_size

        return sum(
            stringWidth(chunk, font, font_size(font, self.size))
            for font, chunk in self._runs(text, bold)
        )

    def draw(self, x: float, y: float, text: str, width: float, bold: bool = False) -> None:
        """Draw ``text`` at (x, y), cut with an ellipsis if wider than ``width``."""
        from reportlab.pdfbase.pdfmetrics import stringWidth

        from sw_mis.referrals.slips import font_size

        runs = self._runs(text, bold)
        used = 0.0
        for font, chunk in runs:
            size = font_size(font, self.size)
            w = stringWidth(chunk, font, size)
            if used + w > width:
                ell = stringWidth("…", self.regular, self.size) if self.unicode else 0
                while chunk and used + stringWidth(chunk, font, size) + ell > width:
                    chunk = chunk[:-1]
                self.canvas.setFont(font, size)
                self.canvas.drawString(x + used, y, chunk + ("…" if self.unicode else ""))
                return
            self.canvas.setFont(font, size)
            self.canvas.drawString(x + used, y, chunk)
            used += w


def write_pdf(
    cols: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    out: IO[bytes] | str,
    title: str,
    subtitle: str,
    words: Words = ENGLISH,
) -> tuple[int, int]:
    """Write a printable list (A4 landscape, header repeated on every page, totals at the end).

    Return (rows, households).
    """
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    page_w, page_h = landscape(A4)
    margin = 12 * mm
    line = PDF_FONT_SIZE * 1.55
    canvas = Canvas(out, pagesize=(page_w, page_h), pageCompression=1)
    canvas.setTitle(title)
    text = _PdfText(canvas, PDF_FONT_SIZE)
    keys = [c.key for c in cols]
    printed = [(i, c) for i, c in enumerate(cols) if c.key in PDF_FIXED or c.key in PDF_SHARES]
    number_w = 12 * mm
    free = page_w - 2 * margin - number_w - sum(PDF_FIXED.get(c.key, 0) for _, c in printed)
    shares = sum(PDF_SHARES.get(c.key, 0) for _, c in printed) or 1
    widths = [PDF_FIXED.get(c.key) or free * PDF_SHARES[c.key] / shares for _, c in printed]
    xs = [margin + number_w + sum(widths[:i]) for i in range(len(widths))]
    pad = 1.5 * mm
    hh_index = keys.index("household")
    page = 0
    y = 0.0

    def new_page() -> float:
        nonlocal page
        if page:
            canvas.showPage()
        page += 1
        top = page_h - margin
        text.size = 12
        text.draw(margin, top - 12, title, page_w - 2 * margin, bold=True)
        text.size = PDF_FONT_SIZE
        text.draw(margin, top - 26, subtitle, page_w - 2 * margin)
        # Drawn by text.draw, not drawRightString: a translated word may need another font.
        text.size = 7
        number = words.page % {"page": page}
        number_width = text.width(number)
        text.draw(page_w - margin - number_width, margin - 14, number, number_width + 1)
        text.size = PDF_FONT_SIZE
        head_y = top - 44
        canvas.setFillColor(colors.HexColor("#E9ECEF"))
        canvas.rect(margin, head_y - 3, page_w - 2 * margin, line, stroke=0, fill=1)
        canvas.setFillColor(colors.black)
        text.draw(margin + pad, head_y, "#", number_w - 2 * pad, bold=True)
        for (_, c), x, w in zip(printed, xs, widths, strict=True):
            label = words.short_labels.get(c.key, c.label)
            text.draw(x + pad, head_y, label, w - 2 * pad, bold=True)
        return head_y - line

    y = new_page()
    count = households = 0
    last_household = None
    for row in rows:
        if y < margin + line:
            y = new_page()
        count += 1
        if row[hh_index] != last_household:
            households += 1
            last_household = row[hh_index]
        text.draw(margin + pad, y, str(count), number_w - 2 * pad)
        for (i, _), x, w in zip(printed, xs, widths, strict=True):
            value = row[i]
            if value is not None:
                text.draw(x + pad, y, _pdf_value(value), w - 2 * pad)
        canvas.setStrokeColor(colors.HexColor("#DEE2E6"))
        canvas.line(margin, y - 3, page_w - margin, y - 3)
        y -= line
    if y < margin + 2 * line:
        y = new_page()
    if "member_id" in keys:
        total = words.total_households % {"rows": count, "households": households}
    else:
        total = words.total % {"rows": count}
    text.draw(margin, y - line / 2, total, page_w - 2 * margin, bold=True)
    canvas.save()
    return count, households


def _pdf_value(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


# --- JSON ----------------------------------------------------------------------------------------
def group_households(cols: Sequence[Column], rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Group rows (ordered by household) into ``{household, …, members: [id…], people: […]}``."""
    from sw_mis.eligibility.service import jsonable

    keys = [c.key for c in cols]
    # services.columns puts the member's columns last, starting with member_id.
    member_keys = set(keys[keys.index("member_id") :]) if "member_id" in keys else set()
    items: list[dict[str, Any]] = []
    for row in rows:
        data = dict(zip(keys, row, strict=True))
        if not items or items[-1]["household"] != data["household"]:
            items.append(
                {
                    **{k: jsonable(v) for k, v in data.items() if k not in member_keys},
                    "members": [],
                    "people": [],
                }
            )
        if member_keys:
            person = {k: jsonable(data[k]) for k in keys if k in member_keys}
            items[-1]["members"].append(person["member_id"])
            items[-1]["people"].append(person)
    return items
