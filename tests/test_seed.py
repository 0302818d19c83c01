"""The synthetic registry: deterministic, realistic, valid by the registry's own rules."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from sw_mis.db import make_engine
from sw_mis.migrate import upgrade
from sw_mis.registry.models import Enrolment, Household, Member
from sw_mis.registry.names import name_key
from sw_mis.registry.refs import is_valid_ref
from sw_mis.registry.seed import seed_households
from tests.conftest import BACKENDS, _create_postgres_database, _drop_postgres_database
from tests.test_cli import seed_country

COUNTRY = seed_country()


def _fresh(backend: str, path: Path) -> tuple[Engine, object]:
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        return engine, engine.dispose
    url, admin = _create_postgres_database()
    engine = make_engine(url)
    upgrade(engine)

    def cleanup() -> None:
        engine.dispose()
        _drop_postgres_database(url, admin)

    return engine, cleanup


@pytest.fixture(params=BACKENDS)
def seeded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh database of each backend with 400 seeded households (COPY on PostgreSQL)."""
    engine, cleanup = _fresh(request.param, tmp_path / "seed.db")
    seed_households(engine, 400, seed=3, country=COUNTRY, chunk_size=150)
    yield engine
    cleanup()  # type: ignore[operator]


def _rows(engine: Engine) -> tuple[list[tuple], list[tuple]]:
    with engine.connect() as conn:
        households = conn.execute(select(Household.__table__).order_by(Household.id)).all()
        members = conn.execute(
            select(Member.__table__).order_by(Member.household_id, Member.position)
        ).all()
    # Member ids come from the database; everything else must match.
    return [tuple(h) for h in households], [tuple(m)[1:] for m in members]


def test_same_seed_same_registry(seeded: Engine, tmp_path: Path) -> None:
    other = make_engine(f"sqlite:///{tmp_path / 'again.db'}")
    upgrade(other)
    # Another chunk size: the data must depend on the seed only.
    seed_households(other, 400, seed=3, country=COUNTRY, chunk_size=400)
    first_h, first_m = _rows(seeded)
    again_h, again_m = _rows(other)
    other.dispose()
    assert [h[:3] for h in first_h] == [h[:3] for h in again_h]
    assert [m[:6] for m in first_m] == [m[:6] for m in again_m]


def test_households_look_like_a_registry(seeded: Engine) -> None:
    with seeded.connect() as conn:
        households = conn.execute(select(Household.__table__)).all()
        members = conn.execute(select(Member.__table__)).all()
        enrolments = conn.execute(select(Enrolment.__table__)).all()
    assert len(households) == 400
    assert all(is_valid_ref(h.ref) and h.ref.startswith(f"{COUNTRY}-") for h in households)
    assert len({h.ref for h in households}) == 400
    sizes = Counter(m.household_id for m in members)
    assert set(sizes.values()) <= set(range(1, 11))
    assert 4.3 <= len(members) / len(households) <= 6.0
    heads = Counter(m.household_id for m in members if m.relationship_to_head == "head")
    assert set(heads.values()) == {1} and len(heads) == 400
    unknown_pmt = sum(h.pmt_score is None for h in households) / len(households)
    assert 0.04 <= unknown_pmt <= 0.18  # about one in ten: unknown is an answer
    ids = [m.national_id for m in members if m.national_id]
    assert len(ids) == len(set(ids))
    assert all(m.name_key == name_key(m.given_name, m.family_name) for m in members)
    assert all(h.admin1 and h.admin1.startswith(COUNTRY) for h in households)
    assert enrolments, "some households are enrolled in the country's main programme"
    # Children are never married; blank facts stay blank (NULL), not "no".
    assert all(
        m.marital_status == "never_married"
        for m in members
        if m.date_of_birth and m.date_of_birth.year >= 2013
    )
    assert any(m.school_enrolled is None for m in members)
    assert any(m.wg_seeing is None for m in members)
