"""The JSON API under /api/v1: bearer tokens, OpenAPI from marshmallow schemas, flat errors."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, jsonify, request
from flask_smorest import Api
from flask_smorest.arguments import ArgumentsMixin
from marshmallow import RAISE
from werkzeug.exceptions import HTTPException

from sw_mis.api.fields import ErrorSchema
from sw_mis.auth.services import user_for_token
from sw_mis.db import get_session

API_PREFIX = "/api/v1"


def flatten_errors(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested errors into ``{"members.0.date_of_birth": ["…"]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                path = prefix or "_schema"
            for p, msgs in flatten_errors(value, path).items():
                flat.setdefault(p, []).extend(msgs)
    elif isinstance(errors, list) and not any(isinstance(e, dict | list) for e in errors):
        # Messages: text, or lazy text (schema messages defined at import), made text here so
        # the body is plain JSON in the request's language.
        flat[prefix or "_schema"] = [str(e) for e in errors]
    elif isinstance(errors, list):
        for i, item in enumerate(errors):
            flat.update(flatten_errors(item, f"{prefix}.{i}" if prefix else str(i)))
    else:
        flat[prefix or "_schema"] = [str(errors)]
    return flat


class SwMisApi(Api):
    """flask-smorest with our error body and the ``Allow`` header kept on 405."""

    #: Documents the body of the default (and 422) error responses as what we really send.
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):  # type: ignore[override]
        data = getattr(error, "data", None) or {}
        messages = data.get("messages")
        if messages is not None:
            flat: dict[str, list[str]] = {}
            for location_errors in messages.values():  # json / query / headers
                flat.update(flatten_errors(location_errors))
            body: dict[str, Any] = {"errors": flat}
        else:
            body = {"errors": {"_request": [str(error.description or error.name)]}}
        response = jsonify(body)
        response.status_code = error.code or 500
        for key, value in error.get_headers():
            if key == "Allow":
                response.headers["Allow"] = value
        return response


api = SwMisApi()

# A misspelt query parameter (``?per_pge=50``) is refused with 422 like a misspelt body field,
# never silently ignored: webargs' default for the query string is EXCLUDE. Read per request.
ArgumentsMixin.ARGUMENTS_PARSER.DEFAULT_UNKNOWN_BY_LOCATION = {
    **ArgumentsMixin.ARGUMENTS_PARSER.DEFAULT_UNKNOWN_BY_LOCATION,
    "query": RAISE,
    "querystring": RAISE,
}

#: API blueprints, registered in this order.
API_BLUEPRINTS = (
    "sw_mis.api.auth:blp",
    "sw_mis.registry.api:blp",
    "sw_mis.eligibility.api:blp",
    "sw_mis.referrals.api:blp",
    "sw_mis.exports.api:blp",
)


def _load_bearer_user() -> None:
    """Authenticate an API request by its bearer token alone; a session cookie never counts."""
    if not request.path.startswith(API_PREFIX):
        return
    from sw_mis.web.setup import login_manager

    # Flask-Login reads ``g._login_user`` before looking at the session: pinning it here means
    # a browser's cookie can never authenticate (or change state through) the API.
    g._login_user = login_manager.anonymous_user()
    g._login_via_token = True
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return
    found = user_for_token(get_session(), token.strip())
    if found is not None:
        user, row = found
        g.api_user = user
        g.api_token = row
        g._login_user = user


def init_api(app: Flask) -> None:
    """Register the API on ``app``."""
    app.config.setdefault("OPENAPI_URL_PREFIX", API_PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api.init_app(
        app,
        spec_kwargs={
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    from sw_mis.web.setup import _import, csrf

    for path in API_BLUEPRINTS:
        blp = _import(path)
        csrf.exempt(blp)  # type: ignore[arg-type]  # bearer tokens, never cookies
        # Our prefix goes in front of the blueprint's own (flask-smorest would replace it).
        prefix = API_PREFIX + (getattr(blp, "url_prefix", None) or "")
        api.register_blueprint(blp, url_prefix=prefix)  # type: ignore[arg-type]
    # The spec endpoint (api-docs.openapi_json) is public: see access.PUBLIC_ENDPOINTS.
    app.before_request_funcs.setdefault(None, []).insert(0, _load_bearer_user)

    @app.after_request
    def _no_session_cookie_for_api(response):  # type: ignore[no-untyped-def]
        if g.get("_login_via_token"):
            # An API request must never mint or refresh a cookie session.
            from flask import session

            session.clear()
            session.modified = False
            response.headers.pop("Set-Cookie", None)
        return response
