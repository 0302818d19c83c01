"""The beneficiary-list page: choose a scheme, outcome, date, area and format; download."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    render_template,
    send_file,
    stream_with_context,
)
from flask_babel import gettext as _
from flask_login import current_user

from sw_mis.auth.access import allow
from sw_mis.db import get_session
from sw_mis.eligibility.service import rulebook
from sw_mis.exports import services
from sw_mis.exports.forms import ExportForm
from sw_mis.exports.services import EXPORT_ROLES, ExportError, ListSpec

bp = Blueprint("exports", __name__, url_prefix="/lists")


def _streamed(prepared: services.PreparedList) -> Iterator[bytes]:
    # The request's session closes when the view returns, before the first chunk is sent:
    # the stream reads and audits with a session of its own, committed at the stream's end
    # (also when the download is cut short, so the audit event is never lost).
    session = current_app.extensions["sw_mis.sessionmaker"]()
    try:
        yield from services.csv_stream(session, prepared)
    finally:
        try:
            session.commit()
        finally:
            session.close()


def list_response(spec: ListSpec, fmt: str) -> Response:
    """Send ``spec``'s list as a download: CSV streamed, XLSX and PDF from a temporary file."""
    session, book = get_session(), rulebook()
    filename = services.heading(session, spec, current_user, fmt).filename
    if fmt == "csv":
        prepared = services.prepare_list(session, book, spec, current_user)
        return Response(
            stream_with_context(_streamed(prepared)),
            mimetype=services.MIMETYPES["csv"],
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    # Written to disk, never held in memory whole; send_file closes (and so deletes) it.
    out = tempfile.TemporaryFile()  # noqa: SIM115 - the response owns it from here on
    try:
        services.write_list(session, book, spec, current_user, fmt, out)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return send_file(
        out, mimetype=services.MIMETYPES[fmt], as_attachment=True, download_name=filename
    )


@bp.route("/", methods=["GET", "POST"])
@allow(*EXPORT_ROLES)
def index() -> object:
    """Show the list form; on a valid submission, send the list (audited)."""
    session = get_session()
    form = ExportForm()
    form.scheme.choices = services.scheme_choices(rulebook(), current_user)
    form.admin1.choices = [("", _("All")), *services.area_choices(session, current_user, 1)]
    form.admin2.choices = [("", _("All")), *services.area_choices(session, current_user, 2)]
    if form.validate_on_submit():
        try:
            spec = services.list_spec(
                rulebook(),
                form.scheme.data,
                form.as_of.data,
                form.outcome.data,
                form.admin1.data,
                form.admin2.data,
            )
            return list_response(spec, form.format.data)
        except ExportError as exc:
            if exc.status == 404:
                abort(404)
            flash(str(exc), "danger")
    status = 422 if form.is_submitted() else 200
    return render_template("exports/index.html", form=form), status
