"""Counter screens: CSRF, register with errors re-rendered (422), duplicates, edit, search."""

from __future__ import annotations

import re

import pytest
from factories import (
    csrf_token,
    default_areas,
    login,
    make_household,
    make_office,
    make_user,
    member_data,
)
from sqlalchemy import func, select

from sw_mis.audit.models import AuditEvent
from sw_mis.registry.models import Household


@pytest.fixture
def clerk(db_session):
    return make_user(db_session, "clerk")


@pytest.fixture
def signed_in(client, clerk):
    response = login(client, clerk)
    assert response.status_code == 302
    return client


def form_data(client, path="/households/new", **extra):
    """Return a valid register form body with the page's CSRF token."""
    data = {
        "csrf_token": csrf_token(client, path),
        "admin1": "PK-PB",
        "admin2": "PK-PB-LHR",
        "admin3": "",
        "area_type": "urban",
        "locality": "Model Town",
        "consent_given": "y",
        "members-0-given_name": "Amina",
        "members-0-family_name": "Bibi",
        "members-0-sex": "female",
        "members-0-date_of_birth": "1980-05-17",
        "members-0-relationship_to_head": "head",
        "members-0-date_of_birth_estimated": "",
        "members-1-given_name": "Bilal",
        "members-1-family_name": "Khan",
        "members-1-sex": "male",
        "members-1-date_of_birth": "2012-01-02",
        "members-1-relationship_to_head": "child",
        "save": "Save household",
    }
    data.update(extra)
    return data


def count(db_session):
    return db_session.scalar(select(func.count(Household.id)))


def test_register_page_renders_with_sections_and_a_member_row(signed_in):
    response = signed_in.get("/households/new")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="members-0-given_name"' in html
    assert 'id="member-template"' in html and "members-__index__-given_name" in html
    assert "Not known" in html and "<script>" not in html.split("</nav>")[1].split("<template")[0]
    assert "Lahore" in html


def test_register_redirects_to_the_household_page(signed_in, db_session):
    response = signed_in.post("/households/new", data=form_data(signed_in))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    ref = response.headers["Location"].rsplit("/", 1)[-1]
    page = signed_in.get(f"/households/{ref}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Amina Bibi" in html and "Bilal Khan" in html
    assert "not known" in html and "History of changes" in html
    household = db_session.scalar(select(Household).where(Household.ref == ref))
    assert household.members[0].date_of_birth_estimated is None  # blank select: not known
    views = select(func.count(AuditEvent.id)).where(
        AuditEvent.action == "household.view", AuditEvent.object_ref == ref
    )
    assert db_session.scalar(views) == 1


def test_missing_csrf_token_is_refused(signed_in, db_session):
    data = form_data(signed_in)
    del data["csrf_token"]
    response = signed_in.post("/households/new", data=data)
    assert response.status_code == 400
    assert count(db_session) == 0


def test_errors_are_422_with_everything_typed_kept(signed_in, db_session):
    data = form_data(
        signed_in,
        **{
            "members-1-relationship_to_head": "head",
            "members-1-date_of_birth": "2999-01-01",
            "members-0-given_name": "<b>Amina</b>",
            "consent_given": "",
        },
    )
    data.pop("consent_given")
    response = signed_in.post("/households/new", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert count(db_session) == 0
    assert 'id="error-summary"' in html
    assert 'href="#members-1-date_of_birth"' in html
    assert "This date is in the future." in html
    assert "Consent to data processing is required" in html
    assert 'value="&lt;b&gt;Amina&lt;/b&gt;"' in html  # kept, and escaped
    assert 'value="Model Town"' in html


def test_impossible_date_is_422_next_to_the_field(signed_in, db_session):
    data = form_data(signed_in, **{"members-0-date_of_birth": "2023-02-30"})
    response = signed_in.post("/households/new", data=data)
    assert response.status_code == 422
    assert 'id="members-0-date_of_birth-err"' in response.get_data(as_text=True)


def test_add_member_without_javascript(signed_in, db_session):
    data = form_data(signed_in, add_member="Add another member")
    data.pop("save")
    response = signed_in.post("/households/new", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'name="members-2-given_name"' in html
    assert 'value="Bilal"' in html and count(db_session) == 0


def test_removed_and_blank_rows_are_dropped(signed_in, db_session):
    data = form_data(
        signed_in, **{"members-1-remove": "y", "members-5-given_name": "", "members-5-sex": ""}
    )
    response = signed_in.post("/households/new", data=data)
    assert response.status_code == 302
    household = db_session.scalar(select(Household))
    assert [m.given_name for m in household.members] == ["Amina"]


def test_html_in_names_is_escaped_on_the_household_page(signed_in, db_session, clerk):
    household = make_household(
        db_session, clerk, members=[member_data(given_name="<script>alert(1)</script>")]
    )
    html = signed_in.get(f"/households/{household.ref}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_likely_duplicate_is_shown_then_confirmed(signed_in, db_session, clerk):
    existing = make_household(
        db_session,
        clerk,
        members=[
            member_data(given_name="Muhammad", family_name="Khan", date_of_birth="1970-03-01")
        ],
    )
    data = form_data(
        signed_in,
        **{
            "members-0-given_name": "Mohammad",
            "members-0-family_name": "Kahn",
            "members-0-date_of_birth": "1970-03-01",
        },
    )
    response = signed_in.post("/households/new", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and existing.ref in html
    assert "These are different people" in html
    data["csrf_token"] = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    data["confirm_not_duplicate"] = "y"
    assert signed_in.post("/households/new", data=data).status_code == 302
    assert count(db_session) == 2


def test_edit_saves_and_a_stale_version_is_refused(signed_in, db_session, clerk):
    household = make_household(db_session, clerk)
    page = signed_in.get(f"/households/{household.ref}/edit").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    amina, bilal = household.members
    data = {
        "csrf_token": token,
        "version": "1",
        "locality": "Gulberg",
        "area_type": "urban",
        "members-0-id": str(amina.id),
        "members-0-given_name": "Amina",
        "members-0-family_name": "Bibi",
        "members-0-relationship_to_head": "head",
        "members-0-date_of_birth": "1980-05-17",
        "members-0-sex": "female",
        "members-0-marital_status": "widowed",
        "members-1-id": str(bilal.id),
        "members-1-given_name": "Bilal",
        "members-1-family_name": "Khan",
        "members-1-relationship_to_head": "child",
        "members-1-date_of_birth": "2010-01-02",
        "members-1-sex": "male",
        "members-1-marital_status": "never_married",
        "save": "Save household",
    }
    response = signed_in.post(f"/households/{household.ref}/edit", data=data)
    assert response.status_code == 302
    db_session.refresh(household)
    assert household.locality == "Gulberg" and household.version == 2
    page = signed_in.get(f"/households/{household.ref}").get_data(as_text=True)
    assert "Model Town → Gulberg" in page
    data["locality"] = "Johar Town"  # still version 1: someone else saved in between
    response = signed_in.post(f"/households/{household.ref}/edit", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 409 and "changed by someone else" in html
    assert 'value="Johar Town"' in html  # nothing typed is lost


def test_another_offices_household_is_404(signed_in, db_session):
    default_areas(db_session)
    theirs = make_household(
        db_session, make_user(db_session, "clerk", make_office(db_session, "SD-01", ["PK-SD"]))
    )
    assert signed_in.get(f"/households/{theirs.ref}").status_code == 404
    assert signed_in.get(f"/households/{theirs.ref}/edit").status_code == 404
    assert signed_in.get("/households/PK-000000000").status_code == 404


def test_search_posts_the_term_and_finds_spelling_variants(signed_in, db_session, clerk):
    household = make_household(
        db_session, clerk, members=[member_data(given_name="Muhammad", family_name="Khan")]
    )
    token = csrf_token(signed_in, "/")
    response = signed_in.post("/search", data={"csrf_token": token, "q": "Mohammad Khan"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and household.ref in html
    response = signed_in.post("/search", data={"csrf_token": token, "q": household.ref})
    assert response.status_code == 302 and response.headers["Location"].endswith(household.ref)
    assert signed_in.post("/search", data={"q": "Khan"}).status_code == 400  # no CSRF token


def test_list_pages(signed_in, db_session, clerk):
    for i in range(3):
        make_household(db_session, clerk, members=[member_data(given_name=f"P{i}")])
    html = signed_in.get("/").get_data(as_text=True)
    assert "3 households" in html


def test_life_event_forms(signed_in, db_session, clerk):
    household = make_household(db_session, clerk)
    path = f"/households/{household.ref}/birth"
    token = csrf_token(signed_in, path)
    response = signed_in.post(
        path,
        data={
            "csrf_token": token,
            "version": "1",
            "given_name": "Zara",
            "date_of_birth": "2999-01-01",
        },
    )
    assert response.status_code == 422 and "in the future" in response.get_data(as_text=True)
    response = signed_in.post(
        path,
        data={
            "csrf_token": token,
            "version": "1",
            "given_name": "Zara",
            "date_of_birth": "2025-01-01",
        },
    )
    assert response.status_code == 302
    db_session.refresh(household)
    assert [m.given_name for m in household.current_members][-1] == "Zara"
    path = f"/households/{household.ref}/leave"
    token = csrf_token(signed_in, path)
    response = signed_in.post(
        path,
        data={"csrf_token": token, "version": "1", "member_id": str(household.members[1].id)},
    )
    assert response.status_code == 409  # version 1 is stale after the birth


def test_roles(client, db_session):
    officer = make_user(db_session, "programme_officer")
    login(client, officer)
    assert client.get("/").status_code == 200
    assert client.get("/households/new").status_code == 403
    clerk = make_user(db_session, "clerk")
    household = make_household(db_session, clerk)
    assert client.get(f"/households/{household.ref}/merge").status_code == 403


def test_merge_screen_for_data_managers(client, db_session, clerk):
    keep = make_household(db_session, clerk)
    other = make_household(db_session, clerk, members=[member_data(given_name="Noor")])
    manager = make_user(db_session, "data_manager", clerk.office)
    login(client, manager)
    path = f"/households/{keep.ref}/merge"
    token = csrf_token(client, path)
    data = {
        "csrf_token": token,
        "version": "1",
        "other_ref": other.ref,
        "reason": "Twice",
        "confirm": "y",
    }
    response = client.post(path, data=data)
    assert response.status_code == 302
    db_session.refresh(other)
    assert other.status == "merged" and other.merged_into_id == keep.id
    html = client.get(f"/households/{other.ref}").get_data(as_text=True)
    assert "was merged into" in html and keep.ref in html


def test_move_screen(signed_in, db_session, clerk):
    household = make_household(db_session, clerk)
    path = f"/households/{household.ref}/move"
    token = csrf_token(signed_in, path)
    data = {
        "csrf_token": token,
        "version": "1",
        "admin1": "PK-PB",
        "admin2": "PK-PB-LHR",
        "admin3": "PK-PB-LHR-1",
        "locality": "Gulberg",
    }
    assert signed_in.post(path, data=data).status_code == 302
    db_session.refresh(household)
    assert household.admin3 == "PK-PB-LHR-1"
