"""Counter screens: list, search, register, view, edit, life events and merge.

Views stay thin: read the form, call one service, then redirect or re-render. A refused form
is re-rendered with everything typed and answered with 422, so the request edge rolls back.
"""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from sw_mis.auth.access import ALL_ROLES, allow
from sw_mis.auth.models import Area
from sw_mis.db import get_session
from sw_mis.referrals.services import household_referrals
from sw_mis.registry import presenters, services
from sw_mis.registry.errors import (
    ConflictError,
    Forbidden,
    LikelyDuplicates,
    NotFound,
    ValidationError,
)
from sw_mis.registry.fields import HOUSEHOLD_FIELDS, MEMBER_FIELDS
from sw_mis.registry.forms import (
    LOCATION,
    BirthForm,
    ConsentWithdrawalForm,
    DeparturesForm,
    EnrolmentForm,
    JoinForm,
    MergeForm,
    MoveForm,
    SearchForm,
    apply_errors,
    choice_list,
    error_summary,
    form_to_data,
    household_form_class,
    household_sections,
    member_form_class,
    member_sections,
    shown_names,
)
from sw_mis.registry.models import Household
from sw_mis.registry.search import list_households, search_households

bp = Blueprint("registry", __name__)


@bp.app_template_filter("record_status")
def record_status(status: str) -> str:
    """Return a household, member or enrolment status in the page's language."""
    return presenters.status_label(status)


EDIT_ROLES = tuple(sorted(services.EDIT_ROLES))
MERGE_ROLES = tuple(sorted(services.MERGE_ROLES))
READ_ROLES = tuple(sorted(ALL_ROLES))


# --- helpers -------------------------------------------------------------------------------


def _country() -> str:
    """Return the country the user registers in: their office's, else the first with areas."""
    office = getattr(current_user, "office", None)
    if office is not None:
        return office.country
    first = get_session().scalar(select(Area.country).order_by(Area.country).limit(1))
    return first or "PK"


def _household_or_404(ref: str) -> Household:
    try:
        return services.get_household(get_session(), current_user, ref)
    except NotFound as exc:
        abort(404, description=str(exc))


def _set_area_choices(form: Any, country: str) -> None:
    db = get_session()
    for level, code in enumerate(LOCATION, start=1):
        form[code].choices = choice_list(presenters.area_choices(db, current_user, country, level))


def _render_household_form(template_form: Any, **context: Any) -> str:
    form = template_form
    names = context.pop("names")
    # A blank row for the 'add member' script, named like FieldList entries.
    blank = member_form_class(names)(prefix="members-__index__-")
    return render_template(
        "registry/form.html",
        form=form,
        sections=household_sections(form),
        member_sections=member_sections,
        blank_member=blank,
        summary=error_summary(form) + [("", "", m) for m in context.pop("orphans", [])],
        may_override=current_user.role in services.OVERRIDE_ROLES,
        **context,
    )


def _version(form: Any) -> int | None:
    try:
        return int(form.version.data)
    except (TypeError, ValueError):
        return None


# --- list and search -----------------------------------------------------------------------


@bp.get("/")
@allow(*READ_ROLES)
def index():  # type: ignore[no-untyped-def]
    """List the households the user sees, newest first, with a search box."""
    page = list_households(get_session(), current_user, request.args.get("page", 1))
    return _list_page(page, SearchForm(), searched=False)


@bp.post("/search")
@allow(*READ_ROLES)
def search():  # type: ignore[no-untyped-def]
    """Search by reference, national ID or name; the term travels in the POST body only."""
    form = SearchForm()
    if not form.validate():
        page = list_households(get_session(), current_user)
        return render_template("registry/index.html", result=page, form=form, searched=False), 422
    result = search_households(get_session(), current_user, form.q.data, form.page.data or 1)
    if result.kind == "ref" and len(result.items) == 1:
        return redirect(url_for(".household", ref=result.items[0].ref))
    return _list_page(result, form, searched=True)


def _list_page(result: Any, form: SearchForm, *, searched: bool) -> str:
    return render_template(
        "registry/index.html",
        result=result,
        form=form,
        searched=searched,
        may_register=current_user.role in services.EDIT_ROLES,
    )


# --- register and edit ---------------------------------------------------------------------


@bp.route("/households/new", methods=["GET", "POST"])
@allow(*EDIT_ROLES)
def register():  # type: ignore[no-untyped-def]
    """Register a household and its members on one page."""
    country = _country()
    names = shown_names(country)
    form = household_form_class(names)()
    _set_area_choices(form, country)
    form.admin1.render_kw = {"autofocus": True}
    context: dict[str, Any] = {"names": names, "title": _("Register a household"), "editing": False}
    if request.method == "GET":
        form.members[0].form.relationship_to_head.data = "head"
        return _render_household_form(form, **context)
    if form.add_member.data:  # the no-JavaScript way to add a row
        form.members.append_entry()
        return _render_household_form(form, **context)
    status = 422
    if form.validate():
        data, rows = form_to_data(form, country)
        try:
            household = services.register_household(
                get_session(),
                current_user,
                data,
                confirm_not_duplicate=bool(form.confirm_not_duplicate.data),
                override_reason=form.override_reason.data or None,
            )
        except ValidationError as exc:
            context["orphans"] = apply_errors(form, exc.errors, rows)
        except LikelyDuplicates as exc:
            for candidate in exc.candidates:
                candidate["form_row"] = rows[candidate["row"]] + 1
            context["duplicates"] = exc.candidates
        except Forbidden as exc:
            abort(403, description=str(exc))
        else:
            flash(_("Household %(ref)s registered.", ref=household.ref), "success")
            return redirect(url_for(".household", ref=household.ref))
    return _render_household_form(form, **context), status


def _edit_data(household: Household) -> dict[str, Any]:
    data: dict[str, Any] = {f.name: getattr(household, f.name) for f in HOUSEHOLD_FIELDS}
    data["version"] = household.version
    data["members"] = [
        {
            "id": m.id,
            "given_name": m.given_name,
            "family_name": m.family_name,
            **{f.name: getattr(m, f.name) for f in MEMBER_FIELDS},
        }
        for m in household.current_members
    ]
    return data


@bp.route("/households/<ref>/edit", methods=["GET", "POST"])
@allow(*EDIT_ROLES)
def edit(ref: str):  # type: ignore[no-untyped-def]
    """Correct a household's facts and roster; a stale version is refused, nothing lost."""
    household = _household_or_404(ref)
    names = shown_names(household.country)
    cls = household_form_class(names)
    form = cls(data=_edit_data(household)) if request.method == "GET" else cls()
    _set_area_choices(form, household.country)
    form.locality.render_kw = {"autofocus": True}  # the area changes through 'move'
    context: dict[str, Any] = {
        "names": names,
        "title": _("Edit household %(ref)s", ref=household.ref),
        "editing": True,
        "household": household,
    }
    if request.method == "GET":
        return _render_household_form(form, **context)
    if form.add_member.data:
        form.members.append_entry()
        return _render_household_form(form, **context)
    status = 422
    if form.validate():
        data, rows = form_to_data(form, household.country)
        for key in ("country", "consent_given", "consent_date", *LOCATION):
            data.pop(key, None)
        try:
            services.update_household(
                get_session(),
                current_user,
                household,
                data,
                version=_version(form),
                replace_members=True,
                override_reason=form.override_reason.data or None,
            )
        except ValidationError as exc:
            context["orphans"] = apply_errors(form, exc.errors, rows)
        except ConflictError as exc:
            context["orphans"] = [str(exc)]
            status = 409
        except Forbidden as exc:
            abort(403, description=str(exc))
        else:
            flash(_("Changes saved."), "success")
            return redirect(url_for(".household", ref=household.ref))
    return _render_household_form(form, **context), status


# --- the household page --------------------------------------------------------------------


@bp.get("/households/<ref>")
@allow(*READ_ROLES)
def household(ref: str):  # type: ignore[no-untyped-def]
    """Show a household: members with ages, facts ('not known' when blank), history."""
    db = get_session()
    try:
        hh = services.view_household(db, current_user, ref)
    except NotFound as exc:
        abort(404, description=str(exc))
    names = shown_names(hh.country)
    referrals = household_referrals(db, hh)
    merged_into = db.get(Household, hh.merged_into_id) if hh.merged_into_id else None
    return render_template(
        "registry/household.html",
        household=hh,
        merged_into=merged_into,
        areas=presenters.area_names(db, [hh.admin1, hh.admin2, hh.admin3]),
        members=presenters.member_rows(hh),
        household_facts=presenters.fact_rows(hh, "household", names),
        member_facts={m.id: presenters.fact_rows(m, "member", names) for m in hh.members},
        history=presenters.history_rows(db, services.history(db, hh)),
        referrals=referrals,
        may_edit=current_user.role in services.EDIT_ROLES and hh.status == "active",
        may_merge=current_user.role in services.MERGE_ROLES and hh.status == "active",
        may_protect=current_user.role in services.CONSENT_ROLES,
        has_eligibility="eligibility.household" in current_app.view_functions,
    )


# --- life events ---------------------------------------------------------------------------


def _event(household: Household, form: Any, title: str, action: Any, done: str, status: int = 422):  # type: ignore[no-untyped-def]
    """Run a life-event form: on POST call ``action``; errors go next to the fields."""
    orphans: list[str] = []
    if request.method == "POST" and form.validate():
        try:
            action()
        except ValidationError as exc:
            orphans = _apply_simple(form, exc.errors)
        except ConflictError as exc:
            orphans, status = [str(exc)], 409
        except Forbidden as exc:
            orphans, status = [str(exc)], 403
        except NotFound as exc:
            orphans = [str(exc)]
        else:
            flash(done, "success")
            return redirect(url_for(".household", ref=household.ref))
    if request.method == "GET":
        if "version" in form:
            form.version.data = str(household.version)
        status = 200
    return render_template(
        "registry/event.html",
        form=form,
        household=household,
        title=title,
        summary=error_summary(form) + [("", "", m) for m in orphans],
    ), status


def _apply_simple(form: Any, errors: dict[str, list[str]]) -> list[str]:
    orphans = []
    for path, messages in errors.items():
        field = form._fields.get(path)
        if field is None:
            orphans.extend(messages)
        else:
            field.errors = [*field.errors, *messages]
    return orphans


def _member_choices(household: Household, blank: str | None = None) -> list[Any]:
    choices = [("", blank)] if blank else []
    members = [(str(m.id), f"{m.full_name} (#{m.id})") for m in household.current_members]
    return choice_list(choices + members)


@bp.route("/households/<ref>/birth", methods=["GET", "POST"])
@allow(*EDIT_ROLES)
def birth(ref: str):  # type: ignore[no-untyped-def]
    """Record a birth in the household."""
    hh = _household_or_404(ref)
    form = BirthForm()

    def action() -> None:
        services.record_birth(
            get_session(),
            current_user,
            hh,
            {
                "given_name": form.given_name.data,
                "family_name": form.family_name.data,
                "sex": form.sex.data,
                "date_of_birth": form.date_of_birth.data,
            },
            version=_version(form),
        )

    return _event(hh, form, _("Record a birth"), action, _("Birth recorded."))


@bp.route("/households/<ref>/death", methods=["GET", "POST"])
@allow(*EDIT_ROLES)
def death(ref: str):  # type: ignore[no-untyped-def]
    """Record the death of a member; their record is kept."""
    return _departure(
        ref, services.record_death, _("Record the death"), _("Record a death"), _("Death recorded.")
    )


@bp.route("/households/<ref>/leave", methods=["GET", "POST"])
@allow(*EDIT_ROLES)
def leave(ref: str):  # type: ignore[no-untyped-def]
    """Record that a member left the household."""
    return _departure(
        ref,
        services.member_leaves,
        _("Record the departure"),
        _("A member leaves"),
        _("Departure recorded."),
    )


def _departure(ref: str, service: Any, submit: str, title: str, done: str):  # type: ignore[no-untyped-def]
    """Show and handle the form of a member's death or departure (same fields, same rules)."""
    hh = _household_or_404(ref)
    form = DeparturesForm()
    form.member_id.choices = _member_choices(hh)
    form.new_head_id.choices = _member_choices(hh, _("No change"))
    form.submit.label.text = submit

    def action() -> None:
        service(
            get_session(),
            current_user,
            hh,
            form.member_id.data,
            date=form.date.data,
            new_head_id=form.new_head_id.data or None,
            reason=form.reason.data,
            version=_version(form),
        )

    return _event(hh, form, title, action, done)


@bp.route("/households/<ref>/withdraw-consent", methods=["GET", "POST"])
@allow(*services.CONSENT_ROLES)
def withdraw_consent(ref: str):  # type: ignore[no-untyped-def]
    """Record that the family withdrew its consent to data processing."""
    hh = _household_or_404(ref)
    form = ConsentWithdrawalForm()

    def action() -> None:
        services.withdraw_consent(
            get_session(), current_user, hh, reason=form.reason.data, version=_version(form)
        )

    return _event(
        hh,
        form,
        _("Withdraw consent"),
        action,
        _("Consent withdrawn: the household is no longer screened or listed."),
    )


@bp.get("/households/<ref>/personal-data.json")
@allow(*services.CONSENT_ROLES)
def personal_data(ref: str):  # type: ignore[no-untyped-def]
    """Download everything held about a household, for the people it concerns."""
    hh = _household_or_404(ref)
    body = json.dumps(
        services.personal_data(get_session(), current_user, hh), ensure_ascii=False, indent=2
    )
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{hh.ref}-personal-data.json"'},
    )


@bp.route("/households/<ref>/join", methods=["GET", "POST"])
@allow(*EDIT_ROLES)
def join(ref: str):  # type: ignore[no-untyped-def]
    """Add a member: someone moving from another household, or a new person."""
    hh = _household_or_404(ref)
    form = JoinForm()
    if request.method == "GET":
        form.relationship_to_head.data = "other_relative"

    def action() -> None:
        if form.from_ref.data:
            services.member_joins(
                get_session(),
                current_user,
                hh,
                from_ref=form.from_ref.data,
                from_member_id=form.from_member_id.data,
                relationship=form.relationship_to_head.data,
                date=form.date.data,
                version=_version(form),
            )
            return
        services.member_joins(
            get_session(),
            current_user,
            hh,
            data={
                "given_name": form.given_name.data,
                "family_name": form.family_name.data,
                "sex": form.sex.data,
                "date_of_birth": form.date_of_birth.data,
                "relationship_to_head": form.relationship_to_head.data,
            },
            version=_version(form),
        )

    return _event(hh, form, _("A member joins"), action, _("Member added."))


@bp.route("/households/<ref>/move", methods=["GET", "POST"])
@allow(*EDIT_ROLES)
def move(ref: str):  # type: ignore[no-untyped-def]
    """Move the household to another area (another office's area: supervisors only)."""
    hh = _household_or_404(ref)
    form = MoveForm()
    db = get_session()
    # A supervisor may move a household anywhere in the country; others within their areas.
    viewer = None if current_user.role in services.MOVE_OFFICE_ROLES else current_user
    for level, code in enumerate(LOCATION, start=1):
        form[code].choices = choice_list(presenters.area_choices(db, viewer, hh.country, level))
    if request.method == "GET":
        for key in ("admin1", "admin2", "admin3", "locality", "address"):
            form[key].data = getattr(hh, key)

    def action() -> None:
        services.move_household(
            db,
            current_user,
            hh,
            {k: form[k].data for k in ("admin1", "admin2", "admin3", "locality", "address")},
            version=_version(form),
            reason=form.reason.data,
        )

    return _event(hh, form, _("Move the household"), action, _("Household moved."))


@bp.route("/households/<ref>/merge", methods=["GET", "POST"])
@allow(*MERGE_ROLES)
def merge(ref: str):  # type: ignore[no-untyped-def]
    """Merge a confirmed duplicate record into this household (data managers)."""
    hh = _household_or_404(ref)
    form = MergeForm()

    def action() -> None:
        other = services.get_household(get_session(), current_user, form.other_ref.data)
        services.merge_households(
            get_session(),
            current_user,
            hh,
            other,
            reason=form.reason.data,
            version=_version(form),
        )

    return _event(hh, form, _("Merge a duplicate record"), action, _("Records merged."))


@bp.route("/households/<ref>/enrolments", methods=["GET", "POST"])
@allow(*EDIT_ROLES)
def enrol(ref: str):  # type: ignore[no-untyped-def]
    """Record an enrolment in an existing programme."""
    hh = _household_or_404(ref)
    form = EnrolmentForm()
    form.member_id.choices = _member_choices(hh, _("The whole household"))

    def action() -> None:
        services.add_enrolment(
            get_session(),
            current_user,
            hh,
            {
                "scheme_id": form.scheme_id.data,
                "member_id": form.member_id.data,
                "status": form.status.data,
                "start_date": form.start_date.data,
                "end_date": form.end_date.data,
            },
        )

    return _event(hh, form, _("Record an enrolment"), action, _("Enrolment recorded."))
