"""Turn raw household data (form, JSON or import) into clean values, or say exactly what is wrong.

One validator serves every entry point, so a rule (a date of birth may not be in the future,
exactly one head) holds the same way at the counter, in the API and in bulk imports. Values may
arrive typed (from WTForms or marshmallow) or as text (from a file); blank always means *not
known* and is kept as ``None``.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from sw_mis.auth.models import Area
from sw_mis.auth.services import visible_area_codes
from sw_mis.registry.errors import ErrorBag
from sw_mis.registry.fields import HOUSEHOLD_FIELDS, MEMBER_FIELDS, FactField
from sw_mis.registry.models import ENROLMENT_STATUSES

EARLIEST_DATE = dt.date(1900, 1, 1)
MAX_DECIMAL = Decimal("999999999999.99")  # Numeric(14, 2)
NAME_MAX = 80
MAX_MEMBERS = 60

TRUE_WORDS = frozenset({"yes", "y", "true", "1", "on"})
FALSE_WORDS = frozenset({"no", "n", "false", "0", "off"})
UNKNOWN_WORDS = frozenset({"", "unknown", "not_known", "not known", "none", "null"})

HOUSEHOLD_CORE_KEYS = ("country", "consent_given", "consent_date")
MEMBER_CORE_KEYS = ("id", "given_name", "family_name")

# Control characters would break logs and slips; everything else (including "<script>") is
# kept as typed and escaped wherever it is shown.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def choice_label(value: str) -> str:
    """Return the human label of an enum value (``a_lot_of_difficulty`` → 'A lot of difficulty')."""
    return value.replace("_", " ").capitalize()


def today() -> dt.date:
    """Return today's date (a function so tests can reason about 'the future')."""
    return dt.date.today()


def clean_text(value: Any, max_length: int) -> tuple[str | None, str | None]:
    """Return (text or None, error)."""
    if value is None:
        return None, None
    text = unicodedata.normalize("NFC", _CONTROL.sub("", str(value))).strip()
    if not text:
        return None, None
    if len(text) > max_length:
        return None, _(
            "Use at most %(max)d characters (this has %(count)d).",
            max=max_length,
            count=len(text),
        )
    return text, None


def _number_range(fact: FactField, number: Any) -> str | None:
    if fact.minimum is not None and number < fact.minimum:
        return _("Must be at least %(min)s.", min=f"{fact.minimum:g}")
    if fact.maximum is not None and number > fact.maximum:
        return _("Must be at most %(max)s.", max=f"{fact.maximum:g}")
    return None


def coerce_fact(fact: FactField, value: Any) -> tuple[Any, str | None]:
    """Return (clean value, error message or None) for one declared fact."""
    if isinstance(value, str) and value.strip().lower() in UNKNOWN_WORDS and fact.kind != "text":
        return None, None
    if value is None:
        return None, None
    kind = fact.kind
    if kind == "bool":
        if isinstance(value, bool):
            return value, None
        word = str(value).strip().lower()
        if word in TRUE_WORDS:
            return True, None
        if word in FALSE_WORDS:
            return False, None
        return None, _("Answer yes, no or not known.")
    if kind == "int":
        if isinstance(value, bool):
            return None, _("Enter a whole number.")
        try:
            number = int(value) if not isinstance(value, float) else None
            if number is None:
                if not value.is_integer():
                    raise ValueError
                number = int(value)
        except (TypeError, ValueError):
            return None, _("Enter a whole number.")
        return (None, err) if (err := _number_range(fact, number)) else (number, None)
    if kind == "decimal":
        if isinstance(value, bool):
            return None, _("Enter a number.")
        try:
            number = Decimal(str(value).strip().replace(",", ""))
        except InvalidOperation:
            return None, _("Enter a number.")
        if not number.is_finite() or abs(number) > MAX_DECIMAL:
            return None, _("Enter a number.")
        number = number.quantize(Decimal("0.01"))
        return (None, err) if (err := _number_range(fact, number)) else (number, None)
    if kind == "date":
        return clean_date(value)
    if kind == "enum":
        word = str(value).strip().lower()
        if word in fact.choices:
            return word, None
        # The choices' labels are fact texts (sw_mis.web.i18n.extract_fact_texts).
        labels = ", ".join(_(choice_label(c)) for c in fact.choices)
        return None, _("Choose one of: %(choices)s.", choices=labels)
    return clean_text(value, fact.max_length)


def clean_date(value: Any, *, allow_future: bool = False) -> tuple[dt.date | None, str | None]:
    """Return (date, error): real dates only, not before 1900 and not in the future."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        text = str(value).strip()
        try:
            value = dt.date.fromisoformat(text)
        except ValueError:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                return None, _(
                    "%(date)s is not a real date (check the day and the month).", date=text
                )
            return None, _("Enter a date as YYYY-MM-DD.")
    if value < EARLIEST_DATE:
        return None, _("This date is too far in the past; check the year.")
    if not allow_future and value > today():
        return None, _("This date is in the future.")
    return value, None


def _clean_facts(
    facts: tuple[FactField, ...], raw: dict[str, Any], prefix: str, bag: ErrorBag
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fact in facts:
        value, error = coerce_fact(fact, raw.get(fact.name))
        if error:
            bag.add(prefix + fact.name, error)
        elif value is None and fact.required:
            bag.add(prefix + fact.name, _("This answer is required."))
        out[fact.name] = value
    return out


def _unknown_keys(raw: dict[str, Any], allowed: set[str], prefix: str, bag: ErrorBag) -> None:
    for key in raw:
        if key not in allowed:
            bag.add(prefix + str(key), _("Unknown field."))


HOUSEHOLD_KEYS = (
    {f.name for f in HOUSEHOLD_FIELDS}
    | set(HOUSEHOLD_CORE_KEYS)
    | {
        "members",
        "enrolments",
    }
)
MEMBER_KEYS = {f.name for f in MEMBER_FIELDS} | set(MEMBER_CORE_KEYS)
ENROLMENT_KEYS = {"id", "scheme_id", "status", "start_date", "end_date", "member_index"}


def clean_member(raw: dict[str, Any], prefix: str, bag: ErrorBag) -> dict[str, Any]:
    """Return the clean values of one member (errors go to ``bag`` under ``prefix``)."""
    _unknown_keys(raw, MEMBER_KEYS, prefix, bag)
    out = _clean_facts(MEMBER_FIELDS, raw, prefix, bag)
    given, error = clean_text(raw.get("given_name"), NAME_MAX)
    if error:
        bag.add(prefix + "given_name", error)
    elif not given:
        bag.add(prefix + "given_name", _("Enter the given name."))
    family, error = clean_text(raw.get("family_name"), NAME_MAX)
    if error:
        bag.add(prefix + "family_name", error)
    out["given_name"] = given or ""
    out["family_name"] = family or ""
    member_id = raw.get("id")
    if member_id not in (None, ""):
        try:
            out["id"] = int(member_id)
        except (TypeError, ValueError):
            bag.add(prefix + "id", _("Unknown member."))
    if out.get("date_of_birth_estimated") and out.get("date_of_birth") is None:
        bag.add(
            prefix + "date_of_birth", _("Give the estimated date of birth (the year is enough).")
        )
    return out


def _check_roster(members: list[dict[str, Any]], bag: ErrorBag) -> None:
    if not members:
        bag.add("members", _("A household needs at least one member."))
        return
    if len(members) > MAX_MEMBERS:
        bag.add("members", _("A household may have at most %(num)d members.", num=MAX_MEMBERS))
    heads = [i for i, m in enumerate(members) if m.get("relationship_to_head") == "head"]
    if not heads and not any(
        f"members.{i}.relationship_to_head" in bag.errors for i in range(len(members))
    ):
        bag.add("members", _("Exactly one member must be the head of the household; none is."))
    elif len(heads) > 1:
        rows = ", ".join(str(i + 1) for i in heads)
        bag.add(
            "members",
            _("Exactly one member must be the head of the household (rows %(rows)s).", rows=rows),
        )
        for i in heads:
            bag.add(f"members.{i}.relationship_to_head", _("Only one member can be the head."))
    seen: dict[str, int] = {}
    for i, m in enumerate(members):
        nid = m.get("national_id")
        if nid:
            if nid in seen:
                bag.add(
                    f"members.{i}.national_id",
                    _("The same national ID is given for row %(row)d.", row=seen[nid] + 1),
                )
            seen.setdefault(nid, i)


def clean_enrolment(
    raw: dict[str, Any], prefix: str, bag: ErrorBag, members: int | None = None
) -> dict[str, Any]:
    """Return the clean values of one programme enrolment."""
    _unknown_keys(raw, ENROLMENT_KEYS, prefix, bag)
    scheme, error = clean_text(raw.get("scheme_id"), 80)
    if error or not scheme:
        bag.add(prefix + "scheme_id", error or _("Name the programme."))
    status = str(raw.get("status") or "active").strip().lower()
    if status not in ENROLMENT_STATUSES:
        # The status codes themselves: what an API client or an import file must send.
        bag.add(
            prefix + "status",
            _("Choose one of: %(choices)s.", choices=", ".join(ENROLMENT_STATUSES)),
        )
    start, error = clean_date(raw.get("start_date"))
    if error:
        bag.add(prefix + "start_date", error)
    end, error = clean_date(raw.get("end_date"), allow_future=True)
    if error:
        bag.add(prefix + "end_date", error)
    if start and end and end < start:
        bag.add(prefix + "end_date", _("The end date is before the start date."))
    out: dict[str, Any] = {
        "scheme_id": scheme,
        "status": status,
        "start_date": start,
        "end_date": end,
    }
    index = raw.get("member_index")
    if index not in (None, ""):
        try:
            out["member_index"] = int(index)
            if members is not None and not 0 <= out["member_index"] < members:
                raise ValueError
        except (TypeError, ValueError):
            bag.add(prefix + "member_index", _("No member at this row."))
    if raw.get("id") not in (None, ""):
        out["id"] = raw["id"]
    return out


def check_location(
    session: Session,
    user: Any,
    country: str,
    facts: dict[str, Any],
    bag: ErrorBag,
    *,
    check_visibility: bool = True,
) -> None:
    """Check the admin codes exist for ``country``, nest, and lie in the user's office's areas."""
    codes = [facts.get("admin1"), facts.get("admin2"), facts.get("admin3")]
    if not codes[0]:
        bag.add("admin1", _("Choose the province / region."))
    if not codes[1]:
        bag.add("admin2", _("Choose the district."))
    wanted = [c for c in codes if c]
    if not wanted:
        return
    areas = {
        a.code: a
        for a in session.scalars(select(Area).where(Area.code.in_(wanted), Area.country == country))
    }
    parent = None
    for level, code in enumerate(codes, start=1):
        name = f"admin{level}"
        if not code:
            parent = None
            continue
        area = areas.get(code)
        if area is None or area.level != level:
            bag.add(
                name,
                _(
                    "%(code)s is not a level-%(level)d area of %(country)s.",
                    code=code,
                    level=level,
                    country=country,
                ),
            )
        elif level > 1 and (parent is None or area.parent_code != parent):
            bag.add(
                name,
                _("%(code)s is not inside %(parent)s.", code=code, parent=parent)
                if parent
                else _("%(code)s is not inside the area above.", code=code),
            )
        parent = code if area is not None else None
    if bag or not check_visibility:
        return
    visible = visible_area_codes(session, user)
    if visible is not None and not visible.intersection(wanted):
        office = getattr(getattr(user, "office", None), "name", None)
        bag.add(
            "admin2" if codes[1] else "admin1",
            _(
                "This area is not served by %(office)s; the household must be registered there.",
                office=office,
            )
            if office
            else _(
                "This area is not served by your office; the household must be registered there."
            ),
        )


def clean_household(
    session: Session, user: Any, raw: dict[str, Any], *, check_area: bool = True
) -> dict[str, Any]:
    """Validate a whole household (facts, members, enrolments) or raise ValidationError."""
    bag = ErrorBag()
    if not isinstance(raw, dict):
        bag.add("_schema", _("Send a household as an object."))
        bag.raise_if_any()
    _unknown_keys(raw, HOUSEHOLD_KEYS, "", bag)
    facts = _clean_facts(HOUSEHOLD_FIELDS, raw, "", bag)
    country = str(raw.get("country") or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        bag.add("country", _("Give the country as two letters (ISO 3166-1), e.g. PK."))
    if facts.get("country_of_residence"):
        facts["country_of_residence"] = facts["country_of_residence"].upper()
    consent = raw.get("consent_given")
    if isinstance(consent, str):
        consent = consent.strip().lower() in TRUE_WORDS
    if consent is not True:
        bag.add(
            "consent_given",
            _(
                "Consent to data processing is required: read the notice to the household and "
                "record their consent before registering."
            ),
        )
    consent_date, error = clean_date(raw.get("consent_date"))
    if error:
        bag.add("consent_date", error)
    raw_members = raw.get("members")
    members: list[dict[str, Any]] = []
    if raw_members is not None and not isinstance(raw_members, list):
        bag.add("members", _("Send the members as a list."))
    else:
        for i, m in enumerate(raw_members or []):
            if not isinstance(m, dict):
                bag.add(f"members.{i}", _("Send each member as an object."))
                members.append({})
                continue
            members.append(clean_member(m, f"members.{i}.", bag))
    _check_roster(members, bag)
    enrolments = [
        clean_enrolment(e if isinstance(e, dict) else {}, f"enrolments.{i}.", bag, len(members))
        for i, e in enumerate(raw.get("enrolments") or [])
    ]
    if check_area and "country" not in bag.errors:
        check_location(session, user, country, facts, bag)
    bag.raise_if_any()
    return {
        "country": country,
        "consent_given": True,
        "consent_date": consent_date or today(),
        "facts": facts,
        "members": members,
        "enrolments": enrolments,
    }
