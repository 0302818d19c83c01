"""Register, change and look up households. Services flush; the request or command commits.

Every function takes the session and the acting user, checks what that user may do, validates
everything before writing anything, records who changed what (``ChangeRecord``) and writes an
audit event. Errors are raised as the exceptions in :mod:`sw_mis.registry.errors`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError

from sw_mis.audit.services import record_event
from sw_mis.auth.models import Office, OfficeArea
from sw_mis.registry.duplicates import (
    NAME_SIMILARITY,
    likely_duplicates,
    national_id_clashes,
    same_person_score,
)
from sw_mis.registry.errors import (
    ConflictError,
    ErrorBag,
    Forbidden,
    LikelyDuplicates,
    NotFound,
    ValidationError,
)
from sw_mis.registry.fields import HOUSEHOLD_FIELDS, MEMBER_FIELDS
from sw_mis.registry.models import ChangeRecord, Enrolment, Household, Member
from sw_mis.registry.names import name_key
from sw_mis.registry.refs import RefError, new_ref, parse_ref
from sw_mis.registry.validation import (
    check_location,
    clean_date,
    clean_enrolment,
    clean_household,
    clean_member,
    clean_text,
)
from sw_mis.registry.visibility import can_see, visible_clause

EDIT_ROLES = frozenset({"clerk", "supervisor", "data_manager", "admin"})
OVERRIDE_ROLES = frozenset({"supervisor", "admin"})
MOVE_OFFICE_ROLES = frozenset({"supervisor", "admin"})
MERGE_ROLES = frozenset({"data_manager", "admin"})
LOCATION_KEYS = ("admin1", "admin2", "admin3")

__all__ = [
    "ConflictError",
    "Forbidden",
    "LikelyDuplicates",
    "NotFound",
    "ValidationError",
    "add_enrolment",
    "age_on",
    "get_household",
    "history",
    "member_joins",
    "member_leaves",
    "merge_households",
    "move_household",
    "record_birth",
    "record_death",
    "register_household",
    "rekey_members",
    "update_enrolment",
    "update_household",
    "view_household",
]


# --- helpers -------------------------------------------------------------------------------


def _require(user: Any, roles: frozenset[str], refusal: str) -> None:
    # ``refusal`` is the whole sentence (translated by the caller), not a fragment to fill in:
    # word order differs from one language to the next.
    if getattr(user, "role", None) not in roles:
        raise Forbidden(refusal)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        try:
            return old is not None and new is not None and Decimal(old) == Decimal(new)
        except (TypeError, ValueError):
            return False
    return bool(old == new and type(old) is type(new)) or (old is None and new is None)


def _diff(obj: Any, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Return ``{field: [old, new]}`` for the values that differ from ``obj``'s."""
    changes = {}
    for key, new in values.items():
        old = getattr(obj, key)
        if not _same(old, new):
            changes[key] = [_jsonable(old), _jsonable(new)]
    return changes


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise ConflictError(
            _(
                "Someone else saved this household while you were editing it. Nothing of yours "
                "was saved: reload it, check their changes and make yours again."
            )
        ) from exc


def _touch(household: Household) -> None:
    # Any change to a member or enrolment is a change to the household: bumping updated_at
    # makes the UPDATE carry the version check, so concurrent edits conflict.
    household.updated_at = dt.datetime.now(dt.UTC)


def _check_version(household: Household, version: int | None) -> None:
    if version is not None and int(version) != household.version:
        raise ConflictError(
            _(
                "This household was changed by someone else since you opened it (you edited "
                "version %(yours)s; it is now version %(current)s). Nothing was saved: "
                "reload it, check their changes and make yours again.",
                yours=version,
                current=household.version,
            )
        )


def _require_active(household: Household) -> None:
    if household.status != "active":
        raise ConflictError(
            _(
                "Household %(ref)s is %(status)s; it cannot change.",
                ref=household.ref,
                status=_status(household.status),
            )
        )


def _status(status: str) -> str:
    """Return a record status as the pages name it, in the current language."""
    # presenters imports this module: import it when a message is built, not at load time.
    from sw_mis.registry.presenters import status_label

    return status_label(status)


def _log(
    session: Session,
    user: Any,
    household: Household,
    action: str,
    changes: dict[str, Any] | None = None,
    *,
    member_id: int | None = None,
    reason: str | None = None,
) -> ChangeRecord:
    record = ChangeRecord(
        household_id=household.id,
        member_id=member_id,
        user_id=getattr(user, "id", None),
        action=action,
        reason=reason,
        changes=changes or {},
    )
    session.add(record)
    return record


def _audit(session: Session, user: Any, action: str, household: Household, **details: Any) -> None:
    record_event(
        session,
        action,
        object_type="household",
        object_ref=household.ref,
        details=details,
        user=user,
    )


def age_on(date_of_birth: dt.date | None, on: dt.date | None = None) -> int | None:
    """Return the age in whole years on ``on`` (default today); None when the DOB is unknown."""
    if date_of_birth is None:
        return None
    on = on or dt.date.today()
    return (
        on.year
        - date_of_birth.year
        - ((on.month, on.day) < (date_of_birth.month, date_of_birth.day))
    )


def _member_values(clean: dict[str, Any]) -> dict[str, Any]:
    values = {f.name: clean.get(f.name) for f in MEMBER_FIELDS}
    values["given_name"] = clean["given_name"]
    values["family_name"] = clean["family_name"]
    return values


def _new_member(clean: dict[str, Any], position: int) -> Member:
    member = Member(position=position, status="present", **_member_values(clean))
    member.name_key = name_key(member.given_name, member.family_name)
    return member


def _office_for_area(session: Session, codes: list[str | None]) -> Office | None:
    """Return the office covering the most specific of ``codes`` (admin3, then 2, then 1)."""
    for code in reversed([c for c in codes if c]):
        office = session.scalar(
            select(Office).join(OfficeArea).where(OfficeArea.area_code == code).order_by(Office.id)
        )
        if office is not None:
            return office
    return None


# --- reads ---------------------------------------------------------------------------------


def get_household(session: Session, user: Any, ref: str) -> Household:
    """Return the household ``ref`` if ``user`` may see it, else raise NotFound."""
    try:
        canonical = parse_ref(ref)
    except RefError as exc:
        raise NotFound(str(exc)) from exc
    # The roster comes with every lookup: load it in the same query (one round trip).
    household = (
        session.execute(
            select(Household)
            .options(joinedload(Household.members))
            .where(Household.ref == canonical, visible_clause(session, user))
        )
        .unique()
        .scalar_one_or_none()
    )
    if household is None:
        # Same answer whether it does not exist or belongs to another office: refs can't be probed.
        raise NotFound(_("No household with this reference number in the areas you can see."))
    return household


def view_household(session: Session, user: Any, ref: str) -> Household:
    """Return a visible household and record that ``user`` read it."""
    household = get_household(session, user, ref)
    _audit(session, user, "household.view", household)
    return household


def history(session: Session, household: Household) -> list[ChangeRecord]:
    """Return the household's change records, newest first."""
    return list(
        session.scalars(
            select(ChangeRecord)
            .where(ChangeRecord.household_id == household.id)
            .order_by(ChangeRecord.at.desc(), ChangeRecord.id.desc())
        )
    )


# --- registration --------------------------------------------------------------------------


def _check_duplicates(
    session: Session,
    user: Any,
    clean: dict[str, Any],
    *,
    exclude_household_id: int | None,
    confirm_not_duplicate: bool,
    override_reason: str | None,
    check_likely: bool,
    only_rows: set[int] | None = None,
) -> list[str]:
    """Refuse national ID clashes (unless overridden); raise LikelyDuplicates unless confirmed."""
    bag = ErrorBag()
    reason, error = clean_text(override_reason, 500)
    if error:
        bag.add("override_reason", error)
    if reason and getattr(user, "role", None) not in OVERRIDE_ROLES:
        bag.add("override_reason", _("Only a supervisor may register a national ID twice."))
        reason = None
    ids = {
        i: m["national_id"]
        for i, m in enumerate(clean["members"])
        if m.get("national_id") and (only_rows is None or i in only_rows)
    }
    overridden: list[str] = []
    for row, _member, other in national_id_clashes(session, ids, exclude_household_id):
        if reason:
            overridden.append(other.ref)
            continue
        if can_see(session, user, other):
            message = _(
                "A person with this national ID is already registered in household "
                "%(ref)s. Open that household instead of registering them again.",
                ref=other.ref,
            )
        else:
            office = session.get(Office, other.office_id) if other.office_id else None
            where = f"{office.name} ({office.code})" if office else _("the registry team")
            message = _(
                "A person with this national ID is already registered in an area served by "
                "another office. Ask %(office)s.",
                office=where,
            )
        if getattr(user, "role", None) in OVERRIDE_ROLES:
            message += " " + _("To register anyway, give a reason for the override.")
        else:
            message += " " + _("A supervisor may override this, with a reason.")
        bag.add(f"members.{row}.national_id", message)
    bag.raise_if_any()
    if check_likely and not confirm_not_duplicate:
        members = clean["members"]
        if only_rows is not None:
            members = [m if i in only_rows else {} for i, m in enumerate(members)]
        candidates = likely_duplicates(
            session,
            user,
            clean["country"],
            clean["facts"].get("admin2"),
            members,
            exclude_household_id,
        )
        if candidates:
            raise LikelyDuplicates(candidates)
    return overridden


def register_household(
    session: Session,
    user: Any,
    data: dict[str, Any],
    *,
    confirm_not_duplicate: bool = False,
    override_reason: str | None = None,
    check_likely: bool = True,
) -> Household:
    """Validate and register a household with its members and enrolments, in one flush."""
    _require(user, EDIT_ROLES, _("Your role may not register households."))
    clean = clean_household(session, user, data)
    overridden = _check_duplicates(
        session,
        user,
        clean,
        exclude_household_id=None,
        confirm_not_duplicate=confirm_not_duplicate,
        override_reason=override_reason,
        check_likely=check_likely,
    )
    facts = clean["facts"]
    office = None
    if getattr(user, "office", None) is not None and can_see_codes(session, user, facts):
        office = user.office
    else:
        office = _office_for_area(session, [facts.get(k) for k in LOCATION_KEYS])
    household = Household(
        ref=new_ref(session, clean["country"]),
        country=clean["country"],
        status="active",
        consent_given=True,
        consent_date=clean["consent_date"],
        office_id=office.id if office else None,
        registered_by_id=getattr(user, "id", None),
        **facts,
    )
    household.members = [_new_member(m, i) for i, m in enumerate(clean["members"])]
    session.add(household)
    _flush(session)
    for e in clean["enrolments"]:
        index = e.pop("member_index", None)
        member_id = household.members[index].id if index is not None else None
        session.add(Enrolment(household_id=household.id, member_id=member_id, **e))
    reason = override_reason.strip() if overridden and override_reason else None
    _log(
        session,
        user,
        household,
        "register",
        {"members": [None, len(household.members)]},
        reason=reason,
    )
    details: dict[str, Any] = {"members": len(household.members)}
    if overridden:
        details.update(override="national_id", other_households=overridden, reason=reason)
    if confirm_not_duplicate:
        details["confirmed_not_duplicate"] = True
    _audit(session, user, "household.register", household, **details)
    _flush(session)
    return household


def can_see_codes(session: Session, user: Any, facts: dict[str, Any]) -> bool:
    """Return True when the admin codes in ``facts`` lie in the areas ``user`` sees."""
    from sw_mis.auth.services import visible_area_codes

    codes = visible_area_codes(session, user)
    return codes is None or bool(codes.intersection({facts.get(k) for k in LOCATION_KEYS}))


# --- edits ---------------------------------------------------------------------------------


def _snapshot(household: Household) -> dict[str, Any]:
    """Return the household as raw input data (present members only, with their ids)."""
    raw: dict[str, Any] = {f.name: getattr(household, f.name) for f in HOUSEHOLD_FIELDS}
    raw.update(
        country=household.country,
        consent_given=household.consent_given,
        consent_date=household.consent_date,
    )
    raw["members"] = [
        {
            "id": m.id,
            "given_name": m.given_name,
            "family_name": m.family_name,
            **{f.name: getattr(m, f.name) for f in MEMBER_FIELDS},
        }
        for m in household.current_members
    ]
    return raw


def update_household(
    session: Session,
    user: Any,
    household: Household,
    data: dict[str, Any],
    *,
    version: int | None,
    replace_members: bool = False,
    override_reason: str | None = None,
    reason: str | None = None,
) -> Household:
    """Change facts and members of ``household`` if ``version`` is current; keep history.

    ``data`` may be partial (PATCH): members with an ``id`` are edited, members without one are
    added, and ``members_removed`` lists members leaving the roster with a reason (``left`` or
    ``died``), as the life events record them. With ``replace_members`` (the edit form sends
    the whole roster) present members left out are recorded as having left. Nothing is
    deleted.
    """
    _require(user, EDIT_ROLES, _("Your role may not change households."))
    _require_active(household)
    _check_version(household, version)
    bag = ErrorBag()
    if "enrolments" in data:
        bag.add("enrolments", _("Change enrolments with the enrolment operations."))
    for key in ("country", "consent_given", "consent_date"):
        if key in data and data[key] != getattr(household, key) and data[key] is not None:
            bag.add(key, _("This cannot be changed by an edit."))
    for key in LOCATION_KEYS:
        if key in data and (data[key] or None) != getattr(household, key):
            bag.add(key, _("Use 'move household' to change where the household lives."))
    raw = _snapshot(household)
    raw.update(
        {
            k: v
            for k, v in data.items()
            if k not in ("members", "members_removed", "enrolments", *LOCATION_KEYS)
        }
    )
    removed: list[Member] = []
    by_id = {m.id: m for m in household.current_members}
    existing = {m["id"]: m for m in raw["members"]}
    submitted = []
    for i, m in enumerate(data.get("members") or []):
        if not isinstance(m, dict):
            submitted.append(m)
            continue
        member_id = m.get("id")
        if member_id not in (None, ""):
            base = existing.pop(int(member_id), None) if str(member_id).isdigit() else None
            if base is None:
                bag.add(
                    f"members.{i}.id", _("This member is not (or no longer) in this household.")
                )
                continue
            submitted.append({**base, **m})
        else:
            submitted.append(dict(m))
    departures = _departures(household, data.get("members_removed"), bag)
    for i, (member, *_rest) in enumerate(departures):
        if existing.pop(member.id, None) is None:
            bag.add(
                f"members_removed.{i}.id",
                _("This member is also changed under members: change or remove them, not both."),
            )
    if replace_members and "members" in data:
        removed = [by_id[mid] for mid in existing]
        raw["members"] = submitted
    else:
        raw["members"] = submitted + list(existing.values())
    if departures and not bag:
        _check_head_stays(departures, raw["members"], bag)
    bag.raise_if_any()
    try:
        clean = clean_household(session, user, raw, check_area=False)
    except ValidationError as exc:
        raise ValidationError(_untouched_rows_to_roster(exc.errors, raw, data)) from exc
    old_ids = {m.national_id for m in household.current_members if m.national_id}
    new_rows = {
        i
        for i, m in enumerate(clean["members"])
        if m.get("national_id") and ("id" not in m or m["national_id"] not in old_ids)
    }
    overridden = _check_duplicates(
        session,
        user,
        clean,
        exclude_household_id=household.id,
        confirm_not_duplicate=True,
        override_reason=override_reason,
        check_likely=False,
        only_rows=new_rows,
    )
    reason_text = (clean_text(reason, 500)[0] or None) if reason else None
    if overridden:
        note = f"national ID override: {override_reason}"
        reason_text = f"{reason_text}; {note}" if reason_text else note
    facts = {
        f.name: clean["facts"][f.name] for f in HOUSEHOLD_FIELDS if f.name not in LOCATION_KEYS
    }
    changed = False
    fact_changes = _diff(household, facts)
    if fact_changes:
        for key in fact_changes:
            setattr(household, key, facts[key])
        _log(session, user, household, "update", fact_changes, reason=reason_text)
        changed = True
    by_id = {m.id: m for m in household.members}
    next_position = max((m.position for m in household.members), default=-1) + 1
    for m in clean["members"]:
        values = _member_values(m)
        if "id" in m:
            member = by_id[m["id"]]
            member_changes = _diff(member, values)
            if member_changes:
                for key in member_changes:
                    setattr(member, key, values[key])
                member.name_key = name_key(member.given_name, member.family_name)
                _log(
                    session,
                    user,
                    household,
                    "member.update",
                    member_changes,
                    member_id=member.id,
                    reason=reason_text,
                )
                changed = True
        else:
            member = _new_member(m, next_position)
            next_position += 1
            household.members.append(member)
            _flush(session)
            _log(
                session,
                user,
                household,
                "member.add",
                {k: [None, _jsonable(v)] for k, v in values.items() if v is not None},
                member_id=member.id,
                reason=reason_text,
            )
            changed = True
    for member, status, when, note in departures:
        _mark_gone(session, user, household, member, status, when, note)
        changed = True
    for member in removed:
        member.status = "left"
        member.status_date = dt.date.today()
        member.status_reason = "Removed from the roster on edit"
        _log(
            session,
            user,
            household,
            "member.remove",
            {"status": ["present", "left"]},
            member_id=member.id,
            reason=reason_text,
        )
        changed = True
    if changed:
        _touch(household)
        _flush(session)
        _audit(
            session,
            user,
            "household.update",
            household,
            version=household.version,
            **({"override": "national_id"} if overridden else {}),
            **({"members_removed": [m.id for m, *_rest in departures]} if departures else {}),
        )
    return household


#: Why a member may leave the roster in an edit, and the status it gives them.
DEPARTURES = {"left": "left", "died": "deceased"}
#: The history entry of each way of leaving (the same as the counter's life events).
_GONE_ACTIONS = {"left": "member.leave", "deceased": "death"}


def _departures(
    household: Household, raw: Any, bag: ErrorBag
) -> list[tuple[Member, str, dt.date, str | None]]:
    """Check the ``members_removed`` of an edit: (member, status, date, note) for each.

    Each entry names a present member (``id``), why they leave the roster (``reason``: ``left``
    or ``died``), optionally when (``date``, default today) and a ``note``.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        bag.add("members_removed", _("Send the members to remove as a list."))
        return []
    out: list[tuple[Member, str, dt.date, str | None]] = []
    seen: set[int] = set()
    for i, entry in enumerate(raw):
        path = f"members_removed.{i}"
        if not isinstance(entry, dict):
            bag.add(path, _("Send each member to remove as an object."))
            continue
        for key in entry.keys() - {"id", "reason", "date", "note"}:
            bag.add(f"{path}.{key}", _("Unknown field."))
        member = next(
            (m for m in household.current_members if str(m.id) == str(entry.get("id"))), None
        )
        if member is None:
            bag.add(f"{path}.id", _("This member is not (or no longer) in this household."))
        elif member.id in seen:
            bag.add(f"{path}.id", _("This member is listed twice."))
        reason = entry.get("reason")
        if reason not in DEPARTURES:
            bag.add(f"{path}.reason", _("Say why the member leaves the roster: left or died."))
        when, error = clean_date(entry.get("date"))
        if error:
            bag.add(f"{path}.date", error)
        when = when or dt.date.today()
        if reason == "died" and member and member.date_of_birth and when < member.date_of_birth:
            bag.add(f"{path}.date", _("The date of death is before the date of birth."))
        note, error = clean_text(entry.get("note"), 200)
        if error:
            bag.add(f"{path}.note", error)
        if member is not None and member.id not in seen and reason in DEPARTURES:
            seen.add(member.id)
            out.append((member, DEPARTURES[reason], when, note))
    return out


def _check_head_stays(
    departures: list[tuple[Member, str, dt.date, str | None]],
    roster: list[Any],
    bag: ErrorBag,
) -> None:
    """Refuse removals that would leave the household empty or without a head."""
    if not roster:
        bag.add("members_removed", _("At least one member must stay in the household."))
        return
    if any(isinstance(m, dict) and m.get("relationship_to_head") == "head" for m in roster):
        return
    for i, (member, *_rest) in enumerate(departures):
        if member.relationship_to_head == "head":
            bag.add(
                f"members_removed.{i}.id",
                _(
                    "This member is the head of the household: in the same change, make another "
                    "member the head (under members, relationship_to_head: head)."
                ),
            )


def _mark_gone(
    session: Session,
    user: Any,
    household: Household,
    member: Member,
    status: str,
    when: dt.date,
    note: str | None,
) -> None:
    """End ``member``'s presence (status ``left`` or ``deceased``); the record and history stay."""
    member.status, member.status_date, member.status_reason = status, when, note
    _touch(household)
    _log(
        session,
        user,
        household,
        _GONE_ACTIONS[status],
        {"status": ["present", status], "status_date": [None, when.isoformat()]},
        member_id=member.id,
        reason=note,
    )


def _untouched_rows_to_roster(
    errors: dict[str, list[str]], raw: dict[str, Any], data: dict[str, Any]
) -> dict[str, list[str]]:
    """Report errors on members the request did not send under ``members``, by name.

    A partial update lists only some members; the validator sees the whole roster, and a path
    like ``members.3`` would point at nothing the client sent.
    """
    sent = len(data.get("members") or []) if "members" in data else 0
    out: dict[str, list[str]] = {}
    for path, messages in errors.items():
        parts = path.split(".")
        if (
            parts[0] == "members"
            and len(parts) > 1
            and parts[1].isdigit()
            and int(parts[1]) >= sent
        ):
            member = raw["members"][int(parts[1])]
            name = f"{member.get('given_name', '')} {member.get('family_name', '')}".strip()
            field = parts[2] if len(parts) > 2 else "member"
            out.setdefault("members", []).extend(f"{name} ({field}): {m}" for m in messages)
        else:
            out.setdefault(path, []).extend(messages)
    return out


# --- life events ---------------------------------------------------------------------------


def _present_member(household: Household, member_id: Any, path: str = "member_id") -> Member:
    for m in household.current_members:
        if str(m.id) == str(member_id):
            return m
    raise ValidationError({path: [_("Choose a member who currently lives in this household.")]})


def _hand_over_head(
    session: Session, user: Any, household: Household, leaving: Member, new_head_id: Any
) -> None:
    """When the head leaves or dies, make ``new_head_id`` the head (required if anyone stays)."""
    if leaving.relationship_to_head != "head":
        return
    staying = [m for m in household.current_members if m.id != leaving.id]
    if not staying:
        return
    if new_head_id in (None, ""):
        raise ValidationError({"new_head_id": [_("Choose who becomes the head of the household.")]})
    new_head = _present_member(household, new_head_id, "new_head_id")
    if new_head.id == leaving.id:
        raise ValidationError({"new_head_id": [_("Choose another member as the new head.")]})
    _log(
        session,
        user,
        household,
        "member.update",
        {"relationship_to_head": [new_head.relationship_to_head, "head"]},
        member_id=new_head.id,
    )
    new_head.relationship_to_head = "head"


def _event_date(value: Any, path: str = "date") -> dt.date:
    date, error = clean_date(value)
    if error:
        raise ValidationError({path: [error]})
    return date or dt.date.today()


def _add_member(
    session: Session,
    user: Any,
    household: Household,
    data: dict[str, Any],
    action: str,
    reason: str | None = None,
) -> Member:
    bag = ErrorBag()
    clean = clean_member(data, "", bag)
    if clean.get("relationship_to_head") == "head" and household.head is not None:
        bag.add("relationship_to_head", _("The household already has a head."))
    bag.raise_if_any()
    if clean.get("national_id"):
        _check_duplicates(
            session,
            user,
            {"members": [clean], "country": household.country, "facts": {}},
            exclude_household_id=None,
            confirm_not_duplicate=True,
            override_reason=None,
            check_likely=False,
        )
    position = max((m.position for m in household.members), default=-1) + 1
    member = _new_member(clean, position)
    household.members.append(member)
    _touch(household)
    _flush(session)
    _log(
        session,
        user,
        household,
        action,
        {k: [None, _jsonable(v)] for k, v in _member_values(clean).items() if v is not None},
        member_id=member.id,
        reason=reason,
    )
    _audit(
        session,
        user,
        f"household.{action.replace('member.', 'member_')}",
        household,
        member_id=member.id,
    )
    return member


def record_birth(
    session: Session,
    user: Any,
    household: Household,
    data: dict[str, Any],
    *,
    version: int | None = None,
) -> Member:
    """Add a newborn member (date of birth required, relationship defaults to child)."""
    _require(user, EDIT_ROLES, _("Your role may not record births."))
    _require_active(household)
    _check_version(household, version)
    if not data.get("date_of_birth"):
        raise ValidationError({"date_of_birth": [_("Give the date of birth.")]})
    data = {"relationship_to_head": "child", **data}
    return _add_member(session, user, household, data, "birth")


def record_death(
    session: Session,
    user: Any,
    household: Household,
    member_id: Any,
    *,
    date: Any = None,
    new_head_id: Any = None,
    reason: str | None = None,
    version: int | None = None,
) -> Member:
    """Record that a member died: status deceased, with the date; their record is kept."""
    _require(user, EDIT_ROLES, _("Your role may not record deaths."))
    return _end_membership(
        session,
        user,
        household,
        member_id,
        status="deceased",
        audit_action="household.death",
        date=date,
        new_head_id=new_head_id,
        reason=reason,
        version=version,
        before_birth=_("The date of death is before the date of birth."),
    )


def member_leaves(
    session: Session,
    user: Any,
    household: Household,
    member_id: Any,
    *,
    date: Any = None,
    reason: str | None = None,
    new_head_id: Any = None,
    version: int | None = None,
) -> Member:
    """Record that a member left the household; their record is kept with status 'left'."""
    _require(user, EDIT_ROLES, _("Your role may not record members leaving."))
    return _end_membership(
        session,
        user,
        household,
        member_id,
        status="left",
        audit_action="household.member_leave",
        date=date,
        new_head_id=new_head_id,
        reason=reason,
        version=version,
    )


def _end_membership(
    session: Session,
    user: Any,
    household: Household,
    member_id: Any,
    *,
    status: str,
    audit_action: str,
    date: Any,
    new_head_id: Any,
    reason: str | None,
    version: int | None,
    before_birth: str | None = None,
) -> Member:
    """End a member's presence in the household (death or departure), keeping the record."""
    _require_active(household)
    _check_version(household, version)
    member = _present_member(household, member_id)
    when = _event_date(date)
    if before_birth and member.date_of_birth and when < member.date_of_birth:
        raise ValidationError({"date": [before_birth]})
    note, problem = clean_text(reason, 200)
    if problem:
        raise ValidationError({"reason": [problem]})
    _hand_over_head(session, user, household, member, new_head_id)
    _mark_gone(session, user, household, member, status, when, note)
    _flush(session)
    _audit(session, user, audit_action, household, member_id=member.id)
    return member


def member_joins(
    session: Session,
    user: Any,
    household: Household,
    *,
    data: dict[str, Any] | None = None,
    from_ref: str | None = None,
    from_member_id: Any = None,
    relationship: str | None = None,
    date: Any = None,
    version: int | None = None,
) -> Member:
    """Add a member: a new person (``data``) or one moving from another household.

    A move leaves the person's old record in the old household (status 'left', pointing at the
    new one) and copies their facts into a new member record, so neither household's past
    changes.
    """
    _require(user, EDIT_ROLES, _("Your role may not record members joining."))
    _require_active(household)
    _check_version(household, version)
    if from_ref is None:
        return _add_member(session, user, household, dict(data or {}), "member.join")
    source = get_household(session, user, from_ref)
    if source.id == household.id:
        raise ValidationError({"from_ref": [_("The member already lives in this household.")]})
    mover = _present_member(source, from_member_id, "from_member_id")
    if mover.relationship_to_head == "head" and len(source.current_members) > 1:
        raise ValidationError(
            {
                "from_member_id": [
                    _(
                        "This member is the head of the other household: record a new head "
                        "there first."
                    )
                ]
            }
        )
    when = _event_date(date)
    copied = {f.name: getattr(mover, f.name) for f in MEMBER_FIELDS}
    copied.update(
        given_name=mover.given_name,
        family_name=mover.family_name,
        relationship_to_head=relationship or "other_relative",
    )
    # The person is the same: their national ID may appear on both records (one 'left').
    national_id = copied.pop("national_id")
    mover.status, mover.status_date = "left", when
    mover.status_reason = f"Moved to household {household.ref}"
    _touch(source)
    _flush(session)
    member = _add_member(
        session, user, household, copied, "member.join", reason=f"Moved from household {source.ref}"
    )
    member.national_id = national_id
    _log(
        session,
        user,
        source,
        "member.leave",
        {
            "status": ["present", "left"],
            "moved_to": [None, household.ref],
            "new_member_id": [None, member.id],
        },
        member_id=mover.id,
    )
    _flush(session)
    return member


def move_household(
    session: Session,
    user: Any,
    household: Household,
    data: dict[str, Any],
    *,
    version: int | None = None,
    reason: str | None = None,
) -> Household:
    """Move a household to another area; a move to another office's area needs a supervisor."""
    _require(user, EDIT_ROLES, _("Your role may not move households."))
    _require_active(household)
    _check_version(household, version)
    bag = ErrorBag()
    allowed = {*LOCATION_KEYS, "locality", "address", "area_type", "date"}
    for key in data:
        if key not in allowed:
            bag.add(key, _("Unknown field."))
    raw = {k: data.get(k) for k in (*LOCATION_KEYS, "locality", "address", "area_type")}
    facts: dict[str, Any] = {}
    from sw_mis.registry.fields import FIELDS_BY_NAME
    from sw_mis.registry.validation import coerce_fact

    for key, value in raw.items():
        clean, error = coerce_fact(FIELDS_BY_NAME[key], value)
        if error:
            bag.add(key, error)
        facts[key] = clean
    if not bag:
        check_location(session, user, household.country, facts, bag, check_visibility=False)
    bag.raise_if_any()
    office = _office_for_area(session, [facts.get(k) for k in LOCATION_KEYS])
    new_office_id = office.id if office else None
    if new_office_id != household.office_id and user.role not in MOVE_OFFICE_ROLES:
        raise Forbidden(
            _(
                "This area is served by another office; only a supervisor can move a household "
                "to another office."
            )
        )
    changes = _diff(household, facts)
    if new_office_id != household.office_id:
        changes["office_id"] = [household.office_id, new_office_id]
    if not changes:
        return household
    for key, value in facts.items():
        setattr(household, key, value)
    household.office_id = new_office_id
    _touch(household)
    _log(session, user, household, "move", changes, reason=clean_text(reason, 500)[0])
    _flush(session)
    _audit(session, user, "household.move", household, office_changed="office_id" in changes)
    return household


def merge_households(
    session: Session,
    user: Any,
    keep: Household,
    other: Household,
    *,
    reason: str,
    version: int | None = None,
    other_version: int | None = None,
) -> Household:
    """Merge ``other`` (a confirmed duplicate) into ``keep``; ``other`` is kept, marked merged.

    Members of ``other`` who are the same person as a member of ``keep`` are marked 'left' with
    a pointer to their twin; the others move to ``keep`` with their ids, so their enrolments and
    history follow them. Facts unknown in ``keep`` are filled from ``other``.
    """
    _require(user, MERGE_ROLES, _("Your role may not merge households."))
    _check_version(keep, version)
    _check_version(other, other_version)
    reason_text = clean_text(reason, 500)[0]
    if not reason_text:
        raise ValidationError({"reason": [_("Say why these records are the same household.")]})
    if keep.id == other.id:
        raise ValidationError({"other_ref": [_("Choose a different household to merge.")]})
    if other.status != "active" or keep.status != "active":
        raise ValidationError({"other_ref": [_("Only active households can be merged.")]})
    if keep.country != other.country:
        raise ValidationError({"other_ref": [_("Households of different countries cannot merge.")]})
    filled = {}
    for f in HOUSEHOLD_FIELDS:
        mine, theirs = getattr(keep, f.name), getattr(other, f.name)
        if mine is None and theirs is not None:
            setattr(keep, f.name, theirs)
            filled[f.name] = [None, _jsonable(theirs)]
    moved, twins = [], []
    position = max((m.position for m in keep.members), default=-1) + 1
    for member in list(other.current_members):
        twin = next((k for k in keep.current_members if _same_person(k, member)), None)
        if twin is not None:
            member.status, member.status_date = "left", dt.date.today()
            member.status_reason = f"Same person as member {twin.id} of {keep.ref} (merged)"
            twins.append([member.id, twin.id])
            continue
        if member.relationship_to_head == "head":
            member.relationship_to_head = "other_relative"
        member.position = position
        position += 1
        # Re-parenting (not remove + append) keeps delete-orphan from deleting the row.
        member.household = keep
        moved.append(member.id)
    for enrolment in list(other.enrolments):
        enrolment.household = keep
    other.status, other.merged_into_id = "merged", keep.id
    _touch(keep)
    _touch(other)
    _log(
        session,
        user,
        keep,
        "merge",
        {
            "merged_from": [None, other.ref],
            "members_moved": [None, moved],
            "same_people": [None, twins],
            **filled,
        },
        reason=reason_text,
    )
    _log(
        session,
        user,
        other,
        "merged_into",
        {"status": ["active", "merged"], "merged_into": [None, keep.ref]},
        reason=reason_text,
    )
    _flush(session)
    _audit(session, user, "household.merge", keep, merged=other.ref, moved=len(moved))
    return keep


def _same_person(a: Member, b: Member) -> bool:
    if a.national_id and b.national_id:
        return a.national_id == b.national_id
    score = same_person_score(
        a.given_name, a.family_name, a.date_of_birth, a.date_of_birth_estimated, b
    )
    return score >= NAME_SIMILARITY


# --- enrolments ----------------------------------------------------------------------------


def add_enrolment(
    session: Session,
    user: Any,
    household: Household,
    data: dict[str, Any],
    *,
    version: int | None = None,
) -> Enrolment:
    """Record the household's (or a member's) enrolment in an existing programme."""
    _require(user, EDIT_ROLES, _("Your role may not record enrolments."))
    _require_active(household)
    _check_version(household, version)
    bag = ErrorBag()
    member_id = data.get("member_id")
    clean = clean_enrolment({k: v for k, v in data.items() if k != "member_id"}, "", bag)
    if member_id not in (None, "") and not any(
        str(m.id) == str(member_id) for m in household.members
    ):
        bag.add("member_id", _("Choose a member of this household."))
    bag.raise_if_any()
    enrolment = Enrolment(
        household_id=household.id,
        member_id=int(member_id) if member_id not in (None, "") else None,
        **{k: clean[k] for k in ("scheme_id", "status", "start_date", "end_date")},
    )
    household.enrolments.append(enrolment)
    _touch(household)
    _flush(session)
    _log(
        session,
        user,
        household,
        "enrolment.add",
        {
            k: [None, _jsonable(getattr(enrolment, k))]
            for k in ("scheme_id", "status", "start_date", "end_date")
        },
    )
    _audit(session, user, "household.enrolment_add", household, scheme_id=enrolment.scheme_id)
    return enrolment


def update_enrolment(
    session: Session, user: Any, household: Household, enrolment_id: Any, data: dict[str, Any]
) -> Enrolment:
    """Change an enrolment's status or dates; the old values stay in the history."""
    _require(user, EDIT_ROLES, _("Your role may not change enrolments."))
    _require_active(household)
    enrolment = next((e for e in household.enrolments if str(e.id) == str(enrolment_id)), None)
    if enrolment is None:
        raise NotFound(_("No such enrolment in this household."))
    bag = ErrorBag()
    merged = {
        "scheme_id": enrolment.scheme_id,
        "status": enrolment.status,
        "start_date": enrolment.start_date,
        "end_date": enrolment.end_date,
        **data,
    }
    clean = clean_enrolment(merged, "", bag)
    bag.raise_if_any()
    values = {k: clean[k] for k in ("scheme_id", "status", "start_date", "end_date")}
    changes = _diff(enrolment, values)
    if changes:
        for key, value in values.items():
            setattr(enrolment, key, value)
        _touch(household)
        _log(session, user, household, "enrolment.update", changes)
        _flush(session)
        _audit(session, user, "household.enrolment_update", household, enrolment_id=enrolment.id)
    return enrolment


# --- maintenance ---------------------------------------------------------------------------


def rekey_members(
    session: Session, *, after_id: int = 0, limit: int = 5000
) -> tuple[int, int, int | None]:
    """Bring ``name_key`` up to date for up to ``limit`` members with an id above ``after_id``.

    The key is derived data (see :mod:`sw_mis.registry.names`): when its computation changes,
    rows written before keep the old key until this runs over them. Returns (members read,
    keys changed, last id read or None when there are no more); only changed rows are written,
    so a rerun over up-to-date rows writes nothing.
    """
    rows = session.execute(
        select(Member.id, Member.given_name, Member.family_name, Member.name_key)
        .where(Member.id > after_id)
        .order_by(Member.id)
        .limit(limit)
    ).all()
    changed = [
        {"id": member_id, "name_key": key}
        for member_id, given, family, old in rows
        if (key := name_key(given, family or "")) != old
    ]
    if changed:
        # Bulk UPDATE by primary key: one executemany, no ORM objects loaded.
        session.execute(update(Member), changed)
    return len(rows), len(changed), rows[-1].id if rows else None


def count_households(session: Session) -> int:
    """Return the number of households (all offices); for tests and the admin screens."""
    return session.scalar(select(func.count(Household.id))) or 0


# --- data protection -----------------------------------------------------------------------

CONSENT_ROLES = frozenset({"supervisor", "data_manager", "admin"})


def withdraw_consent(
    session: Session,
    user: Any,
    household: Household,
    *,
    reason: str | None = None,
    version: int | None = None,
) -> Household:
    """Record that the family withdrew consent: hidden from screening and lists, record kept.

    The record stays (for the retention period in docs/operations.md) so that past decisions
    remain explainable; the set-based screening, the beneficiary lists and the counter's
    eligibility page only ever read active households.
    """
    _require(user, CONSENT_ROLES, _("Your role may not record a withdrawal of consent."))
    _check_version(household, version)
    if household.status != "active":
        raise ValidationError(
            {"status": [_("This household is %(status)s.", status=_status(household.status))]}
        )
    text, problem = clean_text(reason, 200)
    if problem or not text:
        raise ValidationError({"reason": [problem or _("Give the reason the family gave.")]})
    household.status = "consent_withdrawn"
    household.consent_withdrawn_at = dt.datetime.now(dt.UTC)
    _log(
        session,
        user,
        household,
        "consent.withdraw",
        {"status": ["active", "consent_withdrawn"]},
        reason=text,
    )
    _flush(session)
    _audit(session, user, "household.consent_withdraw", household)
    return household


def personal_data(session: Session, user: Any, household: Household) -> dict[str, Any]:
    """Return everything the registry holds about a household, for the people it concerns."""
    _require(user, CONSENT_ROLES, _("Your role may not export a household's personal data."))

    def facts(obj: Any, fields: Any) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(obj, f.name)) for f in fields}

    data = {
        "ref": household.ref,
        "country": household.country,
        "status": household.status,
        "consent_given": household.consent_given,
        "consent_date": _jsonable(household.consent_date),
        "registered_at": household.registered_at.isoformat() if household.registered_at else None,
        **facts(household, HOUSEHOLD_FIELDS),
        "members": [
            {
                "id": m.id,
                "given_name": m.given_name,
                "family_name": m.family_name,
                "status": m.status,
                "status_date": _jsonable(m.status_date),
                **facts(m, MEMBER_FIELDS),
            }
            for m in household.members
        ],
        "enrolments": [
            {
                "scheme": e.scheme_id,
                "status": e.status,
                "start_date": _jsonable(e.start_date),
                "end_date": _jsonable(e.end_date),
            }
            for e in household.enrolments
        ],
        "history": [
            {
                "at": r.at.isoformat() if r.at else None,
                "action": r.action,
                "changes": r.changes,
                "reason": r.reason,
            }
            for r in history(session, household)
        ],
    }
    _audit(session, user, "household.personal_data_export", household)
    return data
