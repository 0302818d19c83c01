"""Factories for tests: areas, offices, users and households, built through the real services.

Stable helpers other suites rely on: ``make_area``, ``make_office``, ``make_user``,
``make_household``, ``household_data``, ``login`` and ``api_headers``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sw_mis.auth import testing as auth_testing
from sw_mis.auth.models import Area, Office, OfficeArea, User
from sw_mis.auth.services import visible_area_codes
from sw_mis.registry.models import Household
from sw_mis.registry.services import register_household

PASSWORD = auth_testing.PASSWORD
_serial = itertools.count(1)

#: The default area tree: two provinces, each with a district and a sub-district.
DEFAULT_AREAS = (
    ("PK-PB", 1, "Punjab", None),
    ("PK-PB-LHR", 2, "Lahore", "PK-PB"),
    ("PK-PB-LHR-1", 3, "Lahore City", "PK-PB-LHR"),
    ("PK-SD", 1, "Sindh", None),
    ("PK-SD-KHI", 2, "Karachi", "PK-SD"),
    ("PK-SD-KHI-1", 3, "Karachi South", "PK-SD-KHI"),
)


def make_area(
    session: Session,
    code: str,
    *,
    country: str = "PK",
    level: int | None = None,
    name: str | None = None,
    parent: Area | str | None = None,
) -> Area:
    """Return the area ``code``, creating it (level follows the parent when not given)."""
    area = session.get(Area, code)
    if area is not None:
        return area
    parent_code = parent.code if isinstance(parent, Area) else parent
    if level is None:
        level = 1 if parent_code is None else session.get(Area, parent_code).level + 1  # type: ignore[union-attr]
    area = Area(code=code, country=country, level=level, name=name or code, parent_code=parent_code)
    session.add(area)
    session.flush()
    return area


def default_areas(session: Session) -> dict[str, Area]:
    """Create (once) and return the default Pakistani area tree, by code."""
    return {
        code: make_area(session, code, level=level, name=name, parent=parent)
        for code, level, name, parent in DEFAULT_AREAS
    }


def make_office(
    session: Session,
    code: str,
    areas: Iterable[Area | str] = (),
    *,
    name: str | None = None,
    country: str = "PK",
) -> Office:
    """Return the office ``code`` covering ``areas`` (created when missing)."""
    office = session.scalar(select(Office).where(Office.code == code))
    if office is not None:
        return office
    office = Office(code=code, name=name or f"Office {code}", country=country)
    for area in areas:
        office.areas.append(OfficeArea(area_code=area.code if isinstance(area, Area) else area))
    session.add(office)
    session.flush()
    return office


def make_user(
    session: Session,
    role: str,
    office: Office | None = None,
    *,
    username: str | None = None,
    password: str = PASSWORD,
    active: bool = True,
) -> User:
    """Create a user of ``role``; office-bound roles default to an office covering Punjab."""
    if office is None and role not in auth_testing.NO_OFFICE_ROLES:
        default_areas(session)
        office = make_office(session, "PB-01", ["PK-PB"], name="Punjab office")
    return auth_testing.make_test_user(
        session,
        role,
        username=username or f"{role}-{next(_serial)}",
        office=office,
        password=password,
        active=active,
    )


def member_data(**overrides: Any) -> dict[str, Any]:
    """Return raw data for one member (a head by default)."""
    data: dict[str, Any] = {
        "given_name": "Amina",
        "family_name": "Bibi",
        "sex": "female",
        "date_of_birth": dt.date(1980, 5, 17),
        "relationship_to_head": "head",
        "marital_status": "widowed",
    }
    data.update(overrides)
    return data


def _default_location(session: Session, user: User | None) -> dict[str, str]:
    default_areas(session)
    visible = visible_area_codes(session, user) if user is not None else None
    stmt = select(Area).where(Area.level == 2).order_by(Area.code)
    if visible is not None:
        stmt = stmt.where(Area.code.in_(visible))
    district = session.scalars(stmt).first()
    if district is None:
        raise ValueError("the user's office covers no district: pass admin1 and admin2")
    return {"admin1": district.parent_code or "", "admin2": district.code}


def household_data(
    session: Session | None = None, user: User | None = None, **overrides: Any
) -> dict[str, Any]:
    """Return raw data for a valid household (location from the user's office when known)."""
    data: dict[str, Any] = {
        "country": "PK",
        "consent_given": True,
        "area_type": "urban",
        "locality": "Model Town",
        "members": [
            member_data(),
            member_data(
                given_name="Bilal",
                family_name="Khan",
                sex="male",
                date_of_birth=dt.date(2010, 1, 2),
                relationship_to_head="child",
                marital_status="never_married",
            ),
        ],
    }
    if session is not None and "admin2" not in overrides:
        data.update(_default_location(session, user))
    data.update(overrides)
    return data


def make_household(session: Session, user: User, **overrides: Any) -> Household:
    """Register a household through the service (duplicate warnings skipped)."""
    return register_household(
        session, user, household_data(session, user, **overrides), check_likely=False
    )


def login(client: FlaskClient, user: User | str, password: str = PASSWORD) -> Any:
    """Sign ``user`` in through the login form (with its CSRF token); return the response."""
    username = user if isinstance(user, str) else user.username
    return auth_testing.login(client, username, password)


def api_headers(client: FlaskClient, user: User | str, password: str = PASSWORD) -> dict[str, str]:
    """Return the Authorization header of a fresh bearer token for ``user``."""
    username = user if isinstance(user, str) else user.username
    return auth_testing.bearer(auth_testing.api_token(client, username, password))


def csrf_token(client: FlaskClient, path: str) -> str:
    """Return the CSRF token of the form on the page at ``path``."""
    return auth_testing.csrf_token(client, path)
