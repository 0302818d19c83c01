"""The app's view of the rule packs: load them at start-up, refuse broken packs, keep going."""

from __future__ import annotations

import logging

from flask import Flask, current_app

log = logging.getLogger("sw_mis.rules")


def init_rules(app: Flask) -> None:
    """Load the configured rule packs into ``app``; a broken pack is refused, not fatal."""
    from sw_mis.eligibility.loader import load_rulebook

    settings = app.config["SW_MIS"]
    book = load_rulebook(settings.rules_path, packs=settings.rule_packs or None)
    for country, errors in book.refused_packs.items():
        log.error("rule pack %s refused: %d problem(s); first: %s", country, len(errors), errors[0])
    app.extensions["sw_mis.rulebook"] = book


def rulebook():  # type: ignore[no-untyped-def]
    """Return the rule book loaded by the current app."""
    return current_app.extensions["sw_mis.rulebook"]
