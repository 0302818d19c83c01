"""Consent can be withdrawn (the household leaves screening and lists, its record stays), and a
household's data can be exported for the people it concerns."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from sw_mis.audit.models import AuditEvent
from sw_mis.eligibility.sql import scheme_select
from sw_mis.registry import services
from sw_mis.registry.errors import Forbidden, ValidationError
from sw_mis.registry.models import ChangeRecord
from tests.factories import csrf_token, login, make_household, make_user


def test_withdrawn_household_leaves_screening_and_lists(app, db_session):
    clerk = make_user(db_session, "clerk")
    supervisor = make_user(db_session, "supervisor")
    household = make_household(db_session, clerk, pmt_score=10, in_social_registry=True)
    book = app.extensions["sw_mis.rulebook"]
    scheme = book.schemes_for("PK")[0].id

    def listed() -> bool:
        rows = db_session.execute(scheme_select(book, scheme, dt.date(2025, 6, 1))).all()
        return any(r.household_id == household.id for r in rows)

    assert listed()
    services.withdraw_consent(db_session, supervisor, household, reason="family asked")
    assert household.status == "consent_withdrawn" and household.consent_withdrawn_at
    assert not listed()
    record = db_session.scalar(
        select(ChangeRecord).where(
            ChangeRecord.household_id == household.id, ChangeRecord.action == "consent.withdraw"
        )
    )
    assert record.reason == "family asked"
    # The record is kept, and a second withdrawal is refused with a reason.
    with pytest.raises(ValidationError):
        services.withdraw_consent(db_session, supervisor, household, reason="again")


def test_withdrawal_needs_a_reason_and_a_supervisor(app, db_session):
    clerk = make_user(db_session, "clerk")
    household = make_household(db_session, clerk)
    with pytest.raises(Forbidden):
        services.withdraw_consent(db_session, clerk, household, reason="x")
    with pytest.raises(ValidationError) as refused:
        services.withdraw_consent(db_session, make_user(db_session, "supervisor"), household)
    assert "reason" in refused.value.errors
    assert household.status == "active"


def test_withdrawn_household_has_no_eligibility_page(app, client, db_session):
    clerk = make_user(db_session, "clerk")
    supervisor = make_user(db_session, "supervisor")
    household = make_household(db_session, clerk)
    login(client, supervisor)
    path = f"/households/{household.ref}/withdraw-consent"
    response = client.post(
        path,
        data={
            "csrf_token": csrf_token(client, path),
            "version": household.version,
            "reason": "moved away",
        },
    )
    assert response.status_code == 302
    assert client.get(f"/households/{household.ref}/eligibility").status_code == 404
    page = client.get(f"/households/{household.ref}")
    assert page.status_code == 200  # kept, for the retention period


def test_personal_data_export_holds_everything_and_is_audited(app, client, db_session):
    clerk = make_user(db_session, "clerk")
    household = make_household(db_session, clerk, locality="Gulberg <b>III</b>")
    login(client, make_user(db_session, "data_manager"))
    response = client.get(f"/households/{household.ref}/personal-data.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.data)
    assert data["ref"] == household.ref
    assert data["locality"] == "Gulberg <b>III</b>"
    assert {m["given_name"] for m in data["members"]} == {"Amina", "Bilal"}
    assert data["history"] and data["history"][0]["action"]
    assert (
        db_session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "household.personal_data_export",
                AuditEvent.object_ref == household.ref,
            )
        )
        is not None
    )


def test_clerks_cannot_export_personal_data(app, client, db_session):
    clerk = make_user(db_session, "clerk")
    household = make_household(db_session, clerk)
    login(client, clerk)
    assert client.get(f"/households/{household.ref}/personal-data.json").status_code == 403
