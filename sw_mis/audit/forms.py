"""The audit search form (GET: filters are shareable links, and carry no personal data)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, StringField
from wtforms.validators import Length, NumberRange, Optional, ValidationError


class AuditSearchForm(FlaskForm):
    """Filters of the audit screen."""

    class Meta:
        # A read-only search by GET: there is no state to protect, so no CSRF token.
        csrf = False

    username = StringField("User", validators=[Optional(), Length(max=80)])
    action = StringField(
        "Action",
        validators=[Optional(), Length(max=60)],
        description="e.g. household.view, or household.* for every household action",
    )
    object_ref = StringField("Record reference", validators=[Optional(), Length(max=80)])
    since = DateField("From", validators=[Optional()])
    until = DateField("To", validators=[Optional()])
    page = IntegerField("Page", default=1, validators=[Optional(), NumberRange(min=1)])

    def validate_until(self, field: DateField) -> None:
        """Refuse a date range that ends before it starts."""
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError("The end date is before the start date.")
