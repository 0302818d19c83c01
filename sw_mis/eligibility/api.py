"""Schemes and eligibility over the JSON API."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from sw_mis.audit.services import record_event
from sw_mis.auth.access import ALL_ROLES, allow
from sw_mis.db import get_session
from sw_mis.eligibility.service import eligibility_report, jsonable, rulebook
from sw_mis.eligibility.views import SCREENING_ROLES, parse_as_of, visible_household_or_404

blp = Blueprint("api_eligibility", __name__, description="Schemes and eligibility")

OUTCOMES = ("eligible", "not_eligible", "undetermined")


class SchemeSummarySchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    country = fields.String(required=True)
    unit = fields.String(required=True, validate=validate.OneOf(["household", "member"]))
    agency = fields.String(required=True)


class SchemeListSchema(Schema):
    items = fields.List(fields.Nested(SchemeSummarySchema), required=True)


class ParameterSchema(Schema):
    name = fields.String(required=True)
    label = fields.String(required=True)
    values = fields.List(fields.Dict(), required=True)
    reference = fields.String(required=True)
    uncertain = fields.Boolean(required=True)


class CriterionDefinitionSchema(Schema):
    id = fields.String(allow_none=True)
    label = fields.String(required=True)
    kind = fields.String(required=True)
    expression = fields.String(allow_none=True)
    children = fields.List(fields.Nested(lambda: CriterionDefinitionSchema()))


class SchemeDetailSchema(SchemeSummarySchema):
    target_group = fields.String(allow_none=True)
    benefit = fields.Dict(allow_none=True)
    documents = fields.List(fields.String())
    referral = fields.Dict(allow_none=True)
    references = fields.List(fields.Dict())
    criteria = fields.List(fields.Nested(CriterionDefinitionSchema), required=True)
    parameters = fields.List(fields.Nested(ParameterSchema), required=True)


class AsOfQuerySchema(Schema):
    as_of = fields.Date(load_default=None)


class CriterionResultSchema(Schema):
    id = fields.String(allow_none=True)
    label = fields.String(required=True)
    outcome = fields.Boolean(allow_none=True, required=True)
    values = fields.Dict(required=True)
    children = fields.List(fields.Nested(lambda: CriterionResultSchema()))


class MemberOutcomeSchema(Schema):
    id = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))


class MissingSchema(Schema):
    path = fields.String(required=True)
    label = fields.String(required=True)


class BenefitSchema(Schema):
    amount = fields.Raw(allow_none=True)
    currency = fields.String(allow_none=True)
    period = fields.String(allow_none=True)


class SchemeResultSchema(Schema):
    scheme = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    members = fields.List(fields.Nested(MemberOutcomeSchema), required=True)
    criteria = fields.List(fields.Nested(CriterionResultSchema), required=True)
    missing = fields.List(fields.Nested(MissingSchema), required=True)
    benefit = fields.Nested(BenefitSchema, allow_none=True, required=True)
    parameters = fields.Dict()


class EligibilitySchema(Schema):
    household = fields.String(required=True)
    as_of = fields.String(required=True)
    rules_version = fields.String(required=True)
    results = fields.List(fields.Nested(SchemeResultSchema), required=True)


def scheme_summary(scheme: Any) -> dict[str, Any]:
    """Return the list entry of a scheme."""
    return {
        "id": scheme.id,
        "name": scheme.name,
        "country": scheme.country,
        "unit": scheme.unit,
        "agency": str(scheme.info.get("agency", "")),
    }


def _criterion_definition(c: Any) -> dict[str, Any]:
    return {
        "id": c.id,
        "label": c.label,
        "kind": c.kind,
        "expression": c.source or None,
        "children": [_criterion_definition(ch) for ch in c.children],
    }


def scheme_detail(scheme: Any) -> dict[str, Any]:
    """Return a scheme's definition: criteria, dated parameters and sources."""
    info = scheme.info
    return jsonable(
        {
            **scheme_summary(scheme),
            "target_group": info.get("target_group"),
            "benefit": info.get("benefit"),
            "documents": [str(d) for d in info.get("documents", []) or []],
            "referral": info.get("referral"),
            "references": info.get("references", []) or [],
            "criteria": [_criterion_definition(c) for c in scheme.criteria],
            "parameters": [
                {
                    "name": name,
                    "label": p.label or name,
                    "reference": p.reference,
                    "uncertain": p.uncertain,
                    "values": [
                        {"from": d, "value": v} for d, v in zip(p.dates, p.values, strict=True)
                    ],
                }
                for name in scheme.params_used
                for p in [scheme.parameters[name]]
            ],
        }
    )


@blp.route("/schemes")
class SchemesResource(MethodView):
    @allow(*ALL_ROLES)
    @blp.response(200, SchemeListSchema)
    def get(self) -> dict[str, Any]:
        """List every loaded scheme."""
        book = rulebook()
        items = sorted(book.schemes.values(), key=lambda s: (s.country, s.id))
        return {"items": [scheme_summary(s) for s in items]}


@blp.route("/schemes/<scheme_id>")
class SchemeResource(MethodView):
    @allow(*ALL_ROLES)
    @blp.response(200, SchemeDetailSchema)
    @blp.alt_response(404, description="No such scheme")
    def get(self, scheme_id: str) -> dict[str, Any]:
        """Return one scheme's criteria, parameters and sources."""
        scheme = rulebook().schemes.get(scheme_id)
        if scheme is None:
            abort(404, message=f"No scheme {scheme_id!r} is loaded.")
        return scheme_detail(scheme)


@blp.route("/households/<ref>/eligibility")
class EligibilityResource(MethodView):
    @allow(*SCREENING_ROLES)
    @blp.arguments(AsOfQuerySchema, location="query")
    @blp.response(200, EligibilitySchema)
    @blp.alt_response(404, description="No such household in the caller's area")
    def get(self, args: dict[str, Any], ref: str) -> dict[str, Any]:
        """Screen a household against every scheme of its country as of a date."""
        household = visible_household_or_404(ref)
        as_of = args.get("as_of") or parse_as_of(None)
        record_event(
            get_session(),
            "household.screen",
            object_type="household",
            object_ref=household.ref,
            details={"as_of": as_of.isoformat(), "api": True},
        )
        return eligibility_report(household, as_of)
