"""Turn screening results into what a counter page shows: plain words, no thresholds to compare.

Templates receive computed values only (outcome, reasons, questions to ask); they never
evaluate a rule themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from sw_mis.registry.fields import FIELDS_BY_NAME
from sw_mis.registry.models import Household

OUTCOME_ORDER = ("eligible", "undetermined", "not_eligible")
OUTCOME_TITLES = {
    "eligible": _l("Eligible"),
    "undetermined": _l("Cannot decide yet"),
    "not_eligible": _l("Not eligible"),
}
#: Facts the engine derives, which have no declaration in ``sw_mis.registry.fields``.
DERIVED_LABELS = {
    "age": _l("Age (date of birth)"),
    "age_months": _l("Age in months (date of birth)"),
}


@dataclass
class SchemeView:
    """One scheme's result as the counter page shows it."""

    id: str
    name: str
    agency: str
    unit: str
    outcome: str
    criteria: list[dict[str, Any]]
    #: (member id, name) of the eligible members of a member-level scheme
    eligible_members: list[tuple[str, str]] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    benefit: str = ""


def _fact_label(name: str) -> str:
    fact = FIELDS_BY_NAME.get(name)
    if fact is not None:
        return _(fact.label)
    if name in DERIVED_LABELS:
        return str(DERIVED_LABELS[name])
    return name.replace("_", " ")


def _localized(texts: dict[str, str] | None, default: str) -> str:
    from sw_mis.web.i18n import localized

    return localized(texts, default)


def questions_for(paths: list[str], member_names: dict[str, str]) -> list[str]:
    """Return what to ask the family, one line per fact, naming the members it concerns."""
    household_facts: list[str] = []
    by_fact: dict[str, list[str]] = {}
    for path in paths:
        if path.startswith("members."):
            _members, member_id, fact = path.split(".", 2)
            who = member_names.get(member_id, _("member %(id)s", id=member_id))
            by_fact.setdefault(_fact_label(fact), [])
            if who not in by_fact[_fact_label(fact)]:
                by_fact[_fact_label(fact)].append(who)
        elif _fact_label(path) not in household_facts:
            household_facts.append(_fact_label(path))
    return sorted(household_facts) + [
        f"{label} — {', '.join(people)}" for label, people in sorted(by_fact.items())
    ]


def _format_value(value: Any) -> str:
    if value is None:
        return _("not known")
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and value[0] != value[1]
        and all(isinstance(v, int) for v in value)
    ):
        return _("between %(low)s and %(high)s", low=value[0], high=value[1])
    return str(value).replace("_", " ")


def _criteria_rows(
    criteria: list[dict[str, Any]],
    depth: int = 0,
    labels: dict[str, dict[str, str]] | None = None,
    value_labels: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    labels = labels or {}
    value_labels = value_labels or {}
    rows: list[dict[str, Any]] = []
    for c in criteria:
        children = c.get("children") or []
        if c.get("kind") == "not" and not c.get("label") and len(children) == 1:
            # An unlabelled exclusion reads best as one line: "Not the case: <condition>".
            child = children[0]
            rows.append(
                _row(
                    {**child, "outcome": c.get("outcome")},
                    depth,
                    labels,
                    value_labels,
                    prefix=_("Not the case: "),
                )
            )
            rows.extend(
                _criteria_rows(child.get("children") or [], depth + 1, labels, value_labels)
            )
            continue
        rows.append(_row(c, depth, labels, value_labels))
        rows.extend(_criteria_rows(children, depth + 1, labels, value_labels))
    return rows


def _label_translations(criteria: list[Any]) -> dict[str, dict[str, str]]:
    """Return each criterion's ``label_i18n`` from the rule file, by id and by label."""
    found: dict[str, dict[str, str]] = {}
    for c in criteria:
        if c.label_i18n:
            for key in (c.id, c.label):
                if key:
                    found.setdefault(key, c.label_i18n)
        found.update({k: v for k, v in _label_translations(c.children).items() if k not in found})
    return found


def _row(
    c: dict[str, Any],
    depth: int,
    labels: dict[str, dict[str, str]],
    value_labels: dict[str, str],
    prefix: str = "",
) -> dict[str, Any]:
    values = c.get("values") or {}
    label = c.get("label") or c.get("id") or ""
    texts = labels.get(c.get("id") or "") or labels.get(label)
    return {
        "id": c.get("id"),
        "label": prefix + _localized(texts, label),
        "outcome": c.get("outcome"),
        "depth": depth,
        "facts": [
            (_value_label(k.split(".")[-1], value_labels), _format_value(v))
            for k, v in values.items()
        ],
    }


def _value_label(name: str, value_labels: dict[str, str]) -> str:
    # Facts have translated labels; parameters and derived variables carry the rule file's.
    if name in FIELDS_BY_NAME or name not in value_labels:
        return _fact_label(name)
    return value_labels[name]


def _value_labels(book: Any, scheme: Any) -> dict[str, str]:
    """Return the rule files' labels of a scheme's parameters and of the derived variables."""
    found = {name: d.label for name, d in getattr(book, "derived", {}).items() if d.label}
    found.update({name: p.label for name, p in scheme.parameters.items() if p.label})
    return found


def _benefit_text(benefit: dict[str, Any] | None) -> str:
    if not benefit or benefit.get("amount") is None:
        return ""
    amount = benefit["amount"]
    amount_text = f"{amount:,.0f}" if isinstance(amount, int | float) else str(amount)
    period = benefit.get("period")
    return (
        f"{benefit.get('currency', '')} {amount_text}{' per ' + period if period else ''}".strip()
    )


def group_by_outcome(
    book: Any, household: Household, results: list[Any]
) -> list[tuple[str, str, list[SchemeView]]]:
    """Group results as (outcome, title, schemes) in the order a clerk reads them."""
    names = {str(m.id): m.full_name for m in household.members}
    grouped: dict[str, list[SchemeView]] = {o: [] for o in OUTCOME_ORDER}
    for result in results:
        data = result.to_dict()
        scheme = book.schemes[data["scheme"]]
        view = SchemeView(
            id=scheme.id,
            name=_localized(scheme.name_i18n, scheme.name),
            agency=str(scheme.info.get("agency", "")),
            unit=scheme.unit,
            outcome=data["outcome"],
            criteria=_criteria_rows(
                data.get("criteria", []),
                labels=_label_translations(scheme.criteria),
                value_labels=_value_labels(book, scheme),
            ),
            eligible_members=[
                (str(m["id"]), names.get(str(m["id"]), str(m["id"])))
                for m in data.get("members", [])
                if m["outcome"] == "eligible"
            ],
            questions=questions_for([m["path"] for m in data.get("missing", [])], names),
            benefit=_benefit_text(data.get("benefit")),
        )
        grouped[view.outcome].append(view)
    return [
        (o, str(OUTCOME_TITLES[o]), sorted(grouped[o], key=lambda v: v.name)) for o in OUTCOME_ORDER
    ]


def describe_criteria(criteria: list[Any], depth: int = 0) -> list[dict[str, Any]]:
    """Flatten a scheme's criteria tree into rows (label, kind, the expression, depth)."""
    rows: list[dict[str, Any]] = []
    for c in criteria:
        label = _localized(c.label_i18n, c.label)
        rows.append(
            {"id": c.id, "label": label, "kind": c.kind, "source": c.source, "depth": depth}
        )
        rows.extend(describe_criteria(c.children, depth + 1))
    return rows
