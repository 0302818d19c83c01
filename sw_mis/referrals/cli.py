"""The work behind `sw-mis referral`: issue as a named user and print the slip."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from sw_mis.auth.models import User
from sw_mis.referrals import services


def issue_and_print(
    app: Flask,
    session: Session,
    username: str,
    household_ref: str,
    scheme_id: str,
    *,
    member_id: int | None = None,
    language: str | None = None,
    size: str = "A5",
    counter: str = "",
) -> tuple[str, bytes]:
    """Issue a referral as ``username`` and return its reference and slip PDF."""
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if user is None:
        raise ValueError(f"no active user {username!r}")
    book = app.extensions["sw_mis.rulebook"]
    settings = app.config["SW_MIS"]
    try:
        household = services.find_household(session, user, household_ref)
        referral = services.issue_referral(
            session,
            user,
            household,
            scheme_id,
            book=book,
            settings=settings,
            member_id=member_id,
            language=language,
            counter=counter,
        )
        pdf = services.print_slips(
            session, user, [referral], book=book, settings=settings, page_size=size
        )
    except services.ReferralError as exc:
        raise ValueError(str(exc)) from exc
    return referral.ref, pdf
