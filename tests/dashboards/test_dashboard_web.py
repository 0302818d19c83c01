"""The dashboard pages and CSV downloads: roles, visibility, tables equal to their CSV."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from factories import login
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sw_mis.audit.models import AuditEvent
from sw_mis.dashboards.services import DASHBOARDS, FIGURES


class _Tables(HTMLParser):
    """Collect the cells of every ``<table id="table-…">`` on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._current: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        table_id = dict(attrs).get("id") or ""
        if tag == "table" and table_id.startswith("table-"):
            self._current = self.tables.setdefault(table_id.removeprefix("table-"), [])
        elif tag == "tr" and self._current is not None:
            self._current.append([])
        elif tag in ("td", "th") and self._current is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._current is not None:
            self._current[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def signed_in(client: FlaskClient, user: object) -> FlaskClient:
    assert login(client, user).status_code == 302
    return client


@pytest.mark.parametrize("role", ["clerk", "data_manager"])
def test_roles_without_dashboards_are_refused(
    client: FlaskClient, world: SimpleNamespace, role: str
) -> None:
    signed_in(client, getattr(world, role))
    assert client.get("/dashboards/").status_code == 403
    assert client.get("/dashboards/coverage").status_code == 403
    assert client.get("/dashboards/registrations.csv").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(
    client: FlaskClient, world: SimpleNamespace
) -> None:
    response = client.get("/dashboards/registrations.csv")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["supervisor", "admin", "auditor"])
def test_every_table_on_every_dashboard_equals_its_csv(
    client: FlaskClient, world: SimpleNamespace, db_session: Session, role: str
) -> None:
    signed_in(client, getattr(world, role))
    seen = set()
    for name in DASHBOARDS:
        page = client.get(f"/dashboards/{name}?date_from=2026-01-01", follow_redirects=True)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "<svg" in html and "<script>" not in html
        for figure, table in tables(html).items():
            seen.add(figure)
            download = client.get(f"/dashboards/{figure}.csv?date_from=2026-01-01")
            assert download.status_code == 200
            assert download.mimetype == "text/csv"
            assert csv_rows(download.data) == table, figure
    assert seen == set(FIGURES)
    audited = db_session.scalars(
        select(AuditEvent.object_ref).where(
            AuditEvent.action == "dashboard.csv",
            AuditEvent.username == getattr(world, role).username,
        )
    ).all()
    assert sorted(audited) == sorted(FIGURES)


def test_another_offices_data_never_shows(client: FlaskClient, world: SimpleNamespace) -> None:
    signed_in(client, world.supervisor)
    html = client.get("/dashboards/").get_data(as_text=True)
    assert "Punjab" in html and "Sindh" not in html
    body = client.get("/dashboards/registrations.csv").get_data(as_text=True)
    assert "Sindh" not in body and body.splitlines()[-1].endswith(",3,3")
    # Another office's province is not even offered as a filter.
    assert client.get("/dashboards/?admin1=PK-SD").status_code == 422
    assert client.get("/dashboards/registrations.csv?admin1=PK-SD").status_code == 422


def test_unknown_names_and_bad_filters(client: FlaskClient, world: SimpleNamespace) -> None:
    signed_in(client, world.admin)
    assert client.get("/dashboards/nothing").status_code == 404
    assert client.get("/dashboards/nothing.csv").status_code == 404
    bad = client.get("/dashboards/?date_from=2026-03-09&date_to=2026-03-01")
    assert bad.status_code == 422
    assert "The end date is before the start date." in bad.get_data(as_text=True)
    assert client.get("/dashboards/?date_from=yesterday").status_code == 422


def test_filters_carry_into_tabs_and_csv_links(client: FlaskClient, world: SimpleNamespace) -> None:
    signed_in(client, world.admin)
    html = client.get("/dashboards/?admin1=PK-PB&date_to=2026-03-31").get_data(as_text=True)
    assert "/dashboards/registrations.csv?date_to=2026-03-31&amp;admin1=PK-PB" in html
    assert "/dashboards/coverage?date_to=2026-03-31&amp;admin1=PK-PB" in html
    assert tables(html)["registrations"][0][1:-1] == ["Lahore"]
