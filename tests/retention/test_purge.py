"""The retention policy applied: what goes, what stays, what is recorded, and a second run."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from factories import default_areas, make_household, make_office, make_user, member_data
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sw_mis.audit.models import AuditEvent
from sw_mis.auth.models import ApiToken
from sw_mis.eligibility.models import Determination, ScreeningResult, ScreeningRun
from sw_mis.referrals.models import Referral, ReferralStatusChange
from sw_mis.registry.models import ChangeRecord, Household, Member
from sw_mis.retention import services as retention

TODAY = dt.date.today()
NOW = dt.datetime.now(dt.UTC)


def ago(days: int = 0, years: int = 0) -> dt.datetime:
    return NOW - dt.timedelta(days=days + 366 * years)


def _household(session: Session, user, n: int, withdrawn_at: dt.datetime | None) -> Household:
    household = make_household(
        session,
        user,
        address=f"House {n}, Street {n}",
        members=[
            member_data(national_id=f"35202{n:08d}"),
            member_data(
                given_name="Bilal",
                family_name="Khan",
                relationship_to_head="child",
                date_of_birth=dt.date(2010, 1, 2),
                date_of_birth_estimated=True,
                national_id=f"35203{n:08d}",
            ),
        ],
        enrolments=[{"scheme_id": "pk-bisp", "status": "active", "start_date": "2024-01-01"}],
    )
    session.add(
        ChangeRecord(
            household_id=household.id,
            member_id=household.members[0].id,
            action="member.update",
            changes={"given_name": ["Amna", "Amina"], "rooms": [1, 2]},
        )
    )
    determination = Determination(
        household_id=household.id,
        scheme_id="pk-bisp",
        outcome="eligible",
        as_of=TODAY,
        rules_version="test",
        parameters={},
        input_snapshot={
            "ref": household.ref,
            "address": household.address,
            "rooms": 2,
            "members": [
                {
                    "id": "1",
                    "given_name": "Amina",
                    "national_id": "x",
                    "date_of_birth": "1980-05-17",
                }
            ],
        },
        trace={
            "criteria": [{"id": "age", "values": {"date_of_birth": "1980-05-17", "age": 45}}],
            "members": [{"id": "1", "name": "Amina", "outcome": "eligible"}],
        },
        missing=[],
    )
    session.add(determination)
    if withdrawn_at is not None:
        household.status = "consent_withdrawn"
        household.consent_withdrawn_at = withdrawn_at
    session.flush()
    return household


def _referral(session: Session, household: Household, issued: dt.date, ref: str) -> Referral:
    determination = Determination(
        household_id=household.id,
        scheme_id="pk-bisp",
        outcome="eligible",
        as_of=issued,
        rules_version="test",
        parameters={},
        input_snapshot={},
        trace={},
        missing=[],
        created_at=dt.datetime.combine(issued, dt.time(), dt.UTC),
    )
    session.add(determination)
    session.flush()
    referral = Referral(
        ref=ref,
        household_id=household.id,
        scheme_id="pk-bisp",
        determination_id=determination.id,
        issued_on=issued,
        expires_on=issued + dt.timedelta(days=90),
    )
    session.add(referral)
    session.flush()
    session.add(ReferralStatusChange(referral_id=referral.id, to_status="issued"))
    session.flush()
    return referral


@pytest.fixture
def registry(db_session: Session) -> SimpleNamespace:
    """Households withdrawn long ago and lately, an active one, and records of every age."""
    default_areas(db_session)
    office = make_office(db_session, "PB-01", ["PK-PB"], name="Punjab office")
    clerk = make_user(db_session, "supervisor", office)
    w = SimpleNamespace(clerk=clerk)
    w.old = _household(db_session, clerk, 1, withdrawn_at=ago(days=30, years=2))
    w.recent = _household(db_session, clerk, 2, withdrawn_at=ago(days=200))
    w.active = _household(db_session, clerk, 3, withdrawn_at=None)
    w.old_referral = _referral(db_session, w.active, dt.date(TODAY.year - 6, 6, 1), "R-OLD0001")
    w.new_referral = _referral(db_session, w.active, dt.date(TODAY.year - 4, 6, 1), "R-NEW0001")
    years8 = ago(years=9)
    w.old_run = ScreeningRun(as_of=TODAY, rules_version="t", scheme_ids=[], started_at=ago(years=6))
    w.new_run = ScreeningRun(as_of=TODAY, rules_version="t", scheme_ids=[])
    db_session.add_all(
        [
            ChangeRecord(household_id=w.active.id, action="update", changes={}, at=years8),
            AuditEvent(action="household.view", object_ref=w.active.ref, at=years8),
            w.old_run,
            w.new_run,
            ApiToken(
                user_id=clerk.id,
                token_hash="a" * 64,
                created_at=ago(days=40),
                expires_at=ago(days=10),
            ),
            ApiToken(
                user_id=clerk.id,
                token_hash="b" * 64,
                created_at=ago(days=3),
                expires_at=NOW + dt.timedelta(days=20),
                revoked_at=ago(days=2),
            ),
            ApiToken(
                user_id=clerk.id,
                token_hash="c" * 64,
                created_at=ago(days=3),
                expires_at=NOW + dt.timedelta(days=20),
            ),
        ]
    )
    db_session.flush()
    db_session.add_all(
        ScreeningResult(run_id=run.id, household_id=w.active.id, country="PK", codes="1")
        for run in (w.old_run, w.new_run)
    )
    db_session.flush()
    return w


def _count(session: Session, model) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _state(session: Session) -> dict[str, object]:
    """Everything the purge may change, to compare before and after a run."""
    session.expire_all()
    return {
        "members": sorted(
            session.execute(
                select(Member.id, Member.given_name, Member.national_id, Member.date_of_birth)
            ).all()
        ),
        "households": sorted(session.execute(select(Household.id, Household.address)).all()),
        "changes": sorted((r.id, str(r.changes)) for r in session.scalars(select(ChangeRecord))),
        "counts": [
            _count(session, m)
            for m in (
                ChangeRecord,
                Referral,
                Determination,
                ScreeningRun,
                ScreeningResult,
                ApiToken,
            )
        ],
        "audit": _count(session, AuditEvent),
    }


def test_dry_run_counts_and_changes_nothing(db_session: Session, registry) -> None:
    before = _state(db_session)
    summary = retention.purge(db_session, dry_run=True)
    assert summary.counts() == {
        "households_erased": 1,
        "change_records_deleted": 1,
        "audit_events_deleted": 1,
        "referrals_deleted": 1,
        "determinations_deleted": 1,
        "screening_runs_deleted": 1,
        "api_tokens_deleted": 2,
    }
    assert _state(db_session) == before


def test_purge_erases_withdrawn_households_after_24_months(db_session: Session, registry) -> None:
    version = registry.old.version
    summary = retention.purge(db_session)
    assert summary.households_erased == 1
    db_session.expire_all()
    old = db_session.get(Household, registry.old.id)
    assert old.address is None and old.ref == registry.old.ref and old.status == "consent_withdrawn"
    assert old.version == version + 1  # an edit form opened before can no longer save
    for member in old.members:
        assert (member.given_name, member.family_name, member.name_key) == ("", "", "")
        assert member.national_id is None and member.date_of_birth is None
        assert member.date_of_birth_estimated is None
        assert member.sex is not None and member.relationship_to_head  # not personal data
    # Ids and programme history are kept.
    assert [e.scheme_id for e in old.enrolments] == ["pk-bisp"]
    assert len(old.members) == 2
    changes = db_session.scalars(
        select(ChangeRecord).where(ChangeRecord.household_id == old.id).order_by(ChangeRecord.id)
    ).all()
    assert {"rooms": [1, 2]} in [c.changes for c in changes]
    assert not any("given_name" in c.changes for c in changes)
    erased = changes[-1]
    assert erased.action == "personal_data.erase" and "24 months" in erased.reason
    determination = db_session.scalars(
        select(Determination).where(Determination.household_id == old.id)
    ).one()
    assert determination.input_snapshot == {"ref": old.ref, "rooms": 2, "members": [{"id": "1"}]}
    assert determination.trace == {
        "criteria": [{"id": "age", "values": {"age": 45}}],
        "members": [{"id": "1", "outcome": "eligible"}],
    }
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "household.personal_data_erase")
    ).one()
    assert event.object_ref == old.ref and event.username == "cli"
    # Withdrawn only lately, and active: untouched.
    for kept in (registry.recent, registry.active):
        household = db_session.get(Household, kept.id)
        assert household.address and household.members[0].national_id
        assert household.members[0].given_name == "Amina"


def test_purge_deletes_old_records_by_year_and_run(db_session: Session, registry) -> None:
    old, new = registry.old_referral, registry.new_referral
    referrals = (old.id, old.determination_id, new.id, new.determination_id)
    summary = retention.purge(db_session)
    assert summary.change_records_deleted == 1 and summary.audit_events_deleted == 1
    db_session.expunge_all()
    old_id, old_determination, new_id, new_determination = referrals
    assert db_session.get(Referral, old_id) is None
    assert db_session.get(Referral, new_id) is not None
    assert db_session.get(Determination, new_determination) is not None
    assert db_session.get(Determination, old_determination) is None
    assert _count(db_session, ReferralStatusChange) == 1
    assert _count(db_session, ScreeningRun) == 1
    # A run's results have no foreign key to it (migration 0005): the purge deletes them.
    assert db_session.scalars(select(ScreeningResult.run_id)).all() == [registry.new_run.id]
    assert db_session.scalars(select(ApiToken.token_hash)).all() == ["c" * 64]
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "retention.purge")
    ).one()
    assert event.details["households_erased"] == 1 and event.details["dry_run"] is False
    assert event.details["on"] == TODAY.isoformat()


def test_a_second_run_finds_nothing_to_do(db_session: Session, registry) -> None:
    retention.purge(db_session)
    before = _state(db_session)
    again = retention.purge(db_session)
    assert set(again.counts().values()) == {0}
    after = _state(db_session)
    assert after["audit"] == before["audit"] + 1  # the run itself is recorded
    assert {**after, "audit": 0} == {**before, "audit": 0}


def test_an_earlier_reference_day_purges_less(db_session: Session, registry) -> None:
    summary = retention.purge(db_session, TODAY - dt.timedelta(days=60), dry_run=True)
    assert summary.households_erased == 0  # withdrawn 24 months + 30 days ago: not yet then
    assert summary.api_tokens_deleted == 0


def test_a_reference_day_after_today_is_refused(db_session: Session) -> None:
    with pytest.raises(retention.RetentionError, match="after today"):
        retention.purge(db_session, TODAY + dt.timedelta(days=1))


def test_cutoffs_count_whole_years_for_history() -> None:
    cut = retention.cutoffs(dt.date(2026, 11, 27))
    assert cut.withdrawn_before.date() == dt.date(2024, 11, 27)
    assert cut.history_before.date() == dt.date(2019, 1, 1)
    assert cut.referrals_before == dt.date(2021, 1, 1)
    assert cut.runs_before.date() == dt.date(2021, 11, 27)
    leap = retention.cutoffs(dt.date(2024, 2, 29))
    assert leap.withdrawn_before.date() == dt.date(2022, 2, 28)


def test_batches_commit_one_after_another(db_session: Session, registry) -> None:
    for n in range(4, 7):
        _household(db_session, registry.clerk, n, withdrawn_at=ago(years=3))
    commits: list[int] = []
    summary = retention.purge(
        db_session, batch_size=2, commit=lambda: commits.append(db_session.flush() or 1)
    )
    assert summary.households_erased == 4
    assert len(commits) >= 2 + 1  # two household batches, then the deletions
    assert (
        db_session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "household.personal_data_erase")
        )
        == 4
    )
