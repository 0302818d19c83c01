"""Registry maintenance commands: ``sw-mis registry rekey-names``."""

from __future__ import annotations

import click

from sw_mis.audit.services import record_event
from sw_mis.db import session_scope
from sw_mis.registry.services import rekey_members


@click.group()
def registry() -> None:
    """Household registry maintenance."""


@registry.command("rekey-names")
@click.option("--batch", default=5000, show_default=True, help="Members per transaction.")
@click.option(
    "--after-id", default=0, show_default=True, help="Resume after this member id (printed)."
)
def rekey_names(batch: int, after_id: int) -> None:
    """Recompute the phonetic name keys that search and the duplicate check use.

    Run once after an upgrade that changes how keys are computed (the release notes say so);
    until then, people whose key changed are missing from name searches. Commits batch by
    batch and prints the last member id done: a rerun, or ``--after-id``, continues safely.
    """
    from sw_mis.app import create_app

    app = create_app()
    read_total = changed_total = 0
    last: int | None = after_id
    while last is not None:
        with session_scope(app) as session:
            read, changed, last = rekey_members(session, after_id=last, limit=batch)
        read_total += read
        changed_total += changed
        if last is not None:
            click.echo(f"members up to id {last}: {read_total} read, {changed_total} rekeyed")
    with session_scope(app) as session:
        record_event(
            session,
            "registry.rekey_names",
            details={"read": read_total, "changed": changed_total, "after_id": after_id},
        )
    click.echo(f"done: {read_total} members read, {changed_total} keys changed")


if __name__ == "__main__":
    registry()
