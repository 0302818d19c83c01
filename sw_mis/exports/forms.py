"""The beneficiary-list form."""

from __future__ import annotations

import datetime as dt

from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField
from wtforms.validators import DataRequired, Optional

from sw_mis.exports.services import OUTCOMES

FORMAT_LABELS = {
    "csv": "CSV (spreadsheet, any size)",
    "xlsx": "Excel (XLSX)",
    "pdf": "PDF (printable list)",
}
OUTCOME_LABELS = {"eligible": "Eligible", "undetermined": "Undetermined (to follow up)"}


class ExportForm(FlaskForm):
    """Choose a scheme, an outcome, a date, an area and a format."""

    scheme = SelectField("Scheme", validators=[DataRequired()])
    outcome = SelectField(
        "List",
        choices=[SelectChoice(o, OUTCOME_LABELS[o]) for o in OUTCOMES],
        default="eligible",
    )
    as_of = DateField("As of", default=dt.date.today, validators=[DataRequired()])
    admin1 = SelectField("Province / region", validators=[Optional()])
    admin2 = SelectField("District", validators=[Optional()])
    format = SelectField(
        "Format", choices=[SelectChoice(k, v) for k, v in FORMAT_LABELS.items()], default="csv"
    )
