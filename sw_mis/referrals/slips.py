"""Referral slips as PDF (reportlab): one page per slip, several slips in one document.

reportlab neither picks a font per script nor shapes right-to-left text, so this module does
both: every string is split into runs by the font that has its glyphs (DejaVu Sans for Latin and
most scripts, Noto Naskh Arabic for Arabic-script text such as Urdu), and Arabic-script text is
joined into its contextual forms (arabic-reshaper) and put in display order (python-bidi) line by
line, after wrapping, so a long right-to-left text keeps its lines in reading order.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import arabic_reshaper
from bidi import get_display
from reportlab.graphics.barcode import qrencoder
from reportlab.graphics.barcode.code128 import Code128Auto
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4, A5
from reportlab.lib.rl_accel import fp_str
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.pdfgen.pathobject import PDFPathObject
from reportlab.platypus import Flowable, Frame, Paragraph, Table, TableStyle

PAGE_SIZES = {"A5": A5, "A4": A4}
LANGUAGES = ("en", "es", "fr", "pt", "ur")
RTL_LANGUAGES = frozenset({"ur"})

#: Slip labels per language (Flask-Babel will take over; these are the printed words only).
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Referral slip",
        "ref": "Reference",
        "date": "Date issued",
        "valid_until": "Valid until",
        "household": "Household",
        "head": "Head of household",
        "beneficiary": "Beneficiary",
        "whole_household": "The whole household",
        "scheme": "Programme",
        "agency": "Agency",
        "go_to": "Where to go",
        "office": "Office",
        "address": "Address",
        "hours": "Opening hours",
        "documents": "Documents to bring",
        "why": "Why you were referred",
        "issued_by": "Issued by",
        "counter": "Counter",
        "verify": "Scan to check that this slip is genuine",
        "copy": "COPY",
    },
    "es": {
        "title": "Hoja de referencia",
        "ref": "Referencia",
        "date": "Fecha de emisión",
        "valid_until": "Válida hasta",
        "household": "Hogar",
        "head": "Jefe/a del hogar",
        "beneficiary": "Beneficiario/a",
        "whole_household": "Todo el hogar",
        "scheme": "Programa",
        "agency": "Institución",
        "go_to": "Dónde acudir",
        "office": "Oficina",
        "address": "Dirección",
        "hours": "Horario de atención",
        "documents": "Documentos que debe llevar",
        "why": "Por qué fue referido/a",
        "issued_by": "Emitida por",
        "counter": "Ventanilla",
        "verify": "Escanee para comprobar que esta hoja es auténtica",
        "copy": "COPIA",
    },
    "fr": {
        "title": "Fiche d'orientation",
        "ref": "Référence",
        "date": "Date d'émission",
        "valid_until": "Valable jusqu'au",
        "household": "Ménage",
        "head": "Chef de ménage",
        "beneficiary": "Bénéficiaire",
        "whole_household": "Tout le ménage",
        "scheme": "Programme",
        "agency": "Organisme",
        "go_to": "Où vous présenter",
        "office": "Bureau",
        "address": "Adresse",
        "hours": "Heures d'ouverture",
        "documents": "Documents à apporter",
        "why": "Pourquoi vous êtes orienté(e)",
        "issued_by": "Délivrée par",
        "counter": "Guichet",
        "verify": "Scannez pour vérifier l'authenticité de cette fiche",
        "copy": "COPIE",
    },
    "pt": {
        "title": "Guia de encaminhamento",
        "ref": "Referência",
        "date": "Data de emissão",
        "valid_until": "Válida até",
        "household": "Agregado familiar",
        "head": "Chefe do agregado",
        "beneficiary": "Beneficiário/a",
        "whole_household": "Todo o agregado",
        "scheme": "Programa",
        "agency": "Entidade",
        "go_to": "Onde se dirigir",
        "office": "Serviço",
        "address": "Endereço",
        "hours": "Horário de atendimento",
        "documents": "Documentos a levar",
        "why": "Porque foi encaminhado/a",
        "issued_by": "Emitida por",
        "counter": "Balcão",
        "verify": "Leia o código para confirmar que esta guia é autêntica",
        "copy": "CÓPIA",
    },
    "ur": {
        "title": "ریفرل سلپ",
        "ref": "حوالہ نمبر",
        "date": "تاریخ اجرا",
        "valid_until": "آخری تاریخ",
        "household": "گھرانہ",
        "head": "سربراہ خانہ",
        "beneficiary": "مستفید",
        "whole_household": "پورا گھرانہ",
        "scheme": "پروگرام",
        "agency": "ادارہ",
        "go_to": "کہاں جائیں",
        "office": "دفتر",
        "address": "پتہ",
        "hours": "اوقات کار",
        "documents": "ساتھ لانے والے کاغذات",
        "why": "آپ کو کیوں بھیجا گیا",
        "issued_by": "جاری کنندہ",
        "counter": "کاؤنٹر",
        "verify": "اس سلپ کی تصدیق کے لیے اسکین کریں",
        "copy": "نقل",
    },
}


@dataclass(frozen=True)
class SlipData:
    """Everything printed on one slip, already resolved to plain text."""

    ref: str
    issued_on: dt.date
    household_ref: str
    head_name: str
    scheme_name: str
    verify_url: str
    expires_on: dt.date | None = None
    #: None means the whole household is referred.
    beneficiary_name: str | None = None
    agency: str = ""
    office_name: str = ""
    office_address: str = ""
    office_hours: str = ""
    documents: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    clerk_name: str = ""
    issuing_office: str = ""
    counter: str = ""
    language: str = "en"
    copy: bool = False
    extra: dict[str, str] = field(default_factory=dict)


class SlipFontError(RuntimeError):
    """The Unicode fonts slips embed are not installed."""


# --- fonts ------------------------------------------------------------------------------------
FONT_FILES = {
    "SwSans": "DejaVuSans.ttf",
    "SwSans-Bold": "DejaVuSans-Bold.ttf",
    "SwArabic": "NotoNaskhArabic-Regular.ttf",
    "SwArabic-Bold": "NotoNaskhArabic-Bold.ttf",
}
FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/truetype/noto",
    "/usr/share/fonts/opentype/noto",
    "/usr/share/fonts",
    "/usr/local/share/fonts",
)
#: Naskh's letters look small beside DejaVu's at the same point size.
ARABIC_SCALE = 1.18
_BIDI_CONTROLS = dict.fromkeys(
    map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)
_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")


def _find_font(filename: str) -> Path:
    extra = [d for d in os.environ.get("SW_MIS_FONT_DIRS", "").split(os.pathsep) if d]
    for folder in [*extra, *FONT_DIRS]:
        direct = Path(folder) / filename
        if direct.is_file():
            return direct
    for folder in [*extra, *FONT_DIRS]:
        found = next(Path(folder).rglob(filename), None) if Path(folder).is_dir() else None
        if found:
            return found
    raise SlipFontError(
        f"font {filename} not found: install Debian's fonts-dejavu-core and fonts-noto-core, "
        "or point SW_MIS_FONT_DIRS at a folder holding it"
    )


@cache
def _fonts() -> dict[str, frozenset[int]]:
    """Register the slip fonts once per process; return each font's character coverage."""
    coverage: dict[str, frozenset[int]] = {}
    for name, filename in FONT_FILES.items():
        font = TTFont(name, str(_find_font(filename)))
        pdfmetrics.registerFont(font)
        coverage[name] = frozenset(font.face.charToGlyph)
    return coverage


def _font_for(char: str, bold: bool) -> str:
    coverage = _fonts()
    suffix = "-Bold" if bold else ""
    latin, arabic = "SwSans" + suffix, "SwArabic" + suffix
    if _ARABIC_SCRIPT.match(char) and ord(char) in coverage[arabic]:
        return arabic
    return latin


def font_runs(text: str, bold: bool = False) -> list[tuple[str, str]]:
    """Split ``text`` into ``(font name, text)`` runs; spaces stay with the run before them."""
    return list(_font_runs(text, bold))


# Slips repeat the same labels, headings and scheme texts page after page: the per-character
# font choice and the Arabic shaping of a string are pure, so each is worked out once.
@lru_cache(maxsize=4096)
def _font_runs(text: str, bold: bool) -> tuple[tuple[str, str], ...]:
    runs: list[tuple[str, str]] = []
    for char in text.translate(_BIDI_CONTROLS):
        font = runs[-1][0] if runs and char.isspace() else _font_for(char, bold)
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + char)
        else:
            runs.append((font, char))
    return tuple(runs)


_reshape = lru_cache(maxsize=4096)(arabic_reshaper.reshape)
_display = lru_cache(maxsize=4096)(get_display)


def font_size(font: str, size: float) -> float:
    """Return the size to draw ``font`` at so that it matches the Latin text's ``size``."""
    return size * ARABIC_SCALE if font.startswith("SwArabic") else size


def run_width(runs: Iterable[tuple[str, str]], size: float) -> float:
    """Return the width of ``runs`` drawn at ``size``."""
    return sum(pdfmetrics.stringWidth(t, f, font_size(f, size)) for f, t in runs)


def ltr(text: str) -> str:
    """Isolate ``text`` as left-to-right, so dates and numbers keep their order in RTL lines."""
    return f"\u2066{text}\u2069"


def has_rtl(text: str) -> bool:
    """Return True if ``text`` holds Arabic-script characters (needs shaping and bidi)."""
    return bool(_ARABIC_SCRIPT.search(text))


def shape(text: str, base_dir: str | None = None) -> str:
    """Return ``text`` joined into Arabic contextual forms and put in display order."""
    if not has_rtl(text):
        return text
    return _display(_reshape(text), base_dir=base_dir)


def _markup(text: str, bold: bool = False) -> str:
    return "".join(
        f'<font face="{font}">{escape(chunk)}</font>' for font, chunk in font_runs(text, bold)
    )


class BidiText(Flowable):
    """A paragraph that may hold right-to-left text: wrapped in logical order, drawn shaped."""

    def __init__(self, text: str, style: ParagraphStyle, bold: bool = False) -> None:
        super().__init__()
        self.text = text
        self.style = style
        self.bold = bold
        self.rtl = bool(has_rtl(text)) and _first_strong_is_rtl(text)
        self._lines: list[str] = []

    def _width(self, text: str) -> float:
        return run_width(font_runs(text, self.bold), self.style.fontSize)

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        """Break the reshaped logical text into lines that fit ``availWidth``."""
        logical = _reshape(self.text)
        lines: list[str] = []
        current = ""
        for word in logical.split():
            candidate = f"{current} {word}" if current else word
            if current and self._width(candidate) > availWidth:
                lines.append(current)
                current = word
            else:
                current = candidate
        lines.append(current)
        self._lines = lines
        self.width = availWidth
        self.leading = self.style.leading * ARABIC_SCALE
        self.height = len(lines) * self.leading
        return availWidth, self.height

    def draw(self) -> None:
        """Draw each line in display order, right-aligned for right-to-left text."""
        canvas = self.canv
        size = self.style.fontSize
        right = self.rtl or self.style.alignment == TA_RIGHT
        # First baseline one (scaled) em below the top, like a Paragraph's, so rows line up.
        y = self.height - size * ARABIC_SCALE
        canvas.setFillColor(self.style.textColor)
        for line in self._lines:
            visual = _display(line, base_dir="R" if self.rtl else "L")
            x = self.width - self._width(visual) if right else 0
            for font, chunk in font_runs(visual, self.bold):
                canvas.setFont(font, font_size(font, size))
                canvas.drawString(x, y, chunk)
                x += pdfmetrics.stringWidth(chunk, font, font_size(font, size))
            y -= self.leading


def _first_strong_is_rtl(text: str) -> bool:
    for char in text:
        if _ARABIC_SCRIPT.match(char):
            return True
        if char.isalpha():
            return False
    return False


# --- layout -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Styles:
    body: ParagraphStyle
    bold: ParagraphStyle
    label: ParagraphStyle
    heading: ParagraphStyle
    small: ParagraphStyle
    title_size: float
    ref_size: float


@cache
def _styles(page_size: str, rtl: bool) -> _Styles:
    base = 9.0 if page_size == "A5" else 10.5
    align = TA_RIGHT if rtl else TA_LEFT
    body = ParagraphStyle(
        "slip-body", fontName="SwSans", fontSize=base, leading=base * 1.3, alignment=align
    )
    return _Styles(
        body=body,
        bold=ParagraphStyle("slip-bold", parent=body, fontName="SwSans-Bold"),
        label=ParagraphStyle(
            "slip-label",
            parent=body,
            fontSize=base - 1,
            leading=(base - 1) * 1.3,
            textColor=colors.HexColor("#444444"),
        ),
        heading=ParagraphStyle(
            "slip-heading",
            parent=body,
            fontName="SwSans-Bold",
            fontSize=base + 1,
            leading=(base + 1) * 1.35,
            spaceBefore=base * 0.8,
            spaceAfter=base * 0.25,
        ),
        small=ParagraphStyle(
            "slip-small",
            parent=body,
            fontSize=base - 2.5,
            leading=(base - 2.5) * 1.25,
            alignment=TA_LEFT,
        ),
        title_size=base + 7,
        ref_size=base + 5,
    )


def _text(text: str, style: ParagraphStyle, bold: bool = False) -> Flowable:
    """Return a flowable for ``text``: a Paragraph, or a BidiText if it holds RTL script."""
    if has_rtl(text):
        return BidiText(text, style, bold=bold)
    return Paragraph(_markup(text, bold), style)


def _bullets(items: Iterable[str], style: ParagraphStyle, mark: str, rtl: bool) -> list[Flowable]:
    rows = [
        [_text(item, style), _text(mark, style)]
        if rtl
        else [_text(mark, style), _text(item, style)]
        for item in items
    ]
    if not rows:
        return []
    indent = style.fontSize * 1.6
    widths = [None, indent] if rtl else [indent, None]
    table = Table(rows, colWidths=widths, hAlign="RIGHT" if rtl else "LEFT")
    table.setStyle(_TABLE_STYLE)
    return [table]


_TABLE_STYLE = TableStyle(
    [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 1),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
    ]
)


def _pairs(
    rows: Sequence[tuple[str, str]], st: _Styles, width: float, rtl: bool, bold_values: bool = True
) -> Table:
    label_w = width * 0.3
    cells = []
    for label, value in rows:
        lab = _text(label, st.label)
        val = _text(value, st.bold if bold_values else st.body, bold=bold_values)
        cells.append([val, lab] if rtl else [lab, val])
    widths = [width - label_w, label_w] if rtl else [label_w, width - label_w]
    table = Table(cells, colWidths=widths)
    table.setStyle(_TABLE_STYLE)
    return table


def _body(slip: SlipData, st: _Styles, width: float, rtl: bool) -> list[Flowable]:
    t = LABELS.get(slip.language, LABELS["en"])
    who = [
        (t["household"], slip.household_ref),
        (t["head"], slip.head_name),
        (t["beneficiary"], slip.beneficiary_name or t["whole_household"]),
        (t["scheme"], slip.scheme_name),
    ]
    if slip.agency:
        who.append((t["agency"], slip.agency))
    story: list[Flowable] = [_pairs(who, st, width, rtl)]
    where = [
        (t[key], value)
        for key, value in (
            ("office", slip.office_name),
            ("address", slip.office_address),
            ("hours", slip.office_hours),
        )
        if value
    ]
    if where:
        story += [_text(t["go_to"], st.heading, bold=True), _pairs(where, st, width, rtl, False)]
    if slip.documents:
        story.append(_text(t["documents"], st.heading, bold=True))
        story += _bullets(slip.documents, st.body, "☐", rtl)
    if slip.reasons:
        story.append(_text(t["why"], st.heading, bold=True))
        story += _bullets(slip.reasons, st.body, "✓", rtl)
    return story


def _draw_string(
    canvas: Canvas,
    x: float,
    y: float,
    text: str,
    size: float,
    bold: bool = False,
    anchor: str = "left",
) -> float:
    """Draw one line of any script at ``(x, y)``; return its width."""
    visual = shape(text)
    runs = font_runs(visual, bold)
    width = run_width(runs, size)
    if anchor == "right":
        x -= width
    elif anchor == "centre":
        x -= width / 2
    for font, chunk in runs:
        canvas.setFont(font, font_size(font, size))
        canvas.drawString(x, y, chunk)
        x += pdfmetrics.stringWidth(chunk, font, font_size(font, size))
    return width


# --- QR code ----------------------------------------------------------------------------------
# reportlab's encoder (``qrencoder.QRCode``) is pure Python and lays the whole symbol out and
# scores it once per mask pattern, which took over half of a slip's rendering time. The symbol
# below is the same one, module for module (tests compare them): reportlab's bit stream and
# layout helpers, with the parts that never change for a version (function patterns, data
# positions, generator polynomials, the modules each mask flips) computed once per process.
_QR_LEVEL = qrencoder.QRErrorCorrectLevel.M
_QR_QUIET = 2  # modules of white border inside the drawn size; the page margin adds the rest
_QR_BITS = bytes.maketrans(b"\x00\x01", b"01")
_QR_RUN = re.compile("0{5,}|1{5,}")
_QR_DARK = re.compile("1+")
#: reportlab scores this finder-like pattern in rows only (its column check never matches).
_QR_FINDER = "10111010000"


@dataclass(frozen=True)
class _QRLayout:
    """What every symbol of one version shares."""

    #: Function patterns (finders, timing, alignment) with blank format information.
    template: tuple[tuple[bool, ...], ...]
    #: Data modules as (row, col), in the order the codeword bits fill them.
    positions: tuple[tuple[int, int], ...]
    #: Mask pattern 0 at each data position.
    mask0: tuple[bool, ...]
    #: Per mask pattern, the data modules where it differs from mask pattern 0, as one integer
    #: per row and one per column (see ``_qr_bits``).
    row_flips: tuple[tuple[int, ...], ...]
    col_flips: tuple[tuple[int, ...], ...]


def _qr_bits(lines: Iterable[Iterable[bool]]) -> list[int]:
    """Return each line of modules as an integer, its first module the highest bit."""
    return [int(bytes(line).translate(_QR_BITS), 2) for line in lines]


@cache
def _qr_layout(version: int) -> _QRLayout:
    """Return the parts of a ``version`` symbol that do not depend on its data."""
    code = qrencoder.QRCode(version, _QR_LEVEL)
    code.dataCache = []  # no data: only the function patterns are wanted
    code.makeImpl(True, 0)
    positions = tuple((row, col) for col, row in code.dataPosIterator())
    masks = [qrencoder.QRUtil.getMask(p) for p in range(8)]
    mask0 = tuple(masks[0](row, col) for row, col in positions)
    n = len(code.modules)
    flips = [[[False] * n for _ in range(n)] for _ in masks]
    for (row, col), m0 in zip(positions, mask0, strict=True):
        for pattern, mask in enumerate(masks):
            flips[pattern][row][col] = mask(row, col) != m0
    return _QRLayout(
        template=tuple(tuple(row) for row in code.modules),
        positions=positions,
        mask0=mask0,
        row_flips=tuple(tuple(_qr_bits(f)) for f in flips),
        col_flips=tuple(tuple(_qr_bits(zip(*f, strict=True))) for f in flips),
    )


@cache
def _qr_generator_multiples(degree: int) -> tuple[tuple[int, ...], ...]:
    """Return, for each byte value, its products with the Reed-Solomon generator's coefficients.

    The generator polynomial is reportlab's (monic, so its first coefficient is left out).
    """
    exp, log = qrencoder.EXP_TABLE, qrencoder.LOG_TABLE
    generator = qrencoder.QRUtil.getErrorCorrectPolynomial(degree).num[1:]
    zero = (0,) * degree
    return (zero, *(tuple(exp[(log[f] + log[g]) % 255] for g in generator) for f in range(1, 256)))


def _qr_remainder(data: list[int], degree: int) -> list[int]:
    """Return the ``degree`` error-correction codewords of ``data`` (GF(256) long division)."""
    multiples = _qr_generator_multiples(degree)
    remainder = [0] * degree
    for byte in data:
        factor = byte ^ remainder[0]
        remainder = [r ^ m for r, m in zip([*remainder[1:], 0], multiples[factor], strict=True)]
    return remainder


def _qr_codewords(version: int, level: int, data_list: Sequence[Any]) -> list[int]:
    """Return what reportlab's ``QRCode.createData`` returns: data and correction codewords."""
    blocks = qrencoder.QRRSBlock.getRSBlocks(version, level)
    buffer = qrencoder.QRBitBuffer()
    for data in data_list:
        data.write(buffer, version)
    capacity = 8 * sum(block.dataCount for block in blocks)
    if buffer.getLengthInBits() > capacity:
        raise ValueError(f"QR code length overflow ({buffer.getLengthInBits()} > {capacity})")
    if buffer.getLengthInBits() + 4 <= capacity:
        buffer.put(0, 4)
    while buffer.getLengthInBits() % 8:
        buffer.putBit(False)
    for pad in itertools.cycle((qrencoder.QRCode.PAD0, qrencoder.QRCode.PAD1)):
        if buffer.getLengthInBits() >= capacity:
            break
        buffer.put(pad, 8)
    offset = 0
    data_blocks, ec_blocks = [], []
    for block in blocks:
        data_blocks.append(buffer.buffer[offset : offset + block.dataCount])
        offset += block.dataCount
        ec_blocks.append(_qr_remainder(data_blocks[-1], block.totalCount - block.dataCount))
    # Interleaved: the first codeword of every block, then the second…, data before correction.
    interleaved = itertools.chain(
        itertools.zip_longest(*data_blocks), itertools.zip_longest(*ec_blocks)
    )
    return [word for words in interleaved for word in words if word is not None]


def _qr_lost_points(modules: list[list[bool]]) -> int:
    """Return reportlab's ``QRUtil.getLostPoint`` of ``modules``."""
    return _qr_score(_qr_bits(modules), _qr_bits(zip(*modules, strict=True)), len(modules))


def _qr_score(rows: list[int], cols: list[int], n: int) -> int:
    """Return reportlab's lost points of a symbol given as row and column integers."""
    form = f"0{n}b"
    row_text = [format(v, form) for v in rows]
    # Runs of five or more modules of one colour, in rows and columns: length - 2 each (one
    # search over all lines; a run never crosses the line breaks).
    lines = "\n".join(itertools.chain(row_text, (format(v, form) for v in cols)))
    score = sum(len(run) - 2 for run in _QR_RUN.findall(lines))
    # 2x2 blocks of one colour: 3 each.
    inner = (1 << (n - 1)) - 1
    for upper, lower in itertools.pairwise(rows):
        same = ~(upper ^ lower)
        score += 3 * (same & (same >> 1) & ~(upper ^ (upper >> 1)) & inner).bit_count()
    # The finder-like pattern, 40 each (reportlab never tests a row's last start position).
    score += 40 * sum(line[:-1].count(_QR_FINDER) for line in row_text)
    dark = sum(v.bit_count() for v in rows)
    return score + 10 * (abs(100 * dark // (n * n) - 50) // 5)


class _QRCode(qrencoder.QRCode):
    """reportlab's QR code, encoded and laid out with the per-version parts computed once."""

    def make(self) -> None:
        """Encode the data, choose the mask as reportlab does and lay the symbol out."""
        if self.version is None:
            self.version = self.calculate_version()
        if self.dataCache is None:
            self.dataCache = _qr_codewords(self.version, self.errorCorrectLevel, self.dataList)
        layout = _qr_layout(self.version)
        bits = [bool(byte & (0x80 >> i)) for byte in self.dataCache for i in range(8)]
        base = [list(row) for row in layout.template]
        # Bits beyond the codewords (remainder bits) are light before masking, as in reportlab.
        for (row, col), bit, m0 in itertools.zip_longest(
            layout.positions, bits, layout.mask0, fillvalue=False
        ):
            base[row][col] = bit ^ m0
        # Each mask only flips data modules: score it as row and column integers XOR its flips.
        n = len(base)
        rows, cols = _qr_bits(base), _qr_bits(zip(*base, strict=True))
        best, least, chosen = 0, -1, rows
        for pattern in range(8):
            masked = [v ^ f for v, f in zip(rows, layout.row_flips[pattern], strict=True)]
            lost = _qr_score(
                masked,
                [v ^ f for v, f in zip(cols, layout.col_flips[pattern], strict=True)],
                n,
            )
            if least < 0 or lost < least:  # the first pattern wins a tie
                best, least, chosen = pattern, lost, masked
        self.moduleCount = n
        self.modules = [[c == "1" for c in format(v, f"0{n}b")] for v in chosen]
        self.setupTypeInfo(False, best)
        if self.version >= 7:
            self.setupTypeNumber(False)


@cache
def _qr_grid(
    x: float, y: float, size: float, count: int
) -> tuple[list[str], list[str], list[str], str]:
    """Return the PDF numbers of a QR grid: x of each column, y of each row, run widths, height.

    They are what ``fp_str`` writes for ``path.rect`` (formatting them is most of drawing a
    code), computed with the same arithmetic, once per position on the page.
    """
    box = size / (count + 2 * _QR_QUIET)
    xs = [fp_str(x + (c + _QR_QUIET) * box) for c in range(count)]
    ys = [fp_str(y + size - (r + _QR_QUIET + 1) * box) for r in range(count)]
    widths = [fp_str(n * box) for n in range(count + 1)]
    return xs, ys, widths, fp_str(box)


def _draw_qr(canvas: Canvas, value: str, x: float, y: float, size: float) -> None:
    """Draw a QR code of ``value`` as one filled path of one rectangle per run of dark modules."""
    code = _QRCode(None, _QR_LEVEL)
    code.addData(value)
    code.make()
    xs, ys, widths, box = _qr_grid(x, y, size, code.getModuleCount())
    ops = ["n"]  # what PDFPathObject writes before its first operator
    for r, row in enumerate(_qr_bits(code.modules)):
        for run in _QR_DARK.finditer(format(row, f"0{len(xs)}b")):
            ops.append(f"{xs[run.start()]} {ys[r]} {widths[run.end() - run.start()]} {box} re")
    canvas.saveState()
    canvas.setFillColor(colors.black)
    canvas.drawPath(PDFPathObject(code=ops), stroke=0, fill=1)
    canvas.restoreState()


def _draw_frame(
    canvas: Canvas, slip: SlipData, st: _Styles, size: tuple[float, float]
) -> tuple[float, float]:
    """Draw the parts every page of a slip repeats; return the body's top and bottom."""
    page_w, page_h = size
    margin = 10 * mm
    t = LABELS.get(slip.language, LABELS["en"])
    rtl = slip.language in RTL_LANGUAGES

    if slip.copy:
        # Under everything, so the slip stays readable.
        canvas.saveState()
        canvas.setFillColor(colors.Color(0.85, 0.85, 0.85))
        canvas.translate(page_w / 2, page_h / 2)
        canvas.rotate(35)
        _draw_string(canvas, 0, 0, t["copy"], page_w / 5, bold=True, anchor="centre")
        canvas.restoreState()

    # Header: title and date on the leading side, reference and its barcode on the other.
    top = page_h - margin
    canvas.setFillColor(colors.black)
    barcode = Code128Auto(slip.ref, barHeight=9 * mm, barWidth=0.95, quiet=False)
    ref_x = margin if rtl else page_w - margin
    title_x = page_w - margin if rtl else margin
    title_anchor, ref_anchor = ("right", "left") if rtl else ("left", "right")
    _draw_string(
        canvas, title_x, top - st.title_size, t["title"], st.title_size, True, title_anchor
    )
    date_line = f"{t['date']}: {ltr(slip.issued_on.isoformat())}"
    if slip.expires_on:
        date_line += f"   ·   {t['valid_until']}: {ltr(slip.expires_on.isoformat())}"
    _draw_string(
        canvas,
        title_x,
        top - st.title_size - st.body.leading * 1.4,
        date_line,
        st.body.fontSize,
        anchor=title_anchor,
    )
    _draw_string(canvas, ref_x, top - st.ref_size, slip.ref, st.ref_size, True, ref_anchor)
    bar_y = top - st.ref_size - 3 * mm - barcode.height
    barcode.drawOn(canvas, ref_x if rtl else ref_x - barcode.width, bar_y)
    header_bottom = bar_y - 3 * mm
    canvas.setStrokeColor(colors.HexColor("#999999"))
    canvas.setLineWidth(0.6)
    canvas.line(margin, header_bottom, page_w - margin, header_bottom)

    # Footer: who issued it on the leading side; the QR code to verify it on the other.
    qr_size = 27 * mm
    qr_x = margin if rtl else page_w - margin - qr_size
    _draw_qr(canvas, slip.verify_url, qr_x, margin + st.small.leading, qr_size)
    canvas.setFillColor(colors.HexColor("#333333"))
    _draw_string(canvas, page_w / 2, margin, slip.verify_url, st.small.fontSize, anchor="centre")
    footer_top = margin + st.small.leading + qr_size + 2 * mm
    text_x, anchor = (page_w - margin, "right") if rtl else (margin, "left")
    y = margin + st.small.leading + qr_size - st.body.fontSize
    issuer = ", ".join(p for p in (slip.clerk_name, slip.issuing_office) if p)
    for line in (
        f"{t['issued_by']}: {issuer}" if issuer else "",
        f"{t['counter']}: {ltr(slip.counter)}" if slip.counter else "",
    ):
        if line:
            _draw_string(canvas, text_x, y, line, st.body.fontSize, anchor=anchor)
            y -= st.body.leading
    arrow = "←" if rtl else "→"
    verify = f"{arrow} {t['verify']}" if rtl else f"{t['verify']} {arrow}"
    _draw_string(
        canvas,
        text_x,
        margin + st.small.leading + 2 * mm,
        verify,
        st.body.fontSize,
        bold=True,
        anchor=anchor,
    )
    canvas.setFillColor(colors.black)
    canvas.line(margin, footer_top, page_w - margin, footer_top)
    return header_bottom - 2 * mm, footer_top + 2 * mm


def _draw_slip(canvas: Canvas, slip: SlipData, page_size: str) -> None:
    size = PAGE_SIZES[page_size]
    rtl = slip.language in RTL_LANGUAGES
    st = _styles(page_size, rtl)
    margin = 10 * mm
    width = size[0] - 2 * margin
    story = _body(slip, st, width, rtl)
    while story:
        top, bottom = _draw_frame(canvas, slip, st, size)
        frame = Frame(margin, bottom, width, top - bottom, 0, 0, 0, 0, showBoundary=0)
        placed = 0
        while story:
            if frame.add(story[0], canvas):
                story.pop(0)
                placed += 1
                continue
            # Too tall for what is left of the page: split it (tables split by rows).
            parts = frame.split(story[0], canvas)
            if len(parts) > 1:
                story[0:1] = parts
                if frame.add(story[0], canvas):
                    story.pop(0)
                    placed += 1
            break
        canvas.showPage()
        if not placed and story:  # taller than a whole page and unsplittable: never loop
            story.pop(0)


def render_slips(slips: Sequence[SlipData], page_size: str = "A5") -> bytes:
    """Render ``slips`` into one PDF, each slip on its own page(s); return the bytes."""
    if page_size not in PAGE_SIZES:
        raise ValueError(f"page size must be one of {', '.join(PAGE_SIZES)}")
    _fonts()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=PAGE_SIZES[page_size], pageCompression=1)
    refs = ", ".join(s.ref for s in slips[:20])
    canvas.setTitle(f"Referral slip{'s' if len(slips) > 1 else ''} {refs}".strip())
    canvas.setAuthor("sw-mis")
    canvas.setCreator("sw-mis")
    for slip in slips:
        _draw_slip(canvas, slip, page_size)
    if not slips:
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()
