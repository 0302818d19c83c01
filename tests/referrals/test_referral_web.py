"""Referral pages, the JSON API and the public verification page."""

from __future__ import annotations

import io
import re

import pytest
from factories import api_headers, login
from pypdf import PdfReader

from sw_mis.referrals import services
from tests.referrals.conftest import URDU_HEAD, contains_rtl, normalise, poor_household

_DATA_CSRF = re.compile(r'data-csrf="([^"]+)"')


def page_csrf(client, path: str) -> str:
    """Return the session's CSRF token from the page at ``path`` (base.html carries it)."""
    match = _DATA_CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def pdf_text(data: bytes) -> str:
    return normalise(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages))


@pytest.fixture
def api(ref_app, client, clerk, officer, supervisor):
    """Bearer headers per role."""
    return {
        "clerk": api_headers(client, clerk),
        "officer": api_headers(client, officer),
        "supervisor": api_headers(client, supervisor),
    }


def test_api_issue_read_print_and_move(client, api, household):
    response = client.post(
        "/api/v1/referrals",
        json={"household": household.ref, "scheme": "pk-test-cash", "counter": "2"},
        headers=api["clerk"],
    )
    assert response.status_code == 201, response.json
    body = response.json
    ref = body["ref"]
    assert body["status"] == "issued" and body["household"] == household.ref
    assert body["scheme"] == "pk-test-cash" and body["outcome"] == "eligible"
    assert body["history"][0]["to"] == "issued"

    got = client.get(f"/api/v1/referrals/{ref}", headers=api["officer"])
    assert got.status_code == 200 and got.json["ref"] == ref

    slip = client.get(f"/api/v1/referrals/{ref}/slip.pdf?size=A4", headers=api["clerk"])
    assert slip.status_code == 200 and slip.mimetype == "application/pdf"
    text = pdf_text(slip.data)
    assert ref in text and household.ref in text and "Test cash transfer" in text
    assert contains_rtl(text, " ".join(URDU_HEAD))

    refused = client.patch(
        f"/api/v1/referrals/{ref}", json={"status": "enrolled"}, headers=api["officer"]
    )
    assert refused.status_code == 409, refused.json
    assert "cannot become enrolled" in refused.json["errors"]["status"][0]

    for status in ("received", "enrolled"):
        moved = client.patch(
            f"/api/v1/referrals/{ref}", json={"status": status}, headers=api["officer"]
        )
        assert moved.status_code == 200 and moved.json["status"] == status
    assert (
        client.get(f"/api/v1/referrals/{ref}", headers=api["clerk"]).json["history"][-1]["to"]
        == "enrolled"
    )
    # An enrolled referral's slip can no longer be printed.
    assert client.get(f"/api/v1/referrals/{ref}/slip.pdf", headers=api["clerk"]).status_code == 409


def test_api_refusals(client, api, clerk, household, db_session):
    missing = client.post(
        "/api/v1/referrals", json={"household": household.ref}, headers=api["clerk"]
    )
    assert missing.status_code == 422 and "scheme" in missing.json["errors"]
    rich = poor_household(db_session, clerk, pmt_score=90)
    not_eligible = client.post(
        "/api/v1/referrals",
        json={"household": rich.ref, "scheme": "pk-test-cash"},
        headers=api["clerk"],
    )
    assert not_eligible.status_code == 422
    assert "not eligible" in not_eligible.json["errors"]["scheme"][0]
    unknown = client.post(
        "/api/v1/referrals",
        json={"household": "PK-000000000", "scheme": "pk-test-cash"},
        headers=api["clerk"],
    )
    assert unknown.status_code == 404
    assert client.get("/api/v1/referrals/R000000000", headers=api["clerk"]).status_code == 404
    # Programme officers move referrals on but do not issue them.
    forbidden = client.post(
        "/api/v1/referrals",
        json={"household": household.ref, "scheme": "pk-test-cash"},
        headers=api["officer"],
    )
    assert forbidden.status_code == 403
    bad_status = client.patch(
        "/api/v1/referrals/R000000000", json={"status": "lost"}, headers=api["officer"]
    )
    assert bad_status.status_code == 422 and "status" in bad_status.json["errors"]


def test_api_needs_a_token(ref_app, client):
    assert client.get("/api/v1/referrals/R000000000").status_code == 401


def test_counter_flow_issue_print_receive_enrol(ref_app, client, clerk, officer, household):
    login(client, clerk)
    token = page_csrf(client, "/v/x")
    response = client.post(
        "/referrals/issue",
        data={
            "csrf_token": token,
            "household": household.ref,
            "scheme": "pk-test-cash",
            "language": "ur",
            "counter": "3",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    detail_url = response.headers["Location"]
    ref = detail_url.rstrip("/").rsplit("/", 1)[-1]
    page = client.get(detail_url).get_data(as_text=True)
    assert ref in page and "Print slip" in page
    slip = client.get(f"/referrals/{ref}/slip.pdf")
    assert slip.status_code == 200 and slip.mimetype == "application/pdf"
    assert ref in pdf_text(slip.data)
    reprint = client.get(f"/referrals/{ref}/slip.pdf")
    assert "نقل" in pdf_text(reprint.data)
    household_pdf = client.get(f"/households/{household.ref}/referral-slips.pdf")
    assert household_pdf.status_code == 200 and ref in pdf_text(household_pdf.data)
    batch = client.get("/referrals/batch.pdf")
    assert batch.status_code == 200 and ref in pdf_text(batch.data)
    # A clerk cannot move it on.
    assert (
        client.post(
            f"/referrals/{ref}/status", data={"csrf_token": token, "status": "received"}
        ).status_code
        == 403
    )
    client.post("/logout", data={"csrf_token": token})

    login(client, officer)
    token = page_csrf(client, f"/referrals/{ref}")
    moved = client.post(
        f"/referrals/{ref}/status", data={"csrf_token": token, "status": "received"}
    )
    assert moved.status_code == 302
    wrong = client.post(
        f"/referrals/{ref}/status", data={"csrf_token": token, "status": "cancelled", "reason": "x"}
    )
    assert wrong.status_code == 403
    invalid = client.post(
        f"/referrals/{ref}/status", data={"csrf_token": token, "status": "issued"}
    )
    assert invalid.status_code == 409 and "cannot become issued" in invalid.get_data(as_text=True)
    client.post(f"/referrals/{ref}/status", data={"csrf_token": token, "status": "enrolled"})
    page = client.get(f"/referrals/{ref}").get_data(as_text=True)
    assert "Enrolled" in page
    assert any(e.scheme_id == "pk-test-cash" for e in household.enrolments)


def test_issue_without_csrf_is_refused(ref_app, client, clerk, household):
    login(client, clerk)
    response = client.post(
        "/referrals/issue", data={"household": household.ref, "scheme": "pk-test-cash"}
    )
    assert response.status_code == 400


def test_refused_issue_explains(ref_app, client, clerk, db_session):
    rich = poor_household(db_session, clerk, pmt_score=90)
    login(client, clerk)
    token = page_csrf(client, "/v/x")
    response = client.post(
        "/referrals/issue",
        data={
            "csrf_token": token,
            "household": rich.ref,
            "scheme": "pk-test-cash",
            "language": "en",
        },
    )
    assert response.status_code == 422
    assert "not eligible" in response.get_data(as_text=True)


def test_lists_for_supervisors_only(
    ref_app, client, db_session, clerk, supervisor, household, book, settings
):
    referral = services.issue_referral(
        db_session, clerk, household, "pk-test-cash", book=book, settings=settings
    )
    login(client, clerk)
    assert client.get("/referrals/").status_code == 403
    client.post("/logout", data={"csrf_token": page_csrf(client, "/v/x")})
    login(client, supervisor)
    page = client.get("/referrals/?status=issued").get_data(as_text=True)
    assert referral.ref in page
    assert referral.ref not in client.get("/referrals/?status=enrolled").get_data(as_text=True)
    assert client.get("/referrals/?issued_on=not-a-date").status_code == 422


def test_verification_page(
    ref_app, client, db_session, clerk, supervisor, household, book, settings
):
    referral = services.issue_referral(
        db_session, clerk, household, "pk-test-cash", book=book, settings=settings
    )
    token = services.slip_token(referral, settings)
    page = client.get(f"/v/{token}").get_data(as_text=True)
    assert "Genuine" in page and referral.ref in page and "Issued" in page
    assert "Test cash transfer" in page
    # Nothing personal beyond the slip: initials only, no names, no household reference.
    assert URDU_HEAD[0] not in page and household.ref not in page and "م. ع. خ." in page
    services.transition_referral(db_session, supervisor, referral, "cancelled", "duplicate")
    page = client.get(f"/v/{token}").get_data(as_text=True)
    assert "Cancelled" in page and "can no longer be used" in page
    forged = token.replace(referral.ref, "R123456786")
    page = client.get(f"/v/{forged}").get_data(as_text=True)
    assert "Not genuine" in page and referral.ref not in page


def test_issue_from_the_eligibility_page_form(ref_app, client, clerk, household):
    """The eligibility page posts ?ref=HOUSEHOLD with only the scheme (and an as-of date)."""
    login(client, clerk)
    token = page_csrf(client, "/v/x")
    response = client.post(
        f"/referrals/issue?ref={household.ref}",
        data={"csrf_token": token, "scheme": "pk-test-pension", "as_of": "2026-01-01"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Test old-age pension" in page and "عمران" in page
