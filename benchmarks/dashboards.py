"""Dashboard benchmarks: each dashboard (all its figures) for a nationwide and a province user.

The registry seed has no counter activity, so this adds some once, set-based: a registry-wide
screening (``screen_all``), stored screenings for one household in ten, referrals for a third
of those, and one audit event per registration (some of them duplicate overrides and merges).
Figures go through the dashboard services, as the pages do, minus HTTP and templates.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from benchmarks import Context, Figure, benchmark
from sw_mis.audit.models import AuditEvent
from sw_mis.dashboards import services
from sw_mis.eligibility.models import Determination, ScreeningRun
from sw_mis.referrals.models import STATUSES

TARGET_MS = 2000.0
AS_OF = dt.date(2026, 1, 1)
SUPERVISOR = "bench-dashboard-supervisor"
#: What stored screenings miss, in turn (paths as the engine reports them).
MISSING = (
    '["household.pmt_score"]',
    '["household.pmt_score", "members.date_of_birth"]',
    '["household.monthly_income"]',
    '["members.disability_severity"]',
)
OVERRIDE, CONFIRMED, PLAIN = (
    '{"override": "national_id"}',
    '{"confirmed_not_duplicate": true}',
    '{"members": 4}',
)


def _session(ctx: Context) -> Session:
    return sessionmaker(bind=ctx.engine, expire_on_commit=False)()


def _screen(ctx: Context) -> None:
    """Run a registry-wide screening unless one has finished already."""
    from sw_mis.eligibility.sql import screen_all

    with ctx.engine.connect() as conn:
        if conn.scalar(select(func.count()).where(ScreeningRun.status == "done")):
            return
        book = ctx.app.extensions["sw_mis.rulebook"]
        summary = screen_all(conn, book, AS_OF, country=ctx.country, commit=conn.commit)
    ctx.shared["screen_all_s"] = round(summary.seconds, 1)


def _sql(conn: Connection) -> dict[str, str]:
    """Return the dialect-specific bits of the activity statements."""
    if conn.dialect.name == "postgresql":
        return {
            "day": "CAST(h.registered_at AS DATE)",
            "json": "CAST({} AS json)",
            "plus": "CAST(h.registered_at AS DATE) + {}",
            "ts": "h.registered_at + interval '1 day'",
        }
    return {
        "day": "date(h.registered_at)",
        "json": "{}",
        "plus": "date(h.registered_at, '+{} days')",
        "ts": "datetime(h.registered_at, '+1 day')",
    }


def _activity(ctx: Context) -> None:
    """Add stored screenings, referrals and audit events once (INSERT … SELECT, no round trips)."""
    book = ctx.app.extensions["sw_mis.rulebook"]
    schemes = sorted(s for s, scheme in book.schemes.items() if scheme.country == ctx.country)
    with ctx.engine.begin() as conn:
        if conn.scalar(select(func.count()).select_from(Determination)):
            return
        q = _sql(conn)
        scheme = (
            "CASE "
            + " ".join(
                f"WHEN (h.id / 10) % {len(schemes)} = {i} THEN '{s}'" for i, s in enumerate(schemes)
            )
            + " END"
        )
        missing = (
            "CASE "
            + " ".join(
                f"WHEN h.id % 4 = {i} THEN {q['json'].format(repr(m))}"
                for i, m in enumerate(MISSING)
            )
            + " END"
        )
        empty = q["json"].format("'{}'")
        sql = f"""
            INSERT INTO determinations (household_id, scheme_id, outcome, as_of, rules_version,
                parameters, input_snapshot, trace, missing, created_at)
            SELECT h.id, {scheme},
                   CASE h.id % 3 WHEN 0 THEN 'eligible' WHEN 1 THEN 'not_eligible'
                                 ELSE 'undetermined' END,
                   {q["day"]}, 'bench', {empty}, {empty}, {empty},
                   CASE WHEN h.id % 3 = 2 THEN {missing} ELSE {q["json"].format("'[]'")} END,
                   {q["ts"]}
            FROM households h WHERE h.id % 10 = 0"""  # noqa: S608 - fragments fixed in this file
        conn.execute(text(sql))
        status = (
            "CASE "
            + " ".join(
                f"WHEN d.id % {len(STATUSES)} = {i} THEN '{s}'" for i, s in enumerate(STATUSES)
            )
            + " END"
        )
        sql = f"""
            INSERT INTO referrals (ref, household_id, scheme_id, determination_id, status,
                issued_on, expires_on, counter, language, copies_printed, created_at, updated_at)
            SELECT 'B' || d.id, d.household_id, d.scheme_id, d.id, {status},
                   {q["day"]}, {q["plus"].format(60)}, '', 'en', 1, {q["ts"]}, {q["ts"]}
            FROM determinations d JOIN households h ON h.id = d.household_id
            WHERE d.id % 3 = 0"""  # noqa: S608 - fragments fixed in this file
        conn.execute(text(sql))
        j = q["json"].format
        details = (
            f"CASE WHEN h.id % 997 = 0 THEN {j(repr(OVERRIDE))}"
            f" WHEN h.id % 499 = 0 THEN {j(repr(CONFIRMED))} ELSE {j(repr(PLAIN))} END"
        )
        sql = f"""
            INSERT INTO audit_events (at, username, address, action, object_type, object_ref,
                                      details)
            SELECT h.registered_at, 'clerk', '', 'household.register', 'household', h.ref,
                   {details}
            FROM households h"""  # noqa: S608 - fragments fixed in this file
        conn.execute(text(sql))
        sql = f"""
            INSERT INTO audit_events (at, username, address, action, object_type, object_ref,
                                      details)
            SELECT {q["ts"]}, 'dm', '', 'household.merge', 'household', h.ref,
                   {j(repr('{"moved": 1}'))}
            FROM households h WHERE h.id % 1009 = 0"""  # noqa: S608 - fragments fixed in this file
        conn.execute(text(sql))
    if ctx.engine.dialect.name == "postgresql":
        with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(
                text(
                    "ANALYZE determinations, referrals, audit_events, "
                    "screening_results, screening_counts, screening_runs"
                )
            )


def _supervisor(ctx: Context, session: Session) -> Any:
    """Return a supervisor whose office covers the province with the most households."""
    from sw_mis.auth.models import User
    from sw_mis.auth.services import create_office, create_user
    from sw_mis.registry.models import Household

    user = session.scalar(select(User).where(User.username == SUPERVISOR))
    if user is None:
        province = session.execute(
            select(Household.admin1, func.count())
            .where(Household.country == ctx.country)
            .group_by(Household.admin1)
            .order_by(func.count().desc())
            .limit(1)
        ).scalar_one()
        office = create_office(
            session,
            code=f"BENCH-DASH-{ctx.country}",
            name="Dashboard bench",
            country=ctx.country,
            area_codes=[province],
        )
        user = create_user(
            session,
            username=SUPERVISOR,
            password=uuid.uuid4().hex,
            role="supervisor",
            office_code=office.code,
        )
        session.commit()
    return user


def _admin(session: Session) -> Any:
    """Return a nationwide user (not stored: visibility reads only the role)."""
    from sw_mis.auth.models import User

    return User(id=0, username="bench-admin", role="admin", password_hash="")


def _time_ms(fn: Any, repeats: int) -> list[float]:
    fn()  # warm the cache, as a page seen every morning would be
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


@benchmark("dashboards")
def dashboards(ctx: Context) -> Iterator[Figure]:
    """Time each dashboard for a nationwide user and a province supervisor; target 2 s."""
    started = time.perf_counter()
    _screen(ctx)
    _activity(ctx)
    prepared = time.perf_counter() - started
    session = _session(ctx)
    names = {sid: s.name for sid, s in ctx.app.extensions["sw_mis.rulebook"].schemes.items()}
    repeats = 3 if ctx.smoke else 5
    try:
        households = session.scalar(text("SELECT count(*) FROM households"))
        events = session.scalar(select(func.count()).select_from(AuditEvent))
        # Baseline: one full count of the registry, the least any registry-wide figure costs.
        full_count = text("SELECT count(*), max(registered_at) FROM households")
        baseline = statistics.median(_time_ms(lambda: session.execute(full_count).all(), repeats))
        users = {"admin": _admin(session), "supervisor": _supervisor(ctx, session)}
        for who, user in users.items():
            for name in services.DASHBOARDS:

                def run(user: Any = user, name: str = name) -> None:
                    services.compute_dashboard(session, user, name, services.Filters(), names)
                    session.rollback()  # each page is its own request and transaction

                timings = _time_ms(run, repeats)
                yield Figure(
                    name=f"dashboards.{name}[{ctx.engine.dialect.name},{households},{who}]",
                    value=round(max(timings), 1),
                    unit="ms",
                    target=TARGET_MS,
                    baseline=round(baseline, 1),
                    notes=f"slowest of {repeats}; all dates, all areas the user sees; "
                    f"{events} audit events; baseline: one count(*) over households"
                    + (f"; activity prepared in {prepared:.0f} s" if prepared > 1 else ""),
                )
    finally:
        session.close()
