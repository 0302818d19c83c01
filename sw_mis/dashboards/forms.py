"""The dashboard filters (GET: a filtered dashboard is a link a supervisor can share)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.validators import Optional, ValidationError


class DashboardFilterForm(FlaskForm):
    """Date range and province of every figure on a dashboard."""

    class Meta:
        # A read-only view by GET: there is no state to protect, so no CSRF token.
        csrf = False

    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])
    admin1 = SelectField(_l("Province / region"), validators=[Optional()], validate_choice=True)

    def validate_date_to(self, field: DateField) -> None:
        """Refuse a date range that ends before it starts."""
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(_("The end date is before the start date."))
