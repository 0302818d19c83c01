"""The database going away for a few seconds: a clear 503, then recovery on its own.

The app reaches PostgreSQL through a TCP proxy started in this process on 127.0.0.1. Stopping
the proxy cuts every open connection (as a restart or failover of the server does) and refuses
new ones; starting it again brings the database back. Nothing acknowledged is lost, and nothing
refused is half-saved.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from sw_mis.auth import testing as auth_testing
from sw_mis.db import session_scope
from sw_mis.registry.models import Household
from tests.factories import default_areas, household_data, make_office, make_user
from tests.faults.conftest import make_pg_app

pytestmark = pytest.mark.slow


class TcpProxy:
    """Forward 127.0.0.1:<port> to a target address until stopped; restartable on one port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone may not.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxy(pg_url: str) -> Iterator[TcpProxy]:
    url = make_url(pg_url)
    p = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    p.start()
    yield p
    p.stop()


def _until(predicate, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_database_outage_gives_503_and_recovers(pg_url: str, proxy: TcpProxy) -> None:
    via_proxy = make_url(pg_url).set(port=proxy.port).render_as_string(hide_password=False)
    app, engine = make_pg_app(via_proxy, pool_size=5, max_overflow=5)
    app.config["WTF_CSRF_ENABLED"] = False
    with session_scope(app) as session:
        areas = default_areas(session)
        office = make_office(session, "PB-01", [areas["PK-PB"]])
        clerk = make_user(session, "clerk", office, username="outage-clerk")
        payload = household_data(session, clerk)
    for member in payload["members"]:
        member["date_of_birth"] = member["date_of_birth"].isoformat()

    api = app.test_client()
    headers = auth_testing.bearer(auth_testing.api_token(api, "outage-clerk"))
    web = app.test_client()
    auth_testing.login(web, "outage-clerk")
    assert web.get("/").status_code == 200

    saved = api.post("/api/v1/households", json=payload, headers=headers)
    assert saved.status_code == 201, saved.get_json()
    acknowledged = saved.get_json()["ref"]

    proxy.stop()
    try:
        answer = api.get(f"/api/v1/households/{acknowledged}", headers=headers)
        assert answer.status_code == 503
        assert answer.headers["Retry-After"]
        body = answer.get_json()
        assert body["error_id"] and "database" in body["errors"]["_request"][0]

        refused = api.post("/api/v1/households", json=payload, headers=headers)
        assert refused.status_code == 503

        page = web.get("/")
        assert page.status_code == 503
        assert page.headers["Retry-After"]
        html = page.get_data(as_text=True)
        assert "database" in html and "Traceback" not in html and "psycopg" not in html

        assert app.test_client().get("/readyz").status_code == 503
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        proxy.start()  # the database is back, on the same address

    # No restart, no intervention: the next requests find fresh connections by themselves.
    assert _until(lambda: api.get("/readyz").status_code == 200, 20)
    answer = api.get(f"/api/v1/households/{acknowledged}", headers=headers)
    assert answer.status_code == 200
    assert web.get("/").status_code == 200
    with session_scope(app) as session:
        # Exactly the acknowledged registration: the refused one left nothing behind.
        assert session.scalar(select(func.count()).select_from(Household)) == 1
        assert session.scalar(select(Household.ref)) == acknowledged
    engine.dispose()


def test_database_lost_at_commit_is_503_not_success(pg_url: str, proxy: TcpProxy) -> None:
    """The view succeeded but the commit cannot reach the database: the clerk hears 503."""
    via_proxy = make_url(pg_url).set(port=proxy.port).render_as_string(hide_password=False)
    app, engine = make_pg_app(via_proxy, pool_size=5, max_overflow=5)
    cut = threading.Event()

    # Registered after the app's own hooks, so it runs before the commit-at-the-edge hook.
    @app.after_request
    def _cut_before_commit(response):  # type: ignore[no-untyped-def]
        if cut.is_set():
            proxy.stop()
        return response

    with session_scope(app) as session:
        areas = default_areas(session)
        office = make_office(session, "PB-01", [areas["PK-PB"]])
        clerk = make_user(session, "clerk", office, username="commit-clerk")
        payload = household_data(session, clerk)
    for member in payload["members"]:
        member["date_of_birth"] = member["date_of_birth"].isoformat()
    api = app.test_client()
    headers = auth_testing.bearer(auth_testing.api_token(api, "commit-clerk"))

    cut.set()
    try:
        answer = api.post("/api/v1/households", json=payload, headers=headers)
    finally:
        cut.clear()
        proxy.start()
    assert answer.status_code == 503, answer.get_data(as_text=True)[:300]
    assert answer.headers["Retry-After"] and answer.headers["Content-Security-Policy"]
    assert answer.get_json()["error_id"]
    assert _until(lambda: api.get("/readyz").status_code == 200, 20)
    with session_scope(app) as session:
        assert session.scalar(select(func.count()).select_from(Household)) == 0
    engine.dispose()
