"""Eligibility benchmarks: one household at the counter, and the whole registry in SQL.

* ``screen-household``: one seeded household (≈5 members) against every scheme of its country,
  with full explanations (``to_dict()``), median in-process. Baseline: the same screening
  without building the explanation, so the ratio is the price of the "why".
* ``screen-all``: every scheme over every seeded household with set-based SQL, outcomes stored.
  Baseline: the per-household Python path (snapshot + counter engine) measured on a sample in
  the same run and scaled to the registry, so the ratio says how much the SQL back-end saves.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Iterator

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from benchmarks import Context, Figure, benchmark, time_calls
from sw_mis.eligibility.engine import screen_household
from sw_mis.eligibility.models import ScreeningCount, ScreeningResult, ScreeningRun
from sw_mis.eligibility.service import household_snapshot
from sw_mis.eligibility.sql import screen_all
from sw_mis.registry.models import Household

AS_OF = dt.date(2025, 6, 1)
SAMPLE = 200


def _snapshots(ctx: Context, limit: int) -> list[dict]:
    with Session(bind=ctx.engine) as session:
        households = session.scalars(
            select(Household)
            .where(Household.country == ctx.country, Household.status == "active")
            .options(selectinload(Household.members), selectinload(Household.enrolments))
            .order_by(Household.id)
            .limit(limit)
        ).all()
        return [household_snapshot(h) for h in households]


@benchmark("screen-household")
def screen_one(ctx: Context) -> Iterator[Figure]:
    """Median time to screen one household against every scheme, with explanations."""
    book = ctx.app.extensions["sw_mis.rulebook"]
    snaps = _snapshots(ctx, SAMPLE)
    if not snaps:
        raise SystemExit(f"no {ctx.country} households: run the seed benchmark first")

    def explained(i: int) -> None:
        for result in screen_household(book, snaps[i % len(snaps)], AS_OF):
            result.to_dict()

    def outcomes_only(i: int) -> None:
        screen_household(book, snaps[i % len(snaps)], AS_OF)

    timings = time_calls(explained, ctx.iterations)
    baseline = time_calls(outcomes_only, ctx.iterations)
    schemes = len(book.schemes_for(ctx.country))
    yield Figure(
        name="screen_household_explained_median",
        value=round(statistics.median(timings), 3),
        unit="ms",
        target=1.0,
        baseline=round(statistics.median(baseline), 3),
        notes=f"{schemes} schemes; baseline: outcomes without the explanation dicts",
    )


@benchmark("screen-all")
def screen_everything(ctx: Context) -> Iterator[Figure]:
    """Registry-wide screening of every scheme, outcomes stored, against the Python path."""
    book = ctx.app.extensions["sw_mis.rulebook"]
    with ctx.engine.connect() as conn:
        households = (
            conn.scalar(
                select(func.count()).select_from(Household).where(Household.country == ctx.country)
            )
            or 0
        )
    if not households:
        raise SystemExit(f"no {ctx.country} households: run the seed benchmark first")

    snaps = _snapshots(ctx, SAMPLE)
    start = time.perf_counter()
    for snap in snaps:
        screen_household(book, snap, AS_OF)
    per_household = (time.perf_counter() - start) / len(snaps)
    python_estimate = per_household * households

    workers = 2
    with ctx.engine.connect() as conn:
        summary = screen_all(
            conn, book, AS_OF, country=ctx.country, commit=conn.commit, workers=workers
        )
        # Leave no benchmark run behind for the dashboards to pick up.
        conn.execute(delete(ScreeningResult).where(ScreeningResult.run_id == summary.run_id))
        conn.execute(delete(ScreeningCount).where(ScreeningCount.run_id == summary.run_id))
        conn.execute(delete(ScreeningRun).where(ScreeningRun.id == summary.run_id))
        conn.commit()
    target = 20.0 if ctx.engine.dialect.name == "postgresql" else 60.0
    # The targets are for 1,000,000 households: scale them to the registry measured.
    scaled_target = round(target * households / 1_000_000, 3)
    yield Figure(
        name=f"screen_all_{ctx.engine.dialect.name}_seconds",
        value=round(summary.seconds, 3),
        unit="s",
        target=scaled_target,
        baseline=round(python_estimate, 3),
        notes=(
            f"{households} households x {len(summary.schemes)} schemes, {workers} worker(s), "
            f"{summary.rows} households stored ({summary.eligible} eligible and "
            f"{summary.undetermined} undetermined scheme-household pairs); baseline: the "
            f"per-household Python path on {len(snaps)} households, scaled; "
            f"target {target:g} s per 1M households, scaled"
        ),
    )
