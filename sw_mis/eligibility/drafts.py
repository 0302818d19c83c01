"""Try a draft scheme file against a household without saving it.

The draft is loaded by the same loader as the shipped packs (so it gets the same `file:line`
errors), in a scratch copy of its country's pack where it replaces the scheme of the same id.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sw_mis.eligibility.book import RuleBook
from sw_mis.eligibility.engine import SchemeResult, screen_household
from sw_mis.eligibility.loader import load_rules

MAX_DRAFT_BYTES = 200_000


@dataclass
class DraftTrial:
    """What trying a draft gave: load errors, or the result for the household."""

    errors: list[str] = field(default_factory=list)
    result: SchemeResult | None = None
    book: RuleBook | None = None
    scheme_id: str = ""


def _draft_id(text: str) -> str | None:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    scheme_id = data.get("id") if isinstance(data, dict) else None
    return scheme_id if isinstance(scheme_id, str) and scheme_id.strip() else None


def try_draft(book: RuleBook, country: str, text: str, household: dict[str, Any],
              as_of: dt.date) -> DraftTrial:
    """Load ``text`` as a scheme of ``country``'s pack and screen ``household`` with it."""
    if len(text.encode()) > MAX_DRAFT_BYTES:
        return DraftTrial(errors=[f"draft:1: the draft is larger than {MAX_DRAFT_BYTES} bytes"])
    pack = book.packs.get(country.upper())
    if pack is None:
        return DraftTrial(errors=[f"draft:1: no rule pack is loaded for country {country!r}"])
    scheme_id = _draft_id(text)
    if scheme_id is None:
        # Let the loader explain (bad YAML, no id) with its own line numbers.
        scheme_id = "draft-scheme"
    if "/" in scheme_id or "\\" in scheme_id or scheme_id.startswith("."):
        return DraftTrial(errors=[f"draft:1: '{scheme_id}' is not a valid scheme id"])
    with tempfile.TemporaryDirectory(prefix="sw-mis-draft-") as scratch:
        root = Path(scratch) / "rules"
        folder = root / pack.path.name
        shutil.copytree(pack.path, folder)
        if (book.root / "derived.yaml").is_file():
            shutil.copy(book.root / "derived.yaml", root / "derived.yaml")
        for old in (folder / f"{scheme_id}.yaml", folder / f"{scheme_id}.test.yaml"):
            old.unlink(missing_ok=True)
        (folder / f"{scheme_id}.yaml").write_text(text, encoding="utf-8")
        draft_book = load_rules(root)
    if draft_book.errors:
        return DraftTrial(errors=[_relative(str(e), scheme_id) for e in draft_book.errors],
                          scheme_id=scheme_id)
    results = screen_household(draft_book, {**household, "country": country.upper()}, as_of,
                               schemes=[scheme_id])
    if not results:
        return DraftTrial(errors=[f"draft:1: the scheme is not in force on {as_of.isoformat()}"],
                          book=draft_book, scheme_id=scheme_id)
    return DraftTrial(result=results[0], book=draft_book, scheme_id=scheme_id)


def _relative(message: str, scheme_id: str) -> str:
    # Paths in errors point into the scratch copy; show them as the officer's draft.
    marker = f"{scheme_id}.yaml:"
    if marker in message:
        return "draft:" + message.split(marker, 1)[1]
    return message
