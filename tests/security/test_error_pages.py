"""A wrong method on an HTML page is a plain 405 page, with the Allow header, not a crash."""

from __future__ import annotations

from tests.factories import login, make_user


def test_get_on_a_post_only_page_is_405_with_allow(app, client, db_session):
    login(client, make_user(db_session, "clerk"))
    response = client.get("/search")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert "Traceback" not in response.text
