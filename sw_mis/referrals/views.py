"""Referral pages: issue, list, follow up, print slips, and the public verification page."""

from __future__ import annotations

import datetime as dt

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import SelectChoice

from sw_mis.auth.access import allow, public
from sw_mis.auth.models import Office
from sw_mis.db import get_session
from sw_mis.eligibility.service import rulebook
from sw_mis.referrals import services
from sw_mis.referrals.forms import LANGUAGE_NAMES, FilterForm, IssueForm, TransitionForm
from sw_mis.referrals.services import ReferralError, ReferralForbidden, ReferralNotFound

bp = Blueprint("referrals", __name__)


@bp.app_template_filter("referral_status")
def referral_status(status: str) -> str:
    """Return a referral status as people read it, in the page's language."""
    return str(services.STATUS_LABELS.get(status, status))


@bp.app_context_processor
def _slip_languages() -> dict[str, object]:
    # Slips print in more languages than the interface has (slips.py carries its own labels).
    return {"slip_languages": LANGUAGE_NAMES}

PER_PAGE = 50


def _settings():  # type: ignore[no-untyped-def]
    return current_app.config["SW_MIS"]


def _fail(exc: ReferralError) -> int:
    """Return the HTTP status for a refusal by the referral services."""
    if isinstance(exc, ReferralNotFound):
        abort(404)
    if isinstance(exc, ReferralForbidden):
        return 403
    return 409 if isinstance(exc, services.ReferralConflict) else 422


def _pdf(data: bytes, filename: str) -> Response:
    return Response(
        data,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@bp.get("/referrals/")
@allow(*services.LIST_ROLES)
def index():  # type: ignore[no-untyped-def]
    """List referrals by status, scheme, office and issue date."""
    db = get_session()
    form = FilterForm(request.args)
    valid = not request.args or form.validate()
    page = max(form.page.data or 1, 1) if valid else 1
    stmt = services.referrals_query(
        db,
        current_user,
        status=form.status.data or None,
        scheme_id=form.scheme.data or None,
        office_id=form.office.data or None,
        issued_on=form.issued_on.data,
    )
    total = (
        db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) if valid else 0
    )
    items = list(db.scalars(stmt.limit(PER_PAGE).offset((page - 1) * PER_PAGE))) if valid else []
    context = {
        "form": form,
        "items": items,
        "total": total or 0,
        "page": page,
        "pages": max(((total or 0) + PER_PAGE - 1) // PER_PAGE, 1),
        "filters": {k: v for k, v in request.args.items() if k != "page" and v},
        "counts": services.status_counts(db, current_user),
        "offices": {row.id: row.name for row in db.execute(select(Office.id, Office.name))},
        "effective_status": services.effective_status,
    }
    return render_template("referrals/index.html", **context), 200 if valid else 422


@bp.post("/referrals/issue")
@allow(*services.ISSUE_ROLES)
def issue():  # type: ignore[no-untyped-def]
    """Issue a referral for an eligible scheme from the eligibility page."""
    form = IssueForm()
    if not form.validate_on_submit():
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        flash(_("The referral could not be issued: %(problems)s", problems=problems), "error")
        return redirect(request.referrer or url_for("referrals.index")), 303
    db = get_session()
    try:
        household_ref = form.household.data or request.args.get("ref", "")
        household = services.find_household(db, current_user, household_ref)
        referral = services.issue_referral(
            db,
            current_user,
            household,
            form.scheme.data or "",
            book=rulebook(),
            settings=_settings(),
            member_id=form.member.data,
            approve_undetermined=bool(form.approve_undetermined.data),
            counter=form.counter.data or "",
            language=form.language.data,
        )
    except ReferralError as exc:
        status = _fail(exc)
        return render_template("referrals/refused.html", message=str(exc)), status
    flash(
        _("Referral %(ref)s issued. Print the slip for the family.", ref=referral.ref), "success"
    )
    return redirect(url_for("referrals.detail", ref=referral.ref))


@bp.get("/referrals/<ref>")
@allow(*services.VIEW_ROLES)
def detail(ref: str):  # type: ignore[no-untyped-def]
    """Show a referral, its history and the moves the user may make."""
    db = get_session()
    try:
        referral = services.get_referral(db, current_user, ref)
    except ReferralError as exc:
        return render_template("referrals/refused.html", message=str(exc)), _fail(exc)
    moves = services.allowed_transitions(referral, current_user)
    form = TransitionForm()
    form.status.choices = [SelectChoice(s, services.STATUS_LABELS[s]) for s in moves]
    scheme = rulebook().schemes.get(referral.scheme_id)
    return render_template(
        "referrals/detail.html",
        referral=referral,
        status=services.effective_status(referral),
        status_labels=services.STATUS_LABELS,
        scheme=scheme,
        form=form,
        moves=moves,
        can_print=current_user.role in services.PRINT_ROLES,
    )


@bp.post("/referrals/<ref>/status")
@allow(*services.MOVE_ROLES)
def transition(ref: str):  # type: ignore[no-untyped-def]
    """Move a referral to its next status."""
    form = TransitionForm()
    form.status.choices = [SelectChoice(s) for s in services.STATUS_LABELS]
    if not form.validate_on_submit():
        flash(_("Choose a new status."), "error")
        return redirect(url_for("referrals.detail", ref=ref)), 303
    db = get_session()
    try:
        referral = services.get_referral(db, current_user, ref)
        services.transition_referral(
            db, current_user, referral, form.status.data or "", form.reason.data
        )
    except ReferralError as exc:
        return render_template("referrals/refused.html", message=str(exc), ref=ref), _fail(exc)
    flash(
        _(
            "Referral %(ref)s is now %(status)s.",
            ref=referral.ref,
            status=str(services.STATUS_LABELS.get(referral.status, referral.status)).lower(),
        ),
        "success",
    )
    return redirect(url_for("referrals.detail", ref=referral.ref))


def _print(referrals, filename: str):  # type: ignore[no-untyped-def]
    db = get_session()
    try:
        data = services.print_slips(
            db,
            current_user,
            referrals,
            book=rulebook(),
            settings=_settings(),
            page_size=request.args.get("size", "A5"),
        )
    except ReferralError as exc:
        return render_template("referrals/refused.html", message=str(exc)), _fail(exc)
    return _pdf(data, filename)


@bp.get("/referrals/<ref>/slip.pdf")
@allow(*services.PRINT_ROLES)
def slip(ref: str):  # type: ignore[no-untyped-def]
    """Print a referral's slip (a reprint is marked as a copy)."""
    try:
        referral = services.get_referral(get_session(), current_user, ref)
    except ReferralError as exc:
        return render_template("referrals/refused.html", message=str(exc)), _fail(exc)
    return _print([referral], f"referral-{referral.ref}.pdf")


@bp.get("/households/<household_ref>/referral-slips.pdf")
@allow(*services.PRINT_ROLES)
def household_slips(household_ref: str):  # type: ignore[no-untyped-def]
    """Print every open referral of a household as one PDF."""
    db = get_session()
    try:
        household = services.find_household(db, current_user, household_ref)
    except ReferralError as exc:
        return render_template("referrals/refused.html", message=str(exc)), _fail(exc)
    referrals = services.open_referrals(db, household)
    if not referrals:
        flash(_("This household has no open referral to print."), "info")
        return redirect(request.referrer or url_for("referrals.index")), 303
    return _print(referrals, f"referrals-{household.ref}.pdf")


@bp.get("/referrals/batch.pdf")
@allow(*services.PRINT_ROLES)
def batch():  # type: ignore[no-untyped-def]
    """Print the open referrals issued at the user's office on one day (default today)."""
    try:
        day = dt.date.fromisoformat(request.args.get("day") or services.today().isoformat())
    except ValueError:
        abort(400, _("day must be a date like 2026-11-27"))
    referrals = services.day_referrals(get_session(), current_user, day)
    if not referrals:
        flash(
            _("No open referral was issued at your office on %(day)s.", day=format_date(day)),
            "info",
        )
        return redirect(url_for("referrals.index")), 303
    return _print(referrals, f"referrals-{day.isoformat()}.pdf")


@bp.get("/v/<token>")
@public
def verify(token: str):  # type: ignore[no-untyped-def]
    """Tell whoever scanned a slip whether it is genuine, and its current status."""
    check = services.verify_slip(get_session(), token[:200], rulebook(), _settings())
    return render_template("referrals/verify.html", check=check)
