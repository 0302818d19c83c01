"""Dashboards in the reader's language: titles, headings, series and notes; the CSV is the table."""

from __future__ import annotations

from types import SimpleNamespace

from factories import login
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from sw_mis.dashboards import services
from sw_mis.dashboards.services import Filters
from tests.dashboards.test_dashboard_web import csv_rows, tables


def signed_in(client: FlaskClient, db_session: Session, user, language: str) -> FlaskClient:  # type: ignore[no-untyped-def]
    user.language = language
    db_session.flush()
    assert login(client, user).status_code == 302
    return client


def test_an_urdu_supervisor_reads_figures_and_csv_in_urdu(
    client: FlaskClient, db_session: Session, world: SimpleNamespace
) -> None:
    signed_in(client, db_session, world.supervisor, "ur")
    html = client.get("/dashboards/screening?date_from=2026-01-01").get_data(as_text=True)
    assert "فی اسکیم اور نتیجہ جانچ" in html  # Screenings per scheme and outcome
    assert "رجسٹریشن اور دہرے ریکارڈ" in html  # the Registrations and duplicates tab
    assert "Screenings per scheme and outcome" not in html
    table = tables(html)["screenings"]
    assert table[0] == ["اسکیم کی شناخت", "اسکیم", "اہل", "نااہل", "غیر حتمی", "کل"]
    download = client.get("/dashboards/screenings.csv?date_from=2026-01-01")
    assert download.status_code == 200
    assert csv_rows(download.data) == table


def test_a_french_officer_reads_the_coverage_in_french(
    client: FlaskClient, db_session: Session, world: SimpleNamespace
) -> None:
    signed_in(client, db_session, world.admin, "fr")
    html = client.get("/dashboards/coverage").get_data(as_text=True)
    assert "Couverture : ménages éligibles et inscrits" in html
    table = tables(html)["coverage"]
    assert table[0][:3] == ["Identifiant du programme", "Programme", "Zone"]
    assert any(row[2] == "Toutes les zones" for row in table[1:])
    assert csv_rows(client.get("/dashboards/coverage.csv").data) == table


def test_outside_a_request_figures_are_english(db_session: Session, world: SimpleNamespace) -> None:
    figure = services.coverage(db_session, world.admin, Filters(), {})
    assert figure.title == "Coverage: eligible and enrolled households"
    assert figure.headers[-1] == "Enrolled per eligible (%)"
    assert str(services.DASHBOARDS["coverage"][0]) == "Coverage"
