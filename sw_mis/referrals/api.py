"""The referral API: issue, read, print and move referrals under /api/v1/referrals."""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Response, current_app
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from sw_mis.api.fields import UtcDateTime
from sw_mis.auth.access import allow
from sw_mis.db import get_session
from sw_mis.eligibility.service import rulebook
from sw_mis.referrals import services, slips
from sw_mis.referrals.models import STATUSES, Referral
from sw_mis.referrals.services import ReferralError

blp = Blueprint("api_referrals", __name__, description="Referrals")


class ReferralCreateSchema(Schema):
    household = fields.String(required=True, validate=validate.Length(min=1, max=16))
    scheme = fields.String(required=True, validate=validate.Length(min=1, max=80))
    member = fields.Integer(load_default=None, allow_none=True)
    language = fields.String(load_default=None, validate=validate.OneOf(slips.LANGUAGES))
    counter = fields.String(load_default="", validate=validate.Length(max=40))
    approve_undetermined = fields.Boolean(load_default=False)


class TransitionSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class SlipQuerySchema(Schema):
    size = fields.String(load_default="A5", validate=validate.OneOf(tuple(slips.PAGE_SIZES)))


class StatusChangeSchema(Schema):
    at = UtcDateTime()
    from_status = fields.String(data_key="from", allow_none=True)
    to_status = fields.String(data_key="to")
    reason = fields.String(allow_none=True)
    user = fields.Function(lambda c: c.user.username if c.user else None)


class ReferralSchema(Schema):
    ref = fields.String()
    status = fields.Function(lambda r: services.effective_status(r))
    status_reason = fields.String(allow_none=True)
    household = fields.Function(lambda r: r.household.ref)
    scheme = fields.String(attribute="scheme_id")
    member = fields.Integer(attribute="member_id", allow_none=True)
    outcome = fields.Function(lambda r: r.determination.outcome)
    rules_version = fields.Function(lambda r: r.determination.rules_version)
    issued_on = fields.Date()
    expires_on = fields.Date()
    issued_by = fields.Function(lambda r: r.issued_by.username if r.issued_by else None)
    office = fields.Function(lambda r: r.office.code if r.office else None)
    counter = fields.String()
    language = fields.String()
    copies_printed = fields.Integer()
    history = fields.List(fields.Nested(StatusChangeSchema))


def _refuse(exc: ReferralError) -> NoReturn:
    """Answer a refusal by the services with the API's flat error body."""
    if isinstance(exc, services.ReferralNotFound):
        abort(404, message=str(exc))
    if isinstance(exc, services.ReferralForbidden):
        abort(403, message=str(exc))
    field = getattr(exc, "field", "_request")
    code = 409 if isinstance(exc, services.ReferralConflict) else 422
    abort(code, messages={"json": {field: [str(exc)]}})


def _settings():  # type: ignore[no-untyped-def]
    return current_app.config["SW_MIS"]


@blp.route("/referrals")
class ReferralsResource(MethodView):
    @allow(*services.ISSUE_ROLES)
    @blp.arguments(ReferralCreateSchema)
    @blp.response(201, ReferralSchema)
    @blp.alt_response(409, description="An open referral exists for this scheme")
    @blp.alt_response(422, description="Not eligible, or undetermined without approval")
    def post(self, data: dict[str, Any]) -> Referral:
        """Screen a household and issue a referral for an eligible scheme."""
        db = get_session()
        try:
            household = services.find_household(db, current_user, data["household"])
            return services.issue_referral(
                db,
                current_user,
                household,
                data["scheme"],
                book=rulebook(),
                settings=_settings(),
                member_id=data["member"],
                approve_undetermined=data["approve_undetermined"],
                counter=data["counter"],
                language=data["language"],
            )
        except ReferralError as exc:
            _refuse(exc)


@blp.route("/referrals/<ref>")
class ReferralResource(MethodView):
    @allow(*services.VIEW_ROLES)
    @blp.response(200, ReferralSchema)
    def get(self, ref: str) -> Referral:
        """Return a referral with its status history."""
        try:
            return services.get_referral(get_session(), current_user, ref)
        except ReferralError as exc:
            _refuse(exc)

    @allow(*services.MOVE_ROLES)
    @blp.arguments(TransitionSchema)
    @blp.response(200, ReferralSchema)
    @blp.alt_response(409, description="The referral cannot move to this status now (says why)")
    def patch(self, data: dict[str, Any], ref: str) -> Referral:
        """Move a referral to its next status (received, enrolled, rejected, cancelled)."""
        db = get_session()
        try:
            referral = services.get_referral(db, current_user, ref)
            return services.transition_referral(
                db, current_user, referral, data["status"], data["reason"]
            )
        except ReferralError as exc:
            _refuse(exc)


@blp.route("/referrals/<ref>/slip.pdf")
class SlipResource(MethodView):
    @allow(*services.PRINT_ROLES)
    @blp.arguments(SlipQuerySchema, location="query")
    @blp.response(200, content_type="application/pdf", description="The slip as PDF")
    def get(self, query: dict[str, Any], ref: str) -> Response:
        """Print a referral's slip (a reprint is marked as a copy)."""
        db = get_session()
        try:
            referral = services.get_referral(db, current_user, ref)
            data = services.print_slips(
                db,
                current_user,
                [referral],
                book=rulebook(),
                settings=_settings(),
                page_size=query["size"],
            )
        except ReferralError as exc:
            _refuse(exc)
        return Response(
            data,
            mimetype="application/pdf",
            headers={"Content-Disposition": f'inline; filename="referral-{referral.ref}.pdf"'},
        )
