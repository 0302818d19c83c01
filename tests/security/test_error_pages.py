"""Error pages and the request edge: 405 with Allow, and client addresses behind a proxy."""

from __future__ import annotations

from tests.factories import login, make_user


def test_get_on_a_post_only_page_is_405_with_allow(app, client, db_session):
    login(client, make_user(db_session, "clerk"))
    response = client.get("/search")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert "Traceback" not in response.text


def test_proxy_hops_make_the_forwarded_address_the_client():
    from flask import request

    from sw_mis import create_app

    app = create_app(
        {"SW_MIS_ENV": "testing", "SW_MIS_DATABASE_URL": "sqlite://", "SW_MIS_PROXY_HOPS": "1"}
    )
    seen = {}

    @app.get("/_addr")
    def _addr():  # type: ignore[no-untyped-def]
        seen["addr"] = request.remote_addr
        return ""

    _addr.allowed_roles = "public"  # type: ignore[attr-defined]
    app.test_client().get(
        "/_addr",
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert seen["addr"] == "203.0.113.9"
