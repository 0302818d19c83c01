"""Issue referrals, move them along their status chain, print their slips and verify them.

The same functions serve the HTML views, the JSON API and the CLI. They add, ``flush()`` and
write the audit event; the request or command commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from sw_mis.audit.services import record_event
from sw_mis.config import Settings
from sw_mis.eligibility.models import Determination
from sw_mis.referrals import slips, tokens
from sw_mis.referrals.models import OPEN_STATUSES, STATUSES, Referral, ReferralStatusChange, new_ref
from sw_mis.registry.errors import NotFound
from sw_mis.registry.models import Enrolment, Household, Member
from sw_mis.registry.services import get_household
from sw_mis.registry.visibility import can_see, visible_clause

ISSUE_ROLES = frozenset({"clerk", "supervisor"})
#: Who may refer an undetermined household (the issuing supervisor approves it).
APPROVE_ROLES = frozenset({"supervisor"})
MOVE_ROLES = frozenset({"supervisor", "programme_officer"})
CANCEL_ROLES = frozenset({"supervisor"})
PRINT_ROLES = frozenset({"clerk", "supervisor", "programme_officer"})
VIEW_ROLES = frozenset({"clerk", "supervisor", "programme_officer", "auditor", "admin"})
LIST_ROLES = frozenset({"supervisor", "programme_officer", "auditor", "admin"})
#: Expiry is the system's move, never a user's.
SYSTEM: frozenset[str] = frozenset()

#: status → {next status: roles that may make the move}
TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    "issued": {"received": MOVE_ROLES, "cancelled": CANCEL_ROLES, "expired": SYSTEM},
    "received": {"enrolled": MOVE_ROLES, "rejected": MOVE_ROLES, "cancelled": CANCEL_ROLES},
}
REASON_REQUIRED = frozenset({"rejected", "cancelled"})
#: Status names for pages, translated when shown (``str()`` them in the request's language).
STATUS_LABELS = {
    "issued": _l("Issued"),
    "received": _l("Received by the programme office"),
    "enrolled": _l("Enrolled"),
    "rejected": _l("Rejected"),
    "expired": _l("Expired"),
    "cancelled": _l("Cancelled"),
}


class ReferralError(Exception):
    """Base class for refusals by the referral services."""


class ReferralNotFound(ReferralError):
    """No such referral or household, or not one the user may see (never say which)."""


class ReferralForbidden(ReferralError):
    """The user's role may not do this."""


class ReferralRefused(ReferralError):
    """The request is understood but cannot be granted (not eligible, wrong member…)."""

    def __init__(self, message: str, field: str = "_request") -> None:
        super().__init__(message)
        self.field = field


class ReferralConflict(ReferralError):
    """The referral's current state forbids the change (invalid transition, open duplicate)."""

    def __init__(self, message: str, field: str = "status") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Screening:
    """What the engine said about one scheme for a household (or one member)."""

    outcome: str  # eligible | not_eligible | undetermined
    reasons: tuple[str, ...]
    missing: tuple[str, ...]
    trace: dict[str, Any]
    snapshot: dict[str, Any]
    parameters: dict[str, Any]
    rules_version: str
    eligible_members: tuple[int, ...] = ()


def today() -> dt.date:
    """Return today's date (the one place tests may patch)."""
    return dt.date.today()


# --- screening --------------------------------------------------------------------------------
def reasons_from(criteria: Iterable[dict[str, Any]]) -> list[str]:
    """Return, in plain words, the criteria that held (for 'why you were referred')."""
    reasons: list[str] = []
    for c in criteria:
        if c.get("outcome") is not True:
            continue
        children = c.get("children") or []
        if c.get("label"):
            reasons.append(str(c["label"]))
        elif c.get("kind") == "not" and children and children[0].get("label"):
            # ``not: {label: "Receives another pension"}``: the label states what is false.
            reasons.append(f"Not the case: {children[0]['label']}")
        elif children:
            reasons.extend(reasons_from(children))
    return reasons


def screen_for_referral(
    book: Any, household: Household, scheme_id: str, member_id: int | None, as_of: dt.date
) -> Screening:
    """Screen ``household`` for one scheme (and one member of a member-level scheme)."""
    from sw_mis.eligibility.engine import screen_household
    from sw_mis.eligibility.service import household_snapshot

    snapshot = household_snapshot(household)
    results = screen_household(book, snapshot, as_of, schemes=[scheme_id])
    if not results:
        raise ReferralRefused(f"Scheme {scheme_id!r} is not in force on {as_of}.", "scheme")
    data = _jsonable(results[0].to_dict())
    outcome, criteria = data["outcome"], data["criteria"]
    missing = [m["path"] for m in data.get("missing", [])]
    eligible = tuple(int(m["id"]) for m in data["members"] if m["outcome"] == "eligible")
    if data["unit"] == "member" and member_id is not None:
        row = next((m for m in data["members"] if str(m["id"]) == str(member_id)), None)
        outcome = row["outcome"] if row else "not_eligible"
        criteria = row["criteria"] if row else []
        missing = [m["path"] for m in row.get("missing", [])] if row else []
    return Screening(
        outcome=outcome,
        reasons=tuple(reasons_from(criteria)),
        missing=tuple(missing),
        trace={
            "criteria": criteria,
            "members": data["members"],
            "benefit": data.get("benefit"),
        },
        snapshot=snapshot,
        parameters=data.get("parameters", {}),
        rules_version=book.version,
        eligible_members=eligible,
    )


# --- issuing ----------------------------------------------------------------------------------
def _open_referral(
    session: Session, household: Household, scheme_id: str, member_id: int | None
) -> Referral | None:
    stmt = select(Referral).where(
        Referral.household_id == household.id,
        Referral.scheme_id == scheme_id,
        Referral.status.in_(OPEN_STATUSES),
        Referral.expires_on >= today(),
    )
    stmt = stmt.where(
        Referral.member_id.is_(None) if member_id is None else Referral.member_id == member_id
    )
    return session.scalars(stmt.limit(1)).first()


def _unique_ref(session: Session) -> str:
    while True:
        ref = new_ref()
        if session.scalar(select(Referral.id).where(Referral.ref == ref)) is None:
            return ref


def issue_referral(
    session: Session,
    user: Any,
    household: Household,
    scheme_id: str,
    *,
    book: Any,
    settings: Settings,
    member_id: int | None = None,
    as_of: dt.date | None = None,
    approve_undetermined: bool = False,
    counter: str = "",
    language: str | None = None,
    screening: Screening | None = None,
) -> Referral:
    """Screen the household, record the determination and issue a referral for ``scheme_id``."""
    if user.role not in ISSUE_ROLES:
        raise ReferralForbidden("Only clerks and supervisors issue referrals.")
    if not can_see(session, user, household):
        raise ReferralNotFound("No such household.")
    if household.status != "active":
        raise ReferralRefused("Only an active household can be referred.", "household")
    scheme = book.schemes.get(scheme_id)
    if scheme is None or scheme.country != household.country:
        raise ReferralRefused(f"No scheme {scheme_id!r} for this household's country.", "scheme")
    member = None
    if member_id is not None:
        member = next((m for m in household.current_members if m.id == member_id), None)
        if member is None:
            raise ReferralRefused("This person is not a present member of the household.", "member")
    as_of = as_of or today()
    result = screening or screen_for_referral(book, household, scheme_id, member_id, as_of)
    if scheme.unit == "member" and member is None:
        if len(result.eligible_members) != 1:
            raise ReferralRefused(
                "This scheme is for one person: choose which eligible member to refer.", "member"
            )
        # Exactly one member qualifies: refer that person.
        return issue_referral(
            session,
            user,
            household,
            scheme_id,
            book=book,
            settings=settings,
            member_id=result.eligible_members[0],
            as_of=as_of,
            approve_undetermined=approve_undetermined,
            counter=counter,
            language=language,
        )
    approved_by = None
    if result.outcome == "undetermined":
        if not approve_undetermined or user.role not in APPROVE_ROLES:
            missing = ", ".join(result.missing) or "some facts"
            raise ReferralRefused(
                f"The outcome is undetermined ({missing} not known): record the missing facts, "
                "or ask a supervisor to approve the referral.",
                "scheme",
            )
        approved_by = user
    elif result.outcome != "eligible":
        raise ReferralRefused("The household is not eligible for this scheme.", "scheme")
    existing = _open_referral(session, household, scheme_id, member_id)
    if existing is not None:
        raise ReferralConflict(
            f"Referral {existing.ref} for this scheme is still open; reprint it instead.",
            "scheme",
        )
    determination = Determination(
        household_id=household.id,
        scheme_id=scheme_id,
        outcome=result.outcome,
        as_of=as_of,
        rules_version=result.rules_version,
        parameters=_jsonable(result.parameters),
        input_snapshot=_jsonable(result.snapshot),
        trace=_jsonable({**result.trace, "reasons": list(result.reasons)}),
        missing=list(result.missing),
        user_id=user.id,
    )
    session.add(determination)
    issued = today()
    referral = Referral(
        ref=_unique_ref(session),
        household=household,
        member=member,
        scheme_id=scheme_id,
        determination=determination,
        status="issued",
        issued_on=issued,
        expires_on=issued + dt.timedelta(days=settings.referral_expiry_days),
        issued_by_id=user.id,
        approved_by_id=approved_by.id if approved_by else None,
        office_id=user.office_id,
        counter=counter.strip()[:40],
        language=language if language in slips.LANGUAGES else _default_language(user),
        copies_printed=0,
    )
    session.add(referral)
    referral.history.append(
        ReferralStatusChange(
            user_id=user.id,
            from_status=None,
            to_status="issued",
            reason="approved while undetermined" if approved_by else None,
        )
    )
    session.flush()
    record_event(
        session,
        "referral.issue",
        object_type="referral",
        object_ref=referral.ref,
        details={
            "household": household.ref,
            "scheme": scheme_id,
            "member_id": member_id,
            "outcome": result.outcome,
        },
        user=user,
    )
    return referral


def _default_language(user: Any) -> str:
    lang = getattr(user, "language", "en")
    return lang if lang in slips.LANGUAGES else "en"


def _jsonable(value: Any) -> Any:
    """Return ``value`` with dates and decimals as strings, so a JSON column can hold it."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


# --- follow-up --------------------------------------------------------------------------------
def effective_status(referral: Referral, on: dt.date | None = None) -> str:
    """Return the status, counting an issued referral past its expiry date as expired."""
    if referral.status == "issued" and referral.expires_on < (on or today()):
        return "expired"
    return referral.status


def allowed_transitions(referral: Referral, user: Any) -> list[str]:
    """Return the statuses ``user`` may move ``referral`` to now."""
    if effective_status(referral) != referral.status:
        return [s for s in ("cancelled",) if user.role in CANCEL_ROLES]
    moves = TRANSITIONS.get(referral.status, {})
    return [status for status, roles in moves.items() if user.role in roles]


def transition_referral(
    session: Session, user: Any, referral: Referral, status: str, reason: str | None = None
) -> Referral:
    """Move ``referral`` to ``status``; raise ReferralConflict (with why) if it may not."""
    reason = (reason or "").strip() or None
    if status not in STATUSES:
        raise ReferralRefused(f"Unknown status {status!r}.", "status")
    moves = TRANSITIONS.get(referral.status, {})
    if status not in moves:
        possible = [s for s, roles in moves.items() if roles]
        after = f"it can only become {' or '.join(possible)}" if possible else "it is final"
        raise ReferralConflict(
            f"Referral {referral.ref} is {referral.status}: it cannot become {status}; {after}."
        )
    if user.role not in moves[status]:
        raise ReferralForbidden(f"Your role may not mark a referral {status}.")
    if status != "cancelled" and effective_status(referral) == "expired":
        raise ReferralConflict(
            f"Referral {referral.ref} expired on {referral.expires_on.isoformat()}: "
            "issue a new one."
        )
    if status in REASON_REQUIRED and not reason:
        raise ReferralRefused(f"Give the reason the referral is {status}.", "reason")
    _move(session, referral, status, reason, user)
    if status == "enrolled":
        _enrol(session, referral)
    record_event(
        session,
        f"referral.{status}",
        object_type="referral",
        object_ref=referral.ref,
        details={"reason": reason} if reason else {},
        user=user,
    )
    return referral


def _move(session: Session, referral: Referral, status: str, reason: str | None, user: Any) -> None:
    referral.history.append(
        ReferralStatusChange(
            user_id=getattr(user, "id", None),
            from_status=referral.status,
            to_status=status,
            reason=reason,
        )
    )
    referral.status = status
    referral.status_reason = reason
    session.flush()


def _enrol(session: Session, referral: Referral) -> Enrolment:
    """Record the programme among the household's enrolments (once)."""
    household = referral.household
    for enrolment in household.enrolments:
        if (
            enrolment.scheme_id == referral.scheme_id
            and enrolment.member_id == referral.member_id
            and enrolment.status == "active"
        ):
            return enrolment
    enrolment = Enrolment(
        household_id=household.id,
        member_id=referral.member_id,
        scheme_id=referral.scheme_id,
        status="active",
        start_date=today(),
    )
    household.enrolments.append(enrolment)
    session.flush()
    return enrolment


def expire_referrals(session: Session, on: dt.date | None = None) -> int:
    """Mark issued referrals past their expiry date as expired; return how many."""
    on = on or today()
    stmt = select(Referral).where(Referral.status == "issued", Referral.expires_on < on)
    count = 0
    for referral in session.scalars(stmt.order_by(Referral.id)):
        _move(session, referral, "expired", f"not presented by {referral.expires_on}", None)
        count += 1
    if count:
        record_event(
            session,
            "referral.expire",
            object_type="referral",
            details={"count": count, "on": str(on)},
        )
    return count


# --- reading ----------------------------------------------------------------------------------
def get_referral(session: Session, user: Any, ref: str) -> Referral:
    """Return the referral ``ref`` if ``user`` may see it, else raise ReferralNotFound."""
    referral = session.scalar(select(Referral).where(Referral.ref == ref.strip().upper()))
    if referral is None or not can_see(session, user, referral.household):
        raise ReferralNotFound("No such referral.")
    return referral


def find_household(session: Session, user: Any, ref: str) -> Household:
    """Return the household ``ref`` if ``user`` may see it, else raise ReferralNotFound."""
    try:
        return get_household(session, user, ref)
    except NotFound as exc:
        raise ReferralNotFound("No such household.") from exc


def referrals_query(
    session: Session,
    user: Any,
    *,
    status: str | None = None,
    scheme_id: str | None = None,
    office_id: int | None = None,
    issued_on: dt.date | None = None,
) -> Select[tuple[Referral]]:
    """Return a SELECT of the referrals ``user`` may see, filtered, newest first."""
    stmt = (
        select(Referral)
        .join(Household, Household.id == Referral.household_id)
        .where(visible_clause(session, user))
    )
    if status == "expired":
        stmt = stmt.where(
            (Referral.status == "expired")
            | ((Referral.status == "issued") & (Referral.expires_on < today()))
        )
    elif status == "issued":
        stmt = stmt.where(Referral.status == "issued", Referral.expires_on >= today())
    elif status:
        stmt = stmt.where(Referral.status == status)
    if scheme_id:
        stmt = stmt.where(Referral.scheme_id == scheme_id)
    if office_id:
        stmt = stmt.where(Referral.office_id == office_id)
    if issued_on:
        stmt = stmt.where(Referral.issued_on == issued_on)
    return stmt.order_by(Referral.created_at.desc(), Referral.id.desc())


def status_counts(session: Session, user: Any) -> dict[str, int]:
    """Return how many visible referrals are in each stored status."""
    stmt = (
        select(Referral.status, func.count())
        .join(Household, Household.id == Referral.household_id)
        .where(visible_clause(session, user))
        .group_by(Referral.status)
    )
    return {status: count for status, count in session.execute(stmt)}


def household_referrals(session: Session, household: Household) -> list[Referral]:
    """Return a household's referrals, newest first (for the household page)."""
    stmt = select(Referral).where(Referral.household_id == household.id)
    return list(session.scalars(stmt.order_by(Referral.id.desc())))


# --- slips ------------------------------------------------------------------------------------
def slip_token(referral: Referral, settings: Settings) -> str:
    """Return the signed verification token of ``referral`` under the active key."""
    keys, kid = tokens.signing_keys(settings)
    return tokens.make_token(referral.ref, keys, kid)


def slip_data(
    referral: Referral, book: Any, settings: Settings, copy: bool = False
) -> slips.SlipData:
    """Gather everything printed on ``referral``'s slip."""
    household = referral.household
    scheme = book.schemes.get(referral.scheme_id) if book is not None else None
    info: dict[str, Any] = dict(scheme.info) if scheme else {}
    where = info.get("referral") or {}
    lang = referral.language
    name = (scheme.name_i18n.get(lang) or scheme.name) if scheme else referral.scheme_id
    head = household.head
    reasons = (referral.determination.trace or {}).get("reasons") or []
    issuer = referral.issued_by
    return slips.SlipData(
        ref=referral.ref,
        issued_on=referral.issued_on,
        expires_on=referral.expires_on,
        household_ref=household.ref,
        head_name=head.full_name if head else "",
        beneficiary_name=referral.member.full_name if referral.member else None,
        scheme_name=name,
        agency=str(info.get("agency", "")),
        office_name=str(where.get("office", "")),
        office_address=str(where.get("address", "")),
        office_hours=str(where.get("hours", "")),
        documents=tuple(str(d) for d in info.get("documents") or ()),
        reasons=tuple(str(r) for r in reasons),
        clerk_name=(issuer.full_name or issuer.username) if issuer else "",
        issuing_office=referral.office.name if referral.office else "",
        counter=referral.counter,
        verify_url=tokens.verification_url(
            settings.public_base_url, slip_token(referral, settings)
        ),
        language=lang,
        copy=copy,
    )


#: Referrals whose slip data is loaded per query when printing many (bounds the IN list).
PRELOAD_CHUNK = 500


def _preload_slip_data(session: Session, referrals: Sequence[Referral]) -> None:
    """Load what many slips print in a few queries, instead of several lazy loads per slip."""
    ids = [r.id for r in referrals]
    for start in range(0, len(ids), PRELOAD_CHUNK):
        stmt = (
            select(Referral)
            .where(Referral.id.in_(ids[start : start + PRELOAD_CHUNK]))
            .options(
                selectinload(Referral.household).selectinload(Household.members),
                selectinload(Referral.member),
                selectinload(Referral.determination),
                selectinload(Referral.issued_by),
                selectinload(Referral.office),
            )
        )
        session.scalars(stmt).all()


def print_slips(
    session: Session,
    user: Any,
    referrals: Sequence[Referral],
    *,
    book: Any,
    settings: Settings,
    page_size: str = "A5",
) -> bytes:
    """Render the slips of ``referrals`` as one PDF; every print after the first is a copy."""
    if user.role not in PRINT_ROLES:
        raise ReferralForbidden("Your role may not print referral slips.")
    if page_size not in slips.PAGE_SIZES:
        raise ReferralRefused(f"Page size must be one of {', '.join(slips.PAGE_SIZES)}.", "size")
    if len(referrals) > 1:
        _preload_slip_data(session, referrals)
    data = []
    for referral in referrals:
        status = effective_status(referral)
        if status not in OPEN_STATUSES:
            raise ReferralConflict(
                f"Referral {referral.ref} is {status}: its slip can no longer be printed."
            )
        data.append(slip_data(referral, book, settings, copy=referral.copies_printed > 0))
        referral.copies_printed += 1
    pdf = slips.render_slips(data, page_size)
    session.flush()
    record_event(
        session,
        "referral.print",
        object_type="referral",
        object_ref=",".join(r.ref for r in referrals)[:80],
        details={"refs": [r.ref for r in referrals], "size": page_size},
        user=user,
    )
    return pdf


def open_referrals(session: Session, household: Household) -> list[Referral]:
    """Return a household's referrals whose slips can still be printed."""
    return [
        r for r in household_referrals(session, household) if effective_status(r) in OPEN_STATUSES
    ]


def day_referrals(session: Session, user: Any, day: dt.date) -> list[Referral]:
    """Return the open referrals issued on ``day`` at the user's office (batch printing)."""
    stmt = referrals_query(session, user, issued_on=day, office_id=user.office_id)
    return [r for r in session.scalars(stmt) if effective_status(r) in OPEN_STATUSES]


# --- verification -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SlipCheck:
    """What the public verification page may say about a scanned slip."""

    genuine: bool
    ref: str | None = None
    status: str | None = None
    status_label: str = ""
    scheme_name: str = ""
    issued_on: dt.date | None = None
    expires_on: dt.date | None = None
    head_initials: str = ""


def initials(name: str) -> str:
    """Return the initials of ``name`` ('María José Núñez' → 'M. J. N.')."""
    return " ".join(f"{word[0]}." for word in name.split() if word)


def verify_slip(session: Session, token: str, book: Any, settings: Settings) -> SlipCheck:
    """Check a scanned token and return what may be shown about the referral it names."""
    keys, _ = tokens.signing_keys(settings)
    result = tokens.verify_token(token, keys)
    if not result.genuine or result.ref is None:
        return SlipCheck(genuine=False)
    referral = session.scalar(select(Referral).where(Referral.ref == result.ref))
    if referral is None:
        return SlipCheck(genuine=False)
    scheme = book.schemes.get(referral.scheme_id) if book is not None else None
    head = referral.household.head
    status = effective_status(referral)
    return SlipCheck(
        genuine=True,
        ref=referral.ref,
        status=status,
        status_label=str(STATUS_LABELS[status]),
        scheme_name=scheme.name if scheme else referral.scheme_id,
        issued_on=referral.issued_on,
        expires_on=referral.expires_on,
        head_initials=initials(head.full_name) if head else "",
    )


def members_for(household: Household, ids: Iterable[int]) -> list[Member]:
    """Return the present members of ``household`` whose ids are in ``ids``."""
    wanted = set(ids)
    return [m for m in household.current_members if m.id in wanted]
