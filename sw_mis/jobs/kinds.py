"""The job kinds: each function is an edge that commits its own batches and reports progress."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Flask
from flask_babel import gettext as _
from sqlalchemy import func, select

from sw_mis.db import get_engine, session_scope
from sw_mis.jobs.models import Job
from sw_mis.jobs.runner import JobCancelled, JobContext, JobFunction, JobOutcome, files_dir


def import_max_bytes(app: Flask) -> int:
    """Return the largest import file accepted (``SW_MIS_IMPORT_MAX_BYTES`` app config)."""
    from sw_mis.imports.readers import DEFAULT_MAX_BYTES

    return int(app.config.get("SW_MIS_IMPORT_MAX_BYTES") or DEFAULT_MAX_BYTES)


def remember(ctx: JobContext, **values: Any) -> None:
    """Add ``values`` to the job's parameters (e.g. the run id a rerun resumes)."""
    with session_scope(ctx.app) as session:
        job = session.get(Job, ctx.job_id)
        if job is not None:
            job.params = {**(job.params or {}), **values}
    ctx.params.update(values)


def check_import(ctx: JobContext) -> JobOutcome:
    """Dry-run an import batch: store its problems, write nothing to the registry."""
    from sw_mis.imports.models import ImportBatch
    from sw_mis.imports.services import check_batch

    with session_scope(ctx.app) as session:
        batch = session.get(ImportBatch, int(ctx.params["batch_id"]))
        if batch is None:
            raise ValueError("the import batch no longer exists")

        def progress(done: int, total: int) -> None:
            # End the dry run's read snapshot (it has written nothing yet): on SQLite an old
            # snapshot may not write after the progress update commits beside it.
            session.commit()
            ctx.progress(done, total)

        check_batch(
            session,
            ctx.user(session),
            batch,
            progress=progress,
            max_bytes=import_max_bytes(ctx.app),
            # The commit job reads the validation back instead of repeating it.
            prepared_dir=files_dir(ctx.app) / "imports" / "prepared",
        )
        summary = {
            "batch_id": batch.id,
            "valid": batch.households_valid,
            "invalid": batch.households_invalid,
            "duplicates": batch.households_duplicate,
            "skipped": batch.households_skipped,
        }
    return JobOutcome(summary)


def commit_import(ctx: JobContext) -> JobOutcome:
    """Import a checked batch's valid households, committing chunk by chunk."""
    from sw_mis.imports.models import ImportBatch
    from sw_mis.imports.services import commit_batch

    errors = ctx.result_file("refused-households.csv")
    with session_scope(ctx.app) as session:
        batch = session.get(ImportBatch, int(ctx.params["batch_id"]))
        if batch is None:
            raise ValueError("the import batch no longer exists")
        commit_batch(
            session,
            ctx.user(session),
            batch,
            include_likely=bool(ctx.params.get("include_likely")),
            errors_path=errors,
            commit=session.commit,
            progress=ctx.progress,
            max_bytes=import_max_bytes(ctx.app),
        )
        summary = {
            "batch_id": batch.id,
            "imported": batch.households_imported,
            "invalid": batch.households_invalid,
            "duplicates": batch.households_duplicate,
            "skipped": batch.households_skipped,
        }
        refused = batch.households_invalid + batch.households_duplicate
    if refused:
        return JobOutcome(summary, errors, f"import-{summary['batch_id']}-refused.csv")
    return JobOutcome(summary)


def screen_registry(ctx: JobContext) -> JobOutcome:
    """Screen every household (``eligibility.sql.screen_all``), resumable by its run id."""
    from sw_mis.eligibility.models import ScreeningRun
    from sw_mis.eligibility.sql import screen_all
    from sw_mis.registry.models import Household

    book = ctx.app.extensions["sw_mis.rulebook"]
    as_of = dt.date.fromisoformat(ctx.params.get("as_of") or dt.date.today().isoformat())
    scheme_ids = ctx.params.get("scheme_ids") or None
    with get_engine(ctx.app).connect() as conn:
        total = conn.scalar(select(func.count()).select_from(Household)) or 0
        run_id = ctx.params.get("run_id")

        def commit() -> None:
            nonlocal run_id
            conn.commit()
            if run_id is None:
                # screen_all commits right after creating its run: the newest run is ours.
                run_id = conn.scalar(select(func.max(ScreeningRun.id)))
                remember(ctx, run_id=run_id)
            done = (
                conn.scalar(select(ScreeningRun.households_done).where(ScreeningRun.id == run_id))
                or 0
            )
            conn.commit()
            ctx.progress(done, total)

        summary = screen_all(
            conn,
            book,
            as_of,
            scheme_ids=scheme_ids,
            batch_size=int(ctx.params.get("batch_size") or 50_000),
            run_id=run_id,
            commit=commit,
        )
    return JobOutcome(
        {
            "run_id": summary.run_id,
            "households": summary.households,
            "rows": summary.rows,
            "seconds": round(summary.seconds, 1),
        }
    )


def print_slips(ctx: JobContext) -> JobOutcome:
    """Print many referral slips into one PDF (the referrals service does the printing)."""
    from sw_mis.referrals.services import get_referral, print_slips

    refs = list(ctx.params.get("refs") or [])
    ctx.progress(0, len(refs))
    with session_scope(ctx.app) as session:
        user = ctx.user(session)
        referrals = [get_referral(session, user, ref) for ref in refs]
        pdf = print_slips(
            session,
            user,
            referrals,
            book=ctx.app.extensions.get("sw_mis.rulebook"),
            settings=ctx.app.config["SW_MIS"],
            page_size=ctx.params.get("page_size") or "A5",
        )
    path = ctx.result_file("slips.pdf")
    path.write_bytes(pdf)
    ctx.progress(len(refs), len(refs))
    return JobOutcome({"slips": len(refs)}, path, f"referral-slips-{ctx.job_id}.pdf")


class _Reported:
    """Pass rows through, reporting progress (and so honouring Cancel) every ``every`` rows."""

    def __init__(self, rows: Iterable[Any], ctx: JobContext, total: int, every: int) -> None:
        self._rows, self._ctx, self._total, self._every = rows, ctx, total, every
        self.count = 0

    def __iter__(self) -> Iterator[Any]:
        for row in self._rows:
            yield row
            self.count += 1
            if self.count % self._every == 0:
                self._ctx.progress(self.count, self._total)


def export_list(ctx: JobContext) -> JobOutcome:
    """Write a beneficiary list to a file: ``exports.services.write_list`` with progress.

    The same statement, columns, writers and audit event as a download from the lists page,
    as the user who started the job sees the list and in their language; an export cancelled or
    failed half-way is audited as incomplete with the rows read, and leaves no file.
    """
    from flask_babel import force_locale

    from sw_mis.exports import services as exports
    from sw_mis.web.i18n import DEFAULT_LANGUAGE, LANGUAGES

    book = ctx.app.extensions["sw_mis.rulebook"]
    params = ctx.params
    fmt = params.get("format") or "csv"
    if fmt not in EXPORT_FORMATS:
        raise exports.ExportError(f"Must be csv, xlsx or pdf, not {fmt!r}.", field="format")
    spec = exports.list_spec(
        book,
        params["scheme"],
        dt.date.fromisoformat(params["as_of"]),
        params.get("outcome") or "eligible",
        params.get("admin1"),
        params.get("admin2"),
    )
    counted: _Reported | None = None
    complete = False
    try:
        with session_scope(ctx.app) as session:
            user = ctx.user(session)
            language = getattr(user, "language", None)
            with force_locale(language if language in LANGUAGES else DEFAULT_LANGUAGE):
                total = exports.count_beneficiaries(session, book, spec, user)
                if fmt == "pdf" and total > exports.PDF_MAX_ROWS:
                    raise exports.ExportError(
                        _(
                            "The list has %(rows)s rows; a printed list is limited to "
                            "%(limit)s. Choose an area, or download CSV or XLSX.",
                            rows=f"{total:,}",
                            limit=f"{exports.PDF_MAX_ROWS:,}",
                        ),
                        field="format",
                    )
                head = exports.heading(session, spec, user, fmt)
                prepared = exports.prepare_list(session, book, spec, user)
                ctx.progress(0, total)
                part = ctx.result_file(head.filename + ".part")
                rows = exports.iter_rows(session, prepared)
                counted = _Reported(rows, ctx, total, every=exports.YIELD_PER)
                try:
                    with part.open("wb") as out:
                        _write_list(fmt, prepared.columns, counted, out, head)
                    complete = True
                finally:
                    rows.close()  # type: ignore[attr-defined]  # ends the server cursor early
                    if not complete:
                        part.unlink(missing_ok=True)
    finally:
        if counted is not None:
            # Once rows were read, audited like a download, finished or not; in a transaction
            # of its own, after the reading one has ended (failed, cancelled or done).
            with session_scope(ctx.app) as audit:
                exports.record_export(
                    audit, ctx.user(audit), spec, fmt, counted.count, complete=complete
                )
    path = part.with_name(head.filename)
    part.replace(path)
    # A Cancel pressed after the last row comes too late: the list is whole and audited so.
    with contextlib.suppress(JobCancelled):
        ctx.progress(counted.count, counted.count)
    summary = {**spec.details(), "format": fmt, "rows": counted.count}
    return JobOutcome(summary, path, head.filename)


def _write_list(fmt: str, cols: Any, rows: Iterable[Any], out: Any, head: Any) -> None:
    """Write rows with the writer of ``fmt``, as ``exports.services.write_list`` does."""
    from sw_mis.exports import writers
    from sw_mis.exports.services import writer_words

    if fmt == "csv":
        writers.write_csv(cols, rows, out)
    elif fmt == "xlsx":
        writers.write_xlsx(cols, rows, out, head.about, writer_words())
    else:
        writers.write_pdf(cols, rows, out, head.title, head.subtitle, writer_words())


#: The formats a background export writes (JSON is a paged API answer, not a file).
EXPORT_FORMATS = ("csv", "xlsx", "pdf")

#: kind → (label shown on the jobs page, function)
KINDS: dict[str, tuple[str, JobFunction]] = {
    "import.check": ("Import: check (dry run)", check_import),
    "import.commit": ("Import: add households", commit_import),
    "screening.all": ("Screen the whole registry", screen_registry),
    "referrals.slips": ("Print referral slips", print_slips),
    "exports.list": ("Beneficiary list", export_list),
}
