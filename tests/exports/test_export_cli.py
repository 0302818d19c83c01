"""`sw-mis export`: every area, identifiers included, audited as the CLI."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from sw_mis.audit.models import AuditEvent
from sw_mis.cli import main
from sw_mis.db import make_engine
from sw_mis.eligibility.loader import load_rules
from tests.exports.conftest import AS_OF, CASH, PENSION, RULES, counter_rows, list_keys, parse_csv


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A seeded SQLite registry screened with the list test pack."""
    env = {
        "SW_MIS_ENV": "testing",
        "SW_MIS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "SW_MIS_SECRET_KEY": "cli-test-" + "x" * 32,
        "SW_MIS_REFERRAL_KEYS": "k1:cli-test-signing-key",
        "SW_MIS_RULES_PATH": str(RULES),
    }
    run(env, "db", "upgrade")
    run(env, "seed", "--households", "150", "--country", "PK")
    return env


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    """Invoke `sw-mis ARGS`; check its exit code; return its output."""
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.mark.parametrize("scheme", [CASH, PENSION])
def test_cli_csv_matches_the_counter_back_end(
    env: dict[str, str], tmp_path: Path, scheme: str
) -> None:
    out = tmp_path / "list.csv"
    output = run(
        env, "export", scheme, "--format", "csv", "--as-of", AS_OF.isoformat(), "-o", str(out)
    )
    rows = parse_csv(out.read_bytes())
    assert f"{len(rows)} row(s) written" in output
    engine = make_engine(env["SW_MIS_DATABASE_URL"])
    try:
        with Session(engine) as session:
            everyone = SimpleNamespace(role="admin")
            expected = counter_rows(session, load_rules(RULES), everyone, scheme, "eligible")
            assert expected, "the seeded registry should put someone on the list"
            assert list_keys(rows) == expected
            assert "Head's National ID number" in rows[0]  # the CLI sees identifiers
            event = session.scalars(
                select(AuditEvent).where(AuditEvent.action == "export.csv")
            ).one()
            assert event.username == "cli" and event.details["rows"] == len(rows)
    finally:
        engine.dispose()


@pytest.mark.parametrize("fmt", ["xlsx", "pdf"])
def test_cli_other_formats(env: dict[str, str], tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"list.{fmt}"
    run(
        env,
        "export",
        CASH,
        "--format",
        fmt,
        "--outcome",
        "undetermined",
        "--as-of",
        AS_OF.isoformat(),
        "--admin1",
        "PK-PB",
        "-o",
        str(out),
    )
    magic = b"PK\x03\x04" if fmt == "xlsx" else b"%PDF"
    assert out.read_bytes().startswith(magic)
    assert not Path(str(out) + ".part").exists()


def test_cli_refuses_unknown_scheme_and_leaves_no_file(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "list.csv"
    assert "No scheme" in run(env, "export", "nope", "-o", str(out), code=1)
    assert not out.exists() and not Path(str(out) + ".part").exists()
