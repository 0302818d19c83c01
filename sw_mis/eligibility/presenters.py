"""Turn screening results into what a counter page shows: plain words, no thresholds to compare.

Templates receive computed values only (outcome, reasons, questions to ask); they never
evaluate a rule themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sw_mis.registry.fields import FIELDS_BY_NAME
from sw_mis.registry.models import Household

OUTCOME_ORDER = ("eligible", "undetermined", "not_eligible")
OUTCOME_TITLES = {
    "eligible": "Eligible",
    "undetermined": "Cannot decide yet",
    "not_eligible": "Not eligible",
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
        return fact.label
    return {"age": "Age (date of birth)", "age_months": "Age in months (date of birth)"}.get(
        name, name.replace("_", " ")
    )


def questions_for(paths: list[str], member_names: dict[str, str]) -> list[str]:
    """Return what to ask the family, one line per fact, naming the members it concerns."""
    household_facts: list[str] = []
    by_fact: dict[str, list[str]] = {}
    for path in paths:
        if path.startswith("members."):
            _, member_id, fact = path.split(".", 2)
            who = member_names.get(member_id, f"member {member_id}")
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
        return "not known"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and value[0] != value[1]
        and all(isinstance(v, int) for v in value)
    ):
        return f"between {value[0]} and {value[1]}"
    return str(value).replace("_", " ")


def _criteria_rows(criteria: list[dict[str, Any]], depth: int = 0) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for c in criteria:
        children = c.get("children") or []
        if c.get("kind") == "not" and not c.get("label") and len(children) == 1:
            # An unlabelled exclusion reads best as one line: "Not the case: <condition>".
            child = children[0]
            rows.append(_row({**child, "outcome": c.get("outcome")}, depth,
                             prefix="Not the case: "))
            rows.extend(_criteria_rows(child.get("children") or [], depth + 1))
            continue
        rows.append(_row(c, depth))
        rows.extend(_criteria_rows(children, depth + 1))
    return rows


def _row(c: dict[str, Any], depth: int, prefix: str = "") -> dict[str, Any]:
    values = c.get("values") or {}
    return {
        "id": c.get("id"),
        "label": prefix + (c.get("label") or c.get("id") or ""),
        "outcome": c.get("outcome"),
        "depth": depth,
        "facts": [(_fact_label(k.split(".")[-1]), _format_value(v)) for k, v in values.items()],
    }


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
            name=scheme.name,
            agency=str(scheme.info.get("agency", "")),
            unit=scheme.unit,
            outcome=data["outcome"],
            criteria=_criteria_rows(data.get("criteria", [])),
            eligible_members=[
                (str(m["id"]), names.get(str(m["id"]), str(m["id"])))
                for m in data.get("members", [])
                if m["outcome"] == "eligible"
            ],
            questions=questions_for([m["path"] for m in data.get("missing", [])], names),
            benefit=_benefit_text(data.get("benefit")),
        )
        grouped[view.outcome].append(view)
    return [(o, OUTCOME_TITLES[o], sorted(grouped[o], key=lambda v: v.name)) for o in OUTCOME_ORDER]


def describe_criteria(criteria: list[Any], depth: int = 0) -> list[dict[str, Any]]:
    """Flatten a scheme's criteria tree into rows (label, kind, the expression, depth)."""
    rows: list[dict[str, Any]] = []
    for c in criteria:
        rows.append(
            {"id": c.id, "label": c.label, "kind": c.kind, "source": c.source, "depth": depth}
        )
        rows.extend(describe_criteria(c.children, depth + 1))
    return rows
