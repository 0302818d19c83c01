"""The `sw-mis` command: run the demo, migrate, seed, manage users, check and apply rules."""

from __future__ import annotations

import sys

import click
from flask import Flask

from sw_mis.app import create_app
from sw_mis.db import get_engine, session_scope


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


def run() -> None:  # pragma: no cover - console entry point alias
    """Entry point used by `python -m sw_mis`."""
    sys.exit(main())
