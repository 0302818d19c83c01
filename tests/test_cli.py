"""The `sw-mis` command against a temporary SQLite database, as an operator would run it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from sw_mis.auth.models import Office, User
from sw_mis.cli import main
from sw_mis.config import PROJECT_ROOT
from sw_mis.db import make_engine
from sw_mis.registry.models import Household, Member


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Environment for a CLI run on its own SQLite file."""
    return {
        "SW_MIS_ENV": "testing",
        "SW_MIS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "SW_MIS_SECRET_KEY": "cli-test-" + "x" * 32,
        "SW_MIS_REFERRAL_KEYS": "k1:cli-test-signing-key",
    }


def seed_country() -> str:
    """Pakistan, the demo's country, or the first pack with an area list while it is missing."""
    packs = sorted(p.parent.name for p in (PROJECT_ROOT / "rules").glob("*/areas.yaml"))
    return "PK" if "pk" in packs else packs[0].upper()


def run(env: dict[str, str], *args: str) -> Result:
    """Invoke `sw-mis ARGS` and fail with its output if it exits non-zero."""
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def count(env: dict[str, str], model: type) -> int:
    engine = make_engine(env["SW_MIS_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(model)) or 0
    finally:
        engine.dispose()


def test_db_upgrade_creates_the_schema(env: dict[str, str]) -> None:
    result = run(env, "db", "upgrade")
    assert "upgraded to head" in result.output
    assert count(env, Household) == 0
    run(env, "db", "upgrade")  # a second run is a no-op, not an error


def test_users_create(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    result = run(
        env, "users", "create", "--username", "amina", "--password", "a-long-password",
        "--role", "admin",
    )  # fmt: skip
    assert "user amina created (admin)" in result.output
    engine = make_engine(env["SW_MIS_DATABASE_URL"])
    with engine.connect() as conn:
        row = conn.execute(select(User.role, User.password_hash).where(User.username == "amina"))
        role, password_hash = row.one()
    engine.dispose()
    assert role == "admin"
    assert password_hash.startswith("$argon2id$")  # hashed, never stored as typed


def test_users_create_refuses_a_clerk_without_office(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    result = CliRunner().invoke(
        main,
        ["users", "create", "--username", "c", "--password", "a-long-password", "--role", "clerk"],
        env=env,
    )
    assert result.exit_code != 0
    assert "office" in result.output
    assert count(env, User) == 0


def test_seed_adds_households_with_members(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    result = run(env, "seed", "--households", "50", "--country", seed_country())
    assert "50 households seeded" in result.output
    assert count(env, Household) == 50
    assert 50 <= count(env, Member) <= 500
    run(
        env, "seed", "--households", "50", "--seed", "2", "--country", seed_country()
    )  # adds to, never clashes with, the first
    assert count(env, Household) == 100


def test_demo_prepares_logins_and_is_idempotent(env: dict[str, str]) -> None:
    first = run(env, "demo", "--no-serve", "--households", "20")
    for role in ("clerk", "supervisor", "programme_officer", "data_manager", "auditor", "admin"):
        assert role in first.output
    second = run(env, "demo", "--no-serve", "--households", "20")
    assert second.output == first.output
    assert count(env, Household) == 20
    assert count(env, User) == 6
    assert count(env, Office) == 2


def test_screen_prints_the_same_json_as_the_api(env: dict[str, str]) -> None:
    from sw_mis import create_app
    from sw_mis.eligibility.service import eligibility_report

    run(env, "db", "upgrade")
    run(env, "seed", "--households", "20", "--country", "PK")
    engine = make_engine(env["SW_MIS_DATABASE_URL"])
    with engine.connect() as conn:
        ref = conn.scalar(select(Household.ref).order_by(Household.id))
    engine.dispose()
    printed = json.loads(run(env, "screen", ref, "--as-of", "2025-06-01").output)
    app = create_app(env)
    with app.app_context():
        from sw_mis.db import get_session

        household = get_session().scalar(select(Household).where(Household.ref == ref))
        expected = eligibility_report(household, dt.date(2025, 6, 1))
    assert printed == json.loads(json.dumps(expected))
    assert printed["household"] == ref and len(printed["results"]) >= 15


def test_screen_all_stores_outcomes_and_refuses_unknown_schemes(env: dict[str, str]) -> None:
    from sw_mis.eligibility.models import ScreeningCount, ScreeningResult, ScreeningRun

    run(env, "db", "upgrade")
    run(env, "seed", "--households", "30", "--country", "PK")
    summary = json.loads(run(env, "screen-all", "--as-of", "2025-06-01").output)
    assert summary["households"] == 30
    assert count(env, ScreeningRun) == 1
    assert count(env, ScreeningResult) == summary["rows"] > 0
    assert count(env, ScreeningCount) > 0
    assert summary["eligible"] + summary["undetermined"] > 0
    result = CliRunner().invoke(main, ["screen-all", "--scheme", "no-such"], env=env)
    assert result.exit_code != 0 and "unknown scheme" in result.output


def test_purge_applies_the_retention_policy_once(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    run(env, "seed", "--households", "10", "--country", "PK")
    engine = make_engine(env["SW_MIS_DATABASE_URL"])
    withdrawn = dt.datetime.now(dt.UTC) - dt.timedelta(days=3 * 365)
    with engine.begin() as conn:
        first = conn.scalar(select(func.min(Household.id)))
        conn.execute(
            Household.__table__.update()
            .where(Household.id == first)
            .values(status="consent_withdrawn", consent_withdrawn_at=withdrawn)
        )
    dry = json.loads(run(env, "purge", "--dry-run").output)
    assert dry["dry_run"] is True and dry["households_erased"] == 1
    done = json.loads(run(env, "purge").output)
    assert done["households_erased"] == 1 and done["on"] == dt.date.today().isoformat()
    assert json.loads(run(env, "purge").output)["households_erased"] == 0
    with engine.connect() as conn:
        names = conn.execute(
            select(Member.given_name, Member.national_id).where(Member.household_id == first)
        ).all()
    engine.dispose()
    assert names and set(names) == {("", None)}
    result = CliRunner().invoke(main, ["purge", "--before", "2999-01-01"], env=env)
    assert result.exit_code != 0 and "after today" in result.output


def test_registry_rekey_names_recomputes_keys_and_is_audited(env: dict[str, str]) -> None:
    from sqlalchemy import update
    from sqlalchemy.orm import Session

    from sw_mis.audit.models import AuditEvent
    from sw_mis.registry.names import name_key

    run(env, "db", "upgrade")
    run(env, "seed", "--households", "5", "--country", seed_country())
    engine = make_engine(env["SW_MIS_DATABASE_URL"])
    try:
        with Session(engine) as session:
            session.execute(update(Member).values(name_key="STALE"))
            session.commit()
        output = run(env, "registry", "rekey-names", "--batch", "4").output
        with Session(engine) as session:
            members = session.scalars(select(Member)).all()
            events = session.scalars(
                select(AuditEvent).where(AuditEvent.action == "registry.rekey_names")
            ).all()
    finally:
        engine.dispose()
    assert f"done: {len(members)} members read, {len(members)} keys changed" in output
    assert all(m.name_key == name_key(m.given_name, m.family_name) for m in members)
    assert len(events) == 1
