"""Counter forms, generated from the fact declarations in :mod:`sw_mis.registry.fields`.

A yes/no fact is a Yes / No / Not known select (True / False / None); any blank answer is None.
Only the facts the country's schemes read (plus the core facts) are on the form, and a form
class is built once per set of facts. Validation beyond types lives in the services.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.core import Field
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from sw_mis.registry.fields import HOUSEHOLD_FIELDS, MEMBER_FIELDS, FactField, fields_for
from sw_mis.registry.models import ENROLMENT_STATUSES
from sw_mis.registry.validation import MAX_MEMBERS, choice_label

LOCATION = ("admin1", "admin2", "admin3")
_TRI = {"": None, "yes": True, "no": False}


def _tri(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if value in _TRI:
        return _TRI[value]
    raise ValueError(_("Answer yes, no or not known."))


def choice_list(pairs: Iterable[tuple[str, str] | tuple[str, str, str | None]]) -> list[Any]:
    """Return WTForms choices from (value, label[, group]) tuples."""
    return [SelectChoice(p[0], p[1], optgroup=p[2] if len(p) > 2 else None) for p in pairs]


def _blank_none(value: Any) -> Any:
    return None if value in ("", None) else value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class TriStateField(SelectField):
    """Yes / No / Not known, stored as True / False / None."""

    def __init__(self, label: str | None = None, validators: Any = None, **kw: Any) -> None:
        choices = choice_list([("", _l("Not known")), ("yes", _l("Yes")), ("no", _l("No"))])
        super().__init__(label, validators, coerce=_tri, choices=choices, **kw)


def _fact_description(fact: FactField) -> str:
    unit = f"({_(fact.unit)})" if fact.unit else ""
    return " ".join(p for p in (_(fact.help) if fact.help else "", unit) if p)


def fact_form_field(fact: FactField) -> Field:
    """Return the WTForms field of one declared fact.

    Labels, help and choices are lazy: the form class is built once, and each page shows them in
    its own request's language.
    """
    description: Any = LazyString(_fact_description, fact) if fact.help or fact.unit else ""
    kw: dict[str, Any] = {"description": description}
    label = _l(fact.label)
    if fact.kind == "bool":
        return TriStateField(label, **kw)
    if fact.kind == "enum":
        blank = _l("Choose…") if fact.required else _l("Not known")
        choices = choice_list([("", blank)] + [(c, _l(choice_label(c))) for c in fact.choices])
        return SelectField(label, choices=choices, coerce=_blank_none, **kw)
    validators: list[Any] = [Optional()]
    if fact.kind in ("int", "decimal") and (fact.minimum is not None or fact.maximum is not None):
        validators.append(NumberRange(min=fact.minimum, max=fact.maximum))
    if fact.kind == "int":
        return IntegerField(label, validators=validators, render_kw={"inputmode": "numeric"}, **kw)
    if fact.kind == "decimal":
        return DecimalField(
            label, validators=validators, places=None, render_kw={"inputmode": "decimal"}, **kw
        )
    if fact.kind == "date":
        return DateField(label, validators=validators, **kw)
    validators.append(Length(max=fact.max_length))
    return StringField(label, validators=validators, filters=[_strip], **kw)


def shown_names(country: str | None) -> frozenset[str] | None:
    """Return the facts the country's schemes read (None: show every fact)."""
    book = current_app.extensions.get("sw_mis.rulebook")
    fields_used = getattr(book, "fields_used", None)
    if fields_used is None or not country:
        return None
    return frozenset(fields_used(country))


def _keep(facts: Iterable[FactField], names: frozenset[str] | None) -> list[FactField]:
    return [f for f in facts if names is None or f.core or f.name in names]


@functools.cache
def member_form_class(names: frozenset[str] | None) -> type[Form]:
    """Return the member sub-form class for the facts in ``names`` (plus core facts)."""
    attrs: dict[str, Any] = {
        "id": HiddenField(),
        "given_name": StringField(
            _l("Given name"), validators=[Optional(), Length(max=80)], filters=[_strip]
        ),
        "family_name": StringField(
            _l("Family name"), validators=[Optional(), Length(max=80)], filters=[_strip]
        ),
        "remove": BooleanField(_l("Remove this member")),
    }
    attrs.update({f.name: fact_form_field(f) for f in _keep(MEMBER_FIELDS, names)})
    return type("MemberForm", (Form,), attrs)


@functools.cache
def household_form_class(names: frozenset[str] | None) -> type[FlaskForm]:
    """Return the household form class (facts, consent and a member list) for ``names``."""
    attrs: dict[str, Any] = {f.name: fact_form_field(f) for f in _keep(HOUSEHOLD_FIELDS, names)}
    for code in LOCATION:
        # Area codes are chosen from the area list (choices set per request).
        label = _l(next(f.label for f in HOUSEHOLD_FIELDS if f.name == code))
        attrs[code] = SelectField(label, choices=[], validate_choice=False, coerce=_blank_none)
    attrs.update(
        consent_given=BooleanField(_l("The household consents to the processing of its data")),
        consent_date=DateField(_l("Date of consent"), validators=[Optional()]),
        members=FieldList(
            FormField(member_form_class(names)), min_entries=1, max_entries=MAX_MEMBERS
        ),
        version=HiddenField(),
        confirm_not_duplicate=BooleanField(_l("These are different people: save anyway")),
        override_reason=TextAreaField(
            _l("Reason for registering a national ID that already exists"),
            validators=[Optional(), Length(max=500)],
        ),
        add_member=SubmitField(_l("Add another member")),
        save=SubmitField(_l("Save household")),
    )
    return type("HouseholdForm", (FlaskForm,), attrs)


def household_sections(form: FlaskForm) -> list[tuple[str, list[Field]]]:
    """Return the household form's fact fields grouped by section, in declaration order."""
    return _sections(form, fields_for("household"))


def member_sections(subform: Form) -> list[tuple[str, list[Field]]]:
    """Return one member sub-form's fact fields grouped by section."""
    return _sections(subform, fields_for("member"))


def _sections(form: Any, facts: tuple[FactField, ...]) -> list[tuple[str, list[Field]]]:
    grouped: dict[str, list[Field]] = {}
    for fact in facts:
        field = form._fields.get(fact.name)
        if field is not None:
            grouped.setdefault(_(fact.section), []).append(field)
    return list(grouped.items())


def _value(field: Field) -> Any:
    data = field.data
    if isinstance(data, str):
        data = data.strip() or None
    if isinstance(data, Decimal):
        return data
    return data


def form_to_data(form: FlaskForm, country: str) -> tuple[dict[str, Any], list[int]]:
    """Return (service data, form row of each member) from a submitted household form.

    Rows ticked 'remove' and new rows left entirely blank are dropped.
    """
    data: dict[str, Any] = {"country": country, "consent_given": bool(form.consent_given.data)}
    if form.consent_date.data:
        data["consent_date"] = form.consent_date.data
    for fact in HOUSEHOLD_FIELDS:
        if fact.name in form._fields:
            data[fact.name] = _value(form._fields[fact.name])
    members, rows = [], []
    for row, entry in enumerate(form.members.entries):
        sub = entry.form
        if sub.remove.data:
            continue
        values = {
            "given_name": sub.given_name.data or "",
            "family_name": sub.family_name.data or "",
        }
        for fact in MEMBER_FIELDS:
            if fact.name in sub._fields:
                values[fact.name] = _value(sub._fields[fact.name])
        blank = not any(v not in (None, "") for v in values.values())
        if sub.id.data:
            values["id"] = sub.id.data
        elif blank:
            continue
        members.append(values)
        rows.append(row)
    data["members"] = members
    return data, rows


def apply_errors(form: FlaskForm, errors: dict[str, list[str]], rows: list[int]) -> list[str]:
    """Put service errors next to their fields; return those that belong to no field."""
    orphans: list[str] = []
    for path, messages in errors.items():
        parts = path.split(".")
        field: Field | None = None
        if parts[0] == "members" and len(parts) == 3 and parts[1].isdigit():
            index = int(parts[1])
            if index < len(rows):
                field = form.members.entries[rows[index]].form._fields.get(parts[2])
        elif len(parts) == 1:
            field = form._fields.get(parts[0])
        if field is None:
            orphans.extend(messages)
            continue
        field.errors = [*field.errors, *messages]
    return orphans


def error_summary(form: FlaskForm) -> list[tuple[str, str, str]]:
    """Return (field id, label, message) for every field error, in form order."""
    out: list[tuple[str, str, str]] = []

    def walk(fields: Iterable[Field], prefix: str = "") -> None:
        for field in fields:
            if isinstance(field, FieldList):
                for i, entry in enumerate(field.entries):
                    walk(entry.form, prefix + _("Member %(number)s: ", number=i + 1))
            elif isinstance(field, FormField):
                walk(field.form, prefix)
            elif field.errors and isinstance(field.errors, list):
                out.extend((field.id, prefix + str(field.label.text), str(m)) for m in field.errors)

    walk(form)
    return out


# --- life events ---------------------------------------------------------------------------


class VersionedForm(FlaskForm):
    version = HiddenField()


def _relationship_choices() -> list[Any]:
    fact = next(f for f in MEMBER_FIELDS if f.name == "relationship_to_head")
    return choice_list((c, _l(choice_label(c))) for c in fact.choices)


def _sex_choices() -> list[Any]:
    fact = next(f for f in MEMBER_FIELDS if f.name == "sex")
    return choice_list([("", _l("Not known"))] + [(c, _l(choice_label(c))) for c in fact.choices])


class BirthForm(VersionedForm):
    given_name = StringField(
        _l("Given name"),
        validators=[InputRequired(), Length(max=80)],
        filters=[_strip],
        render_kw={"autofocus": True},
    )
    family_name = StringField(
        _l("Family name"), validators=[Optional(), Length(max=80)], filters=[_strip]
    )
    sex = SelectField(_l("Sex"), choices=_sex_choices(), coerce=_blank_none)
    date_of_birth = DateField(_l("Date of birth"), validators=[InputRequired()])
    submit = SubmitField(_l("Record the birth"))


class DeparturesForm(VersionedForm):
    member_id = SelectField(
        _l("Member"), choices=[], validate_choice=False, render_kw={"autofocus": True}
    )
    date = DateField(_l("Date"), validators=[Optional()])
    new_head_id = SelectField(
        _l("New head of household (if the head is leaving)"), choices=[], validate_choice=False
    )
    reason = StringField(
        _l("Reason or note"), validators=[Optional(), Length(max=200)], filters=[_strip]
    )
    submit = SubmitField(_l("Save"))


class ConsentWithdrawalForm(VersionedForm):
    reason = StringField(
        _l("Reason or note"),
        validators=[InputRequired(), Length(max=200)],
        filters=[_strip],
        render_kw={"autofocus": True},
    )
    submit = SubmitField(_l("Withdraw consent"))


class JoinForm(VersionedForm):
    from_ref = StringField(
        _l("Moving from household (reference)"),
        validators=[Optional(), Length(max=20)],
        filters=[_strip],
        render_kw={"autofocus": True},
        description=_l("Leave blank for a person not yet registered anywhere."),
    )
    from_member_id = IntegerField(
        _l("Member number in that household"),
        validators=[Optional()],
        description=_l("The # shown beside the member on the other household's page."),
    )
    given_name = StringField(
        _l("Given name (new person)"), validators=[Optional(), Length(max=80)], filters=[_strip]
    )
    family_name = StringField(
        _l("Family name (new person)"), validators=[Optional(), Length(max=80)], filters=[_strip]
    )
    sex = SelectField(_l("Sex (new person)"), choices=_sex_choices(), coerce=_blank_none)
    date_of_birth = DateField(_l("Date of birth (new person)"), validators=[Optional()])
    relationship_to_head = SelectField(_l("Relationship to head"), choices=_relationship_choices())
    date = DateField(_l("Date joined"), validators=[Optional()])
    submit = SubmitField(_l("Add the member"))


class MoveForm(VersionedForm):
    admin1 = SelectField(
        _l("Province / region"),
        choices=[],
        validate_choice=False,
        coerce=_blank_none,
        render_kw={"autofocus": True},
    )
    admin2 = SelectField(_l("District"), choices=[], validate_choice=False, coerce=_blank_none)
    admin3 = SelectField(
        _l("Sub-district / commune"), choices=[], validate_choice=False, coerce=_blank_none
    )
    locality = StringField(
        _l("Village / locality"), validators=[Optional(), Length(max=120)], filters=[_strip]
    )
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)], filters=[_strip])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)], filters=[_strip])
    submit = SubmitField(_l("Move the household"))


class MergeForm(VersionedForm):
    other_ref = StringField(
        _l("Duplicate household to merge into this one (reference)"),
        validators=[InputRequired(), Length(max=20)],
        filters=[_strip],
        render_kw={"autofocus": True},
    )
    reason = TextAreaField(
        _l("Why these records are the same household"),
        validators=[InputRequired(), Length(max=500)],
    )
    confirm = BooleanField(
        _l("I have checked: both records describe the same household"), validators=[InputRequired()]
    )
    submit = SubmitField(_l("Merge"))


class EnrolmentForm(FlaskForm):
    scheme_id = StringField(
        _l("Programme"),
        validators=[InputRequired(), Length(max=80)],
        filters=[_strip],
        render_kw={"autofocus": True},
    )
    member_id = SelectField(
        _l("Member (for a personal benefit)"), choices=[], validate_choice=False, coerce=_blank_none
    )
    status = SelectField(
        _l("Status"), choices=choice_list((s, _l(choice_label(s))) for s in ENROLMENT_STATUSES)
    )
    start_date = DateField(_l("Start date"), validators=[Optional()])
    end_date = DateField(_l("End date"), validators=[Optional()])
    submit = SubmitField(_l("Record the enrolment"))


class SearchForm(FlaskForm):
    q = StringField(
        _l("Reference, national ID or name"),
        validators=[InputRequired(), Length(max=200)],
        filters=[_strip],
        render_kw={"autocomplete": "off", "accesskey": "f", "type": "search"},
    )
    page = HiddenField(default="1")
    submit = SubmitField(_l("Search"))
