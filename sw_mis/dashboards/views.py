"""Dashboard pages and their figures as CSV, for supervisors and programme officers."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from sw_mis.audit.services import record_event
from sw_mis.auth.access import allow
from sw_mis.dashboards import services
from sw_mis.dashboards.forms import DashboardFilterForm
from sw_mis.dashboards.services import DASHBOARD_ROLES, DASHBOARDS, FIGURES, Filters
from sw_mis.dashboards.svg import render
from sw_mis.db import get_session
from sw_mis.eligibility.service import rulebook
from sw_mis.web.i18n import localized

bp = Blueprint("dashboards", __name__, url_prefix="/dashboards")


def _filters() -> tuple[DashboardFilterForm, Filters | None]:
    """Read the filters from the query string; None when they do not validate."""
    form = DashboardFilterForm(request.args)
    form.admin1.choices = [("", _("All")), *services.available_admin1(get_session(), current_user)]
    if request.args and not form.validate():
        return form, None
    return form, Filters(form.date_from.data, form.date_to.data, form.admin1.data or None)


def _scheme_names() -> dict[str, str]:
    # In the page's language where the rule file names the scheme in it (docs/languages.md).
    return {
        sid: localized(scheme.name_i18n, scheme.name) for sid, scheme in rulebook().schemes.items()
    }


@bp.get("/", defaults={"name": "registry"})
@bp.get("/<name>")
@allow(*DASHBOARD_ROLES)
def index(name: str) -> object:
    """Show one dashboard: each figure as a chart, a table and a CSV link."""
    if name not in DASHBOARDS:
        abort(404)
    form, filters = _filters()
    if filters is None:
        return render_template(
            "dashboards/index.html", form=form, name=name, dashboards=DASHBOARDS, figures=[]
        ), 422
    figures = services.compute_dashboard(
        get_session(), current_user, name, filters, _scheme_names()
    )
    return render_template(
        "dashboards/index.html",
        form=form,
        name=name,
        dashboards=DASHBOARDS,
        figures=figures,
        query=filters.as_dict(),
        render_chart=render,
    )


@bp.get("/<figure>.csv")
@allow(*DASHBOARD_ROLES)
def figure_csv(figure: str) -> object:
    """Send one figure's table as CSV (audited)."""
    if figure not in FIGURES:
        abort(404)
    filters = _filters()[1]
    if filters is None:
        abort(422, _("Check the dates and the province of the dashboard filters."))
    session = get_session()
    result = FIGURES[figure](session, current_user, filters, _scheme_names())
    record_event(
        session,
        "dashboard.csv",
        object_type="dashboard",
        object_ref=figure,
        details={**filters.as_dict(), "rows": len(result.rows)},
    )
    filename = services.csv_filename(result, filters)
    return Response(
        services.figure_csv(result),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
