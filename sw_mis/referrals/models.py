"""Referrals: a household (or member) sent to a programme office, and every status change."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sw_mis.auth.models import Office, User
from sw_mis.db import Base
from sw_mis.eligibility.models import Determination
from sw_mis.registry.models import Household, Member
from sw_mis.registry.refs import damm_digit

STATUSES = ("issued", "received", "enrolled", "rejected", "expired", "cancelled")
OPEN_STATUSES = ("issued", "received")


def new_ref() -> str:
    """Return a fresh referral reference: 'R', eight random digits and a Damm check digit."""
    # Random rather than sequential: a reference reveals nothing about volumes.
    body = f"{secrets.randbelow(10**8):08d}"
    return f"R{body}{damm_digit(body)}"


def valid_ref(ref: str) -> bool:
    """Return True if ``ref`` is well formed and its check digit is right."""
    ref = ref.strip().upper()
    return len(ref) == 10 and ref[0] == "R" and ref[1:].isdigit() and damm_digit(ref[1:]) == "0"


class Referral(Base):
    """A referral of a household (or one member) to a scheme's programme office."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(16), unique=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    scheme_id: Mapped[str] = mapped_column(String(80))
    determination_id: Mapped[int] = mapped_column(ForeignKey("determinations.id"))
    #: issued → received → enrolled | rejected; expired; cancelled (see ``services.TRANSITIONS``)
    status: Mapped[str] = mapped_column(String(16), default="issued")
    status_reason: Mapped[str | None] = mapped_column(Text)
    issued_on: Mapped[dt.date] = mapped_column(Date)
    expires_on: Mapped[dt.date] = mapped_column(Date)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The supervisor who approved referring an undetermined household.
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    counter: Mapped[str] = mapped_column(String(40), default="")
    language: Mapped[str] = mapped_column(String(8), default="en")
    copies_printed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    household: Mapped[Household] = relationship()
    member: Mapped[Member | None] = relationship()
    determination: Mapped[Determination] = relationship()
    issued_by: Mapped[User | None] = relationship(foreign_keys=[issued_by_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    office: Mapped[Office | None] = relationship()
    history: Mapped[list[ReferralStatusChange]] = relationship(
        back_populates="referral",
        cascade="all, delete-orphan",
        order_by="ReferralStatusChange.id",
    )

    __table_args__ = (
        Index("ix_referrals_household_id", "household_id", "scheme_id"),
        Index("ix_referrals_status", "status", "scheme_id", "office_id"),
        Index("ix_referrals_issued_on", "issued_on"),
    )


class ReferralStatusChange(Base):
    """One step of a referral's life: who moved it, when, from which status to which, why."""

    __tablename__ = "referral_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: None when the system moved it (expiry).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)

    referral: Mapped[Referral] = relationship(back_populates="history")
    user: Mapped[User | None] = relationship()

    __table_args__ = (Index("ix_referral_status_changes_referral_id", "referral_id"),)
