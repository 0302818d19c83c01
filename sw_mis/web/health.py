"""Liveness and readiness probes for load balancers and monitoring."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from sw_mis.auth.access import public
from sw_mis.db import get_engine

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@public
def healthz():  # type: ignore[no-untyped-def]
    """Answer 200 while the process serves requests."""
    return jsonify(status="ok")


@bp.get("/readyz")
@public
def readyz():  # type: ignore[no-untyped-def]
    """Answer 200 when the database answers and the rule packs loaded, else 503."""
    problems: list[str] = []
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        problems.append("database unreachable")
    book = current_app.extensions.get("sw_mis.rulebook")
    if book is None or not book.packs:
        problems.append("no rule pack loaded")
    if problems:
        return jsonify(status="unavailable", problems=problems), 503
    return jsonify(status="ready", rule_packs=sorted(book.packs))
