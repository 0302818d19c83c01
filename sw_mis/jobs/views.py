"""Jobs pages: the list, one job's progress (polled as JSON), cancel, result download, starts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from sw_mis.auth.access import allow
from sw_mis.auth.models import ROLES
from sw_mis.db import get_session
from sw_mis.eligibility.service import rulebook
from sw_mis.exports import services as exports
from sw_mis.exports.forms import ExportForm
from sw_mis.jobs import runner
from sw_mis.jobs.models import Job

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


@bp.app_template_global("job_status")
def _job_status(job: Job) -> dict[str, Any]:
    """Return a job's progress for templates (the import page embeds it)."""
    return runner.status_dict(job)


#: Everyone who may start a job (imports, screening, slips, lists) may follow their own jobs.
JOB_ROLES = tuple(r for r in ROLES if r != "auditor")
SCREENING_ROLES = ("programme_officer", "admin")
SLIP_ROLES = ("clerk", "supervisor", "admin")
#: Whoever may download a beneficiary list may have it prepared in the background.
EXPORT_ROLES = exports.EXPORT_ROLES


def _job(job_id: int) -> Job:
    job = runner.get_job(get_session(), current_user, job_id)
    if job is None:
        abort(404)
    return job


@bp.route("")
@allow(*JOB_ROLES)
def index() -> str:
    """List the user's jobs, newest first."""
    jobs = runner.jobs_for(get_session(), current_user)
    return render_template(
        "jobs/index.html",
        jobs=[runner.status_dict(j) for j in jobs],
        can_screen=current_user.role in SCREENING_ROLES,
        today=dt.date.today().isoformat(),
    )


@bp.route("/<int:job_id>")
@allow(*JOB_ROLES)
def detail(job_id: int) -> str:
    """Show one job's progress; static/js/jobs.js keeps it current."""
    job = _job(job_id)
    return render_template("jobs/detail.html", job=job, status=runner.status_dict(job))


@bp.route("/<int:job_id>/status")
@allow(*JOB_ROLES)
def status(job_id: int) -> Response:
    """Return the job's progress as JSON (rows done, rate, seconds left)."""
    return jsonify(runner.status_dict(_job(job_id)))


@bp.route("/<int:job_id>/cancel", methods=["POST"])
@allow(*JOB_ROLES)
def cancel(job_id: int) -> Any:
    """Ask the job to stop after its current batch."""
    runner.request_cancel(get_session(), _job(job_id))
    flash(_("The job will stop after its current batch; work already saved is kept."), "info")
    return redirect(url_for("jobs.detail", job_id=job_id))


@bp.route("/<int:job_id>/result")
@allow(*JOB_ROLES)
def result(job_id: int) -> Any:
    """Download the file the job produced."""
    job = _job(job_id)
    if job.status != "done" or not job.result_path:
        abort(404)
    path = Path(job.result_path).resolve()
    # Only files under our files folder are ever served, whatever a job row says.
    if runner.files_dir(current_app).resolve() not in path.parents or not path.is_file():
        abort(404)
    return send_file(path, as_attachment=True, download_name=job.result_name or path.name)


@bp.route("/screening", methods=["POST"])
@allow(*SCREENING_ROLES)
def start_screening() -> Any:
    """Start (or resume) screening the whole registry against every scheme."""
    params: dict[str, Any] = {"as_of": request.form.get("as_of") or dt.date.today().isoformat()}
    try:
        dt.date.fromisoformat(params["as_of"])
    except ValueError:
        flash(_("Give the date as YYYY-MM-DD."), "error")
        return redirect(url_for("jobs.index"))
    resume = request.form.get("resume_job")
    if resume and resume.isdigit():
        previous = _job(int(resume))
        params = {**previous.params}
    job_id = runner.enqueue("screening.all", params, current_user)
    return redirect(url_for("jobs.detail", job_id=job_id))


@bp.route("/slips", methods=["POST"])
@allow(*SLIP_ROLES)
def start_slips() -> Any:
    """Print many referral slips into one PDF, in the background."""
    refs = [r.strip() for r in request.form.get("refs", "").replace(",", "\n").splitlines()]
    refs = [r for r in refs if r]
    if not refs:
        flash(_("List the referral references to print."), "error")
        return redirect(request.referrer or url_for("jobs.index"))
    job_id = runner.enqueue(
        "referrals.slips",
        {"refs": refs, "page_size": request.form.get("size") or "A5"},
        current_user,
    )
    return redirect(url_for("jobs.detail", job_id=job_id))


@bp.route("/exports", methods=["POST"])
@allow(*EXPORT_ROLES)
def start_export() -> Any:
    """Prepare the beneficiary list chosen on the lists page in the background."""
    session, book = get_session(), rulebook()
    form = ExportForm()
    form.scheme.choices = exports.scheme_choices(book, current_user)
    form.admin1.choices = [("", "All"), *exports.area_choices(session, current_user, 1)]
    form.admin2.choices = [("", "All"), *exports.area_choices(session, current_user, 2)]
    if form.validate_on_submit():
        try:
            spec = exports.list_spec(
                book,
                form.scheme.data,
                form.as_of.data,
                form.outcome.data,
                form.admin1.data,
                form.admin2.data,
            )
        except exports.ExportError as exc:
            if exc.status == 404:
                abort(404)
            flash(str(exc), "danger")
        else:
            params = {**spec.details(), "format": form.format.data}
            job_id = runner.enqueue("exports.list", params, current_user)
            return redirect(url_for("jobs.detail", job_id=job_id))
    return render_template("exports/index.html", form=form), 422
