"""Each interface language in Chromium: switched from the page, screenshot kept, Urdu laid out RTL.

Screenshots go to ``artifacts/i18n/households-<lang>.png`` for a person to look at.
"""

from __future__ import annotations

from typing import Any

import pytest

from sw_mis.config import PROJECT_ROOT
from tests.browser.conftest import LiveServer, login

ARTIFACTS = PROJECT_ROOT / "artifacts" / "i18n"
#: The households heading in each language (what the catalogues say).
HEADINGS = {"en": "Households", "fr": "Ménages", "pt": "Agregados", "ur": "گھرانے"}


def _choose(page: Any, lang: str) -> None:
    # Choosing in the select submits the form (app.js); the page reloads in that language.
    with page.expect_navigation():
        page.select_option("#language-select", lang)
    page.wait_for_load_state()


@pytest.mark.parametrize("lang", ["en", "fr", "pt", "ur"])
def test_each_language_renders_and_urdu_reads_right_to_left(
    page: Any, live_server: LiveServer, lang: str
) -> None:
    login(page, live_server, "supervisor")
    try:
        page.goto("/")
        if lang != "en":
            _choose(page, lang)
        assert page.evaluate("document.documentElement.lang") == lang
        assert page.get_by_role("heading", name=HEADINGS[lang]).first.is_visible()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"households-{lang}.png"), full_page=True)

        direction = page.evaluate("document.dir")
        brand = page.locator(".navbar-brand").bounding_box()
        width = page.viewport_size["width"]
        if lang == "ur":
            assert direction == "rtl"
            # Bootstrap's RTL build mirrors the navbar: the brand sits on the right.
            assert brand["x"] > width / 2, f"brand at x={brand['x']} on a {width}px page"
            text_align = page.evaluate("getComputedStyle(document.body).textAlign")
            assert text_align in ("right", "start")
        else:
            assert direction == "ltr"
            assert brand["x"] < width / 2
    finally:
        # The demo users are shared by the session's browser tests: leave this one in English.
        page.goto("/")
        if page.evaluate("document.documentElement.lang") != "en":
            _choose(page, "en")
