"""Each figure's numbers against the hand-built world of conftest.py, on both databases."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from sqlalchemy.orm import Session

from sw_mis.dashboards import services
from sw_mis.dashboards.services import Filters
from tests.dashboards.conftest import NAMES

ALL = Filters()


def rows(session: Session, name: str, user: object, filters: Filters = ALL) -> list[list[object]]:
    return services.FIGURES[name](session, user, filters, NAMES).rows


def test_registrations_per_week_and_province(db_session: Session, world: SimpleNamespace) -> None:
    assert rows(db_session, "registrations", world.admin) == [
        ["2026-03-02", 2, 1, 3],
        ["2026-03-09", 0, 0, 0],  # an empty week still shows
        ["2026-03-16", 1, 0, 1],
        ["Total", 3, 1, 4],
    ]
    figure = services.registrations(db_session, world.admin, ALL, NAMES)
    assert figure.headers == ["Week starting (Monday, UTC)", "Punjab", "Sindh", "Total"]


def test_registrations_only_count_the_users_areas(
    db_session: Session, world: SimpleNamespace
) -> None:
    expected = [["2026-03-02", 2, 2], ["2026-03-09", 0, 0], ["2026-03-16", 1, 1], ["Total", 3, 3]]
    assert rows(db_session, "registrations", world.supervisor) == expected
    figure = services.registrations(db_session, world.supervisor, ALL, NAMES)
    assert "Sindh" not in figure.headers
    # Asking for another office's province shows nothing, not its households.
    assert rows(db_session, "registrations", world.supervisor, Filters(admin1="PK-SD")) == []


def test_registrations_filtered_by_province_break_down_by_district(
    db_session: Session, world: SimpleNamespace
) -> None:
    figure = services.registrations(db_session, world.admin, Filters(admin1="PK-PB"), NAMES)
    assert figure.headers[1:-1] == ["Lahore"]
    assert figure.rows[-1] == ["Total", 3, 3]


def test_registrations_filtered_by_dates(db_session: Session, world: SimpleNamespace) -> None:
    march_8 = Filters(date_from=dt.date(2026, 3, 4), date_to=dt.date(2026, 3, 8))
    assert rows(db_session, "registrations", world.admin, march_8) == [
        ["2026-03-02", 1, 1, 2],
        ["Total", 1, 1, 2],
    ]


def test_screenings_per_scheme_and_outcome(db_session: Session, world: SimpleNamespace) -> None:
    assert rows(db_session, "screenings", world.admin) == [
        ["s_a", "Scheme A", 1, 0, 3, 4],
        ["s_b", "Scheme B", 0, 1, 0, 1],
    ]
    assert rows(db_session, "screenings", world.supervisor) == [
        ["s_a", "Scheme A", 1, 0, 2, 3],
        ["s_b", "Scheme B", 0, 1, 0, 1],
    ]
    assert rows(db_session, "screenings", world.officer_sd) == [["s_a", "Scheme A", 0, 0, 1, 1]]
    later = Filters(date_from=dt.date(2026, 3, 4))
    assert rows(db_session, "screenings", world.admin, later) == []


def test_referrals_per_scheme_and_status(db_session: Session, world: SimpleNamespace) -> None:
    # issued, received, enrolled, rejected, expired, cancelled, total
    assert rows(db_session, "referrals", world.supervisor) == [
        ["s_a", "Scheme A", 1, 0, 0, 0, 1, 0, 2],  # the overdue one counts as expired
        ["s_b", "Scheme B", 0, 0, 1, 0, 0, 0, 1],
    ]
    assert rows(db_session, "referrals", world.admin)[0] == ["s_a", "Scheme A", 1, 1, 0, 0, 1, 0, 3]


def test_coverage_from_each_schemes_latest_finished_run(
    db_session: Session, world: SimpleNamespace
) -> None:
    assert rows(db_session, "coverage", world.admin) == [
        ["s_a", "Scheme A", "Punjab", 2, 1, "50.0"],
        ["s_a", "Scheme A", "Sindh", 1, 1, "100.0"],
        ["s_a", "Scheme A", "All areas", 3, 2, "66.7"],
        ["s_b", "Scheme B", "Punjab", 1, 1, "100.0"],  # s_b's latest run is the first one
        ["s_b", "Scheme B", "All areas", 1, 1, "100.0"],
    ]
    assert rows(db_session, "coverage", world.supervisor) == [
        ["s_a", "Scheme A", "Punjab", 2, 1, "50.0"],
        ["s_a", "Scheme A", "All areas", 2, 1, "50.0"],
        ["s_b", "Scheme B", "Punjab", 1, 1, "100.0"],
        ["s_b", "Scheme B", "All areas", 1, 1, "100.0"],
    ]


def test_undetermined_per_scheme(db_session: Session, world: SimpleNamespace) -> None:
    assert rows(db_session, "undetermined", world.admin) == [["s_a", "Scheme A", 1, 3]]
    assert rows(db_session, "undetermined", world.officer_sd) == [["s_a", "Scheme A", 0, 1]]


def test_facts_most_often_missing(db_session: Session, world: SimpleNamespace) -> None:
    assert rows(db_session, "missing_facts", world.supervisor) == [
        ["s_a", "Scheme A", "household.pmt_score", 2],
        ["s_a", "Scheme A", "members.date_of_birth", 1],
    ]
    assert rows(db_session, "missing_facts", world.admin)[0][3] == 3


def test_duplicates_found_per_week(db_session: Session, world: SimpleNamespace) -> None:
    # merged, national ID override, confirmed not a duplicate, total
    assert rows(db_session, "duplicates", world.admin) == [
        ["2026-03-02", 1, 1, 1, 3],
        ["Total", 1, 1, 1, 3],
    ]
    assert rows(db_session, "duplicates", world.supervisor) == [
        ["2026-03-02", 1, 1, 0, 2],
        ["Total", 1, 1, 0, 2],
    ]


def test_no_finished_run_means_no_eligible_counts(
    db_session: Session, world: SimpleNamespace
) -> None:
    from sw_mis.eligibility.models import ScreeningRun

    for r in db_session.query(ScreeningRun):
        r.status = "running"
    db_session.flush()
    figure = services.coverage(db_session, world.admin, ALL, NAMES)
    assert all(row[3] == 0 for row in figure.rows)
    assert "No registry-wide screening" in figure.note


def test_every_dashboard_renders_its_charts(db_session: Session, world: SimpleNamespace) -> None:
    from sw_mis.dashboards.svg import render

    for name in services.DASHBOARDS:
        for figure in services.compute_dashboard(db_session, world.admin, name, ALL, NAMES):
            svg = str(render(figure.chart))
            assert svg.startswith("<svg") and "style=" not in svg  # the CSP refuses style
