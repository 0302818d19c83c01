"""The facts the registry records about households and members, declared once.

Each :class:`FactField` drives four things: the database column (see ``models.py``), the
counter form (``forms.py``), the API schema and its validation (``schemas.py``) and the names a
rule file may use (``sw_mis.eligibility``). Adding a fact is one declaration here plus an
Alembic migration for its column.

Every fact is nullable: a blank answer is stored as NULL and means *not known*, never *no* or
zero. The eligibility engine depends on that distinction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Level = Literal["household", "member"]
Kind = Literal["bool", "int", "decimal", "date", "enum", "text"]


@dataclass(frozen=True)
class FactField:
    """One recorded fact about a household or a member."""

    name: str
    level: Level
    kind: Kind
    label: str
    section: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    max_length: int = 120
    unit: str = ""
    help: str = ""
    #: Shown on every counter form, whatever the country's schemes use.
    core: bool = False
    #: Must be answered (the registry refuses a record without it).
    required: bool = False
    #: Personal identifier: never in URLs or logs; left out of exports for roles without access.
    identifier: bool = False
    tags: frozenset[str] = field(default_factory=frozenset)


def _h(name: str, kind: Kind, label: str, section: str, **kw: object) -> FactField:
    return FactField(name=name, level="household", kind=kind, label=label, section=section, **kw)  # type: ignore[arg-type]


def _m(name: str, kind: Kind, label: str, section: str, **kw: object) -> FactField:
    return FactField(name=name, level="member", kind=kind, label=label, section=section, **kw)  # type: ignore[arg-type]


WG_LEVELS = ("no_difficulty", "some_difficulty", "a_lot_of_difficulty", "cannot_do_at_all")

# Household sections, in the order a clerk fills them in.
H_LOCATION = "Location"
H_REGISTRY = "Registry and poverty status"
H_INCOME = "Income and expenses"
H_DWELLING = "Dwelling and assets"
H_LAND = "Land and livestock"
H_VULNERABILITY = "Vulnerability and shocks"

HOUSEHOLD_FIELDS: tuple[FactField, ...] = (
    # Location: admin codes come from the country pack's area list.
    _h("admin1", "text", "Province / region", H_LOCATION, core=True, max_length=32),
    _h("admin2", "text", "District", H_LOCATION, core=True, max_length=32),
    _h("admin3", "text", "Sub-district / commune", H_LOCATION, core=True, max_length=32),
    _h("locality", "text", "Village / locality", H_LOCATION, core=True),
    _h("address", "text", "Address", H_LOCATION, core=True, max_length=300),
    _h("area_type", "enum", "Urban or rural", H_LOCATION, choices=("urban", "rural"), core=True),
    _h(
        "country_of_residence",
        "text",
        "Country of residence (if abroad)",
        H_LOCATION,
        max_length=2,
        help="ISO 3166-1 alpha-2 code, only when the household lives abroad.",
    ),
    _h(
        "residence_months_in_area",
        "int",
        "Months living in this area",
        H_LOCATION,
        minimum=0,
        maximum=1200,
        unit="months",
    ),
    _h("special_area", "bool", "Lives in a designated special / remote area", H_LOCATION),
    # Registry and poverty status
    _h("in_social_registry", "bool", "Registered in the national social registry", H_REGISTRY),
    _h("registry_survey_date", "date", "Date of the registry survey", H_REGISTRY),
    _h(
        "pmt_score",
        "decimal",
        "Proxy means test (PMT) score",
        H_REGISTRY,
        minimum=0,
        maximum=100,
        help="As computed by the national registry; leave blank if not known.",
    ),
    _h(
        "welfare_percentile",
        "decimal",
        "Welfare percentile in the district",
        H_REGISTRY,
        minimum=0,
        maximum=100,
    ),
    _h("welfare_decile", "int", "Welfare decile (1 = poorest)", H_REGISTRY, minimum=1, maximum=10),
    _h(
        "registry_group",
        "enum",
        "Socio-economic group",
        H_REGISTRY,
        choices=("group_1", "group_2", "group_3", "group_4"),
    ),
    _h(
        "poverty_status",
        "enum",
        "Poverty status",
        H_REGISTRY,
        choices=("extreme_poor", "poor", "near_poor", "non_poor"),
    ),
    _h(
        "idpoor_level",
        "enum",
        "IDPoor / equity card level",
        H_REGISTRY,
        choices=("level_1", "level_2", "none"),
    ),
    _h("bpl_status", "bool", "Below-poverty-line (BPL) card", H_REGISTRY),
    _h("bpl_score", "int", "BPL score", H_REGISTRY, minimum=0, maximum=100),
    _h("below_extreme_poverty_line", "bool", "Income below the extreme poverty line", H_REGISTRY),
    # Income and expenses
    _h(
        "income_monthly",
        "decimal",
        "Household income per month",
        H_INCOME,
        minimum=0,
        unit="local currency",
        help="All members, all sources.",
    ),
    _h(
        "consumption_per_adult_equivalent",
        "decimal",
        "Consumption per adult equivalent (month)",
        H_INCOME,
        minimum=0,
        unit="local currency",
    ),
    _h(
        "phone_bill_monthly",
        "decimal",
        "Phone bills per month",
        H_INCOME,
        minimum=0,
        unit="local currency",
    ),
    _h(
        "electricity_bill_monthly",
        "decimal",
        "Electricity bill per month",
        H_INCOME,
        minimum=0,
        unit="local currency",
    ),
    _h("receives_private_help", "bool", "Receives regular help from relatives or others", H_INCOME),
    _h("begging_livelihood", "bool", "Lives from begging", H_INCOME),
    _h("meals_per_day", "int", "Meals per day", H_INCOME, minimum=0, maximum=6),
    # Dwelling and assets
    _h(
        "dwelling_type",
        "enum",
        "Dwelling",
        H_DWELLING,
        choices=("house", "apartment", "hut", "shared_room", "makeshift", "homeless", "other"),
    ),
    _h(
        "roof_material",
        "enum",
        "Roof",
        H_DWELLING,
        choices=("concrete", "metal_sheet", "tiles", "wood", "thatch", "other"),
    ),
    _h(
        "wall_material",
        "enum",
        "Walls",
        H_DWELLING,
        choices=("brick_concrete", "wood", "mud", "thatch", "metal_sheet", "other"),
    ),
    _h(
        "water_source",
        "enum",
        "Drinking water",
        H_DWELLING,
        choices=("piped", "public_tap", "well", "surface", "vendor", "other"),
    ),
    _h("sanitation", "enum", "Toilet", H_DWELLING, choices=("flush", "pit", "shared", "none")),
    _h("has_electricity", "bool", "Electricity connection", H_DWELLING),
    _h("rooms", "int", "Rooms", H_DWELLING, minimum=0, maximum=50),
    _h(
        "residential_property_sqm",
        "decimal",
        "Residential property",
        H_DWELLING,
        minimum=0,
        unit="m²",
    ),
    _h("owns_motor_vehicle", "bool", "Owns a motor vehicle (any member)", H_DWELLING),
    # Land and livestock
    _h("land_owned_acres", "decimal", "Land owned", H_LAND, minimum=0, unit="acres"),
    _h("land_irrigated_acres", "decimal", "Irrigated land owned", H_LAND, minimum=0, unit="acres"),
    _h("cultivable_land_in_name", "bool", "Cultivable land recorded in the family's name", H_LAND),
    _h("livestock_cattle_heads", "int", "Cattle (heads)", H_LAND, minimum=0, maximum=100000),
    # Vulnerability and shocks
    _h(
        "shock_affected",
        "bool",
        "Affected by a recent shock (drought, flood, conflict…)",
        H_VULNERABILITY,
    ),
    _h(
        "shock_type",
        "enum",
        "Kind of shock",
        H_VULNERABILITY,
        choices=("drought", "flood", "cyclone", "conflict", "epidemic", "fire", "other"),
    ),
    _h("displaced", "bool", "Displaced household", H_VULNERABILITY),
    _h("social_contract_signed_date", "date", "Date a social contract was signed", H_VULNERABILITY),
)

# Member sections
M_IDENTITY = "Identity"
M_FAMILY = "Family"
M_HEALTH = "Disability and health"
M_EDUCATION = "Education"
M_WORK = "Work, income and pensions"
M_SUPPORT = "Support and other assistance"

MEMBER_FIELDS: tuple[FactField, ...] = (
    _m("sex", "enum", "Sex", M_IDENTITY, choices=("female", "male", "transgender"), core=True),
    _m(
        "date_of_birth",
        "date",
        "Date of birth",
        M_IDENTITY,
        core=True,
        help="If only the year or the age is known, give an estimate and tick 'estimated'.",
    ),
    _m("date_of_birth_estimated", "bool", "Date of birth is estimated", M_IDENTITY, core=True),
    _m(
        "relationship_to_head",
        "enum",
        "Relationship to head",
        M_IDENTITY,
        core=True,
        required=True,
        choices=(
            "head",
            "spouse",
            "child",
            "grandchild",
            "parent",
            "sibling",
            "other_relative",
            "non_relative",
        ),
    ),
    _m(
        "national_id",
        "text",
        "National ID number",
        M_IDENTITY,
        core=True,
        max_length=32,
        identifier=True,
    ),
    _m("birth_registered", "bool", "Birth registered (birth certificate / B-form)", M_IDENTITY),
    _m(
        "citizenship",
        "enum",
        "Citizenship",
        M_IDENTITY,
        choices=("citizen", "naturalized", "foreign", "stateless"),
    ),
    _m(
        "years_legal_residence",
        "int",
        "Years of legal residence in the country",
        M_IDENTITY,
        minimum=0,
        maximum=130,
    ),
    _m("domicile_province", "text", "Province of domicile", M_IDENTITY, max_length=32),
    _m(
        "religion",
        "enum",
        "Religion",
        M_IDENTITY,
        choices=("muslim", "christian", "hindu", "buddhist", "other", "none"),
    ),
    _m("indigenous", "bool", "Belongs to an indigenous people", M_IDENTITY),
    _m("ethnic_minority", "bool", "Belongs to an ethnic minority", M_IDENTITY),
    _m(
        "marital_status",
        "enum",
        "Marital status",
        M_FAMILY,
        core=True,
        choices=("never_married", "married", "widowed", "divorced", "separated", "de_facto_union"),
    ),
    _m(
        "orphan_status",
        "enum",
        "Orphanhood",
        M_FAMILY,
        choices=("not_orphan", "father_dead", "mother_dead", "both_dead", "abandoned"),
    ),
    _m("in_institution", "bool", "Lives in an institution (care home, prison…)", M_FAMILY),
    _m("pregnant", "bool", "Pregnant", M_HEALTH),
    _m("pregnancy_month", "int", "Month of pregnancy", M_HEALTH, minimum=1, maximum=10),
    _m("lactating", "bool", "Breastfeeding", M_HEALTH),
    _m("birth_order", "int", "Birth order (1 = first child)", M_HEALTH, minimum=1, maximum=30),
    _m("wg_seeing", "enum", "Difficulty seeing, even with glasses", M_HEALTH, choices=WG_LEVELS),
    _m(
        "wg_hearing",
        "enum",
        "Difficulty hearing, even with a hearing aid",
        M_HEALTH,
        choices=WG_LEVELS,
    ),
    _m("wg_walking", "enum", "Difficulty walking or climbing steps", M_HEALTH, choices=WG_LEVELS),
    _m(
        "wg_cognition",
        "enum",
        "Difficulty remembering or concentrating",
        M_HEALTH,
        choices=WG_LEVELS,
    ),
    _m(
        "wg_selfcare",
        "enum",
        "Difficulty with self-care (washing, dressing)",
        M_HEALTH,
        choices=WG_LEVELS,
    ),
    _m("wg_communication", "enum", "Difficulty communicating", M_HEALTH, choices=WG_LEVELS),
    _m(
        "disability_severity",
        "enum",
        "Certified disability severity",
        M_HEALTH,
        choices=("none", "mild", "moderate", "severe", "very_severe"),
    ),
    _m(
        "disability_percent",
        "int",
        "Certified disability percentage",
        M_HEALTH,
        minimum=0,
        maximum=100,
        unit="%",
    ),
    _m(
        "disability_type",
        "enum",
        "Kind of disability",
        M_HEALTH,
        choices=("physical", "mental", "sensory", "multiple"),
    ),
    _m(
        "disability_certified_by",
        "text",
        "Disability certified by",
        M_HEALTH,
        max_length=60,
        help="The certifying body, e.g. NADRA, SENADIS, MINSAL, a medical board.",
    ),
    _m("unable_to_work", "bool", "Permanently unable to work", M_HEALTH),
    _m("chronic_illness", "bool", "Chronic illness recognised by health services", M_HEALTH),
    _m("hiv_positive", "bool", "Living with HIV", M_HEALTH),
    _m("immunization_up_to_date", "bool", "Immunisations up to date", M_HEALTH),
    _m("school_enrolled", "bool", "Enrolled in school", M_EDUCATION),
    _m(
        "school_level",
        "enum",
        "School level",
        M_EDUCATION,
        choices=("early_childhood", "primary", "lower_secondary", "upper_secondary", "tertiary"),
    ),
    _m(
        "school_type",
        "enum",
        "School type",
        M_EDUCATION,
        choices=("public", "private", "religious", "community"),
    ),
    _m(
        "attendance_rate",
        "decimal",
        "School attendance",
        M_EDUCATION,
        minimum=0,
        maximum=100,
        unit="%",
    ),
    _m(
        "employment_status",
        "enum",
        "Employment",
        M_WORK,
        choices=(
            "employed",
            "self_employed",
            "unemployed_registered",
            "unemployed",
            "inactive",
            "student",
        ),
    ),
    _m(
        "employment_sector",
        "enum",
        "Employer",
        M_WORK,
        choices=(
            "federal_govt",
            "provincial_govt",
            "local_govt",
            "public_enterprise",
            "private_formal",
            "informal",
            "none",
        ),
    ),
    _m(
        "personal_income_monthly",
        "decimal",
        "Own income per month",
        M_WORK,
        minimum=0,
        unit="local currency",
    ),
    _m("income_tax_payer", "bool", "Pays income tax", M_WORK),
    _m("holds_public_office", "bool", "Holds or held a public office", M_WORK),
    _m("registered_professional", "bool", "Registered professional (doctor, lawyer…)", M_WORK),
    _m("receives_pension", "bool", "Receives a pension", M_WORK),
    _m("pension_type", "enum", "Kind of pension", M_WORK, choices=("contributory", "social")),
    _m(
        "pension_amount_monthly",
        "decimal",
        "Pension per month",
        M_WORK,
        minimum=0,
        unit="local currency",
    ),
    _m("social_insurance_covered", "bool", "Covered by social insurance", M_WORK),
    _m(
        "contribution_years",
        "decimal",
        "Years of contributions / insurable employment",
        M_WORK,
        minimum=0,
        maximum=80,
        unit="years",
    ),
    _m("mine_worker", "bool", "Mine worker", M_WORK),
    _m(
        "foreign_travel_count", "int", "Trips abroad (last 3 years)", M_WORK, minimum=0, maximum=500
    ),
    _m("lost_income_due_to_shock", "bool", "Lost income because of the shock", M_WORK),
    _m(
        "receives_other_assistance",
        "bool",
        "Receives other regular government assistance",
        M_SUPPORT,
    ),
    _m("has_family_support", "bool", "Has regular support from family", M_SUPPORT),
    _m("was_primary_breadwinner", "bool", "Was / is the main breadwinner", M_SUPPORT),
    _m("bank_account", "bool", "Has a bank or mobile-money account in own name", M_SUPPORT),
)

ALL_FIELDS: tuple[FactField, ...] = HOUSEHOLD_FIELDS + MEMBER_FIELDS
FIELDS_BY_NAME: dict[str, FactField] = {f.name: f for f in ALL_FIELDS}
if len(FIELDS_BY_NAME) != len(ALL_FIELDS):  # pragma: no cover - caught at import in development
    raise RuntimeError("fact names must be unique across household and member levels")


def fields_for(level: Level) -> tuple[FactField, ...]:
    """Return the declared facts of one level, in form order."""
    return HOUSEHOLD_FIELDS if level == "household" else MEMBER_FIELDS


def sections(
    level: Level, names: frozenset[str] | None = None
) -> list[tuple[str, list[FactField]]]:
    """Group a level's facts by form section, keeping core facts and those in ``names``."""
    grouped: dict[str, list[FactField]] = {}
    for f in fields_for(level):
        if names is None or f.core or f.name in names:
            grouped.setdefault(f.section, []).append(f)
    return list(grouped.items())
