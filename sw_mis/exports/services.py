"""Beneficiary lists: the eligible (or undetermined) households and members of a scheme.

Rows come from the registry-wide SQL back-end (``sw_mis.eligibility.sql.scheme_select``) joined
to the households, their areas, their heads and — for member-level schemes — the members, and
are streamed from a server-side cursor, so a list of a million rows never sits in memory. The
same functions serve the web form, the API and the CLI.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import queue
import re
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import IO, Any

from flask_babel import gettext as _
from sqlalchemy import Select, and_, distinct, func, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from sw_mis.audit.services import record_event
from sw_mis.auth.models import Area
from sw_mis.auth.services import visible_area_codes
from sw_mis.eligibility.book import RuleBook, Scheme
from sw_mis.eligibility.sql import scheme_select, tune_for_bulk
from sw_mis.exports import writers
from sw_mis.exports.writers import Column, group_households
from sw_mis.registry.fields import HOUSEHOLD_FIELDS, MEMBER_FIELDS
from sw_mis.registry.models import Household, Member
from sw_mis.registry.visibility import visible_clause
from sw_mis.web.i18n import localized

#: Who may produce beneficiary lists (docs/security.md): the programme side, not the counter.
EXPORT_ROLES = ("supervisor", "programme_officer", "data_manager", "admin")
#: Roles whose lists carry personal identifiers (national ID…); supervisors' lists leave them out.
IDENTIFIER_ROLES = frozenset({"programme_officer", "data_manager", "admin", "system"})
OUTCOMES = ("eligible", "undetermined")
FORMATS = ("csv", "xlsx", "pdf", "json")
#: Rows fetched per round trip from the server-side cursor.
YIELD_PER = 5000

households = Household.__table__
members = Member.__table__
areas = Area.__table__


class SystemUser:
    """The CLI's identity: every area, identifiers included, audited as ``cli``."""

    id = None
    username = "cli"
    role = "system"
    is_authenticated = True


SYSTEM = SystemUser()


class ExportError(ValueError):
    """A list that cannot be produced (unknown scheme, scheme not in force…)."""

    def __init__(self, message: str, status: int = 422, field: str = "_request") -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass(frozen=True)
class ListSpec:
    """What a list holds: one scheme's households with one outcome, as of a date, by area."""

    scheme: Scheme
    as_of: dt.date
    outcome: str = "eligible"
    admin1: str | None = None
    admin2: str | None = None

    @property
    def member_level(self) -> bool:
        """Return True when the list has one row per member (member-level scheme)."""
        return self.scheme.unit == "member"

    def details(self) -> dict[str, Any]:
        """Return the list's parameters, for audit events and file titles."""
        return {
            "scheme": self.scheme.id,
            "outcome": self.outcome,
            "as_of": self.as_of.isoformat(),
            "admin1": self.admin1,
            "admin2": self.admin2,
        }


def list_spec(
    book: RuleBook,
    scheme_id: str,
    as_of: dt.date,
    outcome: str = "eligible",
    admin1: str | None = None,
    admin2: str | None = None,
) -> ListSpec:
    """Check and return a list's parameters; raise ExportError when none can be made."""
    scheme = book.schemes.get(scheme_id)
    if scheme is None:
        raise ExportError(
            _("No scheme %(scheme)s is loaded.", scheme=repr(scheme_id)), 404, "scheme_id"
        )
    if outcome not in OUTCOMES:
        raise ExportError(
            _("Must be one of %(choices)s.", choices=", ".join(OUTCOMES)), field="outcome"
        )
    if scheme.parameters_on(as_of) is None:
        raise ExportError(
            _(
                "Scheme %(scheme)s is not in force on %(date)s.",
                scheme=scheme_id,
                date=as_of.isoformat(),
            ),
            field="as_of",
        )
    return ListSpec(
        scheme, as_of, outcome, (admin1 or "").strip() or None, (admin2 or "").strip() or None
    )


def shows_identifiers(user: Any) -> bool:
    """Return True when ``user``'s lists carry personal identifiers."""
    return getattr(user, "role", None) in IDENTIFIER_ROLES


def columns(spec: ListSpec, user: Any) -> list[Column]:
    """Return the columns of ``spec``'s list as ``user`` may see them, in order.

    Headings are in the current language (English outside a request: the CLI, jobs); fact
    labels are translated as the household page translates them (registry.presenters).
    """
    cols = [
        Column("household", _("Household")),
        Column("country", _("Country")),
        Column("admin1", _("Province code")),
        Column("admin1_name", _("Province")),
        Column("admin2", _("District code")),
        Column("admin2_name", _("District")),
        Column("admin3", _("Sub-district code")),
        Column("admin3_name", _("Sub-district")),
        Column("locality", _("Locality")),
        Column("head_name", _("Head of household")),
    ]
    # Identifier facts are declared once (FactField.identifier): a new one is withheld as well.
    cols += [
        Column(f"head_{f.name}", _("Head's %(fact)s", fact=_(f.label)), identifier=True)
        for f in MEMBER_FIELDS
        if f.identifier
    ]
    cols += [Column(f.name, _(f.label), identifier=True) for f in HOUSEHOLD_FIELDS if f.identifier]
    if spec.member_level:
        cols += [
            Column("member_id", _("Member id"), kind="int"),
            Column("member_name", _("Beneficiary")),
            Column("sex", _("Sex")),
            Column("date_of_birth", _("Date of birth"), kind="date"),
            Column("relationship_to_head", _("Relationship to head")),
        ]
        cols += [Column(f.name, _(f.label), identifier=True) for f in MEMBER_FIELDS if f.identifier]
    if not shows_identifiers(user):
        cols = [c for c in cols if not c.identifier]
    return cols


def _full_name(table: Any) -> Any:
    return func.trim(table.c.given_name + " " + table.c.family_name)


def _session_and_conn(conn_or_session: Session | Connection) -> tuple[Session, Connection, bool]:
    """Return a session (for the visibility rules), its connection, and whether we made it."""
    if isinstance(conn_or_session, Session):
        return conn_or_session, conn_or_session.connection(), False
    return Session(bind=conn_or_session), conn_or_session, True


def _visibility(conn_or_session: Session | Connection, user: Any) -> Any:
    if isinstance(user, SystemUser):
        return true()
    session, _, made = _session_and_conn(conn_or_session)
    try:
        return visible_clause(session, user)
    finally:
        if made:
            session.close()


def _area_conditions(spec: ListSpec, visible: Any) -> list[Any]:
    """Return the conditions on ``households`` of ``spec``'s area and what the user may see."""
    where = [visible]
    if spec.admin1:
        where.append(households.c.admin1 == spec.admin1)
    if spec.admin2:
        where.append(households.c.admin2 == spec.admin2)
    return where


def _listed(
    book: RuleBook,
    spec: ListSpec,
    visible: Any,
    after_id: int | None = None,
    up_to_id: int | None = None,
    columns: Any = None,
) -> Any:
    """Return the scheme's SELECT as a subquery: one row per screened household/member.

    The area and what the user may see narrow the households before they are screened, and
    the member columns a list shows come out of the same SELECT (no second join to fetch
    them). ``OFFSET 0`` keeps the outcome filter out of the subquery: the planners cannot
    estimate it (it is the whole scheme), and a join planned on a guess of 0.5 % of five
    million rows hashes the five million rows.
    """
    return (
        scheme_select(
            book,
            spec.scheme.id,
            spec.as_of,
            after_id,
            up_to_id,
            _area_conditions(spec, visible),
            columns,
        )
        .offset(0)
        .subquery("s")
    )


def _member_columns(_h: Any, m: Any) -> list[Any]:
    """The member's columns a member-level list may show, labelled for ``_rows_select``."""
    if m is None:
        return []
    return [
        _full_name(m).label("member_name"),
        m.c.sex.label("sex"),
        m.c.date_of_birth.label("date_of_birth"),
        m.c.relationship_to_head.label("relationship_to_head"),
        m.c.position.label("position"),
        *(m.c[f.name].label(f"member_{f.name}") for f in MEMBER_FIELDS if f.identifier),
    ]


def _listed_households(
    spec: ListSpec, visible: Any, after_id: int | None, up_to_id: int | None
) -> Any:
    """Return the households a list may hold, with their columns and their place in it.

    ``place`` numbers them by province, district and reference: the list is then sorted on
    that one integer (and the member's position) rather than on three strings per member,
    which took most of a national list's time.
    """
    head = members.alias("hm")
    a = {level: areas.alias(f"a{level}") for level in (1, 2, 3)}
    source = households.outerjoin(
        head,
        and_(
            head.c.household_id == households.c.id,
            head.c.relationship_to_head == "head",
            head.c.status == "present",
        ),
    )
    for level, alias in a.items():
        source = source.outerjoin(alias, alias.c.code == households.c[f"admin{level}"])
    in_range = []
    if after_id is not None:
        in_range.append(households.c.id > after_id)
    if up_to_id is not None:
        in_range.append(households.c.id <= up_to_id)
    order = [households.c.admin1, households.c.admin2, households.c.ref]
    return (
        select(
            households.c.id.label("household_id"),
            func.row_number().over(order_by=order).label("place"),
            households.c.ref.label("household"),
            households.c.country.label("country"),
            households.c.locality.label("locality"),
            _full_name(head).label("head_name"),
            *(households.c[f"admin{lv}"].label(f"admin{lv}") for lv in (1, 2, 3)),
            *(a[lv].c.name.label(f"admin{lv}_name") for lv in (1, 2, 3)),
            *(head.c[f.name].label(f"head_{f.name}") for f in MEMBER_FIELDS if f.identifier),
            *(households.c[f.name].label(f.name) for f in HOUSEHOLD_FIELDS if f.identifier),
        )
        .select_from(source)
        .where(
            households.c.country == spec.scheme.country,
            households.c.status == "active",
            *_area_conditions(spec, visible),
            *in_range,
        )
        .subquery("hs")
    )


def _rows_select(
    book: RuleBook,
    spec: ListSpec,
    cols: list[Column],
    visible: Any,
    after_id: int | None = None,
    up_to_id: int | None = None,
    with_household_id: bool = False,
) -> Select[Any]:
    s = _listed(book, spec, visible, after_id, up_to_id, _member_columns)
    hs = _listed_households(spec, visible, after_id, up_to_id)
    exprs: dict[str, Any] = {c.key: hs.c[c.key] for c in cols if c.key in hs.c}
    order = [hs.c.place]
    if spec.member_level:
        exprs.update(
            {
                "member_id": s.c.member_id,
                "member_name": s.c.member_name,
                "sex": s.c.sex,
                "date_of_birth": s.c.date_of_birth,
                "relationship_to_head": s.c.relationship_to_head,
                **{f.name: s.c[f"member_{f.name}"] for f in MEMBER_FIELDS if f.identifier},
            }
        )
        order += [s.c.position, s.c.member_id]
    return (
        select(
            *(exprs[c.key].label(c.key) for c in cols),
            *([s.c.household_id.label("_household_id")] if with_household_id else []),
        )
        .select_from(s.join(hs, hs.c.household_id == s.c.household_id))
        .where(s.c.outcome == spec.outcome)
        .order_by(*order)
    )


def beneficiary_rows(
    conn_or_session: Session | Connection,
    book: RuleBook,
    user: Any,
    scheme_id: str,
    as_of: dt.date,
    outcome: str = "eligible",
    admin1: str | None = None,
    admin2: str | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Stream the list's rows (tuples in the order of :func:`columns`) from a server cursor."""
    spec = list_spec(book, scheme_id, as_of, outcome, admin1, admin2)
    return stream_rows(conn_or_session, book, spec, user)


@dataclass(frozen=True)
class PreparedList:
    """A list ready to stream: what it is, who asked, its columns and its statement."""

    spec: ListSpec
    user: Any
    columns: list[Column]
    statement: Select[Any]


def prepare_list(
    conn_or_session: Session | Connection, book: RuleBook, spec: ListSpec, user: Any
) -> PreparedList:
    """Resolve what ``user`` may see of ``spec``'s list now, while their session is open."""
    cols = columns(spec, user)
    stmt = _rows_select(book, spec, cols, _visibility(conn_or_session, user))
    return PreparedList(spec, user, cols, stmt)


def iter_rows(
    conn_or_session: Session | Connection,
    prepared: PreparedList,
) -> Iterator[tuple[Any, ...]]:
    """Yield a prepared list's rows from a server-side cursor.

    A thread fetches the next rows while the caller writes the last ones: the database
    screens and sorts while Python formats, instead of each waiting for the other.
    """
    _, conn, _ = _session_and_conn(conn_or_session)
    # A district's list is best fetched through the indexes (nested loops); a national or
    # provincial one, up to millions of rows, by hash joins whatever the planner estimates.
    tune_for_bulk(conn, hash_joins_only=prepared.spec.admin2 is None)
    if conn.dialect.name == "postgresql":
        parts = read_ahead(_server_cursor_parts(conn, prepared.statement))
    else:
        parts = read_ahead(_result_parts(conn, prepared.statement))
    try:
        for part in parts:
            yield from part
    finally:
        parts.close()


def _result_parts(conn: Connection, statement: Select[Any]) -> Iterator[list[tuple[Any, ...]]]:
    """Yield the statement's rows, YIELD_PER at a time (SQLite: fetchmany on one cursor)."""
    result = conn.execute(statement, execution_options={"yield_per": YIELD_PER})
    try:
        for part in result.partitions():
            yield [tuple(row) for row in part]
    finally:
        result.close()


def _server_cursor_parts(
    conn: Connection, statement: Select[Any]
) -> Iterator[list[tuple[Any, ...]]]:
    """Yield the statement's rows from a psycopg server-side cursor, YIELD_PER at a time.

    psycopg's rows are tuples of the list's Python values already (text, integers, dates);
    SQLAlchemy's Row around each doubled the cost of reading a national list. The cursor
    runs in the connection's transaction, so the bulk settings above apply.
    """
    # "IN (:list)" parameters are expanded at execution: render them into the text here.
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    with dbapi.cursor(name="sw_mis_list") as cursor:
        cursor.execute(str(compiled), compiled.params)
        while part := cursor.fetchmany(YIELD_PER):
            yield part


_DONE = object()


def read_ahead(parts: Iterator[Any], depth: int = 2) -> Generator[Any, None, None]:
    """Yield ``parts`` in order while a thread fetches up to ``depth`` parts ahead.

    The thread alone touches ``parts``, and closes it (its cursor) before it ends; closing
    this generator early stops the thread (after the part it is fetching) and waits for it,
    so the caller's connection is free again when this returns. An error in the thread is
    raised here.
    """
    ahead: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for part in parts:
                while not stop.is_set():
                    try:
                        ahead.put(part, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ahead.put(_DONE)
        except BaseException as exc:  # noqa: BLE001
            # Whatever ends the thread (even SystemExit) is handed over and raised there: a
            # consumer left waiting for a part that never comes would hang its request.
            ahead.put(exc)
        finally:
            close = getattr(parts, "close", None)
            if close is not None:  # ends the cursor here, before the caller goes on
                close()

    thread = threading.Thread(target=fetch, name="sw-mis-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = ahead.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a thread waiting to hand over a part
            with contextlib.suppress(queue.Empty):
                ahead.get(timeout=0.1)
        thread.join()


def stream_rows(
    conn_or_session: Session | Connection, book: RuleBook, spec: ListSpec, user: Any
) -> Iterator[tuple[Any, ...]]:
    """Stream ``spec``'s rows as ``user`` may see them; see :func:`beneficiary_rows`."""
    return iter_rows(conn_or_session, prepare_list(conn_or_session, book, spec, user))


def count_beneficiaries(
    conn_or_session: Session | Connection,
    book: RuleBook,
    spec: ListSpec,
    user: Any,
    *,
    households_only: bool = False,
) -> int:
    """Return how many rows (or households) ``spec``'s list holds for ``user``."""
    s = _listed(book, spec, _visibility(conn_or_session, user))
    counted = func.count(distinct(s.c.household_id)) if households_only else func.count()
    _, conn, _ = _session_and_conn(conn_or_session)
    tune_for_bulk(conn, hash_joins_only=False)
    return int(conn.execute(select(counted).where(s.c.outcome == spec.outcome)).scalar_one())


def beneficiary_page(
    conn_or_session: Session | Connection,
    book: RuleBook,
    spec: ListSpec,
    user: Any,
    page: int = 1,
    per_page: int = 100,
) -> dict[str, Any]:
    """Return one page of the list grouped by household: ``{items, total, page, per_page}``."""
    visible = _visibility(conn_or_session, user)
    _, conn, _ = _session_and_conn(conn_or_session)
    tune_for_bulk(conn, hash_joins_only=False)
    s = _listed(book, spec, visible)
    # Pages follow household ids, so a page's rows are fetched by screening its id range only.
    ids = list(
        conn.execute(
            select(s.c.household_id)
            .where(s.c.outcome == spec.outcome)
            .group_by(s.c.household_id)
            .order_by(s.c.household_id)
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).scalars()
    )
    total = count_beneficiaries(conn_or_session, book, spec, user, households_only=True)
    items: list[dict[str, Any]] = []
    if ids:
        cols = columns(spec, user)
        stmt = _rows_select(
            book, spec, cols, visible, ids[0] - 1, ids[-1], with_household_id=True
        )
        key = stmt.selected_columns["_household_id"]
        rows = conn.execute(_page_order(stmt.where(key.in_(ids)), spec)).all()
        items = group_households(cols, [row[:-1] for row in rows])
    return {"items": items, "total": total, "page": page, "per_page": per_page}


def _page_order(stmt: Select[Any], spec: ListSpec) -> Select[Any]:
    """Order a page's rows by household id (then member id), as the page's ids are."""
    order = [stmt.selected_columns["_household_id"]]
    if spec.member_level:
        order.append(stmt.selected_columns["member_id"])
    return stmt.order_by(None).order_by(*order)


def record_export(
    session: Session, user: Any, spec: ListSpec, fmt: str, rows: int, *, complete: bool = True
) -> None:
    """Audit an export: who, which list, which format, how many rows, whether it finished."""
    record_event(
        session,
        f"export.{fmt}",
        object_type="scheme",
        object_ref=spec.scheme.id,
        details={
            **spec.details(),
            "format": fmt,
            "rows": rows,
            "complete": complete,
            "identifiers": shows_identifiers(user),
        },
        user=user,
    )


# --- files: one service behind the web form, the API and the CLI ---------------------------------
#: A printed list past this many rows is refused (reportlab keeps every page until it saves).
PDF_MAX_ROWS = 100_000
MIMETYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "json": "application/json",
}


@dataclass(frozen=True)
class Heading:
    """How a list introduces itself: file name, title, subtitle and the 'About' lines."""

    filename: str
    title: str
    subtitle: str
    about: list[tuple[str, str]]


def heading(conn_or_session: Session | Connection, spec: ListSpec, user: Any, fmt: str) -> Heading:
    """Return the file name and titles of ``spec``'s list in format ``fmt``.

    The texts are in the current language (English outside a request: the CLI, jobs); the file
    name stays in plain ASCII, the same whatever the language.
    """
    conn = _session_and_conn(conn_or_session)[1]
    codes = [c for c in (spec.admin1, spec.admin2) if c]
    names = (
        dict(conn.execute(select(areas.c.code, areas.c.name).where(areas.c.code.in_(codes))).all())
        if codes
        else {}
    )
    if codes:
        area = " / ".join(names.get(c, c) for c in codes)
    elif isinstance(user, SystemUser):
        area = _("All areas")
    else:
        area = _("All areas you may see")
    if spec.outcome == "eligible":
        what, what_title = _("Eligible beneficiaries"), _("eligible beneficiaries")
    else:
        what, what_title = _("Undetermined — to follow up"), _("undetermined — to follow up")
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    by = getattr(user, "username", "")
    scheme = localized(spec.scheme.name_i18n, spec.scheme.name)
    # Area codes come from the request: keep the file name to plain characters.
    stem = re.sub(
        r"[^A-Za-z0-9._-]",
        "_",
        "-".join([spec.scheme.id, spec.outcome, spec.as_of.isoformat(), *codes]),
    )
    as_of = spec.as_of.isoformat()
    about = [
        (_("Scheme"), f"{scheme} ({spec.scheme.id})"),
        (_("List"), what),
        (_("As of"), as_of),
        (_("Area"), area),
        (_("Generated"), _("%(date)s by %(name)s", date=now, name=by)),
    ]
    subtitle = " · ".join(
        [
            _("Scheme %(scheme)s", scheme=spec.scheme.id),
            what,
            _("as of %(date)s", date=as_of),
            area,
            _("generated %(date)s by %(name)s", date=now, name=by),
        ]
    )
    title = _("%(scheme)s: %(list)s", scheme=scheme, list=what_title)
    return Heading(f"{stem}.{fmt}", title, subtitle, about)


def writer_words() -> writers.Words:
    """Return the words the XLSX and PDF writers print of their own, in the current language."""
    return writers.Words(
        list_sheet=_("List"),
        about_sheet=_("About"),
        rows=_("Rows"),
        page=_("Page %(page)d"),
        total=_("Total: %(rows)d row(s)"),
        total_households=_("Total: %(rows)d row(s), %(households)d household(s)"),
        short_labels={
            "head_name": _("Head"),
            "head_national_id": _("Head's ID"),
            "member_name": _("Beneficiary"),
            "date_of_birth": _("Born"),
            "relationship_to_head": _("Relation"),
            "national_id": _("National ID"),
            "admin3_name": _("Sub-district"),
        },
    )


def write_list(
    session: Session, book: RuleBook, spec: ListSpec, user: Any, fmt: str, out: IO[bytes]
) -> int:
    """Write ``spec``'s list as CSV, XLSX or PDF to the binary file ``out``, audit it, and
    return the number of rows."""
    if fmt == "pdf":
        total = count_beneficiaries(session, book, spec, user)
        if total > PDF_MAX_ROWS:
            raise ExportError(
                _(
                    "The list has %(rows)s rows; a printed list is limited to %(limit)s. "
                    "Choose an area, or download CSV or XLSX.",
                    rows=f"{total:,}",
                    limit=f"{PDF_MAX_ROWS:,}",
                ),
                field="format",
            )
    head = heading(session, spec, user, fmt)
    prepared = prepare_list(session, book, spec, user)
    cols = prepared.columns
    rows = iter_rows(session, prepared)
    try:
        if fmt == "csv":
            counted = writers.Counted(rows)
            writers.write_csv(cols, counted, out)
            n = counted.count
        elif fmt == "xlsx":
            n = writers.write_xlsx(cols, rows, out, head.about, writer_words())
        elif fmt == "pdf":
            n = writers.write_pdf(cols, rows, out, head.title, head.subtitle, writer_words())[0]
        else:
            raise ExportError(
                _("Must be csv, xlsx or pdf, not %(format)s.", format=repr(fmt)), field="format"
            )
    finally:
        rows.close()  # type: ignore[attr-defined]  # ends the server-side cursor early
    record_export(session, user, spec, fmt, n)
    return n


def csv_stream(session: Session, prepared: PreparedList) -> Iterator[bytes]:
    """Yield a prepared list as CSV chunks; audit it with the rows sent, even if cut short."""
    rows = iter_rows(session, prepared)
    counted = writers.Counted(rows)
    complete = False
    try:
        yield from writers.csv_chunks(prepared.columns, counted)
        complete = True
    finally:
        rows.close()  # type: ignore[attr-defined]
        record_export(
            session, prepared.user, prepared.spec, "csv", counted.count, complete=complete
        )


def json_page(
    session: Session, book: RuleBook, spec: ListSpec, user: Any, page: int, per_page: int
) -> dict[str, Any]:
    """Return one page of the list as the API's JSON document, audited."""
    body = beneficiary_page(session, book, spec, user, page, per_page)
    rows = sum(max(1, len(item["members"])) for item in body["items"])
    record_export(session, user, spec, "json", rows)
    return body


# --- choices for the form -------------------------------------------------------------------------
def scheme_choices(book: RuleBook, user: Any) -> list[tuple[str, str]]:
    """Return (id, label) of the schemes ``user`` may list: their office's country, or all."""
    office = getattr(user, "office", None)
    country = office.country if office is not None else None
    return [
        (s.id, f"{s.country} · {s.name}")
        for s in sorted(book.schemes.values(), key=lambda s: (s.country, s.name))
        if country is None or s.country == country
    ]


def area_choices(session: Session, user: Any, level: int) -> list[tuple[str, str]]:
    """Return (code, name) of the level-``level`` areas ``user`` may see."""
    stmt = select(Area.code, Area.name, Area.parent_code).where(Area.level == level)
    if not isinstance(user, SystemUser):
        codes = visible_area_codes(session, user)
        if codes is not None:
            stmt = stmt.where(Area.code.in_(codes))
    rows = session.execute(stmt.order_by(Area.country, Area.name)).all()
    return [(code, name) for code, name, _ in rows]
