"""Find people already registered: exact national ID clashes and likely duplicates by name."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from sw_mis.registry.models import Household, Member
from sw_mis.registry.names import display_name, name_key, sound_alike_keys
from sw_mis.registry.visibility import visible_clause

#: rapidfuzz score from which two names count as the same name spelt differently.
NAME_SIMILARITY = 85
MAX_CANDIDATES = 200


def national_id_clashes(
    session: Session, national_ids: dict[int, str], exclude_household_id: int | None = None
) -> list[tuple[int, Member, Household]]:
    """Return (row, member, household) for present members already holding one of the IDs."""
    if not national_ids:
        return []
    stmt = (
        select(Member, Household)
        .join(Household, Member.household_id == Household.id)
        .where(
            Member.national_id.in_(set(national_ids.values())),
            Member.status == "present",
            Household.status == "active",
        )
    )
    if exclude_household_id is not None:
        stmt = stmt.where(Household.id != exclude_household_id)
    found = {m.national_id: (m, h) for m, h in session.execute(stmt).all()}
    return [(row, *found[nid]) for row, nid in national_ids.items() if nid in found]


def birth_dates_agree(
    dob: dt.date, estimated: bool | None, other: dt.date, other_estimated: bool | None
) -> bool:
    """Return True when two birth dates may be the same person's.

    Exact dates must be equal. An estimated date (a year, or an age someone stated) is only
    good to its year: it agrees with any date of the year before, the same year or the next.
    """
    if estimated or other_estimated:
        return abs(dob.year - other.year) <= 1
    return dob == other


def same_person_score(
    given: str, family: str, dob: dt.date | None, estimated: bool | None, other: Member
) -> float:
    """Return a 0-100 name score when the birth dates agree, else 0."""
    if dob is None or other.date_of_birth is None:
        return 0.0
    if not birth_dates_agree(dob, estimated, other.date_of_birth, other.date_of_birth_estimated):
        return 0.0
    if name_key(given, family) == other.name_key:
        return 100.0
    return fuzz.token_sort_ratio(
        display_name(given, family), display_name(other.given_name, other.family_name)
    )


def _estimated_window(dob: dt.date) -> tuple[dt.date, dt.date]:
    """Return the first and last birth dates that agree with an estimate of ``dob``."""
    return dt.date(max(dob.year - 1, dt.MINYEAR), 1, 1), dt.date(dob.year + 1, 12, 31)


def _candidate_clause(rows: list[tuple[int, dict[str, Any]]]) -> ColumnElement[bool]:
    """Return which members could be the same person as one of ``rows`` (by index, in SQL).

    :func:`same_person_score` accepts birth dates that are equal, or in the same year or the
    next either side when one of the two is estimated; rapidfuzz then compares the names.
    Two nets catch those candidates without reading a whole district:

    * anyone born on one of the same days, whatever the spelling (``ix_members_date_of_birth``);
    * when one of the two dates is estimated, anyone born from the year before to the year
      after whose name key is the same or one confused sound away in the family and given
      name (Osman / Usman, Fathima / Fatima), in either word order: exact lookups of
      ``ix_members_name_key`` = key, estimated, date.

    What neither net catches: an estimated date together with a spelling further from the
    name than that (a typo, a dropped or added consonant).
    """
    clauses: list[ColumnElement[bool]] = [
        Member.date_of_birth.in_({m["date_of_birth"] for _, m in rows})
    ]
    for _, m in rows:
        first, last = _estimated_window(m["date_of_birth"])
        near = and_(
            Member.name_key.in_(sound_alike_keys(m["given_name"], m.get("family_name") or "")),
            Member.date_of_birth.between(first, last),
        )
        if not m.get("date_of_birth_estimated"):
            # Two exact dates must be equal (the first net): only estimated ones may differ.
            near = and_(near, Member.date_of_birth_estimated.is_(True))
        clauses.append(near)
    return or_(*clauses)


def candidates_query(
    session: Session,
    user: Any,
    country: str,
    admin2: str,
    rows: list[tuple[int, dict[str, Any]]],
    exclude_household_id: int | None = None,
) -> Any:
    """Return the query of (member, household) who might be one of ``rows``, in the district."""
    stmt = (
        select(Member, Household)
        .join(Household, Member.household_id == Household.id)
        .where(
            _candidate_clause(rows),
            Household.country == country,
            Household.admin2 == admin2,
            Household.status == "active",
            Member.status == "present",
            visible_clause(session, user),
        )
        .limit(MAX_CANDIDATES)
    )
    if exclude_household_id is not None:
        stmt = stmt.where(Household.id != exclude_household_id)
    return stmt


def likely_duplicates(
    session: Session,
    user: Any,
    country: str,
    admin2: str | None,
    members: list[dict[str, Any]],
    exclude_household_id: int | None = None,
) -> list[dict[str, Any]]:
    """Return people in the same district with a similar name and an agreeing date of birth."""
    rows = [(i, m) for i, m in enumerate(members) if m.get("date_of_birth") and m.get("given_name")]
    if not rows or not admin2:
        return []
    stmt = candidates_query(session, user, country, admin2, rows, exclude_household_id)
    candidates = list(session.execute(stmt).all())
    found = []
    for i, m in rows:
        for other, household in candidates:
            score = same_person_score(
                m["given_name"],
                m.get("family_name") or "",
                m["date_of_birth"],
                m.get("date_of_birth_estimated"),
                other,
            )
            if score >= NAME_SIMILARITY:
                found.append(
                    {
                        "row": i,
                        "member_id": other.id,
                        "household_ref": household.ref,
                        "name": other.full_name,
                        "date_of_birth": other.date_of_birth,
                        "score": round(score),
                    }
                )
    return found
