"""Find households: list with paging, and search by reference, national ID or name.

Name search is tolerant of spelling: candidates come from index range scans on the phonetic
``Member.name_key`` (see :mod:`sw_mis.registry.names`), one per reading of the typed words
(given and family name in either order, a family name alone, particles glued or not), then
rapidfuzz ranks them. The same queries run on SQLite and PostgreSQL. Every query is limited
to the households the user sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from rapidfuzz import fuzz
from sqlalchemy import and_, func, select, union_all
from sqlalchemy.orm import Session, joinedload

from sw_mis.audit.services import record_event
from sw_mis.registry.models import Household, Member
from sw_mis.registry.names import display_name, query_prefixes
from sw_mis.registry.refs import RefError, looks_like_ref, parse_ref
from sw_mis.registry.visibility import visible_clause

MAX_PER_PAGE = 100
#: Members read for one name search before ranking (shared among the key prefixes searched);
#: enough for a page of the best matches.
NAME_CANDIDATES = 1000
# Above every character a key may contain: an upper bound for "starts with" range scans.
_KEY_CEILING = "\uffff"


@dataclass
class Page:
    """One page of households, with what matched (member names) for search results."""

    items: list[Household]
    total: int
    page: int
    per_page: int
    kind: str = "list"
    message: str = ""
    matches: dict[int, list[str]] = field(default_factory=dict)


def clamp_paging(page: Any, per_page: Any, default: int = 25) -> tuple[int, int]:
    """Return (page, per_page) as sane integers."""
    try:
        page = max(int(page or 1), 1)
    except (TypeError, ValueError):
        page = 1
    try:
        per_page = min(max(int(per_page or default), 1), MAX_PER_PAGE)
    except (TypeError, ValueError):
        per_page = default
    return page, per_page


def _with_members(stmt: Any) -> Any:
    # Joined, not "select in": households and their rosters come back in one round trip.
    return stmt.options(joinedload(Household.members))


def list_households(session: Session, user: Any, page: int = 1, per_page: int = 25) -> Page:
    """Return a page of the active households ``user`` sees, newest first."""
    page, per_page = clamp_paging(page, per_page)
    where = and_(Household.status == "active", visible_clause(session, user))
    total = session.scalar(select(func.count(Household.id)).where(where)) or 0
    items = (
        session.scalars(
            _with_members(select(Household).where(where))
            .order_by(Household.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
        .unique()
        .all()
    )
    return Page(list(items), total, page, per_page)


def _by_ref(session: Session, user: Any, q: str, page: int, per_page: int) -> Page:
    try:
        ref = parse_ref(q)
    except RefError as exc:
        return Page([], 0, page, per_page, kind="ref", message=str(exc))
    items = list(
        session.scalars(
            _with_members(select(Household)).where(
                Household.ref == ref, visible_clause(session, user)
            )
        ).unique()
    )
    message = "" if items else _("No household with this reference number in the areas you see.")
    return Page(items, len(items), page, per_page, kind="ref", message=message)


def _by_national_id(session: Session, user: Any, q: str, page: int, per_page: int) -> Page:
    variants = {q.strip(), re.sub(r"\s+", "", q)}
    # One round trip: the page of matching households with their rosters, and (window count)
    # how many households match in all, capped like the other searches.
    matching = (
        select(Member.household_id)
        .join(Household, Member.household_id == Household.id)
        .where(Member.national_id.in_(variants), visible_clause(session, user))
        .limit(NAME_CANDIDATES)
    )
    rows = session.execute(
        _with_members(select(Household, func.count().over().label("total")))
        .where(Household.id.in_(matching))
        .order_by(Household.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).unique()
    found = rows.all()
    items = [household for household, _ in found]
    total = found[0][1] if found else 0
    if not items and page > 1:  # past the last page: only the count is wanted
        total = session.scalar(select(func.count()).select_from(matching.subquery())) or 0
    matches = {h.id: [m.full_name for m in h.members if m.national_id in variants] for h in items}
    message = "" if total else _("Nothing found.")
    return Page(items, total, page, per_page, kind="national_id", message=message, matches=matches)


def name_candidates_query(session: Session, user: Any, prefixes: list[str]) -> Any:
    """Return the query of (member id, household id, given, family) of present members whose
    key starts with one of ``prefixes``, in visible active households: at most
    NAME_CANDIDATES rows.

    Each prefix is its own range scan in key order with its own LIMIT (a share of the budget),
    so the database stops after the closest keys instead of collecting the whole range of a
    crowded name (tens of thousands of members for "Juan Santos" in a million households).
    """
    share = max(NAME_CANDIDATES // len(prefixes), 1)
    visible = visible_clause(session, user)
    parts = [
        select(Member.id, Member.household_id, Member.given_name, Member.family_name)
        .join(Household, Member.household_id == Household.id)
        .where(
            Member.name_key >= prefix,
            Member.name_key < prefix + _KEY_CEILING,
            Member.status == "present",
            Household.status == "active",
            visible,
        )
        .order_by(Member.name_key)
        .limit(share)
        .subquery()
        for prefix in prefixes
    ]
    if len(parts) == 1:
        return select(parts[0])
    return union_all(*(select(part) for part in parts))


def _by_name(session: Session, user: Any, q: str, page: int, per_page: int) -> Page:
    prefixes = query_prefixes(q)
    if not prefixes:
        return Page([], 0, page, per_page, kind="name", message=_("Type a name to search for."))
    wanted = display_name(q, "")
    scores: dict[tuple[str, str], float] = {}  # crowded names repeat: score each once
    best: dict[int, float] = {}
    matches: dict[int, list[str]] = {}
    seen: set[int] = set()
    for member_id, hid, given, family in session.execute(
        name_candidates_query(session, user, prefixes)
    ):
        if member_id in seen:  # a key may lie in two of the ranges
            continue
        seen.add(member_id)
        score = scores.get((given, family))
        if score is None:
            score = scores[given, family] = fuzz.WRatio(wanted, display_name(given, family))
        best[hid] = max(best.get(hid, 0.0), score)
        matches.setdefault(hid, []).append(f"{given} {family}".strip())
    ids = sorted(best, key=lambda h: (-best[h], -h))
    return _page_of(session, ids, page, per_page, "name", matches)


def _page_of(
    session: Session,
    ids: list[int],
    page: int,
    per_page: int,
    kind: str,
    matches: dict[int, list[str]],
) -> Page:
    chosen = ids[(page - 1) * per_page : page * per_page]
    loaded = {}
    if chosen:
        loaded = {
            h.id: h
            for h in session.scalars(
                _with_members(select(Household)).where(Household.id.in_(chosen))
            ).unique()
        }
    items = [loaded[i] for i in chosen if i in loaded]
    message = "" if ids else _("Nothing found.")
    return Page(items, len(ids), page, per_page, kind=kind, message=message, matches=matches)


def search_kind(q: str) -> str:
    """Return how ``q`` will be searched: ``ref``, ``national_id`` or ``name``."""
    if looks_like_ref(q):
        return "ref"
    if any(ch.isdigit() for ch in q):
        return "national_id"
    return "name"


def search_households(
    session: Session, user: Any, q: str, page: int = 1, per_page: int = 25
) -> Page:
    """Search by reference, national ID or name, within the households ``user`` sees."""
    page, per_page = clamp_paging(page, per_page)
    q = (q or "").strip()[:200]
    kind = search_kind(q)
    if kind == "ref":
        result = _by_ref(session, user, q, page, per_page)
    elif kind == "national_id":
        result = _by_national_id(session, user, q, page, per_page)
    else:
        result = _by_name(session, user, q, page, per_page)
    # The search term itself may be a national ID: the audit trail keeps only its kind.
    record_event(
        session,
        "household.search",
        object_type="household",
        details={"kind": kind, "results": result.total},
        user=user,
    )
    return result
