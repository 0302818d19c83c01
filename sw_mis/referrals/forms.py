"""Forms to issue a referral, move it along, and filter the referral lists."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from sw_mis.referrals.models import STATUSES
from sw_mis.referrals.services import STATUS_LABELS
from sw_mis.referrals.slips import LANGUAGES

LANGUAGE_NAMES = {
    "en": "English",
    "es": "Español",
    "fr": "Français",
    "pt": "Português",
    "ur": "اردو",
}


class IssueForm(FlaskForm):
    """Issue a referral from the household's eligibility page."""

    #: The household's reference; the eligibility page may send it as ``?ref=`` instead.
    household = HiddenField(validators=[Optional(), Length(max=16)])
    scheme = HiddenField(validators=[DataRequired(), Length(max=80)])
    member = IntegerField(_l("Member"), validators=[Optional()])
    language = SelectField(
        _l("Slip language"),
        choices=[SelectChoice(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        validate_choice=False,  # unknown or missing: the clerk's own language is used
    )
    counter = StringField(_l("Counter"), validators=[Optional(), Length(max=40)])
    approve_undetermined = BooleanField(
        _l("I approve this referral although the outcome is undetermined")
    )


class TransitionForm(FlaskForm):
    """Move a referral to its next status."""

    status = SelectField(
        _l("New status"), choices=[SelectChoice(s, STATUS_LABELS[s]) for s in STATUSES]
    )
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=500)])


class FilterForm(FlaskForm):
    """Filter the referral list (GET, no CSRF)."""

    class Meta:
        csrf = False

    status = SelectField(
        _l("Status"),
        choices=[
            SelectChoice("", _l("Any")),
            *(SelectChoice(s, STATUS_LABELS[s]) for s in STATUSES),
        ],
        validators=[Optional()],
    )
    scheme = StringField(_l("Scheme"), validators=[Optional(), Length(max=80)])
    office = IntegerField(_l("Office"), validators=[Optional()])
    issued_on = DateField(_l("Issued on"), validators=[Optional()])
    page = IntegerField(validators=[Optional()])
