"""The `sw-mis` command: run the demo, migrate, seed, manage users, check and apply rules."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click
from flask import Flask

from sw_mis.app import create_app
from sw_mis.db import get_engine, session_scope
from sw_mis.registry.cli import registry as registry_maintenance


class Context:
    """Builds the app lazily, so `sw-mis --help` works without a database."""

    def __init__(self) -> None:
        self._app: Flask | None = None

    @property
    def app(self) -> Flask:
        if self._app is None:
            self._app = create_app()
        return self._app


pass_ctx = click.make_pass_decorator(Context, ensure=True)


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """sw-mis: single-window eligibility MIS for social protection."""
    ctx.obj = Context()


# --- database ---------------------------------------------------------------------------------
main.add_command(registry_maintenance, name="registry")


@main.group()
def db() -> None:
    """Database schema migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_ctx
def db_upgrade(ctx: Context, revision: str) -> None:
    """Apply migrations up to REVISION."""
    from sw_mis.migrate import upgrade

    upgrade(get_engine(ctx.app), revision)
    click.echo(f"database upgraded to {revision}")


@db.command("downgrade")
@click.argument("revision")
@pass_ctx
def db_downgrade(ctx: Context, revision: str) -> None:
    """Revert migrations down to REVISION."""
    from sw_mis.migrate import downgrade

    downgrade(get_engine(ctx.app), revision)
    click.echo(f"database downgraded to {revision}")


# --- users ------------------------------------------------------------------------------------
@main.group()
def users() -> None:
    """User accounts."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option(
    "--role",
    required=True,
    type=click.Choice(
        ["clerk", "supervisor", "programme_officer", "data_manager", "auditor", "admin"]
    ),
)
@click.option("--office", "office_code", help="Office code (required for office-bound roles).")
@click.option("--full-name", default="")
@pass_ctx
def users_create(
    ctx: Context, username: str, password: str, role: str, office_code: str | None, full_name: str
) -> None:
    """Create a user account."""
    from sw_mis.auth.services import UserError, create_user

    try:
        with session_scope(ctx.app) as session:
            create_user(
                session,
                username=username,
                password=password,
                role=role,
                office_code=office_code,
                full_name=full_name,
            )
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"user {username} created ({role})")


# --- demo and synthetic data ------------------------------------------------------------------
@main.command()
@click.option("--households", default=300, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--no-serve", is_flag=True, help="Prepare the database and exit.")
@pass_ctx
def demo(ctx: Context, households: int, host: str, port: int, no_serve: bool) -> None:
    """Create the demo database under instance/, seed it, print the logins and serve."""
    from sw_mis.demo import prepare_demo

    logins = prepare_demo(ctx.app, households=households)
    click.echo("\nsw-mis demo is ready. Sign in with one of these accounts:\n")
    for username, password, role in logins:
        click.echo(f"  {username:<12} {password:<18} {role}")
    click.echo(f"\nDatabase: {ctx.app.config['DATABASE_URL']}")
    if no_serve:
        return
    click.echo(f"Open http://{host}:{port}/ (Ctrl+C to stop)\n")
    ctx.app.run(host=host, port=port, debug=False, use_reloader=False)


@main.command()
@click.option("--households", "count", type=int, required=True)
@click.option("--seed", "seed", type=int, default=1, show_default=True)
@click.option("--country", default="PK", show_default=True)
@pass_ctx
def seed(ctx: Context, count: int, seed: int, country: str) -> None:
    """Add COUNT deterministic synthetic households (bulk inserts)."""
    from sw_mis.registry.seed import seed_households

    made = seed_households(get_engine(ctx.app), count=count, seed=seed, country=country.upper())
    click.echo(f"{made} households seeded")


# --- referrals --------------------------------------------------------------------------------
@main.command("referral")
@click.argument("household_ref")
@click.argument("scheme_id")
@click.option("--member", "member_id", type=int, help="Member id, for a member-level scheme.")
@click.option(
    "--user",
    "username",
    envvar="SW_MIS_CLI_USER",
    required=True,
    help="Issue as this clerk or supervisor (default: $SW_MIS_CLI_USER).",
)
@click.option("--language", type=click.Choice(["en", "es", "fr", "pt", "ur"]), default=None)
@click.option("--size", type=click.Choice(["A5", "A4"]), default="A5", show_default=True)
@click.option("--counter", default="", help="Counter or desk printed on the slip.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), required=True)
@pass_ctx
def referral(
    ctx: Context,
    household_ref: str,
    scheme_id: str,
    member_id: int | None,
    username: str,
    language: str | None,
    size: str,
    counter: str,
    output: str,
) -> None:
    """Issue a referral for HOUSEHOLD_REF to SCHEME_ID and write its slip to a PDF file."""
    from sw_mis.referrals.cli import issue_and_print

    try:
        with ctx.app.app_context(), session_scope(ctx.app) as session:
            ref, pdf = issue_and_print(
                ctx.app,
                session,
                username,
                household_ref,
                scheme_id,
                member_id=member_id,
                language=language,
                size=size,
                counter=counter,
            )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    with open(output, "wb") as fh:
        fh.write(pdf)
    click.echo(f"referral {ref} issued; slip written to {output}")


@main.command("expire-referrals")
@click.option("--on", "on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None)
@pass_ctx
def expire_referrals_command(ctx: Context, on: object) -> None:
    """Mark issued referrals past their expiry date as expired (run daily)."""
    from sw_mis.referrals.services import expire_referrals

    day = on.date() if on is not None else None  # type: ignore[attr-defined]
    with ctx.app.app_context(), session_scope(ctx.app) as session:
        count = expire_referrals(session, day)
    click.echo(f"{count} referral(s) expired")



# --- bulk import and background jobs ----------------------------------------------------------
@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--mapping", "mapping_arg", help="A saved mapping's name, or a mapping YAML file.")
@click.option("--commit", "do_commit", is_flag=True, help="Import (default: a dry run only).")
@click.option("--source", help="Source of the household keys (default: mapping or file name).")
@click.option("--include-duplicates", is_flag=True,
              help="Also import households with likely duplicates (checked by a person).")
@click.option("--errors", "errors_path", type=click.Path(dir_okay=False, writable=True),
              help="Write the refused households with their problems to this CSV file.")
@click.option("--max-mb", type=int, default=None, help="Largest file accepted, in MB.")
@click.option("--user", "username", envvar="SW_MIS_CLI_USER", required=True,
              help="Import as this data manager (default: $SW_MIS_CLI_USER).")
@pass_ctx
def import_command(ctx: Context, file: str, mapping_arg: str | None, do_commit: bool,
                   source: str | None, include_duplicates: bool, errors_path: str | None,
                   max_mb: int | None, username: str) -> None:
    """Check FILE (CSV or XLSX) against the registry; with --commit, import its valid households."""
    from sqlalchemy import select

    from sw_mis.auth.models import User
    from sw_mis.imports import services
    from sw_mis.imports.readers import DEFAULT_MAX_BYTES

    limit = max_mb * 1024 * 1024 if max_mb else DEFAULT_MAX_BYTES
    path = Path(file).resolve()
    try:
        with ctx.app.app_context(), session_scope(ctx.app) as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None or not user.active:
                raise click.ClickException(f"no active user {username!r}")
            mapping = services.load_mapping_arg(session, mapping_arg)
            if not mapping.defaults.get("country") and user.office is not None:
                mapping.defaults["country"] = user.office.country
            batch = services.create_batch(session, user, path, path.name, mapping=mapping,
                                          source=source)
            session.commit()
            if not do_commit:
                services.check_batch(session, user, batch, max_bytes=limit)
                phase = "check"
            else:
                # An edge that commits chunk by chunk: a killed run, started again, resumes.
                services.commit_batch(session, user, batch, include_likely=include_duplicates,
                                      errors_path=Path(errors_path) if errors_path else None,
                                      commit=session.commit, max_bytes=limit)
                phase = "commit"
            problems, total = services.batch_problems(session, batch, phase, limit=50)
            for note in batch.summary.get("notes", []):
                click.echo(f"note: {note}")
            if batch.summary.get("unmapped"):
                click.echo("unmapped columns: " + ", ".join(batch.summary["unmapped"]))
            for p in problems:
                click.echo(f"row {p.row_number or '-'}, column {p.column or '-'}, "
                           f"value {p.value!r}: {p.problem}")
            if total > len(problems):
                click.echo(f"… and {total - len(problems)} more problem(s)")
            click.echo(json.dumps({
                "batch": batch.id, "dry_run": not do_commit, "households": batch.households_total,
                "valid": batch.households_valid, "imported": batch.households_imported,
                "invalid": batch.households_invalid, "duplicates": batch.households_duplicate,
                "skipped": batch.households_skipped}))
    except (services.ReadError, services.MappingError, services.ImportError_) as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--burst", is_flag=True, help="Run the queued jobs, then exit.")
@pass_ctx
def worker(ctx: Context, burst: bool) -> None:
    """Run background jobs from the RQ queue (needs SW_MIS_REDIS_URL)."""
    from redis import Redis
    from rq import Worker

    from sw_mis.jobs.runner import QUEUE_NAME, set_worker_app

    url = ctx.app.config["SW_MIS"].redis_url
    if not url:
        raise click.ClickException("SW_MIS_REDIS_URL is not set: jobs run inside the app")
    set_worker_app(ctx.app)
    connection = Redis.from_url(url)
    Worker([QUEUE_NAME], connection=connection).work(burst=burst)


# --- retention ----------------------------------------------------------------------------------
@main.command()
@click.option("--dry-run", is_flag=True, help="Count what would go; change nothing.")
@click.option("--before", "before", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Count the periods back from this day (YYYY-MM-DD, not after today; "
                   "default today).")
@pass_ctx
def purge(ctx: Context, dry_run: bool, before: dt.datetime | None) -> None:
    """Apply the retention policy (docs/operations.md): erase withdrawn households' personal
    data after 24 months, delete old history, audit log, referrals, screenings and tokens."""
    from sw_mis.retention.services import RetentionError
    from sw_mis.retention.services import purge as run_purge

    try:
        # Each batch is committed at its own edge: a stopped purge, run again, carries on.
        with ctx.app.app_context(), session_scope(ctx.app) as session:
            summary = run_purge(session, before.date() if before else None, dry_run=dry_run,
                                commit=None if dry_run else session.commit)
    except RetentionError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(summary.as_dict()))


def run() -> None:  # pragma: no cover - console entry point alias
    """Entry point used by `python -m sw_mis`."""
    sys.exit(main())


# --- rules and screening ----------------------------------------------------------------------
@main.group()
def rules() -> None:
    """Check and test the rule packs."""


def _rules_root(path: str | None) -> Path:
    from sw_mis.config import Settings

    return Path(path) if path else Settings.from_env().rules_path


@rules.command("check")
@click.argument("path", required=False, type=click.Path(exists=True, file_okay=False))
def rules_check(path: str | None) -> None:
    """Validate every rule file under PATH; print file:line: message; exit 1 on any error."""
    from sw_mis.eligibility.loader import load_rules

    book = load_rules(_rules_root(path))
    for error in book.errors:
        click.echo(str(error))
    click.echo(
        f"{len(book.schemes)} schemes in {len(book.packs)} packs; "
        f"{len(book.errors)} problem(s)"
        + (f"; refused packs: {', '.join(sorted(book.refused_packs))}" if book.refused_packs
           else ""),
        err=True,
    )
    sys.exit(1 if book.errors else 0)


@rules.command("test")
@click.argument("path", required=False, type=click.Path(exists=True, file_okay=False))
@click.option("--verbose", "-v", is_flag=True, help="Also list the cases that pass.")
def rules_test(path: str | None, verbose: bool) -> None:
    """Run every scheme's test cases; exit 1 if any fails."""
    from sw_mis.eligibility.rules_test import run_rule_tests

    results = run_rule_tests(_rules_root(path))
    failed = [r for r in results if not r.passed]
    for r in results:
        if verbose or not r.passed:
            click.echo(str(r))
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)


def _as_of(value: str | None) -> dt.date:
    if not value:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from exc


@main.command()
@click.argument("household_ref")
@click.option("--as-of", "as_of", help="Screen as of this date (YYYY-MM-DD); default today.")
@pass_ctx
def screen(ctx: Context, household_ref: str, as_of: str | None) -> None:
    """Screen one household against its country's schemes; print the API's JSON."""
    from sqlalchemy import select

    from sw_mis.eligibility.service import eligibility_report
    from sw_mis.registry.models import Household

    date = _as_of(as_of)
    with ctx.app.app_context(), session_scope(ctx.app) as session:
        household = session.scalar(select(Household).where(
            Household.ref == household_ref.strip().upper()))
        if household is None:
            raise click.ClickException(f"no household {household_ref!r}")
        click.echo(json.dumps(eligibility_report(household, date), ensure_ascii=False, indent=2))


@main.command("screen-all")
@click.option("--as-of", "as_of", help="Screen as of this date (YYYY-MM-DD); default today.")
@click.option("--scheme", "scheme_ids", multiple=True, help="Only this scheme (repeatable).")
@click.option("--resume", "run_id", type=int, help="Resume an interrupted run by its id.")
@click.option("--batch-size", default=250_000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 32), default=2, show_default=True,
              help="Connections screening batches at once (PostgreSQL only).")
@pass_ctx
def screen_all_command(ctx: Context, as_of: str | None, scheme_ids: tuple[str, ...],
                       run_id: int | None, batch_size: int, workers: int) -> None:
    """Screen every household against every scheme (set-based SQL) and store the outcomes."""
    from sw_mis.eligibility.sql import screen_all

    date = _as_of(as_of)
    book = ctx.app.extensions["sw_mis.rulebook"]
    unknown = [s for s in scheme_ids if s not in book.schemes]
    if unknown:
        raise click.ClickException(f"unknown scheme(s): {', '.join(unknown)}")
    # Each batch is committed at its own edge, so a killed run resumes where it stopped.
    with get_engine(ctx.app).connect() as conn:
        summary = screen_all(conn, book, date, scheme_ids=list(scheme_ids) or None,
                             batch_size=batch_size, run_id=run_id, commit=conn.commit,
                             workers=workers)
    click.echo(json.dumps({"run": summary.run_id, "households": summary.households,
                           "rows": summary.rows, "eligible": summary.eligible,
                           "undetermined": summary.undetermined,
                           "seconds": round(summary.seconds, 2),
                           "schemes": len(summary.schemes)}))


# --- beneficiary lists --------------------------------------------------------------------------
@main.command("export")
@click.argument("scheme_id")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "pdf"]), default="csv",
              show_default=True)
@click.option("--outcome", type=click.Choice(["eligible", "undetermined"]), default="eligible",
              show_default=True)
@click.option("--as-of", "as_of", help="List as of this date (YYYY-MM-DD); default today.")
@click.option("--admin1", help="Only this province / region (area code).")
@click.option("--admin2", help="Only this district (area code).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), required=True)
@pass_ctx
def export_command(ctx: Context, scheme_id: str, fmt: str, outcome: str, as_of: str | None,
                   admin1: str | None, admin2: str | None, output: str) -> None:
    """Write SCHEME_ID's beneficiary list (every area, identifiers included; audited as cli)."""
    from sw_mis.exports.services import SYSTEM, ExportError, list_spec, write_list

    book = ctx.app.extensions["sw_mis.rulebook"]
    partial = Path(output + ".part")  # a killed export never leaves a truncated list behind
    try:
        spec = list_spec(book, scheme_id, _as_of(as_of), outcome, admin1, admin2)
        with ctx.app.app_context(), session_scope(ctx.app) as session, partial.open("wb") as fh:
            rows = write_list(session, book, spec, SYSTEM, fmt, fh)
    except ExportError as exc:
        partial.unlink(missing_ok=True)
        raise click.ClickException(str(exc)) from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(output)
    click.echo(f"{rows} row(s) written to {output}")
