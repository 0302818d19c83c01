"""Playwright harness: the real app served from a thread, driven by the system's Chromium.

Plain Playwright sync API (no pytest-playwright): one browser per session, a fresh context (no
cookies) per test, and one live server per database backend with its own freshly migrated
database and the demo users. Chromium is Debian's ``/usr/bin/chromium``: never a downloaded
browser. Without it (or without Playwright) the tests skip on a laptop and fail in CI.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from sw_mis import create_app
from sw_mis.db import make_engine
from sw_mis.demo import prepare_demo
from tests.conftest import (
    BACKENDS,
    _create_postgres_database,
    _drop_postgres_database,
    service_missing,
)

CHROMIUM = os.environ.get("SW_MIS_CHROMIUM", "/usr/bin/chromium")
# The last flags stop Chromium phoning home: the closed network here refuses those connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_HOUSEHOLDS = 30


@dataclass(frozen=True)
class LiveServer:
    """A running sw-mis: its URL, its app and the demo logins by role."""

    url: str
    app: Any
    logins: dict[str, tuple[str, str]]

    def login_for(self, role: str) -> tuple[str, str]:
        return self.logins[role]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder as a browser test (``-m 'not browser'`` skips them)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def _buffered(app: Any) -> Any:
    """Serve whole bodies: files are closed before sending, even if Chromium drops the request.

    Otherwise werkzeug leaves a static file open when the browser cancels a download, and the
    ResourceWarning surfaces (as an error, warnings being errors) in whichever test runs next.
    """

    def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    return wsgi


@pytest.fixture(scope="session", params=BACKENDS)
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """Serve the app on 127.0.0.1 (a free port) over a fresh database with demo data."""
    cleanup = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('live') / 'live.db'}"
    else:
        url, admin = _create_postgres_database()
        cleanup = (url, admin)
    engine = make_engine(url)
    app = create_app(
        {
            "SW_MIS_ENV": "testing",
            "SW_MIS_DATABASE_URL": url,
            "SW_MIS_SECRET_KEY": "browser-test-" + "x" * 32,
            "SW_MIS_REFERRAL_KEYS": "k1:browser-test-signing-key",
        },
        engine=engine,
    )
    # Many sign-ins in a few seconds from one address: the login rate limit would refuse them.
    app.config["RATELIMIT_ENABLED"] = False
    logins = {role: (user, password) for user, password, role in prepare_demo(app, DEMO_HOUSEHOLDS)}
    server = make_server("127.0.0.1", 0, _buffered(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app, logins=logins)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        engine.dispose()
        if cleanup:
            _drop_postgres_database(*cleanup)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """A headless Chromium browser, shared by the session."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        service_missing(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("Playwright is not installed (pip install -e '.[test]')")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception as exc:  # noqa: BLE001 - any launch failure means "no usable browser"
        playwright.stop()
        service_missing(f"Chromium at {CHROMIUM} does not start: {exc}")
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def page(chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    """A page in a fresh browser context (no cookies), with the live server as base URL."""
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(10_000)
    # Only the live server: a link to a scheme's legal source must never leave the machine.
    context.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith(live_server.url) else route.abort()
        ),
    )
    page = context.new_page()
    yield page
    context.close()


def login(page: Any, live_server: LiveServer, role: str) -> None:
    """Sign in through the login form as the demo user of ``role``."""
    username, password = live_server.login_for(role)
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
