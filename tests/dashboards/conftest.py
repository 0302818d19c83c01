"""Hand-built data for the dashboards: two provinces, each served by its own office.

Punjab (PB-01) has three households, Sindh (SD-01) one; every figure's expected numbers in the
tests are counted by hand from what is made here.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from types import SimpleNamespace

import pytest
from factories import default_areas, make_household, make_office, make_user
from sqlalchemy.orm import Session

from sw_mis.audit.models import AuditEvent
from sw_mis.eligibility.models import Determination, ScreeningCount, ScreeningRun
from sw_mis.referrals.models import Referral, new_ref
from sw_mis.registry.models import Enrolment, Household

UTC = dt.UTC
NAMES = {"s_a": "Scheme A", "s_b": "Scheme B"}


def at(day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    """Return a time in March 2026 (2 March is a Monday)."""
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def registered(session: Session, household: Household, when: dt.datetime) -> None:
    """Backdate a registration, as if it had happened ``when``."""
    household.registered_at = when
    session.flush()


def determination(
    session: Session, household: Household, scheme_id: str, outcome: str, missing: list[str]
) -> Determination:
    """Store a screening made on 3 March 2026."""
    d = Determination(
        household_id=household.id, scheme_id=scheme_id, outcome=outcome,
        as_of=dt.date(2026, 3, 3), rules_version="test", missing=missing, created_at=at(3),
    )  # fmt: skip
    session.add(d)
    session.flush()
    return d


def referral(
    session: Session, d: Determination, status: str, expires: dt.date = dt.date(2099, 1, 1)
) -> Referral:
    """Issue a referral on 3 March 2026 from determination ``d``, now in ``status``."""
    r = Referral(
        ref=new_ref(), household_id=d.household_id, scheme_id=d.scheme_id,
        determination_id=d.id, status=status, issued_on=dt.date(2026, 3, 3), expires_on=expires,
    )  # fmt: skip
    session.add(r)
    session.flush()
    return r


def run(
    session: Session,
    schemes: list[str],
    status: str,
    finished: dt.datetime | None,
    outcomes: list[tuple[str, Household, int | None, str]],
) -> ScreeningRun:
    """Record a registry-wide screening run with the area counts of these outcome pairs.

    The counts are what ``screen_all`` writes (distinct households per scheme and area); the
    differential tests check ``screen_all`` writes them right, these tests what reads them.
    """
    r = ScreeningRun(
        as_of=(finished or at(1)).date(),
        rules_version="test",
        scheme_ids=schemes,
        layout={"PK": {"household": schemes, "member": []}},
        status=status,
        finished_at=finished,
    )
    session.add(r)
    session.flush()
    found: dict[tuple[str, tuple[str | None, ...]], dict[str, set[int]]] = defaultdict(
        lambda: {"eligible": set(), "undetermined": set()}
    )
    for s, h, _, o in outcomes:
        found[(s, (h.admin1, h.admin2, h.admin3))][o].add(h.id)
    session.add_all(
        ScreeningCount(
            run_id=r.id,
            scheme_id=s,
            admin1=a1,
            admin2=a2,
            admin3=a3,
            eligible=len(ids["eligible"]),
            undetermined=len(ids["undetermined"]),
        )
        for (s, (a1, a2, a3)), ids in found.items()
    )
    session.flush()
    return r


def event(session: Session, action: str, household: Household, **details: object) -> None:
    """Add an audit event about ``household`` on 3 March 2026."""
    session.add(
        AuditEvent(
            action=action,
            object_type="household",
            object_ref=household.ref,
            details=details,
            at=at(3),
        )
    )
    session.flush()


@pytest.fixture
def world(db_session: Session) -> SimpleNamespace:
    """Users of both offices and the households, screenings, referrals and runs counted."""
    areas = default_areas(db_session)
    pb = make_office(db_session, "PB-01", [areas["PK-PB"]], name="Punjab office")
    sd = make_office(db_session, "SD-01", [areas["PK-SD"]], name="Sindh office")
    clerk_pb = make_user(db_session, "clerk", pb)
    clerk_sd = make_user(db_session, "clerk", sd)
    w = SimpleNamespace(
        clerk=clerk_pb,
        supervisor=make_user(db_session, "supervisor", pb),
        officer_sd=make_user(db_session, "programme_officer", sd),
        admin=make_user(db_session, "admin"),
        auditor=make_user(db_session, "auditor"),
        data_manager=make_user(db_session, "data_manager", pb),
    )
    h1, h2, h3 = (make_household(db_session, clerk_pb) for _ in range(3))
    h4 = make_household(db_session, clerk_sd)
    w.households = (h1, h2, h3, h4)
    registered(db_session, h1, at(3))
    registered(db_session, h2, at(8, 23, 30))  # Sunday night: still the week of 2 March
    registered(db_session, h3, at(16, 0, 10))  # Monday just after midnight: a new week
    registered(db_session, h4, at(4))

    d1 = determination(db_session, h1, "s_a", "eligible", [])
    determination(
        db_session, h1, "s_a", "undetermined", ["household.pmt_score", "members.date_of_birth"]
    )
    d2 = determination(db_session, h2, "s_a", "undetermined", ["household.pmt_score"])
    d4 = determination(db_session, h4, "s_a", "undetermined", ["household.pmt_score"])
    d3 = determination(db_session, h3, "s_b", "not_eligible", [])

    referral(db_session, d1, "issued")
    referral(db_session, d2, "issued", expires=dt.date(2020, 1, 1))  # past expiry: expired
    referral(db_session, d3, "enrolled")
    referral(db_session, d4, "received")

    m2 = [m.id for m in h2.members]
    run(db_session, ["s_a", "s_b"], "done", at(1), [
        ("s_a", h1, None, "eligible"), ("s_b", h3, None, "eligible"),
    ])  # fmt: skip
    run(db_session, ["s_a"], "done", at(2), [
        ("s_a", h1, None, "eligible"),
        ("s_a", h2, m2[0], "eligible"), ("s_a", h2, m2[1], "eligible"),  # one household
        ("s_a", h4, None, "eligible"), ("s_a", h3, None, "undetermined"),
    ])  # fmt: skip
    run(db_session, ["s_a"], "running", None, [("s_a", h3, None, "eligible")])  # unfinished

    db_session.add_all([
        Enrolment(household_id=h1.id, scheme_id="s_a", status="active"),
        Enrolment(household_id=h3.id, scheme_id="s_a", status="exited"),
        Enrolment(household_id=h3.id, scheme_id="s_b", status="active"),
        Enrolment(household_id=h4.id, scheme_id="s_a", status="active"),
    ])  # fmt: skip
    db_session.flush()

    event(db_session, "household.merge", h1, merged="PK-X", moved=1)
    event(db_session, "household.register", h2, override="national_id", members=2)
    event(db_session, "household.register", h4, confirmed_not_duplicate=True, members=2)
    event(db_session, "household.update", h3, version=2)  # an edit, not about duplicates
    return w
