"""Counter screens: a household's eligibility for every scheme, and the rules pages."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from sw_mis.audit.services import record_event
from sw_mis.auth.access import ALL_ROLES, allow
from sw_mis.db import get_session
from sw_mis.eligibility import presenters
from sw_mis.eligibility.drafts import try_draft
from sw_mis.eligibility.forms import DraftForm
from sw_mis.eligibility.service import household_snapshot, rulebook, screen
from sw_mis.registry.errors import NotFound
from sw_mis.registry.fields import FIELDS_BY_NAME
from sw_mis.registry.models import Household
from sw_mis.registry.services import get_household

bp = Blueprint("eligibility", __name__)


@bp.app_template_global("outcome_label")
def outcome_label(outcome: str) -> str:
    """Return a screening outcome as the counter page names it, in the page's language."""
    title = presenters.OUTCOME_TITLES.get(outcome)
    return str(title) if title is not None else outcome.replace("_", " ")

SCREENING_ROLES = ("clerk", "supervisor", "programme_officer", "data_manager", "auditor", "admin")
RULE_AUTHORS = ("programme_officer", "supervisor", "admin")


def parse_as_of(raw: str | None) -> dt.date:
    """Return the as-of date from a query value (today when blank); 400 on a bad date."""
    if not raw:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        abort(400, description=_("as_of: %(raw)r is not a date (use YYYY-MM-DD).", raw=raw))


def visible_household_or_404(ref: str) -> Household:
    """Return the household ``ref`` if the current user may see it, else 404."""
    try:
        household = get_household(get_session(), current_user, ref)
    except NotFound:
        household = None
    # Only active households are screened: merged or withdrawn ones answer as if absent.
    if household is None or household.status != "active":
        abort(404, description=_("No household with this reference in your area."))
    return household


@bp.get("/households/<ref>/eligibility")
@allow(*SCREENING_ROLES)
def household(ref: str):  # type: ignore[no-untyped-def]
    """Show every scheme of the household's country grouped by outcome, with reasons."""
    hh = visible_household_or_404(ref)
    as_of = parse_as_of(request.args.get("as_of"))
    results = screen(hh, as_of)
    record_event(
        get_session(),
        "household.screen",
        object_type="household",
        object_ref=hh.ref,
        details={"as_of": as_of.isoformat(), "schemes": len(results)},
    )
    groups = presenters.group_by_outcome(rulebook(), hh, results)
    return render_template(
        "eligibility/household.html",
        household=hh,
        as_of=as_of,
        groups=groups,
        rules_version=rulebook().version,
    )


@bp.get("/schemes")
@allow(*ALL_ROLES)
def schemes():  # type: ignore[no-untyped-def]
    """List every loaded scheme by country, with its sources, and any refused pack."""
    book = rulebook()
    return render_template(
        "eligibility/schemes.html",
        packs=sorted(book.packs.values(), key=lambda p: p.name),
        refused=book.refused_packs,
    )


@bp.get("/schemes/<scheme_id>")
@allow(*ALL_ROLES)
def scheme(scheme_id: str):  # type: ignore[no-untyped-def]
    """Show one scheme's criteria in plain words, its dated parameters and sources."""
    found = rulebook().schemes.get(scheme_id)
    if found is None:
        abort(404, description=_("No scheme %(id)r is loaded.", id=scheme_id))
    return render_template(
        "eligibility/scheme.html",
        scheme=found,
        criteria=presenters.describe_criteria(found.criteria),
        facts=[FIELDS_BY_NAME[f] for f in sorted(found.facts) if f in FIELDS_BY_NAME],
    )


@bp.route("/schemes/try", methods=["GET", "POST"])
@allow(*RULE_AUTHORS)
def try_scheme():  # type: ignore[no-untyped-def]
    """Screen a household against a draft rule file without saving anything."""
    form = DraftForm()
    if request.method == "GET":
        source = rulebook().schemes.get(request.args.get("scheme", ""))
        if source is not None:
            form.draft.data = Path(source.file).read_text(encoding="utf-8") if Path(
                source.file).is_file() else ""
        form.as_of.data = form.as_of.data or dt.date.today()
        return render_template("eligibility/try.html", form=form, trial=None)
    if not form.validate_on_submit():
        return render_template("eligibility/try.html", form=form, trial=None), 422
    hh = visible_household_or_404(form.household.data or "")
    trial = try_draft(rulebook(), hh.country, form.draft.data or "", household_snapshot(hh),
                      form.as_of.data or dt.date.today())
    groups = None
    if trial.result is not None and trial.book is not None:
        groups = presenters.group_by_outcome(trial.book, hh, [trial.result])
    return render_template("eligibility/try.html", form=form, trial=trial, groups=groups,
                           household=hh), (422 if trial.errors else 200)
