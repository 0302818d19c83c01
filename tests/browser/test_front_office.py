"""The front-office flow in a real browser: register → duplicate warning → edit → search."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import LiveServer, login

PEOPLE = (
    ("Gulzar", "Yousafzai", "female", "1986-03-14", "head"),
    ("Amina", "Yousafzai", "female", "2012-07-02", "child"),
    ("Bilal", "Yousafzai", "male", "2016-11-20", "child"),
)


def _choose_area(page: Any) -> None:
    """Pick the clerk's province (the first offered) and one of its districts."""
    admin1 = page.locator("select[name=admin1]")
    value = admin1.locator("option:not([value=''])").first.get_attribute("value")
    admin1.select_option(value)
    district = page.locator(f"select[name=admin2] option[value^='{value}-']").first
    page.locator("select[name=admin2]").select_option(district.get_attribute("value"))


def _fill_household(page: Any) -> None:
    page.goto("/households/new")
    _choose_area(page)
    while page.locator("[data-member-row]:visible").count() < len(PEOPLE):
        page.get_by_role("button", name="Add another member").click()
    for i, (given, family, sex, born, relationship) in enumerate(PEOPLE):
        page.locator(f"[name='members-{i}-given_name']").fill(given)
        page.locator(f"[name='members-{i}-family_name']").fill(family)
        page.locator(f"[name='members-{i}-sex']").select_option(sex)
        page.locator(f"[name='members-{i}-date_of_birth']").fill(born)
        page.locator(f"[name='members-{i}-relationship_to_head']").select_option(relationship)
    page.locator("[name=consent_given]").check()


def test_register_duplicate_edit_search(page: Any, live_server: LiveServer) -> None:
    login(page, live_server, "clerk")

    # Register a household of three: a successful save shows the household page.
    _fill_household(page)
    page.get_by_role("button", name="Save household").click()
    page.wait_for_load_state()
    assert page.get_by_text("Gulzar").first.is_visible()
    household_url = page.url
    ref = household_url.rstrip("/").split("/")[-1]

    # The same family again: the clerk is warned before anything is saved.
    _fill_household(page)
    page.get_by_role("button", name="Save household").click()
    page.wait_for_load_state()
    warning = page.locator("#duplicates")
    assert warning.is_visible()
    assert ref in warning.inner_text()
    # What was typed is still there.
    assert page.locator("[name='members-0-given_name']").input_value() == "Gulzar"

    # Edit the first household: the change shows on its page.
    page.goto(household_url)
    page.locator(f"main a[href$='/households/{ref}/edit']").first.click()
    page.locator("[name=locality]").fill("Mohalla Gulbahar")
    page.get_by_role("button", name="Save household").click()
    page.wait_for_load_state()
    assert page.get_by_text("Mohalla Gulbahar").first.is_visible()

    # Search with a spelling variant of the name finds it.
    page.get_by_role("link", name="Households").first.click()
    page.get_by_role("searchbox").or_(page.locator("[name=q]")).first.fill("Gulzar Yusufzai")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    assert page.locator(f"main a[href*='{ref}']").first.is_visible()
