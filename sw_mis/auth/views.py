"""Sign in and out, and keep a working clerk's session alive."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from sw_mis.audit.services import log_security, record_event
from sw_mis.auth.access import ALL_ROLES, allow, public
from sw_mis.auth.forms import LoginForm
from sw_mis.auth.services import authenticate, end_web_session, start_web_session
from sw_mis.db import get_session
from sw_mis.web.setup import limiter

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect would let a phishing link borrow our login page.
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target  # browsers read "/\host" as "//host"
        and not urlsplit(target).netloc
    ):
        return target
    return home_url()


def home_url() -> str:
    """Return the first screen the signed-in user's role may use (the household list first)."""
    from sw_mis.web.setup import _nav_items

    items = _nav_items() if current_user.is_authenticated else []
    return url_for(items[0]["endpoint"]) if items else url_for("auth.login")


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(lambda: current_app.config["SW_MIS"].login_rate_limit, methods=["POST"])
def login():  # type: ignore[no-untyped-def]
    """Show the sign-in form and sign a user in."""
    if current_user.is_authenticated and home_url() != request.path:
        return redirect(home_url())
    form = LoginForm()
    if request.args.get("expired"):
        flash(_("Your session ended after a period of inactivity. Please sign in again."), "info")
    if form.validate_on_submit():
        db = get_session()
        user = authenticate(db, form.username.data or "", form.password.data or "")
        if user is None:
            log_security("login.failure", username=form.username.data or "")
            record_event(db, "login.failure", details={"username": (form.username.data or "")[:80]})
            db.commit()
            form.password.errors.append(_("Wrong username or password."))
            return render_template("auth/login.html", form=form), 401
        # A fresh session id on sign-in defeats session fixation: nothing planted before
        # sign-in survives it, and the server-side session id is new.
        session.clear()
        settings = current_app.config["SW_MIS"]
        session["sid"] = start_web_session(
            db, user, dt.timedelta(hours=settings.session_absolute_hours)
        )
        login_user(user)
        now = dt.datetime.now(dt.UTC).timestamp()
        session["signed_in_at"] = now
        session["last_seen"] = now
        session["lang"] = user.language
        log_security("login.success", username=user.username)
        record_event(db, "login.success", user=user)
        return redirect(_safe_next(request.args.get("next")))
    status = 422 if form.errors else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@allow(*ALL_ROLES)
def logout():  # type: ignore[no-untyped-def]
    """Sign out and forget the session."""
    log_security("logout", username=current_user.username)
    db = get_session()
    record_event(db, "logout")
    end_web_session(db, session.get("sid"))
    logout_user()
    language = session.get("lang")
    session.clear()
    if language:  # the sign-in page stays in the language the clerk works in
        session["lang"] = language
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/session/keepalive")
@allow(*ALL_ROLES)
def keepalive():  # type: ignore[no-untyped-def]
    """Extend an idle session (the 'stay signed in' button of the timeout warning)."""
    return jsonify(status="ok", idle_minutes=current_app.config["SW_MIS"].session_idle_minutes)
