"""`sw-mis referral` and `sw-mis expire-referrals` against a temporary SQLite database."""

from __future__ import annotations

import io
from pathlib import Path

from click.testing import CliRunner
from factories import make_user
from pypdf import PdfReader
from sqlalchemy.orm import Session

from sw_mis.cli import main
from sw_mis.db import make_engine
from tests.referrals.conftest import RULES, normalise, poor_household


def test_referral_command_issues_and_writes_the_slip(tmp_path: Path):
    env = {
        "SW_MIS_ENV": "testing",
        "SW_MIS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "SW_MIS_SECRET_KEY": "cli-test-" + "x" * 32,
        "SW_MIS_REFERRAL_KEYS": "k1:cli-test-signing-key",
        "SW_MIS_RULES_PATH": str(RULES),
    }
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    engine = make_engine(env["SW_MIS_DATABASE_URL"])
    with Session(engine) as session:
        clerk = make_user(session, "clerk", username="cli-clerk")
        household_ref = poor_household(session, clerk).ref
        session.commit()
    engine.dispose()

    out = tmp_path / "slip.pdf"
    result = runner.invoke(
        main,
        ["referral", household_ref, "pk-test-cash", "--user", "cli-clerk", "-o", str(out)],
        env=env,
    )
    assert result.exit_code == 0, result.output
    ref = result.output.split()[1]
    text = normalise(PdfReader(io.BytesIO(out.read_bytes())).pages[0].extract_text())
    assert ref in text and household_ref in text and "Test cash transfer" in text

    again = runner.invoke(
        main,
        ["referral", household_ref, "pk-test-cash", "-o", str(out)],
        env={**env, "SW_MIS_CLI_USER": "cli-clerk"},
    )
    assert again.exit_code != 0 and "still open" in again.output

    expired = runner.invoke(main, ["expire-referrals", "--on", "2999-01-01"], env=env)
    assert expired.exit_code == 0 and "1 referral(s) expired" in expired.output
