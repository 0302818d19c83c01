"""Stored screening results: registry-wide outcomes and the determinations clerks act on."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from sw_mis.db import Base


class ScreeningRun(Base):
    """One registry-wide screening (``sw-mis screen-all``), batch by batch, resumable."""

    __tablename__ = "screening_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    rules_version: Mapped[str] = mapped_column(String(64))
    scheme_ids: Mapped[list[str]] = mapped_column(JSON)
    #: Per country, the schemes each character of a result's ``codes`` stands for, in order:
    #: ``{"PK": {"household": [ids…], "member": [ids…]}}``. None for a run made before
    #: results were stored this way (its outcomes are gone; run ``screen-all`` again).
    layout: Mapped[dict[str, dict[str, list[str]]] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="running")
    #: Highest household id whose outcomes are committed; a rerun resumes after it.
    last_household_id: Mapped[int] = mapped_column(Integer, default=0)
    households_done: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ScreeningResult(Base):
    """Every outcome of one household in one run, one character per scheme.

    ``codes`` follows the run's ``layout`` for the household's country: its household-level
    schemes, then its member-level ones. Each character is a set of flags: ``0`` not eligible,
    ``1`` eligible, ``2`` undetermined, ``3`` (member-level schemes only) some members eligible
    and others undetermined. ``members`` lists, for member-level schemes, every member with at
    least one such outcome: ``"<member id>:<number>"`` separated by spaces, where the number's
    base-3 digits, least significant first, are the member's outcome per member-level scheme
    (``0``, ``1`` eligible, ``2`` undetermined; past 39 schemes a second number follows a
    ``.``). A household that is not eligible for anything and undetermined for nothing has no
    row: the pairs stored are exactly the eligible and
    undetermined (scheme, household[, member]) pairs; ``sql.stored_outcomes`` spells them out.

    One narrow row per household rather than a row per pair: a million households make a
    million rows, not the twenty-five million that made writing the run's dominant cost.
    """

    __tablename__ = "screening_results"

    # No foreign key to screening_runs: only screen_all writes these rows, for the run it has
    # just created, and checking each of a million rows cost 8 % of a run (migration 0005).
    # Whoever deletes a run deletes its results (retention.services.purge).
    run_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    household_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    country: Mapped[str] = mapped_column(String(2))
    codes: Mapped[str] = mapped_column(String(200))
    members: Mapped[str | None] = mapped_column(Text)


class ScreeningCount(Base):
    """How many households of one area a run found eligible or undetermined for a scheme.

    Written once at the end of a run (areas as the households stood then), so dashboards read a
    few thousand rows instead of decoding a million results.
    """

    __tablename__ = "screening_counts"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("screening_runs.id", ondelete="CASCADE"))
    scheme_id: Mapped[str] = mapped_column(String(80))
    admin1: Mapped[str | None] = mapped_column(String(32))
    admin2: Mapped[str | None] = mapped_column(String(32))
    admin3: Mapped[str | None] = mapped_column(String(32))
    eligible: Mapped[int] = mapped_column(Integer)
    undetermined: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_screening_counts_run_scheme", "run_id", "scheme_id"),)


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
