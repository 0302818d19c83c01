"""Import benchmarks: dry run and commit of a survey file of N households (one row per member).

The file is drawn by the registry's synthetic generator (other household ids than the seeded
registry, so other national IDs) and written as a Kobo-style CSV. Both figures go through the
import services the page, the CLI and the jobs use, as the jobs call them (the dry run keeps its
validation for the commit); the baseline is reading the file alone.
"""

from __future__ import annotations

import csv
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from benchmarks import Context, Figure, benchmark
from sw_mis.registry.seed import HOUSEHOLD_COLUMNS, MEMBER_COLUMNS, _Generator

TARGET_SECONDS = 120.0
HH_FIELDS = (
    "admin1",
    "admin2",
    "admin3",
    "locality",
    "address",
    "area_type",
    "pmt_score",
    "income_monthly",
    "dwelling_type",
    "has_electricity",
    "rooms",
)
M_FIELDS = (
    "given_name",
    "family_name",
    "sex",
    "date_of_birth",
    "date_of_birth_estimated",
    "relationship_to_head",
    "national_id",
    "marital_status",
    "school_enrolled",
    "employment_status",
)


def write_survey(ctx: Context, path: Path, count: int, first_id: int) -> int:
    """Write ``count`` households as one row per member; return the number of rows."""
    from benchmarks.registry import _areas

    gen = _Generator(ctx.country, seed=4242, areas=_areas(ctx), offices={})
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["hh_id", "consent", *HH_FIELDS, *(f"group_members/{f}" for f in M_FIELDS)])
        for hh_id in range(first_id, first_id + count):
            hh_row, members, _ = gen.household(hh_id)
            hh = dict(zip(HOUSEHOLD_COLUMNS, hh_row, strict=True))
            head = ["S" + str(hh_id), "yes", *(_cell(hh.get(f)) for f in HH_FIELDS)]
            for member in members:
                m = dict(zip(MEMBER_COLUMNS, member, strict=True))
                out.writerow([*head, *(_cell(m.get(f)) for f in M_FIELDS)])
                rows += 1
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _data_manager(ctx: Context, session: Any) -> Any:
    """Return a data manager whose office covers every province of the country."""
    from sw_mis.auth.models import Area, User
    from sw_mis.auth.services import create_office, create_user

    name = "bench-data-manager"
    user = session.scalar(select(User).where(User.username == name))
    if user is None:
        provinces = list(
            session.scalars(select(Area.code).where(Area.country == ctx.country, Area.level == 1))
        )
        office = create_office(
            session,
            code=f"BENCH-IMP-{ctx.country}",
            name="Import office",
            country=ctx.country,
            area_codes=provinces,
        )
        user = create_user(
            session,
            username=name,
            password=uuid.uuid4().hex,
            role="data_manager",
            office_code=office.code,
        )
        session.commit()
    return user


@benchmark("import")
def import_file(ctx: Context) -> Iterator[Figure]:
    """Seconds to dry-run and to import a file of N households (target ≤ 120 s each)."""
    from sw_mis.imports import services
    from sw_mis.imports.mapping import Mapping
    from sw_mis.imports.readers import read_table
    from sw_mis.registry.models import Household

    count = ctx.households
    with ctx.engine.connect() as conn:
        first_id = (conn.scalar(select(func.max(Household.id))) or 0) + 50_000_000
    with tempfile.TemporaryDirectory(prefix="sw-mis-import-bench-") as folder:
        path = Path(folder) / "survey.csv"
        rows = write_survey(ctx, path, count, first_id)
        size_mb = path.stat().st_size / 1e6
        limit = 1 << 31
        start = time.perf_counter()
        read_table(path, max_bytes=limit)
        baseline = time.perf_counter() - start
        factory = sessionmaker(bind=ctx.engine, expire_on_commit=False)
        mapping = Mapping(name=f"bench-{uuid.uuid4().hex[:6]}", defaults={"country": ctx.country})
        with ctx.app.app_context():
            session = factory()
            try:
                user = _data_manager(ctx, session)
                batch = services.create_batch(session, user, path, path.name, mapping=mapping)
                session.commit()
                start, cpu = time.perf_counter(), time.process_time()
                services.check_batch(
                    session, user, batch, max_bytes=limit, prepared_dir=Path(folder)
                )
                session.commit()
                dry, dry_cpu = time.perf_counter() - start, time.process_time() - cpu
                checked = (
                    batch.households_valid,
                    batch.households_invalid,
                    batch.households_duplicate,
                )
                start, cpu = time.perf_counter(), time.process_time()
                services.commit_batch(session, user, batch, commit=session.commit, max_bytes=limit)
                session.commit()
                wet, wet_cpu = time.perf_counter() - start, time.process_time() - cpu
                imported = batch.households_imported
            finally:
                session.rollback()
                session.close()
    size = f"{ctx.engine.dialect.name},{count}"
    notes = (
        f"{rows} member rows, {size_mb:.1f} MB CSV; valid/invalid/duplicates "
        f"{checked}; baseline: reading the file ({baseline:.1f} s)"
    )
    # This process's CPU seconds: on a shared machine, steadier than the elapsed time.
    yield Figure(
        name=f"import.dry_run.seconds[{size}]",
        value=round(dry, 1),
        unit="s",
        target=TARGET_SECONDS,
        baseline=round(baseline, 2),
        notes=f"{dry_cpu:.1f} s of CPU in this process; " + notes,
    )
    yield Figure(
        name=f"import.commit.seconds[{size}]",
        value=round(wet, 1),
        unit="s",
        target=TARGET_SECONDS,
        baseline=round(baseline, 2),
        notes=f"{imported} households imported, {wet_cpu:.1f} s of CPU in this process; " + notes,
    )
