"""Beneficiary lists over the JSON API: a JSON page, or the whole list as CSV, XLSX or PDF."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from sw_mis.auth.access import allow
from sw_mis.db import get_session
from sw_mis.eligibility.service import rulebook
from sw_mis.eligibility.views import parse_as_of
from sw_mis.exports import services
from sw_mis.exports.services import EXPORT_ROLES, FORMATS, OUTCOMES, ExportError
from sw_mis.exports.views import list_response

blp = Blueprint("api_exports", __name__, description="Beneficiary lists")

#: Lazy (built at import): the API's error handler turns it into text in the user's language.
AREA_CODE = validate.Regexp(r"^[A-Za-z0-9._-]{1,32}$", error=_l("Not an area code."))


class BeneficiaryQuerySchema(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS))
    outcome = fields.String(load_default="eligible", validate=validate.OneOf(OUTCOMES))
    as_of = fields.Date(load_default=None)
    admin1 = fields.String(load_default=None, validate=AREA_CODE)
    admin2 = fields.String(load_default=None, validate=AREA_CODE)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000_000))
    per_page = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class PersonSchema(Schema):
    member_id = fields.Integer(required=True)
    member_name = fields.String(allow_none=True)
    sex = fields.String(allow_none=True)
    date_of_birth = fields.String(allow_none=True)
    relationship_to_head = fields.String(allow_none=True)
    national_id = fields.String(
        allow_none=True,
        metadata={"description": "Only for roles that may see personal identifiers."},
    )


class BeneficiarySchema(Schema):
    household = fields.String(required=True)
    country = fields.String(allow_none=True)
    admin1 = fields.String(allow_none=True)
    admin1_name = fields.String(allow_none=True)
    admin2 = fields.String(allow_none=True)
    admin2_name = fields.String(allow_none=True)
    admin3 = fields.String(allow_none=True)
    admin3_name = fields.String(allow_none=True)
    locality = fields.String(allow_none=True)
    head_name = fields.String(allow_none=True)
    head_national_id = fields.String(
        allow_none=True,
        metadata={"description": "Only for roles that may see personal identifiers."},
    )
    members = fields.List(
        fields.Integer(),
        required=True,
        metadata={
            "description": "Ids of the listed members (member-level schemes); empty when the "
            "household as a whole is the beneficiary."
        },
    )
    people = fields.List(fields.Nested(PersonSchema), required=True)


class BeneficiaryPageSchema(Schema):
    items = fields.List(fields.Nested(BeneficiarySchema), required=True)
    total = fields.Integer(required=True, metadata={"description": "Households in the list"})
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


_FILE = {"schema": {"type": "string", "format": "binary"}}


@blp.route("/schemes/<scheme_id>/beneficiaries")
class BeneficiariesResource(MethodView):
    @allow(*EXPORT_ROLES)
    @blp.arguments(BeneficiaryQuerySchema, location="query")
    @blp.response(
        200,
        BeneficiaryPageSchema,
        description="A page of the list (format=json), or the whole list as a file",
    )
    @blp.doc(
        responses={
            "200": {
                "content": {
                    # Listing the formats replaces flask-smorest's own entry: name JSON again.
                    "application/json": {"schema": BeneficiaryPageSchema},
                    "text/csv": {"schema": {"type": "string"}},
                    services.MIMETYPES["xlsx"]: _FILE,
                    "application/pdf": _FILE,
                }
            }
        }
    )
    @blp.alt_response(404, description="No such scheme")
    @blp.alt_response(
        422, description="Invalid parameters, scheme not in force, or a PDF list too long to print"
    )
    def get(self, args: dict[str, Any], scheme_id: str) -> Any:
        """List a scheme's eligible or undetermined households (and members), audited."""
        as_of = args["as_of"] or parse_as_of(None)
        try:
            spec = services.list_spec(
                rulebook(), scheme_id, as_of, args["outcome"], args["admin1"], args["admin2"]
            )
            if args["format"] == "json":
                return services.json_page(
                    get_session(), rulebook(), spec, current_user, args["page"], args["per_page"]
                )
            response: Response = list_response(spec, args["format"])
        except ExportError as exc:
            abort(exc.status, messages={"query": {exc.field: [str(exc)]}})
        return response
