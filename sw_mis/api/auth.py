"""Bearer tokens: POST /api/v1/auth/token signs in, DELETE revokes."""

from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields

from sw_mis.api.fields import UtcDateTime
from sw_mis.audit.services import log_security, record_event
from sw_mis.auth.access import ALL_ROLES, allow, public
from sw_mis.auth.services import authenticate, issue_token, revoke_token
from sw_mis.db import get_session
from sw_mis.web.setup import limiter

# No url_prefix here: init_api registers every API blueprint with url_prefix=/api/v1, which
# replaces (not extends) a blueprint's own prefix, so the full path is spelled on the route.
blp = Blueprint("api_auth", __name__, description="Bearer tokens")


class CredentialsSchema(Schema):
    username = fields.String(required=True, validate=lambda s: 0 < len(s) <= 80)
    password = fields.String(required=True, load_only=True, validate=lambda s: 0 < len(s) <= 200)


class TokenSchema(Schema):
    token = fields.String(required=True)
    expires_at = UtcDateTime(required=True)


@blp.route("/auth/token")
class TokenResource(MethodView):
    @public
    @limiter.limit(lambda: current_app.config["SW_MIS"].login_rate_limit)
    @blp.arguments(CredentialsSchema)
    @blp.response(201, TokenSchema)
    @blp.alt_response(401, description="Wrong username or password")
    def post(self, credentials: dict[str, str]) -> dict[str, object]:
        """Exchange a username and password for a bearer token."""
        db = get_session()
        user = authenticate(db, credentials["username"], credentials["password"])
        if user is None:
            log_security("api.login.failure", username=credentials["username"])
            abort(401, message="Wrong username or password.")
        token, row = issue_token(db, user)
        log_security("api.login.success", username=user.username)
        record_event(db, "api.token.issue", user=user)
        return {"token": token, "expires_at": row.expires_at}

    @allow(*ALL_ROLES)
    @blp.response(204)
    def delete(self) -> None:
        """Revoke the bearer token this request carries."""
        row = g.get("api_token")
        if row is None:
            abort(401, message="Send the bearer token to revoke.")
        revoke_token(get_session(), row)
        record_event(get_session(), "api.token.revoke")
