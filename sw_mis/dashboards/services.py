"""Dashboard figures for supervisors and programme officers, one function per figure.

Every figure is one or two GROUP BY queries (SQLAlchemy Core, the same on SQLite and
PostgreSQL), limited to the households the user may see and to the filters; Python only pivots
the few aggregated rows into a table and a chart. A figure's table is exactly its CSV.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ColumnElement,
    Date,
    and_,
    case,
    false,
    func,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from sw_mis.audit.models import AuditEvent
from sw_mis.auth.models import Area
from sw_mis.auth.services import visible_area_codes
from sw_mis.dashboards.svg import Chart, chart_values
from sw_mis.eligibility.models import Determination, ScreeningCount, ScreeningRun
from sw_mis.exports.writers import CSV_BOM, neutralise
from sw_mis.referrals.models import STATUSES, Referral
from sw_mis.referrals.services import today
from sw_mis.registry.models import Enrolment, Household
from sw_mis.registry.visibility import visible_clause

DASHBOARD_ROLES = ("supervisor", "programme_officer", "auditor", "admin")
OUTCOMES = ("eligible", "not_eligible", "undetermined")
#: Duplicate handling read from the audit trail: (key, column heading).
DUPLICATE_KINDS = (
    ("merge", _l("Merged")),
    ("national_id_override", _l("National ID override")),
    ("not_a_duplicate", _l("Confirmed not a duplicate")),
)
#: Screening outcomes and referral statuses as series names (a table heading capitalises them).
VALUE_LABELS = {
    "eligible": _l("eligible"),
    "not_eligible": _l("not eligible"),
    "undetermined": _l("undetermined"),
    "issued": _l("issued"),
    "received": _l("received"),
    "enrolled": _l("enrolled"),
    "rejected": _l("rejected"),
    "expired": _l("expired"),
    "cancelled": _l("cancelled"),
}
MISSING_FACTS_PER_SCHEME = 10
#: Above this many areas a stacked chart's colours would repeat; draw one series instead.
MAX_SERIES = 8


@dataclass(frozen=True)
class Filters:
    """What every figure is narrowed by: a date range (inclusive) and a province."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    admin1: str | None = None

    def as_dict(self) -> dict[str, str]:
        """Return the filters that are set, as strings (for links and the audit trail)."""
        values = {"date_from": self.date_from, "date_to": self.date_to, "admin1": self.admin1}
        return {k: str(v) for k, v in values.items() if v}


@dataclass(frozen=True)
class Figure:
    """One computed figure: a table (also its CSV) and the chart drawn from it.

    Titles, headings, series, notes and the rows' own words ("Total", "All areas", "(no
    area)") are plain ``str`` in the current language (English outside a request); names and
    counts are data, never translated.
    """

    name: str
    title: str
    headers: list[str]
    rows: list[list[Any]]
    chart: Chart
    note: str = ""
    numeric: set[int] = field(default_factory=set)  # column indexes aligned right


# --- portable SQL pieces -----------------------------------------------------------------------
class week_start(FunctionElement[dt.date]):
    """The Monday (UTC) of the week a timestamp falls in, as a date."""

    type = Date()
    name = "week_start"
    inherit_cache = True


@compiles(week_start)
def _week_start_sqlite(element: week_start, compiler: Any, **kw: Any) -> str:
    # Forward to Sunday (same day if Sunday), then back six days: that week's Monday.
    return f"date({compiler.process(element.clauses, **kw)}, 'weekday 0', '-6 days')"


@compiles(week_start, "postgresql")
def _week_start_postgresql(element: week_start, compiler: Any, **kw: Any) -> str:
    # In UTC, as on SQLite, whatever the server's TimeZone setting.
    arg = compiler.process(element.clauses, **kw)
    return f"CAST(date_trunc('week', {arg} AT TIME ZONE 'UTC') AS DATE)"


def _start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _in_period(column: Any, filters: Filters) -> list[ColumnElement[bool]]:
    """Return conditions keeping a timestamp within the (inclusive) date range."""
    out = []
    if filters.date_from:
        out.append(column >= _start(filters.date_from))
    if filters.date_to:
        out.append(column < _start(filters.date_to + dt.timedelta(days=1)))
    return out


def _in_date_period(column: Any, filters: Filters) -> list[ColumnElement[bool]]:
    """Return conditions keeping a date within the (inclusive) date range."""
    out = []
    if filters.date_from:
        out.append(column >= filters.date_from)
    if filters.date_to:
        out.append(column <= filters.date_to)
    return out


def _scope(session: Session, user: Any, filters: Filters) -> list[ColumnElement[bool]]:
    """Return conditions on ``households``: the user's areas and the chosen province."""
    out = [visible_clause(session, user)]
    if filters.admin1:
        out.append(Household.admin1 == filters.admin1)
    return out


def _area_column(filters: Filters) -> Any:
    # With a province chosen, figures break down by its districts; otherwise by province.
    return Household.admin2 if filters.admin1 else Household.admin1


def _counts_scope(session: Session, user: Any, filters: Filters) -> list[ColumnElement[bool]]:
    """``_scope`` for the area counts of screening runs (areas as they were at the run)."""
    codes = visible_area_codes(session, user)
    out: list[ColumnElement[bool]] = []
    if codes is not None:
        out.append(
            or_(
                ScreeningCount.admin1.in_(codes),
                ScreeningCount.admin2.in_(codes),
                ScreeningCount.admin3.in_(codes),
            )
        )
    if filters.admin1:
        out.append(ScreeningCount.admin1 == filters.admin1)
    return out


def _area_names(session: Session, codes: set[str | None]) -> dict[str | None, str]:
    known = {c for c in codes if c}
    no_area = _("(no area)")
    names: dict[str | None, str] = {None: no_area}
    if known:
        stmt = select(Area.code, Area.name).where(Area.code.in_(known))
        names.update({code: name for code, name in session.execute(stmt)})
    return {c: names.get(c, c or no_area) for c in codes}


def _weeks(found: set[dt.date]) -> list[dt.date]:
    """Return every week from the first to the last (empty weeks included, so gaps show)."""
    if not found:
        return []
    first, last = min(found), max(found)
    return [first + dt.timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


def _scheme_label(names: Mapping[str, str], scheme_id: str) -> str:
    return names.get(scheme_id, scheme_id)


def _pivot(
    counts: Mapping[tuple[Any, Any], int], keys: list[Any], columns: list[Any]
) -> list[list[int]]:
    return [[counts.get((k, c), 0) for c in columns] for k in keys]


def available_admin1(session: Session, user: Any) -> list[tuple[str, str]]:
    """Return (code, name) of the provinces the user sees all or part of."""
    codes = visible_area_codes(session, user)
    stmt = select(Area.code, Area.name).where(Area.level == 1)
    if codes is not None:
        # A district office sees part of its province: offer the province, visibility still
        # limits every figure to the districts it covers.
        parents = select(Area.parent_code).where(Area.code.in_(codes))
        stmt = stmt.where(or_(Area.code.in_(codes), Area.code.in_(parents)))
    return [(c, n) for c, n in session.execute(stmt.order_by(Area.country, Area.name))]


# --- registry ----------------------------------------------------------------------------------
def registrations(
    session: Session, user: Any, filters: Filters, scheme_names: Mapping[str, str]
) -> Figure:
    """Count households registered per week and area (province, or district of a province)."""
    week = week_start(Household.registered_at)
    area = _area_column(filters)
    stmt = (
        select(week, area, func.count())
        .where(*_scope(session, user, filters), *_in_period(Household.registered_at, filters))
        .group_by(week, area)
    )
    counts = {(w, a): n for w, a, n in session.execute(stmt)}
    names = _area_names(session, {a for _, a in counts})
    areas = sorted(names, key=lambda c: (names[c], c or ""))
    weeks = _weeks({w for w, _ in counts})
    table = _pivot(counts, weeks, areas)
    rows = [[w.isoformat(), *r, sum(r)] for w, r in zip(weeks, table, strict=True)]
    if rows:
        rows.append([_("Total"), *(sum(c) for c in zip(*table, strict=True)), sum(map(sum, table))])
    stacked = 0 < len(areas) <= MAX_SERIES
    chart = Chart(
        labels=[w.isoformat() for w in weeks],
        series=[names[a] for a in areas] if stacked else [_("Households")],
        values=chart_values(table if stacked else [[sum(r)] for r in table]),
        orientation="columns",
        title=_("Households registered per week"),
    )
    return Figure(
        "registrations",
        _("Households registered per week"),
        [_("Week starting (Monday, UTC)"), *(names[a] for a in areas), _("Total")],
        rows,
        chart,
        note=_("One column per district; every household registered, whatever its status now.")
        if filters.admin1
        else _("One column per province; every household registered, whatever its status now."),
        numeric=set(range(1, len(areas) + 2)),
    )


def duplicates(
    session: Session, user: Any, filters: Filters, scheme_names: Mapping[str, str]
) -> Figure:
    """Count duplicates handled per week: merges, ID overrides, confirmed non-duplicates."""
    override = AuditEvent.details["override"].as_string() == "national_id"
    confirmed = AuditEvent.details["confirmed_not_duplicate"].as_boolean().is_(True)
    merge = AuditEvent.action == "household.merge"
    kind = case((merge, "merge"), (override, "national_id_override"), else_="not_a_duplicate")
    week = week_start(AuditEvent.at)
    stmt = (
        select(week, kind, func.count())
        .join(
            Household,
            and_(AuditEvent.object_type == "household", AuditEvent.object_ref == Household.ref),
        )
        .where(
            AuditEvent.action.in_(("household.merge", "household.register", "household.update")),
            or_(merge, override, confirmed),
            *_scope(session, user, filters),
            *_in_period(AuditEvent.at, filters),
        )
        .group_by(week, kind)
    )
    counts = {(w, k): n for w, k, n in session.execute(stmt)}
    weeks = _weeks({w for w, _ in counts})
    kinds = [k for k, _ in DUPLICATE_KINDS]
    table = _pivot(counts, weeks, kinds)
    rows = [[w.isoformat(), *r, sum(r)] for w, r in zip(weeks, table, strict=True)]
    if rows:
        rows.append([_("Total"), *(sum(c) for c in zip(*table, strict=True)), sum(map(sum, table))])
    labels = [str(label) for _key, label in DUPLICATE_KINDS]
    chart = Chart(
        labels=[w.isoformat() for w in weeks],
        series=labels,
        values=chart_values(table),
        orientation="columns",
        title=_("Duplicates found per week"),
    )
    return Figure(
        "duplicates",
        _("Duplicates found per week"),
        [_("Week starting (Monday, UTC)"), *labels, _("Total")],
        rows,
        chart,
        note=_(
            "From the audit trail: households merged, national IDs registered twice on a "
            "supervisor's override, and likely duplicates a clerk confirmed were different."
        ),
        numeric=set(range(1, len(kinds) + 2)),
    )


# --- screening and referrals -------------------------------------------------------------------
def _scheme_pivot(
    name: str,
    title: str,
    counts: Mapping[tuple[str, str], int],
    columns: list[str],
    scheme_names: Mapping[str, str],
    note: str,
) -> Figure:
    schemes = sorted({s for s, _ in counts}, key=lambda s: (_scheme_label(scheme_names, s), s))
    table = _pivot(counts, schemes, columns)
    labels = [str(VALUE_LABELS.get(c, c.replace("_", " "))) for c in columns]
    rows = [
        [s, _scheme_label(scheme_names, s), *r, sum(r)] for s, r in zip(schemes, table, strict=True)
    ]
    chart = Chart(
        labels=[_scheme_label(scheme_names, s) for s in schemes],
        series=labels,
        values=chart_values(table),
        title=title,
    )
    return Figure(
        name,
        title,
        [_("Scheme ID"), _("Scheme"), *(_capitalize(label) for label in labels), _("Total")],
        rows,
        chart,
        note=note,
        numeric=set(range(2, len(columns) + 3)),
    )


def _capitalize(text: str) -> str:
    # Only the first letter: str.capitalize() would lower the rest ("ID", names).
    return text[:1].upper() + text[1:]


def screenings(
    session: Session, user: Any, filters: Filters, scheme_names: Mapping[str, str]
) -> Figure:
    """Count stored screenings (determinations) per scheme and outcome."""
    stmt = (
        select(Determination.scheme_id, Determination.outcome, func.count())
        .join(Household, Household.id == Determination.household_id)
        .where(*_scope(session, user, filters), *_in_period(Determination.created_at, filters))
        .group_by(Determination.scheme_id, Determination.outcome)
    )
    counts = {(s, o): n for s, o, n in session.execute(stmt)}
    outcomes = list(OUTCOMES) + sorted({o for _, o in counts} - set(OUTCOMES))
    return _scheme_pivot(
        "screenings",
        _("Screenings per scheme and outcome"),
        counts,
        outcomes,
        scheme_names,
        _("Screenings a clerk acted on (stored determinations), by the day they were made."),
    )


def referrals(
    session: Session, user: Any, filters: Filters, scheme_names: Mapping[str, str]
) -> Figure:
    """Count referrals per scheme and status (issued ones past their expiry count as expired)."""
    status = case(
        (and_(Referral.status == "issued", Referral.expires_on < today()), "expired"),
        else_=Referral.status,
    )
    stmt = (
        select(Referral.scheme_id, status, func.count())
        .join(Household, Household.id == Referral.household_id)
        .where(*_scope(session, user, filters), *_in_date_period(Referral.issued_on, filters))
        .group_by(Referral.scheme_id, status)
    )
    counts = {(s, st): n for s, st, n in session.execute(stmt)}
    statuses = list(STATUSES) + sorted({st for _, st in counts} - set(STATUSES))
    return _scheme_pivot(
        "referrals",
        _("Referrals per scheme and status"),
        counts,
        statuses,
        scheme_names,
        _("Referrals by the day they were issued, in their status today."),
    )


def latest_runs(session: Session) -> dict[str, ScreeningRun]:
    """Return, per scheme, the most recent finished registry-wide screening run that covered it."""
    runs = session.scalars(
        select(ScreeningRun)
        .where(ScreeningRun.status == "done")
        .order_by(ScreeningRun.finished_at.desc(), ScreeningRun.id.desc())
    )
    latest: dict[str, ScreeningRun] = {}
    for run in runs:  # few rows: one per `sw-mis screen-all`
        for scheme_id in run.scheme_ids or ():
            latest.setdefault(scheme_id, run)
    return latest


def _latest_counts(session: Session) -> ColumnElement[bool]:
    """Return a condition keeping each scheme's counts from its latest finished run only."""
    by_run: dict[int, list[str]] = defaultdict(list)
    for scheme_id, run in latest_runs(session).items():
        by_run[run.id].append(scheme_id)
    if not by_run:
        return false()
    return or_(
        *(
            and_(ScreeningCount.run_id == run_id, ScreeningCount.scheme_id.in_(sorted(ids)))
            for run_id, ids in sorted(by_run.items())
        )
    )


def _as_of_note(session: Session) -> str:
    dates = sorted({run.as_of for run in latest_runs(session).values()})
    if not dates:
        return _("No registry-wide screening has finished yet (run `sw-mis screen-all`).")
    if len(dates) == 1:
        return _("Latest registry-wide screening as of %(date)s", date=dates[0].isoformat())
    return _(
        "Latest registry-wide screening as of %(first)s to %(last)s",
        first=dates[0].isoformat(),
        last=dates[-1].isoformat(),
    )


def undetermined(
    session: Session, user: Any, filters: Filters, scheme_names: Mapping[str, str]
) -> Figure:
    """Count undetermined households per scheme: registry-wide and among stored screenings."""
    registry = (
        select(ScreeningCount.scheme_id, func.sum(ScreeningCount.undetermined))
        .where(
            _latest_counts(session),
            ScreeningCount.undetermined > 0,
            *_counts_scope(session, user, filters),
        )
        .group_by(ScreeningCount.scheme_id)
    )
    stored = (
        select(Determination.scheme_id, func.count())
        .join(Household, Household.id == Determination.household_id)
        .where(
            Determination.outcome == "undetermined",
            *_scope(session, user, filters),
            *_in_period(Determination.created_at, filters),
        )
        .group_by(Determination.scheme_id)
    )
    counts: dict[tuple[str, str], int] = {}
    for scheme_id, n in session.execute(registry):
        counts[(scheme_id, "registry")] = n
    for scheme_id, n in session.execute(stored):
        counts[(scheme_id, "stored")] = n
    schemes = sorted({s for s, _ in counts}, key=lambda s: (_scheme_label(scheme_names, s), s))
    table = _pivot(counts, schemes, ["registry", "stored"])
    series = [_("Households (registry-wide)"), _("Screenings at the counter")]
    return Figure(
        "undetermined",
        _("Undetermined cases per scheme"),
        [_("Scheme ID"), _("Scheme"), *series],
        [[s, _scheme_label(scheme_names, s), *r] for s, r in zip(schemes, table, strict=True)],
        Chart(
            labels=[_scheme_label(scheme_names, s) for s in schemes],
            series=series,
            values=chart_values(table),
            mode="grouped",
            title=_("Undetermined cases per scheme"),
        ),
        note=_(
            "%(as_of)s (the date range does not apply to it); counter screenings by the day "
            "they were made.",
            as_of=_as_of_note(session),
        ),
        numeric={2, 3},
    )


def _missing_fact_values(session: Session) -> Any:
    """Return the table-valued function that spreads a JSON list into rows, per dialect."""
    if session.get_bind().dialect.name == "postgresql":
        # The column is ``json`` (not jsonb) on PostgreSQL.
        return func.json_array_elements_text(Determination.missing).table_valued("value")
    return func.json_each(Determination.missing).table_valued("value")


def missing_facts(
    session: Session, user: Any, filters: Filters, scheme_names: Mapping[str, str]
) -> Figure:
    """Count how often each fact was missing from undetermined screenings, per scheme."""
    fact = _missing_fact_values(session).alias("fact")
    # Functions in FROM see the tables before them (implicitly LATERAL on PostgreSQL).
    stmt = (
        select(Determination.scheme_id, fact.c.value, func.count())
        .select_from(Determination)
        .join(Household, Household.id == Determination.household_id)
        .join(fact, true())
        .where(
            Determination.outcome == "undetermined",
            *_scope(session, user, filters),
            *_in_period(Determination.created_at, filters),
        )
        .group_by(Determination.scheme_id, fact.c.value)
    )
    by_scheme: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for scheme_id, path, n in session.execute(stmt):
        by_scheme[scheme_id].append((str(path), n))
    rows = []
    for scheme_id in sorted(by_scheme, key=lambda s: (_scheme_label(scheme_names, s), s)):
        top = sorted(by_scheme[scheme_id], key=lambda pn: (-pn[1], pn[0]))
        rows += [
            [scheme_id, _scheme_label(scheme_names, scheme_id), path, n]
            for path, n in top[:MISSING_FACTS_PER_SCHEME]
        ]
    ranked = sorted(rows, key=lambda r: -r[3])[:15]
    return Figure(
        "missing_facts",
        _("Facts most often missing"),
        [_("Scheme ID"), _("Scheme"), _("Missing fact"), _("Undetermined screenings")],
        rows,
        Chart(
            labels=[f"{r[1]}: {r[2]}" for r in ranked],
            series=[_("Undetermined screenings")],
            values=chart_values([[r[3]] for r in ranked]),
            title=_("Facts most often missing"),
        ),
        note=_(
            "The %(num)d facts most often missing per scheme from undetermined counter "
            "screenings; the chart shows the 15 most frequent overall.",
            num=MISSING_FACTS_PER_SCHEME,
        ),
        numeric={3},
    )


# --- coverage ----------------------------------------------------------------------------------
def coverage(
    session: Session, user: Any, filters: Filters, scheme_names: Mapping[str, str]
) -> Figure:
    """Compare households eligible (latest screening run) with households enrolled, per area."""
    area = _area_column(filters)
    scope = _scope(session, user, filters)
    counted_area = ScreeningCount.admin2 if filters.admin1 else ScreeningCount.admin1
    eligible_stmt = (
        select(ScreeningCount.scheme_id, counted_area, func.sum(ScreeningCount.eligible))
        .where(
            _latest_counts(session),
            ScreeningCount.eligible > 0,
            *_counts_scope(session, user, filters),
        )
        .group_by(ScreeningCount.scheme_id, counted_area)
    )
    enrolled_stmt = (
        select(Enrolment.scheme_id, area, func.count(Enrolment.household_id.distinct()))
        .join(Household, Household.id == Enrolment.household_id)
        .where(Enrolment.status == "active", Household.status == "active", *scope)
        .group_by(Enrolment.scheme_id, area)
    )
    eligible = {(s, a): n for s, a, n in session.execute(eligible_stmt)}
    enrolled = {(s, a): n for s, a, n in session.execute(enrolled_stmt)}
    keys = set(eligible) | set(enrolled)
    names = _area_names(session, {a for _, a in keys})
    schemes = sorted({s for s, _ in keys}, key=lambda s: (_scheme_label(scheme_names, s), s))
    rows, totals = [], []
    all_areas = _("All areas")
    for scheme_id in schemes:
        label = _scheme_label(scheme_names, scheme_id)
        areas = sorted((a for s, a in keys if s == scheme_id), key=lambda a: (names[a], a or ""))
        el_total = en_total = 0
        for a in areas:
            el, en = eligible.get((scheme_id, a), 0), enrolled.get((scheme_id, a), 0)
            el_total, en_total = el_total + el, en_total + en
            rows.append([scheme_id, label, names[a], el, en, _ratio(en, el)])
        rows.append([scheme_id, label, all_areas, el_total, en_total, _ratio(en_total, el_total)])
        totals.append([el_total, en_total])
    note = (
        _(
            "%(as_of)s, per district; enrolled = active enrolments of active households today. "
            "The date range does not apply.",
            as_of=_as_of_note(session),
        )
        if filters.admin1
        else _(
            "%(as_of)s, per province; enrolled = active enrolments of active households today. "
            "The date range does not apply.",
            as_of=_as_of_note(session),
        )
    )
    return Figure(
        "coverage",
        _("Coverage: eligible and enrolled households"),
        [
            _("Scheme ID"),
            _("Scheme"),
            _("Area"),
            _("Eligible"),
            _("Enrolled"),
            _("Enrolled per eligible (%)"),
        ],
        rows,
        Chart(
            labels=[_scheme_label(scheme_names, s) for s in schemes],
            series=[_("Eligible"), _("Enrolled")],
            values=chart_values(totals),
            mode="grouped",
            title=_("Eligible and enrolled households per scheme"),
        ),
        note=note,
        numeric={3, 4, 5},
    )


def _ratio(part: int, whole: int) -> str:
    # A string, so the table and the CSV show the same rounding.
    return f"{100 * part / whole:.1f}" if whole else ""


# --- dashboards and CSV ------------------------------------------------------------------------
FigureFn = Callable[[Session, Any, Filters, Mapping[str, str]], Figure]

#: Every figure by the name its CSV is downloaded under.
FIGURES: dict[str, FigureFn] = {
    "registrations": registrations,
    "duplicates": duplicates,
    "screenings": screenings,
    "referrals": referrals,
    "undetermined": undetermined,
    "missing_facts": missing_facts,
    "coverage": coverage,
}

#: Dashboards (one page each, each within 2 s at a million households): name → title, figures.
#: Titles are lazy (defined at import): they take the page's language when shown.
DASHBOARDS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "registry": (_l("Registrations and duplicates"), ("registrations", "duplicates")),
    "screening": (
        _l("Screenings and referrals"),
        ("screenings", "referrals", "undetermined", "missing_facts"),
    ),
    "coverage": (_l("Coverage"), ("coverage",)),
}


def compute_dashboard(
    session: Session, user: Any, name: str, filters: Filters, scheme_names: Mapping[str, str]
) -> list[Figure]:
    """Return the figures of dashboard ``name`` (KeyError for an unknown one)."""
    if session.get_bind().dialect.name == "postgresql":
        # Compiling these one-off aggregates costs PostgreSQL's JIT more (0.2 s a query at a
        # million households) than it saves; LOCAL: only for this request's transaction.
        session.execute(text("SET LOCAL jit = off"))
    return [FIGURES[f](session, user, filters, scheme_names) for f in DASHBOARDS[name][1]]


def figure_csv(figure: Figure) -> str:
    """Return the figure's table as CSV text (BOM for Excel; formulas neutralised)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(figure.headers)
    writer.writerows([neutralise(v) for v in row] for row in figure.rows)
    return CSV_BOM + out.getvalue()


def csv_filename(figure: Figure, filters: Filters) -> str:
    """Return a download name saying what the figure is and when it was made."""
    parts = [figure.name.replace("_", "-"), *filters.as_dict().values(), today().isoformat()]
    return "-".join(p.replace("/", "-") for p in parts) + ".csv"
