"""The audit screen: auditors and admins search the trail. It offers no edit or delete."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from sw_mis.audit.forms import AuditSearchForm
from sw_mis.audit.services import read_events
from sw_mis.auth.access import allow
from sw_mis.db import get_session

bp = Blueprint("audit", __name__, url_prefix="/audit")

PER_PAGE = 50


@bp.get("/")
@allow("auditor", "admin")
def index():  # type: ignore[no-untyped-def]
    """Search audit events by user, action, record reference and date range."""
    form = AuditSearchForm(request.args)
    if request.args and not form.validate():
        return render_template("audit/index.html", form=form, result=None), 422
    result = read_events(
        get_session(),
        username=form.username.data,
        action=form.action.data,
        object_ref=form.object_ref.data,
        since=form.since.data,
        until=form.until.data,
        page=form.page.data or 1,
        per_page=PER_PAGE,
    )
    filters = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("audit/index.html", form=form, result=result, filters=filters)
