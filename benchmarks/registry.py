"""Registry benchmarks: seeding, lookups by reference and national ID, name search, registration.

Lookups, search and registration go through the registry services (the code the counter, the
API and the CLI share), so the figures are what a clerk waits for, minus HTTP.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from benchmarks import Context, Figure, benchmark, p95_figure, time_calls
from sw_mis.registry.models import Household, Member
from sw_mis.registry.seed import HOUSEHOLD_COLUMNS, MEMBER_COLUMNS, _Generator, seed_households

ORM_BASELINE_HOUSEHOLDS = 200


def _session(ctx: Context) -> Session:
    return sessionmaker(bind=ctx.engine, expire_on_commit=False)()


def _household_count(ctx: Context) -> int:
    with ctx.engine.connect() as conn:
        return conn.scalar(
            select(func.count()).select_from(Household).where(Household.country == ctx.country)
        )


def _orm_rate(ctx: Context) -> float:
    """Households per second written the naive way (ORM objects, one flush), rolled back."""
    with ctx.engine.connect() as conn:
        first_id = (conn.scalar(select(func.max(Household.id))) or 0) + 10_000_000
    gen = _Generator(ctx.country, seed=99, areas=_areas(ctx), offices={})
    rows = [gen.household(first_id + i) for i in range(ORM_BASELINE_HOUSEHOLDS)]
    session = _session(ctx)
    start = time.perf_counter()
    try:
        for hh_row, member_rows, _ in rows:
            data = dict(zip(HOUSEHOLD_COLUMNS, hh_row, strict=True))
            data.pop("id")
            household = Household(**data)
            for member_row in member_rows:
                m = dict(zip(MEMBER_COLUMNS, member_row, strict=True))
                m.pop("household_id")
                household.members.append(Member(**m))
            session.add(household)
            session.flush()  # row by row, as a per-household registration loop would
        elapsed = time.perf_counter() - start
    finally:
        session.rollback()
        session.close()
    return ORM_BASELINE_HOUSEHOLDS / elapsed


def _areas(ctx: Context) -> list[tuple[Any, ...]]:
    from sw_mis.registry.seed import _area_paths, ensure_areas

    with ctx.engine.begin() as conn:
        ensure_areas(conn, ctx.country, ctx.app.config["SW_MIS"].rules_path)
        return _area_paths(conn, ctx.country)


@benchmark("seed")
def seed(ctx: Context) -> Iterator[Figure]:
    """Top the registry up to ``ctx.households`` households; report households per second."""
    missing = ctx.households - _household_count(ctx)
    if missing <= 0:
        return
    baseline = _orm_rate(ctx)
    start = time.perf_counter()
    seed_households(
        ctx.engine,
        missing,
        seed=1,
        country=ctx.country,
        rules_path=ctx.app.config["SW_MIS"].rules_path,
    )
    elapsed = time.perf_counter() - start
    yield Figure(
        name=f"seed.households_per_s[{ctx.engine.dialect.name},{missing}]",
        value=round(missing / elapsed, 1),
        unit="households/s",
        target=None,
        baseline=round(baseline, 1),
        higher_is_better=True,
        notes=f"{missing} households in {elapsed:.1f} s; baseline: ORM row by row",
    )


# --- samples ----------------------------------------------------------------------------------
def _samples(ctx: Context, n: int) -> dict[str, list[Any]]:
    """Draw refs, national IDs, names and ids of existing households, reproducibly."""
    rng = random.Random(7)
    with ctx.engine.connect() as conn:
        low, high = conn.execute(select(func.min(Household.id), func.max(Household.id))).one()
        ids = sorted({rng.randint(low, high) for _ in range(n * 2)})
        households = conn.execute(
            select(Household.id, Household.ref).where(Household.id.in_(ids))
        ).all()
        members = conn.execute(
            select(Member.given_name, Member.family_name, Member.national_id).where(
                Member.household_id.in_(ids)
            )
        ).all()
    names = [f"{m.given_name} {m.family_name}" for m in members]
    # Half the searches carry the spelling variants clerks type (Mohammad for Muhammad, …).
    variants = [_misspell(name, rng) if i % 2 else name for i, name in enumerate(names)]
    return {
        "ids": [h.id for h in households],
        "refs": [h.ref for h in households],
        "national_ids": [m.national_id for m in members if m.national_id],
        "names": variants,
    }


def _misspell(name: str, rng: random.Random) -> str:
    swaps = (("u", "o"), ("ee", "i"), ("a", "e"), ("kh", "k"), ("z", "s"))
    for old, new in rng.sample(swaps, len(swaps)):
        if old in name:
            return name.replace(old, new, 1)
    return name


def _cycle(items: list[Any]) -> Callable[[int], Any]:
    if not items:
        raise RuntimeError("the registry is empty: run the seed benchmark first")
    return lambda i: items[i % len(items)]


# --- operations: the registry services when present, else the equivalent queries ---------------
BENCH_USER = "bench-clerk"


def _bench_user(ctx: Context, session: Session) -> Any:
    """Return a clerk whose office covers every province, creating it on first use.

    A clerk, not an admin: the visibility filter an office-bound user carries is part of what a
    lookup costs at the counter.
    """
    from sw_mis.auth.models import Area, User
    from sw_mis.auth.services import create_office, create_user

    user = session.scalar(select(User).where(User.username == BENCH_USER))
    if user is None:
        provinces = list(
            session.scalars(select(Area.code).where(Area.country == ctx.country, Area.level == 1))
        )
        office = create_office(
            session, code=f"BENCH-{ctx.country}", name="Benchmark office", country=ctx.country,
            area_codes=provinces,
        )  # fmt: skip
        user = create_user(
            session,
            username=BENCH_USER,
            password=uuid.uuid4().hex,
            role="clerk",
            office_code=office.code,
        )
        session.commit()
    return user


def _operations(session: Session, ctx: Context) -> dict[str, Callable[[Any], Any]]:
    """Return lookup/search callables on ``session``, from the services if they exist."""
    from sw_mis.registry import services

    user = _bench_user(ctx, session)

    def by_ref(ref: str) -> Any:
        household = services.get_household(session, user, ref)
        return household.members  # the roster comes with every lookup at the counter

    ops: dict[str, Callable[[Any], Any]] = {"ref": by_ref}
    try:
        from sw_mis.registry import search
    except ImportError:  # search is being written in parallel: time the equivalent queries
        search = None  # type: ignore[assignment]
    if search is not None and hasattr(search, "search_households"):
        ops["national_id"] = lambda nid: search.search_households(session, user, nid)
        ops["name"] = lambda name: search.search_households(session, user, name)
    else:
        ops["national_id"] = lambda nid: _by_national_id(session, nid)
        ops["name"] = lambda name: _by_name(session, name)
    return ops


def _by_national_id(session: Session, national_id: str) -> list[Household]:
    return list(
        session.scalars(
            select(Household).join(Member).where(Member.national_id == national_id).limit(20)
        )
    )


def _by_name(session: Session, name: str) -> list[Any]:
    from sqlalchemy import or_

    from sw_mis.registry.names import query_prefixes

    clauses = [Member.name_key.startswith(p, autoescape=True) for p in query_prefixes(name)]
    return list(
        session.execute(
            select(Member.id, Member.household_id, Member.given_name, Member.family_name)
            .where(or_(*clauses))
            .order_by(Member.name_key, Member.id)
            .limit(20)
        )
    )


def _baseline_roundtrip(session: Session, iterations: int) -> list[float]:
    """Timings of ``SELECT 1``: what any query costs before it does any work."""
    return time_calls(lambda _i: session.execute(text("SELECT 1")).scalar(), iterations)


def _baseline_pk(session: Session, ids: list[int], iterations: int) -> list[float]:
    """Timings of fetching one household row by primary key."""
    pick = _cycle(ids)
    return time_calls(
        lambda i: session.execute(select(Household.ref).where(Household.id == pick(i))).first(),
        iterations,
    )


@benchmark("lookup")
def lookup(ctx: Context) -> Iterator[Figure]:
    """p95 of a household lookup by reference and by national ID (target ≤ 5 ms)."""
    samples = _samples(ctx, ctx.iterations)
    with ctx.app.app_context():
        session = _session(ctx)
        try:
            ops = _operations(session, ctx)
            base = _baseline_roundtrip(session, ctx.iterations)
            ref = _cycle(samples["refs"])
            by_ref = time_calls(lambda i: ops["ref"](ref(i)), ctx.iterations)
            session.rollback()
            nid = _cycle(samples["national_ids"])
            by_nid = time_calls(lambda i: ops["national_id"](nid(i)), ctx.iterations)
        finally:
            session.rollback()
            session.close()
    size = f"{ctx.engine.dialect.name},{_household_count(ctx)}"
    yield p95_figure(f"lookup.by_ref.p95[{size}]", by_ref, base, 5.0, "baseline: SELECT 1")
    yield p95_figure(f"lookup.by_national_id.p95[{size}]", by_nid, base, 5.0, "baseline: SELECT 1")


@benchmark("search")
def search_by_name(ctx: Context) -> Iterator[Figure]:
    """p95 of a spelling-tolerant name search (target ≤ 100 ms)."""
    samples = _samples(ctx, ctx.iterations)
    with ctx.app.app_context():
        session = _session(ctx)
        try:
            ops = _operations(session, ctx)
            base = _baseline_pk(session, samples["ids"], ctx.iterations)
            name = _cycle(samples["names"])
            timings = time_calls(lambda i: ops["name"](name(i)), ctx.iterations)
        finally:
            session.rollback()
            session.close()
    size = f"{ctx.engine.dialect.name},{_household_count(ctx)}"
    yield p95_figure(
        f"search.by_name.p95[{size}]", timings, base, 100.0, "baseline: fetch by primary key"
    )


# --- registration -----------------------------------------------------------------------------
def _payload(ctx: Context, area: tuple[Any, ...], run: int, i: int) -> dict[str, Any]:
    """Return a 5-member household as a clerk would type it (national IDs unique per run)."""
    from sw_mis.registry.seed_names import name_book

    book = name_book(ctx.country)
    rng = random.Random(i)
    family = rng.choice(book.family) if book.family else ""
    today = dt.date.today()

    def person(k: int, sex: str, age: int, rel: str, marital: str) -> dict[str, Any]:
        given = rng.choice(book.female if sex == "female" else book.male)
        born = today - dt.timedelta(days=365 * age + rng.randrange(365))
        return {
            "given_name": given,
            "family_name": family if rel != "spouse" else rng.choice(book.family or ("",)),
            "sex": sex,
            "date_of_birth": born.isoformat(),
            "relationship_to_head": rel,
            "marital_status": marital,
            "national_id": f"9{run:06d}{i:05d}{k}" if age >= 18 else None,
        }

    admin1, admin2, admin3, _ = area
    return {
        "country": ctx.country,
        "admin1": admin1,
        "admin2": admin2,
        "admin3": admin3,
        "area_type": "rural",
        "consent_given": True,
        "pmt_score": "28.5",
        "members": [
            person(0, "male", 41, "head", "married"),
            person(1, "female", 36, "spouse", "married"),
            person(2, "female", 14, "child", "never_married"),
            person(3, "male", 9, "child", "never_married"),
            person(4, "female", 3, "child", "never_married"),
        ],
    }


@benchmark("register")
def register(ctx: Context) -> Iterator[Figure]:
    """p95 of registering a 5-member household and committing it (target ≤ 50 ms)."""
    from sw_mis.registry import services
    from sw_mis.registry.errors import LikelyDuplicates

    run = int(time.time()) % 1_000_000
    iterations = max(50, ctx.iterations // 2)
    areas = _areas(ctx)
    with ctx.app.app_context():
        session = _session(ctx)
        try:
            user = _bench_user(ctx, session)

            def one(i: int) -> None:
                data = _payload(ctx, areas[i % len(areas)], run, i)
                try:
                    services.register_household(session, user, data)
                except LikelyDuplicates:
                    # The clerk looks at the candidates and confirms: both steps are counted.
                    session.rollback()
                    services.register_household(session, user, data, confirm_not_duplicate=True)
                session.commit()

            timings = time_calls(one, iterations, warmup=5)

            def bare(i: int) -> None:
                session.execute(
                    insert(Household).values(
                        ref=f"{ctx.country}-B{run:06d}{i:05d}",
                        country=ctx.country,
                        consent_given=True,
                    )
                )
                # Rolled back, not deleted later: deleting from a 1M-row table checks every
                # foreign key that points at it, which would cost more than the benchmark.
                session.rollback()

            base = time_calls(bare, iterations, warmup=5)
        finally:
            session.rollback()
            session.close()
    size = f"{ctx.engine.dialect.name},{_household_count(ctx)}"
    yield p95_figure(
        f"register.household_5_members.p95[{size}]",
        timings,
        base,
        50.0,
        "baseline: one bare household INSERT (rolled back)",
    )
