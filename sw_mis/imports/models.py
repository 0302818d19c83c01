"""Import batches, their problems, saved column mappings and what each source key became."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from sw_mis.db import Base

BATCH_STATUSES = ("uploaded", "checking", "checked", "committing", "committed", "failed")


class ImportMapping(Base):
    """A named mapping from a survey's column names and codes to registry fields."""

    __tablename__ = "import_mappings"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class ImportBatch(Base):
    """One uploaded file: its checks (dry run) and, once confirmed, its commit."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    file_path: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    #: Where the household keys come from; a key is imported once per source.
    source: Mapped[str] = mapped_column(String(120))
    mapping_name: Mapped[str | None] = mapped_column(String(80))
    #: The mapping as it was when the batch was checked (a later edit does not change it).
    mapping_spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="uploaded")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    checked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    committed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    households_total: Mapped[int] = mapped_column(Integer, default=0)
    households_valid: Mapped[int] = mapped_column(Integer, default=0)
    households_invalid: Mapped[int] = mapped_column(Integer, default=0)
    households_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    households_skipped: Mapped[int] = mapped_column(Integer, default=0)
    households_imported: Mapped[int] = mapped_column(Integer, default=0)
    #: Reading notes, unmapped columns and other facts shown on the batch page.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ImportProblem(Base):
    """One thing wrong with a row: row number, column, value and the problem in words."""

    __tablename__ = "import_problems"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batches.id", ondelete="CASCADE"))
    #: ``check`` (dry run) or ``commit``
    phase: Mapped[str] = mapped_column(String(10))
    #: ``error`` (refused), ``duplicate`` (kept aside for review) or ``skipped``
    kind: Mapped[str] = mapped_column(String(16))
    household_key: Mapped[str] = mapped_column(String(120), default="")
    row_number: Mapped[int | None] = mapped_column(Integer)
    column: Mapped[str] = mapped_column(String(120), default="")
    value: Mapped[str] = mapped_column(Text, default="")
    problem: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_import_problems_batch", "batch_id", "phase", "row_number"),)


class ImportedHousehold(Base):
    """A household key of a source that is in the registry: re-imports skip it."""

    __tablename__ = "imported_households"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(120))
    household_key: Mapped[str] = mapped_column(String(120))
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("households.id", ondelete="SET NULL")
    )
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("import_batches.id", ondelete="SET NULL")
    )
    content_sha256: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (UniqueConstraint("source", "household_key"),)
