"""CSRF: every state-changing HTML form refuses a request without its token."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sw_mis.audit.models import AuditEvent
from sw_mis.auth.models import ROLES
from sw_mis.auth.testing import login, make_test_user

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def _filled(rule) -> str:  # type: ignore[no-untyped-def]
    values = {
        name: 1 if type(conv).__name__ == "IntegerConverter" else "X"
        for name, conv in rule._converters.items()
    }
    return rule.build(values, append_unknown=False)[1]


def test_every_html_form_refuses_a_post_without_its_token(app: Flask, db_session: Session) -> None:
    routes = [
        (method, rule)
        for rule in app.url_map.iter_rules()
        for method in sorted((rule.methods or set()) & STATE_CHANGING)
        if not rule.rule.startswith("/api/")
    ]
    assert any(rule.rule == "/login" for _, rule in routes)
    # Signed in as each role in turn, so a form is refused for the missing token, not the role.
    clients = {}
    for role in ROLES:
        make_test_user(db_session, role, username=f"csrf-{role}")
        clients[role] = app.test_client()
        assert login(clients[role], f"csrf-{role}").status_code == 302
    before = db_session.scalar(select(func.count()).select_from(AuditEvent))
    failures = []
    for method, rule in routes:
        url = _filled(rule)
        for who, client in [("anonymous", app.test_client()), *clients.items()]:
            response = client.open(url, method=method, data={"username": "x", "password": "y"})
            if response.status_code != 400 or "form has expired" not in response.get_data(
                as_text=True
            ):
                failures.append(f"{method} {url} as {who}: {response.status_code}")
    assert not failures, "accepted without a CSRF token:\n" + "\n".join(failures)
    assert db_session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_a_valid_token_is_accepted(app: Flask, db_session: Session) -> None:
    make_test_user(db_session, "auditor", username="csrf-ok")
    assert login(app.test_client(), "csrf-ok").status_code == 302  # login() sends the token
