"""Apply the retention policy of docs/operations.md: erase and delete what it lets go.

=======================================  ==========  ==========================================
data                                     kept        then
=======================================  ==========  ==========================================
household whose consent was withdrawn    24 months   names, national IDs (every identifier
                                                     fact), dates of birth and the address are
                                                     erased; ids and programme history stay
change history and audit log             7 years     deleted by calendar year
referrals (and the determinations they   5 years     deleted by calendar year
rest on) and registry-wide screenings                screenings: by run
API tokens                               until they  deleted
                                         expire or
                                         are revoked
=======================================  ==========  ==========================================

Everything is counted back from a reference day (today unless the operator names an earlier
one), set-based and a batch at a time: each batch commits through ``commit``, so a purge that
is stopped and run again carries on, and a second run finds nothing left to do. The erasure is
itself recorded: a change record and an audit event per household, and one audit event with
the run's counts.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from sw_mis.audit.models import AuditEvent
from sw_mis.auth.models import ApiToken
from sw_mis.eligibility.models import Determination, ScreeningResult, ScreeningRun
from sw_mis.referrals.models import Referral, ReferralStatusChange
from sw_mis.registry.fields import HOUSEHOLD_FIELDS, MEMBER_FIELDS
from sw_mis.registry.models import ChangeRecord, Household, Member

#: The policy's periods (docs/operations.md, "Retention"): defaults to be set by each country's
#: data-protection law; change them here and in that table together.
WITHDRAWN_MONTHS = 24
HISTORY_YEARS = 7
REFERRAL_YEARS = 5
#: Households erased per transaction.
BATCH = 1000
#: Who the purge's change records and audit events name (the command has no signed-in user).
ACTOR = "cli"

HOUSEHOLD_PERSONAL = tuple(
    dict.fromkeys(["address", *(f.name for f in HOUSEHOLD_FIELDS if f.identifier)])
)
MEMBER_PERSONAL = tuple(
    dict.fromkeys(
        [
            "date_of_birth",
            "date_of_birth_estimated",
            *(f.name for f in MEMBER_FIELDS if f.identifier),
        ]
    )
)
MEMBER_NAMES = ("given_name", "family_name", "name_key")
#: Keys that carry personal data wherever they appear in stored JSON (change records' old and
#: new values, a determination's input snapshot and the values its criteria read).
PERSONAL_KEYS = frozenset({*HOUSEHOLD_PERSONAL, *MEMBER_PERSONAL, *MEMBER_NAMES})

Commit = Callable[[], None]


class RetentionError(ValueError):
    """The purge cannot run as asked (a reference day in the future…)."""


@dataclass(frozen=True)
class Cutoffs:
    """What is old enough to go, counted back from the reference day ``on``."""

    on: dt.date
    #: Households whose consent was withdrawn before this are erased.
    withdrawn_before: dt.datetime
    #: Change records and audit events of years before this one are deleted.
    history_before: dt.datetime
    #: Referrals issued (and determinations made) in years before this one are deleted.
    referrals_before: dt.date
    #: Screening runs started before this are deleted.
    runs_before: dt.datetime
    #: Tokens expired or revoked before this are deleted.
    tokens_before: dt.datetime

    def details(self) -> dict[str, str]:
        """Return the cut-offs as ISO dates, for the summary and the audit event."""
        return {
            k: v.date().isoformat() if isinstance(v, dt.datetime) else v.isoformat()
            for k, v in asdict(self).items()
        }


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _months_back(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def cutoffs(on: dt.date | None = None) -> Cutoffs:
    """Return the policy's cut-offs for the reference day ``on`` (today by default).

    A day after today is refused: it would cut the retention periods short.
    """
    today = dt.date.today()
    on = on or today
    if on > today:
        raise RetentionError(
            f"{on.isoformat()} is after today: the policy's periods are counted back from today "
            "or an earlier day, never a later one."
        )
    return Cutoffs(
        on=on,
        withdrawn_before=_midnight(_months_back(on, WITHDRAWN_MONTHS)),
        # "Deleted by year": a year goes once the whole of it is older than the period.
        history_before=_midnight(dt.date(on.year - HISTORY_YEARS, 1, 1)),
        referrals_before=dt.date(on.year - REFERRAL_YEARS, 1, 1),
        runs_before=_midnight(_months_back(on, 12 * REFERRAL_YEARS)),
        tokens_before=_midnight(on),
    )


# --- erasing withdrawn households -----------------------------------------------------------------
def _still_personal() -> ColumnElement[bool]:
    """Return whether a household (or one of its members) still holds personal data."""
    member = or_(
        *(Member.__table__.c[n] != "" for n in MEMBER_NAMES),
        *(Member.__table__.c[n].is_not(None) for n in MEMBER_PERSONAL),
    )
    return or_(
        *(Household.__table__.c[n].is_not(None) for n in HOUSEHOLD_PERSONAL),
        exists().where(Member.household_id == Household.id, member),
    )


def _to_erase(cut: Cutoffs) -> Any:
    return select(Household.id, Household.ref, Household.consent_withdrawn_at).where(
        Household.status == "consent_withdrawn",
        Household.consent_withdrawn_at < cut.withdrawn_before,
        _still_personal(),
    )


def scrub(value: Any) -> Any:
    """Return ``value`` (stored JSON) without the keys that carry personal data, at any depth."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in PERSONAL_KEYS}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def _scrub_trace(trace: Any) -> Any:
    trace = scrub(trace)
    if isinstance(trace, dict) and isinstance(trace.get("members"), list):
        # A member-level result names the member it explains.
        trace["members"] = [
            {k: v for k, v in m.items() if k != "name"} if isinstance(m, dict) else m
            for m in trace["members"]
        ]
    return trace


def _scrub_rows(
    session: Session, model: Any, ids: list[int], **columns: Callable[[Any], Any]
) -> int:
    """Rewrite the JSON ``columns`` of ``model``'s rows of households ``ids``; return how many."""
    table = model.__table__
    names = list(columns)
    rows = session.execute(
        select(table.c.id, *(table.c[n] for n in names)).where(table.c.household_id.in_(ids))
    ).all()
    changed = []
    for row_id, *values in rows:
        scrubbed = [columns[n](v) for n, v in zip(names, values, strict=True)]
        if scrubbed != values:
            new = {f"new_{n}": v for n, v in zip(names, scrubbed, strict=True)}
            changed.append({"row_id": row_id, **new})
    if changed:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({n: bindparam(f"new_{n}", type_=table.c[n].type) for n in names}),
            changed,
        )
    return len(changed)


def _erase(session: Session, batch: list[tuple[int, str, dt.datetime]], now: dt.datetime) -> None:
    """Erase the personal data of one batch of households, and record that it was done."""
    ids = [hh_id for hh_id, _ref, _at in batch]
    members = Member.__table__
    session.execute(
        update(members)
        .where(members.c.household_id.in_(ids))
        .values({**dict.fromkeys(MEMBER_NAMES, ""), **dict.fromkeys(MEMBER_PERSONAL)})
    )
    households = Household.__table__
    session.execute(
        update(households)
        .where(households.c.id.in_(ids))
        # A new version: an edit form opened before the erasure can no longer save over it.
        .values(
            {
                **dict.fromkeys(HOUSEHOLD_PERSONAL),
                "updated_at": now,
                "version": households.c.version + 1,
            }
        )
    )
    _scrub_rows(session, ChangeRecord, ids, changes=scrub)
    _scrub_rows(session, Determination, ids, input_snapshot=scrub, trace=_scrub_trace)
    fields = [*HOUSEHOLD_PERSONAL, *MEMBER_NAMES[:2], *MEMBER_PERSONAL]
    session.execute(
        insert(ChangeRecord),
        [
            {
                "household_id": hh_id,
                "user_id": None,
                "action": "personal_data.erase",
                "at": now,
                "reason": (
                    f"Consent withdrawn on {at.date().isoformat()}; personal data erased after "
                    f"{WITHDRAWN_MONTHS} months (retention policy)."
                ),
                "changes": {"erased": fields},
            }
            for hh_id, _ref, at in batch
        ],
    )
    session.execute(
        insert(AuditEvent),
        [
            {
                "at": now,
                "user_id": None,
                "username": ACTOR,
                "address": "",
                "action": "household.personal_data_erase",
                "object_type": "household",
                "object_ref": ref,
                "details": {"consent_withdrawn_at": at.isoformat(), "fields": fields},
            }
            for _hh_id, ref, at in batch
        ],
    )


def _batches(rows: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


# --- the purge ------------------------------------------------------------------------------------
@dataclass
class PurgeSummary:
    """What a purge did (or, in a dry run, would do)."""

    cutoffs: Cutoffs
    dry_run: bool
    households_erased: int = 0
    change_records_deleted: int = 0
    audit_events_deleted: int = 0
    referrals_deleted: int = 0
    determinations_deleted: int = 0
    screening_runs_deleted: int = 0
    api_tokens_deleted: int = 0

    def counts(self) -> dict[str, int]:
        """Return the counts by name."""
        return {k: v for k, v in asdict(self).items() if isinstance(v, int) and k != "dry_run"}

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-ready data."""
        return {"dry_run": self.dry_run, **self.cutoffs.details(), **self.counts()}


def _count(session: Session, stmt: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


def _old_referrals(cut: Cutoffs) -> Any:
    return select(Referral.id).where(Referral.issued_on < cut.referrals_before)


def _old_determinations(cut: Cutoffs) -> Any:
    # A determination a kept referral rests on stays with it.
    return select(Determination.id).where(
        Determination.created_at < _midnight(cut.referrals_before),
        ~exists().where(Referral.determination_id == Determination.id),
    )


def _expired_tokens(cut: Cutoffs) -> ColumnElement[bool]:
    return or_(ApiToken.expires_at < cut.tokens_before, ApiToken.revoked_at < cut.tokens_before)


def purge(
    session: Session,
    on: dt.date | None = None,
    *,
    dry_run: bool = False,
    commit: Commit | None = None,
    batch_size: int = BATCH,
) -> PurgeSummary:
    """Erase and delete what the retention policy lets go as of ``on`` (today by default).

    A dry run counts and changes nothing. Otherwise each batch is flushed and handed to
    ``commit`` (if given): households a thousand at a time, history and audit a year at a
    time, screenings a run at a time.
    """
    cut = cutoffs(on)
    summary = PurgeSummary(cut, dry_run)
    done = commit or session.flush
    to_erase = session.execute(_to_erase(cut).order_by(Household.id)).all()
    summary.households_erased = len(to_erase)
    if dry_run:
        summary.change_records_deleted = _count(
            session, select(ChangeRecord.id).where(ChangeRecord.at < cut.history_before)
        )
        summary.audit_events_deleted = _count(
            session, select(AuditEvent.id).where(AuditEvent.at < cut.history_before)
        )
        summary.referrals_deleted = _count(session, _old_referrals(cut))
        # Counted as if the old referrals were gone, as they will be by then.
        summary.determinations_deleted = _count(
            session,
            select(Determination.id).where(
                Determination.created_at < _midnight(cut.referrals_before),
                ~exists().where(
                    Referral.determination_id == Determination.id,
                    Referral.issued_on >= cut.referrals_before,
                ),
            ),
        )
        summary.screening_runs_deleted = _count(
            session, select(ScreeningRun.id).where(ScreeningRun.started_at < cut.runs_before)
        )
        expired = select(ApiToken.id).where(_expired_tokens(cut))
        summary.api_tokens_deleted = _count(session, expired)
        return summary

    now = dt.datetime.now(dt.UTC)
    for batch in _batches([tuple(r) for r in to_erase], batch_size):
        _erase(session, batch, now)
        done()

    for model in (ChangeRecord, AuditEvent):
        oldest = session.scalar(select(func.min(model.at)))
        if oldest is None:
            continue
        for year in range(oldest.year, cut.history_before.year):
            deleted = session.execute(
                delete(model)
                .where(model.at < _midnight(dt.date(year + 1, 1, 1)))
                .execution_options(synchronize_session=False)
            ).rowcount
            if model is ChangeRecord:
                summary.change_records_deleted += deleted
            else:
                summary.audit_events_deleted += deleted
            done()

    old = _old_referrals(cut)
    session.execute(
        delete(ReferralStatusChange)
        .where(ReferralStatusChange.referral_id.in_(old))
        .execution_options(synchronize_session=False)
    )
    summary.referrals_deleted = session.execute(
        delete(Referral).where(Referral.id.in_(old)).execution_options(synchronize_session=False)
    ).rowcount
    summary.determinations_deleted = session.execute(
        delete(Determination)
        .where(Determination.id.in_(_old_determinations(cut)))
        .execution_options(synchronize_session=False)
    ).rowcount
    done()

    runs = session.scalars(
        select(ScreeningRun.id)
        .where(ScreeningRun.started_at < cut.runs_before)
        .order_by(ScreeningRun.id)
    ).all()
    for run_id in runs:
        # Its counts go with it (ON DELETE CASCADE); its results have no key to it.
        session.execute(
            delete(ScreeningResult)
            .where(ScreeningResult.run_id == run_id)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            delete(ScreeningRun)
            .where(ScreeningRun.id == run_id)
            .execution_options(synchronize_session=False)
        )
        summary.screening_runs_deleted += 1
        done()

    summary.api_tokens_deleted = session.execute(
        delete(ApiToken).where(_expired_tokens(cut)).execution_options(synchronize_session=False)
    ).rowcount

    session.execute(
        insert(AuditEvent).values(
            at=now,
            user_id=None,
            username=ACTOR,
            address="",
            action="retention.purge",
            object_type="retention",
            object_ref=cut.on.isoformat(),
            details=summary.as_dict(),
        )
    )
    done()
    return summary


__all__ = ["Cutoffs", "PurgeSummary", "RetentionError", "cutoffs", "purge", "scrub"]
