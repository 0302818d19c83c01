"""Forms of the administration screens."""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

from sw_mis.auth.models import ROLES
from sw_mis.auth.passwords import MIN_PASSWORD_LENGTH
from sw_mis.web.i18n import role_label


def _role_choice(role: str) -> str:
    label = role_label(role)
    return label[:1].upper() + label[1:]


#: Role names as the user list shows them (sw_mis.web.i18n), capitalised; lazy: defined at
#: import, shown in the page's language.
ROLE_CHOICES = [SelectChoice(r, LazyString(_role_choice, r)) for r in ROLES]
NO_OFFICE = SelectChoice("", _l("— none (admins and auditors only) —"))


def _password_fields() -> tuple[PasswordField, PasswordField]:
    return (
        PasswordField(
            _l("Password"),
            validators=[
                DataRequired(),
                Length(
                    min=MIN_PASSWORD_LENGTH,
                    max=200,
                    message=_l(
                        "Use at least %(num)d characters (and at most 200).",
                        num=MIN_PASSWORD_LENGTH,
                    ),
                ),
            ],
            render_kw={"autocomplete": "new-password"},
        ),
        PasswordField(
            _l("Repeat the password"),
            validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
            render_kw={"autocomplete": "new-password"},
        ),
    )


class UserEditForm(FlaskForm):
    """Role, office and whether the account may sign in."""

    full_name = StringField(_l("Full name"), validators=[Optional(), Length(max=120)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, validators=[DataRequired()])
    office = SelectField(_l("Office"), choices=[NO_OFFICE], validate_choice=True)
    active = BooleanField(_l("Account active (may sign in)"), default=True)
    submit = SubmitField(_l("Save"))

    def set_offices(self, offices: list[tuple[str, str]]) -> None:
        """Offer ``(code, label)`` offices to choose from."""
        self.office.choices = [NO_OFFICE, *(SelectChoice(v, label) for v, label in offices)]


class UserCreateForm(UserEditForm):
    """A new account: the edit fields plus username and first password."""

    username = StringField(
        _l("Username"),
        validators=[
            DataRequired(),
            Length(max=80),
            Regexp(r"^[A-Za-z0-9._@-]+$", message=_l("Use letters, digits and . _ @ - only.")),
        ],
        render_kw={"autocomplete": "off"},
    )
    password, confirm = _password_fields()
    submit = SubmitField(_l("Create user"))


class PasswordResetForm(FlaskForm):
    """A new password set by an admin."""

    password, confirm = _password_fields()
    submit = SubmitField(_l("Set password"))


class OfficeForm(FlaskForm):
    """An office's name, address, hours and the areas it covers."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    hours = StringField(_l("Opening hours"), validators=[Optional(), Length(max=120)])
    areas = SelectMultipleField(
        _l("Covered areas"),
        choices=[],
        validate_choice=True,
        description=_l("Covering a province covers every district in it."),
    )
    submit = SubmitField(_l("Save office"))

    def set_areas(self, areas: list[tuple[str, str]]) -> None:
        """Offer ``(code, label)`` areas to choose from."""
        self.areas.choices = [SelectChoice(v, label) for v, label in areas]


class OfficeCreateForm(OfficeForm):
    """A new office: its permanent code and country, plus the editable fields."""

    code = StringField(
        _l("Code"),
        validators=[
            DataRequired(),
            Length(max=32),
            Regexp(r"^[A-Za-z0-9_-]+$", message=_l("Use letters, digits, _ and - only.")),
        ],
    )
    country = SelectField(_l("Country"), choices=[], validate_choice=True)
    submit = SubmitField(_l("Create office"))

    def set_countries(self, countries: list[str]) -> None:
        """Offer the countries whose areas are loaded."""
        self.country.choices = [SelectChoice(c) for c in countries]


class AreaLoadForm(FlaskForm):
    """Load (or refresh) a country's area list from its rule pack."""

    country = SelectField(_l("Country pack"), choices=[], validate_choice=True)
    submit = SubmitField(_l("Load areas"))

    def set_countries(self, countries: list[str]) -> None:
        """Offer the countries of the loaded rule packs."""
        self.country.choices = [SelectChoice(c) for c in countries]
