"""Users, offices, sign-in, API tokens and which households a user may see."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from sw_mis.auth.models import ROLES, ApiToken, Area, Office, User
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
        raise UserError("username: must not be empty")
    if role not in ROLES:
        raise UserError(f"role: must be one of {', '.join(ROLES)}")
    problem = password_problem(password)
    if problem:
        raise UserError(f"password: {problem}")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"username: {username!r} is already taken")
    office = None
    if office_code:
        office = session.scalar(select(Office).where(Office.code == office_code))
        if office is None:
            raise UserError(f"office: no office with code {office_code!r}")
    elif role not in ("admin", "auditor"):
        raise UserError(f"office: a {role} must belong to an office")
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
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None or row.revoked_at is not None:
        return None
    if _aware(row.expires_at) <= dt.datetime.now(dt.UTC) or not row.user.active:
        return None
    return row.user, row


def revoke_token(session: Session, row: ApiToken) -> None:
    """Revoke a bearer token."""
    row.revoked_at = dt.datetime.now(dt.UTC)
    session.flush()


def visible_area_codes(session: Session, user: User) -> set[str] | None:
    """Return the area codes ``user`` may see (with every descendant), or None for all."""
    if user.role in ("admin", "auditor"):
        return None
    if user.office is None:
        return set()
    codes = set(user.office.area_codes)
    frontier = set(codes)
    while frontier:
        children = set(session.scalars(select(Area.code).where(Area.parent_code.in_(frontier))))
        frontier = children - codes
        codes |= children
    return codes
