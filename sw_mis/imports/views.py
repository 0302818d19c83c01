"""Import pages: upload a file, see the dry run, map columns, confirm, download what was refused."""

from __future__ import annotations

from typing import Any

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
from flask_babel import gettext as _
from flask_login import current_user

from sw_mis.auth.access import allow
from sw_mis.db import get_session
from sw_mis.imports import services
from sw_mis.imports.mapping import Mapping, MappingError, target_choices
from sw_mis.imports.models import ImportBatch
from sw_mis.imports.readers import ReadError
from sw_mis.jobs import runner
from sw_mis.jobs.kinds import import_max_bytes

bp = Blueprint("imports", __name__, url_prefix="/imports")
ROLES = tuple(sorted(services.IMPORT_ROLES))


@bp.url_value_preprocessor
def _allow_large_uploads(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    # Runs before the app's before_request hooks (CSRF reads the form there), so the upload
    # page may take survey-sized files while every other page keeps the small request limit.
    if endpoint == "imports.upload":
        request.max_content_length = import_max_bytes(current_app) + 1024 * 1024


def _batch(batch_id: int) -> ImportBatch:
    batch = get_session().get(ImportBatch, batch_id)
    if batch is None:
        abort(404)
    return batch


def _start(kind: str, batch: ImportBatch, **params: Any) -> int:
    return runner.enqueue(kind, {"batch_id": batch.id, **params}, current_user)


@bp.route("", methods=["GET"])
@allow(*ROLES)
def index() -> str:
    """List recent batches and saved mappings; offer the upload form."""
    session = get_session()
    return render_template(
        "imports/index.html",
        batches=services.list_batches(session),
        mappings=services.list_mappings(session),
        max_mb=import_max_bytes(current_app) // (1024 * 1024),
    )


@bp.route("", methods=["POST"])
@allow(*ROLES)
def upload() -> Any:
    """Store the uploaded file as a batch and start its dry run."""
    session = get_session()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a CSV or Excel file to import."), "error")
        return redirect(url_for("imports.index"))
    try:
        mapping = services.load_mapping_arg(session, request.form.get("mapping") or None)
        path, sha, _size = services.save_upload(
            runner.files_dir(current_app) / "imports",
            upload.stream,
            upload.filename,
            import_max_bytes(current_app),
        )
        if not mapping.defaults.get("country") and getattr(current_user.office, "country", None):
            mapping.defaults["country"] = current_user.office.country
        batch = services.create_batch(
            session,
            current_user,
            path,
            upload.filename,
            mapping=mapping,
            source=request.form.get("source") or None,
            sha256=sha,
        )
    except (ReadError, MappingError) as exc:
        flash(str(exc), "error")
        return redirect(url_for("imports.index"))
    session.commit()  # the job reads the batch from its own session
    _start("import.check", batch)
    return redirect(url_for("imports.batch", batch_id=batch.id))


@bp.route("/<int:batch_id>")
@allow(*ROLES)
def batch(batch_id: int) -> str:
    """Show a batch: how the file was read, the dry run's problems, and the confirm button."""
    session = get_session()
    item = _batch(batch_id)
    phase = "commit" if item.status in ("committing", "committed") else "check"
    problems, total = services.batch_problems(session, item, phase)
    job = services.latest_job(session, item)
    return render_template(
        "imports/batch.html", batch=item, problems=problems, total=total, phase=phase, job=job
    )


@bp.route("/<int:batch_id>/problems.csv")
@allow(*ROLES)
def problems(batch_id: int) -> Response:
    """Download a batch's problems (row, column, value, problem) as CSV."""
    item = _batch(batch_id)
    phase = request.args.get("phase", "check")
    if phase not in ("check", "commit"):
        abort(404)
    body = services.problems_csv(get_session(), item, phase)
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f"attachment; filename=import-{item.id}-{phase}-problems.csv"
        },
    )


@bp.route("/<int:batch_id>/commit", methods=["POST"])
@allow(*ROLES)
def commit(batch_id: int) -> Any:
    """Start importing the batch's valid households."""
    item = _batch(batch_id)
    if item.status not in ("checked", "committing"):
        flash(
            _("This file cannot be imported now (it is %(status)s).", status=item.status), "error"
        )
        return redirect(url_for("imports.batch", batch_id=item.id))
    job_id = _start("import.commit", item, include_likely=bool(request.form.get("include_likely")))
    return redirect(url_for("jobs.detail", job_id=job_id))


@bp.route("/<int:batch_id>/mapping", methods=["GET", "POST"])
@allow(*ROLES)
def mapping(batch_id: int) -> Any:
    """Map the batch's columns to registry fields, save the mapping by name and check again."""
    session = get_session()
    item = _batch(batch_id)
    current = services.batch_mapping(item)
    try:
        table = services.read_batch_file(item, import_max_bytes(current_app))
    except ReadError as exc:
        flash(str(exc), "error")
        return redirect(url_for("imports.batch", batch_id=item.id))
    headers = [(s.name, h) for s in table.sheets for h in s.headers]
    if request.method == "POST":
        try:
            updated = _mapping_from_form(current, headers)
            name = request.form.get("name", "").strip()
            if name:
                services.save_mapping(session, current_user, name, updated)
                updated.name = name
        except MappingError as exc:
            flash(str(exc), "error")
            return render_template(
                "imports/mapping.html",
                batch=item,
                headers=headers,
                mapping=current,
                choices=target_choices(),
                values_yaml=request.form.get("values", ""),
            ), 422
        item.mapping_spec, item.mapping_name = updated.spec(), updated.name
        item.status = "uploaded"
        session.commit()
        _start("import.check", item)
        flash(_("Mapping saved; the file is being checked again."), "success")
        return redirect(url_for("imports.batch", batch_id=item.id))
    values_yaml = Mapping(
        values=current.values, defaults=current.defaults, date_formats=current.date_formats
    ).to_yaml()
    return render_template(
        "imports/mapping.html",
        batch=item,
        headers=headers,
        mapping=current,
        choices=target_choices(),
        values_yaml=values_yaml,
    )


def _mapping_from_form(current: Mapping, headers: list[tuple[str, str]]) -> Mapping:
    """Build a mapping from the per-column menus and the values/defaults YAML."""
    columns = {}
    for index, (_sheet, header) in enumerate(headers):
        chosen = request.form.get(f"col-{index}", "")
        auto = current.target(header)
        if chosen and chosen != auto:
            columns[header] = chosen
        elif not chosen and auto:
            columns[header] = "ignore"
    extra = Mapping.from_yaml(request.form.get("values", ""))
    spec = {
        **current.spec(),
        "columns": columns,
        "values": extra.values,
        "defaults": extra.defaults,
        "date_formats": extra.date_formats,
    }
    return Mapping.from_spec({k: v for k, v in spec.items() if v not in (None, {}, [])})


@bp.route("/mappings", methods=["GET", "POST"])
@allow(*ROLES)
def mappings() -> Any:
    """List saved mappings and edit one as YAML."""
    session = get_session()
    name = request.values.get("name", "").strip()
    text = ""
    if request.method == "POST":
        text = request.form.get("yaml", "")
        try:
            services.save_mapping(session, current_user, name, Mapping.from_yaml(text))
        except MappingError as exc:
            flash(str(exc), "error")
            return render_template(
                "imports/mappings.html",
                mappings=services.list_mappings(session),
                name=name,
                text=text,
            ), 422
        flash(_("Mapping %(name)s saved.", name=name), "success")
        return redirect(url_for("imports.mappings", name=name))
    if name:
        try:
            text = services.get_mapping(session, name).to_yaml()
        except MappingError:
            text = ""
    return render_template(
        "imports/mappings.html", mappings=services.list_mappings(session), name=name, text=text
    )
