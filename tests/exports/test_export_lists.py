"""Beneficiary lists read back (CSV, XLSX, PDF, JSON) and compared with the counter back-end."""

from __future__ import annotations

import io
import threading
from types import SimpleNamespace
from typing import Any

import pytest
from factories import api_headers, csrf_token, login
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sw_mis.audit.models import AuditEvent
from sw_mis.exports import services
from sw_mis.exports.services import SYSTEM, list_spec, stream_rows, write_list
from tests.exports.conftest import (
    AS_OF,
    CASH,
    FORMULA_NAME,
    PENSION,
    URDU,
    counter_rows,
    list_keys,
    normalise,
    parse_csv,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def download(
    client: FlaskClient,
    user: Any,
    scheme: str = CASH,
    fmt: str = "csv",
    outcome: str = "eligible",
    **area: str,
) -> Any:
    """Submit the list form signed in as ``user`` (signing out whoever was); return the response."""
    if getattr(client, "signed_in_as", None) != user.username:
        if getattr(client, "signed_in_as", None):
            client.post("/logout", data={"csrf_token": csrf_token(client, "/lists/")})
        login(client, user)
        client.signed_in_as = user.username  # type: ignore[attr-defined]
    form = {
        "csrf_token": csrf_token(client, "/lists/"),
        "scheme": scheme,
        "outcome": outcome,
        "as_of": AS_OF.isoformat(),
        "format": fmt,
        "admin1": "",
        "admin2": "",
        **area,
    }
    return read(client.post("/lists/", data=form))


def read(response: Any) -> Any:
    """Read a (streamed) response whole and close it, as a WSGI server would."""
    response.get_data()
    response.close()
    return response


def api_get(client: FlaskClient, user: Any, scheme: str = CASH, **query: Any) -> Any:
    """GET the API's beneficiary list as ``user``."""
    query.setdefault("as_of", AS_OF.isoformat())
    return read(
        client.get(
            f"/api/v1/schemes/{scheme}/beneficiaries",
            query_string=query,
            headers=api_headers(client, user),
        )
    )


# --- the lists hold exactly what the counter back-end finds --------------------------------------
@pytest.mark.parametrize("scheme", [CASH, PENSION])
@pytest.mark.parametrize("outcome", ["eligible", "undetermined"])
def test_csv_matches_the_counter_back_end(
    client: FlaskClient,
    db_session: Session,
    book,
    world: SimpleNamespace,
    scheme: str,
    outcome: str,
) -> None:
    response = download(client, world.officer, scheme, "csv", outcome)
    assert response.status_code == 200, response.text
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = parse_csv(response.data)
    expected = counter_rows(db_session, book, world.officer, scheme, outcome)
    assert expected, "the fixture households should put someone on every list"
    assert list_keys(rows) == expected
    assert len(rows) == len(expected)


def test_undetermined_households_are_a_separate_list(
    client: FlaskClient, db_session: Session, book, world: SimpleNamespace
) -> None:
    eligible = list_keys(parse_csv(download(client, world.officer, CASH).data))
    undetermined = list_keys(
        parse_csv(download(client, world.officer, CASH, outcome="undetermined").data)
    )
    assert (world.unknown.ref, None) in undetermined
    assert (world.unknown.ref, None) not in eligible
    assert not eligible & undetermined
    assert (world.rich.ref, None) not in eligible | undetermined


def test_xlsx_matches_and_keeps_text_as_text(
    client: FlaskClient, db_session: Session, book, world: SimpleNamespace
) -> None:
    from openpyxl import load_workbook

    response = download(client, world.officer, PENSION, "xlsx")
    assert response.status_code == 200
    assert response.mimetype == XLSX
    sheet = load_workbook(io.BytesIO(response.data), read_only=False)["List"]
    header = [c.value for c in sheet[1]]
    rows = [
        dict(zip(header, (c.value for c in row), strict=True)) for row in sheet.iter_rows(min_row=2)
    ]
    got = {(r["Household"], r["Member id"]) for r in rows}
    assert got == counter_rows(db_session, book, world.officer, PENSION, "eligible")
    cells = [c for row in sheet.iter_rows(min_row=2) for c in row if c.value is not None]
    assert all(c.data_type != "f" for c in cells), "no cell may be a formula"
    names = {r["Beneficiary"] for r in rows}
    assert f"'{FORMULA_NAME} Khan" in names
    assert f"{URDU[0]} {URDU[1]}" in names  # Unicode survives the round trip


def test_pdf_lists_names_scheme_and_totals(
    client: FlaskClient, db_session: Session, book, world: SimpleNamespace
) -> None:
    from pypdf import PdfReader

    from sw_mis.referrals.slips import shape

    response = download(client, world.officer, PENSION, "pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = normalise(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages))
    expected = counter_rows(db_session, book, world.officer, PENSION, "eligible")
    households = {ref for ref, _ in expected}
    assert "Test old-age pension" in text
    assert f"as of {AS_OF.isoformat()}" in text
    for ref in households:
        assert ref in text
    assert f"Total: {len(expected)} row(s), {len(households)} household(s)" in text
    assert "Zoë D'Souza" in text and "José D'Souza" in text  # long names are cut to fit
    assert "3520200000011" in text and "1950-03-01" in text
    urdu = f"{URDU[0]} {URDU[1]}"
    assert normalise(urdu) in text or normalise(shape(urdu)) in text


def test_pdf_repeats_the_header_on_every_page(
    db_session: Session, book, world: SimpleNamespace, monkeypatch
) -> None:
    from pypdf import PdfReader

    from sw_mis.exports import writers

    cols = [writers.Column("household", "Household"), writers.Column("head_name", "Head")]
    rows = [(f"PK-{i:09d}", f"Name {i}") for i in range(200)]
    out = io.BytesIO()
    assert writers.write_pdf(cols, rows, out, "A long list", "sub") == (200, 200)
    pages = PdfReader(io.BytesIO(out.getvalue())).pages
    assert len(pages) > 2
    for page in pages:
        assert "Household" in page.extract_text()
    assert "Total: 200 row(s)" in pages[-1].extract_text()


# --- who sees what -------------------------------------------------------------------------------
def test_supervisors_lists_leave_identifiers_out(
    client: FlaskClient, world: SimpleNamespace
) -> None:
    supervisor = parse_csv(download(client, world.supervisor, PENSION).data)
    assert supervisor
    assert not any("national" in h.lower() for h in supervisor[0])
    officer = parse_csv(download(client, world.officer, PENSION).data)
    assert officer[0].keys() >= {"National ID number", "Head's National ID number"}
    assert "3520200000011" in {r["National ID number"] for r in officer}


def test_supervisor_api_and_xlsx_leave_identifiers_out(
    client: FlaskClient, world: SimpleNamespace
) -> None:
    body = api_get(client, world.supervisor, PENSION).get_json()
    assert body["items"]
    for item in body["items"]:
        assert "head_national_id" not in item
        assert all("national_id" not in p for p in item["people"])
    data = api_get(client, world.supervisor, PENSION, format="xlsx").data
    from openpyxl import load_workbook

    values = {
        str(c.value) for row in load_workbook(io.BytesIO(data))["List"].iter_rows() for c in row
    }
    assert not any(v.startswith("3520200") for v in values)


def test_another_offices_households_never_appear(
    client: FlaskClient, world: SimpleNamespace
) -> None:
    punjab = list_keys(parse_csv(download(client, world.officer, CASH).data))
    assert world.sindh.ref not in {ref for ref, _ in punjab}
    # Asking for Sindh by area does not widen what a Punjab officer sees.
    asked = api_get(client, world.officer, CASH, admin1="PK-SD").get_json()
    assert asked["total"] == 0 and asked["items"] == []
    admin = api_get(client, world.admin, CASH, admin1="PK-SD", per_page=500).get_json()
    assert world.sindh.ref in {i["household"] for i in admin["items"]}


def test_area_filter(client: FlaskClient, world: SimpleNamespace) -> None:
    body = api_get(client, world.admin, CASH, admin2="PK-PB-LHR", per_page=500).get_json()
    refs = {i["household"] for i in body["items"]}
    assert world.urdu.ref in refs and world.sindh.ref not in refs
    assert all(i["admin2"] == "PK-PB-LHR" and i["admin2_name"] == "Lahore" for i in body["items"])


def test_clerks_and_auditors_may_not_export(
    client: FlaskClient, world: SimpleNamespace, db_session: Session
) -> None:
    from factories import make_user

    login(client, world.clerk)
    assert client.get("/lists/").status_code == 403
    auditor = make_user(db_session, "auditor")
    assert api_get(client, auditor).status_code == 403


# --- spreadsheets never run what the registry holds ----------------------------------------------
def test_formula_injection_is_neutralised_in_csv(
    client: FlaskClient, world: SimpleNamespace
) -> None:
    rows = parse_csv(download(client, world.officer, CASH).data)
    formula = next(r for r in rows if r["Household"] == world.formula.ref)
    assert formula["Head of household"] == f"'{FORMULA_NAME} Khan"
    assert formula["Locality"] == "'+92 Mall Road"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


def test_neutralise() -> None:
    from sw_mis.exports.writers import neutralise

    for dangerous in ("=1+2", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert neutralise(dangerous) == "'" + dangerous
    for safe in ("Amina", "D'Souza", "1-2", "", None, 42, "a=b"):
        assert neutralise(safe) == safe


# --- audit ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "xlsx", "pdf"])
def test_every_export_is_audited_with_its_row_count(
    client: FlaskClient, db_session: Session, book, world: SimpleNamespace, fmt: str
) -> None:
    response = download(client, world.officer, PENSION, fmt)
    assert response.status_code == 200
    event = db_session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == f"export.{fmt}")
        .order_by(AuditEvent.id.desc())
    ).first()
    assert event is not None
    assert event.username == world.officer.username
    assert event.object_type == "scheme" and event.object_ref == PENSION
    expected = counter_rows(db_session, book, world.officer, PENSION, "eligible")
    assert event.details["rows"] == len(expected)
    assert event.details | {"rows": 0} == {
        "scheme": PENSION,
        "outcome": "eligible",
        "as_of": AS_OF.isoformat(),
        "admin1": None,
        "admin2": None,
        "format": fmt,
        "rows": 0,
        "complete": True,
        "identifiers": True,
    }
    assert event.at is not None


def test_an_interrupted_csv_download_is_audited_as_incomplete(
    db_session: Session, book, world: SimpleNamespace
) -> None:
    spec = list_spec(book, PENSION, AS_OF)
    prepared = services.prepare_list(db_session, book, spec, world.officer)
    stream = services.csv_stream(db_session, prepared)
    next(stream)  # the header only
    stream.close()
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "export.csv").order_by(AuditEvent.id.desc())
    ).first()
    assert event is not None and event.details["complete"] is False


# --- API -----------------------------------------------------------------------------------------
def test_api_json_pages_by_household(
    client: FlaskClient, db_session: Session, book, world: SimpleNamespace
) -> None:
    expected = counter_rows(db_session, book, world.officer, PENSION, "eligible")
    households = sorted({ref for ref, _ in expected})
    seen: dict[str, list[int]] = {}
    page = 1
    while True:
        response = api_get(client, world.officer, PENSION, page=page, per_page=1)
        assert response.status_code == 200
        body = response.get_json()
        assert body["total"] == len(households) and body["per_page"] == 1
        if not body["items"]:
            break
        assert len(body["items"]) == 1
        item = body["items"][0]
        seen[item["household"]] = item["members"]
        assert [p["member_id"] for p in item["people"]] == item["members"]
        page += 1
    assert page - 1 == len(households)
    assert {(ref, m) for ref, ids in seen.items() for m in ids} == expected
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "export.json").order_by(AuditEvent.id.desc())
    ).first()
    assert event is not None and event.details["rows"] == 0  # the empty page past the end


def test_api_household_scheme_lists_households(
    client: FlaskClient, db_session: Session, book, world: SimpleNamespace
) -> None:
    body = api_get(client, world.officer, CASH, per_page=500).get_json()
    expected = counter_rows(db_session, book, world.officer, CASH, "eligible")
    assert {(i["household"], None) for i in body["items"]} == expected
    assert all(i["members"] == [] for i in body["items"])


@pytest.mark.parametrize(
    ("fmt", "mimetype"), [("csv", "text/csv"), ("xlsx", XLSX), ("pdf", "application/pdf")]
)
def test_api_files(client: FlaskClient, world: SimpleNamespace, fmt: str, mimetype: str) -> None:
    response = api_get(client, world.officer, CASH, format=fmt)
    assert response.status_code == 200
    assert response.mimetype == mimetype
    disposition = response.headers["Content-Disposition"]
    assert f"{CASH}-eligible-{AS_OF.isoformat()}.{fmt}" in disposition
    assert response.data


@pytest.mark.parametrize(
    "query",
    [
        {"format": "doc"},
        {"outcome": "not_eligible"},
        {"per_page": 501},
        {"page": 0},
        {"admin1": "PK PB'"},
        {"as_of": "yesterday"},
    ],
)
def test_api_refuses_bad_parameters(
    client: FlaskClient, world: SimpleNamespace, query: dict[str, Any]
) -> None:
    assert api_get(client, world.officer, CASH, **query).status_code == 422


def test_api_unknown_scheme_and_date_out_of_force(
    client: FlaskClient, world: SimpleNamespace
) -> None:
    assert api_get(client, world.officer, "no-such-scheme").status_code == 404
    response = api_get(client, world.officer, CASH, as_of="2019-01-01")
    assert response.status_code == 422
    assert "not in force" in response.get_json()["errors"]["as_of"][0]


def test_openapi_documents_the_file_formats(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    content = spec["paths"]["/api/v1/schemes/{scheme_id}/beneficiaries"]["get"]["responses"]["200"][
        "content"
    ]
    assert set(content) == {"application/json", "text/csv", XLSX, "application/pdf"}


# --- streaming -----------------------------------------------------------------------------------
def test_rows_stream_lazily(db_session: Session, book, world: SimpleNamespace) -> None:
    spec = list_spec(book, PENSION, AS_OF)
    rows = stream_rows(db_session, book, spec, SYSTEM)
    first = next(rows)
    assert first[0]  # a household reference
    rows.close()  # ends the cursor without reading the rest
    # The connection is free again at once: the read-ahead thread and its cursor are gone.
    again = list(stream_rows(db_session, book, spec, SYSTEM))
    assert again[0] == first


def test_read_ahead_yields_every_part_in_order() -> None:
    assert list(services.read_ahead(iter(range(50)), depth=2)) == list(range(50))


def test_read_ahead_raises_the_fetching_error_after_the_parts_before_it() -> None:
    def parts():  # type: ignore[no-untyped-def]
        yield 1
        yield 2
        raise ValueError("cursor broke")

    got = []
    with pytest.raises(ValueError, match="cursor broke"):
        for part in services.read_ahead(parts()):
            got.append(part)
    assert got == [1, 2]


def test_read_ahead_hands_over_even_a_system_exit_instead_of_hanging() -> None:
    def parts():  # type: ignore[no-untyped-def]
        yield 1
        raise SystemExit(3)

    caught: list[BaseException] = []

    def consume() -> None:
        try:
            list(services.read_ahead(parts()))
        except BaseException as exc:  # noqa: BLE001 - what the consumer sees is the assertion
            caught.append(exc)

    consumer = threading.Thread(target=consume, daemon=True)  # a failure must not hang pytest
    consumer.start()
    consumer.join(timeout=10)
    assert not consumer.is_alive(), "the consumer waited for ever"
    assert len(caught) == 1 and isinstance(caught[0], SystemExit)


def test_closing_read_ahead_early_closes_the_source_before_returning() -> None:
    closed = []

    def parts():  # type: ignore[no-untyped-def]
        try:
            yield from range(1000)
        finally:
            closed.append(threading.current_thread().name)

    ahead = services.read_ahead(parts(), depth=2)
    assert next(ahead) == 0
    ahead.close()
    # Closed by the fetching thread itself, which is over by now.
    assert closed == ["sw-mis-read-ahead"]
    assert not any(t.name == "sw-mis-read-ahead" for t in threading.enumerate())


def test_csv_chunks_do_not_read_ahead() -> None:
    from sw_mis.exports.writers import CSV_BATCH, Column, csv_chunks

    consumed = 0

    def endless():
        nonlocal consumed
        while True:
            consumed += 1
            yield ("PK-1", consumed)

    chunks = csv_chunks([Column("household", "Household"), Column("n", "N", kind="int")], endless())
    next(chunks)  # header
    next(chunks)  # first batch
    assert consumed == CSV_BATCH


def test_write_list_for_the_system_user(db_session: Session, book, world: SimpleNamespace) -> None:
    out = io.BytesIO()
    n = write_list(db_session, book, list_spec(book, CASH, AS_OF), SYSTEM, "csv", out)
    rows = parse_csv(out.getvalue())
    assert n == len(rows)
    assert world.sindh.ref in {r["Household"] for r in rows}  # the CLI sees every area
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "export.csv").order_by(AuditEvent.id.desc())
    ).first()
    assert event is not None and event.username == "cli" and event.details["rows"] == n


def test_xlsx_continues_on_a_new_sheet_past_excels_row_limit(monkeypatch) -> None:
    from openpyxl import load_workbook

    from sw_mis.exports import writers

    monkeypatch.setattr(writers, "XLSX_MAX_ROW", 3)
    out = io.BytesIO()
    cols = [writers.Column("household", "Household")]
    assert writers.write_xlsx(cols, [(f"PK-{i}",) for i in range(7)], out) == 7
    book = load_workbook(io.BytesIO(out.getvalue()))
    assert book.sheetnames == ["List", "List (2)", "List (3)", "About"]
    values = [
        c.value
        for name in book.sheetnames[:3]
        for row in book[name].iter_rows(min_row=2)
        for c in row
    ]
    assert values == [f"PK-{i}" for i in range(7)]


def test_xlsx_escapes_markup_and_drops_control_characters() -> None:
    import datetime as dt

    from openpyxl import load_workbook

    from sw_mis.exports import writers

    cols = [
        writers.Column("household", "Household"),
        writers.Column("n", "N", kind="int"),
        writers.Column("born", "Born", kind="date"),
    ]
    rows = [('<b>&amp; "x"', 7, dt.date(2000, 2, 29)), (" bell\x07 ", None, None)]
    out = io.BytesIO()
    writers.write_xlsx(cols, rows, out, [("Scheme", "=cmd")])
    book = load_workbook(io.BytesIO(out.getvalue()))
    got = [[c.value for c in row] for row in book["List"].iter_rows(min_row=2)]
    assert got == [['<b>&amp; "x"', 7, dt.datetime(2000, 2, 29)], [" bell ", None, None]]
    assert book["About"]["B1"].value == "'=cmd"
