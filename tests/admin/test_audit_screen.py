"""The audit screen and read_events: search by user, action, record and dates; append-only."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from sw_mis.audit.models import AuditEvent
from sw_mis.audit.services import read_events, record_event
from sw_mis.auth.models import User
from sw_mis.auth.testing import login, make_test_user

DAY = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def trail(db_session: Session) -> list[AuditEvent]:
    ana = make_test_user(db_session, "clerk", username="ana")
    ben = make_test_user(db_session, "supervisor", username="ben")
    events = []
    for i, (user, action, ref) in enumerate(
        [
            (ana, "household.view", "H-1"),
            (ana, "household.update", "H-1"),
            (ben, "household.view", "H-2"),
            (ben, "export.csv", ""),
            (ana, "login.success", ""),
        ]
    ):
        event = record_event(
            db_session, action, object_type="household" if ref else "", object_ref=ref, user=user
        )
        event.at = DAY + dt.timedelta(days=i)
        events.append(event)
    db_session.flush()
    return events


def _actions(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.action for e in page.items]


def test_read_events_filters_and_pages(db_session: Session, trail: list[AuditEvent]) -> None:
    assert read_events(db_session).total >= 5
    assert _actions(read_events(db_session, username="ana")) == [
        "login.success",
        "household.update",
        "household.view",
    ]
    assert read_events(db_session, action="household.*").total == 3
    assert read_events(db_session, action="household.").total == 3
    assert read_events(db_session, action="household%").total == 0  # no SQL wildcards leak in
    assert _actions(read_events(db_session, object_ref="H-2")) == ["household.view"]
    window = read_events(
        db_session,
        since=(DAY + dt.timedelta(days=1)).date(),
        until=(DAY + dt.timedelta(days=2)).date(),
    )
    assert _actions(window) == ["household.view", "household.update"]
    first = read_events(db_session, username="ana", per_page=2)
    second = read_events(db_session, username="ana", per_page=2, page=2)
    assert (first.total, first.pages, len(first.items), len(second.items)) == (3, 2, 2, 1)
    assert {e.id for e in first.items}.isdisjoint({e.id for e in second.items})


def test_auditors_search_the_trail_on_screen(
    app: Flask, db_session: Session, trail: list[AuditEvent]
) -> None:
    make_test_user(db_session, "auditor", username="eve")
    client = app.test_client()
    login(client, "eve")
    response = client.get("/audit/?object_ref=H-1&action=household.*")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "household.update" in html and "H-2" not in html
    assert response.headers["Cache-Control"] == "no-store"
    bad = client.get("/audit/?since=2026-03-10&until=2026-03-01")
    assert bad.status_code == 422
    assert "before the start date" in bad.get_data(as_text=True)
    assert client.get("/audit/?since=not-a-date").status_code == 422


def test_clerks_cannot_read_the_trail(app: Flask, db_session: Session) -> None:
    make_test_user(db_session, "clerk", username="cleo")
    client = app.test_client()
    login(client, "cleo")
    assert client.get("/audit/").status_code == 403


def test_the_trail_is_append_only_no_route_changes_it(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        writes = (rule.methods or set()) - {"GET", "HEAD", "OPTIONS"}
        if rule.endpoint.startswith("audit.") or "audit" in rule.rule:
            assert not writes, f"{rule.rule} accepts {sorted(writes)}: the audit trail is read-only"


def test_events_record_who_and_from_where(app: Flask, db_session: Session) -> None:
    user = make_test_user(db_session, "clerk", username="dora")
    client = app.test_client()
    login(client, "dora", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    (event,) = read_events(db_session, username="dora", action="login.success").items
    assert (event.user_id, event.address) == (user.id, "10.1.2.3")
    assert isinstance(db_session.get(User, user.id), User)
