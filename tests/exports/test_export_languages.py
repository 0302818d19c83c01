"""Beneficiary lists in the language of whoever downloads them; the CLI's stay English.

Only what people read changes: headings, sheet names, titles and totals. The rows, the file
name and the API's JSON keys are the same in every language.
"""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from sw_mis.exports.services import SYSTEM, columns, heading, list_spec
from tests.exports.conftest import AS_OF, CASH, PENSION, normalise
from tests.exports.test_export_lists import api_get, download


def speaking(db_session: Session, user, language: str):  # type: ignore[no-untyped-def]
    user.language = language
    db_session.flush()
    return user


def csv_table(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_a_french_officer_gets_french_headings_and_the_same_rows(
    client: FlaskClient, db_session: Session, world: SimpleNamespace
) -> None:
    english = csv_table(download(client, world.officer, PENSION).data)
    french = download(client, speaking(db_session, world.officer, "fr"), PENSION)
    table = csv_table(french.data)
    assert table[0][:3] == ["Ménage", "Pays", "Code de la province"]
    assert "Chef de ménage" in table[0] and "Bénéficiaire" in table[0]
    # The fact label is translated as the household page translates it.
    assert "Numéro d\u2019identité nationale du chef de ménage" in table[0]
    assert "Numéro d\u2019identité nationale" in table[0]
    assert len(table[0]) == len(english[0]) and table[1:] == english[1:]
    assert french.headers["Content-Disposition"].endswith(f'{PENSION}-eligible-{AS_OF}.csv"')


def test_xlsx_and_pdf_speak_urdu_and_french(
    client: FlaskClient, db_session: Session, world: SimpleNamespace
) -> None:
    from openpyxl import load_workbook
    from pypdf import PdfReader

    from sw_mis.referrals.slips import shape

    officer = speaking(db_session, world.officer, "fr")
    book = load_workbook(io.BytesIO(download(client, officer, CASH, "xlsx").data))
    assert book.sheetnames == ["Liste", "À propos"]
    about = {row[0].value: row[1].value for row in book["À propos"].iter_rows()}
    assert about["Liste"] == "Bénéficiaires éligibles"
    assert about["Zone"] == "Toutes les zones que vous pouvez voir"
    assert about["Lignes"] == str(book["Liste"].max_row - 1)
    pdf = download(client, officer, PENSION, "pdf").data
    text = normalise(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))
    assert "bénéficiaires éligibles" in text and "Total : " in text
    assert "Total: " not in text
    speaking(db_session, officer, "ur")
    pdf = download(client, officer, PENSION, "pdf").data
    text = normalise(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))
    assert normalise("صفحہ") in text or normalise(shape("صفحہ")) in text


def test_the_api_keeps_english_keys_for_a_french_user(
    client: FlaskClient, db_session: Session, world: SimpleNamespace
) -> None:
    response = api_get(client, speaking(db_session, world.officer, "fr"))
    assert response.status_code == 200
    assert {"household", "head_name", "members", "people"} <= response.json["items"][0].keys()
    refused = api_get(client, world.officer, scheme="nothing")
    assert refused.status_code == 404
    assert refused.json["errors"]["scheme_id"] == ["Aucun programme 'nothing' n\u2019est chargé."]


def test_outside_a_request_lists_are_english(db_session: Session, book, world) -> None:
    spec = list_spec(book, CASH, AS_OF)
    head = heading(db_session, spec, SYSTEM, "pdf")
    assert head.title.endswith(": eligible beneficiaries")
    assert head.about[0][0] == "Scheme" and head.about[3] == ("Area", "All areas")
    assert [c.label for c in columns(spec, SYSTEM)][:2] == ["Household", "Country"]
