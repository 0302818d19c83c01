"""Issuing referrals, their status chain, enrolment, expiry, printing and verification."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from factories import default_areas, make_office, make_user
from pypdf import PdfReader
from sqlalchemy import select

from sw_mis.audit.models import AuditEvent
from sw_mis.eligibility.models import Determination
from sw_mis.referrals import services, tokens
from sw_mis.referrals.models import Referral, valid_ref
from sw_mis.referrals.services import (
    ReferralConflict,
    ReferralForbidden,
    ReferralNotFound,
    ReferralRefused,
)
from tests.referrals.conftest import URDU_HEAD, contains_rtl, normalise, poor_household


def issue(db, user, household, scheme="pk-test-cash", *, book, settings, **kw):
    return services.issue_referral(db, user, household, scheme, book=book, settings=settings, **kw)


def test_issue_records_determination_referral_history_and_audit(
    db_session, clerk, household, book, settings
):
    referral = issue(db_session, clerk, household, book=book, settings=settings, counter="4")
    assert valid_ref(referral.ref)
    assert referral.status == "issued" and referral.member_id is None
    assert referral.issued_by_id == clerk.id and referral.office_id == clerk.office_id
    assert referral.expires_on - referral.issued_on == dt.timedelta(settings.referral_expiry_days)
    determination = db_session.get(Determination, referral.determination_id)
    assert determination.outcome == "eligible"
    assert determination.rules_version == book.version
    assert determination.parameters["cutoff"] == 32
    assert determination.input_snapshot["ref"] == household.ref
    assert determination.trace["reasons"] == [
        "Household registered in the national socio-economic registry",
        "PMT score below the cut-off",
        "Not the case: Owns a motor vehicle",
    ]
    assert [(h.from_status, h.to_status) for h in referral.history] == [(None, "issued")]
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.object_ref == referral.ref))
    assert event.action == "referral.issue" and event.details["scheme"] == "pk-test-cash"


def test_not_eligible_is_refused(db_session, clerk, book, settings):
    rich = poor_household(db_session, clerk, pmt_score=80)
    with pytest.raises(ReferralRefused, match="not eligible"):
        issue(db_session, clerk, rich, book=book, settings=settings)
    assert db_session.scalar(select(Referral.id)) is None


def test_undetermined_needs_a_supervisors_approval(db_session, clerk, supervisor, book, settings):
    unknown = poor_household(db_session, clerk, pmt_score=None)
    with pytest.raises(ReferralRefused, match="undetermined"):
        issue(db_session, clerk, unknown, book=book, settings=settings)
    # A clerk ticking the box is not an approval.
    with pytest.raises(ReferralRefused, match="supervisor"):
        issue(db_session, clerk, unknown, book=book, settings=settings, approve_undetermined=True)
    referral = issue(
        db_session, supervisor, unknown, book=book, settings=settings, approve_undetermined=True
    )
    assert referral.approved_by_id == supervisor.id
    assert referral.determination.outcome == "undetermined"
    assert referral.determination.missing == ["pmt_score"]


def test_member_scheme_refers_the_eligible_member(db_session, clerk, household, book, settings):
    head = household.head
    # Only the head is 60+ without a pension: he is picked when no member is named.
    referral = issue(db_session, clerk, household, "pk-test-pension", book=book, settings=settings)
    assert referral.member_id == head.id
    assert referral.determination.trace["reasons"] == [
        "Aged 60 or over",
        "Receives no other pension",
    ]
    spouse = next(m for m in household.members if m.given_name == "Amina")
    with pytest.raises(ReferralRefused, match="not eligible"):
        issue(
            db_session,
            clerk,
            household,
            "pk-test-pension",
            book=book,
            settings=settings,
            member_id=spouse.id,
        )


def test_member_must_belong_to_the_household(db_session, clerk, household, book, settings):
    other = poor_household(db_session, clerk)
    with pytest.raises(ReferralRefused) as info:
        issue(
            db_session,
            clerk,
            household,
            book=book,
            settings=settings,
            member_id=other.members[0].id,
        )
    assert info.value.field == "member"


def test_an_open_referral_is_not_issued_twice(db_session, clerk, household, book, settings):
    first = issue(db_session, clerk, household, book=book, settings=settings)
    with pytest.raises(ReferralConflict, match=first.ref):
        issue(db_session, clerk, household, book=book, settings=settings)


def test_wrong_country_scheme_and_roles(db_session, clerk, officer, household, book, settings):
    with pytest.raises(ReferralRefused):
        issue(db_session, clerk, household, "sv-nothing", book=book, settings=settings)
    with pytest.raises(ReferralForbidden):
        issue(db_session, officer, household, book=book, settings=settings)


def test_other_offices_do_not_see_the_household(db_session, clerk, household, book, settings):
    default_areas(db_session)
    sindh = make_office(db_session, "SD-01", ["PK-SD"])
    outsider = make_user(db_session, "clerk", sindh)
    with pytest.raises(ReferralNotFound):
        issue(db_session, outsider, household, book=book, settings=settings)
    referral = issue(db_session, clerk, household, book=book, settings=settings)
    with pytest.raises(ReferralNotFound):
        services.get_referral(db_session, outsider, referral.ref)
    assert services.get_referral(db_session, clerk, referral.ref.lower()) is referral


def test_full_chain_to_enrolment(db_session, clerk, officer, household, book, settings):
    referral = issue(db_session, clerk, household, book=book, settings=settings)
    services.transition_referral(db_session, officer, referral, "received")
    services.transition_referral(db_session, officer, referral, "enrolled")
    assert referral.status == "enrolled"
    assert [(h.from_status, h.to_status, h.user_id) for h in referral.history] == [
        (None, "issued", clerk.id),
        ("issued", "received", officer.id),
        ("received", "enrolled", officer.id),
    ]
    (enrolment,) = household.enrolments
    assert enrolment.scheme_id == "pk-test-cash" and enrolment.status == "active"
    assert enrolment.start_date == services.today()


def test_invalid_transitions_say_why(
    db_session, clerk, officer, supervisor, household, book, settings
):
    referral = issue(db_session, clerk, household, book=book, settings=settings)
    with pytest.raises(
        ReferralConflict,
        match="is issued: it cannot become enrolled; it can only become received or cancelled",
    ):
        services.transition_referral(db_session, officer, referral, "enrolled")
    with pytest.raises(ReferralConflict, match="cannot become issued"):
        services.transition_referral(db_session, supervisor, referral, "issued")
    with pytest.raises(ReferralForbidden):  # only the daily expiry job expires referrals
        services.transition_referral(db_session, supervisor, referral, "expired")
    services.transition_referral(db_session, officer, referral, "received")
    with pytest.raises(ReferralRefused, match="reason"):
        services.transition_referral(db_session, officer, referral, "rejected", "  ")
    services.transition_referral(db_session, officer, referral, "rejected", "Already enrolled")
    assert referral.status_reason == "Already enrolled"
    with pytest.raises(ReferralConflict, match="it is final"):
        services.transition_referral(db_session, supervisor, referral, "cancelled", "x")
    with pytest.raises(ReferralRefused, match="Unknown status"):
        services.transition_referral(db_session, supervisor, referral, "lost")


def test_roles_for_each_move(db_session, clerk, officer, supervisor, household, book, settings):
    referral = issue(db_session, clerk, household, book=book, settings=settings)
    with pytest.raises(ReferralForbidden):
        services.transition_referral(db_session, clerk, referral, "received")
    with pytest.raises(ReferralForbidden):
        services.transition_referral(db_session, officer, referral, "cancelled", "duplicate")
    assert services.allowed_transitions(referral, officer) == ["received"]
    assert services.allowed_transitions(referral, supervisor) == ["received", "cancelled"]
    services.transition_referral(db_session, supervisor, referral, "cancelled", "duplicate")
    assert referral.status == "cancelled"


def test_expiry(db_session, clerk, officer, household, book, settings, monkeypatch):
    referral = issue(db_session, clerk, household, book=book, settings=settings)
    later = referral.expires_on + dt.timedelta(days=1)
    assert services.expire_referrals(db_session, referral.expires_on) == 0
    monkeypatch.setattr(services, "today", lambda: later)
    assert services.effective_status(referral) == "expired"
    with pytest.raises(ReferralConflict, match="expired on"):
        services.transition_referral(db_session, officer, referral, "received")
    assert services.expire_referrals(db_session, later) == 1
    assert referral.status == "expired" and referral.history[-1].user_id is None
    # Once expired, a new referral for the same scheme may be issued.
    again = issue(db_session, clerk, household, book=book, settings=settings)
    assert again.ref != referral.ref


def test_print_counts_copies_and_marks_reprints(db_session, clerk, household, book, settings):
    referral = issue(db_session, clerk, household, book=book, settings=settings, language="ur")
    first = services.print_slips(db_session, clerk, [referral], book=book, settings=settings)
    second = services.print_slips(db_session, clerk, [referral], book=book, settings=settings)
    assert referral.copies_printed == 2
    text1 = normalise(PdfReader(io.BytesIO(first)).pages[0].extract_text())
    text2 = normalise(PdfReader(io.BytesIO(second)).pages[0].extract_text())
    assert referral.ref in text1 and household.ref in text1
    assert contains_rtl(text1, " ".join(URDU_HEAD))
    assert contains_rtl(text1, "ٹیسٹ نقد امداد")  # the scheme's Urdu name
    assert "نقل" not in text1 and "نقل" in text2  # "copy"


def test_cancelled_slips_cannot_be_printed(
    db_session, clerk, supervisor, household, book, settings
):
    referral = issue(db_session, clerk, household, book=book, settings=settings)
    services.transition_referral(db_session, supervisor, referral, "cancelled", "wrong scheme")
    with pytest.raises(ReferralConflict, match="cancelled"):
        services.print_slips(db_session, clerk, [referral], book=book, settings=settings)


def test_verification(db_session, clerk, supervisor, household, book, settings):
    referral = issue(db_session, clerk, household, book=book, settings=settings)
    token = services.slip_token(referral, settings)
    check = services.verify_slip(db_session, token, book, settings)
    assert check.genuine and check.status == "issued" and check.ref == referral.ref
    assert check.scheme_name == "Test cash transfer"
    assert check.head_initials == "م. ع. خ."
    services.transition_referral(db_session, supervisor, referral, "cancelled", "duplicate")
    check = services.verify_slip(db_session, token, book, settings)
    assert check.genuine and check.status == "cancelled"
    forged = token.replace(referral.ref, "R000000000")
    assert not services.verify_slip(db_session, forged, book, settings).genuine
    # A genuine signature for a reference that does not exist is not a genuine slip either.
    keys, kid = tokens.signing_keys(settings)
    unknown = tokens.make_token("R000000000", keys, kid)
    assert not services.verify_slip(db_session, unknown, book, settings).genuine


def test_lists(db_session, clerk, officer, supervisor, household, book, settings):
    a = issue(db_session, clerk, household, book=book, settings=settings)
    b = issue(db_session, clerk, household, "pk-test-pension", book=book, settings=settings)
    services.transition_referral(db_session, officer, b, "received")
    listed = db_session.scalars(services.referrals_query(db_session, supervisor, status="issued"))
    assert [r.ref for r in listed] == [a.ref]
    by_scheme = services.referrals_query(db_session, officer, scheme_id="pk-test-pension")
    assert [r.ref for r in db_session.scalars(by_scheme)] == [b.ref]
    assert services.status_counts(db_session, supervisor) == {"issued": 1, "received": 1}
    assert {r.ref for r in services.day_referrals(db_session, clerk, services.today())} == {
        a.ref,
        b.ref,
    }
    assert [r.ref for r in services.household_referrals(db_session, household)] == [b.ref, a.ref]


def test_reasons_from_groups():
    criteria = [
        {
            "label": "",
            "kind": "all",
            "outcome": True,
            "children": [
                {"label": "A", "kind": "when", "outcome": True},
                {"label": "B", "kind": "when", "outcome": None},
            ],
        },
        {"label": "Any of", "kind": "any", "outcome": True, "children": []},
        {"label": "Failed", "kind": "when", "outcome": False},
    ]
    assert services.reasons_from(criteria) == ["A", "Any of"]
