"""The beneficiary-list form."""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField
from wtforms.validators import DataRequired, Optional

from sw_mis.exports.services import OUTCOMES

FORMAT_LABELS = {
    "csv": _l("CSV (spreadsheet, any size)"),
    "xlsx": _l("Excel (XLSX)"),
    "pdf": _l("PDF (printable list)"),
}
OUTCOME_LABELS = {"eligible": _l("Eligible"), "undetermined": _l("Undetermined (to follow up)")}


class ExportForm(FlaskForm):
    """Choose a scheme, an outcome, a date, an area and a format."""

    scheme = SelectField(_l("Scheme"), validators=[DataRequired()])
    outcome = SelectField(
        _l("List"),
        choices=[SelectChoice(o, OUTCOME_LABELS[o]) for o in OUTCOMES],
        default="eligible",
    )
    as_of = DateField(_l("As of"), default=dt.date.today, validators=[DataRequired()])
    admin1 = SelectField(_l("Province / region"), validators=[Optional()])
    admin2 = SelectField(_l("District"), validators=[Optional()])
    format = SelectField(
        _l("Format"), choices=[SelectChoice(k, v) for k, v in FORMAT_LABELS.items()], default="csv"
    )
