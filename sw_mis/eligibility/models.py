"""Stored screening results: registry-wide outcomes and the determinations clerks act on."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from sw_mis.db import Base


class ScreeningRun(Base):
    """One registry-wide screening (``sw-mis screen-all``), batch by batch, resumable."""

    __tablename__ = "screening_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    rules_version: Mapped[str] = mapped_column(String(64))
    scheme_ids: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="running")
    #: Highest household id whose outcomes are committed; a rerun resumes after it.
    last_household_id: Mapped[int] = mapped_column(Integer, default=0)
    households_done: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ScreeningOutcome(Base):
    """An eligible or undetermined (scheme, household[, member]) pair; absence = not eligible."""

    __tablename__ = "screening_outcomes"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("screening_runs.id", ondelete="CASCADE"))
    scheme_id: Mapped[str] = mapped_column(String(80))
    household_id: Mapped[int] = mapped_column(Integer)
    member_id: Mapped[int | None] = mapped_column(Integer)
    #: ``eligible`` or ``undetermined``
    outcome: Mapped[str] = mapped_column(String(16))

    __table_args__ = (
        Index("ix_screening_outcomes_run_scheme", "run_id", "scheme_id", "outcome"),
        Index("ix_screening_outcomes_household_id", "household_id"),
    )


class Determination(Base):
    """A screening a clerk acted on, frozen with everything needed to explain it later."""

    __tablename__ = "determinations"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    scheme_id: Mapped[str] = mapped_column(String(80))
    outcome: Mapped[str] = mapped_column(String(16))
    as_of: Mapped[dt.date] = mapped_column(Date)
    rules_version: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    input_snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    trace: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    missing: Mapped[list[str]] = mapped_column(JSON, default=list)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (Index("ix_determinations_household_id", "household_id", "scheme_id"),)
