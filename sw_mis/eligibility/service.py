"""The app's side of eligibility: load the rule packs, screen a registered household, and
store the determinations clerks act on."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from flask import Flask, current_app
from sqlalchemy.orm import Session

from sw_mis.eligibility.models import Determination
from sw_mis.registry.fields import HOUSEHOLD_FIELDS, MEMBER_FIELDS
from sw_mis.registry.models import Household

log = logging.getLogger("sw_mis.rules")


def init_rules(app: Flask) -> None:
    """Load the configured rule packs into ``app``; a broken pack is refused, not fatal."""
    from sw_mis.eligibility.loader import load_rules

    settings = app.config["SW_MIS"]
    book = load_rules(settings.rules_path)
    if settings.rule_packs:
        wanted = {p.upper() for p in settings.rule_packs}
        book.packs = {cc: pack for cc, pack in book.packs.items() if cc in wanted}
        book.schemes = {sid: s for sid, s in book.schemes.items() if s.country in wanted}
    for country, errors in book.refused_packs.items():
        log.error("rule pack %s refused: %d problem(s); first: %s", country, len(errors), errors[0])
    app.extensions["sw_mis.rulebook"] = book


def rulebook():  # type: ignore[no-untyped-def]
    """Return the rule book loaded by the current app."""
    return current_app.extensions["sw_mis.rulebook"]


def _plain(value: Any) -> Any:
    # The engine works on floats; Decimal comes from NUMERIC columns.
    return float(value) if isinstance(value, Decimal) else value


def household_snapshot(household: Household) -> dict[str, Any]:
    """Return the engine's input for ``household``: its facts, present members, enrolments."""
    snap: dict[str, Any] = {f.name: _plain(getattr(household, f.name)) for f in HOUSEHOLD_FIELDS}
    snap["ref"] = household.ref
    snap["country"] = household.country
    snap["members"] = [
        {
            "id": str(m.id),
            "status": m.status,
            "given_name": m.given_name,
            "family_name": m.family_name,
            **{f.name: _plain(getattr(m, f.name)) for f in MEMBER_FIELDS},
        }
        for m in household.members
        if m.status == "present"
    ]
    snap["enrolments"] = [
        {
            "scheme": e.scheme_id,
            "status": e.status,
            "start_date": e.start_date,
            "end_date": e.end_date,
        }
        for e in household.enrolments
    ]
    return snap


def jsonable(value: Any) -> Any:
    """Return ``value`` with dates as ISO strings, for JSON columns and API bodies."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def screen(household: Household, as_of: dt.date, scheme_ids: list[str] | None = None) -> list[Any]:
    """Screen ``household`` against its country's schemes (or ``scheme_ids``) as of a date."""
    from sw_mis.eligibility.engine import screen_household

    return screen_household(rulebook(), household_snapshot(household), as_of, schemes=scheme_ids)


def eligibility_report(household: Household, as_of: dt.date) -> dict[str, Any]:
    """Return the API/CLI eligibility document of ``household`` as of a date."""
    results = screen(household, as_of)
    return {
        "household": household.ref,
        "as_of": as_of.isoformat(),
        "rules_version": rulebook().version,
        "results": [jsonable(r.to_dict()) for r in results],
    }


def record_determination(
    session: Session, user: Any, household: Household, result: Any, as_of: dt.date
) -> Determination:
    """Freeze a screening a clerk acts on: outcome, rules version, parameters, inputs, trace."""
    data = jsonable(result.to_dict())
    determination = Determination(
        household_id=household.id,
        scheme_id=data["scheme"],
        outcome=data["outcome"],
        as_of=as_of,
        rules_version=rulebook().version,
        parameters=jsonable(data.get("parameters", {})),
        input_snapshot=jsonable(household_snapshot(household)),
        trace={
            "criteria": data.get("criteria", []),
            "members": data.get("members", []),
            "benefit": data.get("benefit"),
        },
        missing=[m["path"] for m in data.get("missing", [])],
        user_id=getattr(user, "id", None),
    )
    session.add(determination)
    session.flush()
    return determination
