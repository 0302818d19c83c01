"""The audit search form (GET: filters are shareable links, and carry no personal data)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, StringField
from wtforms.validators import Length, NumberRange, Optional, ValidationError


class AuditSearchForm(FlaskForm):
    """Filters of the audit screen."""

    class Meta:
        # A read-only search by GET: there is no state to protect, so no CSRF token.
        csrf = False

    username = StringField(_l("User"), validators=[Optional(), Length(max=80)])
    action = StringField(
        _l("Action"),
        validators=[Optional(), Length(max=60)],
        description=_l("e.g. household.view, or household.* for every household action"),
    )
    object_ref = StringField(_l("Record reference"), validators=[Optional(), Length(max=80)])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To"), validators=[Optional()])
    page = IntegerField(_l("Page"), default=1, validators=[Optional(), NumberRange(min=1)])

    def validate_until(self, field: DateField) -> None:
        """Refuse a date range that ends before it starts."""
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(_("The end date is before the start date."))
