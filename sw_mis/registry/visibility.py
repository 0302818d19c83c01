"""Which households a user may see: those in their office's areas (nationwide roles see all)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, or_, true
from sqlalchemy.orm import Session

from sw_mis.auth.services import visible_area_codes
from sw_mis.registry.models import Household


def visible_clause(session: Session, user: Any) -> ColumnElement[bool]:
    """Return a WHERE clause limiting households to those ``user`` may see."""
    codes = visible_area_codes(session, user)
    if codes is None:
        return true()
    if not codes:
        return Household.id.is_(None)  # sees nothing
    # visible_area_codes already includes every descendant, so one match at any level is enough.
    return or_(
        Household.admin1.in_(codes), Household.admin2.in_(codes), Household.admin3.in_(codes)
    )


def only_visible(stmt: Select[Any], session: Session, user: Any) -> Select[Any]:
    """Add the visibility clause to a SELECT that involves ``households``."""
    return stmt.where(visible_clause(session, user))


def can_see(session: Session, user: Any, household: Household) -> bool:
    """Return True when ``user`` may see ``household``."""
    codes = visible_area_codes(session, user)
    if codes is None:
        return True
    return bool(codes.intersection({household.admin1, household.admin2, household.admin3}))
