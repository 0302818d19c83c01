"""Deny-by-default access control: every endpoint names the roles that may use it.

A view is decorated with :func:`allow` (roles) or :func:`public`. A request to an endpoint with
neither is refused (403) by :func:`enforce`, which runs before every request, so forgetting a
declaration closes a door instead of opening it. ``docs/security.md`` holds the same matrix in
words, and ``tests/security/test_access_matrix.py`` checks one against the other.

JSON API requests (under ``/api/``) are authenticated by bearer token only: a session cookie
never authenticates them, so a page's cookie cannot be replayed against the API (no CSRF there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from flask_login import current_user

from sw_mis.auth.models import NATIONWIDE_ROLES, ROLES

F = TypeVar("F", bound=Callable[..., Any])

ALL_ROLES = frozenset(ROLES)
PUBLIC = "public"
#: Endpoints registered by extensions, whose views we cannot decorate.
PUBLIC_ENDPOINTS = frozenset({"static", "api-docs.openapi_json"})
API_PATH_PREFIX = "/api/"


def allow(*roles: str) -> Callable[[F], F]:
    """Let signed-in users with one of ``roles`` use the decorated view."""
    unknown = set(roles) - ALL_ROLES
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    def decorate(view: F) -> F:
        view.allowed_roles = frozenset(roles)  # type: ignore[attr-defined]
        return view

    return decorate


def public(view: F) -> F:
    """Let anyone, signed in or not, use the decorated view."""
    view.allowed_roles = PUBLIC  # type: ignore[attr-defined]
    return view


def allowed_roles(app: Flask, endpoint: str, method: str = "GET") -> frozenset[str] | str | None:
    """Return the roles declared for ``endpoint`` and ``method``, ``"public"``, or None."""
    if endpoint in PUBLIC_ENDPOINTS or endpoint.endswith(".static"):
        return PUBLIC
    view = app.view_functions.get(endpoint)
    if view is None:
        return None
    declared = getattr(view, "allowed_roles", None)
    view_class = getattr(view, "view_class", None)
    if declared is None and view_class is not None:
        # MethodView (flask-smorest): each HTTP method declares its own roles.
        name = "get" if method.upper() == "HEAD" else method.lower()
        handler = getattr(view_class, name, None)
        declared = getattr(handler, "allowed_roles", None)
        if declared is None:
            declared = getattr(view_class, "allowed_roles", None)
    return declared


def sees_everything(user: Any) -> bool:
    """Return True for roles that see households of every office."""
    return bool(getattr(user, "role", None) in NATIONWIDE_ROLES)


class AccessDenied(Exception):
    """The signed-in user's role may not use this endpoint."""


class LoginRequired(Exception):
    """The endpoint needs a signed-in user."""


def is_api_request() -> bool:
    """Return True when the current request is for the JSON API (bearer tokens only)."""
    return request.path.startswith(API_PATH_PREFIX)


def enforce() -> None:
    """Check the current request against the endpoint's declared roles (deny by default)."""
    endpoint = request.endpoint
    if endpoint is None:  # 404/405: let Flask answer
        return
    declared = allowed_roles(current_app, endpoint, request.method)
    if declared == PUBLIC:
        return
    # The API trusts only the bearer token loaded for this request, never the cookie session.
    user = g.get("api_user") if is_api_request() else current_user
    if user is None or not user.is_authenticated:
        raise LoginRequired()
    if declared is None or user.role not in declared:
        raise AccessDenied()
