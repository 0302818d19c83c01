"""Wire the web layer: extensions, blueprints, security headers, sessions and error pages."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_bootstrap import Bootstrap5
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from sw_mis.auth import access
from sw_mis.auth.models import User
from sw_mis.auth.services import end_web_session, user_for_web_session
from sw_mis.db import get_session
from sw_mis.web import i18n

log = logging.getLogger("sw_mis")

csrf = CSRFProtect()
login_manager = LoginManager()
# No storage_uri here: a constructor argument would override RATELIMIT_STORAGE_URI, which
# init_app sets from SW_MIS_REDIS_URL (shared counters across gunicorn workers and servers).
limiter = Limiter(key_func=get_remote_address, default_limits=[])


@limiter.request_filter
def _rate_limits_switched_off() -> bool:
    # Read per request (Flask-Limiter reads RATELIMIT_ENABLED only once, at init_app), so a
    # test suite can switch limits off for most tests and on for the one that checks them.
    return not current_app.config.get("RATELIMIT_ENABLED", True)


bootstrap = Bootstrap5()

#: Blueprints, in the order a household flows through the system.
BLUEPRINTS = (
    "sw_mis.auth.views:bp",
    "sw_mis.registry.views:bp",
    "sw_mis.eligibility.views:bp",
    "sw_mis.referrals.views:bp",
    "sw_mis.exports.views:bp",
    "sw_mis.imports.views:bp",
    "sw_mis.jobs.views:bp",
    "sw_mis.dashboards.views:bp",
    "sw_mis.audit.views:bp",
    "sw_mis.admin.views:bp",
    "sw_mis.web.health:bp",
    "sw_mis.web.i18n:bp",
)


def _is_api() -> bool:
    return request.path.startswith("/api/")


def _import(path: str) -> object:
    module_name, _, attr = path.partition(":")
    module = __import__(module_name, fromlist=[attr])
    return getattr(module, attr)


def init_app(app: Flask) -> None:
    """Register extensions, blueprints and request hooks on ``app``."""
    settings = app.config["SW_MIS"]
    csrf.init_app(app)
    bootstrap.init_app(app)
    i18n.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    # Flashed in the visitor's language: the lazy text is turned into a str when flashed.
    login_manager.login_message = _l("Please sign in to open this page.")
    login_manager.localize_callback = str
    login_manager.session_protection = "strong"
    app.config["RATELIMIT_STORAGE_URI"] = settings.redis_url or "memory://"
    limiter.init_app(app)

    @login_manager.user_loader
    def _load_user(user_id: str) -> User | None:
        # The cookie alone is not enough: its server-side session must still be live, so a
        # signed-out (or disabled) user's copied cookie signs no one in.
        sid = session.get("sid")
        if not sid or not user_id.isdigit():
            return None
        return user_for_web_session(get_session(), int(user_id), str(sid))

    for path in BLUEPRINTS:
        app.register_blueprint(_import(path))  # type: ignore[arg-type]

    from sw_mis.api import init_api

    init_api(app)

    from sw_mis.eligibility.service import init_rules

    init_rules(app)

    _register_hooks(app)
    _register_error_handlers(app)


#: Top navigation: (endpoint, label, access key); shown only where the user's role may go.
#: Labels are lazy: translated when a page renders, in that request's language.
NAV: tuple[tuple[str, Any, str], ...] = (
    ("registry.index", _l("Households"), "h"),
    ("registry.register", _l("Register"), "n"),
    ("referrals.index", _l("Referrals"), "r"),
    ("eligibility.schemes", _l("Schemes"), "s"),
    ("exports.index", _l("Lists"), "l"),
    ("imports.index", _l("Imports"), "i"),
    ("jobs.index", _l("Jobs"), "j"),
    ("dashboards.index", _l("Dashboards"), "d"),
    ("audit.index", _l("Audit"), "a"),
    ("admin.index", _l("Admin"), "m"),
)


def _nav_items() -> list[dict[str, Any]]:
    items = []
    for endpoint, label, key in NAV:
        if endpoint not in current_app.view_functions:
            continue
        roles = access.allowed_roles(current_app, endpoint)
        if roles == access.PUBLIC or (roles and current_user.role in roles):
            items.append({"endpoint": endpoint, "label": label, "key": key})
    return items


def _register_hooks(app: Flask) -> None:
    settings = app.config["SW_MIS"]
    app.jinja_env.globals["nav_items"] = _nav_items
    from sw_mis.auth.views import home_url

    app.jinja_env.globals["home_url"] = home_url
    app.jinja_env.globals["zip"] = zip
    app.jinja_env.globals["has_endpoint"] = lambda endpoint: endpoint in app.view_functions
    idle = dt.timedelta(minutes=settings.session_idle_minutes)
    absolute = dt.timedelta(hours=settings.session_absolute_hours)

    @app.before_request
    def _expire_idle_sessions() -> object | None:
        if _is_api() or not current_user.is_authenticated or getattr(g, "api_user", None):
            return None
        now = dt.datetime.now(dt.UTC).timestamp()
        last = session.get("last_seen", now)
        started = session.get("signed_in_at", now)
        if now - last > idle.total_seconds() or now - started > absolute.total_seconds():
            from sw_mis.audit.services import log_security

            log_security("session.expired", username=current_user.username)
            end_web_session(get_session(), session.get("sid"))
            logout_user()
            session.clear()
            return redirect(url_for("auth.login", next=request.path, expired=1))
        # The keep-alive ping must not count as the clerk being active… but it does keep the
        # session: that is its purpose (the timeout warning's "stay signed in" button).
        session["last_seen"] = now
        session.setdefault("signed_in_at", now)
        return None

    @app.before_request
    def _enforce_access() -> object | None:
        try:
            access.enforce()
        except access.LoginRequired:
            if _is_api():
                return jsonify(errors={"_auth": ["Sign in: send a valid bearer token."]}), 401
            return login_manager.unauthorized()
        except access.AccessDenied:
            from sw_mis.audit.services import log_security

            log_security(
                "access.denied",
                username=getattr(current_user, "username", ""),
                endpoint=request.endpoint,
                method=request.method,
            )
            if _is_api():
                return jsonify(errors={"_auth": ["Your role may not use this operation."]}), 403
            return render_template("errors/403.html"), 403
        return None

    @app.after_request
    def _security_headers(response):  # type: ignore[no-untyped-def]
        h = response.headers
        h.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
        )
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "same-origin")
        if not request.path.startswith("/static/"):
            # Pages carry personal data: never keep them in a shared PC's browser cache.
            h["Cache-Control"] = "no-store"
        if app.config["SW_MIS"].production:
            h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response


def _error_response(status: int, message: str, error_id: str | None = None) -> Response:
    """Return the error as JSON for the API and as a generic page (no traceback) otherwise."""
    if _is_api():
        body: dict[str, object] = {"errors": {"_request": [message]}}
        if error_id:
            body["error_id"] = error_id
        response = jsonify(body)
    else:
        response = make_response(
            render_template("errors/error.html", status=status, message=message, error_id=error_id)
        )
    response.status_code = status
    return response


def database_unavailable(exc: Exception) -> Response:
    """Answer 503 with ``Retry-After``: the database failed; nothing of this request was saved."""
    error_id = uuid.uuid4().hex[:12]
    log.error("database error id=%s: %s", error_id, type(exc).__name__)
    # The page itself must not need the database: loading the signed-in user would fail
    # again inside this handler (a bare 500). Render it as to a signed-out visitor.
    g._login_user = login_manager.anonymous_user()
    response = _error_response(
        503,
        _(
            "The database cannot be reached right now. Nothing was saved; please try "
            "again in a moment."
        ),
        error_id,
    )
    response.headers["Retry-After"] = "5"
    return response


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):  # type: ignore[no-untyped-def]
        return _error_response(
            400,
            _(
                "This form has expired or was not sent from sw-mis. Go back, reload the page "
                "and submit again."
            ),
        )

    app.register_error_handler(OperationalError, database_unavailable)
    app.register_error_handler(DBAPIError, database_unavailable)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):  # type: ignore[no-untyped-def]
        if _is_api():
            # flask-smorest's handler keeps abort(..., messages=...) as flat field errors.
            from sw_mis.api import api

            return api.handle_http_exception(exc)
        response = _error_response(exc.code or 500, exc.description or exc.name)
        if exc.code == 405 and exc.response is None:
            allow = exc.get_headers()
            for key, value in allow:
                if key == "Allow":
                    response.headers["Allow"] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        error_id = uuid.uuid4().hex[:12]
        log.exception("unhandled error id=%s", error_id)
        return _error_response(
            500,
            _(
                "Something went wrong on our side. Nothing was saved. Quote this error id "
                "to your supervisor."
            ),
            error_id,
        )
