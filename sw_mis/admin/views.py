"""Administration screens: users, offices and areas. Admins only; every change is audited."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm

from sw_mis.admin import services
from sw_mis.admin.forms import (
    AreaLoadForm,
    OfficeCreateForm,
    OfficeForm,
    PasswordResetForm,
    UserCreateForm,
    UserEditForm,
)
from sw_mis.auth.access import allow
from sw_mis.auth.models import Office, User
from sw_mis.db import get_session

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _show_error(form: FlaskForm, exc: services.UserError) -> None:
    """Put a service's ``"field: message"`` error next to its field (or on the form)."""
    field_name, _, message = str(exc).partition(": ")
    field = getattr(form, field_name, None) if message else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, message]
    else:
        form.form_errors.append(str(exc))


def _render(template: str, form: FlaskForm, **context: object):  # type: ignore[no-untyped-def]
    """Render a form page: 422 when the submitted form was refused, else 200."""
    status = 422 if request.method == "POST" else 200
    return render_template(template, form=form, **context), status


@bp.get("/")
@allow("admin")
def index():  # type: ignore[no-untyped-def]
    """Show the administration overview."""
    db = get_session()
    return render_template(
        "admin/index.html",
        users=len(services.list_users(db)),
        offices=len(services.list_offices(db)),
        area_counts=services.area_counts(db),
    )


@bp.get("/users")
@allow("admin")
def users():  # type: ignore[no-untyped-def]
    """List user accounts."""
    return render_template("admin/users.html", users=services.list_users(get_session()))


@bp.route("/users/new", methods=["GET", "POST"])
@allow("admin")
def user_new():  # type: ignore[no-untyped-def]
    """Create a user account."""
    db = get_session()
    form = UserCreateForm()
    form.set_offices(services.office_choices(db))
    if form.validate_on_submit():
        try:
            user = services.add_user(
                db,
                actor=current_user,
                username=form.username.data,
                password=form.password.data,
                role=form.role.data,
                office_code=form.office.data or None,
                full_name=form.full_name.data or "",
            )
        except services.UserError as exc:
            _show_error(form, exc)
        else:
            flash(_("User %(name)s created.", name=user.username), "success")
            return redirect(url_for("admin.users"))
    return _render("admin/user_form.html", form, user=None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@allow("admin")
def user_edit(user_id: int):  # type: ignore[no-untyped-def]
    """Change a user's role, office and active flag."""
    db = get_session()
    user = db.get(User, user_id) or abort(404)
    form = UserEditForm(
        obj=user if request.method == "GET" else None,
        data={"office": user.office.code if user.office else ""}
        if request.method == "GET"
        else None,
    )
    form.set_offices(services.office_choices(db))
    if form.validate_on_submit():
        try:
            changes = services.change_user(
                db,
                user,
                actor=current_user,
                role=form.role.data,
                office_code=form.office.data or None,
                active=form.active.data,
                full_name=form.full_name.data,
            )
        except services.UserError as exc:
            _show_error(form, exc)
        else:
            flash(
                ngettext(
                    "User %(name)s saved (%(num)d change).",
                    "User %(name)s saved (%(num)d changes).",
                    len(changes),
                    name=user.username,
                ),
                "success",
            )
            return redirect(url_for("admin.users"))
    return _render(
        "admin/user_form.html", form, user=user, password_form=PasswordResetForm(formdata=None)
    )


@bp.post("/users/<int:user_id>/password")
@allow("admin")
def user_password(user_id: int):  # type: ignore[no-untyped-def]
    """Set a new password for a user (ends their sessions and API tokens)."""
    db = get_session()
    user = db.get(User, user_id) or abort(404)
    password_form = PasswordResetForm()
    if password_form.validate_on_submit():
        try:
            services.reset_password(db, user, password_form.password.data, actor=current_user)
        except services.UserError as exc:
            _show_error(password_form, exc)
        else:
            flash(
                _("Password of %(name)s changed; their sessions were ended.", name=user.username),
                "success",
            )
            return redirect(url_for("admin.user_edit", user_id=user.id))
    form = UserEditForm(obj=user, data={"office": user.office.code if user.office else ""})
    form.set_offices(services.office_choices(db))
    return render_template(
        "admin/user_form.html", form=form, user=user, password_form=password_form
    ), 422


@bp.get("/offices")
@allow("admin")
def offices():  # type: ignore[no-untyped-def]
    """List offices with their covered areas."""
    return render_template("admin/offices.html", offices=services.list_offices(get_session()))


@bp.route("/offices/new", methods=["GET", "POST"])
@allow("admin")
def office_new():  # type: ignore[no-untyped-def]
    """Create an office and choose the areas it covers."""
    db = get_session()
    form = OfficeCreateForm()
    form.set_countries(sorted(services.area_counts(db)))
    form.set_areas(services.area_choices(db))
    if form.validate_on_submit():
        try:
            office = services.add_office(
                db,
                code=form.code.data,
                name=form.name.data,
                country=form.country.data,
                address=form.address.data or "",
                hours=form.hours.data or "",
                area_codes=form.areas.data or [],
            )
        except services.UserError as exc:
            _show_error(form, exc)
        else:
            flash(_("Office %(code)s created.", code=office.code), "success")
            return redirect(url_for("admin.offices"))
    return _render("admin/office_form.html", form, office=None)


@bp.route("/offices/<int:office_id>", methods=["GET", "POST"])
@allow("admin")
def office_edit(office_id: int):  # type: ignore[no-untyped-def]
    """Change an office's details and covered areas."""
    db = get_session()
    office = db.get(Office, office_id) or abort(404)
    form = OfficeForm(
        obj=office if request.method == "GET" else None,
        data={"areas": office.area_codes} if request.method == "GET" else None,
    )
    form.set_areas(services.area_choices(db, office.country))
    if form.validate_on_submit():
        try:
            services.change_office(
                db,
                office,
                name=form.name.data,
                address=form.address.data or "",
                hours=form.hours.data or "",
                area_codes=form.areas.data or [],
            )
        except services.UserError as exc:
            _show_error(form, exc)
        else:
            flash(_("Office %(code)s saved.", code=office.code), "success")
            return redirect(url_for("admin.offices"))
    return _render("admin/office_form.html", form, office=office)


@bp.get("/areas")
@allow("admin")
def areas():  # type: ignore[no-untyped-def]
    """List areas of one country with their names and covering offices."""
    db = get_session()
    counts = services.area_counts(db)
    country = (request.args.get("country") or next(iter(sorted(counts)), "")).upper()[:2]
    form = AreaLoadForm()
    form.set_countries(services.pack_countries())
    return render_template(
        "admin/areas.html",
        form=form,
        country=country,
        counts=counts,
        areas=services.list_areas(db, country) if country else [],
        covering=services.offices_covering(db),
    )


@bp.post("/areas/load")
@allow("admin")
def areas_load():  # type: ignore[no-untyped-def]
    """Load (or refresh) a country's area list from its rule pack."""
    db = get_session()
    form = AreaLoadForm()
    form.set_countries(services.pack_countries())
    if form.validate_on_submit():
        try:
            added, updated = services.import_country_areas(db, form.country.data)
        except services.UserError as exc:
            _show_error(form, exc)
        else:
            flash(
                _(
                    "%(country)s: %(added)d area(s) added, %(updated)d updated.",
                    country=form.country.data,
                    added=added,
                    updated=updated,
                ),
                "success",
            )
            return redirect(url_for("admin.areas", country=form.country.data))
    counts = services.area_counts(db)
    return render_template(
        "admin/areas.html",
        form=form,
        country="",
        counts=counts,
        areas=[],
        covering={},
    ), 422
