"""Slip PDFs: the text reads back in every script, and the codes decode to the right values."""

from __future__ import annotations

import datetime as dt
import io
import shutil

import pytest
from pypdf import PdfReader

from sw_mis.referrals import slips
from tests.referrals.conftest import (
    ARTIFACTS,
    URDU_HEAD,
    URDU_MEMBER,
    contains_rtl,
    decode_codes,
    normalise,
    render_png,
)

URL = "https://sw-mis.example.org/v/k1.R123456786.AbCdEfGhIjKlMnOpQrStUv"


def slip(**overrides) -> slips.SlipData:
    data = {
        "ref": "R123456786",
        "issued_on": dt.date(2026, 11, 27),
        "expires_on": dt.date(2027, 2, 25),
        "household_ref": "PK-123456780",
        "head_name": "Amina Bibi",
        "beneficiary_name": "Bilal Khan",
        "scheme_name": "Test cash transfer",
        "agency": "Test Social Protection Authority",
        "office_name": "Test Authority tehsil office",
        "office_address": "12 Mall Road, Lahore",
        "office_hours": "Mon\u2013Fri 09:00\u201315:00",
        "documents": ("CNIC of the head of household", "B-form of each child"),
        "reasons": ("Household registered in the national registry", "PMT score below the cut-off"),
        "clerk_name": "Sana Iqbal",
        "issuing_office": "Lahore single window",
        "counter": "4",
        "verify_url": URL,
    }
    data.update(overrides)
    return slips.SlipData(**data)


def pdf_text(pdf: bytes) -> list[str]:
    """Return the normalised text of each page."""
    return [normalise(page.extract_text() or "") for page in PdfReader(io.BytesIO(pdf)).pages]


def test_english_slip_reads_back():
    pdf = slips.render_slips([slip()])
    (page,) = pdf_text(pdf)
    for expected in (
        "Referral slip",
        "R123456786",
        "PK-123456780",
        "Amina Bibi",
        "Bilal Khan",
        "Test cash transfer",
        "Test Social Protection Authority",
        "12 Mall Road, Lahore",
        "Mon\u2013Fri 09:00\u201315:00",
        "CNIC of the head of household",
        "PMT score below the cut-off",
        "Sana Iqbal",
        "Lahore single window",
        "Counter: 4",
        "2026-11-27",
        "2027-02-25",
    ):
        assert normalise(expected) in page, expected
    assert "COPY" not in page


def test_fonts_are_embedded():
    pdf = slips.render_slips([slip(language="ur", head_name=" ".join(URDU_HEAD))])
    reader = PdfReader(io.BytesIO(pdf))
    fonts = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = (
                font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
                if "/DescendantFonts" in font
                else font.get("/FontDescriptor")
            )
            if descriptor is not None:
                descriptor = descriptor.get_object()
                assert "/FontFile2" in descriptor, font["/BaseFont"]
            fonts.add(str(font["/BaseFont"]))
    assert any("DejaVu" in f for f in fonts) and any("Naskh" in f for f in fonts)


@pytest.mark.parametrize(
    ("language", "head", "member", "labels"),
    [
        (
            "fr",
            "Hélène Lefèvre-Çelik",
            "Loïc Bénédicte",
            ("Fiche d'orientation", "Chef de ménage", "Documents à apporter"),
        ),
        (
            "pt",
            "João Conceição",
            "Inês Gonçalves",
            ("Guia de encaminhamento", "Chefe do agregado", "Balcão: 4"),
        ),
        (
            "es",
            "María José Núñez",
            "José Ángel Peña",
            ("Hoja de referencia", "Jefe/a del hogar", "Ventanilla: 4"),
        ),
    ],
)
def test_accented_names_and_labels_read_back(language, head, member, labels):
    pdf = slips.render_slips([slip(language=language, head_name=head, beneficiary_name=member)])
    (page,) = pdf_text(pdf)
    for expected in (head, member, *labels):
        assert normalise(expected) in page, expected


def test_urdu_names_are_shaped_right_to_left():
    head, member = " ".join(URDU_HEAD), " ".join(URDU_MEMBER)
    pdf = slips.render_slips([slip(language="ur", head_name=head, beneficiary_name=member)])
    raw = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    # Drawn as joined presentation forms (reshaped), not as isolated letters.
    assert sum(0xFB50 <= ord(c) <= 0xFEFF for c in raw) > 50
    (page,) = pdf_text(pdf)
    for text in (head, member, slips.LABELS["ur"]["title"], slips.LABELS["ur"]["head"]):
        shaped = slips.shape(text)
        assert shaped != text and any(0xFB50 <= ord(c) <= 0xFEFF for c in shaped)
        assert contains_rtl(page, text), text
    # Latin parts of an Urdu slip are untouched, and dates keep their order.
    assert "R123456786" in page and "2026-11-27" in page and "Test cash transfer" in page


def test_urdu_text_in_latin_slip_is_shaped_too():
    pdf = slips.render_slips([slip(head_name=" ".join(URDU_HEAD))])
    (page,) = pdf_text(pdf)
    assert contains_rtl(page, " ".join(URDU_HEAD))


def test_shaping_helpers():
    assert slips.shape("Amina") == "Amina"
    assert slips.has_rtl("محمد") and not slips.has_rtl("Hélène")
    runs = slips.font_runs("Ali علی")
    assert [font for font, _ in runs] == ["SwSans", "SwArabic"]


def test_reprint_is_marked_as_copy():
    (page,) = pdf_text(slips.render_slips([slip(copy=True)]))
    assert "COPY" in page
    (page,) = pdf_text(slips.render_slips([slip(copy=True, language="pt")]))
    assert "CÓPIA" in page


def test_several_slips_make_one_pdf_and_a4_works():
    pdf = slips.render_slips([slip(), slip(ref="R876543210", head_name="Other Head")], "A4")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 2
    width, height = (float(v) for v in reader.pages[0].mediabox[2:])
    assert round(width) == 595 and round(height) == 842
    pages = pdf_text(pdf)
    assert "R123456786" in pages[0] and "R876543210" in pages[1]
    a5 = PdfReader(io.BytesIO(slips.render_slips([slip()]))).pages[0].mediabox
    assert round(float(a5[2])) == 420


def test_long_content_flows_onto_a_second_page():
    many = tuple(f"Document number {i} with a fairly long description to fill" for i in range(60))
    pages = pdf_text(slips.render_slips([slip(documents=many)]))
    assert len(pages) >= 2
    assert "Document number 59" in " ".join(pages)
    assert all("R123456786" in p for p in pages)  # the header repeats


def test_unknown_page_size_is_refused():
    with pytest.raises(ValueError, match="page size"):
        slips.render_slips([slip()], "Letter")


QR_VALUES = [
    URL,
    "R123456786",
    "12345678901234567890",  # numeric mode
    "HTTPS://SW-MIS.EXAMPLE.ORG/V/K1.R123456786",  # alphanumeric mode
    *(URL + "/" + "x" * n for n in (0, 9, 40, 80, 150, 250, 400)),  # versions 5 to 17
]


@pytest.mark.parametrize("value", QR_VALUES)
def test_qr_code_is_reportlabs_module_for_module(value):
    """The faster QR encoder lays out exactly the symbol reportlab's own encoder does."""
    from reportlab.graphics.barcode import qrencoder

    ours = slips._QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    ours.addData(value)
    ours.make()
    theirs = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    theirs.addData(value)
    theirs.make()
    assert ours.version == theirs.version
    assert ours.dataCache == theirs.dataCache
    assert ours.modules == theirs.modules
    for pattern in range(8):  # the mask scores agree, not only the chosen mask
        theirs.makeImpl(True, pattern)
        expected = qrencoder.QRUtil.getLostPoint(theirs)
        assert slips._qr_lost_points(theirs.modules) == expected


@pytest.mark.parametrize("language", ["en", "ur"])
def test_qr_and_barcode_decode(tmp_path, language):
    head = " ".join(URDU_HEAD) if language == "ur" else "Amina Bibi"
    pdf = slips.render_slips([slip(language=language, head_name=head)])
    png = render_png(pdf, tmp_path, dpi=150)
    codes = decode_codes(png)
    assert f"QR-Code:{URL}" in codes
    assert "CODE-128:R123456786" in codes
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(png, ARTIFACTS / f"referral-slip-{language}.png")
