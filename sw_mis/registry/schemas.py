"""Marshmallow schemas for the households API, generated from the fact declarations.

Scheme-specific facts sit flat beside the core ones (``{"pmt_score": 31.5, "members": [...]}``).
The schemas check types and shapes only; the registry services check everything else (dates in
the past, one head, areas), so the API, the counter forms and imports refuse the same things.
"""

from __future__ import annotations

from typing import Any

from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy.orm import object_session

from sw_mis.api.fields import UtcDateTime
from sw_mis.auth.models import Office
from sw_mis.registry.fields import FIELDS_BY_NAME, HOUSEHOLD_FIELDS, MEMBER_FIELDS, FactField
from sw_mis.registry.models import (
    ENROLMENT_STATUSES,
    HOUSEHOLD_STATUSES,
    MEMBER_STATUSES,
    Household,
)
from sw_mis.registry.services import DEPARTURES, age_on
from sw_mis.registry.validation import choice_label


def _description(fact: FactField) -> str:
    parts = [fact.label]
    if fact.unit:
        parts.append(f"({fact.unit})")
    if fact.help:
        parts.append(f"— {fact.help}")
    parts.append("Null means not known.")
    return " ".join(parts)


def _range(fact: FactField) -> list[validate.Validator]:
    if fact.minimum is None and fact.maximum is None:
        return []
    return [validate.Range(min=fact.minimum, max=fact.maximum)]


def _choose_one(choices: tuple[str, ...]) -> str:
    labels = ", ".join(_(choice_label(c)) for c in choices)
    return _("Choose one of: %(choices)s.", choices=labels)


def fact_field(fact: FactField, mode: str = "load") -> fields.Field:
    """Return the marshmallow field of one fact for ``mode`` ``load``, ``patch`` or ``dump``.

    Every fact accepts null (not known). On ``load`` an absent fact is null; on ``patch`` an
    absent fact is left unchanged, so it gets no default.
    """
    kw: dict[str, Any] = {"allow_none": True, "metadata": {"description": _description(fact)}}
    if mode == "load":
        kw["load_default"] = None
    if fact.kind == "bool":
        return fields.Boolean(**kw)
    if fact.kind == "int":
        return fields.Integer(strict=True, validate=_range(fact), **kw)
    if fact.kind == "decimal":
        if mode == "dump":
            return fields.Float(**kw)
        # OpenAPI bounds must be JSON numbers: apispec would write the Decimal bounds, which
        # Flask serialises as strings ("minimum": "0"), an invalid schema.
        for key, bound in (("minimum", fact.minimum), ("maximum", fact.maximum)):
            if bound is not None:
                kw["metadata"][key] = float(bound)
        return fields.Decimal(allow_nan=False, validate=_range(fact), **kw)
    if fact.kind == "date":
        return fields.Date(**kw)
    if fact.kind == "enum":
        # Built when the schema is (at import), shown in the request's language: lazy. The
        # API's error handler (sw_mis.api.flatten_errors) turns it into text.
        message = LazyString(_choose_one, fact.choices)
        kw["metadata"]["enum"] = list(fact.choices)
        return fields.String(validate=validate.OneOf(fact.choices, error=message), **kw)
    return fields.String(validate=validate.Length(max=fact.max_length), **kw)


class _Strict(Schema):
    class Meta:
        # Marshmallow's default, said out loud: a misspelt field is refused, never ignored.
        unknown = RAISE


def _schema(
    name: str, facts: tuple[FactField, ...], mode: str, **extra: fields.Field
) -> type[Schema]:
    """Build a schema class with one field per fact plus ``extra`` fields."""
    attrs: dict[str, Any] = {f.name: fact_field(f, mode) for f in facts}
    attrs.update(extra)
    return type(name, (_Strict if mode != "dump" else Schema,), attrs)


_NAME = validate.Length(max=80)

# --- input ---------------------------------------------------------------------------------

MemberInSchema = _schema(
    "MemberIn",
    MEMBER_FIELDS,
    "load",
    given_name=fields.String(
        required=True,
        validate=validate.Length(min=1, max=80),
        error_messages={"required": _l("Enter the given name.")},
    ),
    family_name=fields.String(load_default="", validate=_NAME),
)

MemberPatchSchema = _schema(
    "MemberPatch",
    MEMBER_FIELDS,
    "patch",
    id=fields.Integer(metadata={"description": "Omit to add a new member."}),
    given_name=fields.String(validate=validate.Length(min=1, max=80)),
    family_name=fields.String(validate=_NAME),
)


class EnrolmentInSchema(_Strict):
    scheme_id = fields.String(required=True, validate=validate.Length(min=1, max=80))
    status = fields.String(load_default="active", validate=validate.OneOf(ENROLMENT_STATUSES))
    start_date = fields.Date(allow_none=True, load_default=None)
    end_date = fields.Date(allow_none=True, load_default=None)
    member_index = fields.Integer(
        allow_none=True,
        load_default=None,
        metadata={"description": "0-based row in `members` for a member's own enrolment."},
    )


HouseholdInSchema = _schema(
    "HouseholdIn",
    HOUSEHOLD_FIELDS,
    "load",
    country=fields.String(
        validate=validate.Length(equal=2),
        metadata={"description": "ISO 3166-1 alpha-2; defaults to the user's office country."},
    ),
    consent_given=fields.Boolean(
        required=True,
        error_messages={"required": _l("Consent to data processing is required.")},
        metadata={"description": "Consent to data processing; must be true."},
    ),
    consent_date=fields.Date(allow_none=True, load_default=None),
    members=fields.List(
        fields.Nested(MemberInSchema),
        required=True,
        error_messages={"required": _l("A household needs at least one member.")},
    ),
    enrolments=fields.List(fields.Nested(EnrolmentInSchema), load_default=list),
    override_reason=fields.String(
        validate=validate.Length(max=500),
        metadata={"description": "Supervisors: register although a national ID exists."},
    ),
)


class MemberRemovalSchema(_Strict):
    id = fields.Integer(required=True, metadata={"description": "The member's id (from GET)."})
    reason = fields.String(
        required=True,
        validate=validate.OneOf(tuple(DEPARTURES)),
        metadata={
            "description": "Why the member leaves the roster: `left` (status becomes `left`) "
            "or `died` (status becomes `deceased`)."
        },
    )
    date = fields.Date(
        allow_none=True, metadata={"description": "When it happened; today if left out."}
    )
    note = fields.String(allow_none=True, validate=validate.Length(max=200))


HouseholdPatchSchema = _schema(
    "HouseholdPatch",
    HOUSEHOLD_FIELDS,
    "patch",
    version=fields.Integer(
        required=True, metadata={"description": "The version you edited (from GET)."}
    ),
    members=fields.List(
        fields.Nested(MemberPatchSchema),
        metadata={"description": "Members with an id are changed, without one are added."},
    ),
    members_removed=fields.List(
        fields.Nested(MemberRemovalSchema),
        metadata={
            "description": "Present members who leave the roster, each with the reason (their "
            "record and history are kept). Removing the head needs another member made head "
            "in `members` in the same request."
        },
    ),
    reason=fields.String(validate=validate.Length(max=500)),
    override_reason=fields.String(validate=validate.Length(max=500)),
)


#: Life events and the fields each reads besides ``type`` and ``version``.
EVENT_FIELDS = {
    "birth": frozenset({"member"}),
    "death": frozenset({"member_id", "date", "new_head_id", "reason"}),
    "leave": frozenset({"member_id", "date", "new_head_id", "reason"}),
    "join": frozenset({"member", "from_ref", "from_member_id", "relationship_to_head", "date"}),
    "move": frozenset({"admin1", "admin2", "admin3", "locality", "address", "reason"}),
}


def _move_field(name: str) -> fields.Field:
    return fact_field(FIELDS_BY_NAME[name], "patch")


class LifeEventSchema(_Strict):
    """One life event of a household; which fields it reads depends on ``type``."""

    type = fields.String(
        required=True,
        validate=validate.OneOf(tuple(EVENT_FIELDS)),
        metadata={
            "description": "`birth` (member), `death` and `leave` (member_id, date?, "
            "new_head_id when the head goes and others stay, reason?), `join` (a new person "
            "as member, or someone moving from another household: from_ref, from_member_id, "
            "relationship_to_head?, date?), `move` (admin1, admin2, admin3?, locality?, "
            "address?, reason?)."
        },
    )
    version = fields.Integer(
        required=True, metadata={"description": "The household version you saw (from GET)."}
    )
    member = fields.Nested(
        MemberInSchema,
        metadata={
            "description": "birth: the newborn (relationship defaults to child); "
            "join: a person not registered anywhere yet."
        },
    )
    member_id = fields.Integer(metadata={"description": "death, leave: the member."})
    date = fields.Date(
        allow_none=True, metadata={"description": "death, leave, join: when; today if left out."}
    )
    new_head_id = fields.Integer(
        allow_none=True,
        metadata={"description": "death, leave: who becomes head when the head goes."},
    )
    reason = fields.String(
        allow_none=True,
        validate=validate.Length(max=500),
        metadata={"description": "death, leave: a note (at most 200 characters); move: why."},
    )
    from_ref = fields.String(
        validate=validate.Length(min=1, max=20),
        metadata={"description": "join: the reference of the household the person leaves."},
    )
    from_member_id = fields.Integer(
        metadata={"description": "join: the person's member id in that household."}
    )
    relationship_to_head = fields.String(
        allow_none=True,
        validate=validate.OneOf(FIELDS_BY_NAME["relationship_to_head"].choices),
        metadata={"description": "join from another household; default other_relative."},
    )
    admin1 = _move_field("admin1")
    admin2 = _move_field("admin2")
    admin3 = _move_field("admin3")
    locality = _move_field("locality")
    address = _move_field("address")

    @validates_schema
    def _fits_type(self, data: dict[str, Any], **_kwargs: Any) -> None:
        kind = data["type"]
        errors: dict[str, list[str]] = {}
        for key in sorted(data.keys() - EVENT_FIELDS[kind] - {"type", "version"}):
            errors[key] = [_("Not used for a %(kind)s event.", kind=kind)]
        needed = {"birth": "member", "death": "member_id", "leave": "member_id"}.get(kind)
        if needed and needed not in data:
            errors[needed] = ["Missing data for required field."]
        if kind == "join":
            moving = bool({"from_ref", "from_member_id", "relationship_to_head"} & data.keys())
            if "member" in data and moving:
                errors["member"] = [
                    _(
                        "Give either a new person (member) or someone moving from another "
                        "household (from_ref, from_member_id), not both."
                    )
                ]
            elif "member" in data and "date" in data:
                errors["date"] = [_("Only a move from another household is dated.")]
            elif "member" not in data and not moving:
                errors["member"] = [
                    _(
                        "Give the new person (member), or from_ref and from_member_id for "
                        "someone moving from another household."
                    )
                ]
            elif moving:
                for key in ("from_ref", "from_member_id"):
                    if key not in data:
                        errors[key] = ["Missing data for required field."]
        if errors:
            raise ValidationError(errors)


class EnrolmentCreateSchema(_Strict):
    version = fields.Integer(
        required=True, metadata={"description": "The household version you saw (from GET)."}
    )
    scheme_id = fields.String(
        required=True,
        validate=validate.Length(min=1, max=80),
        metadata={"description": "The programme, as the scheme rules name it (pk-bisp-kafaalat)."},
    )
    status = fields.String(load_default="active", validate=validate.OneOf(ENROLMENT_STATUSES))
    start_date = fields.Date(allow_none=True, load_default=None)
    end_date = fields.Date(
        allow_none=True, load_default=None, metadata={"description": "May be in the future."}
    )
    member_id = fields.Integer(
        allow_none=True,
        load_default=None,
        metadata={"description": "For a member's own benefit; null for the household."},
    )


#: Beyond any registry's last page; a larger number would overflow the database's integers.
MAX_PAGE = 1_000_000


class SearchSchema(_Strict):
    q = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "A reference, a national ID or a name."},
    )
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))


class ListArgsSchema(_Strict):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))


# --- output --------------------------------------------------------------------------------

MemberOutSchema = _schema(
    "MemberOut",
    MEMBER_FIELDS,
    "dump",
    id=fields.Integer(required=True),
    position=fields.Integer(),
    given_name=fields.String(required=True),
    family_name=fields.String(),
    status=fields.String(metadata={"enum": list(MEMBER_STATUSES)}),
    status_date=fields.Date(allow_none=True),
    status_reason=fields.String(allow_none=True),
    age=fields.Function(
        lambda m: age_on(m.date_of_birth),
        allow_none=True,
        metadata={"description": "Age in years today (derived, never stored)."},
    ),
)


class EnrolmentOutSchema(Schema):
    id = fields.Integer(required=True)
    scheme_id = fields.String(required=True)
    status = fields.String(metadata={"enum": list(ENROLMENT_STATUSES)})
    start_date = fields.Date(allow_none=True)
    end_date = fields.Date(allow_none=True)
    member_id = fields.Integer(allow_none=True)


def _office_code(household: Household) -> str | None:
    session = object_session(household)
    office = session.get(Office, household.office_id) if session and household.office_id else None
    return office.code if office is not None else None


def _merged_into_ref(household: Household) -> str | None:
    session = object_session(household)
    if session is None or household.merged_into_id is None:
        return None
    target = session.get(Household, household.merged_into_id)
    return target.ref if target is not None else None


HouseholdOutSchema = _schema(
    "HouseholdOut",
    HOUSEHOLD_FIELDS,
    "dump",
    ref=fields.String(required=True),
    version=fields.Integer(required=True),
    country=fields.String(required=True),
    status=fields.String(metadata={"enum": list(HOUSEHOLD_STATUSES)}),
    merged_into_ref=fields.Function(_merged_into_ref, allow_none=True),
    consent_given=fields.Boolean(),
    consent_date=fields.Date(allow_none=True),
    office_code=fields.Function(_office_code, allow_none=True),
    registered_at=UtcDateTime(allow_none=True),
    updated_at=UtcDateTime(allow_none=True),
    members=fields.List(fields.Nested(MemberOutSchema)),
    enrolments=fields.List(fields.Nested(EnrolmentOutSchema)),
)


class LifeEventOutSchema(Schema):
    type = fields.String(required=True, metadata={"enum": list(EVENT_FIELDS)})
    member_id = fields.Integer(
        allow_none=True,
        metadata={"description": "The member born, joined, dead or gone; null for a move."},
    )
    household = fields.Nested(HouseholdOutSchema, required=True)


class EnrolmentListSchema(Schema):
    items = fields.List(fields.Nested(EnrolmentOutSchema), required=True)


class EnrolmentCreatedSchema(EnrolmentOutSchema):
    household_version = fields.Function(
        lambda e: e.household.version,
        required=True,
        metadata={"description": "The household's version after this change."},
    )


class HouseholdSummarySchema(Schema):
    ref = fields.String(required=True)
    version = fields.Integer(required=True)
    country = fields.String()
    status = fields.String()
    admin1 = fields.String(allow_none=True)
    admin2 = fields.String(allow_none=True)
    admin3 = fields.String(allow_none=True)
    locality = fields.String(allow_none=True)
    head_name = fields.Function(
        lambda h: h.head.full_name if h.head is not None else None, allow_none=True
    )
    members_count = fields.Function(lambda h: len(h.current_members))
    registered_at = UtcDateTime(allow_none=True)


class HouseholdPageSchema(Schema):
    items = fields.List(fields.Nested(HouseholdSummarySchema), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)


class FieldErrorsSchema(Schema):
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        required=True,
        metadata={"description": "Messages per flat field path, e.g. members.0.date_of_birth."},
    )
    error_id = fields.String()
