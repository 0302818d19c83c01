"""Fixtures for the import tests: a data manager of the Punjab office and a run helper."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from factories import default_areas, make_office, make_user
from sqlalchemy.orm import Session

from sw_mis.imports import services
from sw_mis.imports.mapping import Mapping
from sw_mis.imports.models import ImportBatch


@pytest.fixture
def manager(db_session: Session) -> Any:
    default_areas(db_session)
    office = make_office(db_session, "PB-01", ["PK-PB"], name="Punjab office")
    return make_user(db_session, "data_manager", office)


@pytest.fixture
def new_batch(db_session: Session, manager: Any) -> Callable[..., ImportBatch]:
    def make(path: Path, mapping: Mapping | None = None, source: str = "survey") -> ImportBatch:
        mapping = mapping or Mapping(defaults={"country": "PK"})
        return services.create_batch(
            db_session, manager, path, path.name, mapping=mapping, source=source
        )

    return make
