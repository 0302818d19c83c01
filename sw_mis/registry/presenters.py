"""Values the household page shows, computed here so templates only display them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from sw_mis.auth.models import Area, User
from sw_mis.auth.services import visible_area_codes
from sw_mis.registry.fields import FIELDS_BY_NAME, FactField, sections
from sw_mis.registry.models import ChangeRecord, Household
from sw_mis.registry.services import age_on
from sw_mis.registry.validation import choice_label

NOT_KNOWN = None  # templates show None as 'not known'

#: Household, member and enrolment statuses as the pages name them.
STATUS_LABELS = {
    "active": _l("active"),
    "merged": _l("merged"),
    "consent_withdrawn": _l("consent withdrawn"),
    "present": _l("present"),
    "left": _l("left"),
    "deceased": _l("deceased"),
    "suspended": _l("suspended"),
    "exited": _l("exited"),
}


def status_label(status: str) -> str:
    """Return a record status in the page's language."""
    label = STATUS_LABELS.get(status)
    return str(label) if label is not None else status.replace("_", " ")


def show(fact: FactField | None, value: Any) -> str | None:
    """Return a fact value as text (None stays None: 'not known')."""
    if value is None:
        return None
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if fact is not None and fact.kind == "enum":
        return _(choice_label(str(value)))
    if isinstance(value, Decimal):
        text = f"{value:f}".rstrip("0").rstrip(".") if "." in f"{value:f}" else f"{value:f}"
        return f"{text} {_unit(fact)}".strip() if fact is not None else text
    if isinstance(value, dt.date):
        return value.isoformat()
    if fact is not None and fact.unit and isinstance(value, int):
        return f"{value} {_unit(fact)}"
    return str(value)


def _unit(fact: FactField) -> str:
    return _(fact.unit) if fact.unit else ""


def fact_rows(
    obj: Any, level: str, names: frozenset[str] | None
) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Return (section, [(label, text or None)]) for the facts shown or known."""
    out = []
    for section, facts in sections(level, None):  # type: ignore[arg-type]
        rows = [
            (_(f.label), show(f, getattr(obj, f.name)))
            for f in facts
            if f.name not in ("admin1", "admin2", "admin3")
            and (names is None or f.core or f.name in names or getattr(obj, f.name) is not None)
        ]
        if rows:
            out.append((_(section), rows))
    return out


def area_names(session: Session, codes: list[str | None]) -> dict[str, str]:
    """Return {code: name} for the given area codes."""
    wanted = [c for c in codes if c]
    if not wanted:
        return {}
    return dict(session.execute(select(Area.code, Area.name).where(Area.code.in_(wanted))).all())


def member_rows(household: Household) -> list[dict[str, Any]]:
    """Return the members (present first, then past) with their age and labels."""
    rows = []
    for m in sorted(household.members, key=lambda m: (m.status != "present", m.position)):
        rows.append(
            {
                "member": m,
                "age": age_on(m.date_of_birth),
                "sex": show(FIELDS_BY_NAME["sex"], m.sex),
                "relationship": show(
                    FIELDS_BY_NAME["relationship_to_head"], m.relationship_to_head
                ),
            }
        )
    return rows


def history_rows(session: Session, records: list[ChangeRecord]) -> list[dict[str, Any]]:
    """Return change records with the user's name and (field label, old, new) triples."""
    user_ids = {r.user_id for r in records if r.user_id}
    users = (
        dict(session.execute(select(User.id, User.full_name).where(User.id.in_(user_ids))).all())
        if user_ids
        else {}
    )
    rows = []
    for r in records:
        changes = []
        for key, pair in (r.changes or {}).items():
            fact = FIELDS_BY_NAME.get(key)
            old, new = [*pair, None, None][:2] if isinstance(pair, list) else (None, pair)
            label = _(fact.label) if fact else key.replace("_", " ").capitalize()
            changes.append((label, _plain(fact, old), _plain(fact, new)))
        rows.append(
            {
                "record": r,
                "user": users.get(r.user_id, "—"),
                "action": r.action.replace(".", " ").replace("_", " "),
                "changes": changes,
            }
        )
    return rows


def _plain(fact: FactField | None, value: Any) -> str | None:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if fact is not None and fact.kind == "enum" and isinstance(value, str):
        return _(choice_label(value))
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    return None if value is None else str(value)


def area_choices(
    session: Session, user: Any, country: str, level: int
) -> list[tuple[str, str, str | None]]:
    """Return (code, name, parent name) of the areas of ``level`` ``user`` may use (None: all)."""
    stmt = select(Area).where(Area.country == country, Area.level == level)
    visible = visible_area_codes(session, user) if user is not None else None
    if visible is not None:
        stmt = stmt.where(Area.code.in_(visible | _ancestors(session, visible)))
    areas = list(session.scalars(stmt))
    parents = area_names(session, [a.parent_code for a in areas])
    rows = sorted(
        ((a.code, a.name, parents.get(a.parent_code or "")) for a in areas),
        key=lambda r: (r[2] or "", r[1]),
    )
    return [("", _("Choose…"), None), *rows]


def _ancestors(session: Session, codes: set[str]) -> set[str]:
    # An office covering a district lets its clerks pick that district's province too.
    found: set[str] = set()
    frontier = set(codes)
    while frontier:
        parents = set(
            session.scalars(
                select(Area.parent_code).where(
                    Area.code.in_(frontier), Area.parent_code.is_not(None)
                )
            )
        )
        frontier = parents - found - codes
        found |= parents
    return found
