"""Administration operations: each changes users, offices or areas and writes the audit trail."""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app, has_app_context
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from sw_mis.audit.services import log_security, record_event
from sw_mis.auth import services as auth
from sw_mis.auth.models import Area, Office, OfficeArea, User
from sw_mis.auth.services import UserError, list_areas, load_areas

__all__ = [
    "UserError",
    "add_office",
    "add_user",
    "area_choices",
    "area_counts",
    "change_office",
    "change_user",
    "import_country_areas",
    "list_areas",
    "list_offices",
    "list_users",
    "load_areas",
    "office_choices",
    "offices_covering",
    "pack_countries",
    "reset_password",
]


def list_users(session: Session) -> list[User]:
    """Return every user with their office, by username."""
    return list(
        session.scalars(select(User).options(selectinload(User.office)).order_by(User.username))
    )


def list_offices(session: Session) -> list[tuple[Office, int]]:
    """Return every office with how many users it has, by code."""
    query = select(User.office_id, func.count()).group_by(User.office_id)
    counts = {office_id: n for office_id, n in session.execute(query)}
    offices = session.scalars(
        select(Office).options(selectinload(Office.areas)).order_by(Office.code)
    )
    return [(o, counts.get(o.id, 0)) for o in offices]


def office_choices(session: Session) -> list[tuple[str, str]]:
    """Return ``(code, label)`` for every office."""
    return [(o.code, f"{o.code} · {o.name}") for o, _ in list_offices(session)]


def area_choices(session: Session, country: str | None = None) -> list[tuple[str, str]]:
    """Return ``(code, label)`` for the areas (of ``country``), provinces before districts."""
    return [
        (a.code, f"{a.country} · {'— ' * (a.level - 1)}{a.name} ({a.code})")
        for a in auth.list_areas(session, country)
    ]


def add_user(session: Session, *, actor: User | None = None, **fields: str | None) -> User:
    """Create a user account (see ``auth.services.create_user``) and audit it."""
    user = auth.create_user(session, **fields)  # type: ignore[arg-type]
    details = {"role": user.role, "office": user.office.code if user.office else None}
    record_event(
        session, "user.create", object_type="user", object_ref=user.username, details=details
    )
    log_security("user.create", username=_name(actor), target=user.username, role=user.role)
    return user


def change_user(
    session: Session,
    user: User,
    *,
    role: str,
    office_code: str | None,
    active: bool,
    full_name: str | None = None,
    actor: User | None = None,
) -> dict[str, tuple[object, object]]:
    """Change a user's role, office or active flag; role changes are security-logged."""
    if actor is not None and actor.id == user.id and (role != user.role or not active):
        # An admin locking themselves out leaves nobody to undo it.
        raise UserError("role: " + _("you cannot change your own role or disable your own account"))
    changes = auth.update_user(
        session, user, role=role, office_code=office_code, active=active, full_name=full_name
    )
    if changes:
        record_event(
            session,
            "user.update",
            object_type="user",
            object_ref=user.username,
            details={k: [old, new] for k, (old, new) in changes.items()},
        )
    if "role" in changes:
        old, new = changes["role"]
        log_security(
            "user.role_change", username=_name(actor), target=user.username, old=old, new=new
        )
    if "active" in changes:
        log_security(
            "user.active_change", username=_name(actor), target=user.username, active=active
        )
    return changes


def reset_password(
    session: Session, user: User, password: str, *, actor: User | None = None
) -> None:
    """Set a user's password (argon2) and end their sessions and tokens; audit it."""
    auth.set_password(session, user, password)
    record_event(session, "user.password_reset", object_type="user", object_ref=user.username)
    log_security("user.password_reset", username=_name(actor), target=user.username)


def add_office(session: Session, **fields: object) -> Office:
    """Create an office with its covered areas and audit it."""
    office = auth.create_office(session, **fields)  # type: ignore[arg-type]
    record_event(
        session,
        "office.create",
        object_type="office",
        object_ref=office.code,
        details={"areas": sorted(office.area_codes)},
    )
    return office


def change_office(
    session: Session, office: Office, **fields: object
) -> dict[str, tuple[object, object]]:
    """Change an office's details or covered areas and audit what changed."""
    changes = auth.update_office(session, office, **fields)  # type: ignore[arg-type]
    if changes:
        record_event(
            session,
            "office.update",
            object_type="office",
            object_ref=office.code,
            details={k: [old, new] for k, (old, new) in changes.items()},
        )
    return changes


def pack_countries() -> list[str]:
    """Return the country codes of the loaded rule packs that can list areas."""
    book = current_app.extensions.get("sw_mis.rulebook") if has_app_context() else None
    if book is None or not hasattr(book, "areas"):
        return []
    return sorted(str(c).upper() for c in getattr(book, "packs", {}))


def import_country_areas(session: Session, country: str) -> tuple[int, int]:
    """Load ``country``'s area list from its rule pack into the areas table; audit it."""
    book = current_app.extensions.get("sw_mis.rulebook")
    if book is None or not hasattr(book, "areas"):
        raise UserError("country: " + _("no rule book with area lists is loaded"))
    try:
        areas: Iterable[object] = book.areas(country.lower()) or []
    except (KeyError, LookupError) as exc:
        raise UserError("country: " + _("no area list for %(country)s", country=country)) from exc
    added, updated = load_areas(session, country, areas)
    record_event(
        session,
        "areas.load",
        object_type="country",
        object_ref=country.upper(),
        details={"added": added, "updated": updated},
    )
    return added, updated


def area_counts(session: Session) -> dict[str, int]:
    """Return how many areas each country has."""
    query = select(Area.country, func.count()).group_by(Area.country)
    return {country: n for country, n in session.execute(query)}


def offices_covering(session: Session) -> dict[str, list[str]]:
    """Return, per area code, the codes of the offices that cover it directly."""
    result: dict[str, list[str]] = {}
    rows = session.execute(
        select(OfficeArea.area_code, Office.code).join(Office).order_by(Office.code)
    )
    for area_code, office_code in rows:
        result.setdefault(area_code, []).append(office_code)
    return result


def _name(user: User | None) -> str:
    return user.username if user is not None else ""
