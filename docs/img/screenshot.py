"""Regenerate the README screenshot: ``python docs/img/screenshot.py`` (needs /usr/bin/chromium).

Serves a fresh demo (temporary SQLite database) from a thread, signs in as the demo clerk and
photographs a household's eligibility page when the screens exist, else the households list.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

from flask import url_for
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from sw_mis import create_app
from sw_mis.demo import prepare_demo

OUT = Path(__file__).with_name("screenshot.png")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip


def main() -> int:
    """Take the screenshot and write it to docs/img/screenshot.png."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "SW_MIS_ENV": "testing",
                "SW_MIS_DATABASE_URL": f"sqlite:///{folder}/demo.db",
                "SW_MIS_SECRET_KEY": "screenshot-" + "x" * 32,
                "SW_MIS_REFERRAL_KEYS": "k1:screenshot-key",
            }
        )
        logins = {role: (u, p) for u, p, role in prepare_demo(app, households=300)}
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(base_url=base, viewport={"width": 1280, "height": 860})
            # Only our own server: a link to a scheme's legal source must not leave the machine.
            page.route(
                "**/*",
                lambda route: (
                    route.continue_() if route.request.url.startswith(base) else route.abort()
                ),
            )
            page.goto("/login")
            username, password = logins["clerk"]
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state()
            if "registry.index" in app.view_functions:
                with app.test_request_context():
                    page.goto(url_for("registry.index"))
                first = page.locator("main table a[href*='/households/']").first
                if first.count():
                    first.click()
                    page.wait_for_load_state()
                    screening = page.locator("main a[href*='eligibility']").first
                    if screening.count():
                        screening.click()
                        page.wait_for_load_state()
            page.screenshot(path=str(OUT), full_page=False)
            print(f"{page.url} -> {OUT}")
            browser.close()
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
