"""Users, offices, sign-in, API tokens and which households a user may see."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable

from flask_babel import gettext as _
from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from sw_mis.auth.models import ROLES, ApiToken, Area, Office, OfficeArea, User
from sw_mis.auth.passwords import hash_password, password_problem, verify_password

TOKEN_LIFETIME = dt.timedelta(hours=8)


class UserError(ValueError):
    """A user account cannot be created or changed as asked."""


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    office_code: str | None = None,
    full_name: str = "",
    language: str = "en",
) -> User:
    """Create a user with a hashed password; the office is required for office-bound roles."""
    username = username.strip()
    if not username:
        raise UserError("username: " + _("must not be empty"))
    if role not in ROLES:
        raise UserError("role: " + _("must be one of %(roles)s", roles=", ".join(ROLES)))
    problem = password_problem(password)
    if problem:
        raise UserError(f"password: {problem}")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError("username: " + _("%(name)s is already taken", name=repr(username)))
    office = None
    if office_code:
        office = session.scalar(select(Office).where(Office.code == office_code))
        if office is None:
            raise UserError("office: " + _("no office with code %(code)s", code=repr(office_code)))
    elif role not in ("admin", "auditor"):
        raise UserError("office: " + _("a %(role)s must belong to an office", role=role))
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        office=office,
        full_name=full_name or username,
        language=language,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """Return the active user with these credentials, or None."""
    user = session.scalar(select(User).where(User.username == username.strip()))
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        return None
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# A signed-in browser session is a row in ``api_tokens`` too, so that signing out (or an admin
# disabling the account) really ends it on the server: Flask's cookie sessions are otherwise
# valid until they expire, even after logout. Its digest is salted with this prefix, so a
# session id presented as an API bearer token matches nothing (and vice versa).
_SESSION_DIGEST_PREFIX = "web-session:"


def start_web_session(
    session: Session, user: User, lifetime: dt.timedelta, now: dt.datetime | None = None
) -> str:
    """Create a server-side record of a browser session and return its random id."""
    now = now or dt.datetime.now(dt.UTC)
    sid = secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=user.id,
            token_hash=_digest(_SESSION_DIGEST_PREFIX + sid),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return sid


def _live_row(session: Session, digest: str) -> ApiToken | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None or row.revoked_at is not None:
        return None
    if _aware(row.expires_at) <= dt.datetime.now(dt.UTC) or not row.user.active:
        return None
    return row


def user_for_web_session(session: Session, user_id: int, sid: str) -> User | None:
    """Return the active user of a live (not ended, not expired) browser session, or None."""
    row = _live_row(session, _digest(_SESSION_DIGEST_PREFIX + sid))
    if row is None or row.user_id != user_id:
        return None
    return row.user


def end_web_session(session: Session, sid: str | None) -> None:
    """End a browser session on the server, so its cookie no longer signs anyone in."""
    if not sid:
        return
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(_SESSION_DIGEST_PREFIX + sid))
    )
    if row is not None and row.revoked_at is None:
        row.revoked_at = dt.datetime.now(dt.UTC)
        session.flush()


def revoke_all_credentials(session: Session, user: User) -> int:
    """End every browser session and revoke every API token of ``user``; return how many."""
    now = dt.datetime.now(dt.UTC)
    rows = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    for row in rows:
        row.revoked_at = now
    session.flush()
    return len(rows)


def issue_token(
    session: Session, user: User, now: dt.datetime | None = None
) -> tuple[str, ApiToken]:
    """Create a bearer token for ``user``; only its digest is stored."""
    now = now or dt.datetime.now(dt.UTC)
    token = secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id, token_hash=_digest(token), created_at=now, expires_at=now + TOKEN_LIFETIME
    )
    session.add(row)
    session.flush()
    return token, row


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes for timezone-aware columns; they were stored in UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def user_for_token(session: Session, token: str) -> tuple[User, ApiToken] | None:
    """Return the user and token row for a valid, unexpired, unrevoked bearer token."""
    row = _live_row(session, _digest(token))
    if row is None:
        return None
    return row.user, row


def revoke_token(session: Session, row: ApiToken) -> None:
    """Revoke a bearer token."""
    row.revoked_at = dt.datetime.now(dt.UTC)
    session.flush()


#: Key in ``Session.info`` of the memo of :func:`visible_area_codes`.
_VISIBLE_CODES = "sw_mis.visible_area_codes"


def visible_area_codes(session: Session, user: User) -> set[str] | None:
    """Return the area codes ``user`` may see (with every descendant), or None for all.

    Every lookup, search and registration asks this, so the answer is remembered for the
    session (one request or command), keyed by the office and the areas it covers: editing an
    office's areas changes the key, and a flush or rollback touching areas clears the memo.
    """
    if user.role in ("admin", "auditor"):
        return None
    office = user.office
    if office is None:
        return set()
    own = tuple(sorted(office.area_codes))
    memo: dict[tuple[object, ...], frozenset[str]] = session.info.setdefault(_VISIBLE_CODES, {})
    key = (office.id, own)
    codes = memo.get(key)
    if codes is None:
        codes = memo[key] = frozenset(_with_descendants(session, own))
    return set(codes)


def _with_descendants(session: Session, codes: Iterable[str]) -> set[str]:
    """Return ``codes`` and every area below them, in one (recursive) query."""
    found = set(codes)
    if not found:
        return found
    tree = select(Area.code).where(Area.code.in_(found)).cte("area_tree", recursive=True)
    tree = tree.union(select(Area.code).join(tree, Area.parent_code == tree.c.code))
    found.update(session.scalars(select(tree.c.code)))
    return found


def forget_visible_area_codes(session: Session) -> None:
    """Drop the memo of :func:`visible_area_codes` (after areas or offices change)."""
    session.info.pop(_VISIBLE_CODES, None)


#: Set in ``Session.info`` while the transaction has written areas or offices.
_AREAS_WRITTEN = "sw_mis.areas_written"


@event.listens_for(Session, "after_flush")
def _areas_flushed(session: Session, _context: object) -> None:
    if any(
        isinstance(obj, (Area, OfficeArea, Office))
        for obj in (*session.new, *session.dirty, *session.deleted)
    ):
        session.info[_AREAS_WRITTEN] = True
        forget_visible_area_codes(session)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    session.info.pop(_AREAS_WRITTEN, None)


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous: SessionTransaction) -> None:
    # A memo computed from areas this transaction wrote would outlive them.
    if session.info.get(_AREAS_WRITTEN):
        forget_visible_area_codes(session)
        if previous.parent is None:
            session.info.pop(_AREAS_WRITTEN, None)


# --- administration: users, offices, areas ----------------------------------------------------
def _office_by_code(session: Session, office_code: str | None) -> Office | None:
    if not office_code:
        return None
    office = session.scalar(select(Office).where(Office.code == office_code))
    if office is None:
        raise UserError("office: " + _("no office with code %(code)s", code=repr(office_code)))
    return office


def update_user(
    session: Session,
    user: User,
    *,
    role: str,
    office_code: str | None,
    active: bool,
    full_name: str | None = None,
) -> dict[str, tuple[object, object]]:
    """Change a user's role, office and active flag; return ``{field: (old, new)}``."""
    if role not in ROLES:
        raise UserError("role: " + _("must be one of %(roles)s", roles=", ".join(ROLES)))
    office = _office_by_code(session, office_code)
    if office is None and role not in ("admin", "auditor"):
        raise UserError("office: " + _("a %(role)s must belong to an office", role=role))
    changes: dict[str, tuple[object, object]] = {}
    old_office = user.office.code if user.office else None
    new_office = office.code if office else None
    if user.role != role:
        changes["role"] = (user.role, role)
    if old_office != new_office:
        changes["office"] = (old_office, new_office)
    if user.active != active:
        changes["active"] = (user.active, active)
    if full_name is not None and full_name.strip() and full_name.strip() != user.full_name:
        changes["full_name"] = (user.full_name, full_name.strip())
        user.full_name = full_name.strip()
    user.role = role
    user.office = office
    user.active = active
    if "role" in changes or "office" in changes or not active:
        # New rights (or none) take effect now, not when today's sessions and tokens expire.
        revoke_all_credentials(session, user)
    session.flush()
    return changes


def set_password(session: Session, user: User, password: str) -> None:
    """Set a new argon2 password hash for ``user`` and end their sessions and tokens."""
    problem = password_problem(password)
    if problem:
        raise UserError(f"password: {problem}")
    user.password_hash = hash_password(password)
    revoke_all_credentials(session, user)
    session.flush()


def create_office(
    session: Session,
    *,
    code: str,
    name: str,
    country: str,
    address: str = "",
    hours: str = "",
    area_codes: list[str] | tuple[str, ...] = (),
) -> Office:
    """Create an office covering ``area_codes`` (codes of areas of the same country)."""
    code = code.strip().upper()
    if not code:
        raise UserError("code: " + _("must not be empty"))
    if session.scalar(select(Office.id).where(Office.code == code)) is not None:
        raise UserError(
            "code: " + _("an office with code %(code)s already exists", code=repr(code))
        )
    office = Office(
        code=code, name=name.strip(), country=country.upper(), address=address, hours=hours
    )
    session.add(office)
    _set_office_areas(session, office, area_codes)
    session.flush()
    return office


def update_office(
    session: Session,
    office: Office,
    *,
    name: str,
    address: str = "",
    hours: str = "",
    area_codes: list[str] | tuple[str, ...] = (),
) -> dict[str, tuple[object, object]]:
    """Change an office's name, address, hours and covered areas; return the changes."""
    changes: dict[str, tuple[object, object]] = {}
    for field, value in (("name", name.strip()), ("address", address), ("hours", hours)):
        if getattr(office, field) != value:
            changes[field] = (getattr(office, field), value)
            setattr(office, field, value)
    old_areas = sorted(office.area_codes)
    _set_office_areas(session, office, area_codes)
    if sorted(office.area_codes) != old_areas:
        changes["areas"] = (old_areas, sorted(office.area_codes))
    session.flush()
    return changes


def _set_office_areas(
    session: Session, office: Office, area_codes: list[str] | tuple[str, ...]
) -> None:
    wanted = sorted(set(area_codes))
    if wanted:
        found = dict(
            session.execute(select(Area.code, Area.country).where(Area.code.in_(wanted))).all()
        )
        missing = [c for c in wanted if c not in found]
        if missing:
            raise UserError("areas: " + _("unknown area codes %(codes)s", codes=", ".join(missing)))
        foreign = [c for c in wanted if found[c] != office.country]
        if foreign:
            raise UserError(
                "areas: "
                + _(
                    "not in %(country)s: %(codes)s",
                    country=office.country,
                    codes=", ".join(foreign),
                )
            )
    keep = [a for a in office.areas if a.area_code in wanted]
    have = {a.area_code for a in keep}
    office.areas = keep + [OfficeArea(area_code=c) for c in wanted if c not in have]


def _area_field(item: object, *names: str) -> object:
    for name in names:
        value = item.get(name) if isinstance(item, dict) else getattr(item, name, None)
        if value is not None:
            return value
    return None


def load_areas(session: Session, country: str, areas: Iterable[object]) -> tuple[int, int]:
    """Insert or update a country's areas (dicts or objects with code, name, level, parent).

    Parents are written before children, so the list may come in any order. Returns
    ``(added, updated)``; areas no longer listed are kept, as households may still use them.
    """
    country = country.strip().upper()
    items = []
    for item in areas:
        code = str(_area_field(item, "code") or "").strip()
        if not code:
            raise UserError("areas: " + _("an area has no code"))
        parent = _area_field(item, "parent", "parent_code")
        items.append(
            (
                code,
                str(_area_field(item, "name") or code),
                int(_area_field(item, "level") or 1),  # type: ignore[call-overload]
                str(parent) if parent else None,
            )
        )
    items.sort(key=lambda i: i[2])
    existing = {a.code: a for a in session.scalars(select(Area).where(Area.country == country))}
    known = set(existing) | {i[0] for i in items}
    added = updated = 0
    for code, name, level, parent in items:
        if parent and parent not in known:
            raise UserError(
                "areas: " + _("%(code)s names unknown parent %(parent)s", code=code, parent=parent)
            )
        area = existing.get(code)
        if area is None:
            session.add(
                Area(code=code, country=country, level=level, name=name, parent_code=parent)
            )
            added += 1
        elif (area.name, area.level, area.parent_code) != (name, level, parent):
            area.name, area.level, area.parent_code = name, level, parent
            updated += 1
    # Rows of one table are inserted in the order added: sorted by level, parents come first.
    session.flush()
    return added, updated


def list_areas(session: Session, country: str | None = None) -> list[Area]:
    """Return areas (of ``country``, if given) ordered by country, level and name."""
    query = select(Area).order_by(Area.country, Area.level, Area.name)
    if country:
        query = query.where(Area.country == country.upper())
    return list(session.scalars(query))


def area_countries(session: Session) -> list[str]:
    """Return the countries that have areas loaded."""
    return list(session.scalars(select(Area.country).distinct().order_by(Area.country)))
