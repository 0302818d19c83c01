"""Forms of the administration screens."""

from __future__ import annotations

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

ROLE_CHOICES = [SelectChoice(r, r.replace("_", " ").capitalize()) for r in ROLES]
NO_OFFICE = SelectChoice("", "— none (admins and auditors only) —")


def _password_fields() -> tuple[PasswordField, PasswordField]:
    return (
        PasswordField(
            "Password",
            validators=[
                DataRequired(),
                Length(
                    min=MIN_PASSWORD_LENGTH,
                    max=200,
                    message=f"Use at least {MIN_PASSWORD_LENGTH} characters (and at most 200).",
                ),
            ],
            render_kw={"autocomplete": "new-password"},
        ),
        PasswordField(
            "Repeat the password",
            validators=[DataRequired(), EqualTo("password", message="The passwords differ.")],
            render_kw={"autocomplete": "new-password"},
        ),
    )


class UserEditForm(FlaskForm):
    """Role, office and whether the account may sign in."""

    full_name = StringField("Full name", validators=[Optional(), Length(max=120)])
    role = SelectField("Role", choices=ROLE_CHOICES, validators=[DataRequired()])
    office = SelectField("Office", choices=[NO_OFFICE], validate_choice=True)
    active = BooleanField("Account active (may sign in)", default=True)
    submit = SubmitField("Save")

    def set_offices(self, offices: list[tuple[str, str]]) -> None:
        """Offer ``(code, label)`` offices to choose from."""
        self.office.choices = [NO_OFFICE, *(SelectChoice(v, label) for v, label in offices)]


class UserCreateForm(UserEditForm):
    """A new account: the edit fields plus username and first password."""

    username = StringField(
        "Username",
        validators=[
            DataRequired(),
            Length(max=80),
            Regexp(r"^[A-Za-z0-9._@-]+$", message="Use letters, digits and . _ @ - only."),
        ],
        render_kw={"autocomplete": "off"},
    )
    password, confirm = _password_fields()
    submit = SubmitField("Create user")


class PasswordResetForm(FlaskForm):
    """A new password set by an admin."""

    password, confirm = _password_fields()
    submit = SubmitField("Set password")


class OfficeForm(FlaskForm):
    """An office's name, address, hours and the areas it covers."""

    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    address = StringField("Address", validators=[Optional(), Length(max=300)])
    hours = StringField("Opening hours", validators=[Optional(), Length(max=120)])
    areas = SelectMultipleField(
        "Covered areas",
        choices=[],
        validate_choice=True,
        description="Covering a province covers every district in it.",
    )
    submit = SubmitField("Save office")

    def set_areas(self, areas: list[tuple[str, str]]) -> None:
        """Offer ``(code, label)`` areas to choose from."""
        self.areas.choices = [SelectChoice(v, label) for v, label in areas]


class OfficeCreateForm(OfficeForm):
    """A new office: its permanent code and country, plus the editable fields."""

    code = StringField(
        "Code",
        validators=[
            DataRequired(),
            Length(max=32),
            Regexp(r"^[A-Za-z0-9_-]+$", message="Use letters, digits, _ and - only."),
        ],
    )
    country = SelectField("Country", choices=[], validate_choice=True)
    submit = SubmitField("Create office")

    def set_countries(self, countries: list[str]) -> None:
        """Offer the countries whose areas are loaded."""
        self.country.choices = [SelectChoice(c) for c in countries]


class AreaLoadForm(FlaskForm):
    """Load (or refresh) a country's area list from its rule pack."""

    country = SelectField("Country pack", choices=[], validate_choice=True)
    submit = SubmitField("Load areas")

    def set_countries(self, countries: list[str]) -> None:
        """Offer the countries of the loaded rule packs."""
        self.country.choices = [SelectChoice(c) for c in countries]
