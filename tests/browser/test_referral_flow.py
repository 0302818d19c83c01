"""The single window's promise in a real browser: screen → issue referral → print slip →
the programme office marks it received → enrolled, visible back on the household page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from sw_mis.auth.models import User
from sw_mis.db import session_scope
from sw_mis.registry.services import register_household
from tests.browser.conftest import LiveServer, login

SCHEME = "pk-kp-sehat-card-plus"


def _kp_household(live_server: LiveServer) -> str:
    """Register, as the demo clerk, a Peshawar family whose head holds a KP domicile."""
    app = live_server.app
    with app.app_context(), session_scope(app) as session:
        clerk = session.scalar(select(User).where(User.role == "clerk"))
        household = register_household(
            session,
            clerk,
            {
                "country": "PK",
                "consent_given": True,
                "admin1": "PK-KP",
                "admin2": "PK-KP-PES",
                "area_type": "urban",
                "locality": "Hashtnagri",
                "members": [
                    {
                        "given_name": "Shazia",
                        "family_name": "Afridi",
                        "sex": "female",
                        "date_of_birth": "1979-04-02",
                        "relationship_to_head": "head",
                        "marital_status": "widowed",
                        "domicile_province": "PK-KP",
                    },
                    {
                        "given_name": "Imran",
                        "family_name": "Afridi",
                        "sex": "male",
                        "date_of_birth": "2011-09-15",
                        "relationship_to_head": "child",
                    },
                ],
            },
            check_likely=False,
        )
        return household.ref


def test_screen_issue_print_receive_enrol(page: Any, live_server: LiveServer) -> None:
    ref = _kp_household(live_server)
    login(page, live_server, "clerk")

    page.goto(f"/households/{ref}/eligibility")
    card = page.locator(f"details[data-scheme='{SCHEME}']")
    assert card.get_attribute("data-outcome") == "eligible"
    card.locator("summary").click()
    card.get_by_role("button", name="Issue referral").click()
    page.wait_for_load_state()
    heading = page.locator("h1").inner_text()
    assert heading.startswith("Referral R")
    referral_url = page.url

    # The slip is a real PDF (its content is checked in tests/referrals).
    slip_href = page.get_by_role("link", name="Print slip (A5)").get_attribute("href")
    slip = page.request.get(slip_href)
    assert slip.status == 200
    assert slip.headers["content-type"] == "application/pdf"
    assert slip.body().startswith(b"%PDF")

    # The programme office receives the family, then enrols it.
    page.context.clear_cookies()
    login(page, live_server, "programme_officer")
    for status in ("received", "enrolled"):
        page.goto(referral_url)
        page.locator("select[name=status]").select_option(status)
        page.get_by_role("button", name="Save").click()
        page.wait_for_load_state()
        assert status in page.locator("h1 .badge").inner_text().lower()

    # Back at the counter, the household shows the programme among its enrolments.
    page.goto(f"/households/{ref}")
    enrolments = page.locator("section[aria-labelledby=enrolments-heading]").inner_text()
    assert SCHEME in enrolments or "Sehat Card Plus" in enrolments
    assert "active" in enrolments.lower()
