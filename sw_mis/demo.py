"""Prepare a demo database: schema, areas, offices, one user per role and synthetic households.

Safe to run again: every step only adds what is missing, so `sw-mis demo` restarts the same demo.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from sw_mis.auth.models import Area, Office, User
from sw_mis.auth.services import create_office, create_user, load_areas
from sw_mis.db import get_engine, session_scope
from sw_mis.migrate import upgrade
from sw_mis.registry.models import Household
from sw_mis.registry.seed import read_area_file, seed_households

#: The demo runs a Khyber Pakhtunkhwa one-window office when the Pakistan pack is there.
PREFERRED_COUNTRY = "PK"

#: (username, password, role, office key); office key "local", "hq" or None (nationwide role).
DEMO_USERS = (
    ("clerk", "clerk-demo", "clerk", "local"),
    ("supervisor", "supervisor-demo", "supervisor", "local"),
    ("officer", "officer-demo", "programme_officer", "hq"),
    ("datamanager", "datamanager-demo", "data_manager", "hq"),
    ("auditor", "auditor-demo", "auditor", None),
    ("admin", "admin-demo", "admin", None),
)


def loaded_countries(app: Flask) -> list[str]:
    """Return the upper-case codes of the rule packs this app loads that list areas."""
    settings = app.config["SW_MIS"]
    rules_path: Path = settings.rules_path
    book = app.extensions.get("sw_mis.rulebook")
    refused = {str(c).lower() for c in getattr(book, "refused_packs", {}) or {}}
    packs = settings.rule_packs or tuple(sorted(p.name for p in rules_path.iterdir() if p.is_dir()))
    return [
        p.upper()
        for p in packs
        if p.lower() not in refused and (rules_path / p.lower() / "areas.yaml").exists()
    ]


def _load_all_areas(session: Session, countries: list[str], rules_path: Path) -> None:
    for country in countries:
        load_areas(session, country, read_area_file(country, rules_path))


def _local_area(session: Session, country: str) -> Area | None:
    """Pick the province the local office covers: Khyber Pakhtunkhwa for Pakistan."""
    provinces = list(
        session.scalars(
            select(Area).where(Area.country == country, Area.level == 1).order_by(Area.code)
        )
    )
    khyber = [a for a in provinces if "khyber" in a.name.lower() or a.code.endswith("-KP")]
    return (khyber or provinces or [None])[0]


def _ensure_offices(session: Session, country: str) -> dict[str, Office]:
    """Create a local one-window office and a national headquarters for ``country``."""
    offices: dict[str, Office] = {}
    province = _local_area(session, country)
    provinces = list(
        session.scalars(select(Area.code).where(Area.country == country, Area.level == 1))
    )
    local_name = "Peshawar one-window office" if country == "PK" else "Local one-window office"
    specs = {
        "local": (
            f"{country}-LOCAL-1",
            local_name if province is None else f"{local_name} ({province.name})",
            [province.code] if province else [],
            "Mon-Fri 09:00-16:00",
        ),
        "hq": (f"{country}-HQ", "National headquarters", provinces, "Mon-Fri 09:00-17:00"),
    }
    for key, (code, name, areas, hours) in specs.items():
        office = session.scalar(select(Office).where(Office.code == code))
        if office is None:
            office = create_office(
                session,
                code=code,
                name=name,
                country=country,
                address="Demo address",
                hours=hours,
                area_codes=areas,
            )
        offices[key] = office
    return offices


def prepare_demo(app: Flask, households: int = 300) -> list[tuple[str, str, str]]:
    """Migrate, load areas, create demo offices and users, seed households if none exist."""
    engine = get_engine(app)
    upgrade(engine)
    settings = app.config["SW_MIS"]
    countries = loaded_countries(app)
    if not countries:
        raise RuntimeError(f"no rule pack with an area list under {settings.rules_path}")
    country = PREFERRED_COUNTRY if PREFERRED_COUNTRY in countries else countries[0]
    logins = []
    with session_scope(app) as session:
        _load_all_areas(session, countries, settings.rules_path)
        offices = _ensure_offices(session, country)
        for username, password, role, office_key in DEMO_USERS:
            if session.scalar(select(User.id).where(User.username == username)) is None:
                create_user(
                    session,
                    username=username,
                    password=password,
                    role=role,
                    office_code=offices[office_key].code if office_key else None,
                    full_name=f"Demo {role.replace('_', ' ')}",
                )
            logins.append((username, password, role))
        registry_empty = session.scalar(select(Household.id).limit(1)) is None
    if registry_empty and households > 0:
        seed_households(engine, households, seed=1, country=country, rules_path=settings.rules_path)
    return logins
