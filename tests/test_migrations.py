"""Every migration upgrades and downgrades, and models agree with migrations, on both DBs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from sw_mis.db import make_engine
from sw_mis.migrate import alembic_config, downgrade, upgrade
from sw_mis.models import Base
from tests.conftest import BACKENDS, _create_postgres_database, _drop_postgres_database


@pytest.fixture(params=BACKENDS)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of each backend, just for this test."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'migrations.db'}")
        yield engine
        engine.dispose()
        return
    url, admin = _create_postgres_database()
    engine = make_engine(url)
    yield engine
    engine.dispose()
    _drop_postgres_database(url, admin)


def _revisions() -> list[str]:
    """Return the revision ids from the first to the head."""
    script = ScriptDirectory.from_config(alembic_config())
    heads = script.get_heads()
    assert len(heads) == 1, f"migrations must have one head, found {heads}"
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_every_revision_upgrades_and_downgrades(empty_engine: Engine) -> None:
    revisions = _revisions()
    for revision in revisions:
        upgrade(empty_engine, revision)
    assert _tables(empty_engine) == set(Base.metadata.tables)
    for previous in [*reversed(revisions[:-1]), "base"]:
        downgrade(empty_engine, previous)
    assert _tables(empty_engine) == set()
    # Up again: a downgrade that left something behind makes this fail.
    upgrade(empty_engine, "head")
    assert _tables(empty_engine) == set(Base.metadata.tables)


def test_models_and_migrations_agree(empty_engine: Engine) -> None:
    upgrade(empty_engine, "head")
    with empty_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    assert diffs == [], "models differ from migrations; run alembic autogenerate:\n" + "\n".join(
        map(str, diffs)
    )
