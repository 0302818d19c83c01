"""Security headers on every answer; generic error pages with an error id and no traceback."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from sqlalchemy.engine import Engine

from sw_mis import create_app
from sw_mis.auth.access import public

TEST_SETTINGS = {
    "SW_MIS_ENV": "testing",
    "SW_MIS_SECRET_KEY": "test-secret-key-" + "y" * 32,
    "SW_MIS_REFERRAL_KEYS": "k1:test-referral-signing-key",
}


@pytest.mark.parametrize("path", ["/login", "/healthz", "/api/v1/openapi.json", "/no-such-page"])
def test_security_headers_on_pages_and_api(app: Flask, path: str) -> None:
    response = app.test_client().get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"


def test_static_files_may_be_cached_but_are_still_nosniff(app: Flask) -> None:
    response = app.test_client().get("/static/css/app.css")
    response.close()
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_load_no_asset_from_another_site(app: Flask) -> None:
    html = app.test_client().get("/login").get_data(as_text=True)
    assert "http://" not in html and "https://" not in html and "//cdn" not in html


@pytest.fixture
def failing_app(engine: Engine, database_url: str) -> Flask:
    """A fresh app with a test-only route that fails."""
    app = create_app({**TEST_SETTINGS, "SW_MIS_DATABASE_URL": database_url}, engine=engine)

    @app.get("/test-only/boom")
    @public
    def boom():  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals: password=hunter2 at /srv/sw_mis/x.py line 3")

    @app.get("/api/v1/test-only/boom")
    @public
    def api_boom():  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals")

    return app


def test_an_unexpected_error_shows_a_generic_page_with_an_error_id(
    failing_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="sw_mis"):
        response = failing_app.test_client().get("/test-only/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Traceback" not in html and "secret internals" not in html and "hunter2" not in html
    assert "Error id" in html
    error_id = html.split("<code>")[1].split("</code>")[0]
    assert len(error_id) == 12
    # The traceback is in the server log, under the same id.
    (record,) = [r for r in caplog.records if error_id in r.getMessage()]
    assert record.exc_info is not None
    assert response.headers["Cache-Control"] == "no-store"


def test_an_unexpected_api_error_answers_json_with_an_error_id(failing_app: Flask) -> None:
    response = failing_app.test_client().get("/api/v1/test-only/boom")
    assert response.status_code == 500
    assert response.json["error_id"] and "secret" not in response.get_data(as_text=True)


def test_not_found_is_a_plain_page(app: Flask) -> None:
    response = app.test_client().get("/no-such-page")
    assert response.status_code == 404
    assert "Traceback" not in response.get_data(as_text=True)
