"""Households, their members, programme enrolments and the history of every change."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sw_mis.db import Base
from sw_mis.registry.fields import HOUSEHOLD_FIELDS, MEMBER_FIELDS, FactField

HOUSEHOLD_STATUSES = ("active", "merged", "consent_withdrawn")
MEMBER_STATUSES = ("present", "left", "deceased")
ENROLMENT_STATUSES = ("active", "suspended", "exited")


def _fact_column(fact: FactField) -> Any:
    """Map a declared fact to a nullable column: NULL is 'not known'."""
    if fact.kind == "bool":
        return mapped_column(Boolean, nullable=True)
    if fact.kind == "int":
        return mapped_column(Integer, nullable=True)
    if fact.kind == "decimal":
        return mapped_column(Numeric(14, 2), nullable=True)
    if fact.kind == "date":
        return mapped_column(Date, nullable=True)
    return mapped_column(String(fact.max_length if fact.kind == "text" else 32), nullable=True)


def _facts_mixin(name: str, facts: tuple[FactField, ...]) -> type:
    """Build a mixin with one mapped column per declared fact."""
    attrs: dict[str, Any] = {"__annotations__": {f.name: Mapped[Any] for f in facts}}
    attrs.update({f.name: _fact_column(f) for f in facts})
    return type(name, (), attrs)


_HouseholdFacts = _facts_mixin("_HouseholdFacts", HOUSEHOLD_FIELDS)
_MemberFacts = _facts_mixin("_MemberFacts", MEMBER_FIELDS)


class Household(_HouseholdFacts, Base):  # type: ignore[valid-type,misc]
    __tablename__ = "households"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(16), unique=True)
    country: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(20), default="active")
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    consent_given: Mapped[bool] = mapped_column(Boolean)
    consent_date: Mapped[dt.date | None] = mapped_column(Date)
    consent_withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    registered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    registered_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    version: Mapped[int] = mapped_column(Integer, default=1)

    members: Mapped[list[Member]] = relationship(
        back_populates="household", order_by="Member.position", cascade="all, delete-orphan"
    )
    enrolments: Mapped[list[Enrolment]] = relationship(
        back_populates="household", cascade="all, delete-orphan", order_by="Enrolment.id"
    )

    # Optimistic locking: an UPDATE carries "WHERE version = :old"; a stale edit fails loudly.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - read once by the mapper
    __table_args__ = (
        Index("ix_households_admin", "country", "admin1", "admin2"),
        Index("ix_households_office_id", "office_id"),
        # Deleting a household checks that no merged household points at it.
        Index("ix_households_merged_into_id", "merged_into_id"),
    )

    @property
    def current_members(self) -> list[Member]:
        return [m for m in self.members if m.status == "present"]

    @property
    def head(self) -> Member | None:
        return next((m for m in self.current_members if m.relationship_to_head == "head"), None)


class Member(_MemberFacts, Base):  # type: ignore[valid-type,misc]
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    given_name: Mapped[str] = mapped_column(String(80))
    family_name: Mapped[str] = mapped_column(String(80), default="")
    #: Phonetic keys of the names (Double Metaphone-like), indexed for spelling-tolerant search.
    # Byte-order collation on PostgreSQL: search scans key prefixes as ranges, which only
    # holds when the index sorts like Python compares strings (SQLite always does).
    name_key: Mapped[str] = mapped_column(
        String(200).with_variant(String(200, collation="C"), "postgresql"), default=""
    )
    status: Mapped[str] = mapped_column(String(20), default="present")
    status_date: Mapped[dt.date | None] = mapped_column(Date)
    status_reason: Mapped[str | None] = mapped_column(String(200))

    household: Mapped[Household] = relationship(back_populates="members")

    __table_args__ = (
        Index("ix_members_household_id", "household_id"),
        Index("ix_members_national_id", "national_id"),
        # Name search scans key prefixes in key order; the duplicate check looks up a key
        # within a window of (estimated) birth dates.
        Index("ix_members_name_key", "name_key", "date_of_birth_estimated", "date_of_birth"),
        # The duplicate check's other net: anyone born on the same day (any spelling).
        Index("ix_members_date_of_birth", "date_of_birth"),
    )

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


class Enrolment(Base):
    """A household's (or member's) recorded enrolment in an existing programme."""

    __tablename__ = "enrolments"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    scheme_id: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default="active")
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)

    household: Mapped[Household] = relationship(back_populates="enrolments")

    __table_args__ = (Index("ix_enrolments_household_scheme", "household_id", "scheme_id"),)


class ChangeRecord(Base):
    """One change to a household or member: who, when, what, old and new values."""

    __tablename__ = "change_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    action: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text)
    #: ``{"field": [old, new], ...}``; values serialised as JSON scalars.
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_change_records_household_id", "household_id", "at"),)
