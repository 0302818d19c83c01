"""The households API (``/api/v1/households``): register, read, change, list and search,
record life events and programme enrolments.

Handlers are thin: load with the generated schemas, call one service, dump. Service errors map
to HTTP: ValidationError → 422 with flat paths, NotFound → 404, ConflictError → 409,
Forbidden → 403. Search terms travel in the body, never in the URL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort
from werkzeug.exceptions import HTTPException

from sw_mis.api import api
from sw_mis.audit.services import record_event
from sw_mis.auth.access import ALL_ROLES, allow
from sw_mis.db import get_session
from sw_mis.registry import services
from sw_mis.registry.errors import ConflictError, Forbidden, NotFound, ValidationError
from sw_mis.registry.schemas import (
    EnrolmentCreatedSchema,
    EnrolmentCreateSchema,
    EnrolmentListSchema,
    FieldErrorsSchema,
    HouseholdInSchema,
    HouseholdOutSchema,
    HouseholdPageSchema,
    HouseholdPatchSchema,
    LifeEventOutSchema,
    LifeEventSchema,
    ListArgsSchema,
    SearchSchema,
)
from sw_mis.registry.search import Page, list_households, search_households
from sw_mis.registry.validation import MEMBER_KEYS

# Routes carry the full path under /api/v1: init_api registers every API blueprint with
# url_prefix=API_PREFIX, which replaces (not extends) a blueprint's own prefix.
blp = Blueprint("households_api", __name__, description="Households and their members")


@blp.errorhandler(HTTPException)
def _flat_errors(error: HTTPException) -> Any:
    # The app-wide HTTPException handler (web/setup.py) is registered after flask-smorest's and
    # would drop the field messages; a blueprint handler wins for this API's requests.
    return api.handle_http_exception(error)


EDIT_ROLES = tuple(sorted(services.EDIT_ROLES))
READ_ROLES = tuple(sorted(ALL_ROLES))


def _errors(*codes: int) -> Callable[[Any], Any]:
    """Document the error answers of an operation, each with the flat error body."""
    descriptions = {
        400: "Malformed request (for example, a body that is not JSON)",
        401: "No valid bearer token",
        403: "The role may not do this",
        404: "No such household in the areas the user sees",
        409: "The household changed since the given version, or is no longer active",
        413: "The body is too large",
        422: "Invalid input: messages per flat field path; nothing was written",
    }

    def decorate(func: Any) -> Any:
        for code in reversed(codes):
            func = blp.alt_response(code, schema=FieldErrorsSchema, description=descriptions[code])(
                func
            )
        return func

    return decorate


@contextmanager
def service_errors() -> Iterator[None]:
    """Translate registry service errors into HTTP answers."""
    try:
        yield
    except ValidationError as exc:
        abort(422, messages={"json": exc.errors})
    except ConflictError as exc:
        abort(409, messages={"json": {"version": [str(exc)]}})
    except NotFound as exc:
        abort(404, message=str(exc))
    except Forbidden as exc:
        abort(403, message=str(exc))


def _page(result: Page) -> dict[str, Any]:
    return {
        "items": result.items,
        "page": result.page,
        "per_page": result.per_page,
        "total": result.total,
    }


@blp.route("/households")
class Households(MethodView):
    @allow(*READ_ROLES)
    @blp.arguments(ListArgsSchema, location="query")
    @blp.response(200, HouseholdPageSchema)
    @_errors(400, 401, 403, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the households the user sees, newest first."""
        db = get_session()
        result = list_households(db, current_user, args["page"], args["per_page"])
        record_event(db, "household.list", object_type="household", details={"page": result.page})
        return _page(result)

    @allow(*EDIT_ROLES)
    @blp.arguments(HouseholdInSchema)
    @blp.response(201, HouseholdOutSchema)
    @_errors(400, 401, 403, 413, 422)
    def post(self, data: dict[str, Any]) -> Any:
        """Register a household with its members; answer it as stored (ref, version, ids)."""
        override = data.pop("override_reason", None)
        if not data.get("country") and current_user.office is not None:
            data["country"] = current_user.office.country
        with service_errors():
            return services.register_household(
                get_session(), current_user, data, override_reason=override, check_likely=False
            )


@blp.route("/households/search")
class HouseholdSearch(MethodView):
    @allow(*READ_ROLES)
    @blp.arguments(SearchSchema)
    @blp.response(200, HouseholdPageSchema)
    @_errors(400, 401, 403, 413, 422)
    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        """Search by reference, national ID or name (spelling-tolerant); terms stay in the body."""
        result = search_households(
            get_session(), current_user, args["q"], args["page"], args["per_page"]
        )
        return _page(result)


@blp.route("/households/<string:ref>")
class HouseholdByRef(MethodView):
    @allow(*READ_ROLES)
    @blp.response(200, HouseholdOutSchema)
    @_errors(401, 403, 404)
    def get(self, ref: str) -> Any:
        """Read a household with its members (present and past) and enrolments."""
        with service_errors():
            return services.view_household(get_session(), current_user, ref)

    @allow(*EDIT_ROLES)
    @blp.arguments(HouseholdPatchSchema)
    @blp.response(200, HouseholdOutSchema)
    @_errors(400, 401, 403, 404, 409, 413, 422)
    def patch(self, data: dict[str, Any], ref: str) -> Any:
        """Change facts or members of the household at ``version``; 409 if it moved on."""
        db = get_session()
        version = data.pop("version")
        override = data.pop("override_reason", None)
        reason = data.pop("reason", None)
        with service_errors():
            household = services.get_household(db, current_user, ref)
            return services.update_household(
                db,
                current_user,
                household,
                data,
                version=version,
                override_reason=override,
                reason=reason,
            )


def _member_paths(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """Put a member's field errors under ``member.`` (the services name them bare)."""
    out: dict[str, list[str]] = {}
    for path, messages in errors.items():
        field = path.removeprefix("members.0.")
        if field != path or field.split(".")[0] in MEMBER_KEYS:
            path = f"member.{field}"
        out.setdefault(path, []).extend(messages)
    return out


def _record_event(db: Any, household: Any, data: dict[str, Any]) -> int | None:
    """Call the life-event service ``data["type"]`` names; return the member it concerns."""
    kind, version = data["type"], data["version"]
    # A fact left out or null is not known: the services' defaults apply.
    person = {k: v for k, v in (data.get("member") or {}).items() if v is not None}
    try:
        if kind == "birth":
            return services.record_birth(db, current_user, household, person, version=version).id
        if kind == "join" and "member" in data:
            return services.member_joins(
                db, current_user, household, data=person, version=version
            ).id
    except ValidationError as exc:
        raise ValidationError(_member_paths(exc.errors)) from exc
    if kind in ("death", "leave"):
        service = services.record_death if kind == "death" else services.member_leaves
        return service(
            db,
            current_user,
            household,
            data["member_id"],
            date=data.get("date"),
            new_head_id=data.get("new_head_id"),
            reason=data.get("reason"),
            version=version,
        ).id
    if kind == "join":
        try:
            return services.member_joins(
                db,
                current_user,
                household,
                from_ref=data["from_ref"],
                from_member_id=data["from_member_id"],
                relationship=data.get("relationship_to_head"),
                date=data.get("date"),
                version=version,
            ).id
        except NotFound as exc:  # the household named in the URL was found: the other one
            raise ValidationError({"from_ref": [str(exc)]}) from exc
    place = {k: data.get(k) for k in ("admin1", "admin2", "admin3", "locality", "address")}
    services.move_household(
        db, current_user, household, place, version=version, reason=data.get("reason")
    )
    return None


@blp.route("/households/<string:ref>/events")
class HouseholdEvents(MethodView):
    @allow(*EDIT_ROLES)
    @blp.arguments(LifeEventSchema)
    @blp.response(201, LifeEventOutSchema)
    @_errors(400, 401, 403, 404, 409, 413, 422)
    def post(self, data: dict[str, Any], ref: str) -> dict[str, Any]:
        """Record a birth, death, departure, arrival or move of the household at ``version``."""
        db = get_session()
        with service_errors():
            household = services.get_household(db, current_user, ref)
            member_id = _record_event(db, household, data)
        return {"type": data["type"], "member_id": member_id, "household": household}


@blp.route("/households/<string:ref>/enrolments")
class HouseholdEnrolments(MethodView):
    @allow(*READ_ROLES)
    @blp.response(200, EnrolmentListSchema)
    @_errors(401, 403, 404)
    def get(self, ref: str) -> dict[str, Any]:
        """List the household's programme enrolments, past and present (the read is audited)."""
        with service_errors():
            household = services.view_household(get_session(), current_user, ref)
        return {"items": household.enrolments}

    @allow(*EDIT_ROLES)
    @blp.arguments(EnrolmentCreateSchema)
    @blp.response(201, EnrolmentCreatedSchema)
    @_errors(400, 401, 403, 404, 409, 413, 422)
    def post(self, data: dict[str, Any], ref: str) -> Any:
        """Record the household's (or a member's) enrolment in an existing programme."""
        db = get_session()
        version = data.pop("version")
        with service_errors():
            household = services.get_household(db, current_user, ref)
            return services.add_enrolment(db, current_user, household, data, version=version)
