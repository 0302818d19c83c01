"""The programme officer's 'try a draft rule' form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from sw_mis.eligibility.drafts import MAX_DRAFT_BYTES


class DraftForm(FlaskForm):
    draft = TextAreaField(_l("Draft rule file (YAML)"), validators=[
        DataRequired(message=_l("Paste or write the rule file to try.")),
        Length(max=MAX_DRAFT_BYTES)], render_kw={"rows": 24, "spellcheck": "false"})
    household = StringField(_l("Household reference"), validators=[
        DataRequired(message=_l("Give the reference of a household to screen.")), Length(max=20)])
    as_of = DateField(_l("Screen as of"), validators=[DataRequired(message=_l("Give a date."))])
