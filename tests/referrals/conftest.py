"""Referral fixtures: a small test rule pack, users per role and households that qualify."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
from factories import make_household, make_user, member_data
from flask import Flask
from sqlalchemy.orm import Session

from sw_mis.eligibility.loader import load_rules

RULES = Path(__file__).parent / "rules"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
REQUIRE_TOOLS = os.environ.get("CI", "").lower() == "true"

URDU_HEAD = ("محمد", "عمران خان")
URDU_MEMBER = ("ٹیپو", "سلطان")


def normalise(text: str) -> str:
    """Normalise PDF text for comparison: NFKC (folds Arabic presentation forms), one space."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def contains_rtl(page: str, text: str) -> bool:
    """Return True if ``text`` is on the page in logical or display order (extractors differ)."""
    from sw_mis.referrals.slips import shape

    return normalise(text) in page or normalise(shape(text)) in page


def need_tool(name: str) -> str:
    """Return the path of a command-line tool; skip without it (fail in CI)."""
    path = shutil.which(name)
    if path is None:
        if REQUIRE_TOOLS:
            pytest.fail(f"{name} is required in CI (Debian zbar-tools / poppler-utils)")
        pytest.skip(f"{name} not installed")
    return path


def render_png(pdf: bytes, tmp_path: Path, name: str = "slip", dpi: int = 150) -> Path:
    """Render the first page of ``pdf`` to PNG with pdftoppm; return the file."""
    pdftoppm = need_tool("pdftoppm")
    source = tmp_path / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run(  # noqa: S603 - fixed arguments, our own file
        [
            pdftoppm,
            "-r",
            str(dpi),
            "-png",
            "-singlefile",
            "-f",
            "1",
            "-l",
            "1",
            str(source),
            str(tmp_path / name),
        ],
        check=True,
    )
    return tmp_path / f"{name}.png"


def decode_codes(png: Path) -> list[str]:
    """Return every barcode and QR code zbarimg finds in ``png``, as 'TYPE:data'."""
    zbarimg = need_tool("zbarimg")
    result = subprocess.run(  # noqa: S603 - fixed arguments, our own file
        [zbarimg, "--quiet", str(png)], capture_output=True, text=True, check=False
    )
    return [line for line in result.stdout.splitlines() if line]


@pytest.fixture(scope="session")
def book():
    """The referral test rule pack (PK: one household scheme, one member scheme)."""
    loaded = load_rules(RULES)
    assert not loaded.errors, loaded.errors
    return loaded


@pytest.fixture
def ref_app(app: Flask, book, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """The app, screening with the test rule pack."""
    monkeypatch.setitem(app.extensions, "sw_mis.rulebook", book)
    return app


@pytest.fixture
def settings(app: Flask):
    return app.config["SW_MIS"]


@pytest.fixture
def clerk(db_session: Session):
    return make_user(db_session, "clerk")


@pytest.fixture
def supervisor(db_session: Session, clerk):
    return make_user(db_session, "supervisor", clerk.office)


@pytest.fixture
def officer(db_session: Session, clerk):
    return make_user(db_session, "programme_officer", clerk.office)


def poor_household(session: Session, user, **overrides):
    """Register a household eligible for pk-test-cash (and, with a 70-year-old, the pension)."""
    data = {
        "in_social_registry": True,
        "pmt_score": 20,
        "owns_motor_vehicle": False,
    }
    data.update(overrides)
    return make_household(session, user, **data)


@pytest.fixture
def household(db_session: Session, clerk):
    return poor_household(
        db_session,
        clerk,
        members=[
            member_data(
                given_name=URDU_HEAD[0],
                family_name=URDU_HEAD[1],
                sex="male",
                date_of_birth=dt.date(1950, 3, 1),
                receives_pension=False,
            ),
            member_data(
                given_name="Amina",
                family_name="Bibi",
                relationship_to_head="spouse",
                marital_status="married",
                date_of_birth=dt.date(1960, 1, 1),
                receives_pension=True,
            ),
            member_data(
                given_name=URDU_MEMBER[0],
                family_name=URDU_MEMBER[1],
                sex="male",
                relationship_to_head="child",
                marital_status="never_married",
                date_of_birth=dt.date(2012, 6, 1),
            ),
        ],
    )
